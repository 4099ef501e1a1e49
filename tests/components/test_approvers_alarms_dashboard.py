"""Who may approve, and the alarms and dashboard: asserted on the planned resources of both stacks.

The approver policy is checked as a whole document and against every approval action the planned
pipelines really have; alarms and the dashboard are turned into the PutMetricAlarm and PutDashboard
requests the provider sends and validated by botocore against CloudWatch's service model, the
dashboard body against the structure CloudWatch documents for it.
"""

from __future__ import annotations

import fnmatch
import json
from typing import Any

import botocore.session
import pytest
from botocore.validate import ParamValidator

from components.monitoring import dashboard_pages
from components.settings import SettingsError, parse
from policy.access.model import Holder, Ref, required
from policy.access.planned import evaluate_paths
from tests.conftest import cached_plan
from tests.conftest import stack_data
from tests.components.test_settings_errors import with_change

ACCOUNT = "111111111111"
PIPELINE_TYPE = "aws:codepipeline/pipeline:Pipeline"
PROJECT_TYPE = "aws:codebuild/project:Project"
ALARM_TYPE = "aws:cloudwatch/metricAlarm:MetricAlarm"
DASHBOARD_TYPE = "aws:cloudwatch/dashboard:Dashboard"
POLICY_TYPE = "aws:iam/policy:Policy"
APPROVERS = {
    "approverPrincipals": ["arn:aws:iam::444444444444:role/release-managers",
                           "arn:aws:iam::111111111111:user/alice"],
    "permissionSetArn": "arn:aws:sso:::permissionSet/ssoins-0123456789abcdef/ps-0123456789abcdef",
}
CLOUDWATCH = botocore.session.get_session().get_service_model("cloudwatch")


def prod_with(**approval: Any):
    base = stack_data("prod")["approval"]
    return cached_plan("prod", {"delivery-pipeline:approval": {**base, **approval}})


def only(plan, type_: str):
    found = plan.by_type(type_)
    assert len(found) == 1, [r.name for r in found]
    return found[0]


def approval_actions(plan) -> set[str]:
    """ARNs of every manual approval action of every planned pipeline."""
    return {f"{p.outputs['arn']}/{stage['name']}/{action['name']}"
            for p in plan.by_type(PIPELINE_TYPE) for stage in p.inputs["stages"] for action in stage["actions"]
            if action["category"] == "Approval"}


# --- Who may approve ------------------------------------------------------------------------------


def test_prod_approver_policy_is_approvals_and_reading_the_stacks_pipelines_by_pattern_and_tags():
    policy = only(cached_plan("prod"), POLICY_TYPE)
    pipelines = "arn:aws:codepipeline:us-east-1:111111111111:shop-*-prod"
    stack = {"StringEqualsIfExists": {"aws:ResourceTag/app": "shop", "aws:ResourceTag/environment": "prod"}}
    assert policy.inputs["name"] == "shop-prod-approvers"
    assert policy.inputs["path"] == "/delivery-approvers/shop/prod/"
    assert json.loads(policy.inputs["policy"]) == {"Version": "2012-10-17", "Statement": [
        {"Sid": "AnswerStackApprovals", "Effect": "Allow", "Action": ["codepipeline:PutApprovalResult"],
         "Resource": pipelines + "/Approval/Approve", "Condition": stack},
        {"Sid": "ReadApprovalPipelines", "Effect": "Allow",
         "Action": ["codepipeline:GetPipeline", "codepipeline:GetPipelineExecution", "codepipeline:GetPipelineState",
                    "codepipeline:ListActionExecutions", "codepipeline:ListPipelineExecutions"],
         "Resource": pipelines, "Condition": stack},
        # The stack's release window gates Promote: approvers may let an execution past it.
        {"Sid": "OverrideReleaseGates", "Effect": "Allow", "Action": ["codepipeline:OverrideStageCondition"],
         "Resource": pipelines + "/Promote", "Condition": stack},
    ]}
    assert cached_plan("prod").outputs["approvers"] == {
        "policyArn": "arn:aws:iam::111111111111:policy/delivery-approvers/shop/prod/shop-prod-approvers",
        "roleArn": None, "permissionSet": None}


