"""The forge token: read from an environment variable or AWS Secrets Manager, and kept out of output.

A pipeline stores the GitHub token in Secrets Manager (the CodeBuild role may read that one secret);
a developer exports it in an environment variable. Either way the value never appears in an error
message: errors name the variable or the secret id and say what to change.
"""

from __future__ import annotations

import base64
import json
import os
import re

from typing import TYPE_CHECKING

from gitops.errors import CredentialsError, UsageError

if TYPE_CHECKING:
    import botocore.exceptions

# arn:<partition>:secretsmanager:<region>:<account>:secret:<name>
_SECRET_ARN = re.compile(r"^arn:[a-z-]+:secretsmanager:(?P<region>[a-z0-9-]+):\d{12}:secret:.+$")

REDACTED = "***"
# Reading the secret: each attempt waits at most this long to connect and for an answer, and
# botocore's standard retry mode tries this many times (with backoff) on throttling and errors.
SECRETS_TIMEOUT_S = 5
SECRETS_ATTEMPTS = 3
_ENV_NAME = re.compile(r"[A-Z_][A-Z0-9_]{0,63}")
# `--token-env VAR` reads $VAR, or, when VAR is unset, the secret whose ARN is in $VAR_SECRET_ARN.
SECRET_ARN_SUFFIX = "_SECRET_ARN"


def load_token(*, token_env: str | None, token_secret: str | None) -> str | None:
    """Return the token named by `token_env` (an environment variable) or `token_secret` (a Secrets
    Manager secret id or ARN), or None when neither is given.

    `token_env` VAR falls back to the secret whose ARN is in VAR_SECRET_ARN when VAR is unset. So
    every step of a pipeline passes `--token-env GITOPS_TOKEN` whatever region it runs in: the
    program sets GITOPS_TOKEN (a Secrets Manager variable CodeBuild resolves) on projects in the
    secret's region and GITOPS_TOKEN_SECRET_ARN on the others.

    Both hold the token in one format (`token_from_secret_string`): the raw token, or a JSON object
    with a "token" key, what the Secrets Manager console makes of a key/value secret. A pipeline's
    variable filled from the secret (CodeBuild's SECRETS_MANAGER type, which hands over the whole
    SecretString) is read like the secret itself. Surrounding whitespace is dropped (secrets created
    from files often end with a newline). The secret's region
    is the one in its ARN (a secret is readable only in its own region), else AWS_REGION /
    AWS_DEFAULT_REGION, else boto3's configuration. So an action running in another region (verify)
    reads the home region's secret by its ARN whatever region it runs in.

    Every failure is a CredentialsError of one line (exit 7), never a traceback, and never shows
    the token.
    """
    if token_env and token_secret:
        raise UsageError(
            f"both a token environment variable ({token_env}) and a token secret ({token_secret}) "
            "were given; give only one"
        )
    if token_env:
        return _token_from_env(token_env)
    if token_secret:
        return _token_from_secret(token_secret)
    return None


def redact(text: str, *secrets: str | None) -> str:
    """Replace every non-empty secret in `text`, and the base64 of "x-access-token:<secret>" (the
    HTTP Basic credentials git sends), with "***"."""
    forms: set[str] = set()
    for secret in secrets:
        if secret:
            forms.add(secret)
            forms.add(base64.b64encode(f"x-access-token:{secret}".encode()).decode())
    # Longest first, so a secret that contains another one is replaced whole.
    for form in sorted(forms, key=len, reverse=True):
        text = text.replace(form, REDACTED)
    return text


def _token_from_env(name: str) -> str:
    if name not in os.environ and os.environ.get(name + SECRET_ARN_SUFFIX, "").strip():
        # How a pipeline action outside the secret's region receives the token (CodeBuild resolves
        # a SECRETS_MANAGER variable only in the project's own region): the secret's ARN.
        return _token_from_secret(os.environ[name + SECRET_ARN_SUFFIX].strip())
    if name not in os.environ:
        holder = next((var for var, value in os.environ.items() if value.strip() == name.strip()
                       and name.strip()), None)
        if holder is not None:
            raise CredentialsError(
                f"--token-env was given the token itself (the value of ${holder}), not a variable "
                f"name; pass the name: --token-env {holder}")
        if not _ENV_NAME.fullmatch(name):
            # Not shown: a value that does not look like a variable name may well be a token.
            raise CredentialsError("--token-env names no environment variable that is set, and its "
                                   "value does not look like a variable name (not shown, in case "
                                   "it is the token); pass the variable's name, e.g. GITHUB_TOKEN")
        raise CredentialsError(f"environment variable {name} is not set (nor {name}{SECRET_ARN_SUFFIX}); "
                               "export the forge token in it")
    if not os.environ[name].strip():
        raise CredentialsError(f"environment variable {name} is empty; export the forge token in it")
    return token_from_secret_string(os.environ[name], f"environment variable {name}")


