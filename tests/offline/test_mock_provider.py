"""The mocked provider answers: ids, names and ARNs in each service's real format; placement; invokes."""

from __future__ import annotations

import base64
import json
import re

import pytest
from pulumi.runtime import MockCallArgs

from components.settings import SettingsError
from offline.mocks import OfflineMocks, OfflinePlanError, Placement, PlanResourceArgs, Placements
from offline.plan import load_stack_config, plan_hooks
from tests.conftest import FIXTURES

# The fixture project's hooks: the program reads no other stack, the fixture reads a registry stack.
HOOKS = plan_hooks(FIXTURES / "project")

TOOLING, ENV = "111111111111", "222222222222"
CONFIG = {
    "aws:region": "us-east-1",
    "delivery-pipeline:app": "shop",
    "delivery-pipeline:tooling": {"account": TOOLING, "region": "us-east-1"},
    "delivery-pipeline:services": [{"name": "api"}, {"name": "web", "regions": ["us-east-1"]}],
}
HEX7 = r"[0-9a-f]{7}"
UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"


@pytest.fixture
def mocks():
    return OfflineMocks("delivery-pipeline", CONFIG)


def new(mocks, type_, name, inputs=None, placement=Placement(TOOLING, "eu-west-1"), urn=None):
    urn = urn or f"urn:pulumi:staging::delivery-pipeline::{type_}::{name}"
    return mocks.new_resource(PlanResourceArgs(urn=urn, placement=placement, typ=type_, name=name,
                                               inputs=inputs or {}, custom=True))


# ---------------------------------------------------------------------------------------------
# Names and ids


def test_auto_names_are_the_logical_name_plus_7_hex_and_stable_per_urn(mocks):
    first = new(mocks, "aws:iam/role:Role", "builder")
    again = new(mocks, "aws:iam/role:Role", "builder")
    other = new(mocks, "aws:iam/role:Role", "builder", urn="urn:pulumi:prod::delivery-pipeline::aws:iam/role:Role::builder")
    assert re.fullmatch(f"builder-{HEX7}", first[0])
    assert first == again and other[0] != first[0]


def test_buckets_are_auto_named_in_lower_case_and_identified_by_name(mocks):
    id_, outputs = new(mocks, "aws:s3/bucket:Bucket", "Artifacts")
    assert re.fullmatch(f"artifacts-{HEX7}", id_)
    assert outputs["bucket"] == id_
    assert outputs["arn"] == f"arn:aws:s3:::{id_}"
    assert outputs["bucketRegionalDomainName"] == f"{id_}.s3.eu-west-1.amazonaws.com"
    assert new(mocks, "aws:s3/bucket:Bucket", "x", {"bucket": "given"})[0] == "given"


def test_bucket_sub_resources_are_identified_by_their_bucket(mocks):
    for kind in ("bucketVersioning:BucketVersioning", "bucketPolicy:BucketPolicy",
                 "bucketPublicAccessBlock:BucketPublicAccessBlock"):
        assert new(mocks, f"aws:s3/{kind}", "v", {"bucket": "b-1234567"})[0] == "b-1234567"


def test_kms_key_has_a_uuid_id_and_key_arn_and_alias_its_own_arn(mocks):
    key_id, key = new(mocks, "aws:kms/key:Key", "key")
    assert re.fullmatch(UUID, key_id) and key["keyId"] == key_id
    assert key["arn"] == f"arn:aws:kms:eu-west-1:{TOOLING}:key/{key_id}"
    alias_id, alias = new(mocks, "aws:kms/alias:Alias", "alias", {"name": "alias/shop", "targetKeyId": key_id})
    assert alias_id == "alias/shop"
    assert alias["arn"] == f"arn:aws:kms:eu-west-1:{TOOLING}:alias/shop"
    assert alias["targetKeyArn"] == key["arn"]
    assert re.fullmatch(f"alias/alias-{HEX7}", new(mocks, "aws:kms/alias:Alias", "alias", {"targetKeyId": key_id})[0])


