"""The requests the running system makes, and the ones it must never be able to make.

`paths_for(settings)` declares every access path of a stack (see `policy.access.model`): the
operator uploading the tool bundle, each pipeline and CodeBuild role at work, EventBridge, CloudWatch
Logs, S3 server access logging and ECR replication acting as services, the Verify roles crossing
into the environment account; and the forbidden ones (another service's builds, repository, log
group and secrets; roles with no business in the environment account; an unrelated account; no
TLS; unencrypted puts). The offline plan evaluates them over the planned policies.

Resources are named by their logical names (`components.logical_names`, which the program names
them with). Each path is grouped by the step or component that needs it (`_pipeline`, `_project`,
`_notifications`, …).
"""

from __future__ import annotations

from dataclasses import dataclass

from components import logical_names as logical
from components.monitoring import MONITORING, builds_alarm
from components.notifications import RULES
from components.release_gates import stage_conditions, watches_alarms
from components.settings import ServiceSettings, Settings, from_pulumi_config
from components.build_projects import STACK_STEPS
from components.steps import (VERIFY_ROLE_SUBPATH, PipelineSteps, ServiceSteps, Step, StepInputs, gated_pipeline,
                              revert_breach_step, steps_for)
from components.approvers import APPROVAL_ACTION, APPROVAL_STAGE
from policy.access.model import AccessPath, External, Holder, Ref, Role, Service, forbidden, required

ROLE = "aws:iam/role:Role"
KEY = "aws:kms/key:Key"
BUCKET = "aws:s3/bucket:Bucket"
PROJECT = "aws:codebuild/project:Project"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
TOPIC = "aws:sns/topic:Topic"
RULE = "aws:cloudwatch/eventRule:EventRule"
ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
REPOSITORY = "aws:ecr/repository:Repository"
MANAGED_POLICY = "aws:iam/policy:Policy"
TOOLS_OBJECT = "aws:s3/bucketObjectv2:BucketObjectv2"

# A CodeBuild build id is `<project>:<uuid>`; its log stream `<streamName>/<uuid>`.
BUILD_UUID = "0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0"
TLS = {"aws:SecureTransport": "true"}
SSE_KMS = {"s3:x-amz-server-side-encryption": "aws:kms"}
IMAGE_PUSH_ACTIONS = ("ecr:BatchCheckLayerAvailability", "ecr:CompleteLayerUpload", "ecr:InitiateLayerUpload",
                      "ecr:PutImage", "ecr:UploadLayerPart")


@dataclass(frozen=True)
class Store:
    """The artifact store of one region (components.artifact_store)."""

    region: str

    @property
    def name(self) -> str:
        return logical.artifact_store(self.region)

    @property
    def key(self) -> Ref:
        return Ref(KEY, logical.key(self.name))

    @property
    def bucket(self) -> Ref:
        return Ref(BUCKET, logical.bucket(self.name))

    @property
    def log_bucket(self) -> Ref:
        return Ref(BUCKET, logical.log_bucket(self.name))

    @property
    def tools(self) -> Ref:
        return Ref(TOOLS_OBJECT, logical.tools_object(self.name))


def service_pipelines(settings: Settings, service: ServiceSettings) -> ServiceSteps:
    """The pipelines and CodeBuild steps of a service, as the program lays them out
    (components.steps); the resources the steps name are not needed to know who does what."""
    return steps_for(settings, service, StepInputs(deployment_role_arn=""))


def project(service: str, step: str) -> Ref:
    return Ref(PROJECT, logical.project(logical.build_projects(service), step))


def project_role(service: str, step: str) -> Role:
    return Role(Ref(ROLE, logical.role(logical.project(logical.build_projects(service), step))))


def log_group(service: str, region: str) -> Ref:
    return Ref(LOG_GROUP, logical.log_group(logical.build_projects(service), region))


def log_stream(service: str, region: str, step: str) -> Ref:
    """The stream a build of the step writes in the service's log group of the region."""
    return log_group(service, region).then(f":log-stream:{step}/{BUILD_UUID}")


def artifact_key(pipeline: str) -> str:
    """The object key of a source artifact of the pipeline: CodePipeline cuts the pipeline's name
    to 20 characters and the artifact's (SourceOutput) to 10, then adds a random suffix."""
    return f"{pipeline[:20]}/SourceOutp/a1B2c3D"


