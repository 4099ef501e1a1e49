"""load_token and redact against Secrets Manager in moto (and IAM enforcement for access denied)."""

from __future__ import annotations

import base64
import json
import socket

import boto3
import pytest
from moto.core import set_initial_no_auth_action_count

from gitops.clients.credentials import load_token, redact
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


@pytest.mark.parametrize("stored", [TOKEN, json.dumps({"token": TOKEN}), json.dumps({"user": "bot", "token": TOKEN})])
def test_a_variable_filled_from_the_secret_is_read_like_the_secret(aws: None, monkeypatch: pytest.MonkeyPatch,
                                                                    stored: str) -> None:
    # CodeBuild's SECRETS_MANAGER variable holds the whole SecretString, a console-made key/value
    # secret's JSON included: promote and home-region verify (--token-env) read the token by the
    # same rule as cross-region verify (--token-secret) and Argo CD.
    arn = _secret(region="us-east-1", SecretString=stored)
    monkeypatch.setenv("GITOPS_TOKEN", stored)
    assert load_token(token_env="GITOPS_TOKEN", token_secret=None) == TOKEN
    assert load_token(token_env=None, token_secret=arn) == TOKEN


def test_json_variable_without_a_token_names_the_variable_and_the_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITOPS_TOKEN", json.dumps({"password": TOKEN}))
    with pytest.raises(CredentialsError, match='environment variable GITOPS_TOKEN is JSON without a string "token" '
                                               r"key \(keys: password\)") as caught:
        load_token(token_env="GITOPS_TOKEN", token_secret=None)
    assert TOKEN not in str(caught.value)


def test_empty_env_var_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITOPS_TOKEN", " \n")
    with pytest.raises(CredentialsError, match="GITOPS_TOKEN is empty"):
        load_token(token_env="GITOPS_TOKEN", token_secret=None)


def test_unset_env_var_names_the_variable_and_its_secret_arn_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GITOPS_TOKEN", raising=False)
    monkeypatch.delenv("GITOPS_TOKEN_SECRET_ARN", raising=False)
    with pytest.raises(CredentialsError, match=r"GITOPS_TOKEN is not set \(nor GITOPS_TOKEN_SECRET_ARN\)"):
        load_token(token_env="GITOPS_TOKEN", token_secret=None)


def test_an_unset_variable_falls_back_to_the_secret_named_by_its_arn_variable(
        aws: None, monkeypatch: pytest.MonkeyPatch) -> None:
    # A pipeline step outside the secret's region: the project gives the ARN, not the value.
    arn = _secret(region="eu-west-1", SecretString=json.dumps({"token": TOKEN}))
    monkeypatch.delenv("GITOPS_TOKEN", raising=False)
    monkeypatch.setenv("AWS_REGION", "us-west-2")
    monkeypatch.setenv("GITOPS_TOKEN_SECRET_ARN", arn)
    assert load_token(token_env="GITOPS_TOKEN", token_secret=None) == TOKEN
    # The variable itself, when set, wins (the project in the secret's region).
    monkeypatch.setenv("GITOPS_TOKEN", "ghp_from_the_variable")
    assert load_token(token_env="GITOPS_TOKEN", token_secret=None) == "ghp_from_the_variable"


def test_raw_string_secret_by_arn_uses_the_arn_region(aws: None) -> None:
    arn = _secret(region="eu-west-1", SecretString=TOKEN + "\n")
    assert ":eu-west-1:" in arn
    # No region anywhere but in the ARN: the secret lives in eu-west-1, not boto3's default.
    assert load_token(token_env=None, token_secret=arn) == TOKEN


def test_json_secret_by_name_with_region_from_env(aws: None, monkeypatch: pytest.MonkeyPatch) -> None:
    _secret(region="ap-south-1", SecretString=json.dumps({"token": TOKEN, "user": "bot"}))
    monkeypatch.setenv("AWS_REGION", "ap-south-1")
    assert load_token(token_env=None, token_secret="gitops/token") == TOKEN


def test_aws_region_wins_over_default_region_for_a_name(aws: None, monkeypatch: pytest.MonkeyPatch) -> None:
    _secret(region="us-west-2", SecretString=TOKEN)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-central-1")
    monkeypatch.setenv("AWS_REGION", "us-west-2")
    assert load_token(token_env=None, token_secret="gitops/token") == TOKEN


def test_arn_is_read_in_its_own_region_whatever_region_the_action_runs_in(
        aws: None, monkeypatch: pytest.MonkeyPatch) -> None:
    # A Verify action in ap-southeast-2 (CodeBuild sets AWS_REGION) reads the home-region secret.
    arn = _secret(region="eu-west-1", SecretString=TOKEN)
    monkeypatch.setenv("AWS_REGION", "ap-southeast-2")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "ap-southeast-2")
    assert load_token(token_env=None, token_secret=arn) == TOKEN