def test_iam_role_arn_has_its_path_and_a_role_unique_id(mocks):
    id_, role = new(mocks, "aws:iam/role:Role", "deploy", {"name": "shop-deploy", "path": "/delivery/shop/prod/"},
                    placement=Placement(ENV, "us-east-1"))
    assert id_ == "shop-deploy"
    assert role["arn"] == f"arn:aws:iam::{ENV}:role/delivery/shop/prod/shop-deploy"
    assert re.fullmatch(r"AROA[A-Z2-7]{17}", role["uniqueId"])
    assert new(mocks, "aws:iam/role:Role", "r", {"name": "plain"})[1]["arn"] == f"arn:aws:iam::{TOOLING}:role/plain"


def test_role_policy_id_is_role_colon_policy(mocks):
    assert new(mocks, "aws:iam/rolePolicy:RolePolicy", "p", {"role": "shop-deploy", "name": "inline"})[0] == \
        "shop-deploy:inline"


@pytest.mark.parametrize("type_, inputs, id_format, arn", [
    ("aws:codebuild/project:Project", {"name": "shop-api-build"},
     "{arn}", f"arn:aws:codebuild:eu-west-1:{TOOLING}:project/shop-api-build"),
    ("aws:codepipeline/pipeline:Pipeline", {"name": "shop-api-prod"},
     "shop-api-prod", f"arn:aws:codepipeline:eu-west-1:{TOOLING}:shop-api-prod"),
    ("aws:sns/topic:Topic", {"name": "alerts"}, "{arn}", f"arn:aws:sns:eu-west-1:{TOOLING}:alerts"),
    ("aws:cloudwatch/eventRule:EventRule", {"name": "failed"},
     "failed", f"arn:aws:events:eu-west-1:{TOOLING}:rule/failed"),
    ("aws:cloudwatch/logGroup:LogGroup", {"name": "/aws/codebuild/x"},
     "/aws/codebuild/x", f"arn:aws:logs:eu-west-1:{TOOLING}:log-group:/aws/codebuild/x"),
    ("aws:ecr/repository:Repository", {"name": "shop/api"},
     "shop/api", f"arn:aws:ecr:eu-west-1:{TOOLING}:repository/shop/api"),
])
def test_arns_and_ids_follow_each_service_format(mocks, type_, inputs, id_format, arn):
    id_, outputs = new(mocks, type_, "r", inputs)
    assert outputs["arn"] == arn
    assert id_ == id_format.format(arn=arn)


def test_ecr_repository_url_and_registry(mocks):
    _, outputs = new(mocks, "aws:ecr/repository:Repository", "api", {"name": "shop/api"})
    assert outputs["repositoryUrl"] == f"{TOOLING}.dkr.ecr.eu-west-1.amazonaws.com/shop/api"
    assert outputs["registryId"] == TOOLING


def test_sns_topic_owner_and_subscription_arn_under_the_topic(mocks):
    topic_arn = new(mocks, "aws:sns/topic:Topic", "alerts", {"name": "alerts"})[0]
    sub_id, sub = new(mocks, "aws:sns/topicSubscription:TopicSubscription", "s",
                      {"topic": topic_arn, "protocol": "email", "endpoint": "a@example.com"})
    assert re.fullmatch(re.escape(topic_arn) + ":" + UUID, sub_id) and sub["arn"] == sub_id


def test_eks_access_entry_ids_and_arn(mocks):
    principal = f"arn:aws:iam::{ENV}:role/delivery/shop/prod/shop-deploy"
    id_, entry = new(mocks, "aws:eks/accessEntry:AccessEntry", "e", {"clusterName": "shop-prod", "principalArn": principal},
                     placement=Placement(ENV, "us-east-1"))
    assert id_ == f"shop-prod:{principal}"
    assert re.fullmatch(rf"arn:aws:eks:us-east-1:{ENV}:access-entry/shop-prod/role/{ENV}/shop-deploy/{UUID}",
                        entry["accessEntryArn"])
    policy = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSViewPolicy"
    assoc_id, _ = new(mocks, "aws:eks/accessPolicyAssociation:AccessPolicyAssociation", "a",
                      {"clusterName": "shop-prod", "principalArn": principal, "policyArn": policy})
    assert assoc_id == f"shop-prod#{principal}#{policy}"