def repository(service: str) -> Ref:
    return Ref(REPOSITORY, logical.repository(logical.REGISTRY, service))


DEPLOYMENT_ROLE = Ref(ROLE, logical.DEPLOYMENT)
NOTIFICATIONS_KEY = Ref(KEY, logical.key(logical.NOTIFICATIONS))
ALERTS_TOPIC = Ref(TOPIC, logical.topic(logical.NOTIFICATIONS, "alerts"))
APPROVAL_TOPIC = Ref(TOPIC, logical.topic(logical.NOTIFICATIONS, "approval"))


def unrelated_account(settings: Settings) -> str:
    """An account id that is none of the stack's."""
    pull_accounts = settings.build_source.pull_accounts if settings.build_source else ()
    known = {settings.tooling_account, settings.env_account, *pull_accounts}
    return next(a for a in ("999999999999", "999999999998", "999999999997", "999999999996") if a not in known)


def paths_for(settings: Settings) -> list[AccessPath]:
    paths = [*_operator(settings), *_notifications(settings), *_registry(settings), *_outsiders(settings),
             *_approvers(settings)]
    services = list(settings.services)
    for index, service in enumerate(services):
        # Another service is the next one round: enough to prove isolation without n² paths.
        other = services[(index + 1) % len(services)] if len(services) > 1 else None
        steps = service_pipelines(settings, service)
        for pipeline in steps.pipelines:
            paths += _pipeline(settings, service, pipeline, steps, other)
            if pipeline.source.started_by:
                paths += _started_by_upstream(settings, service, pipeline, steps, other)
            paths += _stops_creation_run(settings, service, pipeline, steps, other)
        for step in steps.steps:
            paths += _project(settings, service, step, other)
    return paths + _bake_breach(settings)


def declared_paths() -> list[AccessPath]:
    """The paths of the stack whose config is set (what the offline plan calls)."""
    return paths_for(from_pulumi_config())


# ----------------------------------------------------------------------------------------------
# Who uses the artifact stores


def _reads_artifact(who: Role, store: Store, key: str, settings: Settings, actor: str,
                    what: str) -> list[AccessPath]:
    return [
        required(who, "s3:GetObject", store.bucket.then(f"/{key}"), f"{actor} reads {what} in {store.region}", TLS),
        required(who, "kms:Decrypt", store.key, f"{actor} decrypts {what} in {store.region}",
                 _via_s3(settings, store)),
    ]


def _via_s3(settings: Settings, store: Store) -> dict:
    return {"kms:ViaService": f"s3.{store.region}.amazonaws.com", "kms:CallerAccount": settings.tooling_account,
            "kms:EncryptionContext:aws:s3:arn": store.bucket}


def _stores(settings: Settings) -> list[Store]:
    return [Store(region) for region in settings.artifact_regions]


def _operator(settings: Settings) -> list[AccessPath]:
    """`pulumi up` uploads the tool bundle (SSE-KMS) into every artifact bucket."""
    operator = External(f"arn:aws:iam::{settings.tooling_account}:role/operator",
                        "the operator running pulumi up (any tooling-account identity)")
    paths = []
    for store in _stores(settings):
        paths += [
            required(operator, "s3:PutObject", store.tools, f"the operator uploads the tool bundle in {store.region}",
                     {**TLS, **SSE_KMS}),
            required(operator, "kms:GenerateDataKey", store.key,
                     f"the operator encrypts the tool bundle with the {store.region} artifact key",
                     _via_s3(settings, store)),
            required(Service("logging.s3.amazonaws.com"), "s3:PutObject", store.log_bucket.then("/artifacts/log"),
                     f"S3 delivers the {store.region} artifact bucket's access logs",
                     {"aws:SourceArn": store.bucket, "aws:SourceAccount": settings.tooling_account}),
            forbidden(Service("logging.s3.amazonaws.com"), "s3:PutObject", store.log_bucket.then("/artifacts/log"),
                      f"S3 delivers another bucket's access logs into the {store.region} log bucket",
                      {"aws:SourceArn": "arn:aws:s3:::some-other-bucket", "aws:SourceAccount": settings.tooling_account}),
        ]
    return paths


