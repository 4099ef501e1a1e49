"""Release windows, blocking alarms and the bake: settings, the stage conditions they become, the
pipeline role's read of the alarms, checked against CodePipeline's own API model."""

from __future__ import annotations

import copy
import dataclasses
import json
import pytest
from botocore.model import ServiceModel
from botocore.validate import ParamValidator

from components import stage_conditions
from components.release_gates import GATES_TAG, PROMOTE_STAGE, PROVE_STAGE, VERIFY_STAGE
from components.settings import SettingsError, parse
from components.stage_conditions import BEFORE_ENTRY, ON_SUCCESS, Condition, Rule, problems
from policy.access.model import REQUIRED
from policy.access.planned import evaluate_paths
from policy.offline import evaluate
from policy.rules import codepipeline as codepipeline_rules
from tests import aws_models
from tests.components.test_approvers_alarms_dashboard import answerable
from tests.conftest import cached_plan, stack_data

ACCOUNT = "111111111111"
WINDOW = {"cron": "* * 9-16 ? * MON-THU *", "timeZone": "Europe/Berlin"}
ALARMS = ["shop-prod-health", f"arn:aws:cloudwatch:eu-west-1:{ACCOUNT}:alarm:shop-prod-euw1-health"]
GATED = {"mode": "pull-request", "windows": WINDOW, "blockingAlarms": ALARMS, "bakeMinutes": 30}
PIPELINE = "aws:codepipeline/pipeline:Pipeline"


def service_model() -> ServiceModel:
    return ServiceModel(aws_models.model("codepipeline"), "codepipeline")


def settings_with(**promotion):
    data = copy.deepcopy(stack_data("prod"))
    data["promotion"] = {"mode": "pull-request", **promotion}
    return parse(data)


def error_of(**promotion) -> str:
    with pytest.raises(SettingsError) as caught:
        settings_with(**promotion)
    assert len(caught.value.messages) == 1, caught.value.messages
    assert "\n" not in caught.value.messages[0]
    return caught.value.messages[0]


# --- settings -------------------------------------------------------------------------------------

def test_no_gates_by_default():
    gates = parse(stack_data("staging")).gates
    assert not gates and gates.window is None and gates.alarms == () and gates.bake_minutes is None


def test_each_setting_is_read():
    gates = settings_with(**GATED).gates
    assert (gates.window.cron, gates.window.time_zone) == (WINDOW["cron"], "Europe/Berlin")
    assert [(a.name, a.region) for a in gates.alarms] == [("shop-prod-health", "us-east-1"),
                                                         ("shop-prod-euw1-health", "eu-west-1")]
    assert gates.bake_minutes == 30


def test_the_time_zone_defaults_to_utc():
    assert settings_with(windows={"cron": WINDOW["cron"]}).gates.window.time_zone == "UTC"


@pytest.mark.parametrize("promotion, words", [
    ({"windows": {"cron": "0 * 9-16 ? * MON-THU *"}}, ["promotion.windows", "seconds", "only *"]),
    ({"windows": {"cron": "* * 9-25 ? * MON-THU *"}}, ["promotion.windows", "hours 25 is outside 0-23"]),
    ({"windows": {"cron": "* * 9-16 * * MON-THU *"}}, ["promotion.windows", "exactly one of day-of-month"]),
    ({"windows": {"cron": "* * 9-16 ? * 6L *"}}, ["promotion.windows", "L, W and #"]),
    ({"windows": {"cron": "* * 9-16 ? * MON-THU 2020"}}, ["promotion.windows", "opens within 60 days"]),
    ({"windows": {"cron": WINDOW["cron"], "timeZone": "Mars/Olympus"}}, ["promotion.windows", "'Mars/Olympus'",
                                                                          "IANA time zone"]),
    ({"windows": "9-17"}, ["promotion.windows", "a mapping {cron"]),
    ({"blockingAlarms": ["arn:aws:cloudwatch:us-east-1:999999999999:alarm:x"]},
     ["promotion.blockingAlarms[0]", "tooling account 111111111111"]),
    ({"blockingAlarms": ["arn:aws:cloudwatch:us-east-1:111111111111:metric:x"]},
     ["promotion.blockingAlarms[0]", "arn:aws:cloudwatch:<region>:<account>:alarm:<name>"]),
    ({"blockingAlarms": ["a" * 256]}, ["promotion.blockingAlarms[0]", "1-255 printable"]),
    ({"blockingAlarms": ["a", "a"]}, ["promotion.blockingAlarms", "each alarm once"]),
    ({"windows": WINDOW, "blockingAlarms": ["a", "b", "c", "d", "e"]},
     ["promotion.blockingAlarms", "at most 4 alarms beside promotion.windows"]),
    ({"bakeMinutes": 30}, ["promotion.bakeMinutes", "promotion.blockingAlarms as well"]),
    ({"blockingAlarms": ["a"], "bakeMinutes": 0}, ["promotion.bakeMinutes", "from 1 to 1440"]),
])
def test_a_bad_gate_is_refused_in_one_line(promotion, words):
    message = error_of(**promotion)
    for word in words:
        assert word in message, message