def test_kubernetes_objects_are_identified_by_namespace_and_name(mocks):
    id_, outputs = new(mocks, "kubernetes:core/v1:Secret", "creds",
                       {"metadata": {"name": "repo", "namespace": "argocd"}}, placement=Placement(None, None))
    assert id_ == "argocd/repo" and outputs["metadata"]["name"] == "repo"


def test_unknown_types_echo_their_inputs_with_a_readable_id(mocks):
    assert new(mocks, "aws:sqs/queue:Queue", "q", {"delaySeconds": 5}) == ("q-id", {"delaySeconds": 5})


def test_providers_get_a_uuid_id(mocks):
    assert re.fullmatch(UUID, new(mocks, "pulumi:providers:aws", "env")[0])


def test_stack_reference_returns_the_registry_outputs_for_the_configured_services(repo_root):
    # The answer is the fixture's hook, reading this stack's settings as the program does.
    config = load_stack_config(repo_root, "staging", {
        "delivery-pipeline:services": [{"name": "api"}, {"name": "web", "regions": ["us-east-1"]}]}).values
    mocks = OfflineMocks("delivery-pipeline", config, HOOKS)
    id_, state = new(mocks, "pulumi:pulumi:StackReference", "acme/delivery-pipeline/staging",
                     {"name": "acme/delivery-pipeline/staging"}, placement=Placement(None, None))
    assert id_ == "acme/delivery-pipeline/staging"
    assert state["outputs"] == {
        "ecrRepositoryUrls": {s: f"{TOOLING}.dkr.ecr.us-east-1.amazonaws.com/shop/{s}" for s in ("api", "web")},
        "ecrRepositoryArns": {s: f"arn:aws:ecr:us-east-1:{TOOLING}:repository/shop/{s}" for s in ("api", "web")},
    }


def test_stack_reference_without_a_hook_names_the_stack_and_the_fix(mocks):
    with pytest.raises(OfflinePlanError, match=r"stack 'acme/delivery-pipeline/staging'.*plan_hooks\.py"):
        new(mocks, "pulumi:pulumi:StackReference", "acme/delivery-pipeline/staging",
            {"name": "acme/delivery-pipeline/staging"}, placement=Placement(None, None))


def test_stack_reference_hook_rejects_invalid_settings_like_the_program(repo_root):
    config = load_stack_config(repo_root, "staging", {"delivery-pipeline:app": "Shop"}).values
    mocks = OfflineMocks("delivery-pipeline", config, HOOKS)
    with pytest.raises(SettingsError, match="delivery-pipeline:app = 'Shop'"):
        new(mocks, "pulumi:pulumi:StackReference", "acme/delivery-pipeline/staging",
            {"name": "acme/delivery-pipeline/staging"}, placement=Placement(None, None))


# ---------------------------------------------------------------------------------------------
# Placement


def test_placement_default_provider_explicit_provider_and_region_input():
    placements = Placements(TOOLING, "us-east-1")
    env = placements.of_provider("pulumi:providers:aws", "env", {
        "region": "eu-west-1", "assumeRoles": json.dumps([{"roleArn": f"arn:aws:iam::{ENV}:role/bootstrap"}])})
    assert env == Placement(ENV, "eu-west-1")
    placements.add_provider("urn:p::uuid", env)
    assert placements.of_resource("aws:iam/role:Role", "r", True, {}, None) == Placement(TOOLING, "us-east-1")
    assert placements.of_resource("aws:s3/bucket:Bucket", "b", True, {"region": "ap-south-1"}, None) == \
        Placement(TOOLING, "ap-south-1")
    assert placements.of_resource("aws:iam/role:Role", "r", True, {}, "urn:p::uuid") == env
    assert placements.of_resource("aws:s3/bucket:Bucket", "b", True, {"region": "us-west-2"}, "urn:p::uuid") == \
        Placement(ENV, "us-west-2")
    # A provider without an assumed role uses the tooling credentials.
    assert placements.of_provider("pulumi:providers:aws", "west", {"region": "us-west-2"}) == Placement(TOOLING, "us-west-2")


def test_placement_is_empty_outside_aws_and_for_components():
    placements = Placements(TOOLING, "us-east-1")
    assert placements.of_resource("kubernetes:core/v1:Secret", "s", True, {}, None) == Placement(None, None)
    assert placements.of_resource("pulumi:providers:kubernetes", "k", True, {}, None) == Placement(None, None)
    assert placements.of_resource("delivery:store:ArtifactStore", "c", False, {}, None) == Placement(None, None)


