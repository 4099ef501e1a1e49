"""The offline plan: the program run under mocks with a stack's config, recorded as the engine would.

Most tests plan the fixture project (tests/fixtures/project), which has every shape the plan must
handle; the last group plans the real program's stacks.
"""

from __future__ import annotations

import gc
import io
import json
import re
import subprocess
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pytest
from google.protobuf import json_format, struct_pb2
from hypothesis import given, settings
from hypothesis import strategies as st
from pulumi.runtime import rpc
from rich.console import Console

from components.settings import SettingsError
from offline import render
from offline.mocks import PLACEHOLDER_SECRET
from offline.plan import SECRET, SECURE_PLACEHOLDER, StackConfigError, _Decoder, _Secret, load_stack_config, run_plan
from tests.conftest import REPO_ROOT, cached_plan

TOOLING, ENVIRONMENT, ENVIRONMENT_PROD = "111111111111", "222222222222", "333333333333"
PREFIX = "urn:pulumi:fixture::delivery-pipeline::"
STACK_URN = PREFIX + "pulumi:pulumi:Stack::delivery-pipeline-fixture"


@pytest.fixture(scope="module")
def plan(fixture_project):
    return cached_plan("fixture", project_dir=fixture_project)


def one(plan, type_, name):
    matches = [r for r in plan.resources if r.type == type_ and r.name == name]
    assert len(matches) == 1, f"{type_} {name}: {len(matches)} matches"
    return matches[0]


# ---------------------------------------------------------------------------------------------
# URNs and parents


def test_top_level_urns_leave_the_root_stack_out_of_the_type_chain(plan):
    topic = one(plan, "aws:sns/topic:Topic", "alerts")
    assert topic.urn == PREFIX + "aws:sns/topic:Topic::alerts"
    assert topic.parent == STACK_URN


def test_child_urns_carry_the_whole_parent_type_chain(plan):
    bucket = one(plan, "aws:s3/bucket:Bucket", "stores-eu-west-1-Bucket")
    assert bucket.urn == (PREFIX + "delivery:store:ArtifactStores$delivery:store:ArtifactStore$"
                          "aws:s3/bucket:Bucket::stores-eu-west-1-Bucket")
    store = one(plan, "delivery:store:ArtifactStore", "stores-eu-west-1")
    assert store.urn == PREFIX + "delivery:store:ArtifactStores$delivery:store:ArtifactStore::stores-eu-west-1"
    assert bucket.parent == store.urn
    assert store.parent == one(plan, "delivery:store:ArtifactStores", "stores").urn


def test_every_parent_is_the_stack_or_a_planned_resource_and_the_stack_is_not_listed(plan):
    urns = {r.urn for r in plan.resources}
    assert all(r.parent in urns | {STACK_URN} for r in plan.resources)
    assert not any(r.type == "pulumi:pulumi:Stack" or "pulumi:pulumi:Stack$" in r.urn for r in plan.resources)
    assert len(urns) == len(plan.resources)


def test_components_have_no_id_and_their_registered_outputs(plan):
    store = one(plan, "delivery:store:ArtifactStore", "stores-us-east-1")
    bucket = one(plan, "aws:s3/bucket:Bucket", "stores-us-east-1-Bucket")
    assert (store.custom, store.id, store.account, store.region) == (False, None, None, None)
    assert store.outputs == {"bucket": bucket.id}


# ---------------------------------------------------------------------------------------------
# Where each resource lands


def test_default_provider_puts_resources_in_the_tooling_account_and_stack_region(plan):
    role = one(plan, "aws:iam/role:Role", "pipeline-role")
    assert (role.account, role.region, role.provider) == (TOOLING, "us-east-1", None)


def test_region_input_moves_a_tooling_resource_to_that_region(plan):
    key = one(plan, "aws:kms/key:Key", "stores-eu-west-1-key")
    assert (key.account, key.region) == (TOOLING, "eu-west-1")
    assert key.outputs["arn"].startswith(f"arn:aws:kms:eu-west-1:{TOOLING}:key/")


def test_assumed_role_provider_puts_resources_in_the_role_account_and_provider_region(plan):
    provider = one(plan, "pulumi:providers:aws", "environment")
    role = one(plan, "aws:iam/role:Role", "deploy")
    assert (provider.account, provider.region) == (ENVIRONMENT, "eu-west-1")
    assert (role.account, role.region, role.provider) == (ENVIRONMENT, "eu-west-1", provider.urn)
    assert role.outputs["arn"] == f"arn:aws:iam::{ENVIRONMENT}:role/delivery/shop/staging/shop-staging-deploy"


