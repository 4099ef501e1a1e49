"""The steps of one service's pipeline, one `Step` definition each.

A `Step` is everything about one CodeBuild step of the pipeline: where it sits (stage, action name,
category, region), what it runs (buildspec, variables set on the project and on the action), what it
exports to later actions, what its role may do (IAM statements, the GitOps token, the tool bundle,
the role's sub-path) and how it runs (compute, timeout, tags). `BuildProjects` turns each step into
one CodeBuild project with its own role; `DeliveryPipeline` turns each into one action.

`steps_for` is the one place that decides which steps a stack has, by its source kind:

| source  | steps                                                        |
|---------|--------------------------------------------------------------|
| build   | build (image), test, scan, [approval], promote, verify-<region> |
| promote | resolve, [approval], promote, verify-<region>                |

Adding a step is one `Step` here plus its buildspec in `buildspecs/`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

import pulumi

from components.pipeline_model import BUILD, TEST
from components.settings import SEVERITIES, BuildSource, PromoteSource, ServiceSettings, Settings
from components.iam import statement
from gitops.layout import service_trigger_glob

# Tag the policy pack reads: only projects carrying it may run privileged (Docker builds).
PURPOSE_TAG = "delivery:purpose"
IMAGE_BUILD = "image-build"
# CodeBuild roles that run `gitops verify` live under this sub-path; only they may assume the
# environment's deployment role.
VERIFY_ROLE_SUBPATH = "verify"

SOURCE_NAMESPACE = "Source"
# What the CodeStarSourceConnection action exports (CodePipeline user guide, "Variables").
SOURCE_EXPORTS = ("CommitId", "BranchName", "FullRepositoryName", "CommitMessage", "ConnectionArn", "AuthorDate")
SOURCE_COMMIT = f"#{{{SOURCE_NAMESPACE}.CommitId}}"
EXECUTION_ID = "#{codepipeline.PipelineExecutionId}"


class StepError(ValueError):
    """A step refers to something another step does not provide; the message names both."""


@dataclass(frozen=True, eq=False)
class Step:
    """One CodeBuild step: one project, one role, one action. Compared by identity: two steps are
    two projects even if they happen to be alike."""

    # Names the project (`<pipeline>-<name>`), its role and its log stream.
    name: str
    stage: str
    action: str
    category: str
    region: str
    buildspec: str
    description: str
    # Set on the project: fixed for every execution.
    project_variables: Mapping[str, pulumi.Input[str]]
    # Set on the action: per execution, usually references to earlier steps' exports.
    action_variables: Mapping[str, str] = field(default_factory=dict)
    # Variables the buildspec exports (`env.exported-variables`), under the stage's namespace.
    exports: tuple[str, ...] = ()
    # What the step's role may do beyond its logs, artifacts and artifact key.
    statements: tuple[Any, ...] = ()
    needs_token: bool = False
    needs_tool_bundle: bool = False
    role_subpath: str = ""
    privileged: bool = False
    compute_type: str = "BUILD_GENERAL1_SMALL"
    timeout_minutes: int = 20
    tags: Mapping[str, str] = field(default_factory=dict)

    @property
    def namespace(self) -> str | None:
        """The action's variable namespace: the stage's name, for a step that exports anything."""
        return self.stage if self.exports else None

    def ref(self, variable: str) -> str:
        """`#{Namespace.VARIABLE}` for a later action; fails at plan time for a variable not exported."""
        if variable not in self.exports:
            exported = ", ".join(self.exports) or "nothing"
            raise StepError(f"step {self.name!r} does not export {variable!r} (it exports {exported}): "
                            f"add it to the step's exports and its buildspec's env.exported-variables")
        return f"#{{{self.namespace}.{variable}}}"


@dataclass(frozen=True)
class Approval:
    """The manual approval before promotion: what reviewers read and where they land."""

    custom_data: str
    review_link: str


@dataclass(frozen=True)
class PipelineSource:
    """Where the pipeline's source action reads and which pushes start it."""

    repository: str
    branch: str
    # Paths whose changes trigger the pipeline; empty: every path.
    trigger_paths: tuple[str, ...]


