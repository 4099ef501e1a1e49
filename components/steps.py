"""The steps of one service's pipeline, one `Step` definition each.

A `Step` is everything about one CodeBuild step of the pipeline: where it sits (stage, action name,
category, region), what it runs (buildspec, variables set on the project and on the action), what it
exports to later actions, what its role may do (IAM statements, the GitOps token, the tool bundle,
the role's sub-path) and how it runs (compute, timeout, tags). `BuildProjects` turns each step into
one CodeBuild project with its own role; `DeliveryPipeline` turns each into one action.

A pipeline is a list of steps (`PipelineSteps`). `steps_for` is the one place that decides which
pipelines and steps a service has, by its source kind and promotion mode:

| source  | delivery pipeline `<app>-<service>-<env>`                   |
|---------|-------------------------------------------------------------|
| build   | build (image), test, scan, [approval], promote, verify-<region> |
| promote | resolve, [approval], promote, verify-<region>                |

In pull-request mode the delivery pipeline ends with promote (the pull request is opened or
updated) and the verify steps form a second pipeline, `<app>-<service>-<env>-verify`, which the
merge starts: no build waits for a reviewer.

Adding a step is one `Step` here plus its commands in `buildspecs/` (`components.buildspec`).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any, Mapping

import pulumi

from components import buildspec
from components.pipeline_model import BUILD, TEST
from components.release_gates import PROMOTE_STAGE, PROVE_STAGE, VERIFY_STAGE
from components.settings import SEVERITIES, BuildSource, PromoteSource, ServiceSettings, Settings
from components.iam import statement
from components.naming import Names
from gitops.errors import VerifyDegraded, VerifyTimeout
from gitops.repo.layout import service_trigger_glob, values_file

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
SOURCE_COMMIT_TIME = f"#{{{SOURCE_NAMESPACE}.AuthorDate}}"  # ISO 8601
EXECUTION_ID = "#{codepipeline.PipelineExecutionId}"
# The verify outcomes that prove the release bad: not running before the timeout; Degraded, a failed
# sync, an aborted Rollout or pods on another digest. Any other failure (arguments, credentials, an
# unreachable cluster, a later commit superseding this one) says nothing about the release and
# reverts nothing.
REVERT_EXIT_CODES = (VerifyTimeout.exit_code, VerifyDegraded.exit_code)


class StepError(ValueError):
    """A step refers to something another step does not provide; the message names both."""


@dataclass(frozen=True, eq=False)
class Step:
    """One CodeBuild step: one project, one action, and a role (its own, or one shared with the
    service's steps of the same `role`). Compared by identity: two steps are two projects even if
    they happen to be alike."""

    # Names the project (`<pipeline>-<name>`), its role and its log stream.
    name: str
    stage: str
    action: str
    category: str
    region: str
    # The file of buildspecs/ with the step's commands (`buildspec_text` is what CodeBuild runs).
    buildspec: str
    description: str
    # Set on the project: fixed for every execution.
    project_variables: Mapping[str, pulumi.Input[str]]
    # Set on the action: per execution, usually references to earlier steps' exports.
    action_variables: Mapping[str, str] = field(default_factory=dict)
    # Variables the step exports under the stage's namespace (its buildspec's `env.exported-variables`).
    exports: tuple[str, ...] = ()
    # What the step's role may do beyond its logs, artifacts and artifact key.
    statements: tuple[Any, ...] = ()
    needs_token: bool = False
    needs_tool_bundle: bool = False
    role_subpath: str = ""
    # Steps of a service with the same `role` share one role whose statements are the union of
    # theirs, each still naming only its own step's resources (the verify steps of every region:
    # one role instead of one per region). Empty: a role of the step's own.
    role: str = ""
    privileged: bool = False
    compute_type: str = "BUILD_GENERAL1_SMALL"
    timeout_minutes: int = 20
    tags: Mapping[str, str] = field(default_factory=dict)
    # False: an EventBridge rule starts the build, outside any pipeline (no source, no artifacts).
    in_pipeline: bool = True
    # The step's buildspec starts with `gitops trigger --stop-if-created`: in the run CodePipeline
    # starts by itself when it creates the pipeline, it stops the execution and does nothing else.
    # The first step of every pipeline is one (`steps_for` adds what the guard needs: the pipeline's
    # region, the execution id, and reading and stopping that pipeline's executions).
    stops_creation_run: bool = False

    @property
    def role_name(self) -> str:
        """Names the step's role (`<service>-<role_name>-role`)."""
        return self.role or self.name

    @property
    def namespace(self) -> str | None:
        """The action's variable namespace: the stage's name, for a step that exports anything."""
        return self.stage if self.exports else None

    @property
    def buildspec_text(self) -> str:
        """What CodeBuild runs: `buildspecs/<buildspec>` with the exports and install phase rendered
        from this step (`components.buildspec`)."""
        return buildspec.render(self.buildspec, self.exports, self.needs_tool_bundle)

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
    """Where the pipeline's source action reads and what starts it: pushes to the branch (touching
    `trigger_paths`), or the success of the upstream pipelines named in `started_by`."""

    repository: str
    branch: str
    # Paths whose changes trigger the pipeline; empty: every path.
    trigger_paths: tuple[str, ...]
    # Pipelines whose successful execution starts this one (an EventBridge rule), instead of pushes.
    started_by: tuple[str, ...] = ()


@dataclass(frozen=True)
class StepInputs:
    """Resources the steps name: created by the program before the steps are laid out."""

    deployment_role_arn: pulumi.Input[str]
    # The service's ECR repository; steps of a building stack push to and scan it.
    repository_url: pulumi.Input[str] | None = None
    repository_arn: pulumi.Input[str] | None = None


@dataclass(frozen=True)
class PipelineSteps:
    """One pipeline as a list of steps: its name, its source action, then its actions in order
    (the approval is the one entry that is not a CodeBuild step)."""

    name: str
    source: PipelineSource
    steps: tuple[Step | Approval, ...]

    @property
    def build_steps(self) -> tuple[Step, ...]:
        return tuple(step for step in self.steps if isinstance(step, Step))

    @property
    def verified_regions(self) -> tuple[str, ...]:
        """The regions whose cluster a Verify step of this pipeline reads, in step order."""
        return tuple(dict.fromkeys(step.region for step in self.build_steps if step.stage == VERIFY_STAGE))

    @property
    def approval(self) -> Approval | None:
        return next((step for step in self.steps if isinstance(step, Approval)), None)


@dataclass(frozen=True)
class ServiceSteps:
    """The pipelines of one service: delivery (source to promotion, and verify in commit mode) and,
    in pull-request mode, the verify pipeline the merge starts."""

    delivery: PipelineSteps
    verification: PipelineSteps | None

    @property
    def pipelines(self) -> tuple[PipelineSteps, ...]:
        return (self.delivery,) if self.verification is None else (self.delivery, self.verification)

    @property
    def steps(self) -> tuple[Step, ...]:
        """Every CodeBuild step of the service, in pipeline order."""
        return tuple(step for pipeline in self.pipelines for step in pipeline.build_steps)


def gated_pipeline(steps: ServiceSteps) -> PipelineSteps:
    """The pipeline of the service whose Verify stage the bake holds: the verify pipeline in
    pull-request mode, else the delivery pipeline."""
    return steps.verification or steps.delivery


def revert_breach_step(settings: Settings, gated: Mapping[str, str]) -> Step:
    """The stack's one step outside its pipelines: after a gated pipeline's Verify stage failed (an
    EventBridge rule starts it with PIPELINE and EXECUTION_ID), revert the release when a blocking
    alarm failed the bake, as verify's own failure path does. `gated`: pipeline name -> service."""
    names, home, account = settings.names, settings.home_region, settings.tooling_account
    return Step(
        name="revert-breach", stage=VERIFY_STAGE, action="RevertBreach", category=TEST, region=home,
        buildspec="revert-breach.yml", timeout_minutes=20, needs_token=True, needs_tool_bundle=True,
        in_pipeline=False,
        description=f"Reverts a release of {settings.env_name} whose bake a blocking alarm failed",
        project_variables={"ENVIRONMENT": settings.env_name, "STAGE": VERIFY_STAGE,
                           "GATED_PIPELINES": json.dumps(dict(sorted(gated.items())), separators=(",", ":")),
                           "GITOPS_URL": settings.gitops_url, "GITOPS_BRANCH": settings.gitops_branch,
                           "PROMOTION_MODE": settings.promotion_mode},
        # Which rule failed the stage, and which commit its actions verified: those pipelines only.
        statements=(statement("ReadGatedExecutions",
                              ["codepipeline:ListActionExecutions", "codepipeline:ListRuleExecutions"],
                              [names.pipeline_arn_of(pipeline, home, account) for pipeline in sorted(gated)]),),
    )


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
        # Started by the upstream's proof: the success of the upstream pipelines that verify the
        # service (the delivery pipeline in commit mode, the verify pipeline a merge starts in
        # pull-request mode), never by the push of an image not yet verified.
        upstream = Names(settings.app, source.upstream)
        pipeline_source = PipelineSource(settings.gitops_repository, settings.gitops_branch, (), started_by=(
            upstream.pipeline(service.name), upstream.verify_pipeline(service.name)))
        resolve = _resolve_step(settings, service, source, common)
        image_steps = (resolve,)
        tag, digest = resolve.ref("TAG"), resolve.ref("DIGEST")
        # Reviewers land on the GitOps commit that carries the upstream image.
        review_link = f"{settings.gitops_url.removesuffix('.git')}/commit/{SOURCE_COMMIT}"
    else:
        raise TypeError(f"unknown source {source!r}")

    approval: tuple[Approval, ...] = ()
    if settings.approval_enabled:
        approval = (Approval(
            custom_data=(f"Promote {service.name} to {settings.env_name}: tag {tag}, digest {digest} "
                         f"(GitOps commit {SOURCE_COMMIT}). What you approve is exactly what is promoted."),
            review_link=review_link,
        ),)
    promote = _promote_step(settings, service, common, tag, digest)
    names = settings.names

    def verify(revision: str) -> tuple[Step, ...]:
        bake = settings.gates.bake_minutes
        verified = tuple(_verify_step(settings, service, inputs, common, revision, region, cluster, VERIFY_STAGE, bake)
                         for region, cluster in settings.service_clusters(service).items())
        if not bake:
            return verified
        # The bake holds the Verify stage (its on-success condition); then each region is verified
        # again, and that verification gives the proof (the success status) later environments need.
        return verified + tuple(_verify_step(settings, service, inputs, common, revision, region, cluster, PROVE_STAGE)
                                for region, cluster in settings.service_clusters(service).items())

    if settings.promotion_mode == "commit":
        # The commit is on the branch as promote ends: verify it in the same pipeline.
        delivery = PipelineSteps(names.pipeline(service.name), pipeline_source,
                                 (*image_steps, *approval, promote, *verify(promote.ref("COMMIT_SHA"))))
        return ServiceSteps(delivery=_guarded(settings, delivery), verification=None)
    # A pull request reaches the branch when someone merges it, which is what starts verification:
    # the merge commit, under the service's directory of this environment, on the GitOps branch.
    delivery = PipelineSteps(names.pipeline(service.name), pipeline_source, (*image_steps, *approval, promote))
    verification = PipelineSteps(
        names.verify_pipeline(service.name),
        PipelineSource(settings.gitops_repository, settings.gitops_branch,
                       (service_trigger_glob(settings.env_name, service.name),)),
        verify(SOURCE_COMMIT),
    )
    return ServiceSteps(delivery=_guarded(settings, delivery), verification=_guarded(settings, verification))


def _guarded(settings: Settings, pipeline: PipelineSteps) -> PipelineSteps:
    """`pipeline` with what its steps that stop a creation run need from it: the pipeline's region
    (a Verify step runs elsewhere), the execution's id, and leave to read and stop the executions
    of this pipeline, no other."""
    home = settings.home_region
    arn = settings.names.pipeline_arn_of(pipeline.name, home, settings.tooling_account)
    guard = statement("StopOwnCreationRun",
                      ["codepipeline:GetPipelineExecution", "codepipeline:StopPipelineExecution"], arn)

    def with_guard(step: Step | Approval) -> Step | Approval:
        if not isinstance(step, Step) or not step.stops_creation_run:
            return step
        return dataclasses.replace(step, statements=(*step.statements, guard),
                                   project_variables={**step.project_variables, "PIPELINE_REGION": home},
                                   action_variables={**step.action_variables, "EXECUTION_ID": EXECUTION_ID})

    return dataclasses.replace(pipeline, steps=tuple(with_guard(step) for step in pipeline.steps))


def _build_step(settings: Settings, service: ServiceSettings, inputs: StepInputs, common: dict) -> Step:
    # The tag is the commit sha and the repository's tags are immutable: a rebuild of the commit
    # reuses the image already under it (`gitops image-digest`, hence the tool bundle) instead of
    # a push ECR would refuse, and the exported digest is always the one ECR holds.
    return Step(
        name="build", stage="Build", action="BuildImage", category=BUILD, region=settings.home_region,
        buildspec="build.yml", privileged=True, compute_type="BUILD_GENERAL1_MEDIUM", timeout_minutes=60,
        needs_tool_bundle=True, stops_creation_run=True,
        description=f"Builds and pushes the {service.name} image, or reuses the one its commit has",
        project_variables={**common, "REPOSITORY_URI": inputs.repository_url,
                           "REPOSITORY_NAME": settings.names.repository(service.name),
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
            statement("ReadOwnImages", ["ecr:DescribeImages"], inputs.repository_arn),
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
    # Before anyone is asked to approve: the image must be proven in the upstream (gitops proof).
    return Step(
        name="resolve", stage="Resolve", action="ResolveImage", category=BUILD, region=settings.home_region,
        buildspec="resolve.yml", timeout_minutes=10, needs_token=True, needs_tool_bundle=True, stops_creation_run=True,
        description=f"Reads the {service.name} image {source.upstream} runs and checks {source.upstream} proved it",
        project_variables={**common, "UPSTREAM_ENV": source.upstream,
                           "UPSTREAM_VALUES_FILE": values_file(source.upstream, service.name),
                           "GITOPS_URL": settings.gitops_url, "GITOPS_BRANCH": settings.gitops_branch,
                           "PROOF_FLAGS": proof_flags(source)},
        exports=("TAG", "DIGEST"),
    )


def proof_flags(source: PromoteSource) -> str:
    """The CLI options of what the upstream's proof must hold (`gitops proof`, `promote`): its
    required regions and soak, from `source.upstreamRegions` and `promotion.soakMinutes`."""
    regions = f"--upstream-regions {','.join(source.upstream_regions)} " if source.upstream_regions else ""
    return f"{regions}--soak-minutes {source.soak_minutes}"


def _promote_step(settings: Settings, service: ServiceSettings, common: dict, tag: str, digest: str) -> Step:
    flags = "--auto-merge" if settings.auto_merge else ""
    return Step(
        name="promote", stage=PROMOTE_STAGE, action="PromoteImage", category=BUILD, region=settings.home_region,
        buildspec="promote.yml", timeout_minutes=15, needs_token=True, needs_tool_bundle=True,
        description=f"Promotes {service.name} to {settings.env_name} in the GitOps repository",
        project_variables={**common, "GITOPS_URL": settings.gitops_url, "GITOPS_BRANCH": settings.gitops_branch,
                           "PROMOTION_MODE": settings.promotion_mode, "PROMOTION_FLAGS": flags,
                           # There the upstream's promotion of the image recorded them, and there it
                           # must be proven (checked again: a revert or block may have come since Resolve).
                           **({"SOURCE_FROM_ENV": settings.source.upstream,
                               "PROOF_FLAGS": f"--proof-from {settings.source.upstream} {proof_flags(settings.source)}"}
                              if isinstance(settings.source, PromoteSource) else {})},
        # The application commit and its time (Source-Commit, Source-Commit-Time: where DORA's lead
        # time starts) where the pipeline's source is the application repository. A promote
        # pipeline's source is the GitOps repository: its commit is not an application commit.
        action_variables={"IMAGE_TAG": tag, "IMAGE_DIGEST": digest, "EXECUTION_ID": EXECUTION_ID,
                          **({"SOURCE_COMMIT": SOURCE_COMMIT, "SOURCE_COMMIT_TIME": SOURCE_COMMIT_TIME}
                             if isinstance(settings.source, BuildSource) else {})},
        exports=("COMMIT_SHA", "PR_URL"),
        # Who approved this execution (the Approved-By trailer), read from its own pipeline only.
        statements=(statement("ReadOwnApproval", ["codepipeline:ListActionExecutions"],
                              settings.names.pipeline_arn(service.name, settings.home_region,
                                                          settings.tooling_account)),),
    )



def _verify_step(settings: Settings, service: ServiceSettings, inputs: StepInputs, common: dict,
                 revision: str, region: str, cluster: str, stage: str, bake_minutes: int | None = None) -> Step:
    """Verify REVISION in one region's cluster; on failure, revert the environment to its last
    verified version. With `bake_minutes` the verification is reported pending (verified, baking):
    the Prove stage after the bake verifies again and reports success."""
    return Step(
        name=f"{stage.lower()}-{region}", stage=stage, action=f"{stage}-{region}", category=TEST, region=region,
        # gitops verify gives up after 30 minutes, leaving the revert time before the build's timeout:
        # CodeBuild stops a timed-out build without running its post_build phase.
        buildspec="verify.yml", timeout_minutes=45, needs_token=True, needs_tool_bundle=True,
        role_subpath=VERIFY_ROLE_SUBPATH, role="verify", stops_creation_run=True,
        description=(f"Proves that {region} runs the promoted {service.name}; reverts it if not"
                     + (f" (then a {bake_minutes}-minute bake)" if bake_minutes else
                        " (after the bake)" if stage == PROVE_STAGE else "")),
        project_variables={**common, "CLUSTER": cluster, "GITOPS_URL": settings.gitops_url,
                           **({"BAKE_MINUTES": str(bake_minutes)} if bake_minutes else {}),
                           "GITOPS_BRANCH": settings.gitops_branch, "PROMOTION_MODE": settings.promotion_mode,
                           "REVERT_EXIT_CODES": " ".join(map(str, REVERT_EXIT_CODES)),
                           "DEPLOYMENT_ROLE_ARN": inputs.deployment_role_arn},
        action_variables={"REVISION": revision, "EXECUTION_ID": EXECUTION_ID},
        statements=(statement("AssumeDeploymentRole", ["sts:AssumeRole"], inputs.deployment_role_arn),),
    )
