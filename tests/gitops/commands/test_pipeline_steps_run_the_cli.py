"""The prod pipeline's Resolve step and both pipelines' Promote step, run the way CodeBuild runs
them: the buildspec's install and build commands in one bash session, the tool bundle made from
the same files the program uploads, and the real gitops CLI against the real test git server.

Only what belongs to the CodeBuild host is stood in for: `aws s3 cp` hands over the bundle,
`pip install` checks the requirements file is in the bundle (the packages are in this virtualenv
already), and the host paths /opt/tools and /tmp are temporary directories.

The Verify step needs an EKS cluster, so there `python -m gitops verify` and `revert` are stood in
for (an exit code, a record of the arguments): what is tested is the buildspec's own logic, which
verify outcomes revert and that the action fails either way.
"""

from __future__ import annotations

import http.server
import json
import os
import subprocess
import sys
import threading
import zipfile
from pathlib import Path

import pytest
import yaml

from components import tools_bundle
from components.steps import REVERT_EXIT_CODES
from gitops.clients.codepipeline import CREATION_RUN_REASON
from gitops.repo import layout
from gitops.errors import CredentialsError, NothingVerified, VerifyDegraded, VerifyTimeout
from components.settings import parse
from components.steps import Step, StepInputs, revert_breach_step, steps_for
from tests.conftest import program_step, stack_data
from sandbox.github_api import FakeGitHub
from tests.gitops.conftest import DIGEST_A, DIGEST_B, values_yaml

