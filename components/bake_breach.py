"""BakeBreachTrigger: a bake failed by a blocking alarm reverts the release, as a failed verify does.

The bake is the Verify stage's on-success condition (components.release_gates); when an alarm fails
it, CodePipeline fails the stage and runs no action after it, so the verify action's own revert
never runs. One EventBridge rule per stack, in the home region, matches the FAILED state of the
Verify stage of the stack's gated pipelines and starts one CodeBuild project (the `revert-breach`
step, rendered by BuildProjects like every other) with the pipeline and the execution as
environment overrides. The step tells a breach from an action's failure (which reverted already).
One rule per stack rather than per service: rules per event bus are a quota (policy/quotas).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components import logical_names as logical
from components.build_projects import BuildProject
from components.iam import ServiceRoleArgs, service_role, statement
from components.naming import Names
from components.pipeline_model import STAGE_EXECUTION_STATE_CHANGE, event_pattern
from components.release_gates import VERIFY_STAGE

# Named `<app>-<env>-pipeline-breach`: within EventBridge's 64 characters at the longest names.
RULE_SUFFIX = "breach"


@dataclass(frozen=True)
class BakeBreachTriggerArgs:
    names: Names
    tooling_account: str
    # The gated pipelines whose Verify stage the rule watches.
    pipelines: tuple[str, ...]
    # The revert-breach step's project, which the rule starts.
    project: BuildProject


def verify_failed_pattern(account: str, pipelines: tuple[str, ...]) -> dict:
    """The Verify stage of one of `pipelines` failed."""
    return event_pattern(STAGE_EXECUTION_STATE_CHANGE, account,
                         {"pipeline": sorted(pipelines), "stage": [VERIFY_STAGE], "state": ["FAILED"]})


# The StartBuild request EventBridge makes: the failed pipeline and execution as build variables.
INPUT_PATHS = {"pipeline": "$.detail.pipeline", "execution": "$.detail.execution-id"}
INPUT_TEMPLATE = json.dumps({"environmentVariablesOverride": [
    {"name": "PIPELINE", "value": "<pipeline>", "type": "PLAINTEXT"},
    {"name": "EXECUTION_ID", "value": "<execution>", "type": "PLAINTEXT"}]})


class BakeBreachTrigger(pulumi.ComponentResource):
    """The rule, its target (the project) and the role EventBridge starts the build with."""

    def __init__(self, name: str, args: BakeBreachTriggerArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("delivery:gates:BakeBreachTrigger", name, None, opts)
        names = args.names
        rule = aws.cloudwatch.EventRule(
            logical.trigger_rule(name),
            name=names.notification(RULE_SUFFIX),
            description=f"{names.app} {names.env}: a bake failed, revert the release",
            event_pattern=json.dumps(verify_failed_pattern(args.tooling_account, args.pipelines)),
            opts=pulumi.ResourceOptions(parent=self),
        )
        role = service_role(logical.role(name), ServiceRoleArgs(
            service="events.amazonaws.com", path=names.role_path(),
            statements=[statement("StartRevertBreach", ["codebuild:StartBuild"], args.project.arn)],
            description=f"EventBridge starts the bake-breach revert of {names.app} {names.env}",
            source_account=args.tooling_account,
        ), self)
        aws.cloudwatch.EventTarget(
            f"{logical.trigger_rule(name)}-target",
            rule=rule.name,
            arn=args.project.arn,
            role_arn=role.arn,
            input_transformer={"input_paths": INPUT_PATHS, "input_template": INPUT_TEMPLATE},
            opts=pulumi.ResourceOptions(parent=self, depends_on=role.resources),
        )
        self.rule_name = rule.name
        self.register_outputs({"rule": rule.name})
