"""DeliveryPipeline: one CodePipeline V2 of a service in one environment.

The pipeline is a list of steps (`components.steps.PipelineSteps`) laid out as stages: the source
action, one CodeBuild action per step, the manual approval where the list has one. The same
component makes a service's delivery pipeline and its verify pipeline. The layout is described as
data (`components.pipeline_model`), validated as CodePipeline would, then rendered.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components import logical_names as logical
from components.artifact_store import ArtifactStore
from components.build_projects import BuildProjects
from components.iam import ServiceRoleArgs, service_role, statement
from components.naming import Names
from components.pipeline_model import (APPROVAL, PIPELINE_EXECUTION_STATE_CHANGE, SOURCE, Action, PipelineDefinition,
                                       Stage, event_pattern)
from components.release_gates import GATES_TAG, ReleaseGates, gate, watches_alarms
from components.stage_conditions import render as render_condition
from components.steps import (SOURCE_EXPORTS, SOURCE_NAMESPACE, Approval, PipelineSource, PipelineSteps, Step,
                              console_url)

SOURCE_ARTIFACT = "SourceOutput"


@dataclass(frozen=True)
class DeliveryPipelineArgs:
    names: Names
    # The account and region the pipeline lives in.
    tooling_account: str
    home_region: str
    # The CodeConnections connection its source action reads through.
    connection_arn: str
    # QUEUED, SUPERSEDED or PARALLEL.
    execution_mode: str
    service: str
    pipeline: PipelineSteps
    stores: dict[str, ArtifactStore]
    # The service's projects; the pipeline runs (and may start) those of its own steps only.
    projects: BuildProjects
    # Topic of the approval, for a pipeline with one.
    approval_topic_arn: pulumi.Input[str] | None
    # Key of the approval topic: publishing to an encrypted topic needs it.
    notification_key_arn: pulumi.Input[str] | None
    # Release windows, blocking alarms and bake: conditions of the Promote and Verify stages.
    gates: ReleaseGates = ReleaseGates()
    # What the pipeline is created after: the Argo CD of each cluster its Verify actions read (a new
    # pipeline runs once at once, and nothing can be verified before Argo CD runs).
    waits_for: tuple[pulumi.Resource, ...] = ()


def _codebuild(step: Step, project: pulumi.Input[str], home: str) -> Action:
    configuration: dict = {"ProjectName": project}
    if step.action_variables:
        configuration["EnvironmentVariables"] = json.dumps(
            [{"name": k, "value": v, "type": "PLAINTEXT"} for k, v in step.action_variables.items()])
    return Action(name=step.action, category=step.category, provider="CodeBuild", configuration=configuration,
                  region=None if step.region == home else step.region, input_artifacts=(SOURCE_ARTIFACT,),
                  namespace=step.namespace, exports=step.exports)


def describe(home: str, connection_arn: str, pipeline: PipelineSteps, projects: dict[Step, pulumi.Input[str]],
             approval_topic_arn: pulumi.Input[str] | None, store_regions: frozenset[str],
             gates: ReleaseGates = ReleaseGates()) -> PipelineDefinition:
    """One pipeline in region `home` as data: the source action, then one stage per run of steps of
    the same stage, the Promote and Verify stages with the release gates' conditions."""
    source = Action(
        name="Source", category=SOURCE, provider="CodeStarSourceConnection", namespace=SOURCE_NAMESPACE,
        exports=SOURCE_EXPORTS,
        configuration={"ConnectionArn": connection_arn, "FullRepositoryId": pipeline.source.repository,
                       "BranchName": pipeline.source.branch, "OutputArtifactFormat": "CODE_ZIP",
                       # Started by its upstream pipelines (`start_on_upstream_success`), not by pushes.
                       **({"DetectChanges": "false"} if pipeline.source.started_by else {})},
        output_artifacts=(SOURCE_ARTIFACT,),
    )
    stages = [Stage("Source", (source,))]
    for step in pipeline.steps:
        if isinstance(step, Approval):
            stage, action = "Approval", Action(
                name="Approve", category=APPROVAL, provider="Manual",
                configuration={"NotificationArn": approval_topic_arn, "CustomData": step.custom_data,
                               "ExternalEntityLink": step.review_link})
        else:
            stage, action = step.stage, _codebuild(step, projects[step], home)
        # Consecutive steps of one stage are one stage's actions, run in parallel.
        if stages[-1].name == stage:
            stages[-1] = Stage(stage, (*stages[-1].actions, action))
        else:
            stages.append(Stage(stage, (action,)))
    stages = [dataclasses.replace(stage, **gate(stage.name, gates, home)) for stage in stages]
    return PipelineDefinition(name=pipeline.name, region=home, stages=tuple(stages),
                              artifact_store_regions=store_regions).validate()