# --- stage conditions as CodePipeline checks them ----------------------------------------------

def alarm_rule(name="Alarm1-x", **changes) -> Rule:
    return Rule(name=name, provider="CloudWatchAlarm", configuration={"AlarmName": "x"}, **changes)


@pytest.mark.parametrize("kind, condition, fragment", [
    (BEFORE_ENTRY, Condition("ROLLBACK", (alarm_rule(),)), "takes FAIL"),
    (BEFORE_ENTRY, Condition("FAIL", ()), "1 to 5 rules"),
    (BEFORE_ENTRY, Condition("FAIL", tuple(alarm_rule(f"A{i}") for i in range(6))), "1 to 5 rules"),
    (ON_SUCCESS, Condition("FAIL", (alarm_rule("bad name"),)), "rule names use"),
    (ON_SUCCESS, Condition("FAIL", (alarm_rule(), alarm_rule())), "unique"),
    (ON_SUCCESS, Condition("FAIL", (Rule("W", "DeploymentWindow", {"TimeZone": "UTC"}),)), "needs Cron"),
    (ON_SUCCESS, Condition("FAIL", (Rule("W", "CloudWatchAlarm", {"AlarmName": "x", "Alarms": "y"}),)),
     "documents no Alarms"),
    (ON_SUCCESS, Condition("FAIL", (Rule("L", "LambdaInvoke", {"FunctionName": "f"}),)), "unsupported rule type"),
    (ON_SUCCESS, Condition("FAIL", (alarm_rule(timeout_minutes=4),)), "outside 5..86400"),
])
def test_a_condition_codepipeline_refuses_is_refused(kind, condition, fragment):
    found = problems(kind, condition)
    assert any(fragment in line for line in found), found


def test_a_valid_condition_has_no_problems():
    assert problems(ON_SUCCESS, Condition("ROLLBACK", (alarm_rule(timeout_minutes=60),))) == []


def test_the_limits_are_the_api_models():
    shapes = service_model().shape_for
    assert shapes("RuleDeclarationList").metadata["max"] == stage_conditions.MAX_RULES
    assert shapes("ConditionList").metadata == {"min": 1, "max": 1}
    assert (shapes("RuleTimeout").metadata["min"], shapes("RuleTimeout").metadata["max"]) == (
        stage_conditions.MIN_RULE_TIMEOUT, stage_conditions.MAX_RULE_TIMEOUT)
    assert shapes("RuleName").metadata["pattern"] == "[A-Za-z0-9.@\\-_]+"
    assert shapes("RuleName").metadata["max"] == 100
    assert shapes("RuleConfigurationValue").metadata["max"] == stage_conditions.MAX_CONFIGURATION_VALUE
    results = set(shapes("Result").enum)
    assert {r for kind in stage_conditions.RESULTS.values() for r in kind} <= results


