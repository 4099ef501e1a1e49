"""Settings that are each valid alone but wrong together, or wrong in the stack file itself: an
upstream no stack of the project names, a clone URL of another repository than `gitops.repository`,
build keys in a stack that builds nothing, one account for tooling and environment, an account id
YAML reads as a number, a missing or misspelled `aws:region`. Each is one line, like every settings
error; the offline plan reports them with exit 2 and no traceback."""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from components.settings import SettingsError, from_config, parse, project_environments
from tests.conftest import REPO_ROOT, stack_config, stack_data


MISSING_REGION = ("aws:region is missing: set it in Pulumi.<stack>.yaml to the home region (tooling.region), "
                  "e.g. aws:region: us-east-1; the AWS provider reads it (see docs/guide/settings.md)")


def raw_with(stack: str, key: str, change) -> dict:
    """The stack's config (full keys) with `change(value)` applied to a copy of `key`'s value."""
    raw = copy.deepcopy(stack_config(stack))
    change(raw[key])
    return raw


def messages(raw: dict, **where) -> tuple[str, ...]:
    with pytest.raises(SettingsError) as caught:
        from_config(raw, **where)
    assert all("\n" not in message for message in caught.value.messages)
    return caught.value.messages


# --- source.upstream names a known environment ----------------------------------------------------

def test_the_project_environments_are_those_its_stack_files_name(tmp_path: Path) -> None:
    assert project_environments(REPO_ROOT) == {"staging", "prod"}
    (tmp_path / "Pulumi.qa.yaml").write_text("config:\n  delivery-pipeline:environment:\n    name: qa2\n")
    (tmp_path / "Pulumi.dev.yaml").write_text("config:\n  aws:region: us-east-1\n")   # no environment: its stack name
    (tmp_path / "Pulumi.broken.yaml").write_text("config: [\n")                        # unreadable: its stack name
    (tmp_path / "Pulumi.yaml").write_text("name: delivery-pipeline\n")                  # the project, not a stack
    assert project_environments(tmp_path) == {"qa2", "dev", "broken"}


def test_an_upstream_no_stack_file_names_is_refused_with_the_close_one() -> None:
    raw = raw_with("prod", "delivery-pipeline:source", lambda source: source.update(upstream="stagin"))
    assert messages(raw, environments={"staging", "prod"}) == (
        "delivery-pipeline:source.upstream = 'stagin': expected an environment of this project "
        "(staging, from its stack files): did you mean 'staging'?",)


def test_an_upstream_is_checked_against_the_explicit_list_when_the_stack_files_are_kept_elsewhere() -> None:
    listed = raw_with("prod", "delivery-pipeline:source", lambda source: source.update(knownEnvironments=["staging"]))
    assert from_config(listed, environments={"prod"}).source.upstream == "staging"
    alone = raw_with("prod", "delivery-pipeline:source", lambda source: None)
    assert messages(alone, environments={"prod"}) == (
        "delivery-pipeline:source.upstream = 'staging': expected an environment of this project "
        "(none besides prod in its stack files): add the upstream's stack file, or list the "
        "environments in source.knownEnvironments",)


def test_known_environments_belong_to_a_promote_stack() -> None:
    with pytest.raises(SettingsError, match="source.knownEnvironments is not a known setting"):
        parse({**stack_data("staging"), "source": {**stack_data("staging")["source"], "knownEnvironments": ["qa"]}})


def test_the_example_stacks_name_each_other() -> None:
    for stack in ("staging", "prod"):
        assert from_config(stack_config(stack), environments=project_environments(REPO_ROOT)).env_name == stack


# --- gitops.url and gitops.repository ------------------------------------------------------------

@pytest.mark.parametrize("url", ["https://github.com/acme/shop-gitops.git", "https://github.com/Acme/Shop-GitOps",
                                 "https://ghe.example.com/acme/shop-gitops.git"])
def test_the_clone_url_may_differ_in_case_host_and_suffix(url: str) -> None:
    raw = raw_with("staging", "delivery-pipeline:gitops", lambda gitops: gitops.update(url=url))
    assert from_config(raw).gitops_url == url


def test_a_clone_url_of_another_repository_is_refused() -> None:
    raw = raw_with("staging", "delivery-pipeline:gitops",
                   lambda gitops: gitops.update(url="https://github.com/acme/shop-gitops-old.git"))
    assert messages(raw) == (
        "delivery-pipeline:gitops.url = 'https://github.com/acme/shop-gitops-old.git': expected the clone "
        "URL of gitops.repository acme/shop-gitops (this one names acme/shop-gitops-old): make the two "
        "name the same repository",)


# --- a promote stack builds nothing ---------------------------------------------------------------

@pytest.mark.parametrize("key, value", [("paths", ["services/api/**"]), ("testCommand", "make test"),
                                        ("dockerfile", "api/Dockerfile"), ("context", "api")])
def test_build_keys_in_a_promote_stack_are_refused(key: str, value) -> None:
    raw = raw_with("prod", "delivery-pipeline:services", lambda services: services[0].update({key: value}))
    shown = repr(value) if isinstance(value, str) else json.dumps(value)
    assert messages(raw) == (
        f"delivery-pipeline:services[0].{key} = {shown}: expected no {key} in a stack with source.kind "
        "promote, which builds nothing (the building stack's services say how to build): remove it",)


# --- two accounts ---------------------------------------------------------------------------------

