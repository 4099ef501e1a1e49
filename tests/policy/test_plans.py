"""The pack against the program's real offline plans: zero violations, and weakening a real
resource is caught (so the rules read the shapes the program really registers)."""

from __future__ import annotations

import dataclasses
import json

import pytest

from tests.conftest import cached_plan
from policy.offline import evaluate, summary


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_plan_has_no_violations(stack):
    plan = cached_plan(stack)
    assert plan.policy_ran
    assert plan.violations == [], summary(plan.violations)
    assert "violations" in plan.to_json()


def _weaken(resources, type_, **inputs):
    """The resources with the first resource of `type_` given `inputs` (and, as the engine would
    report them, outputs); and that resource's name. Stack rules read outputs."""
    target = next(r for r in resources if r.type == type_)
    changed = dataclasses.replace(target, inputs={**target.inputs, **inputs}, outputs={**target.outputs, **inputs})
    return [changed if r is target else r for r in resources], target.name


@pytest.mark.parametrize("type_,inputs,policy", [
    ("aws:kms/key:Key", {"enableKeyRotation": False}, "kms-key-rotation"),
    ("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", {"ignorePublicAcls": False}, "s3-public-access-block"),
    ("aws:s3/bucketVersioning:BucketVersioning", {"versioningConfiguration": {"status": "Suspended"}}, "s3-versioning"),
    ("aws:codepipeline/pipeline:Pipeline", {"pipelineType": "V1"}, "codepipeline-v2"),
    ("aws:codebuild/project:Project", {"queuedTimeout": None}, "codebuild-timeouts"),
    ("aws:iam/rolePolicy:RolePolicy", {"policy": json.dumps({"Version": "2012-10-17", "Statement": [
        {"Sid": "All", "Effect": "Allow", "Action": "*", "Resource": "*"}]})}, "iam-no-wildcard-action"),
    ("kubernetes:argoproj.io/v1alpha1:AppProject", {"spec": {"sourceRepos": ["*"], "destinations": []}},
     "argocd-appproject-scoped"),
])
def test_weakening_a_real_resource_is_caught(type_, inputs, policy):
    plan = cached_plan("staging")
    weakened, name = _weaken(plan.resources, type_, **inputs)
    found = [v for v in evaluate(weakened) if v.policy == policy]
    assert found, f"{policy} missed the weakened {type_} {name}"
    assert all(v.mandatory for v in found)


def test_every_real_bucket_is_joined_to_its_configuration():
    """Dropping one bucket's versioning resource is reported on exactly that bucket."""
    plan = cached_plan("staging")
    versioning = next(r for r in plan.resources if r.type == "aws:s3/bucketVersioning:BucketVersioning")
    found = [v for v in evaluate([r for r in plan.resources if r is not versioning]) if v.policy == "s3-versioning"]
    assert [v.name for v in found] == [versioning.name.removesuffix("-versioning")]
