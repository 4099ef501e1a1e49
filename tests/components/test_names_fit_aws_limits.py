"""Every physical name the program derives fits its AWS limit, for the longest `app`, environment
and service names the settings accept (20 characters each) and the longest region names.

Both stack kinds are planned at those lengths: a building stack (replicas, commit mode) and a
promoting one (pull-request mode with its verify pipelines, approvers). Each AWS resource's
name (given by the program, or auto-named by Pulumi as the offline plan names it) is checked
against the length and character pattern of the API model botocore ships, or, where the model
states none, the limit AWS documents. A resource type the table does not know fails the test:
the table grows with the program.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest

from components.validators import AWS_REGIONS
from offline.mocks import auto_name
from offline.model import PlannedResource
from tests.aws_models import member_shape, shape
from tests.conftest import cached_plan, stack_config

APP, ENV, UPSTREAM = "a" + "p" * 19, "e" + "n" * 19, "u" + "p" * 19
SERVICES = ("s" + "v" * 19, "w" + "k" * 19)
LONGEST_REGIONS = [r for r in sorted(AWS_REGIONS) if len(r) == max(map(len, AWS_REGIONS))][:2]


def _name(key: str, *, lower: bool = False) -> Callable[[PlannedResource], str]:
    """The input `key`, or the name Pulumi gives the resource when the program sets none."""
    return lambda r: r.inputs.get(key) or auto_name(r.name, r.urn, lower=lower)


def _input(key: str) -> Callable[[PlannedResource], str]:
    return lambda r: r.inputs[key]


def _model(service: str, operation: str | None, member: str) -> dict[str, Any]:
    return shape(service, member) if operation is None else member_shape(service, operation, member)


# Limits the API models leave out, as AWS documents them.
DOCUMENTED = {
    # CloudWatch PutDashboard: "up to 255 characters", letters, digits, - and _.
    "cloudwatch/PutDashboard/DashboardName": {"max": 255, "pattern": "[A-Za-z0-9_-]+"},
    # SNS CreateTopic: "up to 256 characters", letters, digits, - and _.
    "sns/CreateTopic/Name": {"max": 256, "pattern": "[A-Za-z0-9_-]+"},
    # S3 bucket naming rules: 3-63 lowercase letters, digits, . and -.
    "s3/CreateBucket/Bucket": {"max": 63, "pattern": "[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]"},
}


def _limit(service: str, operation: str | None, member: str) -> dict[str, Any]:
    found = _model(service, operation, member)
    return found if "max" in found else DOCUMENTED[f"{service}/{operation}/{member}"]


# resource type -> [(what the name is, the name of a resource, (service, operation, member))]
NAMES: dict[str, list[tuple[str, Callable[[PlannedResource], str], tuple[str, str | None, str]]]] = {
    "aws:codepipeline/pipeline:Pipeline": [("pipeline name", _input("name"), ("codepipeline", None, "PipelineName"))],
    "aws:codebuild/project:Project": [("project name", _input("name"), ("codebuild", "CreateProject", "name"))],
    "aws:cloudwatch/eventRule:EventRule": [("rule name", _input("name"), ("events", "PutRule", "Name"))],
    "aws:cloudwatch/logGroup:LogGroup": [("log group", _input("name"), ("logs", "CreateLogGroup", "logGroupName"))],
    "aws:cloudwatch/metricAlarm:MetricAlarm": [("alarm name", _input("name"), ("cloudwatch", "PutMetricAlarm", "AlarmName"))],
    "aws:cloudwatch/dashboard:Dashboard": [("dashboard name", _input("dashboardName"), ("cloudwatch", "PutDashboard", "DashboardName"))],
    "aws:ecr/repository:Repository": [("repository name", _input("name"), ("ecr", "CreateRepository", "repositoryName"))],
    "aws:ecr/repositoryCreationTemplate:RepositoryCreationTemplate": [
        ("template prefix", _input("prefix"), ("ecr", "CreateRepositoryCreationTemplate", "prefix"))],
    "aws:kms/alias:Alias": [("alias", _input("name"), ("kms", "CreateAlias", "AliasName"))],
    "aws:sns/topic:Topic": [("topic name", _input("name"), ("sns", "CreateTopic", "Name"))],
    "aws:iam/role:Role": [("role name", _name("name"), ("iam", "CreateRole", "RoleName")),
                          ("role path", _input("path"), ("iam", "CreateRole", "Path"))],
    "aws:iam/rolePolicy:RolePolicy": [("inline policy name", _name("name"), ("iam", "PutRolePolicy", "PolicyName"))],
    "aws:iam/policy:Policy": [("policy name", _name("name"), ("iam", "CreatePolicy", "PolicyName")),
                              ("policy path", _input("path"), ("iam", "CreatePolicy", "Path"))],
    "aws:s3/bucket:Bucket": [("bucket name", _name("bucket", lower=True), ("s3", "CreateBucket", "Bucket"))],
}
# Resources whose identity is another resource's name, or an id AWS assigns: nothing to derive.
NOT_NAMED = {
    "aws:cloudwatch/eventTarget:EventTarget", "aws:ecr/lifecyclePolicy:LifecyclePolicy",
    "aws:ecr/repositoryPolicy:RepositoryPolicy", "aws:ecr/replicationConfiguration:ReplicationConfiguration",
    "aws:eks/accessEntry:AccessEntry", "aws:eks/accessPolicyAssociation:AccessPolicyAssociation",
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
    "aws:kms/key:Key", "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
    "aws:s3/bucketLogging:BucketLogging", "aws:s3/bucketObjectv2:BucketObjectv2",
    "aws:s3/bucketOwnershipControls:BucketOwnershipControls", "aws:s3/bucketPolicy:BucketPolicy",
    "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
    "aws:s3/bucketVersioning:BucketVersioning", "aws:sns/topicPolicy:TopicPolicy",
    "aws:sns/topicSubscription:TopicSubscription",
}


def longest_names(stack: str) -> dict[str, Any]:
    """The stack's settings with every name at the longest the settings accept."""
    config = stack_config(stack)
    key = "delivery-pipeline:"
    home = config[key + "tooling"]["region"]
    environment = {**config[key + "environment"], "name": ENV,
                   "clusters": {region: f"c{i}" for i, region in enumerate((home, *LONGEST_REGIONS))}}
    overrides = {key + "app": APP, key + "environment": environment,
                 key + "services": [{"name": name} for name in SERVICES]}
    if config[key + "source"]["kind"] == "build":
        overrides[key + "registry"] = {**config[key + "registry"], "replicaRegions": LONGEST_REGIONS}
    else:
        # An upstream no stack file of the project is for: named in the explicit list.
        overrides[key + "source"] = {**config[key + "source"], "upstream": UPSTREAM, "knownEnvironments": [UPSTREAM]}
        overrides[key + "approval"] = {**config[key + "approval"],
                                       "approverPrincipals": ["arn:aws:iam::444444444444:role/release-managers"]}
    return overrides


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_every_derived_name_fits_its_aws_limit(stack):
    plan = cached_plan(stack, longest_names(stack))
    types = {r.type for r in plan.resources if r.custom and r.type.startswith("aws:")}
    unknown = types - set(NAMES) - NOT_NAMED
    assert not unknown, f"name limits unknown for {sorted(unknown)}: add them to NAMES or NOT_NAMED"
    too_long, checked = [], 0
    for resource in plan.resources:
        for what, name_of, (service, operation, member) in NAMES.get(resource.type, []):
            name, limit = name_of(resource), _limit(service, operation, member)
            checked += 1
            if len(name) > limit["max"] or ("pattern" in limit and not re.fullmatch(limit["pattern"], name)):
                too_long.append(f"{resource.type} {resource.name}: {what} {name!r} ({len(name)} characters; "
                                f"AWS takes {limit['max']}{', pattern ' + limit['pattern'] if 'pattern' in limit else ''})")
    assert checked > 50  # the table found the names (a renamed input would skip them)
    assert not too_long, "\n".join(too_long)