def planned_actions(plan) -> set[str]:
    """ARNs of every action of every planned pipeline."""
    return {f"{p.outputs['arn']}/{stage['name']}/{action['name']}"
            for p in plan.by_type(PIPELINE_TYPE) for stage in p.inputs["stages"] for action in stage["actions"]}


def answerable(plan, arns: set[str], action: str = "codepipeline:PutApprovalResult") -> set[str]:
    """Which of `arns` a holder of the stack's approver policy may `action`, as IAM decides it with
    the pipelines' tags (the stack's identity tags, which every pipeline carries)."""
    tags = {"aws:ResourceTag/app": "shop", "aws:ResourceTag/environment": plan.stack}
    approver = Holder(Ref(POLICY_TYPE, "approvers"), f"arn:aws:iam::{ACCOUNT}:role/approver", "an approver")
    paths = [required(approver, action, arn, arn, tags) for arn in sorted(arns)]
    return {result.resource for result in evaluate_paths(plan.resources, paths) if result.allowed}


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_the_approver_policy_answers_exactly_the_planned_approval_actions(stack):
    plan = cached_plan(stack)
    actions = approval_actions(plan)
    if not actions:
        # Staging has no approval: no approver policy, nothing exported.
        assert plan.by_type(POLICY_TYPE) == [] and "approvers" not in plan.outputs
        return
    assert answerable(plan, planned_actions(plan)) == actions


def grants(document: str, action: str) -> bool:
    for statement in json.loads(document).get("Statement", []):
        actions = statement.get("Action", [])
        actions = [actions] if isinstance(actions, str) else actions
        if statement.get("Effect") == "Allow" and any(fnmatch.fnmatch(action.lower(), a.lower()) for a in actions):
            return True
    return False


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_no_pipeline_or_build_role_may_answer_an_approval(stack):
    plan = cached_plan(stack)
    allowed = [r.name for r in plan.by_type("aws:iam/rolePolicy:RolePolicy")
               if grants(r.inputs["policy"], "codepipeline:PutApprovalResult")]
    allowed += [r.name for r in plan.by_type(POLICY_TYPE) if grants(r.inputs["policy"], "codepipeline:PutApprovalResult")]
    assert allowed == (["approvers"] if stack == "prod" else [])


def test_approver_role_trusts_named_roles_and_users_with_mfa_only():
    plan = prod_with(**APPROVERS)
    role = next(r for r in plan.by_type("aws:iam/role:Role") if r.name == "approvers-role")
    assert role.inputs["name"] == "shop-prod-approver"
    assert role.inputs["path"] == "/delivery-approvers/shop/prod/"
    assert role.inputs["maxSessionDuration"] == 3600
    assert json.loads(role.inputs["assumeRolePolicy"])["Statement"] == [
        {"Sid": "AssumedByNamedRoles", "Effect": "Allow",
         "Principal": {"AWS": ["arn:aws:iam::444444444444:role/release-managers"]},
         "Action": ["sts:AssumeRole", "sts:SetSourceIdentity"]},
        {"Sid": "AssumedByNamedUsersWithMfa", "Effect": "Allow",
         "Principal": {"AWS": ["arn:aws:iam::111111111111:user/alice"]},
         "Action": ["sts:AssumeRole", "sts:SetSourceIdentity"],
         "Condition": {"Bool": {"aws:MultiFactorAuthPresent": "true"}}},
    ]
    attachment = only(plan, "aws:iam/rolePolicyAttachment:RolePolicyAttachment")
    policy = only(plan, POLICY_TYPE)
    assert attachment.inputs == {"role": "shop-prod-approver", "policyArn": policy.outputs["arn"]}
    approvers = plan.outputs["approvers"]
    assert approvers["roleArn"] == "arn:aws:iam::111111111111:role/delivery-approvers/shop/prod/shop-prod-approver"
    assert approvers["permissionSet"] == {
        "arn": APPROVERS["permissionSetArn"],
        "customerManagedPolicyReference": {"name": "shop-prod-approvers", "path": "/delivery-approvers/shop/prod/"}}
    assert plan.violations == []
    # The role answers every approval through the attached policy (the access paths of approvers).
    approver_paths = [r for r in plan.access if str(r.path.principal) == "role approvers-role"]
    assert approver_paths and all(r.ok for r in plan.access)


