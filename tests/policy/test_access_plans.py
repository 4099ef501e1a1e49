"""Access paths over the program's real plans: every required path allowed, every forbidden one
denied, and weakening a real policy of either plan is caught, for each kind of denial and each
kind of forbidden allow."""

from __future__ import annotations

import dataclasses
import json

import pytest

from offline import plan as offline_plan
from tests.conftest import STACKS, cached_plan
from policy.access.model import REQUIRED, forbidden, Ref, Role
from policy.access.planned import evaluate_paths, summary


def _paths(plan):
    return [result.path for result in plan.access]


def _edit(resources, type_, name, key, change):
    """The resources with the JSON document `key` of one resource passed through `change`."""
    target = next(r for r in resources if r.type == type_ and r.name == name)
    document = json.loads(target.inputs[key])
    change(document)
    edited = dataclasses.replace(target, inputs={**target.inputs, key: json.dumps(document)})
    return [edited if r is target else r for r in resources]


def _without_sid(sid):
    def change(document):
        before = len(document["Statement"])
        document["Statement"] = [s for s in document["Statement"] if s.get("Sid") != sid]
        assert len(document["Statement"]) == before - 1, f"no statement {sid}"
    return change


def _statement(sid, change):
    def edit(document):
        change(next(s for s in document["Statement"] if s.get("Sid") == sid))
    return edit


def _failures(plan, resources):
    return [r for r in evaluate_paths(resources, _paths(plan)) if not r.ok]


@pytest.mark.parametrize("stack", STACKS)
def test_every_required_path_is_allowed_and_every_forbidden_one_denied(stack):
    plan = cached_plan(stack)
    assert plan.access, "the plan evaluated no access paths"
    assert all(result.ok for result in plan.access), "\n".join(summary(plan.access))
    kinds = {result.path.expect for result in plan.access}
    assert kinds == {"required", "forbidden"}
    assert plan.to_json()["access"][0].keys() >= {"expect", "verdict", "principal", "action", "resource",
                                                  "description", "reasons"}


@pytest.mark.parametrize("stack", STACKS)
def test_every_role_and_project_of_the_plan_is_in_some_path(stack):
    plan = cached_plan(stack)
    named = {r.path.principal.ref.name for r in plan.access if isinstance(r.path.principal, Role)}
    named |= {r.path.resource.name for r in plan.access if isinstance(r.path.resource, Ref)}
    roles = {r.name for r in plan.by_type("aws:iam/role:Role")}
    projects = {r.name for r in plan.by_type("aws:codebuild/project:Project")}
    assert roles - named == set() and projects - named == set()


# -- each kind of denial -----------------------------------------------------------------------

@pytest.mark.parametrize("stack", STACKS)
def test_an_identity_policy_missing_a_grant_is_caught(stack):
    plan = cached_plan(stack)
    resources = _edit(plan.resources, "aws:iam/rolePolicy:RolePolicy", "api-pipeline-role-policy", "policy",
                      _without_sid("UseArtifactKeys"))
    failures = _failures(plan, resources)
    assert failures and all(f.path.expect == REQUIRED and "api-pipeline-role" in f.principal for f in failures)
    assert any(reason.startswith("the identity policy of arn:aws:iam::111111111111:role/") and "api-pipeline-role"
               in reason and " allows no kms:" in reason for f in failures for reason in f.reasons)


@pytest.mark.parametrize("stack", STACKS)
def test_a_key_policy_that_does_not_allow_is_caught_whatever_the_identity_policy_says(stack):
    plan = cached_plan(stack)
    resources = _edit(plan.resources, "aws:kms/key:Key", "artifacts-us-east-1-key", "policy",
                      _without_sid("StackRolesUseKey"))
    failures = _failures(plan, resources)
    reads = [f for f in failures if f.path.action == "kms:Decrypt" and "pipeline-role" in f.principal]
    assert reads, "\n".join(summary(failures))
    assert "key policy of artifacts-us-east-1-key has no statement allowing" in reads[0].reasons[-1]


@pytest.mark.parametrize("stack", STACKS)
def test_a_trust_policy_that_does_not_allow_across_accounts_is_caught(stack):
    plan = cached_plan(stack)
    resources = _edit(plan.resources, "aws:iam/role:Role", "deployment", "assumeRolePolicy", _statement(
        "AssumedByVerifyRoles", lambda s: s["Condition"]["ArnLike"].update(
            {"aws:PrincipalArn": "arn:aws:iam::111111111111:role/elsewhere/*"})))
    failures = _failures(plan, resources)
    assumes = [f for f in failures if f.path.action == "sts:AssumeRole"]
    assert assumes and all("verify" in f.principal for f in assumes)
    assert all("trust policy of" in f.reasons[-1] and "aws:PrincipalArn" in f.reasons[-1] for f in assumes)


