"""The pipeline stacks' resources, as registered with the engine, grouped by behaviour.

Everything here reads the offline plan of the real program with the real stack files: the inputs
asserted are the camelCase inputs the engine (and so AWS) would receive.
"""

from __future__ import annotations

import json
import re
from collections import Counter

import pytest


TOOLING, STAGING, PROD = "111111111111", "222222222222", "333333333333"


def of_type(plan, type_):
    return [r for r in plan.resources if r.type == type_]


def by_output_id(plan, type_):
    return {r.id: r for r in of_type(plan, type_)}


def children_of(plan, parent):
    return [r for r in plan.resources if r.parent == parent.urn]


def policy(resource, key="policy"):
    return json.loads(resource.inputs[key])


def statements(document):
    return document["Statement"] if isinstance(document["Statement"], list) else [document["Statement"]]


def as_list(value):
    return value if isinstance(value, list) else [value]


def attached_to_bucket(plan, type_):
    """bucket id -> the resource of `type_` configuring it."""
    attached = {}
    for resource in of_type(plan, type_):
        assert resource.inputs["bucket"] not in attached, f"two {type_} on {resource.inputs['bucket']}"
        attached[resource.inputs["bucket"]] = resource
    return attached


# ---------------------------------------------------------------------------------------------
# Security: S3


def test_every_bucket_is_private_versioned_encrypted_and_tls_only(plan):
    buckets = of_type(plan, "aws:s3/bucket:Bucket")
    assert buckets
    public_access = attached_to_bucket(plan, "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock")
    ownership = attached_to_bucket(plan, "aws:s3/bucketOwnershipControls:BucketOwnershipControls")
    versioning = attached_to_bucket(plan, "aws:s3/bucketVersioning:BucketVersioning")
    encryption = attached_to_bucket(plan, "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration")
    lifecycle = attached_to_bucket(plan, "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration")
    policies = attached_to_bucket(plan, "aws:s3/bucketPolicy:BucketPolicy")
    for bucket in buckets:
        block = public_access[bucket.id].inputs
        assert all(block[k] is True for k in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls",
                                              "restrictPublicBuckets")), bucket.name
        assert ownership[bucket.id].inputs["rule"]["objectOwnership"] == "BucketOwnerEnforced"
        assert versioning[bucket.id].inputs["versioningConfiguration"]["status"] == "Enabled"
        assert encryption[bucket.id].inputs["rules"][0]["applyServerSideEncryptionByDefault"]["sseAlgorithm"] in (
            "aws:kms", "AES256")
        rules = {r["id"]: r for r in lifecycle[bucket.id].inputs["rules"]}
        assert rules["abort-incomplete-multipart-uploads"]["abortIncompleteMultipartUpload"]["daysAfterInitiation"] == 7
        assert rules["expire-noncurrent-versions"]["noncurrentVersionExpiration"]["noncurrentDays"] > 0
        deny = [s for s in statements(policy(policies[bucket.id])) if s["Sid"] == "DenyInsecureTransport"]
        assert deny and deny[0]["Effect"] == "Deny"
        assert deny[0]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
        assert set(as_list(deny[0]["Resource"])) == {bucket.outputs["arn"], bucket.outputs["arn"] + "/*"}


def test_artifact_buckets_use_their_regions_key_and_log_to_the_log_bucket(plan):
    keys = {r.outputs["arn"]: r for r in of_type(plan, "aws:kms/key:Key")}
    encryption = attached_to_bucket(plan, "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration")
    logging = attached_to_bucket(plan, "aws:s3/bucketLogging:BucketLogging")
    policies = attached_to_bucket(plan, "aws:s3/bucketPolicy:BucketPolicy")
    buckets = {b.id: b for b in of_type(plan, "aws:s3/bucket:Bucket")}
    artifact_buckets = [b for b in buckets.values() if b.name.endswith("-bucket")]
    assert len(artifact_buckets) == len(plan.outputs["artifactBuckets"])
    for bucket in artifact_buckets:
        rule = encryption[bucket.id].inputs["rules"][0]
        key = keys[rule["applyServerSideEncryptionByDefault"]["kmsMasterKeyId"]]
        assert rule["applyServerSideEncryptionByDefault"]["sseAlgorithm"] == "aws:kms"
        assert rule["bucketKeyEnabled"] is True
        assert key.region == bucket.region
        target = buckets[logging[bucket.id].inputs["targetBucket"]]
        assert target.name.endswith("-logs") and target.region == bucket.region
        sids = {s["Sid"]: s for s in statements(policy(policies[bucket.id]))}
        assert sids["DenyPutsNotEncryptedWithKms"]["Condition"] == {
            "StringNotEquals": {"s3:x-amz-server-side-encryption": "aws:kms"}}
        # Only denials: the stack's roles read and write through their identity policies.
        assert {s["Effect"] for s in sids.values()} == {"Deny"}


