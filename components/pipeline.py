"""DeliveryPipeline: one service's CodePipeline V2 in one environment.

The stages are described as data (`components.pipeline_model`), validated as CodePipeline would,
then rendered. See DESIGN.md, "The flow", for what each stage does.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.artifact_store import ArtifactStore
from components.build_projects import BuildProjects
from components.iam import ServiceRoleArgs, role_path, service_role, statement
from components.pipeline_model import (APPROVAL, BUILD, SOURCE, TEST, Action, PipelineDefinition,
                                       Stage)
from components.settings import ServiceSettings, Settings

SOURCE_ARTIFACT = "SourceOutput"
EXECUTION_ID = "#{codepipeline.PipelineExecutionId}"


@dataclass(frozen=True)
class DeliveryPipelineArgs:
    service: ServiceSettings
    stores: dict[str, ArtifactStore]
    projects: BuildProjects
    approval_topic_arn: pulumi.Input[str] | None
    # Key of the approval topic: publishing to an encrypted topic needs it.
    notification_key_arn: pulumi.Input[str] | None


def pipeline_name(settings: Settings, service: ServiceSettings) -> str:
    return f"{settings.app}-{service.name}-{settings.env_name}"


def console_url(region: str, name: str) -> str:
    return f"https://{region}.console.aws.amazon.com/codesuite/codepipeline/pipelines/{name}/view?region={region}"


def _codebuild(name: str, project: pulumi.Input[str], *, category: str = BUILD, run_order: int = 1,
               region: str | None = None, namespace: str | None = None, exports: tuple[str, ...] = (),
               variables: dict[str, str] | None = None) -> Action:
    configuration: dict = {"ProjectName": project}
    if variables:
        configuration["EnvironmentVariables"] = json.dumps(
            [{"name": k, "value": v, "type": "PLAINTEXT"} for k, v in variables.items()])
    return Action(name=name, category=category, provider="CodeBuild", configuration=configuration,
                  run_order=run_order, region=region, input_artifacts=(SOURCE_ARTIFACT,),
                  namespace=namespace, exports=exports)


def describe(settings: Settings, service: ServiceSettings, projects: dict[str, pulumi.Input[str]],
             approval_topic_arn: pulumi.Input[str] | None, store_regions: frozenset[str]) -> PipelineDefinition:
    """The pipeline of one service as data: source, build/resolve, approval, promote, verify."""
    name = pipeline_name(settings, service)
    home = settings.home_region
    if settings.builds_images:
        source_repository, source_branch = settings.app_repository, settings.app_branch
    else:
        source_repository, source_branch = settings.gitops_repository, settings.gitops_branch
    source = Action(
        name="Source", category=SOURCE, provider="CodeStarSourceConnection", namespace="Source",
        exports=("CommitId", "BranchName", "FullRepositoryName", "CommitMessage", "ConnectionArn", "AuthorDate"),
        configuration={"ConnectionArn": settings.connection_arn, "FullRepositoryId": source_repository,
                       "BranchName": source_branch, "OutputArtifactFormat": "CODE_ZIP"},
        output_artifacts=(SOURCE_ARTIFACT,),
    )
    stages = [Stage("Source", (source,))]
    source_commit = "#{Source.CommitId}"

    if settings.builds_images:
        tag, digest = "#{Build.IMAGE_TAG}", "#{Build.IMAGE_DIGEST}"
        stages.append(Stage("Build", (
            _codebuild("BuildImage", projects["build"], namespace="Build", exports=("IMAGE_TAG", "IMAGE_DIGEST"),
                       variables={"SOURCE_COMMIT": source_commit}),
            # Same run order as the image build: the two run in parallel.
            _codebuild("UnitTest", projects["test"], category=TEST),
        )))
        stages.append(Stage("Scan", (
            _codebuild("ImageScan", projects["scan"], category=TEST, variables={"IMAGE_DIGEST": digest}),
        )))
    else:
        tag, digest = "#{Resolve.TAG}", "#{Resolve.DIGEST}"
        stages.append(Stage("Resolve", (
            _codebuild("ResolveImage", projects["resolve"], namespace="Resolve", exports=("TAG", "DIGEST")),
        )))

    if settings.approval_enabled:
        # Reviewers land on what they approve: the GitOps commit that carries the upstream
        # image, or, for a build pipeline, the pipeline itself.
        review_link = (console_url(home, name) if settings.builds_images
                       else f"{settings.gitops_url.removesuffix('.git')}/commit/{source_commit}")
        approval = Action(
            name="Approve", category=APPROVAL, provider="Manual",
            configuration={
                "NotificationArn": approval_topic_arn,
                "CustomData": (f"Promote {service.name} to {settings.env_name}: tag {tag}, digest {digest} "
                               f"(GitOps commit {source_commit}). What you approve is exactly what is promoted."),
                "ExternalEntityLink": review_link,
            },
        )
        stages.append(Stage("Approval", (approval,)))

    stages.append(Stage("Promote", (
        _codebuild("PromoteImage", projects["promote"], namespace="Promote", exports=("COMMIT_SHA", "PR_URL"),
                   variables={"IMAGE_TAG": tag, "IMAGE_DIGEST": digest, "SOURCE_COMMIT": source_commit,
                              "EXECUTION_ID": EXECUTION_ID}),
    )))
    # A commit is verified directly; a pull request at its merge commit, once merged.
    verify_variables = {"REVISION": "#{Promote.COMMIT_SHA}"}
    if settings.promotion_mode == "pull-request":
        verify_variables["PR_URL"] = "#{Promote.PR_URL}"
    stages.append(Stage("Verify", tuple(
        _codebuild(f"Verify-{region}", projects[f"verify-{region}"], category=TEST,
                   region=None if region == home else region, variables=verify_variables)
        for region in service.regions
    )))
    return PipelineDefinition(name=name, region=home, stages=tuple(stages),
                              artifact_store_regions=store_regions).validate()


def trigger(settings: Settings, service: ServiceSettings) -> dict:
    """V2 trigger: pushes to the source branch that touch the service's paths."""
    if settings.builds_images:
        branch, paths = settings.app_branch, list(service.paths)
    else:
        branch, paths = settings.gitops_branch, [f"envs/{settings.upstream_env}/{service.name}/**"]
    push: dict = {"branches": {"includes": [branch]}}
    if paths:
        push["file_paths"] = {"includes": paths}
    return {"provider_type": "CodeStarSourceConnection",
            "git_configuration": {"source_action_name": "Source", "pushes": [push]}}