def test_resources_outside_aws_have_no_account_or_region(plan):
    for type_, name in [("kubernetes:core/v1:Secret", "repo-creds"), ("pulumi:providers:kubernetes", "cluster"),
                        ("pulumi:pulumi:StackReference", "registry")]:
        resource = one(plan, type_, name)
        assert (resource.account, resource.region) == (None, None), name
    secret = one(plan, "kubernetes:core/v1:Secret", "repo-creds")
    assert secret.provider == one(plan, "pulumi:providers:kubernetes", "cluster").urn


def test_invokes_answer_from_the_provider_they_were_called_with(plan):
    # getCluster was called with the environment provider (eu-west-1) and feeds the kubeconfig.
    kubeconfig = json.loads(one(plan, "pulumi:providers:kubernetes", "cluster").inputs["kubeconfig"])
    assert re.fullmatch(r"https://[0-9A-F]{32}\.gr7\.eu-west-1\.eks\.amazonaws\.com", kubeconfig["server"])
    assert plan.outputs["identity"] == TOOLING


# ---------------------------------------------------------------------------------------------
# JSON document


def test_json_has_exactly_the_documented_shape(plan):
    document = json.loads(json.dumps(plan.to_json()))
    assert list(document) == ["project", "stack", "resources", "outputs"]  # no access paths declared
    assert (document["project"], document["stack"]) == ("delivery-pipeline", "fixture")
    assert len(document["resources"]) == len(plan.resources) > 20
    for resource in document["resources"]:
        assert list(resource) == ["urn", "type", "name", "id", "parent", "account", "region", "inputs", "outputs"]
        assert all(isinstance(resource[k], str) for k in ("urn", "type", "name", "parent"))
        assert all(resource[k] is None or isinstance(resource[k], str) for k in ("id", "account", "region"))
        assert isinstance(resource["inputs"], dict) and isinstance(resource["outputs"], dict)
    pipeline = next(r for r in document["resources"] if r["type"] == "aws:codepipeline/pipeline:Pipeline")
    assert pipeline["inputs"]["pipelineType"] == "V2"
    assert pipeline["inputs"]["stages"][1]["actions"][0]["runOrder"] == 1  # integers stay integers
    assert pipeline["outputs"]["arn"] == f"arn:aws:codepipeline:us-east-1:{TOOLING}:shop-api-staging"


def test_stack_outputs_are_resolved(plan):
    assert plan.outputs["pipelineName"] == "shop-api-staging"
    assert plan.outputs["artifactBuckets"] == {
        "us-east-1": one(plan, "aws:s3/bucket:Bucket", "stores-us-east-1-Bucket").id,
        "eu-west-1": one(plan, "aws:s3/bucket:Bucket", "stores-eu-west-1-Bucket").id,
    }
    assert plan.outputs["registryUrls"] == {"api": f"{TOOLING}.dkr.ecr.us-east-1.amazonaws.com/shop/api"}


def test_secrets_are_redacted_in_inputs_outputs_json_and_printout(plan, capsys):
    secret = one(plan, "kubernetes:core/v1:Secret", "repo-creds")
    assert secret.inputs["stringData"] == SECRET
    assert plan.outputs["gitopsToken"] == SECRET
    render.print_plan(plan)
    printed = capsys.readouterr().out
    assert PLACEHOLDER_SECRET not in json.dumps(plan.to_json())
    assert PLACEHOLDER_SECRET not in printed and "repo-creds" in printed


