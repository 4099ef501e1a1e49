"""BuildProjects: one CodeBuild project per step of a service, each with a least-privilege role.

A role is the step's own, except for steps sharing one (`Step.role`: the verify steps of every
region): their role's statements are the union of the steps', each naming only its step's region's
log streams, artifacts and key, so together they grant exactly what the per-step roles granted, in
one role instead of one per region (IAM's roles per account is the quota a large stack meets first).

What each step runs, with which variables and permissions, is its `Step` (`components.steps`);
this component adds what every project has: the region's artifact bucket and key, the service's
log group, and the GitOps token and tool bundle for the steps that need them. The buildspec is the
step's (`Step.buildspec_text`) and is set on the project, so what runs is decided here and not by a
file in the application repository.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components import logical_names as logical
from components.artifact_store import ArtifactStore
from components.iam import ServiceRole, ServiceRoleArgs, merged_statements, service_role, statement
from components.naming import Names
from components.settings import GitOpsToken
from components.steps import Step

IMAGE = "aws/codebuild/amazonlinux-x86_64-standard:5.0"
# Owns the stack's steps that belong to no service (their projects, role and log group): not a
# DNS label, so no service can be named so.
STACK_STEPS = "_stack"


@dataclass(frozen=True)
class BuildProjectsArgs:
    names: Names
    # The account whose CodeBuild assumes the projects' roles.
    tooling_account: str
    # The service whose steps these are, or STACK_STEPS for the stack's own.
    service: str
    steps: tuple[Step, ...]
    # region -> the stack's artifact store there
    stores: dict[str, ArtifactStore]
    # S3 key of the gitops tool bundle, the same in every region's artifact bucket.
    tools_key: pulumi.Input[str]
    # The secret the steps that need the token read it from.
    gitops_token: GitOpsToken
    # Days the service's log groups keep build logs.
    log_retention_days: int


@dataclass(frozen=True)
class BuildProject:
    """The project of one step."""

    step: Step
    name: pulumi.Output[str]
    arn: pulumi.Output[str]
    role_arn: pulumi.Output[str]


class BuildProjects(pulumi.ComponentResource):
    """CodeBuild projects (encrypted with the region's artifact key, logged, time-bounded) and
    their least-privilege roles."""

    # One per step, in the steps' order.
    projects: tuple[BuildProject, ...]

    def __init__(self, name: str, args: BuildProjectsArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("delivery:build:BuildProjects", name, None, opts)
        # One log group per region for the service's projects; each project writes its own streams.
        log_groups = {
            region: aws.cloudwatch.LogGroup(
                logical.log_group(name, region),
                region=region,
                name=args.names.log_group(args.service),
                retention_in_days=args.log_retention_days,
                kms_key_id=args.stores[region].key_arn,
                opts=pulumi.ResourceOptions(parent=self),
            )
            for region in sorted({step.region for step in args.steps})
        }
        roles = self._roles(name, args, log_groups)
        self.projects = tuple(self._project(name, step, args, log_groups[step.region], roles[step.role_name])
                              for step in args.steps)
        self.register_outputs({"projects": {p.step.name: p.name for p in self.projects},
                               "roles": {p.step.name: p.role_arn for p in self.projects}})

    def of(self, step: Step) -> BuildProject:
        return next(project for project in self.projects if project.step is step)

    def _roles(self, name: str, args: BuildProjectsArgs,
               log_groups: dict[str, aws.cloudwatch.LogGroup]) -> dict[str, ServiceRole]:
        """One role per `Step.role_name`, for the steps that use it."""
        groups: dict[str, list[Step]] = {}
        for step in args.steps:
            groups.setdefault(step.role_name, []).append(step)
        roles = {}
        for role_name, steps in groups.items():
            statements = [s for step in steps
                          for s in _statements(step, args.stores[step.region], log_groups[step.region], args.gitops_token)]
            first = steps[0]
            roles[role_name] = service_role(logical.role(logical.project(name, role_name)), ServiceRoleArgs(
                service="codebuild.amazonaws.com",
                path=args.names.role_path(first.role_subpath),
                statements=merged_statements(statements),
                description=f"CodeBuild {role_name} of {args.service} ({args.names.app} {args.names.env})",
                source_account=args.tooling_account,
            ), self, formerly=logical.role(logical.project(name, first.name)))
        return roles

    def _project(self, name: str, step: Step, args: BuildProjectsArgs,
                 log_group: aws.cloudwatch.LogGroup, role: ServiceRole) -> BuildProject:
        names = args.names
        resource_name = logical.project(name, step.name)
        store = args.stores[step.region]
        project = aws.codebuild.Project(
            resource_name,
            region=step.region,
            name=names.project(args.service, step.name),
            description=step.description,
            service_role=role.arn,
            encryption_key=store.key_arn,
            build_timeout=step.timeout_minutes,
            queued_timeout=60,
            source={"type": "CODEPIPELINE" if step.in_pipeline else "NO_SOURCE", "buildspec": step.buildspec_text},
            artifacts={"type": "CODEPIPELINE" if step.in_pipeline else "NO_ARTIFACTS"},
            environment={
                "type": "LINUX_CONTAINER",
                "compute_type": step.compute_type,
                "image": IMAGE,
                "image_pull_credentials_type": "CODEBUILD",
                "privileged_mode": step.privileged,
                "environment_variables": _variables(step, store, args),
            },
            logs_config={
                "cloudwatch_logs": {"status": "ENABLED", "group_name": log_group.name, "stream_name": step.name},
                "s3_logs": {"status": "DISABLED"},
            },
            tags={"service": args.service, **step.tags},
            opts=pulumi.ResourceOptions(parent=self, depends_on=role.resources),
        )
        return BuildProject(step=step, name=project.name, arn=project.arn, role_arn=role.arn)


def _statements(step: Step, store: ArtifactStore, log_group: aws.cloudwatch.LogGroup,
                token: GitOpsToken) -> list[dict]:
    """What the step's role may do: its own log streams, the artifacts and key of its region, the
    step's own statements, and the GitOps token when the step needs it."""
    statements = [
        # Only the project's own streams (`<step>/<build id>`) in the service's log group.
        statement("WriteOwnLogs", ["logs:CreateLogStream", "logs:PutLogEvents"],
                  pulumi.Output.concat(log_group.arn, f":log-stream:{step.name}/*")),
        statement("ReadArtifacts", ["s3:GetObject", "s3:GetObjectVersion"],
                  pulumi.Output.concat(store.bucket_arn, "/*")),
        statement("LocateArtifactBucket", ["s3:GetBucketLocation"], store.bucket_arn),
        statement("UseArtifactKey", ["kms:Decrypt", "kms:GenerateDataKey"], store.key_arn),
        *step.statements,
    ]
    if step.needs_token:
        statements.append(statement("ReadGitOpsToken", ["secretsmanager:GetSecretValue"], token.secret_arn))
    if step.needs_token and token.key_arn:
        # Secrets Manager decrypts the secret with the caller's permission on its key; only
        # through Secrets Manager of the secret's region, never the key directly.
        statements.append(statement(
            "DecryptGitOpsToken", ["kms:Decrypt"], token.key_arn,
            condition={"StringEquals": {"kms:ViaService": f"secretsmanager.{token.region}.amazonaws.com"}}))
    return statements


def _variables(step: Step, store: ArtifactStore, args: BuildProjectsArgs) -> list[dict]:
    """The project's environment: the step's variables, then the tool bundle and the token for
    the steps that need them."""
    token = args.gitops_token
    variables = [{"name": key, "value": value, "type": "PLAINTEXT"} for key, value in step.project_variables.items()]
    # CodeBuild adds this variable to every new project (report auto-discovery on), so a project
    # without it shows a diff on the second `pulumi up` (pulumi-aws issue 3844). Set as CodeBuild sets it.
    variables.append({"name": "CODEBUILD_CONFIG_AUTO_DISCOVER", "value": "true", "type": "PLAINTEXT"})
    if step.needs_tool_bundle:
        variables.append({"name": "TOOLS_BUNDLE", "type": "PLAINTEXT",
                          "value": pulumi.Output.format("s3://{0}/{1}", store.bucket_name, args.tools_key)})
    if step.needs_token and step.region == token.region:
        # Resolved by CodeBuild at build start; the token never appears in the project definition.
        variables.append({"name": "GITOPS_TOKEN", "type": "SECRETS_MANAGER", "value": token.secret_arn})
    elif step.needs_token:
        # AWS documents no cross-region resolution of a SECRETS_MANAGER variable: a step in
        # another region gets the ARN and the CLI reads the secret in the ARN's own region.
        variables.append({"name": "GITOPS_TOKEN_SECRET_ARN", "type": "PLAINTEXT", "value": token.secret_arn})
    return variables
