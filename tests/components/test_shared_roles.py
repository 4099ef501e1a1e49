"""The verify steps of a service share one role: its statements are the union of the per-region
roles' statements, each naming only its own region's resources; nothing else is merged."""

from __future__ import annotations

import json

import pytest

from components.iam import merged_statements, statement
from tests.conftest import cached_plan


def role_policy(plan, name: str) -> dict[str, dict]:
    policy = next(r for r in plan.by_type("aws:iam/rolePolicy:RolePolicy") if r.name == f"{name}-policy")
    return {s["Sid"]: s for s in json.loads(policy.inputs["policy"])["Statement"]}


def test_the_verify_role_names_each_regions_own_streams_artifacts_and_key():
    plan = cached_plan("prod")
    statements = role_policy(plan, "api-verify-role")
    groups = {r.region: r.outputs["arn"] for r in plan.by_type("aws:cloudwatch/logGroup:LogGroup")
              if r.name.startswith("api-logs-")}
    assert statements["WriteOwnLogs"]["Resource"] == [
        f"{groups[region]}:log-stream:verify-{region}/*" for region in ("us-east-1", "eu-west-1")]
    keys = {r.region: r.outputs["arn"] for r in plan.by_type("aws:kms/key:Key") if r.name.startswith("artifacts-")}
    assert statements["UseArtifactKey"]["Resource"] == [keys["us-east-1"], keys["eu-west-1"]]
    # The token and the deployment role are one resource each, named once as written.
    assert isinstance(statements["AssumeDeploymentRole"]["Resource"], str)
    assert isinstance(statements["ReadGitOpsToken"]["Resource"], str)


def test_both_verify_projects_run_as_the_one_role_and_other_steps_keep_their_own():
    plan = cached_plan("prod")
    roles = {r.inputs["name"]: r.inputs["serviceRole"] for r in plan.by_type("aws:codebuild/project:Project")
             if r.inputs["name"].startswith("shop-api-prod-")}
    verify = {roles["shop-api-prod-verify-us-east-1"], roles["shop-api-prod-verify-eu-west-1"]}
    assert len(verify) == 1
    assert len({roles["shop-api-prod-resolve"], roles["shop-api-prod-promote"], *verify}) == 3
    # A single-region service's verify role is the per-region role it was, statements unchanged.
    web = role_policy(plan, "web-verify-role")
    assert isinstance(web["WriteOwnLogs"]["Resource"], str) and web["WriteOwnLogs"]["Resource"].endswith(
        ":log-stream:verify-us-east-1/*")


def test_merging_joins_resources_of_alike_statements_and_refuses_different_ones():
    a = statement("Read", ["s3:GetObject"], "arn:aws:s3:::a/*")
    b = statement("Read", ["s3:GetObject"], ["arn:aws:s3:::b/*", "arn:aws:s3:::a/*"])
    other = statement("Token", ["secretsmanager:GetSecretValue"], "arn:t")
    assert merged_statements([a, other, b, other]) == [
        {**a, "Resource": ["arn:aws:s3:::a/*", "arn:aws:s3:::b/*"]}, other]
    with pytest.raises(ValueError, match="Read differ in more than their resources"):
        merged_statements([a, statement("Read", ["s3:PutObject"], "arn:aws:s3:::c/*")])