def test_log_buckets_accept_only_their_artifact_buckets_server_access_logs(plan):
    policies = attached_to_bucket(plan, "aws:s3/bucketPolicy:BucketPolicy")
    buckets = {b.name: b for b in of_type(plan, "aws:s3/bucket:Bucket")}
    for bucket in buckets.values():
        if not bucket.name.endswith("-logs"):
            continue
        grant = [s for s in statements(policy(policies[bucket.id])) if s["Sid"] == "S3ServerAccessLogs"][0]
        assert grant["Principal"] == {"Service": "logging.s3.amazonaws.com"}
        assert grant["Action"] == "s3:PutObject"
        source = buckets[bucket.name.removesuffix("-logs") + "-bucket"]
        assert grant["Condition"] == {"ArnLike": {"aws:SourceArn": source.outputs["arn"]},
                                      "StringEquals": {"aws:SourceAccount": TOOLING}}


# ---------------------------------------------------------------------------------------------
# Security: KMS


def test_every_key_rotates_and_has_an_explicit_policy_without_bare_star(plan):
    keys = of_type(plan, "aws:kms/key:Key")
    assert keys
    for key in keys:
        assert key.inputs["enableKeyRotation"] is True
        doc = policy(key)
        for s in statements(doc):
            principal = s["Principal"]
            assert principal != "*" and principal != {"AWS": "*"}, (key.name, s)
        admin = [s for s in statements(doc) if s["Sid"] == "ToolingAccountAdministers"][0]
        assert admin["Principal"] == {"AWS": f"arn:aws:iam::{TOOLING}:root"}
        assert not any(a in ("kms:*", "kms:Decrypt", "kms:Encrypt") for a in admin["Action"])
        use = [s for s in statements(doc) if s["Sid"] == "StackRolesUseKey"][0]
        env = plan.stack
        assert use["Condition"] == {"ArnLike": {"aws:PrincipalArn": f"arn:aws:iam::{TOOLING}:role/delivery/shop/{env}/*"}}


# ---------------------------------------------------------------------------------------------
# Security: IAM


def all_identity_statements(plan):
    for resource in of_type(plan, "aws:iam/rolePolicy:RolePolicy"):
        for s in statements(policy(resource)):
            yield resource, s


def test_no_star_actions_and_star_resources_only_where_nothing_else_exists(plan):
    for resource, s in all_identity_statements(plan):
        for action in as_list(s["Action"]):
            assert action != "*" and not action.endswith(":*"), (resource.name, s)
        if "*" in as_list(s["Resource"]):
            assert as_list(s["Action"]) == ["ecr:GetAuthorizationToken"], (resource.name, s)
        assert "iam:PassRole" not in as_list(s["Action"]), "no role of the program passes roles"


def test_roles_live_under_the_stack_path_and_trust_one_service_of_this_account(plan):
    for role in of_type(plan, "aws:iam/role:Role"):
        assert role.inputs["path"].startswith(f"/delivery/shop/{plan.stack}/")
        trust = statements(policy(role, "assumeRolePolicy"))
        assert len(trust) == 1
        principal = trust[0]["Principal"]
        assert principal not in ("*", {"AWS": "*"})
        if "Service" in principal:
            assert principal["Service"] in ("codebuild.amazonaws.com", "codepipeline.amazonaws.com",
                                            "ecr.amazonaws.com", "events.amazonaws.com")
            # ECR's documented trust for a repository-creation role has no condition.
            expected = None if principal["Service"] == "ecr.amazonaws.com" else {
                "StringEquals": {"aws:SourceAccount": TOOLING}}
            assert trust[0].get("Condition") == expected


VERIFY_PROJECT_ROLE = re.compile(r"(?<!-pipeline)-verify-role$")


