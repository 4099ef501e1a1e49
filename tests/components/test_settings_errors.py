"""Settings: every kind of bad value stops the program with one message naming key, value, fix."""

import copy

import pytest
import yaml

from components.settings import SettingsError, parse

from tests.conftest import stack_config as full_config, stack_data


def with_change(stack: str, path: str, value) -> dict:
    """A copy of the stack's settings with `a.b.0.c` set (or deleted when value is DELETE)."""
    data = copy.deepcopy(stack_data(stack))
    *parents, last = path.split(".")
    node = data
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node.setdefault(part, {})
    key = int(last) if isinstance(node, list) else last
    if value is DELETE:
        del node[key]
    else:
        node[key] = value
    return data


class _Delete:
    """Marks a key to remove; a stable repr keeps test ids equal across xdist workers."""

    def __repr__(self) -> str:
        return "<deleted>"


DELETE = _Delete()


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_example_stacks_are_valid(stack):
    settings = parse(stack_data(stack))
    assert settings.env_name == stack
    assert len(settings.services) >= 2
    assert settings.tooling_account != settings.env_account


def test_defaults_are_filled_in():
    settings = parse(stack_data("prod"))
    api = settings.services[0]
    assert api.dockerfile == "services/api/Dockerfile"
    assert api.context == "services/api"
    assert api.test_command == "make test"
    assert api.regions == ("us-east-1", "eu-west-1")
    assert settings.scan_severity == "HIGH"
    web = next(s for s in settings.services if s.name == "web")
    assert web.regions == ("us-east-1",)


BAD_VALUES = [
    # (stack, key path, value, words the message must contain)
    ("staging", "tooling.account", "11111111111", ["tooling.account", "11111111111", "12-digit"]),
    ("staging", "tooling.account", 111111111111, ["tooling.account", "12-digit"]),
    ("staging", "environment.account", "abc", ["environment.account", "'abc'", "12-digit"]),
    ("staging", "tooling.region", "us-east-9", ["tooling.region", "us-east-9", "AWS region"]),
    ("prod", "environment.clusters", {"mars-north-1": "c"}, ["environment.clusters.mars-north-1", "AWS region"]),
    ("staging", "environment.clusters", {}, ["environment.clusters", "non-empty mapping"]),
    ("staging", "connectionArn", "arn:aws:codestar:us-east-1:111111111111:connection/x",
     ["connectionArn", "CodeConnections ARN"]),
    ("staging", "connectionArn",
     "arn:aws:codeconnections:eu-west-1:111111111111:connection/6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b",
     ["connectionArn", "region us-east-1"]),
    ("staging", "gitops.tokenSecretArn", "arn:aws:secretsmanager:us-east-1:111111111111:secret:nosuffix",
     ["gitops.tokenSecretArn", "Secrets Manager secret ARN"]),
    ("staging", "gitops.tokenSecretArn", "arn:aws:secretsmanager:us-east-1:999999999999:secret:t-AbC123",
     ["gitops.tokenSecretArn", "account 111111111111"]),
    ("staging", "environment.bootstrapRoleArn", "arn:aws:iam::111111111111:role/x",
     ["environment.bootstrapRoleArn", "account 222222222222"]),
    ("staging", "executionMode", "FIFO", ["executionMode", "QUEUED, SUPERSEDED, PARALLEL"]),
    ("staging", "promotion.mode", "merge", ["promotion.mode", "commit, pull-request"]),
    ("staging", "promotion.autoMerge", True, ["promotion.autoMerge", "pull-request"]),
    ("staging", "scan.severityThreshold", "SEVERE", ["scan.severityThreshold", "CRITICAL"]),
    ("staging", "services", [], ["services", "non-empty list"]),
    ("staging", "services.0.name", "API_Service", ["services[0].name", "DNS label"]),
    ("staging", "services.1.name", "api", ["services", "'api' appears twice"]),
    ("prod", "services.1.regions", ["ap-south-1"], ["services[1].regions[0]", "environment's regions"]),
    ("staging", "services.0.paths", ["../etc/**"], ["services[0].paths[0]", "repository-relative"]),
    ("staging", "services.0.paths", [f"libs/l{i}/**" for i in range(9)],
     ["services[0].paths", "at most 8 paths", "file path patterns"]),
    ("staging", "services.0.paths", ["services/api/**", "x" * 256],
     ["services[0].paths[1]", "at most 255 characters", "not 256"]),
    ("staging", "alerts.subscribers", ["not-an-address"], ["alerts.subscribers[0]", "e-mail"]),
    ("staging", "approval.enabled", "yes", ["approval.enabled", "true or false"]),
    ("staging", "source.kind", "mirror", ["source.kind", "build, promote"]),
    ("prod", "source.upstream", "prod", ["source.upstream", "another environment"]),
    ("prod", "source.upstreamRegions", ["us-east-9"], ["source.upstreamRegions[0]", "AWS region"]),
    ("prod", "promotion.soakMinutes", 20000, ["promotion.soakMinutes", "0 to 10080"]),
    ("staging", "promotion.soakMinutes", 60, ["promotion.soakMinutes", "unless source.kind is promote"]),
    # A promote stack reads no other stack.
    ("prod", "source.registryStack", "acme/delivery-pipeline/staging", ["source.registryStack", "not a known setting"]),
    ("prod", "registry", {"pullAccounts": ["333333333333"]}, ["registry", "promote stack"]),
    ("staging", "registry.replicaRegions", ["us-east-1"], ["registry.replicaRegions", "home region"]),
    ("staging", "gitops.url", "git@github.com:acme/shop-gitops.git", ["gitops.url", "HTTPS clone URL"]),
    ("staging", "tags", {"aws:owner": "x"}, ["tags.aws:owner", "not starting with aws:"]),
    ("staging", "logs.retentionDays", 100, ["logs.retentionDays", "100", "one of 1, 3, 5", "3653"]),
    ("staging", "logs.retentionDays", "forever", ["logs.retentionDays", "one of 1, 3, 5"]),
    ("staging", "logs.retentionDays", True, ["logs.retentionDays", "one of 1, 3, 5"]),
    ("staging", "gitops.tokenKeyArn", "arn:aws:kms:us-east-1:111111111111:alias/gitops",
     ["gitops.tokenKeyArn", "KMS key ARN", "not an alias"]),
    ("staging", "gitops.tokenKeyArn", "arn:aws:kms:eu-west-1:111111111111:key/1234abcd-12ab-34cd-56ef-1234567890ab",
     ["gitops.tokenKeyArn", "region us-east-1"]),
    ("staging", "gitops.tokenKeyArn", "arn:aws:kms:us-east-1:999999999999:key/1234abcd-12ab-34cd-56ef-1234567890ab",
     ["gitops.tokenKeyArn", "account 111111111111"]),
    ("staging", "unknownKey", 1, ["unknownKey", "not a known setting"]),
    ("staging", "tooling.acount", "111111111111", ["tooling.acount", "not a known setting"]),
    ("staging", "services.0.dockerFile", "x", ["services[0].dockerFile", "not a known setting"]),
    ("staging", "app", DELETE, ["delivery-pipeline:app is missing"]),
    ("staging", "gitops.repository", DELETE, ["gitops.repository is missing"]),
]