def _reference_decode(value):
    """The monitor's decoding as it was: json_format.MessageToDict, then this walk."""
    if isinstance(value, dict):
        signature = value.get(rpc._special_sig_key)
        if signature == rpc._special_secret_sig:
            return _Secret(_reference_decode(value.get("value")))
        if signature == rpc._special_resource_sig:
            return value.get("urn")
        if signature == rpc._special_output_value_sig:
            inner = _reference_decode(value["value"]) if "value" in value else "[unknown]"
            return _Secret(inner) if value.get("secret") else inner
        if signature in (rpc._special_asset_sig, rpc._special_archive_sig):
            return {k: _reference_decode(v) for k, v in value.items() if k != rpc._special_sig_key}
        return {k: _reference_decode(value[k]) for k in sorted(value)}
    if isinstance(value, list):
        return [_reference_decode(v) for v in value]
    if value == rpc.UNKNOWN:
        return "[unknown]"
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _shown(value):
    # Decoded values with secrets made visible, types kept, key order kept (the JSON's order).
    if isinstance(value, _Secret):
        return ("secret", _shown(value.value))
    if isinstance(value, dict):
        return ["dict", *[(k, _shown(v)) for k, v in value.items()]]
    if isinstance(value, (list, tuple)):
        return [type(value).__name__, *map(_shown, value)]
    return (type(value).__name__, value)


_signed = st.sampled_from([rpc._special_secret_sig, rpc._special_resource_sig, rpc._special_output_value_sig,
                           rpc._special_asset_sig, rpc._special_archive_sig, "not-a-signature"])
_wire_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=6) | st.just(rpc.UNKNOWN),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(["value", "urn", "secret", "path", "a", "b"]), inner, max_size=4)
    # Signed values as the SDK writes them: a resource reference's `urn` is a string.
    | st.builds(lambda sig, urn, rest: {**rest, "urn": urn, rpc._special_sig_key: sig}, _signed, st.text(max_size=6),
                st.dictionaries(st.sampled_from(["value", "secret", "path"]), inner, max_size=3)),
    max_leaves=16)


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(st.text(max_size=4), _wire_values, max_size=4))
def test_the_monitor_reads_a_struct_as_message_to_dict_and_the_old_walk_did(values):
    struct = struct_pb2.Struct()
    struct.update(values)
    decoder = _Decoder()
    decoded = decoder.struct(struct)
    reference = _reference_decode(json_format.MessageToDict(struct))
    assert _shown(decoded) == _shown(reference)
    assert decoder.secret == _holds_secret(decoded)


def _holds_secret(value):
    if isinstance(value, _Secret):
        return True
    if isinstance(value, dict):
        return any(map(_holds_secret, value.values()))
    return isinstance(value, list) and any(map(_holds_secret, value))


def test_repeated_runs_in_one_process_give_identical_json(fixture_project):
    first = json.dumps(run_plan("fixture", project_dir=fixture_project).to_json(), indent=2)
    with pytest.raises(SettingsError):
        run_plan("invalid", project_dir=fixture_project)  # a failed run leaves nothing behind
    second = json.dumps(run_plan("fixture", project_dir=fixture_project).to_json(), indent=2)
    assert first == second


def test_config_overrides_replace_stack_values(fixture_project):
    environment = load_stack_config(fixture_project, "fixture").values["delivery-pipeline:environment"]
    three = {**environment, "clusters": {**environment["clusters"], "us-west-2": "shop-staging-usw2"}}
    plan = run_plan("fixture", {"delivery-pipeline:environment": three}, fixture_project)
    stores = sorted(r.name for r in plan.by_type("delivery:store:ArtifactStore"))
    assert stores == ["stores-eu-west-1", "stores-us-east-1", "stores-us-west-2"]
    assert one(plan, "aws:s3/bucket:Bucket", "stores-us-west-2-Bucket").region == "us-west-2"


def test_two_resources_with_one_urn_fail_the_plan_as_the_engine_would(tmp_path):
    (tmp_path / "Pulumi.yaml").write_text("name: dup\nruntime: python\n")
    (tmp_path / "Pulumi.dev.yaml").write_text("config:\n  aws:region: us-east-1\n  dup:tooling: {account: '111111111111'}\n")
    (tmp_path / "__main__.py").write_text(
        "import pulumi_aws as aws\naws.sns.Topic('alerts')\naws.sns.Topic('alerts')\n")
    with pytest.raises(ValueError, match=r"two resources have the URN urn:pulumi:dev::dup::aws:sns/topic:Topic::alerts"):
        run_plan("dev", project_dir=tmp_path)


@pytest.mark.parametrize("fails", [False, True], ids=["planned", "program-failed"])
@pytest.mark.parametrize("enabled", [True, False], ids=["collector-on", "collector-off"])
def test_the_garbage_collector_is_paused_while_the_program_runs_and_restored_after(tmp_path, enabled, fails):
    _gc_project(tmp_path, fails)
    with _collector(enabled):
        if fails:
            with pytest.raises(RuntimeError, match="boom"):
                run_plan("dev", project_dir=tmp_path)
        else:
            assert run_plan("dev", project_dir=tmp_path).outputs == {"collecting": False}
        assert gc.isenabled() is enabled