@pytest.mark.parametrize("stack", STACKS)
def test_a_resource_policy_no_longer_admitting_a_service_is_caught(stack):
    plan = cached_plan(stack)
    resources = _edit(plan.resources, "aws:sns/topicPolicy:TopicPolicy", "notifications-alerts-policy", "policy",
                      _statement("EventBridgeRulesPublish", lambda s: s["Condition"]["ArnEquals"].update(
                          {"aws:SourceArn": ["arn:aws:events:us-east-1:111111111111:rule/other"]})))
    failures = _failures(plan, resources)
    assert len(failures) == 3 and all(f.principal == "events.amazonaws.com" for f in failures)
    assert all("ArnEquals" in f.reasons[0] for f in failures)


@pytest.mark.parametrize("stack", STACKS)
def test_an_explicit_deny_is_caught(stack):
    plan = cached_plan(stack)
    bucket = next(r for r in plan.by_type("aws:s3/bucket:Bucket") if r.name == "artifacts-us-east-1-bucket")
    resources = _edit(plan.resources, "aws:s3/bucketPolicy:BucketPolicy", "artifacts-us-east-1-bucket-policy",
                      "policy", lambda d: d["Statement"].append(
                          {"Sid": "DenyReads", "Effect": "Deny", "Principal": "*", "Action": "s3:GetObject",
                           "Resource": bucket.outputs["arn"] + "/*"}))
    failures = _failures(plan, resources)
    assert failures and all(f.path.action == "s3:GetObject" for f in failures)
    assert all(f.reasons == (f"explicit deny in bucket policy of {bucket.outputs['bucket']} (DenyReads)",)
               for f in failures if f.path.expect == REQUIRED)


# -- each kind of forbidden allow -------------------------------------------------------------

def _caught(plan, resources, description_part):
    failures = _failures(plan, resources)
    assert failures, "the weakened policy went unnoticed"
    assert all(f.path.expect == "forbidden" for f in failures), "\n".join(summary(failures))
    assert any(description_part in f.path.description for f in failures), "\n".join(summary(failures))
    return failures


@pytest.mark.parametrize("stack", STACKS)
def test_a_trust_open_to_every_stack_role_is_caught_once_a_role_also_asks(stack):
    plan = cached_plan(stack)
    everyone = f"arn:aws:iam::111111111111:role/delivery/shop/{stack}/*"
    resources = _edit(plan.resources, "aws:iam/role:Role", "deployment", "assumeRolePolicy", _statement(
        "AssumedByVerifyRoles", lambda s: s["Condition"]["ArnLike"].update({"aws:PrincipalArn": everyone})))
    # Across accounts both sides must allow: the wider trust alone lets no other role in.
    assert _failures(plan, resources) == []
    deployment = next(r for r in plan.by_type("aws:iam/role:Role") if r.name == "deployment").outputs["arn"]
    resources = _edit(resources, "aws:iam/rolePolicy:RolePolicy", "api-promote-role-policy", "policy",
                      lambda d: d["Statement"].append({"Sid": "Assume", "Effect": "Allow", "Action": "sts:AssumeRole",
                                                       "Resource": deployment}))
    failures = _caught(plan, resources, "the api promote build assumes the deployment role")
    assert [f.reasons for f in failures] == [("identity policy api-promote-role-policy (Assume)",
                                              "trust policy of deployment (AssumedByVerifyRoles)")]


@pytest.mark.parametrize("stack", STACKS)
def test_builds_of_another_service_are_caught(stack):
    plan = cached_plan(stack)
    resources = _edit(plan.resources, "aws:iam/rolePolicy:RolePolicy", "api-pipeline-role-policy", "policy",
                      _statement("RunOwnBuilds", lambda s: s.update(
                          {"Resource": "arn:aws:codebuild:*:111111111111:project/*"})))
    _caught(plan, resources, "starts the promote build of web")


@pytest.mark.parametrize("stack,sid,description", [
    ("staging", "DenyInsecureTransport", "reads artifacts without TLS"),
    ("prod", "DenyInsecureTransport", "reads artifacts without TLS"),
    ("staging", "DenyPutsNotEncryptedWithKms", "puts an artifact with SSE-S3"),
    ("prod", "DenyPutsNotEncryptedWithKms", "puts an artifact without naming its encryption"),
])
def test_a_bucket_policy_without_its_denials_is_caught(stack, sid, description):
    plan = cached_plan(stack)
    resources = _edit(plan.resources, "aws:s3/bucketPolicy:BucketPolicy", "artifacts-us-east-1-bucket-policy",
                      "policy", _without_sid(sid))
    _caught(plan, resources, description)