def _pipeline(settings: Settings, service: ServiceSettings, pipeline: PipelineSteps, steps: ServiceSteps,
              other: ServiceSettings | None) -> list[AccessPath]:
    role = Role(Ref(ROLE, logical.role(logical.pipeline(service.name, verify=pipeline is steps.verification))))
    name = pipeline.name
    artifact = artifact_key(name)
    paths = []
    for region in sorted({settings.home_region, *(step.region for step in pipeline.build_steps)}):
        store = Store(region)
        paths += [
            required(role, "s3:PutObject", store.bucket.then(f"/{artifact}"), f"{name} writes artifacts in {region}",
                     {**TLS, **SSE_KMS}),
            required(role, "kms:GenerateDataKey", store.key, f"{name} encrypts artifacts in {region}",
                     _via_s3(settings, store)),
            *_reads_artifact(role, store, artifact, settings, name, "artifacts"),
        ]
    home = Store(settings.home_region)
    paths += [
        forbidden(role, "s3:GetObject", home.bucket.then(f"/{artifact}"), f"{name} reads artifacts without TLS",
                  {"aws:SecureTransport": "false"}),
        forbidden(role, "s3:PutObject", home.bucket.then(f"/{artifact}"), f"{name} puts an artifact with SSE-S3",
                  {**TLS, "s3:x-amz-server-side-encryption": "AES256"}),
        forbidden(role, "s3:PutObject", home.bucket.then(f"/{artifact}"),
                  f"{name} puts an artifact without naming its encryption", TLS),
        required(role, f"{settings.connection_arn.split(':')[2]}:UseConnection", settings.connection_arn,
                 f"{name} uses the source connection"),
        forbidden(role, "sts:AssumeRole", DEPLOYMENT_ROLE,
                  f"{name}'s role assumes the deployment role"),
    ]
    own = {step.name for step in pipeline.build_steps}
    for kind in sorted(own):
        own_project = project(service.name, kind)
        paths += [required(role, "codebuild:StartBuild", own_project, f"{name} starts its {kind} build"),
                  required(role, "codebuild:BatchGetBuilds", own_project, f"{name} polls its {kind} build")]
    # The service's other pipeline runs the rest of its builds; this one starts none of them.
    paths += [forbidden(role, "codebuild:StartBuild", project(service.name, kind),
                        f"{name} starts the {kind} build of the service's other pipeline")
              for kind in sorted({step.name for step in steps.steps} - own)]
    if other is not None:
        paths.append(forbidden(role, "codebuild:StartBuild", project(other.name, "promote"),
                               f"{name} starts the promote build of {other.name}"))
    paths += _reads_alarms(settings, pipeline, role)
    if pipeline.approval is None:
        paths.append(forbidden(role, "sns:Publish", APPROVAL_TOPIC,
                               f"{name}, which has no approval, asks for one"))
    else:
        paths += [
            required(role, "sns:Publish", APPROVAL_TOPIC, f"{name} asks for approval"),
            required(role, "kms:GenerateDataKey", NOTIFICATIONS_KEY,
                     f"{name} encrypts the approval request",
                     {"kms:ViaService": f"sns.{settings.home_region}.amazonaws.com",
                      "kms:CallerAccount": settings.tooling_account}),
        ]
    return paths


def _started_by_upstream(settings: Settings, service: ServiceSettings, pipeline: PipelineSteps, steps: ServiceSteps,
                         other: ServiceSettings | None) -> list[AccessPath]:
    """EventBridge starts the pipeline when its upstream succeeds (components.pipeline), through a
    role that may start that pipeline and no other."""
    role = Role(Ref(ROLE, logical.start_role(logical.pipeline(service.name, verify=pipeline is steps.verification))))
    arn = settings.names.pipeline_arn(service.name, settings.home_region, settings.tooling_account)
    paths = [required(Service("events.amazonaws.com"), "sts:AssumeRole", role.ref,
                      f"EventBridge assumes the role that starts {pipeline.name}",
                      {"aws:SourceAccount": settings.tooling_account}),
             required(role, "codepipeline:StartPipelineExecution", arn,
                      f"{pipeline.name} is started when {' or '.join(pipeline.source.started_by)} succeeds")]
    if other is not None:
        paths.append(forbidden(role, "codepipeline:StartPipelineExecution",
                               settings.names.pipeline_arn(other.name, settings.home_region, settings.tooling_account),
                               f"the rule starting {pipeline.name} starts the {other.name} pipeline"))
    return paths