def test_a_caller_about_to_exit_keeps_the_collector_paused_and_the_plans_heap_frozen(tmp_path):
    _gc_project(tmp_path, fails=False)
    with _collector(True):
        try:
            assert run_plan("dev", project_dir=tmp_path, exiting=True).outputs == {"collecting": False}
            assert not gc.isenabled()
            assert gc.get_freeze_count() > 0
        finally:
            gc.unfreeze()


def _gc_project(directory: Path, fails: bool) -> None:
    (directory / "Pulumi.yaml").write_text("name: gcdemo\nruntime: python\n")
    (directory / "Pulumi.dev.yaml").write_text(
        "config:\n  aws:region: us-east-1\n  gcdemo:tooling: {account: '111111111111'}\n")
    # The program exports what it saw of the collector; a failing one raises after registering.
    (directory / "__main__.py").write_text(
        "import gc\nimport pulumi\nimport pulumi_aws as aws\naws.sns.Topic('alerts')\n"
        "pulumi.export('collecting', gc.isenabled())\n" + ("raise RuntimeError('boom')\n" if fails else ""))


@contextmanager
def _collector(enabled: bool) -> Iterator[None]:
    was = gc.isenabled()
    (gc.enable if enabled else gc.disable)()
    try:
        yield
    finally:
        (gc.enable if was else gc.disable)()


# ---------------------------------------------------------------------------------------------
# Config as `pulumi up` passes it


def test_config_is_encoded_as_the_engine_passes_it(tmp_path):
    (tmp_path / "Pulumi.yaml").write_text("name: demo\nruntime: python\n")
    (tmp_path / "Pulumi.dev.yaml").write_text(
        "config:\n  aws:region: eu-west-1\n  flag: true\n  demo:count: 3\n  demo:list: [a, b]\n"
        "  demo:token:\n    secure: v1:abcdef\n")
    config = load_stack_config(tmp_path, "dev", {"demo:count": 4})
    assert config.project == "demo"
    assert config.engine == {"aws:region": "eu-west-1", "demo:flag": "true", "demo:count": "4",
                             "demo:list": '["a", "b"]', "demo:token": SECURE_PLACEHOLDER}
    assert config.values["demo:list"] == ["a", "b"]
    assert config.secret_keys == ["demo:token"]


def test_missing_stack_file_names_the_stacks_there(fixture_project):
    with pytest.raises(StackConfigError, match=r"Pulumi\.nope\.yaml .*stacks here: fixture, invalid"):
        load_stack_config(fixture_project, "nope")


# ---------------------------------------------------------------------------------------------
# Command line


def run_cli(python, repo_root, *args):
    return subprocess.run([python, "-m", "offline.plan", *args], cwd=repo_root, capture_output=True,
                          text=True, timeout=120)


def test_cli_settings_errors_print_only_the_messages_one_per_line_and_exit_2(python, repo_root, fixture_project):
    result = run_cli(python, repo_root, "--stack", "invalid", "--project-dir", str(fixture_project))
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "error: delivery-pipline:executionMode is in namespace 'delivery-pipline', which neither this program "
        "nor its providers read: did you mean delivery-pipeline:executionMode?",
        "error: delivery-pipeline:tooling.account = '1111': expected a 12-digit AWS account id in quotes, "
        'e.g. "111111111111"',
        "error: delivery-pipeline:tags.Environment = 'production': expected a tag name other than the stack's own "
        "app, environment, managed-by (compared case-insensitively), which the stack sets itself: rename or remove it",
        "error: delivery-pipeline:services[0].testComand is not a known setting: did you mean services[0].testCommand?",
    ]
    assert result.stdout == ""


def write_project(directory: Path, stack_file: str) -> Path:
    (directory / "Pulumi.yaml").write_text("name: demo\nruntime: python\n")
    (directory / "Pulumi.dev.yaml").write_text(stack_file)
    (directory / "__main__.py").write_text("")
    return directory


