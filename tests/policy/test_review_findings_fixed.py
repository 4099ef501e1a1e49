"""What the access paths and a deploy-readiness review found, each fixed: the operator can upload
the tool bundle, EventBridge can use the alerts key, ECR can assume its replica role, the log
bucket admits only its source bucket, the deployment role holds no grant it could never use, and
key aliases do not collide between stacks of one account, the token's own key decrypts it for
its readers only."""

from __future__ import annotations

import json

import pytest

from policy.access.model import REQUIRED

from tests.conftest import STACKS, cached_plan, stack_config


def _results(plan, description_part):
    results = [r for r in plan.access if description_part in r.path.description]
    assert results, f"no access path mentions {description_part!r}"
    return results


def _document(resource, key="policy"):
    return json.loads(resource.inputs[key])


def _named(plan, type_, name):
    return next(r for r in plan.by_type(type_) if r.name == name)


@pytest.mark.parametrize("stack", STACKS)
def test_the_operator_can_upload_the_tool_bundle_into_every_artifact_bucket(stack):
    plan = cached_plan(stack)
    uploads = _results(plan, "the operator")
    assert len(uploads) == 2 * len(plan.by_type("aws:s3/bucketObjectv2:BucketObjectv2"))
    assert all(r.allowed for r in uploads), [r.reasons for r in uploads]
    for key in plan.by_type("aws:kms/key:Key"):
        if key.name.startswith("artifacts-"):
            grant = next(s for s in _document(key)["Statement"] if s["Sid"] == "ToolingAccountUploadsThroughS3")
            # Only through S3 of the key's own region, and only for the tooling account's callers.
            assert grant["Condition"] == {"StringEquals": {"kms:ViaService": f"s3.{key.region}.amazonaws.com",
                                                           "kms:CallerAccount": "111111111111"}}
            assert grant["Action"] == "kms:GenerateDataKey"


@pytest.mark.parametrize("stack", STACKS)
def test_eventbridge_can_encrypt_alerts_and_only_the_stacks_rules_may_publish(stack):
    plan = cached_plan(stack)
    assert all(r.allowed for r in _results(plan, "EventBridge encrypts alerts"))
    assert all(r.allowed for r in _results(plan, "EventBridge uses the notifications key"))
    key = _named(plan, "aws:kms/key:Key", "notifications-key")
    statement = next(s for s in _document(key)["Statement"] if s["Sid"] == "EventBridgePublishes")
    assert "Condition" not in statement  # AWS's documented form
    assert [r.allowed for r in _results(plan, "rule of an unrelated account publishes")] == [False]
    assert all(r.allowed for r in _results(plan, "publishes an alert") if r.path.expect == REQUIRED)


@pytest.mark.parametrize("stack", STACKS)
def test_the_stacks_cloudwatch_alarms_can_publish_encrypted_alerts_and_no_other_alarm_can(stack):
    plan = cached_plan(stack)
    assert [r.allowed for r in _results(plan, "CloudWatch alarm of the stack publishes")] == [True]
    assert [r.allowed for r in _results(plan, "CloudWatch encrypts alarm notices")] == [True]
    assert [r.allowed for r in _results(plan, "CloudWatch alarm of another stack publishes")] == [False]


def test_ecr_can_assume_the_replica_creation_role_whose_trust_is_the_documented_one():
    plan = cached_plan("staging")
    role = _named(plan, "aws:iam/role:Role", "registry-replica-creation-role")
    assert _document(role, "assumeRolePolicy")["Statement"] == [
        {"Sid": "AssumedByService", "Effect": "Allow", "Principal": {"Service": "ecr.amazonaws.com"},
         "Action": "sts:AssumeRole"}]
    assert [r.allowed for r in _results(plan, "ECR assumes the replica creation role")] == [True]