def test_approver_role_is_outside_the_stacks_role_path():
    # Key policies and the deployment role trust ArnLike "<role path>*": an approver must not match.
    plan = prod_with(**APPROVERS)
    role = next(r for r in plan.by_type("aws:iam/role:Role") if r.name == "approvers-role")
    stack_roles = "arn:aws:iam::111111111111:role/delivery/shop/prod/*"
    assert not fnmatch.fnmatch(role.outputs["arn"], stack_roles)
    assert all(fnmatch.fnmatch(r.outputs["arn"], stack_roles)
               for r in plan.by_type("aws:iam/role:Role") if r.name != "approvers-role" and r.account == ACCOUNT)


@pytest.mark.parametrize("stack,key,value,fragment", [
    ("prod", "approval.approverPrincipals", ["arn:aws:iam::444444444444:root"], "no account root"),
    ("prod", "approval.approverPrincipals", ["arn:aws:iam::444444444444:role/*"], "no wildcard"),
    ("prod", "approval.approverPrincipals", "arn:aws:iam::444444444444:role/a", "a list"),
    ("prod", "approval.permissionSetArn", "arn:aws:sso:::instance/ssoins-0123456789abcdef", "permission set ARN"),
    ("staging", "approval.approverPrincipals", ["arn:aws:iam::444444444444:role/a"],
     "no approvers while approval.enabled is false"),
    ("staging", "approval.permissionSetArn", APPROVERS["permissionSetArn"], "no approvers while approval.enabled"),
    ("prod", "alarms.durationPercent", 120, "a whole number from 1 to 100"),
    ("prod", "alarms.periodMinutes", "five", "a whole number from 1 to 1440"),
    ("prod", "alarms.failedBuilds", True, "a whole number"),
    ("prod", "alarms.dashboardName", "shop prod", "a dashboard name"),
    ("prod", "alarms.threshold", 1, "not a known setting"),
])
def test_bad_approver_and_alarm_settings_name_the_key(stack, key, value, fragment):
    with pytest.raises(SettingsError) as error:
        parse(with_change(stack, key, value))
    message = str(error.value)
    assert f"delivery-pipeline:{key}" in message and fragment in message and "\n" not in message


def test_alarm_settings_accept_strings_from_pulumi_config_set():
    settings = parse(with_change("prod", "alarms", {"periodMinutes": "15", "enabled": "false"}))
    assert (settings.alarms.period_minutes, settings.alarms.enabled) == (15, False)


# --- Alarms ---------------------------------------------------------------------------------------


def put_metric_alarm_request(inputs: dict[str, Any]) -> dict[str, Any]:
    """The PutMetricAlarm request the provider makes from a MetricAlarm's inputs."""
    def dimensions(mapping: dict[str, str]) -> list[dict[str, str]]:
        return [{"Name": k, "Value": v} for k, v in mapping.items()]

    request: dict[str, Any] = {
        "AlarmName": inputs["name"], "AlarmDescription": inputs.get("alarmDescription", ""),
        "ActionsEnabled": inputs.get("actionsEnabled", True), "AlarmActions": inputs.get("alarmActions", []),
        "EvaluationPeriods": inputs["evaluationPeriods"], "Threshold": inputs["threshold"],
        "ComparisonOperator": inputs["comparisonOperator"], "TreatMissingData": inputs["treatMissingData"],
    }
    if "metricQueries" in inputs:
        request["Metrics"] = []
        for query in inputs["metricQueries"]:
            item: dict[str, Any] = {"Id": query["id"], "ReturnData": query.get("returnData", False)}
            if "expression" in query:
                item.update(Expression=query["expression"], Label=query.get("label", ""))
            else:
                metric = query["metric"]
                item["MetricStat"] = {"Metric": {"Namespace": metric["namespace"], "MetricName": metric["metricName"],
                                                 "Dimensions": dimensions(metric["dimensions"])},
                                      "Period": metric["period"], "Stat": metric["stat"]}
            request["Metrics"].append(item)
    else:
        request.update(Namespace=inputs["namespace"], MetricName=inputs["metricName"],
                       Dimensions=dimensions(inputs["dimensions"]), Statistic=inputs["statistic"],
                       Period=inputs["period"])
    return request