@dataclass(frozen=True)
class StepInputs:
    """Resources the steps name: created by the program before the steps are laid out."""

    deployment_role_arn: pulumi.Input[str]
    # The service's ECR repository; steps of a building stack push to and scan it.
    repository_url: pulumi.Input[str] | None = None
    repository_arn: pulumi.Input[str] | None = None


@dataclass(frozen=True)
class ServiceSteps:
    """One service's pipeline as steps, in order: source, the image steps, approval, promote, verify."""

    source: PipelineSource
    image_steps: tuple[Step, ...]
    approval: Approval | None
    promote: Step
    verify: tuple[Step, ...]

    @property
    def steps(self) -> tuple[Step, ...]:
        """Every CodeBuild step, in pipeline order."""
        return (*self.image_steps, self.promote, *self.verify)


def failing_severities(threshold: str) -> str:
    """"HIGH" -> "CRITICAL HIGH": the severities at or above the threshold."""
    return " ".join(SEVERITIES[: SEVERITIES.index(threshold) + 1])


def console_url(region: str, name: str) -> str:
    return f"https://{region}.console.aws.amazon.com/codesuite/codepipeline/pipelines/{name}/view?region={region}"


def steps_for(settings: Settings, service: ServiceSettings, inputs: StepInputs) -> ServiceSteps:
    """The steps of one service's pipeline: the only place the source kind decides anything."""
    common = {"SERVICE": service.name, "ENVIRONMENT": settings.env_name}
    home = settings.home_region
    source = settings.source
    if isinstance(source, BuildSource):
        pipeline_source = PipelineSource(source.repository, source.branch, service.paths)
        build = _build_step(settings, service, inputs, common)
        image_steps = (build, _test_step(settings, service, common), _scan_step(settings, service, inputs, common, build))
        tag, digest = build.ref("IMAGE_TAG"), build.ref("IMAGE_DIGEST")
        # Reviewers of a build pipeline land on the pipeline itself.
        review_link = console_url(home, settings.names.pipeline(service.name))
    elif isinstance(source, PromoteSource):
        pipeline_source = PipelineSource(settings.gitops_repository, settings.gitops_branch,
                                         (service_trigger_glob(source.upstream, service.name),))
        resolve = _resolve_step(settings, service, source, common)
        image_steps = (resolve,)
        tag, digest = resolve.ref("TAG"), resolve.ref("DIGEST")
        # Reviewers land on the GitOps commit that carries the upstream image.
        review_link = f"{settings.gitops_url.removesuffix('.git')}/commit/{SOURCE_COMMIT}"
    else:
        raise TypeError(f"unknown source {source!r}")

    approval = None
    if settings.approval_enabled:
        approval = Approval(
            custom_data=(f"Promote {service.name} to {settings.env_name}: tag {tag}, digest {digest} "
                         f"(GitOps commit {SOURCE_COMMIT}). What you approve is exactly what is promoted."),
            review_link=review_link,
        )
    promote = _promote_step(settings, service, common, tag, digest)
    verify = tuple(_verify_step(settings, service, inputs, common, promote, region) for region in service.regions)
    return ServiceSteps(source=pipeline_source, image_steps=image_steps, approval=approval,
                        promote=promote, verify=verify)


def _build_step(settings: Settings, service: ServiceSettings, inputs: StepInputs, common: dict) -> Step:
    return Step(
        name="build", stage="Build", action="BuildImage", category=BUILD, region=settings.home_region,
        buildspec="build.yml", privileged=True, compute_type="BUILD_GENERAL1_MEDIUM", timeout_minutes=60,
        description=f"Builds and pushes the {service.name} image",
        project_variables={**common, "REPOSITORY_URI": inputs.repository_url,
                           "DOCKERFILE": service.dockerfile, "BUILD_CONTEXT": service.context},
        action_variables={"SOURCE_COMMIT": SOURCE_COMMIT},
        exports=("IMAGE_TAG", "IMAGE_DIGEST"),
        statements=(
            # GetAuthorizationToken has no resource-level permissions.
            statement("EcrLogin", ["ecr:GetAuthorizationToken"], "*"),
            statement("PushOwnRepository", [
                "ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:CompleteLayerUpload",
                "ecr:GetDownloadUrlForLayer", "ecr:InitiateLayerUpload", "ecr:PutImage",
                "ecr:UploadLayerPart"], inputs.repository_arn),
        ),
        tags={PURPOSE_TAG: IMAGE_BUILD},
    )