def api_stage(stage: dict) -> dict:
    """A planned stage (pulumi's camelCase inputs) as CodePipeline's StageDeclaration: pulumi's single
    `condition` is the API's one-element `conditions`."""
    declaration = {"name": stage["name"], "actions": [
        {"name": a["name"], "actionTypeId": {k: a[k] for k in ("category", "owner", "provider", "version")}}
        for a in stage["actions"]]}
    for key in ("beforeEntry", "onSuccess"):
        if key in stage:
            condition = stage[key]["condition"]
            declaration[key] = {"conditions": [{"result": condition["result"], "rules": condition["rules"]}]}
    return declaration


@pytest.fixture(scope="module")
def gated():
    return cached_plan("prod", {"delivery-pipeline:promotion": GATED})


def pipelines(plan) -> dict[str, dict]:
    return {r.inputs["name"]: r for r in plan.resources if r.type == PIPELINE}


def test_planned_conditions_match_codepipelines_model(gated):
    model = service_model()
    shape = model.shape_for("StageDeclaration")
    rule_name = model.shape_for("RuleName").metadata["pattern"]
    checked = 0
    for pipeline in pipelines(gated).values():
        for stage in pipeline.inputs["stages"]:
            declaration = api_stage(stage)
            report = ParamValidator().validate(declaration, shape)
            assert not report.has_errors(), report.generate_report()
            for key in ("beforeEntry", "onSuccess"):
                for condition in declaration.get(key, {}).get("conditions", []):
                    checked += 1
                    assert len(condition["rules"]) <= model.shape_for("RuleDeclarationList").metadata["max"]
                    assert condition["result"] in model.shape_for("Result").enum
                    for rule in condition["rules"]:
                        assert __import__("re").fullmatch(rule_name, rule["name"]), rule["name"]
    assert checked == 6  # three services: Promote's entry in each delivery pipeline, Verify's bake in each verify pipeline


def test_promote_waits_for_the_window_and_checks_the_alarms(gated):
    stage = next(s for s in pipelines(gated)["shop-api-prod"].inputs["stages"] if s["name"] == PROMOTE_STAGE)
    condition = stage["beforeEntry"]["condition"]
    assert condition["result"] == "FAIL"
    window, *alarms = condition["rules"]
    assert window["ruleTypeId"] == {"category": "Rule", "owner": "AWS", "provider": "DeploymentWindow", "version": "1"}
    assert window["configuration"] == {"Cron": WINDOW["cron"], "TimeZone": "Europe/Berlin"}
    # The longest a rule may wait: a promotion outside the window waits for it.
    assert window["timeoutInMinutes"] == 86400
    assert [(a["configuration"], a.get("region")) for a in alarms] == [
        ({"AlarmName": "shop-prod-health"}, None), ({"AlarmName": "shop-prod-euw1-health"}, "eu-west-1")]


def test_the_bake_holds_verify_watching_the_same_alarms(gated):
    stage = next(s for s in pipelines(gated)["shop-api-prod-verify"].inputs["stages"] if s["name"] == VERIFY_STAGE)
    condition = stage["onSuccess"]["condition"]
    assert condition["result"] == "FAIL"
    assert [r["configuration"] for r in condition["rules"]] == [
        {"AlarmName": "shop-prod-health", "WaitTime": "30"}, {"AlarmName": "shop-prod-euw1-health", "WaitTime": "30"}]
    assert all(r["timeoutInMinutes"] > 30 for r in condition["rules"])
    # Nothing else of the pipelines carries a condition.
    others = [(p, s["name"]) for p, r in pipelines(gated).items() for s in r.inputs["stages"]
              if ("beforeEntry" in s or "onSuccess" in s) and s["name"] not in (PROMOTE_STAGE, VERIFY_STAGE)]
    assert others == []


def role_statements(plan, pipeline_component: str) -> dict[str, dict]:
    policy = next(r for r in plan.resources if r.name == f"{pipeline_component}-role-policy")
    return {s["Sid"]: s for s in json.loads(policy.inputs["policy"])["Statement"]}