def render_stages(definition: PipelineDefinition) -> list[dict]:
    return [
        {"name": stage.name, "actions": [
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

    def __init__(self, name: str, args: DeliveryPipelineArgs, settings: Settings,
                 opts: pulumi.ResourceOptions | None = None):
        super().__init__("delivery:pipeline:DeliveryPipeline", name, None, opts)
        service = args.service
        regions_used = {settings.home_region, *service.regions}
        stores = {region: store for region, store in args.stores.items() if region in regions_used}
        definition = describe(settings, service, args.projects.names, args.approval_topic_arn,
                              frozenset(stores))

        statements = [
            # The action's prefix follows the ARN's service (codeconnections or codestar-connections).
            statement("UseSourceConnection", [f"{settings.connection_arn.split(':')[2]}:UseConnection"],
                      settings.connection_arn),
            statement("RunOwnBuilds", ["codebuild:BatchGetBuilds", "codebuild:StartBuild", "codebuild:StopBuild"],
                      list(args.projects.arns.values())),
            statement("ReadWriteArtifacts", ["s3:GetObject", "s3:GetObjectVersion", "s3:PutObject"],
                      [pulumi.Output.concat(s.bucket_arn, "/*") for s in stores.values()]),
            statement("InspectArtifactBuckets", ["s3:GetBucketLocation", "s3:GetBucketVersioning"],
                      [s.bucket_arn for s in stores.values()]),
            statement("UseArtifactKeys", ["kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey*",
                                          "kms:ReEncrypt*"], [s.key_arn for s in stores.values()]),
        ]
        if settings.approval_enabled:
            statements.append(statement("NotifyApprovers", ["sns:Publish"], args.approval_topic_arn))
            statements.append(statement("EncryptApprovalNotices", ["kms:Decrypt", "kms:GenerateDataKey*"],
                                        args.notification_key_arn))
        role = service_role(f"{name}-role", ServiceRoleArgs(
            service="codepipeline.amazonaws.com", path=role_path(settings), statements=statements,
            description=f"CodePipeline {definition.name}",
        ), settings, self)

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
            execution_mode=settings.execution_mode,
            role_arn=role.arn,
            artifact_stores=artifact_stores,
            stages=render_stages(definition),
            triggers=[trigger(settings, service)],
            tags={"service": service.name},
            opts=pulumi.ResourceOptions(parent=self, depends_on=role.resources),
        )
        self.name = pipeline.name
        self.arn = pipeline.arn
        self.role_arn = role.arn
        self.console_url = console_url(settings.home_region, definition.name)
        self.register_outputs({"name": self.name, "arn": self.arn, "console_url": self.console_url})