def test_cli_duplicated_keys_at_any_level_are_refused_with_both_lines(python, repo_root, tmp_path):
    write_project(tmp_path, "config:\n"
                            "  demo:tooling:\n"
                            "    account: '111111111111'\n"
                            "    region: us-east-1\n"
                            "    account: '222222222222'\n"
                            "  aws:region: us-east-1\n"
                            "  demo:tooling: {region: eu-west-1}\n")
    result = run_cli(python, repo_root, "--stack", "dev", "--project-dir", str(tmp_path))
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"error: {tmp_path}/Pulumi.dev.yaml:5:5: duplicate key 'account', first set at line 3: keep one",
        f"{tmp_path}/Pulumi.dev.yaml:7:3: duplicate key 'demo:tooling', first set at line 2: keep one",
    ]


def test_a_key_with_and_without_the_project_namespace_is_one_key_set_twice(tmp_path):
    write_project(tmp_path, "config:\n  demo:app: a\n  app: b\n")
    with pytest.raises(StackConfigError, match=r"^Pulumi\.dev\.yaml: 'demo:app' and 'app' are the same key demo:app"):
        load_stack_config(tmp_path, "dev")


def test_merge_keys_are_not_duplicates(tmp_path):
    write_project(tmp_path, "defaults: &defaults {region: us-east-1, account: '1'}\n"
                            "config:\n  demo:tooling:\n    <<: *defaults\n    account: '111111111111'\n")
    assert load_stack_config(tmp_path, "dev").values["demo:tooling"] == {"region": "us-east-1", "account": "111111111111"}


def test_cli_yaml_error_is_file_line_column_problem_then_the_line_and_a_caret(python, repo_root, tmp_path):
    write_project(tmp_path, "config:\n  aws:region: us-east-1\n  demo:tooling: account: '1'\n")
    result = run_cli(python, repo_root, "--stack", "dev", "--project-dir", str(tmp_path))
    assert result.returncode == 2
    assert result.stderr == (f"error: {tmp_path}/Pulumi.dev.yaml:3:24: mapping values are not allowed here\n"
                             "    demo:tooling: account: '1'\n"
                             "                         ^\n")


@pytest.mark.parametrize("text, problem, line", [
    # An unclosed quote: the parser stops at the end of the file; the caret shows where it opened.
    ("config:\n  demo:app: 'shop\n  aws:region: us-east-1\n", "2:13: found unexpected end of stream "
     "(while scanning a quoted scalar at line 2)", "    demo:app: 'shop"),
    ("config:\n\tdemo:app: shop\n", "2:1: found character '\\t' that cannot start any token "
     "(while scanning for the next token)", "  \tdemo:app: shop"),
    # A control character is shown as '?', never sent to the terminal.
    ("config:\n  demo:app: \"\x1b[2J\"\n", "2:14: unacceptable character #x001b: special characters are "
     "not allowed", '    demo:app: "?[2J"'),
    ("config: {}\n---\nconfig: {}\n", "2:1: but found another document (expected a single document in the "
     "stream at line 1)", "  ---"),
])
def test_yaml_errors_name_file_line_and_column_without_parser_internals(tmp_path, text, problem, line):
    write_project(tmp_path, text)
    with pytest.raises(StackConfigError) as caught:
        load_stack_config(tmp_path, "dev")
    first, shown, caret = str(caught.value).split("\n")
    assert first == f"{tmp_path}/Pulumi.dev.yaml:{problem}"
    assert shown == line
    column = int(problem.split(":")[1])
    assert caret.expandtabs(8) == " " * len(("  " + line[2:][:column - 1]).expandtabs(8)) + "^"
    assert "<unicode string>" not in str(caught.value) and "position" not in str(caught.value)


def test_a_stack_file_in_the_current_directory_is_named_as_typed(tmp_path, monkeypatch):
    write_project(tmp_path, "config: [\n")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(StackConfigError, match=r"^Pulumi\.dev\.yaml:2:1: "):
        load_stack_config(Path("."), "dev")


@pytest.mark.parametrize("text, limit", [
    ("config:\n  demo:x: " + "[" * 70 + "]" * 70 + "\n", "nested deeper than 64 levels, the limit for a stack file"),
    ("config:\n  a: &a [" + ",".join(["1"] * 10) + "]\n"
     + "".join(f"  {k}: &{k} [" + ",".join([f"*{p}"] * 10) + "]\n" for p, k in zip("abcde", "bcdef")),
     "more than 100000 values once its aliases are expanded, the limit for a stack file"),
])
def test_hostile_stack_files_are_refused_at_a_limit_before_the_work_grows(tmp_path, text, limit):
    write_project(tmp_path, text)
    with pytest.raises(StackConfigError, match=re.escape(limit)):
        load_stack_config(tmp_path, "dev")


