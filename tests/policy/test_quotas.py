"""The quota model on every limit it knows: a generated plan at the limit passes, one past it is a
request (adjustable, within its maximum) or a breach (hard, or past the maximum); counts of other
stacks in the same account add up; the CLI prints the verdicts and exits 3 on a breach."""

from __future__ import annotations

import json
import subprocess

import pytest

from policy.quotas.limits import ACCOUNT, LIMITS, REGION, RESOURCE, Limit
from policy.quotas.usage import (BREACH, COUNTED, OK, REQUEST, OtherPlanError, dashboard_counts, evaluate,
                                 iam_size, other_plan, summary)
from tests.conftest import cached_plan, stack_data

ACCOUNT_ID, REGION_NAME = "111111111111", "us-east-1"


def resource(type_: str, name: str, inputs: dict | None = None, region: str = REGION_NAME) -> dict:
    return {"type": type_, "name": name, "inputs": inputs or {}, "outputs": {"name": name},
            "account": ACCOUNT_ID, "region": region}


def iam_document(size: int) -> str:
    """A policy document IAM counts as `size` characters (its Sid padded to fit)."""
    empty = {"Version": "2012-10-17", "Statement": [{"Sid": "", "Effect": "Allow", "Action": "s3:GetObject",
                                                     "Resource": "*"}]}
    empty["Statement"][0]["Sid"] = "A" * (size - iam_size(empty))
    # Indented as the program's documents are: white space between tokens is not counted.
    return json.dumps(empty, indent=2)


def padded(size: int) -> str:
    """A JSON document of exactly `size` characters (and bytes)."""
    return json.dumps({"p": "x" * (size - len(json.dumps({"p": ""})))})


def dashboard(widgets: int, metrics: list[int]) -> str:
    body = {"widgets": [{"type": "metric", "properties": {"metrics": [
        ["AWS/CodeBuild", "Duration", "ProjectName", f"p{i}-{j}"] for j in range(count)]}}
        for i, count in enumerate(metrics)]}
    body["widgets"] += [{"type": "text", "properties": {"markdown": "x"}}] * (widgets - len(metrics))
    return json.dumps(body)


ROLE = "aws:iam/role:Role"
COUNT_TYPES = {limit: type_ for type_, limit in COUNTED.items()}