SHA = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A CodeBuild-like PATH (python, aws, pip shims) and the tool bundle as the program builds it."""
    root = tmp_path_factory.mktemp("codebuild-host")
    bundle = root / "tools.zip"
    with zipfile.ZipFile(bundle, "w") as archive:
        for path in tools_bundle._files():
            archive.write(path, f"gitops/{path.relative_to(tools_bundle.GITOPS_DIR).as_posix()}")
    bin_dir = root / "bin"
    bin_dir.mkdir()
    scripts = {
        # A wrapper, not a symlink: a virtualenv's python must run from its own directory.
        "python": f'exec "{sys.executable}" "$@"\n',
        "aws": f'[ "$1 $2" = "s3 cp" ] || {{ echo "unexpected aws $*" >&2; exit 2; }}\ncp "{bundle}" "${{@: -1}}"\n',
        "pip": '[ -f "${@: -1}" ] || { echo "no requirements file ${@: -1}" >&2; exit 2; }\n',
    }
    for name, body in scripts.items():
        (bin_dir / name).write_text("#!/usr/bin/env bash\nset -eu\n" + body)
        (bin_dir / name).chmod(0o755)
    return {"PATH": f"{bin_dir}:/usr/bin:/bin", "TOOLS_BUNDLE": "s3://artifacts/tools/gitops-0.zip"}


def _script(spec: dict, phases: tuple[str, ...], tools: Path) -> str:
    commands = [c for phase in phases for c in spec["phases"].get(phase, {}).get("commands", [])]
    return "\n".join(commands).replace("/tmp/", f"{tools}-tmp/").replace("/opt/tools", str(tools))


def run_step(buildspec: str | Step, env: dict[str, str], workdir: Path, tools: Path,
             phases: tuple[str, ...] = ("install", "build")) -> tuple[int, dict[str, str], str]:
    """Run `phases` in one shell, as CodeBuild does (its shell variables live on from phase to
    phase); return the exported variables. `buildspec`: the step, or its file (the repository's
    stacks' first step running it)."""
    step = buildspec if isinstance(buildspec, Step) else program_step(buildspec)
    spec = yaml.safe_load(step.buildspec_text)
    exported = workdir / ".exported"
    Path(f"{tools}-tmp").mkdir(exist_ok=True)
    script = _script(spec, phases, tools) + "\n" + "".join(
        f'printf "%s=%s\\n" {name} "${{{name}}}" >> "{exported}"\n'
        for name in spec.get("env", {}).get("exported-variables", []))
    result = subprocess.run(["bash", "-c", script], cwd=workdir, env=env, capture_output=True, text=True,
                            timeout=120)
    variables = dict(line.split("=", 1) for line in exported.read_text().splitlines()) if exported.exists() else {}
    return result.returncode, variables, result.stdout + result.stderr


def run_build(buildspec: str, env: dict[str, str], workdir: Path, tools: Path) -> tuple[bool, str]:
    """Install and build, then post_build with CODEBUILD_BUILD_SUCCEEDING as CodeBuild sets it (it
    runs post_build after a failed build phase); True when the build succeeds."""
    code, _, output = run_step(buildspec, env, workdir, tools)
    spec = yaml.safe_load(program_step(buildspec).buildspec_text)
    post = subprocess.run(["bash", "-c", "set -euo pipefail\n" + _script(spec, ("post_build",), tools)],
                          cwd=workdir, env={**env, "CODEBUILD_BUILD_SUCCEEDING": "1" if code == 0 else "0"},
                          capture_output=True, text=True, timeout=120)
    return code == 0 and post.returncode == 0, output + post.stdout + post.stderr


def resolve_env(host: dict[str, str], repo=None, github_api_url: str = "") -> dict[str, str]:
    # What the program sets on the Resolve project (components.steps).
    return {**host, "UPSTREAM_ENV": "staging", "UPSTREAM_VALUES_FILE": layout.values_file("staging", "api"),
            "SERVICE": "api", "GITOPS_URL": repo.url if repo else "https://github.com/acme/gitops.git",
            "GITOPS_BRANCH": "main", "PROOF_FLAGS": "--upstream-regions us-east-1 --soak-minutes 0",
            "GITOPS_TOKEN": repo.token if repo else "t", "GITHUB_API_URL": github_api_url,
            # Outside CodePipeline (no CODEBUILD_INITIATOR): `gitops trigger` lets the step run.
            "PIPELINE_REGION": "us-east-1", "EXECUTION_ID": ""}


@pytest.mark.parametrize("state", ["success", "pending"])
def test_resolve_exports_the_image_staging_proved_and_refuses_one_it_has_not(host, gitops_repo, tmp_path, state):
    sha = gitops_repo.commit({"envs/staging/api/values.yaml": values_yaml("api", "4f2a9c1", DIGEST_B)}, "promote")
    source = tmp_path / "source"
    (source / "envs/staging/api").mkdir(parents=True)
    (source / "envs/staging/api/values.yaml").write_text(values_yaml("api", "4f2a9c1", DIGEST_B))
    with FakeGitHub(token=gitops_repo.token) as github:
        hub = github.add_repo(gitops_repo.url.removesuffix(".git").split("/", 3)[3])
        hub.statuses[sha] = [{"id": 1, "sha": sha, "state": state, "context": "delivery/staging/us-east-1",
                              "description": "api 4f2a9c1", "target_url": None,
                              "created_at": "2026-01-02T11:00:00Z", "updated_at": "2026-01-02T11:00:00Z"}]
        code, exported, output = run_step("resolve.yml", resolve_env(host, gitops_repo, github.api_url), source,
                                          tmp_path / "tools")
    if state == "success":
        assert code == 0, output
        assert exported == {"TAG": "4f2a9c1", "DIGEST": DIGEST_B}
    else:
        # Not proven: the action fails before the approval, naming the region and why.
        assert code == 19 and "us-east-1: still verifying" in output and "TAG" not in exported


def test_resolve_refuses_an_upstream_image_without_digest(host, tmp_path):
    source = tmp_path / "source"
    (source / "envs/staging/api").mkdir(parents=True)
    (source / "envs/staging/api/values.yaml").write_text(values_yaml("api", "4f2a9c1", ""))
    code, exported, output = run_step("resolve.yml", resolve_env(host), source, tmp_path / "tools")
    assert code != 0
    assert "has no image.digest" in output and "TAG" not in exported


def promote_env(host: dict[str, str], repo, tag: str, digest: str) -> dict[str, str]:
    return {**host, "GITOPS_URL": repo.url, "GITOPS_BRANCH": "main", "ENVIRONMENT": "staging",
            "SERVICE": "api", "PROMOTION_MODE": "commit", "PROMOTION_FLAGS": "", "GITOPS_TOKEN": repo.token,
            "IMAGE_TAG": tag, "IMAGE_DIGEST": digest, "SOURCE_COMMIT": SHA,
            "SOURCE_COMMIT_TIME": "2026-11-30T08:15:00Z", "EXECUTION_ID": "exec-1",
            "HOME": os.environ.get("HOME", "/root")}


def test_promote_step_commits_and_exports_what_verify_waits_for(host, gitops_repo, tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    code, exported, output = run_step("promote.yml", promote_env(host, gitops_repo, "4f2a9c1", DIGEST_B),
                                      work, tmp_path / "tools")
    assert code == 0, output
    head = gitops_repo.refs()["refs/heads/main"]
    assert exported == {"COMMIT_SHA": head, "PR_URL": "none"}
    assert gitops_repo.file("envs/staging/api/values.yaml") == values_yaml("api", "4f2a9c1", DIGEST_B).encode()
    assert f"Source-Commit: {SHA}\nSource-Commit-Time: 2026-11-30T08:15:00Z\n" in gitops_repo.show("%B")
    assert gitops_repo.token not in output


@pytest.mark.parametrize("staging_recorded", [True, False])
def test_promote_step_of_a_promote_pipeline_takes_the_source_commit_from_the_upstream_promotion(
        host, gitops_repo, tmp_path, staging_recorded):
    # A promote pipeline's action passes no SOURCE_COMMIT (its source commit is a GitOps commit);
    # its project names the upstream environment, whose promotion of the image recorded it.
    if staging_recorded:
        gitops_repo.commit({"envs/staging/api/values.yaml": values_yaml("api", "4f2a9c1", DIGEST_B)},
                           "promote(staging/api)\n\nDelivery-Action: promote\nDelivery-Service: api\n"
                           f"Delivery-Environment: staging\nImage-Tag: 4f2a9c1\nImage-Digest: {DIGEST_B}\n"
                           f"Source-Commit: {SHA}\nSource-Commit-Time: 2026-11-30T08:15:00Z\n")
    env = {k: v for k, v in promote_env(host, gitops_repo, "4f2a9c1", DIGEST_B).items()
           if k not in ("SOURCE_COMMIT", "SOURCE_COMMIT_TIME")}
    env.update(ENVIRONMENT="prod", SOURCE_FROM_ENV="staging")
    work = tmp_path / "work"
    work.mkdir()
    code, exported, output = run_step("promote.yml", env, work, tmp_path / "tools")
    assert code == 0, output
    message = gitops_repo.show("%B")
    assert "Delivery-Environment: prod" in message and "Image-Tag: 4f2a9c1" in message
    if staging_recorded:
        assert f"Source-Commit: {SHA}\nSource-Commit-Time: 2026-11-30T08:15:00Z\n" in message
    else:
        assert "Source-Commit" not in message and "no source commit recorded" in output


def test_promote_step_on_a_tag_already_there_changes_nothing_and_still_names_the_revision(
        host, gitops_repo, tmp_path):
    before = gitops_repo.refs()
    work = tmp_path / "work"
    work.mkdir()
    code, exported, output = run_step("promote.yml", promote_env(host, gitops_repo, "1.0.0", DIGEST_A),
                                      work, tmp_path / "tools")
    assert code == 0, output
    assert gitops_repo.refs() == before
    assert exported == {"COMMIT_SHA": before["refs/heads/main"], "PR_URL": "none"}


def test_promote_step_fails_the_action_when_the_promotion_fails(host, gitops_repo, tmp_path):
    before = gitops_repo.refs()
    work = tmp_path / "work"
    work.mkdir()
    code, exported, output = run_step("promote.yml", promote_env(host, gitops_repo, "bad tag!", DIGEST_B),
                                      work, tmp_path / "tools")
    assert code != 0 and "COMMIT_SHA" not in exported
    assert "'bad tag!' is not a valid image tag" in output
    assert gitops_repo.refs() == before


class FakeCodePipeline(http.server.ThreadingHTTPServer):
    """CodePipeline's JSON API on 127.0.0.1: `answers` by operation (ListActionExecutions, …);
    `requests` records (X-Amz-Target, request) of every call."""

    def __init__(self, answers: dict[str, dict]) -> None:
        self.requests: list[tuple[str, dict]] = []
        requests = self.requests

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                target = self.headers["X-Amz-Target"]
                requests.append((target, json.loads(body)))
                answer = json.dumps(answers[target.split(".")[-1]]).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-amz-json-1.1")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


def codepipeline_env(codepipeline: FakeCodePipeline) -> dict[str, str]:
    """The AWS settings of a build whose CodePipeline client talks to `codepipeline`."""
    return {"AWS_REGION": "us-east-1", "AWS_ENDPOINT_URL_CODEPIPELINE": codepipeline.url,
            "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_CONFIG_FILE": "/nonexistent",
            "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent"}


def test_under_codepipeline_the_promotion_records_who_approved_the_execution(host, gitops_repo, tmp_path):
    approver = "arn:aws:sts::111111111111:assumed-role/approver/jane"
    work = tmp_path / "work"
    work.mkdir()
    approval = {"pipelineExecutionId": "exec-1", "actionExecutionId": "a-1", "stageName": "Approval",
                "actionName": "Approve", "status": "Succeeded", "updatedBy": approver,
                "lastUpdateTime": 1734688800, "input": {"actionTypeId": {
                    "category": "Approval", "owner": "AWS", "provider": "Manual", "version": "1"}}}
    with FakeCodePipeline({"ListActionExecutions": {"actionExecutionDetails": [approval]}}) as codepipeline:
        env = {**promote_env(host, gitops_repo, "4f2a9c1", DIGEST_B),
               "CODEBUILD_INITIATOR": "codepipeline/shop-api-staging", **codepipeline_env(codepipeline)}
        code, exported, output = run_step("promote.yml", env, work, tmp_path / "tools")
        codepipeline.shutdown()
    assert code == 0, output
    assert codepipeline.requests == [("CodePipeline_20150709.ListActionExecutions",
                                      {"pipelineName": "shop-api-staging",
                                       "filter": {"pipelineExecutionId": "exec-1"}})]
    assert f"Approved-By: {approver}" in gitops_repo.show("%B")
    assert exported["COMMIT_SHA"] == gitops_repo.refs()["refs/heads/main"]


def test_a_build_not_started_by_codepipeline_records_no_approver(host, gitops_repo, tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    env = {**promote_env(host, gitops_repo, "4f2a9c1", DIGEST_B), "CODEBUILD_INITIATOR": "ops-admin"}
    code, _, output = run_step("promote.yml", env, work, tmp_path / "tools")
    assert code == 0, output
    assert "Approved-By" not in gitops_repo.show("%B") and "approval" not in output


# --- Verify -------------------------------------------------------------------------------------

REVERT_ON = " ".join(map(str, REVERT_EXIT_CODES))


@pytest.fixture
def verify_host(host, tmp_path) -> dict[str, str]:
    """The host, with `python -m gitops verify` exiting $VERIFY_RESULT and `python -m gitops revert`
    recording its arguments (one per line) in $REVERT_RECORD and exiting $REVERT_RESULT."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    real = Path(host["PATH"].split(":")[0]) / "python"
    (bin_dir / "python").write_text(
        "#!/usr/bin/env bash\nset -eu\n"
        'if [ "$1 $2 $3" = "-m gitops verify" ]; then printf "%s\\n" "$@" > "$VERIFY_RECORD"; '
        'echo "verify: stood in" >&2; exit "$VERIFY_RESULT"; fi\n'
        'if [ "$1 $2 $3" = "-m gitops revert" ]; then printf "%s\\n" "$@" > "$REVERT_RECORD"; exit "$REVERT_RESULT"; fi\n'
        f'exec "{real}" "$@"\n')
    (bin_dir / "python").chmod(0o755)
    return {**host, "PATH": f"{bin_dir}:{host['PATH']}", "ENVIRONMENT": "prod", "SERVICE": "api",
            "CLUSTER": "shop-prod-euw1", "DEPLOYMENT_ROLE_ARN": "arn:aws:iam::333333333333:role/x",
            "GITOPS_URL": "https://github.com/acme/shop-gitops.git", "GITOPS_BRANCH": "main",
            "PROMOTION_MODE": "pull-request", "REVERT_EXIT_CODES": REVERT_ON, "GITOPS_TOKEN": "t0ken",
            "AWS_REGION": "eu-west-1", "PIPELINE_REGION": "us-east-1", "REVISION": SHA, "EXECUTION_ID": "exec-7",
            "REVERT_RESULT": "0",
            "REVERT_RECORD": str(tmp_path / "revert.args"), "VERIFY_RECORD": str(tmp_path / "verify.args")}


def verify(env: dict[str, str], tmp_path: Path, result: int) -> tuple[bool, list[str] | None, str]:
    work = tmp_path / "work"
    work.mkdir(exist_ok=True)
    succeeded, output = run_build("verify.yml", {**env, "VERIFY_RESULT": str(result)}, work, tmp_path / "tools")
    record = Path(env["REVERT_RECORD"])
    return succeeded, record.read_text().splitlines() if record.exists() else None, output


def bake_steps() -> tuple:
    """The program's Verify and Prove steps of the prod stack's first service with a 30-minute bake."""
    data = stack_data("prod")
    data["promotion"] = {**data["promotion"], "blockingAlarms": ["shop-prod-health"], "bakeMinutes": 30}
    settings = parse(data)
    steps = steps_for(settings, settings.services[0], StepInputs(deployment_role_arn="")).steps
    return (next(s for s in steps if s.stage == "Verify"), next(s for s in steps if s.stage == "Prove"))


def test_with_a_bake_verify_leaves_the_proof_pending_for_the_prove_step(verify_host, tmp_path):
    verify_step, prove_step = bake_steps()
    assert verify_step.project_variables["BAKE_MINUTES"] == "30" and "BAKE_MINUTES" not in prove_step.project_variables
    assert (verify_step.buildspec, prove_step.buildspec) == ("verify.yml", "verify.yml")
    succeeded, reverted, output = verify({**verify_host, "BAKE_MINUTES": "30"}, tmp_path, 0)
    assert succeeded and reverted is None, output
    assert Path(verify_host["VERIFY_RECORD"]).read_text().splitlines()[-2:] == ["--bake-minutes", "30"]


def test_a_release_that_degrades_during_the_bake_is_reverted_by_the_prove_step(verify_host, tmp_path):
    # The Prove step runs the same buildspec without BAKE_MINUTES: its verification gives the proof,
    # and a release proven bad after the bake takes the same revert path as one proven bad before it.
    succeeded, reverted, _ = verify(verify_host, tmp_path, VerifyDegraded.exit_code)
    assert not succeeded
    assert "--bake-minutes" not in Path(verify_host["VERIFY_RECORD"]).read_text()
    assert reverted[reverted.index("--reason") + 1] == f"verify failed in eu-west-1 (exit {VerifyDegraded.exit_code})"


def test_verified_release_succeeds_and_reverts_nothing(verify_host, tmp_path):
    succeeded, reverted, output = verify(verify_host, tmp_path, 0)
    assert succeeded, output
    assert reverted is None


@pytest.mark.parametrize("result", [VerifyTimeout.exit_code, VerifyDegraded.exit_code])
def test_a_release_proven_bad_is_reverted_and_the_action_still_fails(verify_host, tmp_path, result):
    succeeded, reverted, output = verify(verify_host, tmp_path, result)
    assert not succeeded
    assert reverted == ["-m", "gitops", "revert", "--repo", "https://github.com/acme/shop-gitops.git",
                        "--branch", "main", "--env", "prod", "--service", "api", "--revision", SHA,
                        "--mode", "pull-request", "--reason", f"verify failed in eu-west-1 (exit {result})",
                        "--execution-id", "exec-7", "--token-env", "GITOPS_TOKEN"]


def test_a_failed_revert_fails_the_action_too(verify_host, tmp_path):
    succeeded, reverted, _ = verify({**verify_host, "REVERT_RESULT": "13"}, tmp_path, VerifyDegraded.exit_code)
    assert not succeeded and reverted is not None


@pytest.mark.parametrize("result", [1, CredentialsError.exit_code, 12])
def test_a_failure_that_says_nothing_about_the_release_reverts_nothing(verify_host, tmp_path, result):
    # Credentials, an unreachable cluster, a later commit superseding this one: the release may be fine.
    succeeded, reverted, _ = verify(verify_host, tmp_path, result)
    assert not succeeded and reverted is None


def test_without_revert_codes_a_bad_release_fails_without_reverting(verify_host, tmp_path):
    env = {**verify_host, "REVERT_EXIT_CODES": ""}
    succeeded, reverted, _ = verify(env, tmp_path, VerifyDegraded.exit_code)
    assert not succeeded and reverted is None


def test_outside_the_secrets_region_verify_and_revert_name_the_token_the_same_way(verify_host, tmp_path):
    # The project gives the secret's ARN instead of its value; `--token-env GITOPS_TOKEN` reads the
    # secret it names (tests/components/test_buildspecs_match_projects_and_cli.py resolves it).
    arn = "arn:aws:secretsmanager:us-east-1:111111111111:secret:gitops-token-AbCdEf"
    env = {k: v for k, v in verify_host.items() if k != "GITOPS_TOKEN"}
    succeeded, reverted, output = verify({**env, "GITOPS_TOKEN_SECRET_ARN": arn}, tmp_path, VerifyDegraded.exit_code)
    assert not succeeded
    assert reverted is not None and reverted[-2:] == ["--token-env", "GITOPS_TOKEN"], output


# --- Revert after a bake breach (outside the pipeline, started by EventBridge) -------------------

def breach_step() -> Step:
    """The prod stack's revert-breach step with a 30-minute bake (its GitOps token is in the step's region)."""
    data = stack_data("prod")
    data["promotion"] = {**data["promotion"], "blockingAlarms": ["shop-prod-health"], "bakeMinutes": 30}
    settings = parse(data)
    step = revert_breach_step(settings, {"shop-api-prod-verify": "api"})
    assert step.needs_token and step.region == settings.gitops_token.region
    return step


def breach_run(host, repo, tmp_path, answers: dict[str, dict]) -> tuple[int, list, str]:
    """The step as CodeBuild runs it: the project's variables (the GitOps repository: `repo`), and
    the pipeline and execution EventBridge's input transformer overrides."""
    work = tmp_path / "work"
    work.mkdir()
    step = breach_step()
    with FakeCodePipeline(answers) as codepipeline:
        env = {**host, **step.project_variables, "GITOPS_URL": repo.url, "GITOPS_TOKEN": repo.token,
               "PIPELINE": "shop-api-prod-verify", "EXECUTION_ID": "exec-9", **codepipeline_env(codepipeline)}
        code, _, output = run_step(step, env, work, tmp_path / "tools")
        codepipeline.shutdown()
    return code, codepipeline.requests, output


def test_after_an_action_failure_the_breach_step_reverts_nothing(host, gitops_repo, tmp_path):
    before = gitops_repo.refs()
    code, requests, output = breach_run(host, gitops_repo, tmp_path, {"ListRuleExecutions": {"ruleExecutionDetails": []}})
    assert code == 0, output
    assert "failed in an action, not in the bake" in output and gitops_repo.refs() == before
    assert requests == [("CodePipeline_20150709.ListRuleExecutions",
                         {"pipelineName": "shop-api-prod-verify", "filter": {"pipelineExecutionId": "exec-9"}})]


def test_a_breach_runs_verifys_revert_with_its_exit_codes(host, gitops_repo, tmp_path):
    # The test git server is no GitHub: revert finds no verification statuses and, as after a failed
    # verify, refuses to rewrite anything without them (NothingVerified); the build fails with it.
    revision = gitops_repo.refs()["refs/heads/main"]
    rule = {"pipelineExecutionId": "exec-9", "ruleExecutionId": "r-1", "stageName": "Verify",
            "ruleName": "Bake1-shop-prod-health", "status": "Failed", "input": {"ruleTypeId": {
                "category": "Rule", "owner": "AWS", "provider": "CloudWatchAlarm", "version": "1"}}}
    action = {"pipelineExecutionId": "exec-9", "actionExecutionId": "a-1", "stageName": "Verify",
              "actionName": "Verify-eu-west-1", "status": "Succeeded", "input": {
                  "actionTypeId": {"category": "Test", "owner": "AWS", "provider": "CodeBuild", "version": "1"},
                  "resolvedConfiguration": {"EnvironmentVariables": json.dumps(
                      [{"name": "REVISION", "value": revision, "type": "PLAINTEXT"}])}}}
    before = gitops_repo.refs()
    code, requests, output = breach_run(host, gitops_repo, tmp_path, {
        "ListRuleExecutions": {"ruleExecutionDetails": [rule]},
        "ListActionExecutions": {"actionExecutionDetails": [action]}})
    assert code == NothingVerified.exit_code, output
    assert "nothing is blocked or rewritten without that evidence" in output and gitops_repo.refs() == before
    assert [target for target, _ in requests] == ["CodePipeline_20150709.ListRuleExecutions",
                                                  "CodePipeline_20150709.ListActionExecutions"]


# --- The run CodePipeline starts when it creates a pipeline ---------------------------------------

EXECUTION = "3137f7cb-8d7f-4c3b-9d5b-2a3f2c0e6e11"


def creation_run(trigger_type: str) -> FakeCodePipeline:
    """CodePipeline answering that EXECUTION was started by `trigger_type`, and accepting a stop."""
    return FakeCodePipeline({
        "GetPipelineExecution": {"pipelineExecution": {"pipelineExecutionId": EXECUTION, "status": "InProgress",
                                                       "trigger": {"triggerType": trigger_type}}},
        "StopPipelineExecution": {"pipelineExecutionId": EXECUTION}})


def in_pipeline(codepipeline: FakeCodePipeline, pipeline: str) -> dict[str, str]:
    """What a step of `pipeline`'s execution EXECUTION has: the initiator CodeBuild sets, the
    execution id and the pipeline's region the program sets, a CodePipeline client reaching the fake."""
    return {**codepipeline_env(codepipeline), "CODEBUILD_INITIATOR": f"codepipeline/{pipeline}",
            "EXECUTION_ID": EXECUTION, "PIPELINE_REGION": "us-east-1"}


STOPPED = [("CodePipeline_20150709.GetPipelineExecution", {"pipelineName": "shop-api-prod", "pipelineExecutionId": EXECUTION}),
           ("CodePipeline_20150709.StopPipelineExecution",
            {"pipelineName": "shop-api-prod", "pipelineExecutionId": EXECUTION, "abandon": False,
             "reason": CREATION_RUN_REASON})]


def test_in_a_creation_run_resolve_stops_the_execution_and_asks_nobody(host, tmp_path):
    # Day one: the GitOps repository has no values for the service yet, and nothing is proven.
    # Outside a creation run that fails the action (and alarms); in one, nothing is read.
    source = tmp_path / "source"
    source.mkdir()
    with creation_run("CreatePipeline") as codepipeline:
        env = {**resolve_env(host), **in_pipeline(codepipeline, "shop-api-prod")}
        code, exported, output = run_step("resolve.yml", env, source, tmp_path / "tools")
        codepipeline.shutdown()
    assert code == 0, output
    assert codepipeline.requests == STOPPED
    assert "nothing is built, promoted, verified or reverted" in output and "image.digest" not in output
    assert not exported.get("TAG") and not exported.get("DIGEST")


def test_a_run_started_otherwise_resolves_as_always(host, tmp_path):
    source = tmp_path / "source"
    (source / "envs/staging/api").mkdir(parents=True)
    (source / "envs/staging/api/values.yaml").write_text(values_yaml("api", "4f2a9c1", ""))
    with creation_run("CloudWatchEvent") as codepipeline:
        env = {**resolve_env(host), **in_pipeline(codepipeline, "shop-api-prod")}
        code, _, output = run_step("resolve.yml", env, source, tmp_path / "tools")
        codepipeline.shutdown()
    assert code != 0 and "has no image.digest" in output
    assert [target for target, _ in codepipeline.requests] == ["CodePipeline_20150709.GetPipelineExecution"]


def test_in_a_creation_run_verify_verifies_and_reverts_nothing(verify_host, tmp_path):
    # The verify pipeline a merge starts: its Verify actions are its first. Were verify to run on day
    # one (Argo CD still installing) its timeout would revert and block whatever runs.
    with creation_run("CreatePipeline") as codepipeline:
        env = {**verify_host, **in_pipeline(codepipeline, "shop-api-prod")}
        succeeded, reverted, output = verify(env, tmp_path, VerifyTimeout.exit_code)
        codepipeline.shutdown()
    assert succeeded, output
    assert reverted is None and not Path(verify_host["VERIFY_RECORD"]).exists()
    assert codepipeline.requests == STOPPED