def test_an_oversized_stack_file_is_refused_unread(tmp_path):
    write_project(tmp_path, "config:\n  demo:x: '" + "x" * (1024 * 1024) + "'\n")
    with pytest.raises(StackConfigError, match=r"Pulumi\.dev\.yaml: \d+ bytes, more than the 1048576 a stack file may have"):
        load_stack_config(tmp_path, "dev")


def test_cli_program_failure_shows_the_traceback_and_exits_1(python, repo_root):
    result = run_cli(python, repo_root, "--stack", "dev", "--project-dir", str(repo_root / "tests/fixtures/failing"))
    assert result.returncode == 1
    assert "Traceback" in result.stderr
    assert "no answer for invoke 'aws:index/getAvailabilityZones:getAvailabilityZones'" in result.stderr


def test_cli_writes_json_and_diagrams(python, repo_root, fixture_project, tmp_path):
    result = run_cli(python, repo_root, "--stack", "fixture", "--project-dir", str(fixture_project),
                     "--json", str(tmp_path / "plan.json"), "--diagram-dir", str(tmp_path / "diagrams"))
    assert result.returncode == 0, result.stderr
    assert json.loads((tmp_path / "plan.json").read_text()) == cached_plan("fixture", project_dir=fixture_project).to_json()
    assert (tmp_path / "diagrams" / "shop-api-staging.mmd").read_text().startswith("flowchart LR\n")
    # Not a terminal: plain lines, one resource per line, children indented under components.
    bucket = one(cached_plan("fixture", project_dir=fixture_project), "aws:s3/bucket:Bucket", "stores-eu-west-1-Bucket")
    assert "\n    delivery:store:ArtifactStore  stores-eu-west-1\n" in result.stdout
    assert (f"\n      aws:s3/bucket:Bucket  stores-eu-west-1-Bucket ({bucket.id})  [{TOOLING}/eu-west-1]\n"
            in result.stdout)
    assert f"\n  aws:iam/role:Role  deploy (shop-staging-deploy)  [{ENVIRONMENT}/eu-west-1]\n" in result.stdout
    assert PLACEHOLDER_SECRET not in result.stdout


