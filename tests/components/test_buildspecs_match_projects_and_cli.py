"""The buildspecs CodeBuild receives agree with the projects and actions that run them, and with
the gitops CLI.

Each `python -m gitops …` line is expanded by a real bash with the variables CodeBuild would set,
then parsed by the CLI's own argument parser: a renamed flag or a missing variable fails here,
not in the first pipeline run after `pulumi up`.
"""

import json
import re
import shlex
import subprocess

import pytest
import yaml

from components import tools_bundle
from components.steps import REVERT_EXIT_CODES
from gitops.cli import build_parser
from tests.conftest import cached_plan, stack_data, stack_settings
from tools import lock

# Set by CodeBuild itself, or by the buildspec's own commands.
BUILT_IN = {"AWS_REGION", "CODEBUILD_SRC_DIR", "PYTHONPATH", "IMAGE_TAG", "IMAGE_DIGEST",
            "REGISTRY", "COMMIT_SHA", "PR_URL", "TAG", "DIGEST", "count", "failed", "severity", "code",
            "VERIFY_EXIT", "TRIGGER"}
VARIABLE = re.compile(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)")


def step_kind(project) -> str:
    """The step a project runs (its log stream is the step's name: `verify-<region>` is verify)."""
    return project.inputs["logsConfig"]["cloudwatchLogs"]["streamName"].split("-")[0]


def projects_with_actions(plan, *, typed: bool = False):
    """(step kind, its buildspec, variables from the project, variables from the pipeline action);
    `typed`: each project variable as (its type, its value)."""
    from_actions = {}
    for pipeline in (r for r in plan.resources if r.type == "aws:codepipeline/pipeline:Pipeline"):
        for stage in pipeline.inputs["stages"]:
            for action in stage["actions"]:
                config = action["configuration"]
                if "ProjectName" in config:
                    variables = json.loads(config.get("EnvironmentVariables", "[]"))
                    from_actions[config["ProjectName"]] = {v["name"]: v["value"] for v in variables}
    for project in (r for r in plan.resources if r.type == "aws:codebuild/project:Project"):
        buildspec = yaml.safe_load(project.inputs["source"]["buildspec"])
        env = {v["name"]: (v.get("type", "PLAINTEXT"), v["value"]) if typed else v["value"]
               for v in project.inputs["environment"]["environmentVariables"]}
        yield step_kind(project), buildspec, env, from_actions.get(project.inputs["name"], {})


def commands(buildspec: dict) -> list[str]:
    return [c for phase in buildspec["phases"].values() for c in phase["commands"]]


def test_every_variable_a_buildspec_reads_is_provided(plan):
    checked = set()
    for name, buildspec, env, action_env in projects_with_actions(plan):
        used = {v for command in commands(buildspec) for v in VARIABLE.findall(command)}
        # Set by the buildspec itself, or read only with a fallback (`${NAME:+…}`, `${NAME:-…}`).
        own = {v for command in commands(buildspec) for v in re.findall(r"export ([A-Z_]+)=", command)}
        optional = {v for command in commands(buildspec) for v in re.findall(r"\$\{([A-Z_]+):[+-]", command)}
        missing = used - set(env) - set(action_env) - BUILT_IN - own - optional
        assert not missing, f"{name}: nothing sets {sorted(missing)}"
        checked.add(name)
    assert checked >= {"promote", "verify"}


def test_exported_variables_are_the_ones_the_pipeline_declares(plan):
    exported = {name: buildspec["env"].get("exported-variables") for name, buildspec, _, _ in projects_with_actions(plan)}
    expected = {"build": ["IMAGE_TAG", "IMAGE_DIGEST"], "test": None, "scan": None, "resolve": ["TAG", "DIGEST"],
                "promote": ["COMMIT_SHA", "PR_URL"], "verify": None}
    assert exported == {name: expected[name] for name in exported}
    referenced = set()
    for pipeline in (r for r in plan.resources if r.type == "aws:codepipeline/pipeline:Pipeline"):
        referenced |= set(re.findall(r"#\{(Build|Resolve|Promote)\.([A-Z_]+)\}", json.dumps(pipeline.inputs)))
    declared = {(name.capitalize(), variable) for name, variables in exported.items() for variable in variables or ()}
    assert referenced and referenced <= declared