def test_deployment_role_is_in_the_environment_account_and_trusts_only_verify_roles(plan):
    env_account = {"staging": STAGING, "prod": PROD}[plan.stack]
    role = [r for r in of_type(plan, "aws:iam/role:Role") if r.name == "deployment"][0]
    assert role.account == env_account
    trust = statements(policy(role, "assumeRolePolicy"))[0]
    assert trust["Principal"] == {"AWS": f"arn:aws:iam::{TOOLING}:root"}
    assert trust["Condition"] == {"ArnLike": {
        "aws:PrincipalArn": f"arn:aws:iam::{TOOLING}:role/delivery/shop/{plan.stack}/verify/*"}}
    # The verify CodeBuild roles (`<service>-verify-role`, one for all regions); the verify
    # pipelines' own roles (`<service>-pipeline-verify-role`) start builds and are not trusted.
    verify_roles = [r for r in of_type(plan, "aws:iam/role:Role") if VERIFY_PROJECT_ROLE.search(r.name)]
    assert verify_roles and all(r.inputs["path"] == f"/delivery/shop/{plan.stack}/verify/" for r in verify_roles)
    others = [r for r in of_type(plan, "aws:iam/role:Role") if r not in verify_roles and r.name != "deployment"]
    assert all("/verify/" not in r.inputs["path"] for r in others)
    provider = [r for r in plan.resources if r.type == "pulumi:providers:aws" and r.name == "environment"][0]
    assert provider.account == env_account


def test_each_build_role_pushes_only_to_its_own_repository(staging):
    urls = staging.outputs["ecrRepositoryArns"]
    for resource, s in all_identity_statements(staging):
        if s["Sid"] == "PushOwnRepository":
            service = resource.name.split("-")[0]
            assert s["Resource"] == urls[service], resource.name
            assert "ecr:PutImage" in s["Action"]


def test_each_build_role_reads_the_images_of_its_own_repository_only(staging):
    # What a rebuild needs to reuse the image its commit's tag has (gitops image-digest).
    arns = staging.outputs["ecrRepositoryArns"]
    readers = {}
    for resource, s in all_identity_statements(staging):
        if resource.name.endswith("-build-role-policy") and "ecr:DescribeImages" in as_list(s["Action"]):
            readers.setdefault(resource.name.split("-")[0], []).append(s["Resource"])
    assert readers == {service: [arn] for service, arn in arns.items()}


def test_only_resolve_promote_and_verify_roles_read_the_gitops_token(plan):
    # Resolve reads the upstream's proof (commit statuses, with the token) before the approval.
    readers = {r.name for r, s in all_identity_statements(plan) if "secretsmanager:GetSecretValue" in as_list(s["Action"])}
    assert readers
    assert all("-promote-" in n or "-verify-" in n or "-resolve-" in n for n in readers), readers
    assert any("-resolve-" in n for n in readers) == (plan.stack == "prod")


# ---------------------------------------------------------------------------------------------
# Security: CodeBuild


def test_projects_are_encrypted_logged_bounded_and_privileged_only_to_build_images(plan):
    keys = {r.outputs["arn"]: r for r in of_type(plan, "aws:kms/key:Key")}
    for project in of_type(plan, "aws:codebuild/project:Project"):
        inputs = project.inputs
        assert keys[inputs["encryptionKey"]].region == project.region
        assert inputs["logsConfig"]["cloudwatchLogs"]["status"] == "ENABLED"
        assert 0 < inputs["buildTimeout"] <= 60 and inputs["queuedTimeout"] <= 60
        privileged = inputs["environment"]["privilegedMode"]
        assert privileged == project.name.endswith("-build"), project.name
        assert (inputs["tags"].get("delivery:purpose") == "image-build") == privileged
        for variable in inputs["environment"]["environmentVariables"]:
            if variable["name"] == "GITOPS_TOKEN":
                assert variable["type"] == "SECRETS_MANAGER"
                assert project.region == variable["value"].split(":")[3]  # resolved in its own region
            elif variable["name"] == "GITOPS_TOKEN_SECRET_ARN":
                # Another region's secret: the name of the secret, never its value.
                assert variable["type"] == "PLAINTEXT" and variable["value"].startswith("arn:aws:secretsmanager:")
                assert project.region != variable["value"].split(":")[3]
            else:
                assert variable["type"] == "PLAINTEXT"
                assert not any(w in variable["name"] for w in ("TOKEN", "SECRET", "PASSWORD")) or \
                    variable["name"] == "TOOLS_BUNDLE"


def test_every_project_sets_the_variable_codebuild_would_add_so_the_second_up_shows_no_diff(plan):
    for project in of_type(plan, "aws:codebuild/project:Project"):
        variables = {v["name"]: v for v in project.inputs["environment"]["environmentVariables"]}
        assert variables["CODEBUILD_CONFIG_AUTO_DISCOVER"] == {
            "name": "CODEBUILD_CONFIG_AUTO_DISCOVER", "value": "true", "type": "PLAINTEXT"}