def model_constraints(value: Any, shape: Any, where: str) -> list[str]:
    """The model's enums and maxima, which botocore's ParamValidator leaves to the service."""
    errors = []
    if shape.type_name == "structure" and isinstance(value, dict):
        for key, item in value.items():
            if key in shape.members:
                errors += model_constraints(item, shape.members[key], f"{where}.{key}")
    elif shape.type_name == "list" and isinstance(value, list):
        if len(value) > shape.metadata.get("max", len(value)):
            errors.append(f"{where}: {len(value)} items, at most {shape.metadata['max']}")
        for index, item in enumerate(value):
            errors += model_constraints(item, shape.member, f"{where}[{index}]")
    elif shape.type_name == "string" and isinstance(value, str):
        if shape.enum and value not in shape.enum:
            errors.append(f"{where}: {value!r} is not one of {shape.enum}")
        if len(value) > shape.metadata.get("max", len(value)):
            errors.append(f"{where}: longer than {shape.metadata['max']}")
    elif shape.type_name in ("integer", "long") and isinstance(value, int):
        if value > shape.metadata.get("max", value):
            errors.append(f"{where}: {value} is above {shape.metadata['max']}")
    return errors


def validate(operation: str, params: dict[str, Any]) -> str:
    """What CloudWatch's service model rejects in the request (botocore's ParamValidator: required
    members, types, minima; plus the model's enums and maxima); empty when it accepts it."""
    shape = CLOUDWATCH.operation_model(operation).input_shape
    report = ParamValidator().validate(params, shape).generate_report()
    return "\n".join(filter(None, [report, *model_constraints(params, shape, operation)]))


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_every_alarm_is_a_valid_put_metric_alarm_request(stack):
    alarms = cached_plan(stack).by_type(ALARM_TYPE)
    assert alarms
    for alarm in alarms:
        assert validate("PutMetricAlarm", put_metric_alarm_request(alarm.inputs)) == "", alarm.name


def test_the_request_check_catches_what_cloudwatch_rejects():
    alarm = next(a for a in cached_plan("prod").by_type(ALARM_TYPE) if "namespace" in a.inputs)
    bad = put_metric_alarm_request({**alarm.inputs, "statistic": "Total", "alarmActions": ["arn:t"] * 6,
                                    "threshold": "one", "name": ""})
    report = validate("PutMetricAlarm", bad)
    for member in ("Statistic", "AlarmActions", "Threshold", "AlarmName"):
        assert member in report, (member, report)
    del bad["AlarmName"]
    assert "Missing required parameter" in validate("PutMetricAlarm", bad)


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_an_alarm_per_pipeline_and_per_home_region_project_to_the_alerts_topic(stack):
    assert_an_alarm_per_pipeline_and_per_home_region_project(cached_plan(stack))