@pytest.mark.parametrize("stack,path,value,words", BAD_VALUES, ids=[f"{c[1]}={c[2]!r}"[:60] for c in BAD_VALUES])
def test_bad_value_is_named_in_one_message(stack, path, value, words):
    with pytest.raises(SettingsError) as caught:
        parse(with_change(stack, path, value))
    message = str(caught.value)
    assert "\n" not in message
    for word in words:
        assert word in message, message


def test_structured_config_from_the_engine_is_decoded(monkeypatch):
    """`pulumi up` hands structured values over as JSON strings; they parse like the YAML."""
    import json

    from pulumi.runtime import config as runtime_config

    from components.settings import from_pulumi_config

    raw = {f"delivery-pipeline:{k}": (v if isinstance(v, str) else json.dumps(v))
           for k, v in stack_data("prod").items()}
    raw["aws:region"] = "us-east-1"
    token = runtime_config.CONFIG.set(raw)
    try:
        settings = from_pulumi_config()
    finally:
        runtime_config.CONFIG.reset(token)
    assert settings == parse(stack_data("prod"))


# ---------------------------------------------------------------------------------------------
# Typos, shadowed tags and many errors at once


def messages_of(raw: dict) -> list[str]:
    from components.settings import from_config

    with pytest.raises(SettingsError) as caught:
        from_config(raw)
    assert str(caught.value) == "\n".join(caught.value.messages)
    return list(caught.value.messages)


@pytest.mark.parametrize("key, hint", [
    ("delivery-pipline:executionMode", "did you mean delivery-pipeline:executionMode?"),
    ("delivery_pipeline:tags", "did you mean delivery-pipeline:tags?"),
    ("Delivery-Pipeline:app", "did you mean delivery-pipeline:app?"),
    ("kubernets:context", "did you mean kubernetes:context?"),
    ("shop:owner", "the namespaces read are delivery-pipeline, aws, kubernetes, pulumi: move the key to one of "
                   "them or remove it"),
])
def test_a_key_in_a_namespace_nothing_reads_is_refused_with_the_intended_one(key, hint):
    raw = {**full_config("staging"), key: "QUEUED"}
    assert messages_of(raw) == [f"{key} is in namespace {key.split(':')[0]!r}, which neither this program "
                                f"nor its providers read: {hint}"]


def test_the_providers_and_the_engines_namespaces_are_read():
    from components.settings import from_config

    raw = {**full_config("staging"), "aws:profile": "tooling", "kubernetes:context": "x",
           "pulumi:template": "python"}
    assert from_config(raw) == parse(stack_data("staging"))