def expand(command: str, variables: dict[str, str]) -> list[str]:
    """The argv bash gives `python` for this command line, with `python` replaced by a recorder on
    a descriptor of its own (so `VAR="$(python …)"` is seen too) and `docker` failing (so the read
    back after a refused push runs too)."""
    script = ("exec 3>&1 >/dev/null\npython() { printf '%s\\0' \"$@\" >&3; }\ndocker() { return 1; }\n"
              + command.replace("> promote.json", "").replace("> image.json", ""))
    result = subprocess.run(["bash", "-c", script], env={"PATH": "/usr/bin:/bin", **variables},
                            capture_output=True, text=True)
    return result.stdout.split("\0")[:-1]


def assert_token_source(args) -> None:
    """Every step names the token the same way, whatever region it runs in (the project sets
    GITOPS_TOKEN or GITOPS_TOKEN_SECRET_ARN: `test_every_step_reads_the_token_its_project_gives`)."""
    assert (args.token_env, args.token_secret) == ("GITOPS_TOKEN", None)


def test_gitops_command_lines_parse_with_the_real_cli(plan):
    parser = build_parser()
    seen = set()
    for name, buildspec, env, action_env in projects_with_actions(plan):
        revert_codes = str(env.get("REVERT_EXIT_CODES", "")).split()
        sample = {**{k: str(v) for k, v in env.items()}, "AWS_REGION": "us-east-1",
                  **{k: "0123456789abcdef0123456789abcdef01234567" for k in action_env},
                  # The digest the action passes on; the build step reads its own from ECR.
                  **({"IMAGE_DIGEST": "sha256:" + "a" * 64} if "IMAGE_DIGEST" in action_env else {}),
                  "PR_URL": "none",
                  # The verify exit code post_build reads: one that reverts, when any does.
                  "VERIFY_EXIT": revert_codes[0] if revert_codes else "9"}
        lines = commands(buildspec)
        for index, command in enumerate(lines):
            if "python -m gitops" not in command:
                continue
            # Lines before it that set shell variables are part of its context.
            prefix = "\n".join(c for c in lines[:index] if c.startswith("export "))
            argv = expand(prefix + "\n" + command, sample)
            assert argv[:2] == ["-m", "gitops"], (command, argv)
            args = parser.parse_args(argv[2:])
            assert args.command in ("promote", "verify", "show", "proof", "revert", "image-digest", "trigger")
            if args.command == "trigger":
                # The pipeline's own execution, in the pipeline's region (a Verify step runs elsewhere).
                assert args.stop_if_created and args.region == env["PIPELINE_REGION"] == stack_settings(plan.stack).home_region
                assert args.execution_id == sample["EXECUTION_ID"] and args.pipeline is None
            if args.command == "image-digest":
                # The repository the build pushes to, in the region the build runs in.
                assert env["REPOSITORY_URI"].endswith("/" + args.repository) and args.region is None
                assert args.output == "text"
            if args.command == "promote":
                assert args.output == "json"
                assert args.mode == env["PROMOTION_MODE"]
            if args.command in ("proof", "promote") and ("UPSTREAM_ENV" in env or "SOURCE_FROM_ENV" in env):
                # A promoting stack checks the upstream's proof before the approval and again at Promote.
                upstream = env.get("UPSTREAM_ENV") or env["SOURCE_FROM_ENV"]
                assert (args.upstream if args.command == "proof" else args.proof_from) == upstream
                assert args.upstream_regions == "us-east-1" and args.soak_minutes == 0
            if args.command == "verify":
                assert args.revision == sample["REVISION"] and args.repo and args.cluster == env["CLUSTER"]
            if args.command == "revert":
                assert args.mode == env["PROMOTION_MODE"] and args.revision == sample["REVISION"]
                assert args.execution_id == sample["EXECUTION_ID"]
            if args.command not in ("show", "trigger", "image-digest"):
                assert_token_source(args)
            seen.add(args.command)
    assert {"promote", "verify"} <= seen and ("image-digest" in seen) == (plan.stack == "staging")


def test_resolve_reads_the_values_file_the_project_names_never_a_spelled_path(plan):
    found = [(buildspec, env) for name, buildspec, env, _ in projects_with_actions(plan) if name == "resolve"]
    assert all("envs/" not in json.dumps(buildspec) and "values.yaml" not in json.dumps(buildspec)
               for buildspec, _ in found)
    if plan.stack == "prod":
        assert found and all(env["UPSTREAM_VALUES_FILE"] == f"envs/staging/{env['SERVICE']}/values.yaml"
                             for _, env in found)
    else:
        assert not found