def assert_an_alarm_per_pipeline_and_per_home_region_project(plan) -> None:
    """Every pipeline and every home-region project (run by a pipeline or not) has its alarm, to the
    alerts topic; projects in other regions have none."""
    alarms = plan.by_type(ALARM_TYPE)
    topic = plan.outputs["alertsTopicArn"]
    for alarm in alarms:
        assert alarm.inputs["alarmActions"] == [topic], alarm.name
        assert alarm.inputs["treatMissingData"] == "notBreaching"
        assert alarm.region == "us-east-1" == topic.split(":")[3]
    failed_executions = {a.inputs["dimensions"]["PipelineName"]: a for a in alarms if "dimensions" in a.inputs}
    pipelines = {p.inputs["name"] for p in plan.by_type(PIPELINE_TYPE)}
    assert set(failed_executions) == pipelines
    for name, alarm in failed_executions.items():
        assert (alarm.inputs["namespace"], alarm.inputs["metricName"], alarm.inputs["statistic"]) == \
            ("AWS/CodePipeline", "FailedPipelineExecutions", "Sum")
        assert alarm.inputs["name"] == f"{name}-failed-executions"
    watched = {a.inputs["metricQueries"][0]["metric"]["dimensions"]["ProjectName"]: a
               for a in alarms if "metricQueries" in a.inputs}
    projects = plan.by_type(PROJECT_TYPE)
    assert set(watched) == {p.inputs["name"] for p in projects if p.region == "us-east-1"}
    # Projects elsewhere (Verify in eu-west-1) have none: an alarm notifies only a topic in its region.
    assert {p.region for p in projects if p.inputs["name"] not in watched} <= {"eu-west-1"}
    assert len(alarms) == len(failed_executions) + len(watched)


def test_build_alarm_combines_failed_builds_and_duration_over_the_projects_timeout():
    plan = cached_plan("prod")
    alarm = next(a for a in plan.by_type(ALARM_TYPE) if a.inputs["name"] == "shop-api-prod-promote-builds")
    queries = alarm.inputs["metricQueries"]
    assert [(q["id"], q.get("metric", {}).get("metricName"), q.get("metric", {}).get("stat"), q["returnData"])
            for q in queries] == [("failed", "FailedBuilds", "Sum", False), ("duration", "Duration", "Maximum", False),
                                  ("breach", None, None, True)]
    assert {q["metric"]["namespace"] for q in queries[:2]} == {"AWS/CodeBuild"}
    assert {q["metric"]["period"] for q in queries[:2]} == {300}
    # The promote project's timeout is 15 minutes: 80 % of it is 720 seconds.
    project = next(p for p in plan.by_type(PROJECT_TYPE) if p.inputs["name"] == "shop-api-prod-promote")
    assert project.inputs["buildTimeout"] == 15
    assert queries[2]["expression"] == "IF(FILL(failed, 0) >= 1 OR FILL(duration, 0) > 720, 1, 0)"
    assert (alarm.inputs["threshold"], alarm.inputs["comparisonOperator"]) == (1, "GreaterThanOrEqualToThreshold")


def test_alarm_thresholds_and_period_come_from_settings():
    plan = cached_plan("prod", {"delivery-pipeline:alarms": {
        "failedExecutions": 2, "failedBuilds": 3, "durationPercent": 50, "periodMinutes": 15}})
    alarms = {a.inputs["name"]: a.inputs for a in plan.by_type(ALARM_TYPE)}
    pipeline = alarms["shop-api-prod-failed-executions"]
    assert (pipeline["threshold"], pipeline["period"]) == (2, 900)
    build = alarms["shop-api-prod-promote-builds"]["metricQueries"]
    assert build[2]["expression"] == "IF(FILL(failed, 0) >= 3 OR FILL(duration, 0) > 450, 1, 0)"
    assert {q["metric"]["period"] for q in build[:2]} == {900}


def test_alarms_can_be_turned_off_and_the_dashboard_stays():
    plan = cached_plan("prod", {"delivery-pipeline:alarms": {"enabled": False, "dashboardName": "shop-release"}})
    assert plan.by_type(ALARM_TYPE) == []
    assert only(plan, DASHBOARD_TYPE).inputs["dashboardName"] == plan.outputs["dashboardName"] == "shop-release"