def triggers(source: PipelineSource) -> list[dict]:
    """V2 triggers: pushes to the source branch that touch the service's paths; none for a pipeline
    its upstream's success starts."""
    if source.started_by:
        return []
    push: dict = {"branches": {"includes": [source.branch]}}
    if source.trigger_paths:
        push["file_paths"] = {"includes": list(source.trigger_paths)}
    return [{"provider_type": "CodeStarSourceConnection",
             "git_configuration": {"source_action_name": "Source", "pushes": [push]}}]


def upstream_success_pattern(source: PipelineSource, account: str) -> dict:
    """The EventBridge pattern of a successful execution of one of the pipelines that start this one."""
    return event_pattern(PIPELINE_EXECUTION_STATE_CHANGE, account,
                         {"pipeline": list(source.started_by), "state": ["SUCCEEDED"]})


def render_stages(definition: PipelineDefinition) -> list[dict]:
    return [
        {"name": stage.name,
         **({"before_entry": {"condition": render_condition(stage.before_entry)}} if stage.before_entry else {}),
         **({"on_success": {"condition": render_condition(stage.on_success)}} if stage.on_success else {}),
         "actions": [
            {key: value for key, value in {
                "name": action.name, "category": action.category, "owner": action.owner,
                "provider": action.provider, "version": action.version, "run_order": action.run_order,
                "region": action.region, "namespace": action.namespace,
                "input_artifacts": list(action.input_artifacts) or None,
                "output_artifacts": list(action.output_artifacts) or None,
                "configuration": dict(action.configuration),
            }.items() if value is not None}
            for action in stage.actions
        ]}
        for stage in definition.stages
    ]