def test_buildspecs_that_run_python_pin_it_and_install_only_the_hash_locked_bundle(plan):
    # Quoted in the YAML: unquoted, 3.10 would read as the number 3.1.
    python = f"{lock.PYTHON[0]}.{lock.PYTHON[1]}"
    bundled = {f"/opt/tools/{name}" for name in tools_bundle.bundle_archive().assets}
    running = set()
    for name, buildspec, env, _ in projects_with_actions(plan):
        lines = commands(buildspec)
        if not any(re.search(r"\b(python|pip)\b", line) for line in lines):
            assert "TOOLS_BUNDLE" not in env, f"{name}: names a tool bundle it never installs"
            continue
        running.add(name)
        assert "TOOLS_BUNDLE" in env, f"{name}: installs the tool bundle but the project names none"
        assert buildspec["phases"]["install"].get("runtime-versions") == {"python": python}, \
            f"{name}: the install phase must pin runtime-versions python: \"{python}\""
        installs = [shlex.split(line) for line in lines if re.search(r"\bpip\b", line)]
        assert len(installs) == 1, f"{name}: {installs}"
        argv = installs[0]
        assert argv[:2] == ["pip", "install"] and {"--quiet", "--require-hashes", "--no-deps"} <= set(argv), argv
        requirements = [argv[i + 1] for i, arg in enumerate(argv) if arg == "--requirement"]
        assert requirements == ["/opt/tools/gitops/requirements.lock"] and set(requirements) <= bundled, argv
    assert running == ({"promote", "resolve", "verify"} if plan.stack == "prod" else {"build", "promote", "verify"})


def test_every_step_reads_the_token_its_project_gives(monkeypatch):
    """With the token's secret in another region than the pipeline (CodeBuild resolves a
    SECRETS_MANAGER variable only in the project's own region), every step that runs the CLI with
    the token still reads it: each command line's token options, resolved by the CLI's own reader
    in the environment its project gives (the SECRETS_MANAGER variable as CodeBuild fills it)."""
    import boto3
    from moto import mock_aws

    from gitops.clients.credentials import load_token

    for name in ("AWS_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MOTO_ACCOUNT_ID", "111111111111")
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_CONFIG_FILE": "/nonexistent", "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent"}.items():
        monkeypatch.setenv(name, value)
    parser = build_parser()
    with mock_aws():
        stored = json.dumps({"token": "ghs_token"})
        arn = boto3.client("secretsmanager", region_name="eu-west-1").create_secret(
            Name="delivery/gitops-token", SecretString=stored)["ARN"]
        gitops = {**stack_data("prod")["gitops"], "tokenSecretArn": arn}
        plan = cached_plan("prod", {"delivery-pipeline:gitops": gitops})
        read = set()
        for name, buildspec, project, action_env in projects_with_actions(plan, typed=True):
            # What CodeBuild puts in the build's environment: a SECRETS_MANAGER variable holds the
            # whole SecretString (resolved in the project's region only: here, none is).
            environment = {key: stored if kind == "SECRETS_MANAGER" else str(value)
                           for key, (kind, value) in project.items()}
            for command in commands(buildspec):
                if "python -m gitops" not in command or "--token" not in command:
                    continue
                sample = {**environment, **{k: "0123456789abcdef0123456789abcdef01234567" for k in action_env},
                          "AWS_REGION": "us-east-1", "IMAGE_DIGEST": "sha256:" + "a" * 64,
                          "VERIFY_EXIT": str(REVERT_EXIT_CODES[0])}
                args = parser.parse_args(expand(command, sample)[2:])
                with monkeypatch.context() as scoped:
                    for key in ("GITOPS_TOKEN", "GITOPS_TOKEN_SECRET_ARN"):
                        scoped.delenv(key, raising=False)
                    for key, value in environment.items():
                        scoped.setenv(key, value)
                    assert load_token(token_env=args.token_env, token_secret=args.token_secret) == "ghs_token", \
                        f"{name}: {args.command}"
                read.add((name, args.command))
    assert {("resolve", "proof"), ("promote", "promote"), ("verify", "verify"), ("verify", "revert")} <= read