@pytest.mark.parametrize("component", ["api-pipeline", "api-pipeline-verify"])
def test_a_gated_pipelines_role_reads_exactly_the_alarms(gated, component):
    statement = role_statements(gated, component)["ReadBlockingAlarms"]
    assert statement["Action"] == ["cloudwatch:DescribeAlarms"]
    assert statement["Resource"] == [f"arn:aws:cloudwatch:us-east-1:{ACCOUNT}:alarm:shop-prod-health",
                                     f"arn:aws:cloudwatch:eu-west-1:{ACCOUNT}:alarm:shop-prod-euw1-health"]


def test_without_a_bake_the_verify_pipeline_reads_no_alarm():
    plan = cached_plan("prod", {"delivery-pipeline:promotion": {**GATED, "bakeMinutes": None}})
    assert "ReadBlockingAlarms" not in role_statements(plan, "api-pipeline-verify")
    assert "onSuccess" not in str(pipelines(plan)["shop-api-prod-verify"].inputs["stages"])
    assert "ReadBlockingAlarms" in role_statements(plan, "api-pipeline")


def test_an_ungated_stack_has_no_condition_and_no_alarm_read(staging):
    assert "beforeEntry" not in str([r.inputs["stages"] for r in pipelines(staging).values()])
    assert "ReadBlockingAlarms" not in role_statements(staging, "api-pipeline")


# --- access paths -----------------------------------------------------------------------------

def alarm_paths(plan):
    return [result for result in plan.access if result.path.action == "cloudwatch:DescribeAlarms"]


def test_the_alarm_read_is_declared_and_holds_over_the_planned_policies(gated):
    results = alarm_paths(gated)
    required = {(r.path.description) for r in results if r.path.expect == REQUIRED}
    assert f"shop-api-prod reads the blocking alarm arn:aws:cloudwatch:eu-west-1:{ACCOUNT}:alarm:shop-prod-euw1-health" \
        in required
    assert f"shop-api-prod-verify reads the blocking alarm arn:aws:cloudwatch:us-east-1:{ACCOUNT}:alarm:shop-prod-health" \
        in required
    assert any(r.path.expect != REQUIRED and "reads an alarm that gates nothing" in r.path.description for r in results)
    assert results and all(r.ok for r in results), [r for r in results if not r.ok]


def test_without_the_read_statement_the_required_alarm_paths_fail(gated):
    edited = [r for r in gated.resources]
    policy = next(r for r in edited if r.name == "api-pipeline-role-policy")
    document = json.loads(policy.inputs["policy"])
    document["Statement"] = [s for s in document["Statement"] if s["Sid"] != "ReadBlockingAlarms"]
    edited[edited.index(policy)] = dataclasses.replace(policy, inputs={**policy.inputs, "policy": json.dumps(document)})
    failed = [r.path.description for r in evaluate_paths(edited, [r.path for r in alarm_paths(gated)]) if not r.ok]
    assert sorted(failed) == sorted(f"shop-api-prod reads the blocking alarm {arn}" for arn in (
        f"arn:aws:cloudwatch:us-east-1:{ACCOUNT}:alarm:shop-prod-health",
        f"arn:aws:cloudwatch:eu-west-1:{ACCOUNT}:alarm:shop-prod-euw1-health"))


def test_an_ungated_pipeline_may_not_read_the_alarms():
    plan = cached_plan("prod", {"delivery-pipeline:promotion": {**GATED, "bakeMinutes": None}})
    verify = [r for r in alarm_paths(plan) if r.path.description.startswith("shop-api-prod-verify")]
    assert [(r.path.expect, r.ok) for r in verify] == [("forbidden", True)]


# --- who may override ---------------------------------------------------------------------------

def test_approvers_may_override_exactly_the_gated_stages(gated):
    stages = {f"{p.outputs['arn']}/{stage['name']}" for p in gated.by_type("aws:codepipeline/pipeline:Pipeline")
              for stage in p.inputs["stages"]}
    pipeline = f"arn:aws:codepipeline:us-east-1:{ACCOUNT}:shop-{{}}-prod"
    assert answerable(gated, stages, "codepipeline:OverrideStageCondition") == (
        {pipeline.format(s) + "/Promote" for s in ("api", "web", "worker")}
        | {pipeline.format(s) + "-verify/Verify" for s in ("api", "web", "worker")})
    # Overriding needs the execution's id: the approvers read the gated verify pipelines too.
    pipelines = {p.outputs["arn"] for p in gated.by_type("aws:codepipeline/pipeline:Pipeline")}
    assert answerable(gated, pipelines, "codepipeline:GetPipelineExecution") == pipelines