@pytest.mark.parametrize("stack", STACKS)
def test_the_access_log_bucket_admits_only_the_artifact_bucket_it_logs(stack):
    plan = cached_plan(stack)
    buckets = {r.name: r for r in plan.by_type("aws:s3/bucket:Bucket")}
    for policy in plan.by_type("aws:s3/bucketPolicy:BucketPolicy"):
        if "-logs-" not in policy.name:
            continue
        region = policy.region
        statement = next(s for s in _document(policy)["Statement"] if s["Sid"] == "S3ServerAccessLogs")
        assert statement["Condition"]["ArnLike"] == {
            "aws:SourceArn": buckets[f"artifacts-{region}-bucket"].outputs["arn"]}
        assert statement["Condition"]["StringEquals"] == {"aws:SourceAccount": "111111111111"}
    assert all(r.allowed for r in _results(plan, "delivers the"))
    assert not any(r.allowed for r in _results(plan, "delivers another bucket's access logs"))


@pytest.mark.parametrize("stack", STACKS)
def test_no_tooling_policy_names_the_deployment_role(stack):
    """It reads nothing in the tooling account (its identity policy allows eks:DescribeCluster
    only), so a grant to it there could never take effect and would tie tooling resources to an
    environment-account principal."""
    plan = cached_plan(stack)
    deployment = _named(plan, "aws:iam/role:Role", "deployment").outputs["arn"]
    for resource in plan.by_type("aws:kms/key:Key") + plan.by_type("aws:s3/bucketPolicy:BucketPolicy"):
        assert deployment not in resource.inputs["policy"], resource.name


@pytest.mark.parametrize("stack", STACKS)
def test_key_aliases_are_scoped_to_the_stack(stack):
    plan = cached_plan(stack)
    aliases = [r.inputs["name"] for r in plan.by_type("aws:kms/alias:Alias")]
    assert aliases and all(a.startswith(f"alias/shop-{stack}-") for a in aliases), aliases


TOKEN_KEY = "arn:aws:kms:us-east-1:111111111111:key/1234abcd-12ab-34cd-56ef-1234567890ab"


def _with_token_key(stack):
    gitops = stack_config(stack)["delivery-pipeline:gitops"]
    return cached_plan(stack, {"delivery-pipeline:gitops": {**gitops, "tokenKeyArn": TOKEN_KEY}})


@pytest.mark.parametrize("stack", STACKS)
def test_the_token_readers_decrypt_with_the_token_key_through_secrets_manager_only(stack):
    plan = _with_token_key(stack)
    decrypts = _results(plan, "decrypts the GitOps token through Secrets Manager")
    readers = {r.path.description for r in decrypts if r.path.expect == REQUIRED}
    assert readers and all(("promote" in d or "verify" in d or "resolve" in d) for d in readers)
    assert all(r.ok for r in plan.access), [(r.path.description, r.reasons) for r in plan.access if not r.ok]
    assert all(r.allowed == (r.path.expect == REQUIRED) for r in decrypts)
    assert not any(r.allowed for r in _results(plan, "decrypts with the GitOps token's key directly"))
    for role in plan.by_type("aws:iam/rolePolicy:RolePolicy"):
        grants = [s for s in _document(role)["Statement"] if s["Sid"] == "DecryptGitOpsToken"]
        reads = any(s["Sid"] == "ReadGitOpsToken" for s in _document(role)["Statement"])
        assert grants == ([{"Sid": "DecryptGitOpsToken", "Effect": "Allow", "Action": ["kms:Decrypt"],
                            "Resource": TOKEN_KEY, "Condition": {"StringEquals": {
                                "kms:ViaService": "secretsmanager.us-east-1.amazonaws.com"}}}] if reads else []), role.name


@pytest.mark.parametrize("stack", STACKS)
def test_without_a_token_key_no_role_may_decrypt_one(stack):
    plan = cached_plan(stack)
    assert "DecryptGitOpsToken" not in json.dumps([r.inputs for r in plan.by_type("aws:iam/rolePolicy:RolePolicy")])