def _token_from_secret(secret_id: str) -> str:
    region = _arn_region(secret_id) or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    where = f"secret {secret_id}" + (f" in {region}" if region else "")
    # Imported here: boto3 costs a tenth of a second, and tokens usually come from the environment.
    import boto3
    import botocore.config
    import botocore.exceptions

    try:
        client = boto3.client("secretsmanager", region_name=region, config=botocore.config.Config(
            connect_timeout=SECRETS_TIMEOUT_S, read_timeout=SECRETS_TIMEOUT_S,
            retries={"mode": "standard", "max_attempts": SECRETS_ATTEMPTS}))
        response = client.get_secret_value(SecretId=secret_id)
    except botocore.exceptions.NoRegionError:
        raise CredentialsError(
            f"no AWS region for secret {secret_id}: pass its ARN, or set AWS_REGION"
        ) from None
    except (botocore.exceptions.NoCredentialsError, botocore.exceptions.PartialCredentialsError):
        raise CredentialsError(
            f"no AWS credentials to read {where}: run with a role or profile that may read it"
        ) from None
    except botocore.exceptions.ClientError as exc:
        raise CredentialsError(_secret_error_message(exc, where, region)) from None
    except (botocore.exceptions.EndpointConnectionError, botocore.exceptions.ConnectTimeoutError,
            botocore.exceptions.ReadTimeoutError, botocore.exceptions.ConnectionClosedError):
        raise CredentialsError(
            f"Secrets Manager is unreachable to read {where} (no answer after {SECRETS_ATTEMPTS} "
            "attempts): check the network path (VPC endpoint, proxy, NAT) and the region"
        ) from None
    except botocore.exceptions.BotoCoreError as exc:
        # Every other failure of the AWS SDK (a broken profile, a bad endpoint URL, …): its own
        # message is one line and holds no secret.
        raise CredentialsError(f"cannot read {where}: {type(exc).__name__}: "
                               f"{' '.join(str(exc).split())}") from None

    if "SecretString" not in response:
        raise CredentialsError(
            f"{where} holds binary data (SecretBinary); store the token as a secret string, "
            'either the raw token or JSON {"token": "..."}'
        )
    return token_from_secret_string(response["SecretString"], where)


def _arn_region(secret_id: str) -> str | None:
    match = _SECRET_ARN.match(secret_id)
    return match.group("region") if match else None


def _secret_error_message(exc: botocore.exceptions.ClientError, where: str, region: str | None) -> str:
    code = exc.response.get("Error", {}).get("Code", "")
    if code == "ResourceNotFoundException":
        return (f"{where} does not exist; check the secret id, or the region: a secret is read in "
                f"its own region ({region or 'the default region'} was asked), so pass its ARN")
    if is_access_denied(exc):
        return (
            f"not allowed to read {where}: grant secretsmanager:GetSecretValue on it to the role "
            "(and kms:Decrypt on its KMS key when the secret uses a customer-managed key)"
        )
    if code in ("UnrecognizedClientException", "InvalidClientTokenId", "ExpiredTokenException"):
        return f"AWS rejected the credentials used to read {where} ({code}); refresh them"
    if code == "DecryptionFailure":
        return f"cannot decrypt {where}: grant kms:Decrypt on the secret's KMS key to the role"
    if code in ("ThrottlingException", "Throttling", "TooManyRequestsException",
                "RequestLimitExceeded"):
        return (f"Secrets Manager throttled the read of {where} after {SECRETS_ATTEMPTS} attempts "
                f"({code}); retry later, or raise the account's GetSecretValue quota")
    if code == "InvalidRequestException":
        return f"{where} cannot be read now (deleted or scheduled for deletion?): {code}"
    return f"reading {where} failed: {code or 'unknown error'}"


def is_access_denied(exc: botocore.exceptions.ClientError) -> bool:
    """True when AWS refused the call for lack of permission (IAM or resource policy)."""
    code = exc.response.get("Error", {}).get("Code", "")
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    # JSON-protocol services answer AccessDeniedException with HTTP 400; IAM enforcement in front of
    # a service (and moto's emulation of it) answers a bare 403.
    return code in ("AccessDeniedException", "AccessDenied") or status == 403


def token_from_secret_string(value: str, where: str) -> str:
    """The forge token in `value`, the one format every reader of the token applies (the CLI's
    `--token-secret` and `--token-env`, the Argo CD repository credentials of the Pulumi program):
    the raw token, or a JSON object whose string "token" is it. Errors name `where`, never the
    value."""
    value = value.strip()
    if value.startswith("{"):
        try:
            document = json.loads(value)
        except json.JSONDecodeError:
            raise CredentialsError(
                f'{where} starts with "{{" but is not valid JSON; store the raw token or JSON {{"token": "..."}}'
            ) from None
        token = document.get("token")
        if not isinstance(token, str):
            keys = ", ".join(sorted(document)) or "none"
            raise CredentialsError(f'{where} is JSON without a string "token" key (keys: {keys}); add one')
        value = token.strip()
    if not value:
        raise CredentialsError(f"{where} is empty; put the forge token in it")
    return value