def using(limit: Limit, amount: int) -> tuple[list[dict], list[dict]]:
    """(resources, other plans' quotas) whose use of `limit` is `amount`. A count is two planned
    resources, the rest another stack's (a million log groups need not be generated)."""
    if limit.scope != RESOURCE:
        planned = min(amount, 2)
        if limit.id in ("events-rules", "events-wildcard-rules"):
            pattern = {"detail": {"pipeline": [{"wildcard": "shop-*-prod"}]}} if limit.id == "events-wildcard-rules" \
                else {"source": ["aws.codepipeline"]}
            made = [resource("aws:cloudwatch/eventRule:EventRule", f"rule{i}", {"eventPattern": json.dumps(pattern)})
                    for i in range(planned)]
        else:
            made = [resource(COUNT_TYPES[limit.id], f"r{i}") for i in range(planned)]
        other = {"results": [{"id": limit.id, "account": ACCOUNT_ID,
                              "region": REGION_NAME if limit.scope == REGION else None, "used": amount - planned}]}
        return made, [other]
    role = resource(ROLE, "big-role", {"assumeRolePolicy": iam_document(200)})
    sized = {
        "iam-managed-policy-size": lambda: [resource("aws:iam/policy:Policy", "approvers",
                                                     {"policy": iam_document(amount)})],
        "iam-trust-policy-length": lambda: [resource(ROLE, "big-role", {"assumeRolePolicy": iam_document(amount)})],
        # Two inline policies: their sizes add up.
        "iam-role-inline-policy-size": lambda: [role] + [
            resource("aws:iam/rolePolicy:RolePolicy", f"p{i}", {"role": "big-role", "policy": iam_document(part)})
            for i, part in enumerate((amount // 2, amount - amount // 2))],
        "iam-policies-per-role": lambda: [role] + [
            resource("aws:iam/rolePolicyAttachment:RolePolicyAttachment", f"a{i}",
                     {"role": "big-role", "policyArn": f"arn:aws:iam::aws:policy/P{i}"}) for i in range(amount)],
        "kms-key-policy-size": lambda: [resource("aws:kms/key:Key", "key", {"policy": padded(amount)})],
        "s3-bucket-policy-size": lambda: [resource("aws:s3/bucketPolicy:BucketPolicy", "policy",
                                                   {"policy": padded(amount)})],
        "events-pattern-size": lambda: [resource("aws:cloudwatch/eventRule:EventRule", "rule",
                                                 {"eventPattern": padded(amount)})],
        "cloudwatch-dashboard-widgets": lambda: [resource("aws:cloudwatch/dashboard:Dashboard", "d",
                                                          {"dashboardBody": dashboard(amount, [1])})],
        "cloudwatch-widget-metrics": lambda: [resource("aws:cloudwatch/dashboard:Dashboard", "d",
                                                       {"dashboardBody": dashboard(1, [amount])})],
        "cloudwatch-dashboard-metrics": lambda: [resource("aws:cloudwatch/dashboard:Dashboard", "d", {
            "dashboardBody": dashboard(6, [min(500, amount - 500 * i) for i in range(-(-amount // 500))])})],
    }
    return sized[limit.id](), []


def verdict(limit: Limit, amount: int):
    resources, others = using(limit, amount)
    [result] = [r for r in evaluate(resources, others) if r.limit is limit and r.account == ACCOUNT_ID
                and (r.limit.scope != RESOURCE or r.subject in ("big-role", "approvers", "key", "policy", "rule", "d"))]
    assert result.total == amount, (limit.id, result)
    return result


@pytest.mark.parametrize("limit", LIMITS, ids=lambda limit: limit.id)
def test_each_limit_passes_at_its_value_and_not_past_it(limit):
    assert verdict(limit, limit.value).status == OK
    past = verdict(limit, limit.value + 1)
    if limit.adjustable:
        assert past.status == REQUEST
        assert limit.code is None or limit.code in past.fix()
        assert f"{limit.value + 1:,}" in past.fix()
    else:
        assert past.status == BREACH and past.fix()


@pytest.mark.parametrize("limit", [limit for limit in LIMITS if limit.adjustable and limit.maximum],
                         ids=lambda limit: limit.id)
def test_an_adjustable_limit_past_its_documented_maximum_is_a_breach(limit):
    assert verdict(limit, limit.maximum).status == REQUEST
    result = verdict(limit, limit.maximum + 1)
    assert result.status == BREACH and f"{limit.maximum:,}" in result.fix()
    if limit.id == "iam-trust-policy-length":
        assert "approval.approverPrincipals" in result.fix()


def test_every_limit_has_its_value_kind_and_source():
    for limit in LIMITS:
        assert limit.scope in (ACCOUNT, REGION, RESOURCE) and limit.value > 0
        assert limit.source.startswith("https://docs.aws.amazon.com/")
        assert limit.maximum is None or (limit.adjustable and limit.maximum > limit.value)
        assert limit.code is None or limit.adjustable


def test_counts_are_per_account_and_region_and_stacks_add_up():
    resources = [resource("aws:codepipeline/pipeline:Pipeline", f"p{i}", region=region)
                 for i, region in enumerate(["us-east-1", "us-east-1", "eu-west-1"])]
    other = {"results": [{"id": "codepipeline-pipelines", "account": ACCOUNT_ID, "region": "us-east-1", "used": 997},
                         {"id": "codepipeline-pipelines", "account": "222222222222", "region": "us-east-1",
                          "used": 5}]}
    results = {(r.account, r.region): r for r in evaluate(resources, [other])}
    assert (results[(ACCOUNT_ID, "us-east-1")].used, results[(ACCOUNT_ID, "us-east-1")].total) == (2, 999)
    assert results[(ACCOUNT_ID, "eu-west-1")].total == 1
    # Another account's counts are its own.
    assert results[("222222222222", "us-east-1")].total == 5


def test_sizes_name_every_resource_over_the_limit():
    resources = [resource("aws:iam/policy:Policy", name, {"policy": iam_document(size)})
                 for name, size in (("a", 100), ("b", 6_200), ("c", 7_000))]
    [result] = [r for r in evaluate(resources) if r.limit.id == "iam-managed-policy-size"]
    assert (result.subject, result.used, result.measured, result.over) == ("c", 7_000, 3, ("b", "c"))
    assert result.status == BREACH


def test_a_metric_math_expression_is_not_a_metric():
    body = {"widgets": [{"type": "metric", "properties": {"metrics": [
        [{"expression": "m1 + m2", "id": "e1"}], ["AWS/CodeBuild", "Duration", "ProjectName", "a", {"id": "m1"}],
        ["...", "b", {"id": "m2"}]]}}]}
    assert dashboard_counts(json.dumps(body)) == (1, [2])


def test_the_summary_names_the_least_headroom_every_request_and_who_adds_up():
    other = {"results": [{"id": "iam-roles", "account": ACCOUNT_ID, "region": None, "used": 1_500}]}
    results = evaluate([resource(ROLE, "r", {"assumeRolePolicy": iam_document(100)})], [other])
    lines = summary(results, "prod", ["staging"])
    assert lines[0].startswith(f"quotas: {len(results)} checked, least headroom: Roles in an AWS account "
                               f"({ACCOUNT_ID}) 1,501 of 1,000 (501 over the default)")
    assert "  request: Roles in an AWS account (111111111111) 1,501 (1 here + 1,500 in staging) of 1,000 " \
           "(adjustable)" in lines
    assert "    fix: request Roles in an AWS account of at least 1,501 through Service Quotas iam/L-FE177D64 " \
           "(up to 5,000)" in lines
    assert lines[-1] == "  counts are stack prod + staging's; stacks sharing an account add up"


def test_another_plan_must_be_a_plan_of_another_stack_with_quotas():
    with pytest.raises(OtherPlanError, match="is not a plan's JSON"):
        other_plan("{", "x.json", "prod")
    with pytest.raises(OtherPlanError, match='has no "quotas"'):
        other_plan(json.dumps({"stack": "staging", "resources": []}), "x.json", "prod")
    with pytest.raises(OtherPlanError, match="is a plan of stack prod itself"):
        other_plan(json.dumps({"stack": "prod", "quotas": {"results": []}}), "x.json", "prod")
    assert other_plan(json.dumps({"stack": "staging", "quotas": {"results": []}}), "x.json", "prod") == \
        ("staging", {"results": []})


def plan_cli(python, repo_root, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([python, "-m", "offline.plan", "--stack", "prod", "--summary", *args], cwd=repo_root,
                          capture_output=True, text=True, timeout=300, check=False)


def test_the_plan_adds_another_stack_and_exits_3_on_a_breach(tmp_path, python, repo_root, prod):
    staging = {"stack": "staging", "quotas": {"added": [], "results": [
        {"id": "events-wildcard-rules", "account": ACCOUNT_ID, "region": "us-east-1", "used": 28}]}}
    (tmp_path / "staging.json").write_text(json.dumps(staging))
    result = plan_cli(python, repo_root, "--with-plan", str(tmp_path / "staging.json"))
    assert result.returncode == 3, result.stderr
    own = next(r.used for r in prod.quotas if r.limit.id == "events-wildcard-rules")
    assert f"  breach: Rules containing wildcards per event bus (111111111111/us-east-1) {own + 28} " \
           f"({own} here + 28 in staging) of 30 (hard)" in result.stdout
    (tmp_path / "bad.json").write_text("[]")
    result = plan_cli(python, repo_root, "--with-plan", str(tmp_path / "bad.json"))
    assert (result.returncode, result.stderr) == (2, f'error: {tmp_path / "bad.json"} has no "quotas": plan that '
                                                     'stack again with this version (`make plan STACK=<stack> '
                                                     'PLAN_JSON=<file>`)\n')


def test_a_stack_with_too_many_approvers_breaches_the_trust_policy_length():
    principals = [f"arn:aws:iam::444444444444:role/release-managers-{i:03d}" for i in range(90)]
    plan = cached_plan("prod", {"delivery-pipeline:approval": {**stack_data("prod")["approval"],
                                                                "approverPrincipals": principals}})
    [result] = [r for r in plan.quotas if r.limit.id == "iam-trust-policy-length" and r.account == ACCOUNT_ID]
    assert (result.status, result.subject, result.over) == (BREACH, "approvers-role", ("approvers-role",))
    assert result.total > 4_096 and "approval.approverPrincipals" in result.fix()