class DeliveryPipeline(pulumi.ComponentResource):
    """The pipeline, its service role (only what its actions need), artifact stores per region."""

    name: pulumi.Output[str]
    arn: pulumi.Output[str]
    role_arn: pulumi.Output[str]

    def __init__(self, name: str, args: DeliveryPipelineArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("delivery:pipeline:DeliveryPipeline", name, None, opts)
        steps = args.pipeline.build_steps
        regions_used = {args.home_region, *(step.region for step in steps)}
        stores = {region: store for region, store in args.stores.items() if region in regions_used}
        projects = [args.projects.of(step) for step in steps]
        has_approval = any(isinstance(step, Approval) for step in args.pipeline.steps)
        definition = describe(args.home_region, args.connection_arn, args.pipeline, {project.step: project.name for project in projects},
                              args.approval_topic_arn, frozenset(stores), args.gates)

        statements = [
            # The action's prefix follows the ARN's service (codeconnections or codestar-connections).
            statement("UseSourceConnection", [f"{args.connection_arn.split(':')[2]}:UseConnection"],
                      args.connection_arn),
            statement("RunOwnBuilds", ["codebuild:BatchGetBuilds", "codebuild:StartBuild", "codebuild:StopBuild"],
                      [project.arn for project in projects]),
            statement("ReadWriteArtifacts", ["s3:GetObject", "s3:GetObjectVersion", "s3:PutObject"],
                      [pulumi.Output.concat(s.bucket_arn, "/*") for s in stores.values()]),
            statement("InspectArtifactBuckets", ["s3:GetBucketLocation", "s3:GetBucketVersioning"],
                      [s.bucket_arn for s in stores.values()]),
            statement("UseArtifactKeys", ["kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey*",
                                          "kms:ReEncrypt*"], [s.key_arn for s in stores.values()]),
        ]
        if watches_alarms(c for stage in definition.stages for c in (stage.before_entry, stage.on_success)):
            # The CloudWatchAlarm rules of the stage conditions read the alarms' state.
            statements.append(statement("ReadBlockingAlarms", ["cloudwatch:DescribeAlarms"],
                                        args.gates.alarm_arns(args.tooling_account)))
        if has_approval:
            statements.append(statement("NotifyApprovers", ["sns:Publish"], args.approval_topic_arn))
            statements.append(statement("EncryptApprovalNotices", ["kms:Decrypt", "kms:GenerateDataKey*"],
                                        args.notification_key_arn))
        role = service_role(logical.role(name), ServiceRoleArgs(
            service="codepipeline.amazonaws.com", path=args.names.role_path(), statements=statements,
            description=f"CodePipeline {definition.name}", source_account=args.tooling_account,
        ), self)

        several = len(stores) > 1
        artifact_stores = [
            {"location": store.bucket_name, "type": "S3",
             "encryption_key": {"id": store.key_arn, "type": "KMS"},
             # CodePipeline wants a region on every store once there is more than one.
             **({"region": region} if several else {})}
            for region, store in sorted(stores.items())
        ]
        pipeline = aws.codepipeline.Pipeline(
            name,
            name=definition.name,
            pipeline_type="V2",
            execution_mode=args.execution_mode,
            role_arn=role.arn,
            artifact_stores=artifact_stores,
            stages=render_stages(definition),
            triggers=triggers(args.pipeline.source),
            tags={"service": args.service, **({GATES_TAG: args.gates.tag} if args.gates else {})},
            opts=pulumi.ResourceOptions(parent=self, depends_on=[*role.resources, *args.waits_for]),
        )
        if args.pipeline.source.started_by:
            self._start_on_upstream_success(name, definition.name, pipeline, args)
        self.name = pipeline.name
        self.arn = pipeline.arn
        self.role_arn = role.arn
        self.console_url = console_url(args.home_region, definition.name)
        self.register_outputs({"name": self.name, "arn": self.arn, "console_url": self.console_url})

    def _start_on_upstream_success(self, name: str, pipeline_name: str, pipeline: aws.codepipeline.Pipeline,
                                   args: DeliveryPipelineArgs) -> None:
        """An EventBridge rule (named like the pipeline) starting the pipeline when an upstream
        pipeline of its source succeeds: every verify action of that execution has then written
        its success status, so what the pipeline's Resolve reads is a finished proof and no build
        waits for one. Its role may start this pipeline only."""
        role = service_role(logical.start_role(name), ServiceRoleArgs(
            service="events.amazonaws.com", path=args.names.role_path(),
            statements=[statement("StartOwnPipeline", ["codepipeline:StartPipelineExecution"], pipeline.arn)],
            description=f"EventBridge starts {pipeline_name}", source_account=args.tooling_account,
        ), self)
        rule = aws.cloudwatch.EventRule(
            logical.start_rule(name), name=pipeline_name,
            description=f"{pipeline_name}: started by the success of {', '.join(args.pipeline.source.started_by)}",
            event_pattern=json.dumps(upstream_success_pattern(args.pipeline.source, args.tooling_account)),
            opts=pulumi.ResourceOptions(parent=self))
        aws.cloudwatch.EventTarget(
            f"{logical.start_rule(name)}-target", rule=rule.name, arn=pipeline.arn, role_arn=role.arn,
            opts=pulumi.ResourceOptions(parent=self, depends_on=role.resources))