def _stops_creation_run(settings: Settings, service: ServiceSettings, pipeline: PipelineSteps, steps: ServiceSteps,
                        other: ServiceSettings | None) -> list[AccessPath]:
    """The steps that stop the run CodePipeline starts when it creates the pipeline read and stop
    that pipeline's executions; the other steps stop none, and none stops another service's."""
    names, home, account = settings.names, settings.home_region, settings.tooling_account
    name_of = names.verify_pipeline if pipeline is steps.verification else names.pipeline
    own = names.pipeline_arn_of(pipeline.name, home, account)
    paths = []
    for step in pipeline.build_steps:
        role, what = project_role(service.name, step.role_name), f"the {service.name} {step.name} build"
        if not step.stops_creation_run:
            paths.append(forbidden(role, "codepipeline:StopPipelineExecution", own, f"{what} stops {pipeline.name}"))
            continue
        paths += [required(role, "codepipeline:GetPipelineExecution", own,
                           f"{what} reads what started its {pipeline.name} execution"),
                  required(role, "codepipeline:StopPipelineExecution", own,
                           f"{what} stops the run {pipeline.name}'s creation started")]
        if other is not None:
            paths.append(forbidden(role, "codepipeline:StopPipelineExecution",
                                   names.pipeline_arn_of(name_of(other.name), home, account),
                                   f"{what} stops the {other.name} pipeline"))
    return paths


def _reads_alarms(settings: Settings, pipeline: PipelineSteps, role: Role) -> list[AccessPath]:
    """The stage conditions' CloudWatchAlarm rules read the blocking alarms, those and no other."""
    gates, name = settings.gates, pipeline.name
    arns = gates.alarm_arns(settings.tooling_account)
    if not watches_alarms(stage_conditions({step.stage for step in pipeline.build_steps}, gates, settings.home_region)):
        return [forbidden(role, "cloudwatch:DescribeAlarms", arn, f"{name}, which no alarm gates, reads {arn}")
                for arn in arns[:1]]
    elsewhere = f"arn:aws:cloudwatch:{settings.home_region}:{settings.tooling_account}:alarm:someone-elses-alarm"
    return [*(required(role, "cloudwatch:DescribeAlarms", arn, f"{name} reads the blocking alarm {arn}") for arn in arns),
            forbidden(role, "cloudwatch:DescribeAlarms", elsewhere, f"{name} reads an alarm that gates nothing")]