def test_cloudwatch_may_publish_to_the_encrypted_alerts_topic():
    plan = cached_plan("prod")
    topic_policy = next(r for r in plan.by_type("aws:sns/topicPolicy:TopicPolicy"))
    key = next(r for r in plan.by_type("aws:kms/key:Key") if r.name == "notifications-key")

    def admits_cloudwatch(document: str, action: str) -> bool:
        return any(s.get("Effect") == "Allow" and "cloudwatch.amazonaws.com" in json.dumps(s.get("Principal"))
                   and grants(json.dumps({"Statement": [s]}), action) for s in json.loads(document)["Statement"])

    assert admits_cloudwatch(topic_policy.inputs["policy"], "sns:Publish")
    assert admits_cloudwatch(key.inputs["policy"], "kms:GenerateDataKey")


# --- Dashboard ------------------------------------------------------------------------------------

WIDGET_TYPES = {"metric", "text", "log", "alarm", "explorer"}
VIEWS = {"timeSeries", "singleValue", "gauge", "bar", "pie", "table"}
STATS = {"SampleCount", "Average", "Sum", "Minimum", "Maximum"}
RENDERING_KEYS = {"accountId", "color", "id", "label", "period", "region", "stat", "visible", "yAxis"}


def dashboard_body_errors(body: dict[str, Any]) -> list[str]:
    """What CloudWatch's documented dashboard body structure rejects (Dashboard Body Structure and
    Syntax: the widgets array, a metric widget's properties, the format of each metric)."""
    errors = []
    widgets = body.get("widgets")
    if not isinstance(widgets, list) or len(widgets) > 500:
        return ["widgets: a list of at most 500 widgets is required"]
    for index, widget in enumerate(widgets):
        where = f"widgets[{index}]"
        if widget.get("type") not in WIDGET_TYPES:
            errors.append(f"{where}.type {widget.get('type')!r}")
        for key, low, high in (("x", 0, 23), ("y", 0, None), ("width", 1, 24), ("height", 1, 1000)):
            value = widget.get(key)
            if value is not None and (not isinstance(value, int) or value < low or (high and value > high)):
                errors.append(f"{where}.{key} = {value!r}")
        if widget.get("x", 0) + widget.get("width", 6) > 24:
            errors.append(f"{where} overflows the 24-column grid")
        properties = widget.get("properties")
        if not isinstance(properties, dict):
            errors.append(f"{where}.properties missing")
            continue
        if widget["type"] != "metric":
            continue
        if not isinstance(properties.get("region"), str):
            errors.append(f"{where}.properties.region is required")
        if properties.get("view", "timeSeries") not in VIEWS:
            errors.append(f"{where}.properties.view {properties.get('view')!r}")
        if properties.get("stat", "Average") not in STATS:
            errors.append(f"{where}.properties.stat {properties.get('stat')!r}")
        period = properties.get("period", 300)
        if not isinstance(period, int) or period < 60 or period % 60:
            errors.append(f"{where}.properties.period {period!r}: a multiple of 60 seconds")
        for m, metric in enumerate(properties.get("metrics") or [None]):
            spot = f"{where}.properties.metrics[{m}]"
            if not isinstance(metric, list):
                errors.append(f"{spot} is not an array")
                continue
            options = metric[-1] if metric and isinstance(metric[-1], dict) else {}
            names = metric[:-1] if options else metric
            # [Namespace, MetricName, DimensionName1, DimensionValue1, ...], then optional rendering properties.
            if len(names) < 2 or len(names) % 2 or not all(isinstance(n, str) and n for n in names):
                errors.append(f"{spot}: namespace, metric name and dimension name/value pairs expected")
            if set(options) - RENDERING_KEYS or options.get("stat", "Average") not in STATS:
                errors.append(f"{spot}: rendering properties {sorted(options)}")
    return errors


def dashboard(stack: str) -> tuple[Any, dict[str, Any]]:
    resource = only(cached_plan(stack), DASHBOARD_TYPE)
    return resource, json.loads(resource.inputs["dashboardBody"])


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_dashboard_is_a_valid_put_dashboard_request_with_a_documented_body(stack):
    resource, body = dashboard(stack)
    assert resource.inputs["dashboardName"] == f"shop-{stack}-pipelines"
    # A stack of three services fits on one page: the one dashboard it always had.
    assert cached_plan(stack).outputs["dashboardNames"] == [resource.inputs["dashboardName"]]
    assert validate("PutDashboard", {"DashboardName": resource.inputs["dashboardName"],
                                     "DashboardBody": resource.inputs["dashboardBody"]}) == ""
    assert dashboard_body_errors(body) == []


