"""BuildProjects: the CodeBuild projects one service's pipeline runs, each with its own role.

Which projects exist depends on the stack's source kind:

| kind    | projects                                             |
|---------|------------------------------------------------------|
| build   | build (image), test, scan, promote, verify-<region>  |
| promote | resolve, promote, verify-<region>                    |

Buildspecs come from `buildspecs/` and are set on the project, so what runs is decided here and
not by a file in the application repository.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path

import pulumi
import pulumi_aws as aws

from components.artifact_store import ArtifactStore
from components.deployment_role import VERIFY_ROLE_SUBPATH
from components.iam import ServiceRoleArgs, role_path, service_role, statement
from components.settings import SEVERITIES, ServiceSettings, Settings

BUILDSPECS = Path(__file__).resolve().parent.parent / "buildspecs"
IMAGE = "aws/codebuild/amazonlinux-x86_64-standard:5.0"
LOG_RETENTION_DAYS = 90
# Tag the policy pack reads: only projects carrying it may run privileged (Docker builds).
PURPOSE_TAG = "delivery:purpose"
IMAGE_BUILD = "image-build"


@dataclass(frozen=True)
class ProjectSpec:
    """What differs between the projects of a service."""

    kind: str
    buildspec: str
    region: str
    description: str
    statements: list
    variables: dict[str, pulumi.Input[str]]
    privileged: bool = False
    compute_type: str = "BUILD_GENERAL1_SMALL"
    timeout_minutes: int = 20
    needs_token: bool = False
    role_subpath: str = ""
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class BuildProjectsArgs:
    service: ServiceSettings
    # region -> the stack's artifact store there
    stores: dict[str, ArtifactStore]
    # S3 key of the gitops tool bundle, the same in every region's artifact bucket.
    tools_key: pulumi.Input[str]
    deployment_role_arn: pulumi.Input[str]
    # The service's ECR repository (only for stacks that build images).
    repository_url: pulumi.Input[str] | None = None
    repository_arn: pulumi.Input[str] | None = None


class BuildProjects(pulumi.ComponentResource):
    """CodeBuild projects (encrypted with the region's artifact key, logged, time-bounded) and
    one least-privilege role per project."""

    # project kind ("build", "verify-eu-west-1", …) -> project name / ARN
    names: dict[str, pulumi.Output[str]]
    arns: dict[str, pulumi.Output[str]]
    role_arns: dict[str, pulumi.Output[str]]

    def __init__(self, name: str, args: BuildProjectsArgs, settings: Settings,
                 opts: pulumi.ResourceOptions | None = None):
        super().__init__("delivery:build:BuildProjects", name, None, opts)
        self.names, self.arns, self.role_arns = {}, {}, {}
        specs = _project_specs(args, settings)
        # One log group per region for the service's projects; each project writes its own streams.
        log_groups = {
            region: aws.cloudwatch.LogGroup(
                f"{name}-logs-{region}",
                region=region,
                name=f"/aws/codebuild/{settings.app}/{settings.env_name}/{args.service.name}",
                retention_in_days=LOG_RETENTION_DAYS,
                kms_key_id=args.stores[region].key_arn,
                opts=pulumi.ResourceOptions(parent=self),
            )
            for region in sorted({spec.region for spec in specs})
        }
        for spec in specs:
            self._project(name, spec, args, settings, log_groups[spec.region])
        self.register_outputs({"projects": self.names, "roles": self.role_arns})

    def _project(self, name: str, spec: ProjectSpec, args: BuildProjectsArgs, settings: Settings,
                 log_group: aws.cloudwatch.LogGroup) -> None:
        resource_name = f"{name}-{spec.kind}"
        store = args.stores[spec.region]
        region = spec.region
        statements = [
            # Only the project's own streams (`<kind>/<build id>`) in the service's log group.
            statement("WriteOwnLogs", ["logs:CreateLogStream", "logs:PutLogEvents"],
                      pulumi.Output.concat(log_group.arn, f":log-stream:{spec.kind}/*")),
            statement("ReadArtifacts", ["s3:GetObject", "s3:GetObjectVersion"],
                      pulumi.Output.concat(store.bucket_arn, "/*")),
            statement("LocateArtifactBucket", ["s3:GetBucketLocation"], store.bucket_arn),
            statement("UseArtifactKey", ["kms:Decrypt", "kms:GenerateDataKey"], store.key_arn),
            *spec.statements,
        ]
        if spec.needs_token:
            statements.append(statement("ReadGitOpsToken", ["secretsmanager:GetSecretValue"],
                                        settings.gitops_token_secret_arn))
        role = service_role(f"{resource_name}-role", ServiceRoleArgs(
            service="codebuild.amazonaws.com",
            path=role_path(settings, spec.role_subpath),
            statements=statements,
            description=f"CodeBuild {spec.kind} of {args.service.name} ({settings.app} {settings.env_name})",
        ), settings, self)

        variables = [{"name": key, "value": value, "type": "PLAINTEXT"} for key, value in spec.variables.items()]
        if spec.kind in ("resolve", "promote") or spec.kind.startswith("verify"):
            variables.append({"name": "TOOLS_BUNDLE", "type": "PLAINTEXT",
                              "value": pulumi.Output.format("s3://{0}/{1}", store.bucket_name, args.tools_key)})
        if spec.needs_token:
            # Resolved by CodeBuild at build start; the token never appears in the project definition.
            variables.append({"name": "GITOPS_TOKEN", "type": "SECRETS_MANAGER",
                              "value": settings.gitops_token_secret_arn})

        project = aws.codebuild.Project(
            resource_name,
            region=region,
            name=f"{settings.app}-{args.service.name}-{settings.env_name}-{spec.kind}",
            description=spec.description,
            service_role=role.arn,
            encryption_key=store.key_arn,
            build_timeout=spec.timeout_minutes,
            queued_timeout=60,
            source={"type": "CODEPIPELINE", "buildspec": _buildspec(spec.buildspec)},
            artifacts={"type": "CODEPIPELINE"},
            environment={
                "type": "LINUX_CONTAINER",
                "compute_type": spec.compute_type,
                "image": IMAGE,
                "image_pull_credentials_type": "CODEBUILD",
                "privileged_mode": spec.privileged,
                "environment_variables": variables,
            },
            logs_config={
                "cloudwatch_logs": {"status": "ENABLED", "group_name": log_group.name, "stream_name": spec.kind},
                "s3_logs": {"status": "DISABLED"},
            },
            tags={"service": args.service.name, **spec.tags},
            opts=pulumi.ResourceOptions(parent=self, depends_on=role.resources),
        )
        self.names[spec.kind] = project.name
        self.arns[spec.kind] = project.arn
        self.role_arns[spec.kind] = role.arn


@functools.cache
def _buildspec(file: str) -> str:
    return (BUILDSPECS / file).read_text()


def failing_severities(threshold: str) -> str:
    """"HIGH" -> "CRITICAL HIGH": the severities at or above the threshold."""
    return " ".join(SEVERITIES[: SEVERITIES.index(threshold) + 1])


def _project_specs(args: BuildProjectsArgs, settings: Settings) -> list[ProjectSpec]:
    service = args.service
    home = settings.home_region
    common = {"SERVICE": service.name, "ENVIRONMENT": settings.env_name}
    specs: list[ProjectSpec] = []
    if settings.builds_images:
        repository = args.repository_arn
        specs += [
            ProjectSpec(
                kind="build", buildspec="build.yml", region=home, privileged=True,
                compute_type="BUILD_GENERAL1_MEDIUM", timeout_minutes=60,
                description=f"Builds and pushes the {service.name} image",
                variables={**common, "REPOSITORY_URI": args.repository_url,
                           "DOCKERFILE": service.dockerfile, "BUILD_CONTEXT": service.context},
                statements=[
                    # GetAuthorizationToken has no resource-level permissions.
                    statement("EcrLogin", ["ecr:GetAuthorizationToken"], "*"),
                    statement("PushOwnRepository", [
                        "ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:CompleteLayerUpload",
                        "ecr:GetDownloadUrlForLayer", "ecr:InitiateLayerUpload", "ecr:PutImage",
                        "ecr:UploadLayerPart"], repository),
                ],
                tags={PURPOSE_TAG: IMAGE_BUILD},
            ),
            ProjectSpec(
                kind="test", buildspec="test.yml", region=home, timeout_minutes=30,
                description=f"Runs the {service.name} unit tests",
                variables={**common, "TEST_COMMAND": service.test_command}, statements=[],
            ),
            ProjectSpec(
                kind="scan", buildspec="scan.yml", region=home,
                description=f"Fails on image findings at or above {settings.scan_severity}",
                variables={**common, "REPOSITORY_NAME": f"{settings.app}/{service.name}",
                           "FAILING_SEVERITIES": failing_severities(settings.scan_severity)},
                statements=[statement("ReadScanFindings",
                                      ["ecr:DescribeImageScanFindings", "ecr:DescribeImages"], repository)],
            ),
        ]
    else:
        specs.append(ProjectSpec(
            kind="resolve", buildspec="resolve.yml", region=home, timeout_minutes=10,
            description=f"Reads the {service.name} image {settings.upstream_env} runs",
            variables={**common, "UPSTREAM_ENV": settings.upstream_env}, statements=[],
        ))
    flags = "--auto-merge" if settings.auto_merge else ""
    specs.append(ProjectSpec(
        kind="promote", buildspec="promote.yml", region=home, timeout_minutes=15, needs_token=True,
        description=f"Promotes {service.name} to {settings.env_name} in the GitOps repository",
        variables={**common, "GITOPS_URL": settings.gitops_url, "GITOPS_BRANCH": settings.gitops_branch,
                   "PROMOTION_MODE": settings.promotion_mode, "PROMOTION_FLAGS": flags},
        statements=[],
    ))
    for region in service.regions:
        specs.append(ProjectSpec(
            kind=f"verify-{region}", buildspec="verify.yml", region=region, timeout_minutes=45,
            needs_token=True, role_subpath=VERIFY_ROLE_SUBPATH,
            description=f"Waits for Argo CD in {region} to run the promoted {service.name}",
            variables={**common, "CLUSTER": settings.clusters[region], "GITOPS_URL": settings.gitops_url,
                       "DEPLOYMENT_ROLE_ARN": args.deployment_role_arn},
            statements=[statement("AssumeDeploymentRole", ["sts:AssumeRole"], args.deployment_role_arn)],
        ))
    return specs