def test_log_groups_have_retention_and_are_encrypted_with_their_regions_key(plan):
    keys = {k.outputs["arn"]: k for k in of_type(plan, "aws:kms/key:Key")}
    for group in of_type(plan, "aws:cloudwatch/logGroup:LogGroup"):
        assert group.inputs["retentionInDays"] == 365  # a year of audit history (PCI DSS 10.5.1)
        key = keys[group.inputs["kmsKeyId"]]
        assert key.region == group.region
        (grant,) = [s for s in statements(policy(key)) if s["Sid"] == "CloudWatchLogsEncryptsBuildLogs"]
        assert grant["Principal"] == {"Service": f"logs.{group.region}.amazonaws.com"}
        pattern = grant["Condition"]["StringLike"]["kms:EncryptionContext:aws:logs:arn"]
        assert pattern == f"arn:aws:logs:{group.region}:{TOOLING}:log-group:/aws/codebuild/shop/{plan.stack}/*"
        assert group.outputs["arn"].startswith(pattern[:-1])


def test_each_project_writes_only_its_own_streams_in_its_regions_log_group(plan):
    groups = {g.inputs["name"] + "@" + g.region: g for g in of_type(plan, "aws:cloudwatch/logGroup:LogGroup")}
    role_policies = {r.name: r for r in of_type(plan, "aws:iam/rolePolicy:RolePolicy")}
    roles = {r.outputs["arn"]: r.name for r in of_type(plan, "aws:iam/role:Role")}
    own_streams: dict[str, set[str]] = {}
    for project in of_type(plan, "aws:codebuild/project:Project"):
        logs = project.inputs["logsConfig"]["cloudwatchLogs"]
        kind = project.inputs["name"].split(f"-{plan.stack}-", 1)[1]
        group = groups[logs["groupName"] + "@" + project.region]
        assert logs["streamName"] == kind
        own_streams.setdefault(roles[project.inputs["serviceRole"]], set()).add(
            f"{group.outputs['arn']}:log-stream:{kind}/*")
    # A role's grant is exactly the streams of the projects that run as it (the verify role: one
    # per region of the service).
    for role, streams in own_streams.items():
        (grant,) = [s for s in statements(policy(role_policies[f"{role}-policy"])) if s["Sid"] == "WriteOwnLogs"]
        resources = grant["Resource"] if isinstance(grant["Resource"], list) else [grant["Resource"]]
        assert sorted(resources) == sorted(streams), role


# ---------------------------------------------------------------------------------------------
# Security: ECR and SNS


def test_repositories_are_immutable_scanned_kms_and_pullable_only_by_environment_accounts(staging):
    repositories = of_type(staging, "aws:ecr/repository:Repository")
    assert sorted(r.inputs["name"] for r in repositories) == ["shop/api", "shop/web", "shop/worker"]
    for repository in repositories:
        assert repository.inputs["imageTagMutability"] == "IMMUTABLE"
        assert repository.inputs["imageScanningConfiguration"]["scanOnPush"] is True
        assert repository.inputs["encryptionConfigurations"][0]["encryptionType"] == "KMS"
    for repo_policy in of_type(staging, "aws:ecr/repositoryPolicy:RepositoryPolicy"):
        (grant,) = statements(policy(repo_policy))
        assert grant["Principal"] == {"AWS": [f"arn:aws:iam::{STAGING}:root", f"arn:aws:iam::{PROD}:root"]}
        assert not any(a.startswith("ecr:Put") or a.endswith("*") for a in grant["Action"])
    (replication,) = of_type(staging, "aws:ecr/replicationConfiguration:ReplicationConfiguration")
    rule = replication.inputs["replicationConfiguration"]["rules"][0]
    assert rule["destinations"] == [{"region": "eu-west-1", "registryId": TOOLING}]
    assert len(of_type(staging, "aws:ecr/lifecyclePolicy:LifecyclePolicy")) == 3


def test_replicas_get_the_same_policy_immutability_and_a_key_in_their_region(staging):
    (template,) = of_type(staging, "aws:ecr/repositoryCreationTemplate:RepositoryCreationTemplate")
    keys = {k.outputs["arn"]: k for k in of_type(staging, "aws:kms/key:Key")}
    (repository_policy, *_) = of_type(staging, "aws:ecr/repositoryPolicy:RepositoryPolicy")
    assert template.region == "eu-west-1" and template.inputs["appliedFors"] == ["REPLICATION"]
    # ECR stores the prefix without a trailing `/` (it always assumes one): an input with it would
    # differ from what AWS returns, and every later `pulumi up` would plan a replacement.
    assert template.inputs["prefix"] == "shop"
    for repository in of_type(staging, "aws:ecr/repository:Repository"):
        assert repository.inputs["name"].startswith(template.inputs["prefix"] + "/")
    assert template.inputs["imageTagMutability"] == "IMMUTABLE"
    assert template.inputs["repositoryPolicy"] == repository_policy.inputs["policy"]
    (encryption,) = template.inputs["encryptionConfigurations"]
    assert encryption["encryptionType"] == "KMS" and keys[encryption["kmsKey"]].region == "eu-west-1"
    creation_role = [r for r in of_type(staging, "aws:iam/role:Role") if r.outputs["arn"] == template.inputs["customRoleArn"]]
    assert statements(policy(creation_role[0], "assumeRolePolicy"))[0]["Principal"] == {"Service": "ecr.amazonaws.com"}