def test_the_body_check_catches_what_cloudwatch_rejects():
    _, body = dashboard("prod")
    widget = body["widgets"][0]
    broken = {"widgets": [{**widget, "x": 20, "properties": {**widget["properties"], "region": None,
                                                             "metrics": [["AWS/CodeBuild"]]}}]}
    errors = dashboard_body_errors(broken)
    assert any("overflows" in e for e in errors) and any("region" in e for e in errors)
    assert any("namespace, metric name" in e for e in errors)


def metrics_of(widget: dict[str, Any]) -> list[tuple[str, ...]]:
    return [tuple(m[:4]) for m in widget["properties"]["metrics"]]


def test_dashboard_shows_executions_build_durations_per_step_and_verify_per_region():
    plan = cached_plan("prod")
    _, body = dashboard("prod")
    widgets = {w["properties"]["title"]: w for w in body["widgets"]}
    pipelines = sorted(p.inputs["name"] for p in plan.by_type(PIPELINE_TYPE))
    executions = metrics_of(widgets["Pipeline executions (failed, completed)"])
    assert sorted({m[3] for m in executions}) == pipelines
    assert {m[:2] for m in executions} == {("AWS/CodePipeline", "FailedPipelineExecutions"),
                                            ("AWS/CodePipeline", "PipelineDuration")}
    projects = plan.by_type(PROJECT_TYPE)
    for region in ("us-east-1", "eu-west-1"):
        verify = widgets[f"Verify duration in {region} (seconds)"]
        assert verify["properties"]["region"] == region
        assert sorted(m[3] for m in metrics_of(verify)) == sorted(
            p.inputs["name"] for p in projects if p.region == region and "-verify-" in p.inputs["name"])
    for step, stage in (("resolve", "Resolve"), ("promote", "Promote")):
        widget = widgets[f"{stage} duration in us-east-1 (seconds)"]
        assert [m[:3] for m in metrics_of(widget)] == [("AWS/CodeBuild", "Duration", "ProjectName")] * 3
        assert sorted(m[3] for m in metrics_of(widget)) == [f"shop-{s}-prod-{step}" for s in ("api", "web", "worker")]
    # Every project of the stack is on the dashboard, once.
    shown = [m[3] for w in body["widgets"] for m in metrics_of(w) if m[0] == "AWS/CodeBuild"]
    assert sorted(shown) == sorted(p.inputs["name"] for p in projects)


def test_projects_no_pipeline_runs_take_their_place_on_the_first_page():
    verify = {"stage": "Verify", "region": "us-east-1"}
    pipelines = [{"projects": [verify] * 10} for _ in range(60)]
    # 50 pipelines fill the Verify widget (500 metrics); a project beside them leaves room for 49.
    assert [len(page) for page in dashboard_pages(pipelines)] == [50, 10]
    assert [len(page) for page in dashboard_pages(pipelines, [verify])] == [49, 11]


def test_staging_dashboard_has_a_widget_per_build_stage():
    _, body = dashboard("staging")
    titles = [w["properties"]["title"] for w in body["widgets"]]
    assert titles == ["Pipeline executions (failed, completed)", "Pipeline duration (seconds)",
                      "Build duration in us-east-1 (seconds)", "Scan duration in us-east-1 (seconds)",
                      "Promote duration in us-east-1 (seconds)", "Verify duration in us-east-1 (seconds)"]
    build = next(w for w in body["widgets"] if w["properties"]["title"].startswith("Build "))
    assert sorted(m[-1]["label"] for m in build["properties"]["metrics"]) == [
        f"{s} {step}" for s in ("api", "web", "worker") for step in ("build", "test")]