def _test_step(settings: Settings, service: ServiceSettings, common: dict) -> Step:
    # Same stage and run order as the image build: the two run in parallel.
    return Step(
        name="test", stage="Build", action="UnitTest", category=TEST, region=settings.home_region,
        buildspec="test.yml", timeout_minutes=30,
        description=f"Runs the {service.name} unit tests",
        project_variables={**common, "TEST_COMMAND": service.test_command},
    )


def _scan_step(settings: Settings, service: ServiceSettings, inputs: StepInputs, common: dict,
               build: Step) -> Step:
    return Step(
        name="scan", stage="Scan", action="ImageScan", category=TEST, region=settings.home_region,
        buildspec="scan.yml",
        description=f"Fails on image findings at or above {settings.scan_severity}",
        project_variables={**common, "REPOSITORY_NAME": settings.names.repository(service.name),
                           "FAILING_SEVERITIES": failing_severities(settings.scan_severity)},
        action_variables={"IMAGE_DIGEST": build.ref("IMAGE_DIGEST")},
        statements=(statement("ReadScanFindings", ["ecr:DescribeImageScanFindings", "ecr:DescribeImages"],
                              inputs.repository_arn),),
    )


def _resolve_step(settings: Settings, service: ServiceSettings, source: PromoteSource, common: dict) -> Step:
    return Step(
        name="resolve", stage="Resolve", action="ResolveImage", category=BUILD, region=settings.home_region,
        buildspec="resolve.yml", timeout_minutes=10, needs_tool_bundle=True,
        description=f"Reads the {service.name} image {source.upstream} runs",
        project_variables={**common, "UPSTREAM_ENV": source.upstream},
        exports=("TAG", "DIGEST"),
    )


def _promote_step(settings: Settings, service: ServiceSettings, common: dict, tag: str, digest: str) -> Step:
    flags = "--auto-merge" if settings.auto_merge else ""
    return Step(
        name="promote", stage="Promote", action="PromoteImage", category=BUILD, region=settings.home_region,
        buildspec="promote.yml", timeout_minutes=15, needs_token=True, needs_tool_bundle=True,
        description=f"Promotes {service.name} to {settings.env_name} in the GitOps repository",
        project_variables={**common, "GITOPS_URL": settings.gitops_url, "GITOPS_BRANCH": settings.gitops_branch,
                           "PROMOTION_MODE": settings.promotion_mode, "PROMOTION_FLAGS": flags},
        action_variables={"IMAGE_TAG": tag, "IMAGE_DIGEST": digest, "SOURCE_COMMIT": SOURCE_COMMIT,
                          "EXECUTION_ID": EXECUTION_ID},
        exports=("COMMIT_SHA", "PR_URL"),
    )


def _verify_step(settings: Settings, service: ServiceSettings, inputs: StepInputs, common: dict,
                 promote: Step, region: str) -> Step:
    # A commit is verified directly; a pull request at its merge commit, once merged.
    action_variables = {"REVISION": promote.ref("COMMIT_SHA")}
    if settings.promotion_mode == "pull-request":
        action_variables["PR_URL"] = promote.ref("PR_URL")
    return Step(
        name=f"verify-{region}", stage="Verify", action=f"Verify-{region}", category=TEST, region=region,
        buildspec="verify.yml", timeout_minutes=45, needs_token=True, needs_tool_bundle=True,
        role_subpath=VERIFY_ROLE_SUBPATH,
        description=f"Waits for Argo CD in {region} to run the promoted {service.name}",
        project_variables={**common, "CLUSTER": settings.clusters[region], "GITOPS_URL": settings.gitops_url,
                           "DEPLOYMENT_ROLE_ARN": inputs.deployment_role_arn},
        action_variables=action_variables,
        statements=(statement("AssumeDeploymentRole", ["sts:AssumeRole"], inputs.deployment_role_arn),),
    )