def alert_rules(plan):
    """The EventBridge rules of the notifications (a promoting stack also has the rules that start its
    pipelines, see below)."""
    (notifications,) = [r for r in plan.resources if r.type == "delivery:notify:Notifications"]
    return [r for r in of_type(plan, "aws:cloudwatch/eventRule:EventRule") if r.parent == notifications.urn]


def test_topics_are_encrypted_and_only_the_stacks_rules_publish_alerts(plan):
    keys = {r.outputs["arn"] for r in of_type(plan, "aws:kms/key:Key")}
    topics = of_type(plan, "aws:sns/topic:Topic")
    assert len(topics) == 2 and all(t.inputs["kmsMasterKeyId"] in keys for t in topics)
    rules = alert_rules(plan)
    (topic_policy,) = of_type(plan, "aws:sns/topicPolicy:TopicPolicy")
    rules_grant, alarms_grant = statements(policy(topic_policy))
    assert rules_grant["Principal"] == {"Service": "events.amazonaws.com"}
    assert sorted(rules_grant["Condition"]["ArnEquals"]["aws:SourceArn"]) == sorted(r.outputs["arn"] for r in rules)
    # The stack's CloudWatch alarms (components.monitoring), and no one else's.
    assert alarms_grant["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    assert alarms_grant["Condition"] == {
        "ArnLike": {"aws:SourceArn": f"arn:aws:cloudwatch:us-east-1:111111111111:alarm:shop-*-{plan.stack}-*"},
        "StringEquals": {"aws:SourceAccount": "111111111111"}}


def test_alert_rules_cover_failure_success_and_pending_approval(plan):
    patterns = {r.name.rsplit("-", 1)[-1]:
                json.loads(r.inputs["eventPattern"]) for r in alert_rules(plan)}
    assert patterns["failed"]["detail"]["state"] == ["FAILED"]
    assert patterns["succeeded"]["detail"]["state"] == ["SUCCEEDED"]
    assert patterns["approval"]["detail"]["type"] == {"category": ["Approval"]}
    for pattern in patterns.values():
        assert pattern["detail"]["pipeline"] == [{"wildcard": f"shop-*-{plan.stack}"},
                                                 {"wildcard": f"shop-*-{plan.stack}-verify"}]
    targets = [t for t in of_type(plan, "aws:cloudwatch/eventTarget:EventTarget")
               if t.inputs["rule"] in {r.inputs["name"] for r in alert_rules(plan)}]
    assert len(targets) == 3 and {t.inputs["arn"] for t in targets} == {plan.outputs["alertsTopicArn"]}


def wildcard_matches(pattern: str, value: str) -> bool:
    """EventBridge's `wildcard` filter: `*` matches any run of characters, everything else itself."""
    return re.fullmatch(".*".join(map(re.escape, pattern.split("*"))), value) is not None


def test_wildcard_matcher_reads_patterns_as_eventbridge_does():
    assert wildcard_matches("shop-*-prod", "shop-api-prod") and wildcard_matches("shop-*-prod", "shop-a-b-prod")
    assert not wildcard_matches("shop-*-prod", "shop-api-prod-verify")
    assert not wildcard_matches("shop-*-prod", "shop.api.prod") and not wildcard_matches("a.b", "axb")


def alerted_pipelines(plan) -> dict[str, set[str]]:
    """rule name -> the stack's pipeline names its `detail.pipeline` filter matches."""
    names = [p.inputs["name"] for p in of_type(plan, "aws:codepipeline/pipeline:Pipeline")]
    matched = {}
    for rule in alert_rules(plan):
        filters = json.loads(rule.inputs["eventPattern"])["detail"]["pipeline"]
        matched[rule.name] = {n for n in names if any(wildcard_matches(f["wildcard"], n) for f in filters)}
    return matched


def test_alert_rules_match_every_delivery_pipeline(plan):
    delivery = {p.inputs["name"] for p in of_type(plan, "aws:codepipeline/pipeline:Pipeline")
                if not p.inputs["name"].endswith("-verify")}
    assert all(matched >= delivery for matched in alerted_pipelines(plan).values())