def _project(settings: Settings, service: ServiceSettings, step: Step,
             other: ServiceSettings | None) -> list[AccessPath]:
    kind, region = step.name, step.region
    store = Store(region)
    role = project_role(service.name, step.role_name)
    group = log_group(service.name, region)
    stream = log_stream(service.name, region, kind)
    what = f"the {service.name} {kind} build"
    artifact = artifact_key(settings.names.pipeline(service.name))
    paths = [
        required(role, "logs:CreateLogStream", stream, f"{what} creates its log stream"),
        required(role, "logs:PutLogEvents", stream, f"{what} writes its log stream"),
        required(Service(f"logs.{region}.amazonaws.com"), "kms:GenerateDataKey", store.key,
                 f"CloudWatch Logs encrypts the {service.name} log group in {region}",
                 {"kms:EncryptionContext:aws:logs:arn": group}),
        required(Service(f"logs.{region}.amazonaws.com"), "kms:Decrypt", store.key,
                 f"CloudWatch Logs decrypts the {service.name} log group in {region}",
                 {"kms:EncryptionContext:aws:logs:arn": group}),
        *_reads_artifact(role, store, artifact, settings, what, "its input artifact"),
    ]
    if step.needs_tool_bundle:
        paths.append(required(role, "s3:GetObject", store.tools, f"{what} downloads the tool bundle", TLS))
    token = required if step.needs_token else forbidden
    paths.append(token(role, "secretsmanager:GetSecretValue", settings.gitops_token.secret_arn,
                       f"{what} reads the GitOps token"))
    if settings.gitops_token.key_arn:
        paths.append(token(role, "kms:Decrypt", settings.gitops_token.key_arn,
                           f"{what} decrypts the GitOps token through Secrets Manager",
                           {"kms:ViaService": f"secretsmanager.{settings.gitops_token.region}.amazonaws.com"}))
        if step.needs_token:
            paths.append(forbidden(role, "kms:Decrypt", settings.gitops_token.key_arn,
                                   f"{what} decrypts with the GitOps token's key directly"))
    if step.role_subpath == VERIFY_ROLE_SUBPATH:
        cluster = f"arn:aws:eks:{region}:{settings.env_account}:cluster/{settings.service_clusters(service)[region]}"
        paths += [
            required(role, "sts:AssumeRole", DEPLOYMENT_ROLE, f"{what} assumes the deployment role"),
            required(Role(DEPLOYMENT_ROLE), "eks:DescribeCluster", cluster,
                     f"the deployment role describes the {region} cluster"),
        ]
    else:
        paths.append(forbidden(role, "sts:AssumeRole", DEPLOYMENT_ROLE,
                               f"{what} assumes the deployment role"))
    if kind == "build":
        paths.append(required(role, "ecr:GetAuthorizationToken", "*", f"{what} logs in to ECR"))
        paths += [required(role, action, repository(service.name), f"{what} pushes its image ({action})")
                  for action in IMAGE_PUSH_ACTIONS]
        paths.append(required(role, "ecr:DescribeImages", repository(service.name),
                              f"{what} reads the digest its commit's tag has (a rebuild reuses the image)"))
        if other is not None:
            paths.append(forbidden(role, "ecr:PutImage", repository(other.name),
                                   f"{what} pushes into the {other.name} repository"))
            paths.append(forbidden(role, "ecr:DescribeImages", repository(other.name),
                                   f"{what} reads the images of the {other.name} repository"))
    if kind == "promote":
        def pipeline(of: ServiceSettings) -> str:
            return settings.names.pipeline_arn(of.name, settings.home_region, settings.tooling_account)

        paths.append(required(role, "codepipeline:ListActionExecutions", pipeline(service),
                              f"{what} reads who approved its execution"))
        if other is not None:
            paths.append(forbidden(role, "codepipeline:ListActionExecutions", pipeline(other),
                                   f"{what} reads the {other.name} pipeline's executions"))
    if kind == "scan":
        paths.append(required(role, "ecr:DescribeImageScanFindings", repository(service.name),
                              f"{what} reads its image's findings"))
    if other is not None:
        paths.append(forbidden(role, "logs:PutLogEvents", log_stream(other.name, settings.home_region, kind),
                               f"{what} writes into the {other.name} log group"))
    return paths


def _bake_breach(settings: Settings) -> list[AccessPath]:
    """With a bake: EventBridge starts the revert-breach build, and that build reads the failed
    execution of a gated pipeline and writes the revert with the token; nothing else."""
    if not settings.gates.bake_minutes:
        return []
    names, home, account = settings.names, settings.home_region, settings.tooling_account
    gated = {gated_pipeline(service_pipelines(settings, s)).name: s.name for s in settings.services}
    step = revert_breach_step(settings, gated)
    events = Service("events.amazonaws.com")
    trigger = Role(Ref(ROLE, logical.role(logical.BAKE_BREACH)))
    own = project(STACK_STEPS, step.name)
    role = project_role(STACK_STEPS, step.name)
    stream = log_stream(STACK_STEPS, home, step.name)
    what = "the revert-breach build"
    # Not gated: the delivery pipeline in pull-request mode, another environment's pipeline in both.
    first = settings.services[0].name
    ungated = names.pipeline_arn_of(names.pipeline(first), home, account) if settings.promotion_mode != "commit" \
        else type(names)(settings.app, f"not-{settings.env_name}").pipeline_arn(first, home, account)
    paths = [
        required(events, "sts:AssumeRole", trigger.ref, "EventBridge assumes the bake-breach trigger's role",
                 {"aws:SourceAccount": account}),
        required(trigger, "codebuild:StartBuild", own, "EventBridge starts the revert-breach build"),
        forbidden(trigger, "codebuild:StartBuild", project(first, "promote"),
                  f"the bake-breach trigger starts the {first} promote build"),
        required(role, "logs:PutLogEvents", stream, f"{what} writes its log stream"),
        required(role, "s3:GetObject", Store(home).tools, f"{what} downloads the tool bundle", TLS),
        required(role, "secretsmanager:GetSecretValue", settings.gitops_token.secret_arn,
                 f"{what} reads the GitOps token"),
        forbidden(role, "sts:AssumeRole", DEPLOYMENT_ROLE, f"{what} assumes the deployment role"),
        forbidden(role, "codepipeline:ListRuleExecutions", ungated, f"{what} reads a pipeline no bake holds"),
        forbidden(role, "codepipeline:StopPipelineExecution", names.pipeline_arn_of(next(iter(gated)), home, account),
                  f"{what} stops a pipeline"),
    ]
    for pipeline in sorted(gated):
        arn = names.pipeline_arn_of(pipeline, home, account)
        paths += [required(role, action, arn, f"{what} reads the executions of {pipeline} ({action})")
                  for action in ("codepipeline:ListRuleExecutions", "codepipeline:ListActionExecutions")]
    return paths