@pytest.mark.parametrize("stack", STACKS)
def test_a_key_shared_with_an_unrelated_account_is_caught(stack):
    plan = cached_plan(stack)
    resources = _edit(plan.resources, "aws:kms/key:Key", "artifacts-us-east-1-key", "policy",
                      lambda d: d["Statement"].append({"Sid": "Partner", "Effect": "Allow",
                                                       "Principal": {"AWS": "arn:aws:iam::999999999999:root"},
                                                       "Action": "kms:Decrypt", "Resource": "*"}))
    _caught(plan, resources, "an unrelated account decrypts with the artifact key")


def test_a_repository_open_to_everyone_is_caught():
    plan = cached_plan("staging")
    resources = _edit(plan.resources, "aws:ecr/repositoryPolicy:RepositoryPolicy", "registry-api-policy", "policy",
                      _statement("EnvironmentAccountsPull", lambda s: s.update({"Principal": "*"})))
    _caught(plan, resources, "an unrelated account pulls the api image")


@pytest.mark.parametrize("sid,description", [("PushOwnRepository", "pushes into the web repository"),
                                             ("ReadOwnImages", "reads the images of the web repository")])
def test_a_build_role_reaching_into_another_services_repository_is_caught(sid, description):
    plan = cached_plan("staging")
    resources = _edit(plan.resources, "aws:iam/rolePolicy:RolePolicy", "api-build-role-policy", "policy",
                      _statement(sid, lambda s: s.update(
                          {"Resource": "arn:aws:ecr:us-east-1:111111111111:repository/shop/*"})))
    _caught(plan, resources, description)


def test_a_build_role_that_cannot_read_its_own_images_fails_the_plan():
    plan = cached_plan("staging")
    resources = _edit(plan.resources, "aws:iam/rolePolicy:RolePolicy", "api-build-role-policy", "policy",
                      _without_sid("ReadOwnImages"))
    [failure] = _failures(plan, resources)
    assert (failure.path.expect, failure.path.action, failure.path.description) == (
        "required", "ecr:DescribeImages",
        "the api build build reads the digest its commit's tag has (a rebuild reuses the image)")


@pytest.mark.parametrize("stack", STACKS)
def test_logs_into_another_services_log_group_are_caught(stack):
    plan = cached_plan(stack)
    resources = _edit(plan.resources, "aws:iam/rolePolicy:RolePolicy", "api-promote-role-policy", "policy",
                      _statement("WriteOwnLogs", lambda s: s.update(
                          {"Resource": "arn:aws:logs:us-east-1:111111111111:log-group:/aws/codebuild/*"})))
    _caught(plan, resources, "writes into the web log group")


@pytest.mark.parametrize("stack,kind", [("staging", "test"), ("staging", "scan")])
def test_a_secret_read_by_a_project_that_does_not_name_it_is_caught(stack, kind):
    plan = cached_plan(stack)
    secret = "arn:aws:secretsmanager:us-east-1:111111111111:secret:delivery/gitops-token-AbC123"
    resources = _edit(plan.resources, "aws:iam/rolePolicy:RolePolicy", f"api-{kind}-role-policy", "policy",
                      lambda d: d["Statement"].append({"Sid": "ReadGitOpsToken", "Effect": "Allow",
                                                       "Action": "secretsmanager:GetSecretValue",
                                                       "Resource": secret}))
    _caught(plan, resources, f"the api {kind} build reads the GitOps token")


# -- the command line -------------------------------------------------------------------------

def test_a_failing_path_fails_the_plan_with_exit_3_and_is_listed(monkeypatch, capsys):
    hooks = offline_plan.plan_hooks(offline_plan.REPO_ROOT)
    pipeline_role = Role(Ref("aws:iam/role:Role", "api-pipeline-role"))
    wrong = forbidden(
        pipeline_role, "codeconnections:UseConnection",
        "arn:aws:codeconnections:us-east-1:111111111111:connection/6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b",
        "the api pipeline uses the connection (declared forbidden to fail the plan)")
    monkeypatch.setattr(offline_plan, "plan_hooks", lambda project_dir: dataclasses.replace(
        hooks, access_paths=lambda: [*hooks.access_paths(), wrong]))
    assert offline_plan.main(["--stack", "staging"]) == 3
    out = capsys.readouterr().out
    assert "1 failed" in out
    assert "allowed but forbidden: the api pipeline uses the connection" in out
    assert "identity policy api-pipeline-role-policy (UseSourceConnection)" in out