def test_an_environment_in_the_tooling_account_is_refused() -> None:
    def same_account(environment: dict) -> None:
        environment.update(account="111111111111",
                           bootstrapRoleArn="arn:aws:iam::111111111111:role/delivery-bootstrap")
    raw = raw_with("staging", "delivery-pipeline:environment", same_account)
    raw["delivery-pipeline:registry"]["pullAccounts"] = ["111111111111"]
    assert messages(raw) == (
        "delivery-pipeline:environment.account = '111111111111': expected another account than "
        "tooling.account: the pipelines' tooling and the clusters they deploy to are kept apart (the "
        "deployment role, the cross-account keys and the access paths assume two accounts)",)


# --- an account id YAML reads as a number ---------------------------------------------------------

def stack_file(tmp_path: Path, stack: str, old: str, new: str) -> Path:
    text = (REPO_ROOT / f"Pulumi.{stack}.yaml").read_text()
    assert old in text
    path = tmp_path / f"Pulumi.{stack}.yaml"
    path.write_text(text.replace(old, new))
    return path


@pytest.mark.parametrize("written, number", [("012345670123", 1402433619), ("012345678901", 12345678901)])
def test_an_unquoted_account_id_with_a_leading_zero_is_named_from_the_stack_file(
        tmp_path: Path, written: str, number: int) -> None:
    import yaml

    path = stack_file(tmp_path, "staging", 'account: "222222222222"', f"account: {written}")
    raw = yaml.safe_load(path.read_text())["config"]
    assert messages(raw, stack_file=path) == (
        f"delivery-pipeline:environment.account is written {written} without quotes (Pulumi.staging.yaml "
        f"line 11): YAML reads that as the number {number}, not as these digits: write \"{written}\"",)


def test_an_unquoted_leading_zero_in_a_list_is_named_too(tmp_path: Path) -> None:
    import yaml

    path = stack_file(tmp_path, "staging", 'pullAccounts: ["222222222222", "333333333333"]',
                      'pullAccounts: ["222222222222", 033333333333]')
    raw = yaml.safe_load(path.read_text())["config"]
    assert messages(raw, stack_file=path) == (
        "delivery-pipeline:registry.pullAccounts[1] is written 033333333333 without quotes (Pulumi.staging.yaml "
        "line 47): YAML reads that as the number 3681400539, not as these digits: write \"033333333333\"",)


def test_quoted_ids_and_other_numbers_are_left_alone(tmp_path: Path) -> None:
    path = stack_file(tmp_path, "staging", "  delivery-pipeline:executionMode: QUEUED",
                      "  delivery-pipeline:executionMode: QUEUED\n  delivery-pipeline:logs:\n    retentionDays: 365")
    import yaml

    assert from_config(yaml.safe_load(path.read_text())["config"], stack_file=path).log_retention_days == 365


# --- aws:region -----------------------------------------------------------------------------------

def test_a_missing_aws_region_is_one_line() -> None:
    raw = stack_config("staging")
    del raw["aws:region"]
    assert messages(raw) == (
        MISSING_REGION,)


def test_a_misspelled_aws_key_names_the_intended_one() -> None:
    raw = stack_config("staging")
    raw["aws:regoin"] = raw.pop("aws:region")
    assert messages(raw) == (
        "aws:regoin is not a setting of the AWS provider: did you mean aws:region?",
        MISSING_REGION,)


def test_an_aws_region_that_is_no_region_is_refused() -> None:
    raw = {**stack_config("staging"), "aws:region": "us-east-9"}
    assert messages(raw) == ("aws:region = 'us-east-9': expected an AWS region name such as us-east-1 (the aws partition)",)


def test_the_aws_providers_keys_come_from_the_installed_provider() -> None:
    from components.settings import AWS_PROVIDER_KEYS

    assert {"region", "profile", "assumeRoles", "skipCredentialsValidation"} <= AWS_PROVIDER_KEYS


# --- the offline plan: exit 2, one line each, no traceback ----------------------------------------

@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of the program whose stack files a test may change."""
    copy_dir = tmp_path / "project"
    shutil.copytree(REPO_ROOT, copy_dir, ignore=shutil.ignore_patterns(
        ".venv", ".git", "tests", "docs", "bench", "build", "__pycache__", ".pytest_cache", ".hypothesis"))
    return copy_dir


def plan_errors(project: Path, stack: str) -> list[str]:
    result = subprocess.run([sys.executable, "-m", "offline.plan", "--stack", stack, "--summary",
                             "--project-dir", str(project)], capture_output=True, text=True, cwd=REPO_ROOT)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    return result.stderr.splitlines()


def test_the_plan_refuses_what_only_the_files_tell(project: Path) -> None:
    prod = project / "Pulumi.prod.yaml"
    text = prod.read_text()
    text = text.replace("  aws:region: us-east-1\n", "  aws:regoin: us-east-1\n")
    text = text.replace("upstream: staging", "upstream: stagin")
    text = text.replace('account: "333333333333"', "account: 033333333333")
    prod.write_text(text)
    errors = plan_errors(project, "prod")
    assert errors == [
        "error: aws:regoin is not a setting of the AWS provider: did you mean aws:region?",
        "error: " + MISSING_REGION,
        "error: delivery-pipeline:environment.account is written 033333333333 without quotes (Pulumi.prod.yaml "
        "line 12): YAML reads that as the number 3681400539, not as these digits: write \"033333333333\"",
        "error: delivery-pipeline:source.upstream = 'stagin': expected an environment of this project "
        "(staging, from its stack files): did you mean 'staging'?",
    ], errors