def test_alert_rules_match_the_verify_pipelines(prod):
    verify = {p.inputs["name"] for p in of_type(prod, "aws:codepipeline/pipeline:Pipeline")
              if p.inputs["name"].endswith("-verify")}
    assert verify and all(matched >= verify for matched in alerted_pipelines(prod).values())


# ---------------------------------------------------------------------------------------------
# Pipelines


def pipelines(plan):
    return {p.inputs["name"]: p for p in of_type(plan, "aws:codepipeline/pipeline:Pipeline")}


def actions(pipeline):
    return {a["name"]: (stage["name"], a) for stage in pipeline.inputs["stages"] for a in stage["actions"]}


def test_staging_pipelines_build_test_scan_promote_verify(staging):
    found = pipelines(staging)
    assert sorted(found) == ["shop-api-staging", "shop-web-staging", "shop-worker-staging"]
    api = found["shop-api-staging"]
    assert api.inputs["pipelineType"] == "V2" and api.inputs["executionMode"] == "QUEUED"
    assert [s["name"] for s in api.inputs["stages"]] == ["Source", "Build", "Scan", "Promote", "Verify"]
    by_name = actions(api)
    assert by_name["BuildImage"][1]["runOrder"] == by_name["UnitTest"][1]["runOrder"] == 1
    assert by_name["BuildImage"][0] == by_name["UnitTest"][0] == "Build"
    assert by_name["BuildImage"][1]["namespace"] == "Build"
    promote_env = json.loads(by_name["PromoteImage"][1]["configuration"]["EnvironmentVariables"])
    assert {"name": "IMAGE_TAG", "value": "#{Build.IMAGE_TAG}", "type": "PLAINTEXT"} in promote_env
    assert {"name": "IMAGE_DIGEST", "value": "#{Build.IMAGE_DIGEST}", "type": "PLAINTEXT"} in promote_env
    source = by_name["Source"][1]["configuration"]
    assert source["FullRepositoryId"] == "acme/shop" and source["BranchName"] == "main"
    (trigger,) = api.inputs["triggers"]
    push = trigger["gitConfiguration"]["pushes"][0]
    assert push == {"branches": {"includes": ["main"]}, "filePaths": {"includes": ["services/api/**", "libs/**"]}}
    assert len(api.inputs["artifactStores"]) == 1


def test_prod_pipelines_resolve_approve_and_end_with_the_pull_request(prod):
    api = pipelines(prod)["shop-api-prod"]
    assert [s["name"] for s in api.inputs["stages"]] == ["Source", "Resolve", "Approval", "Promote"]
    by_name = actions(api)
    approve = by_name["Approve"][1]["configuration"]
    assert approve["NotificationArn"] == prod.outputs["approvalTopicArn"]
    assert "#{Resolve.TAG}" in approve["CustomData"] and "#{Resolve.DIGEST}" in approve["CustomData"]
    assert approve["ExternalEntityLink"].startswith("https://github.com/acme/shop-gitops/commit/")
    promote_env = {v["name"]: v["value"] for v in json.loads(by_name["PromoteImage"][1]["configuration"]["EnvironmentVariables"])}
    assert promote_env["IMAGE_TAG"] == "#{Resolve.TAG}" and promote_env["IMAGE_DIGEST"] == "#{Resolve.DIGEST}"
    # Every action runs in the home region: the pipeline needs that region's store only.
    (store,) = api.inputs["artifactStores"]
    assert store["encryptionKey"]["type"] == "KMS" and "region" not in store
    # No push starts it: staging's proof does (below).
    assert api.inputs["triggers"] == [] and by_name["Source"][1]["configuration"]["DetectChanges"] == "false"


def test_staging_proof_starts_the_prod_pipeline(prod):
    """A prod pipeline starts when staging's pipeline that verifies the service succeeds (every
    verify action wrote its success status by then); the rule's role may start that pipeline only."""
    by_arn = {p.outputs["arn"]: p.inputs["name"] for p in of_type(prod, "aws:codepipeline/pipeline:Pipeline")}
    rules = {r.inputs["name"]: r for r in of_type(prod, "aws:cloudwatch/eventRule:EventRule") if r not in alert_rules(prod)}
    assert sorted(rules) == ["shop-api-prod", "shop-web-prod", "shop-worker-prod"]
    roles = {r.outputs["arn"]: r for r in of_type(prod, "aws:iam/role:Role")}
    policies = {p.inputs["role"]: p for p in of_type(prod, "aws:iam/rolePolicy:RolePolicy")}
    for name, rule in rules.items():
        service = name.split("-")[1]
        assert json.loads(rule.inputs["eventPattern"]) == {
            "source": ["aws.codepipeline"], "detail-type": ["CodePipeline Pipeline Execution State Change"],
            "account": [TOOLING], "detail": {"pipeline": [f"shop-{service}-staging", f"shop-{service}-staging-verify"],
                                             "state": ["SUCCEEDED"]}}
        (target,) = [t for t in of_type(prod, "aws:cloudwatch/eventTarget:EventTarget") if t.inputs["rule"] == name]
        assert by_arn[target.inputs["arn"]] == name
        role = roles[target.inputs["roleArn"]]
        assert statements(policy(role, "assumeRolePolicy"))[0]["Principal"] == {"Service": "events.amazonaws.com"}
        (grant,) = statements(policy(policies[role.id]))
        assert (grant["Action"], grant["Resource"]) == (["codepipeline:StartPipelineExecution"], target.inputs["arn"])


