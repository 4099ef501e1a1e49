"""The bake-breach trigger as planned: one EventBridge rule per stack on the FAILED Verify stage of
its gated pipelines, starting the revert-breach project with the pipeline and execution as
StartBuild environment overrides (checked against CodeBuild's API model); its roles and access paths;
what it costs in the quotas; and the alarm that tells the operator when the revert did not complete
(no pipeline runs that build, so nothing else would)."""

from __future__ import annotations

import dataclasses
import json
import re

import pytest
from botocore.model import ServiceModel
from botocore.validate import ParamValidator

from components.bake_breach import INPUT_TEMPLATE
from components.monitoring import REVERT_BREACH_FAILED
from policy.access.model import REQUIRED
from policy.access.planned import evaluate_paths
from policy.quotas.usage import measure
from tests import aws_models
from tests.components.test_approvers_alarms_dashboard import (
    ALARM_TYPE, CLOUDWATCH, assert_an_alarm_per_pipeline_and_per_home_region_project, put_metric_alarm_request, validate)
from tests.components.test_release_gates import ACCOUNT, GATED
from tests.conftest import cached_plan
from tests.docs.pages import ROOT, anchors, prose_lines

PROJECT = "shop-_stack-prod-revert-breach"
VERIFY_PIPELINES = ["shop-api-prod-verify", "shop-web-prod-verify", "shop-worker-prod-verify"]
# A Stage Execution State Change event as CodePipeline sends it (CodePipeline user guide,
# "Monitoring CodePipeline events": detail.pipeline, execution-id, stage, state).
EVENT = {"version": "0", "id": "01234567-0123-0123-0123-012345678901",
         "detail-type": "CodePipeline Stage Execution State Change", "source": "aws.codepipeline",
         "account": ACCOUNT, "time": "2026-12-06T04:00:00Z", "region": "us-east-1",
         "resources": [f"arn:aws:codepipeline:us-east-1:{ACCOUNT}:shop-api-prod-verify"],
         "detail": {"pipeline": "shop-api-prod-verify", "version": 3, "state": "FAILED", "stage": "Verify",
                    "execution-id": "3137f7cb-8d7f-4c3b-9d5b-2a3f2c0e6e11", "pipeline-execution-attempt": 1}}


@pytest.fixture(scope="module")
def gated():
    return cached_plan("prod", {"delivery-pipeline:promotion": GATED})


def one(plan, type_: str, name: str):
    return next(r for r in plan.resources if r.type == type_ and r.name == name)


def matches(pattern: dict, event: dict) -> bool:
    """EventBridge's matching for the pattern's forms used here: each key's values list the
    accepted values; nested objects match nested fields."""
    return all(matches(value, event.get(key, {})) if isinstance(value, dict) else event.get(key) in value
               for key, value in pattern.items())


def statements(plan, policy: str) -> dict[str, dict]:
    document = json.loads(one(plan, "aws:iam/rolePolicy:RolePolicy", policy).inputs["policy"])
    return {s["Sid"]: s for s in document["Statement"]}


def test_one_rule_matches_a_failed_verify_stage_of_the_gated_pipelines_only(gated):
    rule = one(gated, "aws:cloudwatch/eventRule:EventRule", "bake-breach-rule")
    pattern = json.loads(rule.inputs["eventPattern"])
    assert rule.inputs["name"] == "shop-prod-pipeline-breach"
    assert pattern["detail"] == {"pipeline": VERIFY_PIPELINES, "stage": ["Verify"], "state": ["FAILED"]}
    assert matches(pattern, EVENT)
    for detail in ({"state": "SUCCEEDED"}, {"stage": "Prove"}, {"pipeline": "shop-api-prod"}):
        assert not matches(pattern, {**EVENT, "detail": {**EVENT["detail"], **detail}}), detail


def test_the_target_starts_the_project_with_the_pipeline_and_execution(gated):
    target = one(gated, "aws:cloudwatch/eventTarget:EventTarget", "bake-breach-rule-target")
    assert target.inputs["arn"] == f"arn:aws:codebuild:us-east-1:{ACCOUNT}:project/{PROJECT}"
    transformer = target.inputs["inputTransformer"]
    values = {name: EVENT["detail"][path.removeprefix("$.detail.")]
              for name, path in transformer["inputPaths"].items()}
    request = transformer["inputTemplate"]
    for name, value in values.items():
        request = request.replace(f"<{name}>", value)
    start_build = {"projectName": PROJECT, **json.loads(request)}
    model = ServiceModel(aws_models.model("codebuild"))
    assert not ParamValidator().validate(start_build, model.operation_model("StartBuild").input_shape).has_errors()
    assert {v["name"]: v["value"] for v in start_build["environmentVariablesOverride"]} == {
        "PIPELINE": "shop-api-prod-verify", "EXECUTION_ID": EVENT["detail"]["execution-id"]}
    assert transformer["inputTemplate"] == INPUT_TEMPLATE


