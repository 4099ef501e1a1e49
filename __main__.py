"""delivery-pipeline: the CodePipeline V2 delivery pipelines of one environment, in the tooling account.

Settings in, components composed, outputs exported. docs/contributing/architecture.md describes the architecture.
"""

import pulumi
import pulumi_aws as aws

from components import logical_names as logical
from components.approvers import Approvers, ApproversArgs, GatedStages
from components.argocd import ArgoCdCluster, ArgoCdClusterArgs
from components.artifact_store import ArtifactStore, ArtifactStoreArgs
from components.bake_breach import BakeBreachTrigger, BakeBreachTriggerArgs
from components.build_projects import STACK_STEPS, BuildProjects, BuildProjectsArgs
from components.deployment_role import DeploymentRole, DeploymentRoleArgs
from components.monitoring import (MONITORING, REVERT_BREACH_FAILED, MonitoredPipeline, Monitoring, MonitoringArgs,
                                   UnattendedProject)
from components.notifications import Notifications, NotificationsArgs
from components.pipeline import DeliveryPipeline, DeliveryPipelineArgs
from components.registry import ContainerRegistry, ContainerRegistryArgs
from components.release_gates import gated_stages
from components.settings import from_pulumi_config
from components.steps import StepInputs, gated_pipeline, revert_breach_step, steps_for
from components.tools_bundle import bundle_archive, bundle_key

settings = from_pulumi_config()
names, account, home = settings.names, settings.tooling_account, settings.home_region

# The tooling account: credentials for any other account make `pulumi up` stop before it changes
# anything. Every AWS resource of the stack carries the stack's tags through the providers.
tags = aws.ProviderDefaultTagsArgs(tags=settings.stack_tags())
tooling = aws.Provider("tooling", region=settings.home_region, allowed_account_ids=[settings.tooling_account],
                       default_tags=tags)
in_tooling = pulumi.ResourceOptions(providers={"aws": tooling})
# The environment account, reached through the bootstrap role it trusts.
environment = aws.Provider(
    "environment",
    region=settings.home_region,
    assume_roles=[aws.ProviderAssumeRoleArgs(role_arn=settings.bootstrap_role_arn, session_name="delivery-pipeline")],
    allowed_account_ids=[settings.env_account],
    default_tags=tags,
)
deployment = DeploymentRole(logical.DEPLOYMENT, DeploymentRoleArgs(
    names=names, tooling_account=account, env_account=settings.env_account, clusters=settings.clusters),
                            opts=pulumi.ResourceOptions(providers={"aws": environment}))

# One artifact store in every region where an action of the stack's pipelines runs.
tools_key, tools_archive = bundle_key(), bundle_archive()
stores = {
    region: ArtifactStore(logical.artifact_store(region), ArtifactStoreArgs(
        names=names, tooling_account=account, region=region, tools_key=tools_key, tools_archive=tools_archive,
    ), opts=in_tooling)
    for region in settings.artifact_regions
}

notifications = Notifications(logical.NOTIFICATIONS, NotificationsArgs(
    names=names, tooling_account=account, home_region=home, alert_subscribers=settings.alert_subscribers,
    approval_subscribers=settings.approval_subscribers,
), opts=in_tooling)

if settings.build_source is not None:
    registry = ContainerRegistry(logical.REGISTRY, ContainerRegistryArgs(
        names=names, tooling_account=account, home_region=home, services=tuple(s.name for s in settings.services),
        source=settings.build_source, tags=settings.stack_tags(),
    ), opts=in_tooling)
    pulumi.export("ecrRepositoryUrls", registry.urls)
    pulumi.export("ecrRepositoryArns", registry.arns)
else:
    # A promoting stack's steps (resolve, promote, verify) name no repository: the GitOps
    # repository carries the image, and the clusters pull it with the environment account's access.
    registry = None

# Argo CD on each of the environment's existing EKS clusters, syncing the GitOps repository.
clusters = {
    region: ArgoCdCluster(f"argocd-{region}", ArgoCdClusterArgs(
        names=names, argocd=settings.argocd, region=region, cluster_name=cluster,
        bootstrap_role_arn=settings.bootstrap_role_arn, gitops_repository=settings.gitops_repository,
        gitops_url=settings.gitops_url, gitops_branch=settings.gitops_branch, gitops_token=settings.gitops_token,
        service_regions=settings.service_regions, env_provider=environment, deployment_role_arn=deployment.arn,
    ), opts=in_tooling)
    for region, cluster in settings.clusters.items()
}

pipelines, verify_pipelines = {}, {}
monitored = []
# The stages of the delivery and of the verify pipelines, of which release gates give some a condition.
delivery_stages: list[str] = []
verification_stages: list[str] = []
# With a bake: pipeline -> service of the pipelines whose Verify stage it holds.
baked: dict[str, str] = {}
# What a service's delivery pipeline and its verify pipeline have in common.
pipeline_args = dict(names=names, tooling_account=account, home_region=home, connection_arn=settings.connection_arn,
                     execution_mode=settings.execution_mode, stores=stores, gates=settings.gates)


