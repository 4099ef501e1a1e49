"""Every rule: the secure baseline passes it, and a stack weakened in one place fails it with a
message naming the resource and a fix (Checkov's convention: a passing and a failing fixture per rule)."""

from __future__ import annotations

import json

import pytest

from policy.offline import evaluate
from policy.rules import POLICIES
from policy.rules.codebuild import looks_secret
from tests.policy.records import (
    KEY_ARN, ROLE_ARN, app_project, application_set, bucket, codebuild, doc, key, record, replace, role,
    role_policy, secure_stack,
)

BY_NAME = {p.name: p for p in POLICIES}
OTHER_CLUSTER = "urn:pulumi:test::delivery-pipeline::pulumi:providers:kubernetes::cluster-eu-west-1"
STACK = secure_stack()


def without(resources: list[dict], name: str) -> list[dict]:
    return [r for r in resources if r["name"] != name]


def violations(policy: str, resources: list[dict]) -> list:
    return evaluate(resources, policies=[BY_NAME[policy]])


def encryption(default: dict) -> dict:
    return {"rules": [{"applyServerSideEncryptionByDefault": default}]}


def project_env(**environment) -> list[dict]:
    return [codebuild(environment=environment)]


ALLOW_ALL = {"Sid": "Everything", "Effect": "Allow", "Action": "*", "Resource": "*"}
PASS_ROLE = {"Sid": "PassBuildRole", "Effect": "Allow", "Action": "iam:PassRole", "Resource": ROLE_ARN,
             "Condition": {"StringEquals": {"iam:PassedToService": "codebuild.amazonaws.com"}}}