def test_without_gates_approvers_override_nothing():
    plan = cached_plan("prod", {"delivery-pipeline:promotion": {"mode": "pull-request"}})
    policy = next(r for r in plan.resources if r.type == "aws:iam/policy:Policy" and r.name == "approvers")
    assert "OverrideStageCondition" not in policy.inputs["policy"]


# --- the policy pack ----------------------------------------------------------------------------

def test_a_gated_plan_passes_the_release_gates_rule(gated):
    assert gated.policy_ran and [v for v in gated.violations if v.policy == "codepipeline-release-gates"] == []
    assert pipelines(gated)["shop-api-prod"].inputs["tags"]["delivery:release-gates"] == "window alarms=2 bake=30"


def without_condition(plan, pipeline: str, stage_name: str, kind: str):
    target = pipelines(plan)[pipeline]
    stages = [{k: v for k, v in s.items() if not (s["name"] == stage_name and k == kind)}
              for s in target.inputs["stages"]]
    changed = dataclasses.replace(target, inputs={**target.inputs, "stages": stages})
    return [changed if r is target else r for r in plan.resources]


@pytest.mark.parametrize("pipeline, stage, kind, fragment", [
    ("shop-web-prod", PROMOTE_STAGE, "beforeEntry", "has no release window"),
    ("shop-web-prod", PROMOTE_STAGE, "beforeEntry", "checks 0 alarms on entry, the stack's settings name 2"),
    ("shop-worker-prod-verify", VERIFY_STAGE, "onSuccess", "does not bake 30 minutes"),
])
def test_a_promoting_stage_without_the_stacks_gates_is_a_violation(gated, pipeline, stage, kind, fragment):
    found = [v for v in evaluate(without_condition(gated, pipeline, stage, kind))
             if v.policy == "codepipeline-release-gates"]
    assert any(fragment in v.message for v in found), [v.message for v in found]
    assert all(v.mandatory for v in found)


def test_the_tag_is_the_policys():
    assert GATES_TAG == codepipeline_rules.GATES_TAG
    assert (PROMOTE_STAGE, VERIFY_STAGE) == (codepipeline_rules.PROMOTE_STAGE, codepipeline_rules.VERIFY_STAGE)


# --- the bake and the proof ---------------------------------------------------------------------

def test_with_a_bake_each_region_is_verified_again_after_it(gated):
    stages = pipelines(gated)["shop-api-prod-verify"].inputs["stages"]
    assert [s["name"] for s in stages] == ["Source", VERIFY_STAGE, PROVE_STAGE]
    assert [a["name"] for a in stages[2]["actions"]] == ["Prove-us-east-1", "Prove-eu-west-1"]
    assert "beforeEntry" not in stages[2] and "onSuccess" not in stages[2]
    projects = {r.inputs["name"]: r for r in gated.resources if r.type == "aws:codebuild/project:Project"}
    variables = {name: {v["name"]: v["value"] for v in p.inputs["environment"]["environmentVariables"]}
                 for name, p in projects.items()}
    assert variables["shop-api-prod-verify-eu-west-1"]["BAKE_MINUTES"] == "30"
    assert "BAKE_MINUTES" not in variables["shop-api-prod-prove-eu-west-1"]


def test_the_gated_plan_holds_every_access_path_and_policy(gated):
    assert [r for r in gated.access if not r.ok] == []
    assert gated.violations == []


def test_a_long_alarm_list_is_refused_before_its_items_are_read():
    message = error_of(blockingAlarms=["arn:aws:cloudwatch:bad"] * 10_000)
    assert message == ("delivery-pipeline:promotion.blockingAlarms = '10000 alarms': expected at most 5 alarms: "
                       "CodePipeline's condition holds 5 rules (use a composite alarm)")