def test_the_merge_into_prod_starts_a_verify_pipeline_with_one_action_per_region(prod):
    found = pipelines(prod)
    assert sorted(n for n in found if n.endswith("-verify")) == [
        "shop-api-prod-verify", "shop-web-prod-verify", "shop-worker-prod-verify"]
    api = found["shop-api-prod-verify"]
    assert api.inputs["pipelineType"] == "V2"
    assert [s["name"] for s in api.inputs["stages"]] == ["Source", "Verify"]
    by_name = actions(api)
    source = by_name["Source"][1]["configuration"]
    assert source["FullRepositoryId"] == "acme/shop-gitops" and source["BranchName"] == "main"
    (trigger,) = api.inputs["triggers"]
    assert trigger["gitConfiguration"]["pushes"] == [
        {"branches": {"includes": ["main"]}, "filePaths": {"includes": ["envs/prod/api/**"]}}]
    # Each region's action runs there, on that region's project, verifying the merge commit.
    for region in ("us-east-1", "eu-west-1"):
        config = by_name[f"Verify-{region}"][1]["configuration"]
        assert config["ProjectName"] == f"shop-api-prod-verify-{region}"
        variables = {v["name"]: v["value"] for v in json.loads(config["EnvironmentVariables"])}
        assert variables == {"REVISION": "#{Source.CommitId}", "EXECUTION_ID": "#{codepipeline.PipelineExecutionId}"}
    assert by_name["Verify-eu-west-1"][1]["region"] == "eu-west-1" and "region" not in by_name["Verify-us-east-1"][1]
    stores = {s["region"]: s for s in api.inputs["artifactStores"]}
    assert set(stores) == {"us-east-1", "eu-west-1"}
    assert {s["location"] for s in stores.values()} == {prod.outputs["artifactBuckets"][r] for r in stores}
    # web runs in us-east-1 only: one action, one store.
    web = found["shop-web-prod-verify"]
    assert list(actions(web)) == ["Source", "Verify-us-east-1"] and len(web.inputs["artifactStores"]) == 1
    assert prod.outputs["verifyPipelines"]["api"]["name"] == "shop-api-prod-verify"


def test_verify_pipeline_role_runs_only_its_builds_and_publishes_nothing(prod):
    role_policy = [r for r in of_type(prod, "aws:iam/rolePolicy:RolePolicy")
                   if r.name == "api-pipeline-verify-role-policy"][0]
    granted = {s["Sid"]: s for s in statements(policy(role_policy))}
    assert set(granted) == {"UseSourceConnection", "RunOwnBuilds", "ReadWriteArtifacts", "InspectArtifactBuckets",
                            "UseArtifactKeys"}
    projects = {p.inputs["name"]: p.outputs["arn"] for p in of_type(prod, "aws:codebuild/project:Project")}
    assert set(granted["RunOwnBuilds"]["Resource"]) == {
        projects["shop-api-prod-verify-us-east-1"], projects["shop-api-prod-verify-eu-west-1"]}
    assert set(as_list(granted["UseArtifactKeys"]["Resource"])) == set(prod.outputs["artifactKeys"].values())


def test_staging_keeps_verify_in_its_own_pipeline(staging):
    assert "verifyPipelines" in staging.outputs and staging.outputs["verifyPipelines"] == {}
    api = pipelines(staging)["shop-api-staging"]
    verify = actions(api)["Verify-us-east-1"][1]["configuration"]
    variables = {v["name"]: v["value"] for v in json.loads(verify["EnvironmentVariables"])}
    assert variables["REVISION"] == "#{Promote.COMMIT_SHA}"