def test_library_use_from_a_plain_interpreter_keeps_the_callers_imports(python, repo_root, fixture_project):
    # `python -c` puts "" (the current directory) on sys.path; the plan runs the program from the
    # project directory and must not lose the caller's modules (here: components, offline.render).
    code = ("from offline.plan import run_plan\n"
            f"plan = run_plan('fixture', project_dir={str(fixture_project)!r})\n"
            "from offline import render\n"
            "print(len(plan.resources), len(render.pipelines(plan)))")
    result = subprocess.run([python, "-c", code], cwd=repo_root, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [str(len(cached_plan("fixture", project_dir=fixture_project).resources)), "1"]


POLICY_PROJECT = {
    "Pulumi.yaml": "name: pol\nruntime: python\n",
    "Pulumi.dev.yaml": "config:\n  aws:region: us-east-1\n  pol:tooling: {account: '111111111111'}\n",
    "__main__.py": "import pulumi_aws as aws\naws.sns.Topic('alerts')\naws.sqs.Queue('jobs')\n",
    "policy/__init__.py": "",
    "policy/offline.py": (
        "from dataclasses import dataclass\n"
        "@dataclass(frozen=True)\n"
        "class Violation:\n"
        "    policy: str\n    enforcement: str\n    urn: str\n    type: str\n    name: str\n    message: str\n    fix: str\n"
        "def evaluate(resources):\n"
        "    levels = {'aws:sns/topic:Topic': 'mandatory', 'aws:sqs/queue:Queue': 'advisory'}\n"
        "    return [Violation('no-' + r.name, levels[r.type], r.urn, r.type, r.name, 'not allowed', 'remove it')\n"
        "            for r in resources if r.type in levels]\n"),
}


def test_cli_runs_the_projects_policy_pack_and_exits_3_on_a_mandatory_violation(python, repo_root, tmp_path):
    for name, text in POLICY_PROJECT.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    result = run_cli(python, repo_root, "--stack", "dev", "--project-dir", str(tmp_path),
                     "--json", str(tmp_path / "plan.json"))
    assert result.returncode == 3, result.stderr
    assert "[mandatory] no-alerts: aws:sns/topic:Topic alerts: not allowed\n    fix: remove it" in result.stdout
    assert "[advisory] no-jobs:" in result.stdout
    violations = json.loads((tmp_path / "plan.json").read_text())["violations"]
    assert {(v["policy"], v["enforcement"], v["urn"]) for v in violations} == {
        ("no-alerts", "mandatory", "urn:pulumi:dev::pol::aws:sns/topic:Topic::alerts"),
        ("no-jobs", "advisory", "urn:pulumi:dev::pol::aws:sqs/queue:Queue::jobs")}


# ---------------------------------------------------------------------------------------------
# Rendering


def test_terminal_output_is_a_rich_tree_with_placement(plan):
    console = Console(file=io.StringIO(), force_terminal=True, width=200, color_system=None, soft_wrap=True)
    render.print_plan(plan, console)
    text = console.file.getvalue()
    assert "├── delivery:store:ArtifactStores  stores" in text
    assert f"aws:iam/role:Role  deploy (shop-staging-deploy)  [{ENVIRONMENT}/eu-west-1]" in text
    assert "kubernetes:core/v1:Secret  repo-creds (argocd/repo-creds)  [cluster shop-staging-use1]" in text
    assert "resources by component" in text and "resources by account" in text


def test_mermaid_shows_parallel_actions_cross_region_actions_and_trigger_filters(plan):
    diagram = render.pipeline_diagram(one(plan, "aws:codepipeline/pipeline:Pipeline", "api-staging"))
    build_stage = diagram[diagram.index('subgraph S1["Build"]'):diagram.index('subgraph S2["Verify"]')]
    parallel = build_stage[build_stage.index("runOrder 1 (parallel)"):build_stage.index("runOrder 2")]
    assert '"Build<br/>' in parallel and '"Test<br/>' in parallel and "Scan" not in parallel
    assert "S1R1 --> S1R2" in build_stage
    assert '"Verify-eu-west-1<br/>Build: CodeBuild<br/>region: eu-west-1"' in diagram
    assert '"Verify-us-east-1<br/>Build: CodeBuild"' in diagram  # the pipeline's own region is not repeated
    assert "filePaths: services/api/**, libs/**" in diagram and "branches: main" in diagram
    assert diagram.index("S0 --> S1") < diagram.index("S1 --> S2")


def test_the_tree_shows_physical_names_beside_logical_ones(plan):
    lines = render.tree_lines(plan)
    bucket = one(plan, "aws:s3/bucket:Bucket", "stores-us-east-1-Bucket")
    assert re.fullmatch(r"stores-us-east-1-bucket-[0-9a-f]{7}", bucket.id)
    for line in [f"  aws:codepipeline/pipeline:Pipeline  api-staging (shop-api-staging)  [{TOOLING}/us-east-1]",
                 f"  aws:codebuild/project:Project  build (shop-api-build)  [{TOOLING}/us-east-1]",
                 f"      aws:s3/bucket:Bucket  stores-us-east-1-Bucket ({bucket.id})  [{TOOLING}/us-east-1]",
                 # Not a name of its own: a bucket's versioning is identified by its bucket.
                 f"      aws:s3/bucketVersioning:BucketVersioning  stores-us-east-1-versioning  [{TOOLING}/us-east-1]",
                 f"  aws:ecr/repository:Repository  api (shop/api)  [{TOOLING}/us-east-1]",
                 # A provider has no name in any service; a StackReference's is the stack it reads.
                 f"  pulumi:providers:aws  environment  [{ENVIRONMENT}/eu-west-1]",
                 "  pulumi:pulumi:StackReference  registry (acme/delivery-pipeline/staging)"]:
        assert line in lines, line


def test_kubernetes_resources_show_the_cluster_of_their_provider(plan):
    lines = render.tree_lines(plan)
    assert "  kubernetes:core/v1:Secret  repo-creds (argocd/repo-creds)  [cluster shop-staging-use1]" in lines
    assert "  pulumi:providers:kubernetes  cluster  [cluster shop-staging-use1]" in lines


def test_the_stack_outputs_are_printed_as_yaml(plan):
    lines = render.output_lines(plan)
    assert lines[0] == "outputs:"
    assert "  pipelineName: shop-api-staging" in lines
    assert "  artifactBuckets:" in lines
    assert f"    eu-west-1: {plan.outputs['artifactBuckets']['eu-west-1']}" in lines
    assert "  gitopsToken: '[secret]'" in lines


def test_summary_counts_resources_by_top_level_component(plan):
    counts = render.summary_counts(plan)["component"]
    # Each ArtifactStore holds a key, an alias, a bucket and its versioning; nested under ArtifactStores.
    assert counts["delivery:store:ArtifactStores"] == 8
    assert counts["(no component)"] == sum(1 for r in plan.resources if r.custom) - 8


def test_cli_summary_and_no_diagrams_leave_out_what_they_say(python, repo_root, fixture_project):
    def printed(*flags):
        result = run_cli(python, repo_root, "--stack", "fixture", "--project-dir", str(fixture_project), *flags)
        assert result.returncode == 0, result.stderr
        return result.stdout

    full, no_diagrams, summary = printed(), printed("--no-diagrams"), printed("--summary")
    tree_line = "\n  aws:sns/topic:Topic  alerts (shop-staging-alerts)  [111111111111/us-east-1]\n"
    for text, tree, diagram, outputs in [(full, True, True, True), (no_diagrams, True, False, True),
                                         (summary, False, False, False)]:
        assert (tree_line in text) is tree
        assert ("flowchart LR" in text) is diagram
        assert ("\noutputs:\n  artifactBuckets:" in text) is outputs
        assert "\nby component:\n" in text and "\nby type:\n" in text
    assert len(summary.splitlines()) < len(no_diagrams.splitlines()) < len(full.splitlines())
    both = run_cli(python, repo_root, "--stack", "fixture", "--project-dir", str(fixture_project), "--summary",
                   "--no-diagrams")
    assert both.returncode == 2 and "not allowed with argument" in both.stderr


def test_mermaid_labels_escape_characters_that_would_break_the_diagram():
    assert render._label('say "hi" <b> #{Build.TAG}') == '"say #quot;hi#quot; #lt;b#gt; #35;{Build.TAG}"'


def test_summary_counts_by_type_account_and_region(plan):
    counts = render.summary_counts(plan)
    assert counts["type"]["aws:s3/bucket:Bucket"] == 2
    assert counts["account"][ENVIRONMENT] == 2  # the provider and the role it creates
    assert counts["region"]["eu-west-1"] == sum(1 for r in plan.resources if r.custom and r.region == "eu-west-1")


# ---------------------------------------------------------------------------------------------
# The real program's stacks


needs_program = pytest.mark.skipif(not (REPO_ROOT / "__main__.py").is_file(),
                                   reason="the program's __main__.py is not there yet")


@needs_program
@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_real_stacks_plan_with_every_aws_resource_placed(stack):
    plan = cached_plan(stack)
    assert plan.by_type("aws:codepipeline/pipeline:Pipeline")
    for resource in plan.resources:
        if resource.custom and resource.type.startswith("aws:"):
            assert resource.account and resource.region, resource.urn
            assert not resource.id.endswith("-id"), f"{resource.type} has no tailored mock answer"
    for pipeline in plan.by_type("aws:codepipeline/pipeline:Pipeline"):
        assert pipeline.account == TOOLING
        stages = re.findall(r"subgraph S\d+\[", render.pipeline_diagram(pipeline))
        assert len(stages) == len(pipeline.inputs["stages"])
    json.dumps(plan.to_json())


@needs_program
def test_real_kubernetes_resources_are_placed_on_the_cluster_of_their_region():
    plan = cached_plan("prod")
    lines = render.tree_lines(plan)
    for region, cluster in (("us-east-1", "shop-prod-use1"), ("eu-west-1", "shop-prod-euw1")):
        on_cluster = [line for line in lines if f"[cluster {cluster} {ENVIRONMENT_PROD}/{region}]" in line]
        names = [line.split()[1] for line in on_cluster]
        assert names and all(name.startswith(f"argocd-{region}-") for name in names), on_cluster
        assert len(on_cluster) == sum(1 for r in plan.resources if r.name.startswith(f"argocd-{region}-")
                                      and "kubernetes" in r.type)
    assert "    aws:codepipeline/pipeline:Pipeline  api-pipeline (shop-api-prod)  [111111111111/us-east-1]" in lines