def argocd_of(pipeline, service):
    """What the pipeline's Verify actions need of Argo CD on each cluster they read (Argo CD
    running, the service's Application and the verify reads): it is created after them."""
    return tuple(resource for region in pipeline.verified_regions
                 for resource in clusters[region].verifiable(service.name))


for service in settings.services:
    steps = steps_for(settings, service, StepInputs(
        deployment_role_arn=deployment.arn,
        repository_url=registry.urls[service.name] if registry else None,
        repository_arn=registry.arns[service.name] if registry else None,
    ))
    projects = BuildProjects(logical.build_projects(service.name), BuildProjectsArgs(
        names=names, tooling_account=account, service=service.name, steps=steps.steps, stores=stores,
        tools_key=tools_key, gitops_token=settings.gitops_token, log_retention_days=settings.log_retention_days,
    ), opts=in_tooling)
    pipelines[service.name] = DeliveryPipeline(logical.pipeline(service.name), DeliveryPipelineArgs(
        **pipeline_args, service=service.name, pipeline=steps.delivery, projects=projects,
        waits_for=argocd_of(steps.delivery, service),
        approval_topic_arn=notifications.approval_topic_arn if settings.approval_enabled else None,
        notification_key_arn=notifications.key_arn,
    ), opts=in_tooling)
    monitored.append(MonitoredPipeline(key=service.name, name=pipelines[service.name].name, projects=projects.projects))
    delivery_stages += (s.stage for s in steps.delivery.build_steps)
    # Pull-request mode: the merge into the environment starts the service's verification.
    if steps.verification is not None:
        verify_pipelines[service.name] = DeliveryPipeline(logical.pipeline(service.name, verify=True), DeliveryPipelineArgs(
            **pipeline_args, service=service.name, pipeline=steps.verification, projects=projects,
            waits_for=argocd_of(steps.verification, service),
            approval_topic_arn=None, notification_key_arn=None,
        ), opts=in_tooling)
        monitored.append(MonitoredPipeline(key=f"{service.name}-verify", name=verify_pipelines[service.name].name,
                                           projects=()))
        verification_stages += (s.stage for s in steps.verification.build_steps)
    if settings.gates.bake_minutes:
        baked[gated_pipeline(steps).name] = service.name

# A bake failed by a blocking alarm reverts the release (the stage's actions do not run after it).
unattended = []
if baked:
    stack_projects = BuildProjects(logical.build_projects(STACK_STEPS), BuildProjectsArgs(
        names=names, tooling_account=account, service=STACK_STEPS, steps=(revert_breach_step(settings, baked),),
        stores=stores, tools_key=tools_key, gitops_token=settings.gitops_token,
        log_retention_days=settings.log_retention_days,
    ), opts=in_tooling)
    BakeBreachTrigger(logical.BAKE_BREACH, BakeBreachTriggerArgs(
        names=names, tooling_account=account, pipelines=tuple(baked), project=stack_projects.projects[0],
    ), opts=in_tooling)
    # No pipeline runs the revert: a failure of it is an alert of its own.
    unattended.append(UnattendedProject(key=STACK_STEPS, project=stack_projects.projects[0],
                                        on_failure=REVERT_BREACH_FAILED))

# Alarms on every pipeline and project to the alerts topic; one dashboard. Approvers: who may
# answer the approvals, when there are any.
monitoring = Monitoring(MONITORING, MonitoringArgs(
    names=names, home_region=home, alarms=settings.alarms, alerts_topic_arn=notifications.alerts_topic_arn,
    pipelines=monitored, unattended=unattended), opts=in_tooling)
approvers = Approvers(logical.APPROVERS, ApproversArgs(
    names=names, home_region=home, tooling_account=account, identity_tags=settings.identity_tags(),
    approvers=settings.approvers, gated=GatedStages(tuple(gated_stages(delivery_stages, settings.gates, home)),
                                                   tuple(gated_stages(verification_stages, settings.gates, home))),
), opts=in_tooling) if settings.approval_enabled else None

pulumi.export("pipelines", {name: {"name": p.name, "arn": p.arn, "consoleUrl": p.console_url, "roleArn": p.role_arn}
                            for name, p in pipelines.items()})
pulumi.export("verifyPipelines", {name: {"name": p.name, "arn": p.arn, "consoleUrl": p.console_url, "roleArn": p.role_arn}
                                  for name, p in verify_pipelines.items()})
pulumi.export("artifactBuckets", {region: store.bucket_name for region, store in stores.items()})
pulumi.export("artifactKeys", {region: store.key_arn for region, store in stores.items()})
pulumi.export("deploymentRoleArn", deployment.arn)
pulumi.export("alertsTopicArn", notifications.alerts_topic_arn)
pulumi.export("approvalTopicArn", notifications.approval_topic_arn)
pulumi.export("dashboardName", monitoring.dashboard_name)
pulumi.export("dashboardNames", monitoring.dashboard_names)
if approvers is not None:
    pulumi.export("approvers", approvers.outputs)
pulumi.export("argocd", {region: {"serverEndpoint": c.server_endpoint, "applicationSet": c.application_set_name}
                         for region, c in clusters.items()})