def test_the_project_runs_outside_the_pipelines_with_the_stacks_map(gated):
    project = one(gated, "aws:codebuild/project:Project", "_stack-revert-breach")
    assert (project.inputs["source"]["type"], project.inputs["artifacts"]["type"]) == ("NO_SOURCE", "NO_ARTIFACTS")
    variables = {v["name"]: v["value"] for v in project.inputs["environment"]["environmentVariables"]}
    assert json.loads(variables["GATED_PIPELINES"]) == dict(zip(VERIFY_PIPELINES, ["api", "web", "worker"]))
    assert variables["STAGE"] == "Verify" and variables["PROMOTION_MODE"] == "pull-request"
    assert "python -m gitops revert-breach" in project.inputs["source"]["buildspec"]


def test_in_commit_mode_the_delivery_pipelines_are_the_gated_ones():
    plan = cached_plan("prod", {"delivery-pipeline:promotion": {**GATED, "mode": "commit"}})
    pattern = json.loads(one(plan, "aws:cloudwatch/eventRule:EventRule", "bake-breach-rule").inputs["eventPattern"])
    assert pattern["detail"]["pipeline"] == ["shop-api-prod", "shop-web-prod", "shop-worker-prod"]


def test_the_roles_may_do_exactly_their_part(gated):
    assert statements(gated, "bake-breach-role-policy") == {"StartRevertBreach": {
        "Sid": "StartRevertBreach", "Effect": "Allow", "Action": ["codebuild:StartBuild"],
        "Resource": f"arn:aws:codebuild:us-east-1:{ACCOUNT}:project/{PROJECT}"}}
    reads = statements(gated, "_stack-revert-breach-role-policy")["ReadGatedExecutions"]
    assert reads["Action"] == ["codepipeline:ListActionExecutions", "codepipeline:ListRuleExecutions"]
    assert reads["Resource"] == [f"arn:aws:codepipeline:us-east-1:{ACCOUNT}:{p}" for p in VERIFY_PIPELINES]
    trust = json.loads(one(gated, "aws:iam/role:Role", "bake-breach-role").inputs["assumeRolePolicy"])
    assert trust["Statement"][0]["Principal"] == {"Service": "events.amazonaws.com"}


def breach_paths(plan):
    return [r for r in plan.access if "revert-breach" in r.path.description or "bake-breach" in r.path.description]


def test_the_access_paths_are_declared_and_hold(gated):
    results = breach_paths(gated)
    descriptions = {r.path.description: r.path.expect for r in results}
    assert descriptions["EventBridge starts the revert-breach build"] == REQUIRED
    assert descriptions["the revert-breach build reads a pipeline no bake holds"] != REQUIRED
    assert descriptions["the bake-breach trigger starts the api promote build"] != REQUIRED
    assert results and all(r.ok for r in results), [r for r in results if not r.ok]


def test_without_the_read_statement_the_required_reads_fail(gated):
    edited = list(gated.resources)
    policy = one(gated, "aws:iam/rolePolicy:RolePolicy", "_stack-revert-breach-role-policy")
    document = json.loads(policy.inputs["policy"])
    document["Statement"] = [s for s in document["Statement"] if s["Sid"] != "ReadGatedExecutions"]
    edited[edited.index(policy)] = dataclasses.replace(policy, inputs={**policy.inputs, "policy": json.dumps(document)})
    failed = [r.path.description for r in evaluate_paths(edited, [r.path for r in breach_paths(gated)]) if not r.ok]
    assert sorted(failed) == sorted(f"the revert-breach build reads the executions of {p} ({action})"
                                    for p in VERIFY_PIPELINES
                                    for action in ("codepipeline:ListRuleExecutions", "codepipeline:ListActionExecutions"))


def event_rules(plan) -> dict[str, int]:
    found: dict[str, int] = {}
    for m in measure(plan.resources):
        if m.limit in ("events-rules", "events-wildcard-rules"):
            found[m.limit] = found.get(m.limit, 0) + m.used
    return found


def test_the_bake_costs_one_rule_per_stack_and_no_wildcard_rule(gated):
    without = cached_plan("prod", {"delivery-pipeline:promotion": {**GATED, "bakeMinutes": None}})
    assert event_rules(gated) == {**event_rules(without), "events-rules": event_rules(without)["events-rules"] + 1}
    assert not [r for r in without.resources if "breach" in r.name]


# --- When the revert does not complete --------------------------------------------------------------

REVERT_ALARM = f"{PROJECT}-builds"


def revert_alarms(plan) -> list:
    return [a for a in plan.by_type(ALARM_TYPE) if PROJECT in json.dumps(a.inputs)]


def test_the_revert_breach_project_has_its_alarm_like_every_home_region_project(gated):
    assert_an_alarm_per_pipeline_and_per_home_region_project(gated)


