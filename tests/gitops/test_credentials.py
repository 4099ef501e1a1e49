"""load_token and redact against Secrets Manager in moto (and IAM enforcement for access denied)."""

from __future__ import annotations

import base64
import json

import boto3
import pytest
from moto.core import set_initial_no_auth_action_count

from gitops.credentials import load_token, redact
from gitops.errors import CredentialsError, UsageError
from tests.gitops.conftest import keys_allowed_only

TOKEN = "ghp_0123456789abcdefABCDEF0123456789abcd"



def _secret(region: str = "eu-west-1", **kwargs: object) -> str:
    return boto3.client("secretsmanager", region_name=region).create_secret(Name="gitops/token", **kwargs)["ARN"]


def test_neither_source_gives_none() -> None:
    assert load_token(token_env=None, token_secret=None) is None


def test_both_sources_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="GITHUB_TOKEN.*gitops/token.*only one"):
        load_token(token_env="GITHUB_TOKEN", token_secret="gitops/token")


def test_env_var_is_read_and_stripped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITOPS_TOKEN", f"  {TOKEN}\n")
    assert load_token(token_env="GITOPS_TOKEN", token_secret=None) == TOKEN


def test_empty_env_var_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITOPS_TOKEN", " \n")
    with pytest.raises(CredentialsError, match="GITOPS_TOKEN is empty"):
        load_token(token_env="GITOPS_TOKEN", token_secret=None)


def test_unset_env_var_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GITOPS_TOKEN", raising=False)
    with pytest.raises(CredentialsError, match="GITOPS_TOKEN is not set"):
        load_token(token_env="GITOPS_TOKEN", token_secret=None)


def test_raw_string_secret_by_arn_uses_the_arn_region(aws: None) -> None:
    arn = _secret(region="eu-west-1", SecretString=TOKEN + "\n")
    assert ":eu-west-1:" in arn
    # No region anywhere but in the ARN: the secret lives in eu-west-1, not boto3's default.
    assert load_token(token_env=None, token_secret=arn) == TOKEN


def test_json_secret_by_name_with_region_from_env(aws: None, monkeypatch: pytest.MonkeyPatch) -> None:
    _secret(region="ap-south-1", SecretString=json.dumps({"token": TOKEN, "user": "bot"}))
    monkeypatch.setenv("AWS_REGION", "ap-south-1")
    assert load_token(token_env=None, token_secret="gitops/token") == TOKEN


def test_explicit_region_wins_over_env_for_a_name(aws: None, monkeypatch: pytest.MonkeyPatch) -> None:
    _secret(region="us-west-2", SecretString=TOKEN)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-central-1")
    assert load_token(token_env=None, token_secret="gitops/token", region="us-west-2") == TOKEN


def test_arn_region_wins_over_explicit_region(aws: None) -> None:
    # verify runs in each of an environment's regions and passes its own; the secret stays in one.
    arn = _secret(region="eu-west-1", SecretString=TOKEN)
    assert load_token(token_env=None, token_secret=arn, region="ap-southeast-2") == TOKEN


def test_missing_secret_names_id_and_region(aws: None) -> None:
    with pytest.raises(CredentialsError, match=r"secret gitops/absent in eu-west-1 does not exist"):
        load_token(token_env=None, token_secret="gitops/absent", region="eu-west-1")


def test_secret_in_another_region_is_not_found(aws: None) -> None:
    _secret(region="us-east-1", SecretString=TOKEN)
    with pytest.raises(CredentialsError, match="does not exist"):
        load_token(token_env=None, token_secret="gitops/token", region="eu-west-1")


def test_binary_secret_is_refused_without_its_value(aws: None) -> None:
    _secret(region="eu-west-1", SecretBinary=TOKEN.encode())
    with pytest.raises(CredentialsError, match="binary data") as caught:
        load_token(token_env=None, token_secret="gitops/token", region="eu-west-1")
    assert TOKEN not in str(caught.value)


def test_json_without_token_key_lists_keys_not_values(aws: None) -> None:
    _secret(region="eu-west-1", SecretString=json.dumps({"password": TOKEN}))
    with pytest.raises(CredentialsError, match=r'without a string "token" key \(keys: password\)') as caught:
        load_token(token_env=None, token_secret="gitops/token", region="eu-west-1")
    assert TOKEN not in str(caught.value)


def test_broken_json_secret_is_refused_without_its_value(aws: None) -> None:
    _secret(region="eu-west-1", SecretString='{"token": "' + TOKEN)
    with pytest.raises(CredentialsError, match="not valid JSON") as caught:
        load_token(token_env=None, token_secret="gitops/token", region="eu-west-1")
    assert TOKEN not in str(caught.value)


def test_empty_secret_string(aws: None) -> None:
    _secret(region="eu-west-1", SecretString=json.dumps({"token": "  "}))
    with pytest.raises(CredentialsError, match="is empty"):
        load_token(token_env=None, token_secret="gitops/token", region="eu-west-1")


def test_no_region_at_all_says_how_to_give_one(aws: None) -> None:
    with pytest.raises(CredentialsError, match="no AWS region for secret gitops/token"):
        load_token(token_env=None, token_secret="gitops/token")


# The first 4 calls (IAM setup and create_secret) run unchecked; later ones are authorized by IAM.
@set_initial_no_auth_action_count(4)
def test_access_denied_names_the_permission(aws: None) -> None:
    keys = keys_allowed_only("ecr:DescribeImages")
    arn = _secret(region="eu-west-1", SecretString=TOKEN)
    with pytest.MonkeyPatch.context() as env:
        for name, value in keys.items():
            env.setenv(name, value)
        with pytest.raises(CredentialsError, match="grant secretsmanager:GetSecretValue") as caught:
            load_token(token_env=None, token_secret=arn)
    assert arn in str(caught.value)
    assert TOKEN not in str(caught.value)


def test_redact_raw_and_basic_auth_forms() -> None:
    basic = base64.b64encode(f"x-access-token:{TOKEN}".encode()).decode()
    text = f"fatal: https://x-access-token:{TOKEN}@github.com/o/r.git\nAuthorization: Basic {basic}\n"
    assert redact(text, TOKEN) == "fatal: https://x-access-token:***@github.com/o/r.git\nAuthorization: Basic ***\n"


def test_redact_ignores_empty_and_none_and_handles_nested_secrets() -> None:
    assert redact("abc", None, "") == "abc"
    # "abc" is inside "abcdef": the longer secret is replaced whole, leaving no fragment behind.
    assert redact("x abcdef y abc", "abc", "abcdef") == "x *** y ***"