# ----------------------------------------------------------------------------------------------
# Services acting for the stack, and everyone else


def _notifications(settings: Settings) -> list[AccessPath]:
    events = Service("events.amazonaws.com")
    topic, key = ALERTS_TOPIC, NOTIFICATIONS_KEY
    paths = [
        required(events, "sns:Publish", topic, f"EventBridge rule {rule} publishes an alert",
                 {"aws:SourceArn": Ref(RULE, logical.rule(logical.NOTIFICATIONS, rule)), "aws:SourceAccount": settings.tooling_account})
        for rule in RULES
    ]
    # SNS asks KMS for a data key on the publisher's behalf; AWS documents no source keys on it.
    paths.append(required(events, "kms:GenerateDataKey", key, "EventBridge encrypts alerts with the notifications key"))
    paths.append(required(events, "kms:Decrypt", key, "EventBridge uses the notifications key's data key"))
    if settings.alarms.enabled:
        cloudwatch = Service("cloudwatch.amazonaws.com")
        region, account, names = settings.home_region, settings.tooling_account, settings.names
        first_pipeline = names.pipeline(settings.services[0].name)
        alarm = f"arn:aws:cloudwatch:{region}:{account}:alarm:{names.alarm(first_pipeline, 'failed-executions')}"
        paths += [
            required(cloudwatch, "sns:Publish", topic, "a CloudWatch alarm of the stack publishes an alert",
                     {"aws:SourceArn": alarm, "aws:SourceAccount": account}),
            required(cloudwatch, "kms:GenerateDataKey", key, "CloudWatch encrypts alarm notices with the notifications key"),
            forbidden(cloudwatch, "sns:Publish", topic, "a CloudWatch alarm of another stack publishes an alert",
                      {"aws:SourceArn": f"arn:aws:cloudwatch:{region}:{account}:alarm:someone-elses-alarm",
                       "aws:SourceAccount": account}),
        ]
        if settings.gates.bake_minutes:
            # No pipeline runs the revert-breach build: its alarm is the only notice of a failed revert.
            paths.append(required(cloudwatch, "sns:Publish", topic, "the revert-breach build's alarm publishes an alert",
                                  {"aws:SourceArn": Ref(ALARM, builds_alarm(MONITORING, STACK_STEPS, "revert-breach")),
                                   "aws:SourceAccount": account}))
    foreign = unrelated_account(settings)
    paths.append(forbidden(events, "sns:Publish", topic, "an EventBridge rule of an unrelated account publishes an alert",
                           {"aws:SourceArn": f"arn:aws:events:{settings.home_region}:{foreign}:rule/x",
                            "aws:SourceAccount": foreign}))
    return paths


def _registry(settings: Settings) -> list[AccessPath]:
    source = settings.build_source
    if source is None:
        return []
    paths = []
    for account in source.pull_accounts:
        puller = External(f"arn:aws:iam::{account}:role/eks-node", f"a node role of account {account}")
        for service in settings.services:
            paths.append(required(puller, "ecr:BatchGetImage", repository(service.name),
                                  f"account {account} pulls the {service.name} image"))
    if source.replica_regions:
        role = Role(Ref(ROLE, logical.replica_creation_role(logical.REGISTRY)))
        paths.append(required(Service("ecr.amazonaws.com"), "sts:AssumeRole", role.ref,
                              "ECR assumes the replica creation role"))
        for region in source.replica_regions:
            key = Ref(KEY, logical.replica_key(logical.REGISTRY, region))
            via_ecr = {"kms:ViaService": f"ecr.{region}.amazonaws.com", "kms:CallerAccount": settings.tooling_account}
            for service in settings.services:
                replica = settings.names.repository_arn(region, settings.tooling_account, service.name)
                paths += [required(role, "ecr:CreateRepository", replica,
                                   f"ECR creates the {service.name} replica in {region}"),
                          required(role, "ecr:ReplicateImage", replica,
                                   f"ECR replicates {service.name} images to {region}")]
            paths += [
                required(role, "kms:CreateGrant", key, f"ECR encrypts replicas with the {region} image key",
                         {**via_ecr, "kms:GrantIsForAWSResource": "true"}),
                required(role, "kms:DescribeKey", key, f"ECR reads the {region} image key", via_ecr),
            ]
    return paths


