"""Plain resource records (type, name, camelCase inputs/outputs) for the policy tests, and a
secure baseline stack each test weakens in exactly one place."""

from __future__ import annotations

import json
from typing import Any

ACCOUNT = "111111111111"
ROOT = f"arn:aws:iam::{ACCOUNT}:root"
KEY_ARN = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/0b6c5e3a-1111-2222-3333-444455556666"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/delivery/shop/staging/build"
K8S_PROVIDER = "urn:pulumi:test::delivery-pipeline::pulumi:providers:kubernetes::cluster-us-east-1"


def urn(type_: str, name: str) -> str:
    return f"urn:pulumi:test::delivery-pipeline::{type_}::{name}"


def record(type_: str, name: str, inputs: dict[str, Any], *, outputs: dict[str, Any] | None = None,
           id_: str | None = None, provider: str | None = None) -> dict[str, Any]:
    return {"urn": urn(type_, name), "type": type_, "name": name, "id": id_ if id_ is not None else f"{name}-id",
            "inputs": inputs, "outputs": outputs or {}, "provider": provider, "parent": None}


def doc(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def tls_only(bucket: str) -> dict[str, Any]:
    arn = f"arn:aws:s3:::{bucket}"
    return {"Sid": "DenyInsecureTransport", "Effect": "Deny", "Principal": {"AWS": "*"}, "Action": "s3:*",
            "Resource": [arn, f"{arn}/*"], "Condition": {"Bool": {"aws:SecureTransport": "false"}}}


def log_delivery(bucket: str) -> dict[str, Any]:
    return {"Sid": "S3ServerAccessLogs", "Effect": "Allow", "Principal": {"Service": "logging.s3.amazonaws.com"},
            "Action": "s3:PutObject", "Resource": f"arn:aws:s3:::{bucket}/*",
            "Condition": {"StringEquals": {"aws:SourceAccount": ACCOUNT}}}


def bucket(name: str, *, log_target: bool = False, log_to: str | None = None) -> list[dict[str, Any]]:
    """A bucket and its configuration, as the program's SecureBucket registers them."""
    default = ({"sseAlgorithm": "AES256"} if log_target
               else {"sseAlgorithm": "aws:kms", "kmsMasterKeyId": KEY_ARN})
    statements = [tls_only(name)] + ([log_delivery(name)] if log_target else [])
    resources = [
        record("aws:s3/bucket:Bucket", name, {"region": "us-east-1"}, id_=name,
               outputs={"bucket": name, "arn": f"arn:aws:s3:::{name}"}),
        record("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", f"{name}-public-access",
               {"bucket": name, "blockPublicAcls": True, "blockPublicPolicy": True, "ignorePublicAcls": True,
                "restrictPublicBuckets": True}),
        record("aws:s3/bucketVersioning:BucketVersioning", f"{name}-versioning",
               {"bucket": name, "versioningConfiguration": {"status": "Enabled"}}),
        record("aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
               f"{name}-encryption", {"bucket": name, "rules": [{"applyServerSideEncryptionByDefault": default}]}),
        record("aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration", f"{name}-lifecycle",
               {"bucket": name, "rules": [{"id": "abort", "status": "Enabled", "filter": {},
                                           "abortIncompleteMultipartUpload": {"daysAfterInitiation": 7}}]}),
        record("aws:s3/bucketPolicy:BucketPolicy", f"{name}-policy", {"bucket": name, "policy": doc(*statements)}),
    ]
    if log_to:
        resources.append(record("aws:s3/bucketLogging:BucketLogging", f"{name}-logging",
                                {"bucket": name, "targetBucket": log_to, "targetPrefix": "artifacts/"}))
    return resources


def key(name: str = "artifacts-key", **overrides: Any) -> dict[str, Any]:
    policy = doc({"Sid": "Admin", "Effect": "Allow", "Principal": {"AWS": ROOT},
                  "Action": ["kms:DescribeKey", "kms:EnableKeyRotation"], "Resource": "*"},
                 {"Sid": "Use", "Effect": "Allow", "Principal": {"AWS": ROOT},
                  "Action": ["kms:Decrypt", "kms:GenerateDataKey"], "Resource": "*",
                  "Condition": {"ArnLike": {"aws:PrincipalArn": f"arn:aws:iam::{ACCOUNT}:role/delivery/*"}}})
    return record("aws:kms/key:Key", name, {"enableKeyRotation": True, "policy": policy, **overrides})


def codebuild(name: str = "svc-test", *, environment: dict[str, Any] | None = None, tags: dict[str, str] | None = None,
              **overrides: Any) -> dict[str, Any]:
    env = {"type": "LINUX_CONTAINER", "computeType": "BUILD_GENERAL1_SMALL", "image": "aws/codebuild/standard:7.0",
           "privilegedMode": False,
           "environmentVariables": [{"name": "SERVICE", "value": "api", "type": "PLAINTEXT"},
                                    {"name": "GITOPS_TOKEN", "value": "arn:secret", "type": "SECRETS_MANAGER"}]}
    inputs = {"encryptionKey": KEY_ARN, "buildTimeout": 30, "queuedTimeout": 60,
              "artifacts": {"type": "CODEPIPELINE"}, "environment": {**env, **(environment or {})},
              "logsConfig": {"cloudwatchLogs": {"status": "ENABLED", "groupName": "/aws/codebuild/shop/api"}},
              "tags": tags or {"app": "shop"}, **overrides}
    return record("aws:codebuild/project:Project", name, inputs)


def pipeline(name: str = "svc-staging", **overrides: Any) -> dict[str, Any]:
    stores = [{"location": "artifacts-us-east-1", "type": "S3", "region": "us-east-1",
               "encryptionKey": {"id": KEY_ARN, "type": "KMS"}},
              {"location": "artifacts-eu-west-1", "type": "S3", "region": "eu-west-1",
               "encryptionKey": {"id": KEY_ARN.replace("us-east-1", "eu-west-1"), "type": "KMS"}}]
    return record("aws:codepipeline/pipeline:Pipeline", name,
                  {"pipelineType": "V2", "artifactStores": stores, **overrides})


def role(name: str = "build-role", *, trust: dict[str, Any] | None = None, **overrides: Any) -> dict[str, Any]:
    trust = trust or {"Sid": "AssumedByService", "Effect": "Allow", "Principal": {"Service": "codebuild.amazonaws.com"},
                      "Action": "sts:AssumeRole", "Condition": {"StringEquals": {"aws:SourceAccount": ACCOUNT}}}
    return record("aws:iam/role:Role", name,
                  {"path": "/delivery/shop/staging/", "assumeRolePolicy": doc(trust), **overrides})


def role_policy(name: str = "build-role-policy", *statements: dict[str, Any]) -> dict[str, Any]:
    statements = statements or (
        {"Sid": "WriteOwnLogs", "Effect": "Allow", "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
         "Resource": f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:/aws/codebuild/shop/api:*"},
        {"Sid": "EcrLogin", "Effect": "Allow", "Action": ["ecr:GetAuthorizationToken"], "Resource": "*"},
    )
    return record("aws:iam/rolePolicy:RolePolicy", name, {"role": "build-role", "policy": doc(*statements)})


def app_project(name: str = "project", *, project: str = "shop", provider: str = K8S_PROVIDER,
                **spec: Any) -> dict[str, Any]:
    spec = {"sourceRepos": ["https://github.com/acme/gitops.git"],
            "destinations": [{"server": "https://kubernetes.default.svc", "namespace": "api"}], **spec}
    return record("kubernetes:argoproj.io/v1alpha1:AppProject", name,
                  {"apiVersion": "argoproj.io/v1alpha1", "kind": "AppProject",
                   "metadata": {"name": project, "namespace": "argocd"}, "spec": spec}, provider=provider)


def application_set(name: str = "applications", *, project: str = "shop",
                    provider: str = K8S_PROVIDER) -> dict[str, Any]:
    return record("kubernetes:argoproj.io/v1alpha1:ApplicationSet", name,
                  {"apiVersion": "argoproj.io/v1alpha1", "kind": "ApplicationSet",
                   "metadata": {"name": "shop", "namespace": "argocd"},
                   "spec": {"template": {"metadata": {"name": "{{.path.basename}}"},
                                         "spec": {"project": project}}}}, provider=provider)


def secure_stack() -> list[dict[str, Any]]:
    """One of everything the pack checks, configured the way the baseline wants."""
    repository = record("aws:ecr/repository:Repository", "registry-api",
                        {"name": "shop/api", "imageTagMutability": "IMMUTABLE",
                         "imageScanningConfiguration": {"scanOnPush": True},
                         "encryptionConfigurations": [{"encryptionType": "KMS", "kmsKey": KEY_ARN}]})
    repository_policy = record("aws:ecr/repositoryPolicy:RepositoryPolicy", "registry-api-policy",
                               {"repository": "shop/api", "policy": doc(
                                   {"Sid": "EnvironmentAccountsPull", "Effect": "Allow",
                                    "Principal": {"AWS": ["arn:aws:iam::222222222222:root"]},
                                    "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]})})
    template = record("aws:ecr/repositoryCreationTemplate:RepositoryCreationTemplate", "replica-template",
                      {"prefix": "shop/", "appliedFors": ["REPLICATION"], "imageTagMutability": "IMMUTABLE",
                       "region": "eu-west-1", "customRoleArn": ROLE_ARN,
                       "encryptionConfigurations": [{"encryptionType": "KMS",
                                                     "kmsKey": KEY_ARN.replace("us-east-1", "eu-west-1")}],
                       "repositoryPolicy": repository_policy["inputs"]["policy"]})
    topic = record("aws:sns/topic:Topic", "alerts", {"kmsMasterKeyId": KEY_ARN})
    topic_policy = record("aws:sns/topicPolicy:TopicPolicy", "alerts-policy", {"arn": "arn:topic", "policy": doc(
        {"Sid": "EventsPublish", "Effect": "Allow", "Principal": {"Service": "events.amazonaws.com"},
         "Action": "sns:Publish", "Resource": f"arn:aws:sns:us-east-1:{ACCOUNT}:alerts",
         "Condition": {"StringEquals": {"aws:SourceAccount": ACCOUNT}}})})
    alarm = record("aws:cloudwatch/metricAlarm:MetricAlarm", "svc-failed-executions",
                   {"namespace": "AWS/CodePipeline", "metricName": "FailedPipelineExecutions",
                    "dimensions": {"PipelineName": "svc-staging"}, "statistic": "Sum", "period": 300,
                    "evaluationPeriods": 1, "threshold": 1, "comparisonOperator": "GreaterThanOrEqualToThreshold",
                    "treatMissingData": "notBreaching", "alarmActions": [f"arn:aws:sns:us-east-1:{ACCOUNT}:alerts"]})
    return [
        *bucket("artifacts", log_to="artifact-logs"), *bucket("artifact-logs", log_target=True), alarm,
        key(), pipeline(), codebuild(), role(), role_policy(), repository, repository_policy, template, topic,
        topic_policy,
        app_project(), application_set(),
    ]


def replace(resources: list[dict[str, Any]], name: str, **inputs: Any) -> list[dict[str, Any]]:
    """The stack with resource `name`'s inputs updated (None deletes an input)."""
    out = []
    for resource in resources:
        if resource["name"] == name:
            merged = {**resource["inputs"], **inputs}
            resource = {**resource, "inputs": {k: v for k, v in merged.items() if v is not None}}
        out.append(resource)
    return out