def test_verify_projects_run_in_their_region_with_its_artifact_key(prod):
    projects = {p.inputs["name"]: p for p in of_type(prod, "aws:codebuild/project:Project")}
    for name, project in projects.items():
        if "-verify-" in name:
            assert project.region == name.split("-verify-")[1]


def test_pipeline_role_may_start_only_the_builds_of_its_actions(plan):
    roles = {r.outputs["arn"]: r for r in of_type(plan, "aws:iam/role:Role")}
    role_policies = {r.inputs["role"]: r for r in of_type(plan, "aws:iam/rolePolicy:RolePolicy")}
    projects = {p.inputs["name"]: p.outputs["arn"] for p in of_type(plan, "aws:codebuild/project:Project")}
    for pipeline in of_type(plan, "aws:codepipeline/pipeline:Pipeline"):
        role = roles[pipeline.inputs["roleArn"]]
        builds = [s for s in statements(policy(role_policies[role.id])) if s["Sid"] == "RunOwnBuilds"][0]
        run = {a["configuration"]["ProjectName"] for _, a in actions(pipeline).values() if "ProjectName" in a["configuration"]}
        assert run and set(as_list(builds["Resource"])) == {projects[name] for name in run}, pipeline.inputs["name"]


# ---------------------------------------------------------------------------------------------
# Environments


def test_every_aws_resource_goes_through_an_account_pinned_provider_with_the_stack_tags(plan):
    providers = {r.urn: r for r in plan.resources if r.type == "pulumi:providers:aws"}
    assert {p.name for p in providers.values()} == {"tooling", "environment"}
    env_account = {"staging": STAGING, "prod": PROD}[plan.stack]
    for provider in providers.values():
        expected = TOOLING if provider.name == "tooling" else env_account
        assert provider.account == expected
        assert json.loads(provider.inputs["allowedAccountIds"]) == [expected]
        tags = json.loads(provider.inputs["defaultTags"])["tags"]
        assert tags["environment"] == plan.stack and tags["managed-by"] == "delivery-pipeline"
    for resource in plan.resources:
        if resource.type.startswith("aws:"):
            assert resource.provider in providers, resource.urn
            assert resource.account == providers[resource.provider].account


def test_staging_owns_the_registry_and_prod_reads_no_other_stack(staging, prod):
    """Prod's steps (resolve, promote, verify) name no repository: reading staging's outputs would
    only make prod's `pulumi up` fail where staging lacks one of its services."""
    assert of_type(staging, "aws:ecr/repository:Repository")
    assert not of_type(prod, "aws:ecr/repository:Repository")
    assert not of_type(prod, "pulumi:pulumi:StackReference")
    assert "REPOSITORY" not in json.dumps([p.inputs for p in of_type(prod, "aws:codebuild/project:Project")])


def test_artifact_stores_exist_exactly_where_actions_run(staging, prod):
    assert set(staging.outputs["artifactBuckets"]) == {"us-east-1"}
    assert set(prod.outputs["artifactBuckets"]) == {"us-east-1", "eu-west-1"}
    for bucket in of_type(prod, "aws:s3/bucket:Bucket"):
        assert bucket.account == TOOLING


def test_stack_outputs_name_what_a_user_needs(plan):
    outputs = plan.outputs
    api = outputs["pipelines"]["api"]
    assert api["name"] == f"shop-api-{plan.stack}"
    assert api["consoleUrl"].startswith("https://us-east-1.console.aws.amazon.com/codesuite/codepipeline/pipelines/")
    assert api["roleArn"].startswith(f"arn:aws:iam::{TOOLING}:role/delivery/shop/{plan.stack}/")
    for key in ("artifactBuckets", "deploymentRoleArn", "alertsTopicArn", "approvalTopicArn"):
        assert outputs[key]


def test_resource_counts_scale_with_services(plan):
    counts = Counter(r.type for r in plan.resources)
    services = len(plan.outputs["pipelines"])
    # Pull-request mode (prod) adds each service's verify pipeline.
    assert counts["aws:codepipeline/pipeline:Pipeline"] == services * {"staging": 1, "prod": 2}[plan.stack]
    assert counts["delivery:build:BuildProjects"] == services


def test_verify_outside_the_secrets_region_gets_the_secret_arn_not_a_cross_region_secret_variable(prod):
    # AWS documents no cross-region resolution of a SECRETS_MANAGER environment variable.
    away = [p for p in of_type(prod, "aws:codebuild/project:Project") if p.region == "eu-west-1"]
    assert away
    for project in away:
        names = {v["name"]: v["type"] for v in project.inputs["environment"]["environmentVariables"]}
        assert names.get("GITOPS_TOKEN_SECRET_ARN") == "PLAINTEXT" and "GITOPS_TOKEN" not in names