@pytest.mark.parametrize("tag", ["environment", "Environment", "APP", "managed-by", "Managed-By"])
def test_a_user_tag_named_like_a_built_in_tag_is_refused(tag):
    with pytest.raises(SettingsError) as caught:
        parse(with_change("staging", "tags", {"cost-center": "shop", tag: "mine"}))
    assert caught.value.messages == (
        f"delivery-pipeline:tags.{tag} = 'mine': expected a tag name other than the stack's own app, "
        "environment, managed-by (compared case-insensitively), which the stack sets itself: rename or remove it",)


def test_user_tags_sit_beside_the_built_in_ones():
    settings = parse(with_change("staging", "tags", {"cost-center": "shop", "environment-owner": "platform"}))
    assert settings.stack_tags() == {"app": "shop", "environment": "staging", "managed-by": "delivery-pipeline",
                                     "cost-center": "shop", "environment-owner": "platform"}


def renamed(stack: str, path: str, new_name: str) -> dict:
    """The stack's settings with the key at `a.b` renamed (a typo of it)."""
    data = copy.deepcopy(stack_data(stack))
    *parents, last = path.split(".")
    node = data
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part]
    node[new_name] = node.pop(last)
    return data


@pytest.mark.parametrize("path, typo, intended", [
    ("tooling.account", "acount", "tooling.account"),
    ("environment.bootstrapRoleArn", "bootstrapRoleARN", "environment.bootstrapRoleArn"),
    ("gitops.tokenSecretArn", "tokenSecret", "gitops.tokenSecretArn"),
    ("services.0.testCommand", "testcommand", "services[0].testCommand"),
    ("executionMode", "executionMod", "executionMode"),
    ("environment", "enviroment", "environment"),
])
def test_a_misspelled_key_is_reported_as_the_typo_with_the_intended_key_not_as_missing(path, typo, intended):
    with pytest.raises(SettingsError) as caught:
        parse(renamed("staging", path, typo))
    prefix = intended.rsplit(".", 1)[0] + "." if "." in intended else ""
    assert caught.value.messages == (
        f"delivery-pipeline:{prefix}{typo} is not a known setting: did you mean {intended}?",)


def test_every_error_of_a_stack_is_reported_at_once_each_on_one_line():
    data = renamed("staging", "tooling.account", "acount")
    data["environment"]["account"] = "abc"
    data["executionMode"] = "FIFO"
    data["tags"] = {"environment": "x"}
    data["alerts"]["subscribers"] = ["not-an-address", "oncall@example.com", "also-not"]
    data["services"][1]["regions"] = ["mars-1"]
    del data["gitops"]["url"]
    raw = {"aws:region": "us-east-1", **{f"delivery-pipeline:{key}": value for key, value in data.items()}}
    raw["delivery-pipline:scan"] = {"severityThreshold": "LOW"}
    messages = messages_of(raw)
    expected_keys = ["delivery-pipline:scan", "tooling.acount", "environment.account", "gitops.url is missing",
                     "alerts.subscribers[0]", "alerts.subscribers[2]", "executionMode", "tags.environment",
                     "services[1].regions[0]"]
    assert len(messages) == len(expected_keys), messages
    for message, key in zip(messages, expected_keys):
        assert key in message and "\n" not in message, (key, message)


def test_a_value_that_failed_is_not_reported_again_through_what_depends_on_it():
    # The account is wrong: the ARNs that must be in it are not also reported as in another account.
    with pytest.raises(SettingsError) as caught:
        parse(with_change("staging", "tooling.account", "1111"))
    assert len(caught.value.messages) == 1
    # Without a valid source kind, its other keys are not judged against a guessed kind.
    with pytest.raises(SettingsError) as caught:
        parse(with_change("staging", "source.kind", "mirror"))
    assert len(caught.value.messages) == 1
    # A missing section is one error, not one per key it would hold.
    with pytest.raises(SettingsError) as caught:
        parse(with_change("staging", "gitops", DELETE))
    assert caught.value.messages == ("delivery-pipeline:gitops is missing: set it in Pulumi.<stack>.yaml "
                                     "(see docs/guide/settings.md)",)


def test_build_logs_are_kept_a_year_by_default_and_the_stack_may_choose_a_period_cloudwatch_accepts():
    assert parse(stack_data("staging")).log_retention_days == 365
    assert parse(with_change("staging", "logs.retentionDays", 731)).log_retention_days == 731
    assert parse(with_change("staging", "logs.retentionDays", "1827")).log_retention_days == 1827
    with pytest.raises(SettingsError, match=r"logs.retentionDays = 100: expected one of 1, 3, 5"):
        parse(with_change("staging", "logs.retentionDays", 100))


def test_the_aws_regions_are_botocores_codepipeline_regions():
    import botocore.session

    from components.validators import AWS_REGIONS

    expected = botocore.session.get_session().get_available_regions("codepipeline", partition_name="aws")
    assert AWS_REGIONS == frozenset(expected) and "us-east-1" in AWS_REGIONS