def test_placement_rejects_snake_case_assume_role_which_the_provider_ignores():
    with pytest.raises(OfflinePlanError, match=r"provider 'env': assumeRoles\[0\] has `role_arn`.*ProviderAssumeRoleArgs"):
        Placements(TOOLING, "us-east-1").of_provider(
            "pulumi:providers:aws", "env", {"assumeRoles": json.dumps([{"role_arn": f"arn:aws:iam::{ENV}:role/x"}])})


def test_placement_without_a_tooling_account_says_which_setting_to_add():
    placements = Placements(None, "us-east-1", "demo:tooling.account")
    with pytest.raises(OfflinePlanError, match=r"aws:sns/topic:Topic uses the default AWS provider.*demo:tooling\.account"):
        placements.of_resource("aws:sns/topic:Topic", "t", True, {}, None)
    # A provider that assumes a role and names its region needs no tooling account.
    assert placements.of_provider("pulumi:providers:aws", "env", {
        "region": "eu-west-1", "assumeRoles": json.dumps([{"roleArn": f"arn:aws:iam::{ENV}:role/x"}])}) == \
        Placement(ENV, "eu-west-1")


def test_placement_rejects_unknown_provider_references_and_bad_role_arns():
    placements = Placements(TOOLING, "us-east-1")
    with pytest.raises(OfflinePlanError, match="never registered"):
        placements.of_resource("aws:iam/role:Role", "r", True, {}, "urn:missing::id")
    with pytest.raises(OfflinePlanError, match="not an IAM role ARN"):
        placements.of_provider("pulumi:providers:aws", "env", {"assumeRoles": '[{"roleArn": "bootstrap"}]'})


# ---------------------------------------------------------------------------------------------
# Invokes


def call(mocks, token, args, provider=""):
    result, failures = mocks.call(MockCallArgs(token=token, args=args, provider=provider))
    assert failures == []
    return result


def test_get_cluster_looks_like_eks(mocks):
    cluster = call(mocks, "aws:eks/getCluster:getCluster", {"name": "shop-prod-euw1", "region": "eu-west-1"})
    assert re.fullmatch(r"https://[0-9A-F]{32}\.gr7\.eu-west-1\.eks\.amazonaws\.com", cluster["endpoint"])
    assert cluster["arn"] == f"arn:aws:eks:eu-west-1:{TOOLING}:cluster/shop-prod-euw1"
    pem = base64.b64decode(cluster["certificateAuthorities"][0]["data"]).decode()
    assert pem.startswith("-----BEGIN CERTIFICATE-----\n") and pem.endswith("-----END CERTIFICATE-----\n")
    assert cluster["accessConfigs"][0]["authenticationMode"] == "API_AND_CONFIG_MAP"


def test_invokes_through_an_explicit_provider_answer_from_its_account(mocks):
    mocks.placements.add_provider("urn:env::id", Placement(ENV, "eu-west-1"))
    assert call(mocks, "aws:index/getCallerIdentity:getCallerIdentity", {}, "urn:env::id")["accountId"] == ENV
    assert call(mocks, "aws:index/getCallerIdentity:getCallerIdentity", {})["accountId"] == TOOLING


def test_secret_version_partition_answers(mocks):
    arn = f"arn:aws:secretsmanager:us-east-1:{TOOLING}:secret:delivery/token-AbC123"
    secret = call(mocks, "aws:secretsmanager/getSecretVersion:getSecretVersion", {"secretId": arn})
    assert secret["arn"] == arn and secret["secretString"] and secret["versionStages"] == ["AWSCURRENT"]
    assert call(mocks, "aws:index/getPartition:getPartition", {})["dnsSuffix"] == "amazonaws.com"


def test_unknown_invokes_fail_naming_the_token(mocks):
    with pytest.raises(OfflinePlanError, match=r"no answer for invoke 'aws:index/getRegion:getRegion'"):
        mocks.call(MockCallArgs(token="aws:index/getRegion:getRegion", args={}, provider=""))