def test_missing_secret_names_id_and_region(aws: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    with pytest.raises(CredentialsError, match=r"secret gitops/absent in eu-west-1 does not exist"):
        load_token(token_env=None, token_secret="gitops/absent")


def test_secret_in_another_region_is_not_found(aws: None, monkeypatch: pytest.MonkeyPatch) -> None:
    _secret(region="us-east-1", SecretString=TOKEN)
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    with pytest.raises(CredentialsError, match="does not exist.*eu-west-1 was asked.*pass its ARN"):
        load_token(token_env=None, token_secret="gitops/token")


def test_binary_secret_is_refused_without_its_value(aws: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    _secret(region="eu-west-1", SecretBinary=TOKEN.encode())
    with pytest.raises(CredentialsError, match="binary data") as caught:
        load_token(token_env=None, token_secret="gitops/token")
    assert TOKEN not in str(caught.value)


def test_json_without_token_key_lists_keys_not_values(aws: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    _secret(region="eu-west-1", SecretString=json.dumps({"password": TOKEN}))
    with pytest.raises(CredentialsError, match=r'without a string "token" key \(keys: password\)') as caught:
        load_token(token_env=None, token_secret="gitops/token")
    assert TOKEN not in str(caught.value)


def test_broken_json_secret_is_refused_without_its_value(aws: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    _secret(region="eu-west-1", SecretString='{"token": "' + TOKEN)
    with pytest.raises(CredentialsError, match="not valid JSON") as caught:
        load_token(token_env=None, token_secret="gitops/token")
    assert TOKEN not in str(caught.value)


def test_empty_secret_string(aws: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    _secret(region="eu-west-1", SecretString=json.dumps({"token": "  "}))
    with pytest.raises(CredentialsError, match="is empty"):
        load_token(token_env=None, token_secret="gitops/token")


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


# --- every AWS failure is one line and exit 7 ------------------------------------------------------

def _stubbed_secrets_manager(monkeypatch: pytest.MonkeyPatch, **error: object) -> None:
    """boto3.client answers with a Secrets Manager client whose next call fails with `error`."""
    import botocore.config
    from botocore.stub import Stubber

    client = boto3.client("secretsmanager", region_name="eu-west-1",
                          config=botocore.config.Config(retries={"max_attempts": 1}))
    stubber = Stubber(client)
    stubber.add_client_error("get_secret_value", **error)
    stubber.activate()
    monkeypatch.setattr(boto3, "client", lambda *args, **kwargs: client)


@pytest.mark.parametrize("code,status,needle", [
    ("ThrottlingException", 400, "throttled the read of secret gitops/token in eu-west-1"),
    ("AccessDeniedException", 400, "grant secretsmanager:GetSecretValue"),
    ("ResourceNotFoundException", 400, "does not exist; check the secret id, or the region"),
    ("InternalServiceError", 500, "reading secret gitops/token in eu-west-1 failed: InternalServiceError"),
])
def test_secrets_manager_errors_are_one_line(aws: None, monkeypatch: pytest.MonkeyPatch, capsys,
                                             code: str, status: int, needle: str) -> None:
    from gitops.cli import main

    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    _stubbed_secrets_manager(monkeypatch, service_error_code=code, http_status_code=status)
    assert main(["status", "--repo", "/nonexistent", "--token-secret", "gitops/token"]) == 7
    out, err = capsys.readouterr()
    assert len(err.splitlines()) == 1 and err.startswith("error: ") and needle in err, err
    assert "Traceback" not in err and out == ""


def test_unreachable_secrets_manager_is_one_line(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    from gitops.cli import main

    with socket.socket() as closed:  # a port nothing listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    monkeypatch.setenv("AWS_ENDPOINT_URL_SECRETS_MANAGER", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    arn = "arn:aws:secretsmanager:eu-west-1:111111111111:secret:gitops/token-AbCdEf"
    assert main(["status", "--repo", "/nonexistent", "--token-secret", arn, "--output", "json"]) == 7
    out, err = capsys.readouterr()
    assert err.splitlines() == [f"error: Secrets Manager is unreachable to read secret {arn} in "
                                "eu-west-1 (no answer after 3 attempts): check the network path "
                                "(VPC endpoint, proxy, NAT) and the region"]
    assert json.loads(out)["exit_code"] == 7


def test_no_credentials_at_all_is_one_line(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    from gitops.cli import main

    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
                 "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
                 "AWS_WEB_IDENTITY_TOKEN_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)  # no credentials cached by earlier tests
    assert main(["status", "--repo", "/nonexistent", "--token-secret", "gitops/token"]) == 7
    _, err = capsys.readouterr()
    assert err.splitlines() == ["error: no AWS credentials to read secret gitops/token in eu-west-1: "
                                "run with a role or profile that may read it"]


def test_a_broken_aws_profile_is_one_line(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    from gitops.cli import main

    monkeypatch.setenv("AWS_PROFILE", "no-such-profile")
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    assert main(["status", "--repo", "/nonexistent", "--token-secret", "gitops/token"]) == 7
    _, err = capsys.readouterr()
    assert len(err.splitlines()) == 1 and "ProfileNotFound" in err and "no-such-profile" in err