# (policy, failing stack, resource the violation is about, fragment of the message)
FAILING = [
    ("s3-public-access-block", replace(STACK, "artifacts-public-access", restrictPublicBuckets=False),
     "artifacts-public-access", "['restrictPublicBuckets'] off"),
    ("s3-public-access-block", without(STACK, "artifacts-public-access"), "artifacts",
     "has no BucketPublicAccessBlock"),
    ("s3-encryption-customer-key", replace(STACK, "artifacts-encryption", **encryption({"sseAlgorithm": "AES256"})),
     "artifacts-encryption", "'AES256', not SSE-KMS"),
    ("s3-encryption-customer-key",
     replace(STACK, "artifacts-encryption", **encryption({"sseAlgorithm": "aws:kms", "kmsMasterKeyId": "alias/aws/s3"})),
     "artifacts-encryption", "not a customer-managed key"),
    ("s3-encryption-customer-key", replace(STACK, "artifacts-encryption", **encryption({"sseAlgorithm": "aws:kms"})),
     "artifacts-encryption", "AWS-managed aws/s3 key"),
    ("s3-encryption-customer-key",
     replace(STACK, "artifact-logs-encryption", **encryption({"sseAlgorithm": "aws:kms", "kmsMasterKeyId": KEY_ARN})),
     "artifact-logs-encryption", "server access log target"),
    # AES256 on a bucket that is a logging target but whose policy does not admit log delivery.
    ("s3-encryption-customer-key", replace(STACK, "artifact-logs-policy", policy=doc(
        json.loads(STACK[[r["name"] for r in STACK].index("artifact-logs-policy")]["inputs"]["policy"])
        ["Statement"][0])), "artifact-logs-encryption", "'AES256', not SSE-KMS"),
    ("s3-encryption-customer-key", without(STACK, "artifacts-encryption"), "artifacts",
     "no BucketServerSideEncryptionConfiguration"),
    ("s3-versioning", replace(STACK, "artifacts-versioning", versioningConfiguration={"status": "Suspended"}),
     "artifacts", "is not versioned"),
    ("s3-tls-only", replace(STACK, "artifacts-policy", policy=doc({**json.loads(
        STACK[[r["name"] for r in STACK].index("artifacts-policy")]["inputs"]["policy"])["Statement"][0],
        "Condition": {"Bool": {"aws:SecureTransport": "true"}}})), "artifacts", "denying requests without TLS"),
    ("s3-tls-only", replace(STACK, "artifacts-policy", policy=doc({**json.loads(
        STACK[[r["name"] for r in STACK].index("artifacts-policy")]["inputs"]["policy"])["Statement"][0],
        "Resource": "arn:aws:s3:::artifacts"})), "artifacts", "denying requests without TLS"),
    ("s3-tls-only", without(STACK, "artifacts-policy"), "artifacts", "denying requests without TLS"),
    ("s3-access-logging", without(STACK, "artifacts-logging"), "artifacts", "no server access logging"),
    ("s3-abort-incomplete-uploads", replace(STACK, "artifacts-lifecycle", rules=[
        {"id": "abort", "status": "Disabled", "filter": {}, "abortIncompleteMultipartUpload": {"daysAfterInitiation": 7}}]),
     "artifacts", "aborting incomplete multipart uploads"),
    ("s3-abort-incomplete-uploads", replace(STACK, "artifacts-lifecycle", rules=[
        {"id": "abort", "status": "Enabled", "filter": {"prefix": "tmp/"},
         "abortIncompleteMultipartUpload": {"daysAfterInitiation": 7}}]),
     "artifacts", "bucket-wide"),
    ("s3-policy-not-public", replace(STACK, "artifacts-policy", policy=doc(
        {"Sid": "Public", "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
         "Resource": "arn:aws:s3:::artifacts/*"})), "artifacts-policy", "allows any principal"),
    ("kms-key-rotation", replace(STACK, "artifacts-key", enableKeyRotation=False), "artifacts-key",
     "does not rotate"),
    ("kms-key-rotation", replace(STACK, "artifacts-key", enableKeyRotation=None), "artifacts-key", "does not rotate"),
    ("kms-key-policy", replace(STACK, "artifacts-key", policy=None), "artifacts-key", "no explicit key policy"),
    ("kms-key-policy", replace(STACK, "artifacts-key", policy=doc(
        {"Sid": "Anyone", "Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "kms:Decrypt", "Resource": "*",
         "Condition": {"StringEquals": {"kms:CallerAccount": "111111111111"}}})),
     "artifacts-key", "statement 'Anyone' allows principal \"*\""),
    ("codepipeline-artifact-customer-key", replace(STACK, "svc-staging", artifactStores=[
        {"location": "artifacts-us-east-1", "type": "S3", "region": "us-east-1"}]),
     "svc-staging", "has no KMS encryption key"),
    ("codepipeline-artifact-customer-key", replace(STACK, "svc-staging", artifactStores=[
        {"location": "artifacts-us-east-1", "type": "S3", "encryptionKey": {"id": "alias/aws/s3", "type": "KMS"}}]),
     "svc-staging", "AWS-managed key alias/aws/s3"),
    ("codepipeline-v2", replace(STACK, "svc-staging", pipelineType="V1"), "svc-staging", "is a V1 pipeline"),
    ("codepipeline-v2", replace(STACK, "svc-staging", pipelineType=None), "svc-staging", "V1 (default)"),
    # The tag says the stack has a release window; the promoting stage has no entry condition.
    ("codepipeline-release-gates", replace(STACK, "svc-staging", tags={"delivery:release-gates": "window"}, stages=[
        {"name": "Source", "actions": []}, {"name": "Promote", "actions": []}]),
     "svc-staging", "stage Promote has no release window"),
    ("codebuild-customer-key", replace(STACK, "svc-test", encryptionKey=None), "svc-test", "AWS-managed aws/s3 key"),
    ("codebuild-customer-key", replace(STACK, "svc-test", encryptionKey="alias/aws/s3"), "svc-test", "alias/aws/s3"),
    ("codebuild-customer-key", replace(STACK, "svc-test", artifacts={"type": "S3", "encryptionDisabled": True}),
     "svc-test", "disables artifact encryption"),
    ("codebuild-privileged-image-builds-only", project_env(privilegedMode=True), "svc-test",
     "runs privileged but is not an image build"),
    ("codebuild-logs", replace(STACK, "svc-test", logsConfig={"cloudwatchLogs": {"status": "DISABLED"}}),
     "svc-test", "CloudWatch logs disabled"),
    ("codebuild-logs", replace(STACK, "svc-test", logsConfig=None), "svc-test", "no log group of the program"),
    ("codebuild-timeouts", replace(STACK, "svc-test", buildTimeout=480), "svc-test", "build_timeout 480 minutes"),
    ("codebuild-timeouts", replace(STACK, "svc-test", queuedTimeout=None), "svc-test", "no queued_timeout"),
    ("codebuild-no-plaintext-secrets",
     project_env(environmentVariables=[{"name": "GITHUB_TOKEN", "value": "ghp_x", "type": "PLAINTEXT"}]),
     "svc-test", "GITHUB_TOKEN looks like a secret"),
    ("codebuild-no-plaintext-secrets", project_env(environmentVariables=[{"name": "DB_PASSWORD", "value": "x"}]),
     "svc-test", "DB_PASSWORD looks like a secret"),
    ("sns-topic-customer-key", replace(STACK, "alerts", kmsMasterKeyId=None), "alerts", "no key"),
    ("sns-topic-customer-key", replace(STACK, "alerts", kmsMasterKeyId="alias/aws/sns"), "alerts", "alias/aws/sns"),
    ("sns-topic-policy-principals", replace(STACK, "alerts-policy", policy=doc(
        {"Sid": "Anyone", "Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sns:Publish", "Resource": "arn:t"})),
     "alerts-policy", "without a condition narrowing it"),
    ("sns-topic-policy-principals", replace(STACK, "alerts-policy", policy=doc(
        {"Sid": "Anyone", "Effect": "Allow", "Principal": "*", "Action": "sns:Publish", "Resource": "arn:t",
         "Condition": {"Bool": {"aws:SecureTransport": "true"}}})),
     "alerts-policy", "without a condition narrowing it"),
    ("sns-topic-policy-principals", replace(STACK, "alerts-policy", policy=doc(
        {"Sid": "AllBut", "Effect": "Allow", "NotPrincipal": {"AWS": "arn:aws:iam::111111111111:root"},
         "Action": "sns:Publish", "Resource": "arn:t"})), "alerts-policy", "NotPrincipal"),
    ("cloudwatch-alarm-actions", replace(STACK, "svc-failed-executions", alarmActions=None),
     "svc-failed-executions", "has no alarm action"),
    ("cloudwatch-alarm-actions", replace(STACK, "svc-failed-executions", alarmActions=[""]),
     "svc-failed-executions", "has no alarm action"),
    ("cloudwatch-alarm-actions", replace(STACK, "svc-failed-executions", actionsEnabled=False),
     "svc-failed-executions", "actions disabled"),
    ("cloudwatch-alarm-actions", [record("aws:cloudwatch/compositeAlarm:CompositeAlarm", "any-failed",
                                         {"alarmRule": "ALARM(a) OR ALARM(b)", "alarmActions": []})],
     "any-failed", "has no alarm action"),
    ("ecr-immutable-tags", replace(STACK, "registry-api", imageTagMutability="MUTABLE"), "registry-api", "MUTABLE"),
    ("ecr-scan-on-push", replace(STACK, "registry-api", imageScanningConfiguration={"scanOnPush": False}),
     "registry-api", "does not scan images on push"),
    ("ecr-kms-encryption", replace(STACK, "registry-api", encryptionConfigurations=[{"encryptionType": "AES256"}]),
     "registry-api", "not KMS"),
    ("ecr-immutable-tags", replace(STACK, "replica-template", imageTagMutability=None), "replica-template",
     "MUTABLE (default)"),
    ("ecr-kms-encryption", replace(STACK, "replica-template", encryptionConfigurations=[{"encryptionType": "AES256"}]),
     "replica-template", "not KMS"),
    ("ecr-policy-not-public", replace(STACK, "replica-template", repositoryPolicy=doc(
        {"Sid": "Public", "Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "ecr:BatchGetImage"})),
     "replica-template", "allows any principal"),
    ("ecr-policy-not-public", replace(STACK, "registry-api-policy", policy=doc(
        {"Sid": "Public", "Effect": "Allow", "Principal": "*", "Action": "ecr:BatchGetImage"})),
     "registry-api-policy", "allows any principal"),
    ("iam-no-wildcard-action", [role_policy("p", ALLOW_ALL)], "p", "wildcard action(s) ['*']"),
    ("iam-no-wildcard-action", [role_policy("p", {**ALLOW_ALL, "Action": ["s3:*", "s3:GetObject"]})], "p",
     "wildcard action(s) ['s3:*']"),
    ("iam-no-wildcard-action", [role_policy("p", {"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"})], "p",
     "NotAction"),
    ("iam-no-wildcard-action", [role(trust={"Effect": "Allow", "Principal": {"Service": "codebuild.amazonaws.com"},
                                            "Action": "sts:*"})], "build-role", "wildcard action(s) ['sts:*']"),
    ("iam-resource-wildcard", [role_policy("p", {"Sid": "Read", "Effect": "Allow", "Action": "s3:GetObject",
                                                 "Resource": "*"})], "p", "['s3:GetObject']"),
    ("iam-resource-wildcard", [role_policy("p", {"Sid": "Logs", "Effect": "Allow", "Action": "logs:Put*",
                                                 "Resource": "*"})], "p", "logs:PutLogEvents"),
    ("iam-resource-wildcard", [role_policy("p", {"Sid": "Typo", "Effect": "Allow", "Action": "ecr:GetAuthToken",
                                                 "Resource": "*"})], "p", "unknown to the IAM action database"),
    ("iam-resource-wildcard", [role_policy("p", {"Effect": "Allow", "Action": "s3:GetObject",
                                                 "NotResource": "arn:aws:s3:::x/*"})], "p", "NotResource"),
    ("iam-resource-wildcard", [role("r", inlinePolicies=[{"name": "inline", "policy": doc(
        {"Effect": "Allow", "Action": "sqs:SendMessage", "Resource": "*"})}])], "r", "inlinePolicies[0].policy"),
    ("iam-pass-role-scoped", [role_policy("p", {**PASS_ROLE, "Resource": "*"})], "p", "not on named roles"),
    ("iam-pass-role-scoped", [role_policy("p", {**PASS_ROLE, "Resource": ROLE_ARN.replace("build", "*")})], "p",
     "not on named roles"),
    ("iam-pass-role-scoped", [role_policy("p", {**PASS_ROLE, "Condition": None})], "p",
     "without an iam:PassedToService condition"),
    ("iam-pass-role-scoped", [role_policy("p", {**PASS_ROLE, "Action": "iam:Pass*", "Condition": {}})], "p",
     "without an iam:PassedToService condition"),
    ("iam-trust-named-principals", [role(trust={"Effect": "Allow", "Principal": {"AWS": "*"},
                                                "Action": "sts:AssumeRole"})], "build-role", "any principal"),
    ("iam-trust-named-principals", [role(trust={"Effect": "Allow", "Principal": "*", "Action": "sts:AssumeRole",
                                                "Condition": {"StringEquals": {"aws:PrincipalOrgID": "o-1"}}})],
     "build-role", "any principal"),
    ("iam-trust-named-principals", [role(trust={"Effect": "Allow", "NotPrincipal": {"AWS": ROLE_ARN},
                                                "Action": "sts:AssumeRole"})], "build-role", "NotPrincipal"),
    ("iam-no-administrator-access", [role(managedPolicyArns=["arn:aws:iam::aws:policy/AdministratorAccess"])],
     "build-role", "attaches arn:aws:iam::aws:policy/AdministratorAccess"),
    ("iam-no-administrator-access", [record("aws:iam/rolePolicyAttachment:RolePolicyAttachment", "admin",
                                            {"role": "r", "policyArn": "arn:aws:iam::aws:policy/AdministratorAccess"})],
     "admin", "AdministratorAccess"),
    ("iam-parliament", [record("aws:iam/rolePolicy:RolePolicy", "p", {"role": "r", "policy": "{not json"})], "p",
     "MALFORMED_JSON (CRITICAL)"),
    ("iam-parliament", [role_policy("p", {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*",
                                          "Condition": {"NumericLessThan": {"aws:SourceIp": "1"}}})],
     "p", "MISMATCHED_TYPE (MEDIUM)"),
    ("iam-parliament", [role_policy("p", {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*",
                                          "Condition": {"StringEquals": {"ec2:Region": "us-east-1"}}})],
     "p", "UNKNOWN_CONDITION_FOR_ACTION (MEDIUM)"),
    ("iam-parliament", [role_policy("p", {"Sid": "A", "Effect": "Allow", "Action": "s3:GetObject",
                                          "Resource": "arn:aws:s3:::b/*"},
                                    {"Sid": "A", "Effect": "Allow", "Action": "s3:PutObject",
                                     "Resource": "arn:aws:s3:::b/*"})], "p", "DUPLICATE_SID (HIGH)"),
    ("argocd-appproject-scoped", [app_project(sourceRepos=["*"])], "project", "every source repository"),
    ("argocd-appproject-scoped", [app_project(destinations=[{"server": "https://kubernetes.default.svc",
                                                             "namespace": "*"}])], "project", "['namespace']"),
    ("argocd-appproject-scoped", [app_project(destinations=[{"server": "*", "namespace": "api"}])], "project",
     "['server']"),
    ("argocd-application-in-stack-project", [app_project(), application_set(project="default")], "applications",
     "default project"),
    ("argocd-application-in-stack-project", [app_project(), application_set(project="other")], "applications",
     "project 'other', which the stack does not define"),
    # The project exists, but on another cluster (another provider).
    ("argocd-application-in-stack-project", [app_project(), application_set(provider=OTHER_CLUSTER)],
     "applications", "same cluster"),
]


def test_every_rule_has_a_failing_case():
    assert {case[0] for case in FAILING} == set(BY_NAME)


@pytest.mark.parametrize("policy", sorted(BY_NAME))
def test_secure_baseline_passes(policy):
    assert violations(policy, STACK) == []


@pytest.mark.parametrize("policy,resources,resource,fragment", FAILING,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(FAILING)])
def test_weakened_resource_fails(policy, resources, resource, fragment):
    found = violations(policy, resources)
    assert found, f"{policy} found nothing"
    about = [v for v in found if v.name == resource]
    assert about, f"{policy} reported on {[v.name for v in found]}, not on {resource}"
    assert any(fragment in v.message for v in about), [v.message for v in about]
    for violation in about:
        assert violation.enforcement == "mandatory"
        assert violation.fix and "Fix:" not in violation.message
        assert violation.urn.endswith(f"::{resource}")


PASSING = [
    # Privileged mode on a project tagged as an image build.
    ("codebuild-privileged-image-builds-only",
     [codebuild(environment={"privilegedMode": True}, tags={"delivery:purpose": "image-build"})]),
    # CodeBuild's default build timeout (60 minutes) is bounded.
    ("codebuild-timeouts", replace([codebuild()], "svc-test", buildTimeout=None)),
    ("codebuild-timeouts", replace([codebuild()], "svc-test", buildTimeout=120)),
    # Asymmetric keys cannot rotate.
    ("kms-key-rotation", [key(keySpec="RSA_2048", enableKeyRotation=False)]),
    # A "*" topic principal narrowed to this account's event sources.
    ("cloudwatch-alarm-actions", [record("aws:cloudwatch/compositeAlarm:CompositeAlarm", "any-failed",
                                         {"alarmRule": "ALARM(a)", "actionsEnabled": True,
                                          "alarmActions": ["arn:aws:sns:us-east-1:111111111111:alerts"]})]),
    ("sns-topic-policy-principals", [record("aws:sns/topicPolicy:TopicPolicy", "t", {"policy": doc(
        {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sns:Publish", "Resource": "arn:t",
         "Condition": {"StringEquals": {"aws:SourceOwner": "111111111111"}}})})]),
    # Resource "*" for actions that have no resource type; Deny statements may use wildcards.
    ("iam-resource-wildcard", [role_policy("p", {"Effect": "Allow", "Action": ["ecr:GetAuthorizationToken",
                                                                               "sts:GetCallerIdentity"],
                                                 "Resource": "*"})]),
    ("iam-no-wildcard-action", [role_policy("p", {"Effect": "Deny", "Action": "*", "Resource": "*",
                                                  "Condition": {"Bool": {"aws:SecureTransport": "false"}}})]),
    ("iam-pass-role-scoped", [role_policy("p", PASS_ROLE)]),
    # Trust policies and ECR repository policies have no Resource; key policies use Resource "*".
    ("iam-parliament", STACK),
    ("argocd-application-in-stack-project", [app_project(), application_set()]),
]


@pytest.mark.parametrize("policy,resources", PASSING, ids=[f"{c[0]}-{i}" for i, c in enumerate(PASSING)])
def test_allowed_variant_passes(policy, resources):
    assert violations(policy, resources) == []


def test_log_target_exempt_from_logging_and_uses_sse_s3():
    resources = [*bucket("data", log_to="logs"), *bucket("logs", log_target=True)]
    assert evaluate(resources) == []
    # Without its BucketLogging, "logs" is no longer a log target: it must log and use SSE-KMS.
    alone = [r for r in bucket("logs", log_target=True)]
    found = {(v.policy, v.name) for v in evaluate(alone)}
    assert found == {("s3-access-logging", "logs"), ("s3-encryption-customer-key", "logs-encryption")}


@pytest.mark.parametrize("name,secret", [
    ("GITHUB_TOKEN", True), ("DB_PASSWORD", True), ("API_KEY", True), ("signing-key", True),
    ("CLIENT_SECRET", True), ("NPM_CREDENTIALS", True), ("AWS_ACCESS_KEY_ID", True), ("AWS_SECRET_ACCESS_KEY", True),
    ("KMS_KEY_ID", False), ("GITOPS_TOKEN_SECRET_ARN", False), ("TOKEN_ENV", False), ("KEY_NAME", False),
    ("SERVICE", False), ("MONKEY", False), ("REPOSITORY_URI", False), ("TOKENIZER", False),
])
def test_secret_looking_names(name, secret):
    assert looks_secret(name) is secret


def test_unrelated_resources_are_ignored():
    assert evaluate([record("aws:cloudwatch/logGroup:LogGroup", "logs", {"retentionInDays": 90})]) == []