def _approvers(settings: Settings) -> list[AccessPath]:
    """Whoever holds the approver policy answers every approval of the stack and reads its
    pipelines; nothing of another stack, another app whose name starts like this one's, the
    verify pipelines or another action."""
    if not settings.approval_enabled:
        return []
    names, region, account = settings.names, settings.home_region, settings.tooling_account
    if settings.approvers.principals:
        approver = Role(Ref(ROLE, logical.role(logical.APPROVERS)))
    else:
        approver = Holder(Ref(MANAGED_POLICY, logical.APPROVERS),
                          f"arn:aws:iam::{account}:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_approvers_0",
                          "a person given the approver policy (a permission set referencing it)")
    tags = {f"aws:ResourceTag/{key}": value for key, value in settings.identity_tags().items()}

    def approval(pipeline_arn: str) -> str:
        return f"{pipeline_arn}/{APPROVAL_STAGE}/{APPROVAL_ACTION}"

    paths = []
    for service in settings.services:
        pipeline = names.pipeline_arn(service.name, region, account)
        paths += [required(approver, "codepipeline:PutApprovalResult", approval(pipeline),
                           f"an approver answers the {service.name} approval", tags),
                  required(approver, "codepipeline:GetPipelineState", pipeline,
                           f"an approver reads the state of the {service.name} pipeline", tags)]
    service = settings.services[0].name
    pipeline = names.pipeline_arn(service, region, account)
    other_app = f"{settings.app}-other"
    elsewhere = [
        (f"{pipeline}/Promote/PromoteImage", tags, f"another action of the {service} pipeline"),
        (approval(f"{pipeline}-verify"), tags, f"the {service} verify pipeline"),
        (approval(names.pipeline_arn(service, region, unrelated_account(settings))), tags,
         f"the {service} pipeline of another account"),
        (approval(type(names)(settings.app, f"not-{settings.env_name}").pipeline_arn(service, region, account)),
         {**tags, "aws:ResourceTag/environment": f"not-{settings.env_name}"}, "another environment's pipeline"),
        # Named like this stack's pipelines (`<app>-*-<env>`): only its tags tell it apart.
        (approval(type(names)(other_app, settings.env_name).pipeline_arn(service, region, account)),
         {**tags, "aws:ResourceTag/app": other_app}, f"a pipeline of app {other_app}"),
    ]
    paths += [forbidden(approver, "codepipeline:PutApprovalResult", arn, f"an approver answers {what}", context)
              for arn, context, what in elsewhere]
    return paths


def _outsiders(settings: Settings) -> list[AccessPath]:
    foreign = unrelated_account(settings)
    intruder = External(f"arn:aws:iam::{foreign}:role/intruder", f"a principal of unrelated account {foreign}")
    home = Store(settings.home_region)
    paths = [
        forbidden(intruder, "s3:GetObject", home.bucket.then("/any"), "an unrelated account reads artifacts", TLS),
        forbidden(intruder, "kms:Decrypt", home.key, "an unrelated account decrypts with the artifact key",
                  {"kms:ViaService": f"s3.{home.region}.amazonaws.com", "kms:CallerAccount": foreign}),
        forbidden(intruder, "sts:AssumeRole", DEPLOYMENT_ROLE, "an unrelated account assumes the deployment role"),
        forbidden(intruder, "sns:Publish", ALERTS_TOPIC, "an unrelated account publishes an alert"),
    ]
    if settings.build_source:
        paths += [forbidden(intruder, "ecr:BatchGetImage", repository(service.name),
                            f"an unrelated account pulls the {service.name} image") for service in settings.services[:1]]
    return paths
