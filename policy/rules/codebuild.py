"""CodeBuild: encrypted, logged, time-bounded projects; privileged only to build images; no secrets in
plaintext environment variables.

Privileged mode (Docker in the build) is allowed only on a project tagged
`delivery:purpose = image-build`, the tag `components/build_projects.py` puts on image builds, as AWS
Config's codebuild-project-environment-privileged-check does with its exemptedProjects list.

Secret-looking names: a PLAINTEXT variable is a violation when a word of its name (split on `_`
and `-`) is TOKEN, SECRET, PASSWORD, PASSWD, PASSPHRASE, CREDENTIAL(S) or APIKEY, or its last
word is KEY — unless its last word says it holds a reference to a secret, not the secret: ID, ARN,
NAME, URL, URI, PATH, FILE, ENV, REF (TOKEN_SECRET_ARN, KMS_KEY_ID, TOKEN_ENV are fine). AWS access keys are
the exception to the exception: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY never belong in a project.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Iterator

from .base import Finding, dig, is_aws_managed_key, items, label, mapping, number, resource_policy

PROJECT_TYPE = "aws:codebuild/project:Project"
PURPOSE_TAG = "delivery:purpose"
IMAGE_BUILD = "image-build"
MAX_BUILD_MINUTES = 120
# CodeBuild's default when build_timeout is not set.
DEFAULT_BUILD_MINUTES = 60
SECRET_WORDS = frozenset({"TOKEN", "SECRET", "PASSWORD", "PASSWD", "PASSPHRASE", "CREDENTIAL", "CREDENTIALS",
                          "APIKEY"})
REFERENCE_SUFFIXES = frozenset({"ID", "ARN", "NAME", "URL", "URI", "PATH", "FILE", "ENV", "REF"})
AWS_CREDENTIAL_VARIABLES = frozenset({"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"})


def looks_secret(variable: str) -> bool:
    upper = variable.upper()
    if upper in AWS_CREDENTIAL_VARIABLES:
        return True
    words = [w for w in re.split(r"[_\-]+", upper) if w]
    if not words or words[-1] in REFERENCE_SUFFIXES:
        return False
    return bool(SECRET_WORDS & set(words)) or words[-1] == "KEY"


def check_encryption(resource_type: str, props: Mapping[str, Any], urn: str, name: str) -> Iterator[Finding]:
    key = props.get("encryptionKey")
    if not isinstance(key, str) or not key or is_aws_managed_key(key):
        yield Finding(f"{label(resource_type, name)} encrypts its artifacts with {key or 'the AWS-managed aws/s3 key'}",
                      "set encryption_key to a customer-managed KMS key ARN (the artifact store's key)")
    artifacts = [mapping(props.get("artifacts")), *(mapping(a) for a in items(props.get("secondaryArtifacts")))]
    if any(a.get("encryptionDisabled") is True for a in artifacts):
        yield Finding(f"{label(resource_type, name)} disables artifact encryption",
                      "remove encryption_disabled=True from its artifacts")


def check_privileged(resource_type: str, props: Mapping[str, Any], urn: str, name: str) -> Iterator[Finding]:
    if dig(props, "environment", "privilegedMode") is not True:
        return
    purpose = mapping(props.get("tags")).get(PURPOSE_TAG)
    if purpose != IMAGE_BUILD:
        yield Finding(f"{label(resource_type, name)} runs privileged but is not an image build "
                      f"(tag {PURPOSE_TAG} = {purpose!r})",
                      f"turn privileged_mode off, or, if the project builds container images, tag it "
                      f"{PURPOSE_TAG}={IMAGE_BUILD}")


def check_logs(resource_type: str, props: Mapping[str, Any], urn: str, name: str) -> Iterator[Finding]:
    cloudwatch = mapping(dig(props, "logsConfig", "cloudwatchLogs"))
    if cloudwatch.get("status", "ENABLED") == "DISABLED":
        yield Finding(f"{label(resource_type, name)} has CloudWatch logs disabled",
                      "set logs_config.cloudwatch_logs.status=\"ENABLED\"")
    elif not cloudwatch.get("groupName"):
        # Without a group name CodeBuild creates /aws/codebuild/<project> itself, with no retention set.
        yield Finding(f"{label(resource_type, name)} logs to no log group of the program",
                      "create an aws.cloudwatch.LogGroup with retention and set "
                      "logs_config.cloudwatch_logs.group_name to it")


def check_timeouts(resource_type: str, props: Mapping[str, Any], urn: str, name: str) -> Iterator[Finding]:
    build = props.get("buildTimeout", DEFAULT_BUILD_MINUTES)
    minutes = number(build)
    if minutes is None or minutes > MAX_BUILD_MINUTES:
        shown = build if minutes is None else f"{minutes:g}"
        yield Finding(f"{label(resource_type, name)} has build_timeout {shown} minutes (at most {MAX_BUILD_MINUTES})",
                      f"set build_timeout to {MAX_BUILD_MINUTES} minutes or less")
    if number(props.get("queuedTimeout")) is None:
        yield Finding(f"{label(resource_type, name)} has no queued_timeout (a queued build would wait 8 hours)",
                      "set queued_timeout in minutes (e.g. 60)")


def check_plaintext_secrets(resource_type: str, props: Mapping[str, Any], urn: str, name: str) -> Iterator[Finding]:
    for variable in items(dig(props, "environment", "environmentVariables")):
        variable = mapping(variable)
        variable_name = variable.get("name")
        if variable.get("type", "PLAINTEXT") == "PLAINTEXT" and isinstance(variable_name, str) \
                and looks_secret(variable_name):
            yield Finding(f"{label(resource_type, name)}: environment variable {variable_name} looks like a secret "
                          "and is PLAINTEXT (visible to anyone who can read the project)",
                          "store the value in Secrets Manager and set type=\"SECRETS_MANAGER\" with the secret ARN "
                          "as value (or PARAMETER_STORE with a SecureString name)")


CODEBUILD_ENCRYPTION = resource_policy(
    "codebuild-customer-key",
    "Projects set encryption_key to a customer-managed key and never disable artifact encryption. Mirrors "
    "Checkov CKV_AWS_147 and CKV_AWS_78, Trivy AVD-AWS-0018, cfn-nag W32.",
    (PROJECT_TYPE,), check_encryption)

CODEBUILD_PRIVILEGED = resource_policy(
    "codebuild-privileged-image-builds-only",
    f"Privileged mode only on projects tagged {PURPOSE_TAG}={IMAGE_BUILD}. Mirrors Checkov CKV_AWS_316 "
    "(with AWS Config codebuild-project-environment-privileged-check's exemption list as a tag).",
    (PROJECT_TYPE,), check_privileged)

CODEBUILD_LOGS = resource_policy(
    "codebuild-logs",
    "CloudWatch logs enabled, into a log group the program creates (retention set). Mirrors Checkov CKV_AWS_314.",
    (PROJECT_TYPE,), check_logs)

CODEBUILD_TIMEOUTS = resource_policy(
    "codebuild-timeouts",
    f"build_timeout at most {MAX_BUILD_MINUTES} minutes (default {DEFAULT_BUILD_MINUTES}), queued_timeout set. "
    "No public rule; the program's baseline (bounded runs and cost).",
    (PROJECT_TYPE,), check_timeouts)

CODEBUILD_PLAINTEXT_SECRETS = resource_policy(
    "codebuild-no-plaintext-secrets",
    "No PLAINTEXT environment variable whose name looks like a secret. Mirrors AWS Security Hub CodeBuild.2 "
    "(AWS Config codebuild-project-envvar-awscred-check), widened to tokens and passwords.",
    (PROJECT_TYPE,), check_plaintext_secrets)

POLICIES = [CODEBUILD_ENCRYPTION, CODEBUILD_PRIVILEGED, CODEBUILD_LOGS, CODEBUILD_TIMEOUTS,
            CODEBUILD_PLAINTEXT_SECRETS]