def test_a_failed_revert_raises_an_alarm_on_the_projects_builds_to_the_alerts_topic(gated):
    [alarm] = revert_alarms(gated)
    inputs = alarm.inputs
    assert inputs["name"] == REVERT_ALARM and alarm.region == "us-east-1"
    assert inputs["alarmActions"] == [gated.outputs["alertsTopicArn"]]
    failed, duration, breach = inputs["metricQueries"]
    assert failed["metric"] == {"namespace": "AWS/CodeBuild", "metricName": "FailedBuilds", "stat": "Sum",
                                "dimensions": {"ProjectName": PROJECT}, "period": 300}
    assert (duration["metric"]["metricName"], duration["metric"]["dimensions"]) == ("Duration", {"ProjectName": PROJECT})
    # Its timeout is 20 minutes: 80 % of it is 960 seconds.
    assert one(gated, "aws:codebuild/project:Project", "_stack-revert-breach").inputs["buildTimeout"] == 20
    assert breach["expression"] == "IF(FILL(failed, 0) >= 1 OR FILL(duration, 0) > 960, 1, 0)" and breach["returnData"]
    assert validate("PutMetricAlarm", put_metric_alarm_request(inputs)) == ""


def test_the_first_failed_revert_alarms_whatever_failed_builds_allows_the_other_projects():
    plan = cached_plan("prod", {"delivery-pipeline:promotion": GATED, "delivery-pipeline:alarms": {"failedBuilds": 3}})
    expressions = {a.inputs["name"]: a.inputs["metricQueries"][2]["expression"]
                   for a in plan.by_type(ALARM_TYPE) if "metricQueries" in a.inputs}
    assert expressions[REVERT_ALARM].startswith("IF(FILL(failed, 0) >= 1 OR")
    assert expressions["shop-api-prod-promote-builds"].startswith("IF(FILL(failed, 0) >= 3 OR")


def test_the_description_says_what_the_operator_does_within_cloudwatchs_limit(gated):
    [alarm] = revert_alarms(gated)
    description = alarm.inputs["alarmDescription"]
    assert description.startswith(REVERT_BREACH_FAILED)
    assert "did not complete" in description and "may still be running" in description
    assert "`gitops revert`" in description
    assert len(description) <= CLOUDWATCH.operation_model("PutMetricAlarm").input_shape.members[
        "AlarmDescription"].metadata["max"] == 1024
    # The page and section it points to exist.
    page, section = re.search(r"(docs/[\w/-]+\.md)#([\w-]+)", description).groups()
    assert section in anchors(ROOT / page)


def test_the_operations_page_quotes_the_description():
    page = ROOT / "docs" / "operations" / "alarms.md"
    quoted = " ".join(line.removeprefix(">").strip() for _, line in prose_lines(page) if line.startswith(">"))
    assert quoted.endswith(" …")
    assert REVERT_BREACH_FAILED.startswith(quoted.removesuffix(" …"))


def test_without_a_bake_or_with_alarms_off_no_alarm_watches_a_revert(gated):
    without = cached_plan("prod", {"delivery-pipeline:promotion": {**GATED, "bakeMinutes": None}})
    off = cached_plan("prod", {"delivery-pipeline:promotion": GATED, "delivery-pipeline:alarms": {"enabled": False}})
    assert revert_alarms(gated) and revert_alarms(without) == [] and revert_alarms(off) == []
    assert "alarm publishes" not in " ".join(r.path.description for r in off.access if "revert-breach" in r.path.description)


def test_the_revert_alarm_may_publish_to_the_alerts_topic_and_its_path_needs_it(gated):
    [result] = [r for r in gated.access if r.path.description == "the revert-breach build's alarm publishes an alert"]
    assert result.path.expect == REQUIRED and result.ok
    [alarm] = revert_alarms(gated)
    [without] = evaluate_paths([r for r in gated.resources if r is not alarm], [result.path])
    assert not without.ok and "no aws:cloudwatch/metricAlarm:MetricAlarm" in " ".join(without.reasons)


def test_the_dashboard_shows_the_revert_duration_beside_verify(gated):
    [dashboard] = gated.by_type("aws:cloudwatch/dashboard:Dashboard")
    widgets = {w["properties"]["title"]: w for w in json.loads(dashboard.inputs["dashboardBody"])["widgets"]}
    verify = widgets["Verify duration in us-east-1 (seconds)"]["properties"]["metrics"]
    assert ["AWS/CodeBuild", "Duration", "ProjectName", PROJECT, {"label": "_stack revert-breach"}] in verify
    shown = [m[3] for w in widgets.values() for m in w["properties"]["metrics"] if m[0] == "AWS/CodeBuild"]
    assert sorted(shown) == sorted(p.inputs["name"] for p in gated.by_type("aws:codebuild/project:Project"))
