"""The first `pulumi up`: CodePipeline starts every pipeline it creates once (trigger type
CreatePipeline). The first action of every pipeline of both stacks runs a step that stops that run
(`gitops trigger --stop-if-created`), so nothing after it builds, asks for approval, promotes,
verifies or reverts; its role may read and stop that pipeline's executions and no other's."""

from __future__ import annotations

import json

import yaml

from components.buildspec import render
from components.steps import Step
from tests.components.test_shared_roles import role_policy
from tests.conftest import stack_settings

GUARD = "python -m gitops trigger --region \"$PIPELINE_REGION\" --execution-id \"$EXECUTION_ID\" --stop-if-created"


def first_projects(plan) -> dict[str, str]:
    """Pipeline name -> the project its first action after the source runs."""
    found = {}
    for pipeline in plan.by_type("aws:codepipeline/pipeline:Pipeline"):
        stages = [stage for stage in pipeline.inputs["stages"] if stage["name"] != "Source"]
        actions = stages[0]["actions"]
        assert all(a["category"] in ("Build", "Test") for a in actions), pipeline.name
        found[pipeline.inputs["name"]] = [a["configuration"]["ProjectName"] for a in actions]
    return found


def test_the_first_action_of_every_pipeline_stops_a_creation_run(plan):
    projects = {p.inputs["name"]: p for p in plan.by_type("aws:codebuild/project:Project")}
    firsts = first_projects(plan)
    assert firsts and len(firsts) == len(list(plan.by_type("aws:codepipeline/pipeline:Pipeline")))
    for pipeline, names in firsts.items():
        # The stage may run several actions in parallel (the image build beside the unit tests): one
        # that stops the run suffices, for CodePipeline stops the execution when they have ended.
        guarded = [name for name in names if GUARD in projects[name].inputs["source"]["buildspec"]]
        assert guarded, f"{pipeline}: no first action stops a creation run ({names})"
        for name in guarded:
            variables = {v["name"]: v["value"] for v in projects[name].inputs["environment"]["environmentVariables"]}
            assert variables["PIPELINE_REGION"] == stack_settings(plan.stack).home_region


def test_a_guarded_step_does_nothing_else_before_the_guard(plan):
    # Every command after the guard is conditional on it; none before it acts (no login, no read).
    for project in plan.by_type("aws:codebuild/project:Project"):
        spec = yaml.safe_load(project.inputs["source"]["buildspec"])
        commands = [c for phase, body in spec["phases"].items() if phase != "install" for c in body["commands"]]
        guard = next((i for i, c in enumerate(commands) if GUARD in c), None)
        if guard is None:
            continue
        assert all(c.startswith(("set -", "export PYTHONPATH=")) for c in commands[:guard]), project.name
        acting = [c for c in commands[guard + 1:] if "python -m gitops" in c or "docker" in c or "aws " in c]
        # verify's revert (post_build) runs only on the exit code the guarded verify writes.
        assert acting and all(c.startswith(('[ "$TRIGGER" = CreatePipeline ] ||', '[[ " $REVERT_EXIT_CODES " != *" $VERIFY_EXIT "* ]] ||'))
                              for c in acting), project.name


def test_the_guard_may_read_and_stop_its_own_pipeline_only(plan):
    settings = stack_settings(plan.stack)
    service = settings.services[0].name
    roles = {"build": [settings.names.pipeline(service)], "resolve": [settings.names.pipeline(service)],
             "verify": [settings.names.verify_pipeline(service) if settings.promotion_mode == "pull-request"
                        else settings.names.pipeline(service)]}
    checked = 0
    for role, pipelines in roles.items():
        if not any(r.name == f"{service}-{role}-role-policy" for r in plan.by_type("aws:iam/rolePolicy:RolePolicy")):
            continue
        statement = role_policy(plan, f"{service}-{role}-role")["StopOwnCreationRun"]
        assert statement["Action"] == ["codepipeline:GetPipelineExecution", "codepipeline:StopPipelineExecution"]
        arns = [statement["Resource"]] if isinstance(statement["Resource"], str) else statement["Resource"]
        assert arns == [settings.names.pipeline_arn_of(p, settings.home_region, settings.tooling_account)
                        for p in pipelines]
        checked += 1
    assert checked == 2
    promote = json.dumps(role_policy(plan, f"{service}-promote-role"))
    assert "StopPipelineExecution" not in promote


def test_the_field_and_the_buildspec_agree():
    # A step says it stops creation runs exactly when its buildspec runs the guard.
    from tests.conftest import STACKS
    from components.steps import StepInputs, steps_for

    for stack in STACKS:
        settings = stack_settings(stack)
        for step in steps_for(settings, settings.services[0], StepInputs(deployment_role_arn="")).steps:
            assert isinstance(step, Step)
            assert (GUARD in render(step.buildspec, step.exports, step.needs_tool_bundle)) == step.stops_creation_run, \
                step.name
