"""Argo CD on one existing EKS cluster of an environment, syncing that (env, region) from the GitOps repo.

Per cluster: a Kubernetes provider that authenticates like an operator (`aws eks get-token` with the
bootstrap role, so no credential is stored in state), the argo-cd Helm chart, the GitOps repository
credentials, an AppProject fenced to the GitOps repository and the services' namespaces, the
ApplicationSet that renders one Application per service directory, Argo Rollouts when the stack
enables it, and the read access `gitops verify` needs: an EKS access entry for the deployment role
mapped to a Kubernetes group that namespaced Roles let `get` exactly the services' Applications (in
`argocd`) and `get`/`list` the pods and ReplicaSets (and Rollouts) of each service's own namespace.

The layout rule (gitops contract, `gitops/layout.py`): Application `<service>` in namespace `argocd`,
chart `charts/<service>`, value files `envs/<env>/<service>/values.yaml` then `values-<region>.yaml`
(missing ones skipped), destination namespace `<service>` on this cluster.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s
import yaml

from components.argocd_settings import ArgoCdSettings, SsoSettings
from components.naming import Names
from components.settings import GitOpsToken
from components.validators import arn_region
from gitops.clients.credentials import token_from_secret_string
from gitops.repo import layout

NAMESPACE = "argocd"
CHART = "argo-cd"
CHART_REPOSITORY = "https://argoproj.github.io/argo-helm"
# The Helm release name; with the chart's nameOverride "argocd" every object is named argocd-*.
RELEASE_NAME = "argocd"
SERVER_ENDPOINT = f"https://argocd-server.{NAMESPACE}.svc.cluster.local"
IN_CLUSTER = "https://kubernetes.default.svc"
# Kubernetes group the deployment role's access entry carries; the verify Role is bound to it.
VERIFY_GROUP = "delivery-verify"
# The Go-template placeholder of the git directories generator: the service directory's name.
SERVICE = "{{.path.basename}}"
# Helm waits this long for Argo CD to become ready before `atomic` rolls the release back.
RELEASE_TIMEOUT_S = 900
# Key of the OIDC client secret inside the `argocd-oidc` Secret that oidc.config references.
OIDC_SECRET_NAME = "argocd-oidc"
OIDC_SECRET_KEY = "clientSecret"
# Argo Rollouts: the argo-rollouts chart, released as argo-rollouts in its own namespace.
# The cluster authentication modes in which EKS honours access entries (the verify access is one).
ACCESS_ENTRY_MODES = ("API", "API_AND_CONFIG_MAP")

ROLLOUTS_CHART = "argo-rollouts"
ROLLOUTS_NAMESPACE = "argo-rollouts"
ROLLOUTS_RELEASE_NAME = "argo-rollouts"
# The namespaced kinds Argo Rollouts defines (its ClusterAnalysisTemplate is cluster-scoped and,
# like every cluster-scoped kind but Namespace, stays outside what a service may deploy).
ROLLOUT_KINDS = ("Rollout", "AnalysisTemplate", "AnalysisRun", "Experiment")


class ClusterError(pulumi.RunError):
    """An existing cluster the program cannot use as it is; the message names it and the fix.
    A RunError, so `pulumi up` stops with the message and no traceback."""


def access_entry_cluster(cluster_name: str, region: str, access_configs: Sequence[Any]) -> str:
    """The cluster's name, once its authentication mode is known to honour access entries."""
    # A cluster created before access entries existed reports no access config: CONFIG_MAP only.
    mode = access_configs[0].authentication_mode if access_configs else "CONFIG_MAP"
    if mode not in ACCESS_ENTRY_MODES:
        raise ClusterError(
            f"EKS cluster {cluster_name} in {region} has authentication mode {mode}, which ignores access "
            f"entries (the verify access is one): switch it to API_AND_CONFIG_MAP with `aws eks "
            f"update-cluster-config --name {cluster_name} --region {region} "
            f"--access-config authenticationMode=API_AND_CONFIG_MAP`")
    return cluster_name


@dataclass(frozen=True)
class ArgoCdClusterArgs:
    names: Names
    argocd: ArgoCdSettings
    region: str
    cluster_name: str
    # The environment account's role the Kubernetes provider authenticates as (`aws eks get-token`).
    bootstrap_role_arn: str
    # The GitOps repository (owner/name, clone URL, branch) and the token Argo CD reads it with.
    gitops_repository: str
    gitops_url: str
    gitops_branch: str
    gitops_token: GitOpsToken
    # The environment's services, each with the regions it runs in.
    service_regions: Mapping[str, tuple[str, ...]]
    # Assumes the bootstrap role in the environment account. A second AWS provider beside the
    # tooling one of `opts`: the cluster and its access entry are there, the GitOps token is not.
    env_provider: aws.Provider
    # The role `gitops verify` runs as (DeploymentRole.arn).
    deployment_role_arn: pulumi.Input[str]

    @property
    def services(self) -> list[str]:
        """The services running on this cluster."""
        return [service for service, regions in self.service_regions.items() if self.region in regions]

    @property
    def services_elsewhere(self) -> list[str]:
        """The environment's services that run in its other regions only."""
        return [service for service, regions in self.service_regions.items() if self.region not in regions]


# ----------------------------------------------------------------------------------------------
# What gets applied, as data (tested without the runtime)


def kubeconfig(*, cluster_name: str, region: str, endpoint: str, certificate_authority: str,
               role_arn: str) -> str:
    """A kubeconfig whose user runs `aws eks get-token` as the bootstrap role on every connection.

    Tokens live 15 minutes and never reach Pulumi state; whoever runs `pulumi up` must be able to
    assume the bootstrap role, exactly as for the environment-account `aws.Provider`.
    """
    return json.dumps({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": cluster_name,
                      "cluster": {"server": endpoint, "certificate-authority-data": certificate_authority}}],
        "users": [{"name": "bootstrap", "user": {"exec": {
            "apiVersion": "client.authentication.k8s.io/v1beta1",
            "command": "aws",
            "args": ["eks", "get-token", "--cluster-name", cluster_name, "--region", region,
                     "--role-arn", role_arn, "--output", "json"],
        }}}],
        "contexts": [{"name": cluster_name, "context": {"cluster": cluster_name, "user": "bootstrap"}}],
        "current-context": cluster_name,
    })


def _resources(cpu: str, memory: str, cpu_limit: str, memory_limit: str) -> dict[str, Any]:
    return {"requests": {"cpu": cpu, "memory": memory}, "limits": {"cpu": cpu_limit, "memory": memory_limit}}


# Sized for tens of services on one cluster; the controller and repo server grow with manifests.
_CONTROLLER = _resources("250m", "512Mi", "2", "2Gi")
_REPO_SERVER = _resources("100m", "256Mi", "1", "1Gi")
_SMALL = _resources("50m", "128Mi", "500m", "512Mi")
_REDIS = _resources("50m", "64Mi", "500m", "256Mi")
_TINY = _resources("10m", "32Mi", "100m", "64Mi")


def _oidc_config(sso: SsoSettings) -> str:
    return yaml.safe_dump({
        "name": "SSO",
        "issuer": sso.issuer,
        "clientID": sso.client_id,
        # Argo CD reads `$<secret>:<key>` from a Secret labelled part-of argocd, so the client secret
        # never passes through Helm values (which Pulumi stores as the release's inputs).
        "clientSecret": f"${OIDC_SECRET_NAME}:{OIDC_SECRET_KEY}",
        "requestedScopes": ["openid", "profile", "email", "groups"],
    }, sort_keys=False)


def helm_values(argocd: ArgoCdSettings) -> dict[str, Any]:
    """Values for the argo-cd chart: internal only, bounded resources, HA when asked."""
    replicas = 2 if argocd.ha else 1
    # With HA, voluntary disruptions (node drains) keep one pod of each stateless part serving.
    pdb = {"pdb": {"enabled": True, "minAvailable": 1}} if argocd.ha else {}
    cm: dict[str, Any] = {
        # The local admin is only needed when nobody can sign in through SSO.
        "admin.enabled": argocd.sso is None,
        "exec.enabled": False,
    }
    configs: dict[str, Any] = {"cm": cm}
    if argocd.sso:
        cm["url"] = argocd.sso.url
        cm["oidc.config"] = _oidc_config(argocd.sso)
        configs["rbac"] = {
            # Everyone signed in can look; changes go through the GitOps repository.
            "policy.default": "role:readonly",
            "policy.csv": "".join(f"g, {group}, role:admin\n" for group in argocd.sso.admin_groups),
            "scopes": "[groups]",
        }
    return {
        # Uninstalling the chart must not delete the CRDs, which would delete every Application.
        "crds": {"keep": True},
        "configs": configs,
        # One cluster (in-cluster) is one shard: a second controller replica would idle, so HA
        # relies on the StatefulSet restarting it (upstream's HA examples keep 1 replica too).
        "controller": {"replicas": 1, "resources": _CONTROLLER},
        "server": {
            "replicas": replicas,
            # Reached through port-forward or a private network only; never a public endpoint.
            "service": {"type": "ClusterIP"},
            "ingress": {"enabled": False},
            "extraArgs": [],
            "resources": _SMALL,
            **pdb,
        },
        "repoServer": {"replicas": replicas, "resources": _REPO_SERVER, **pdb},
        "applicationSet": {"replicas": replicas, "resources": _SMALL, **pdb},
        # OIDC is configured directly; no Dex. Alerts come from the pipelines, not Argo CD.
        "dex": {"enabled": False},
        "notifications": {"enabled": False},
        "redis": {"resources": _REDIS},
        "redis-ha": {
            "enabled": argocd.ha,
            "redis": {"resources": _REDIS},
            "sentinel": {"resources": _TINY},
            "haproxy": {"resources": _TINY},
        },
        "redisSecretInit": {"resources": _TINY},
    }


def app_project_spec(args: ArgoCdClusterArgs) -> dict[str, Any]:
    names = args.names
    spec = {
        "description": f"{names.app} services of {names.env}, synced from {args.gitops_repository}",
        "sourceRepos": [args.gitops_url],
        # One namespace per service, named after it, on this cluster only.
        "destinations": [{"server": IN_CLUSTER, "namespace": service} for service in args.services],
        # CreateNamespace=true needs Namespace; nothing else cluster-wide (no CRDs, no ClusterRoles).
        "clusterResourceWhitelist": [{"group": "", "kind": "Namespace"}],
        "orphanedResources": {"warn": True},
    }
    # Without a whitelist every namespaced kind is permitted, the Rollout kinds included. Without a
    # controller to run them, a Rollout would never start a pod: refuse the kinds, so the sync says
    # "not permitted in project" instead of waiting on nothing.
    if not args.argocd.rollouts.enabled:
        spec["namespaceResourceBlacklist"] = [{"group": "argoproj.io", "kind": kind} for kind in ROLLOUT_KINDS]
    return spec


def application_set_spec(args: ArgoCdClusterArgs) -> dict[str, Any]:
    """One Application per service directory of the environment, in the AppProject named after the app."""
    env = args.names.env
    # Services configured for other regions of the environment still have a directory here.
    directories = [{"path": layout.env_glob(env)}] + [
        {"path": layout.service_dir(env, name), "exclude": True} for name in args.services_elsewhere
    ]
    source = layout.application_source(env, args.region, SERVICE)
    return {
        "goTemplate": True,
        "goTemplateOptions": ["missingkey=error"],
        "generators": [{"git": {
            "repoURL": args.gitops_url,
            "revision": args.gitops_branch,
            "directories": directories,
        }}],
        # Deleting the ApplicationSet (or renaming it) must not take the running services with it.
        "syncPolicy": {"preserveResourcesOnDeletion": True},
        "template": {
            "metadata": {"name": SERVICE},
            "spec": {
                "project": args.names.app,
                "source": {
                    "repoURL": args.gitops_url,
                    "targetRevision": args.gitops_branch,
                    "path": source.chart,
                    "helm": {
                        # Relative to the chart directory, as Argo CD resolves them.
                        "valueFiles": list(source.helm_value_files),
                        "ignoreMissingValueFiles": True,
                    },
                },
                "destination": {"server": IN_CLUSTER, "namespace": SERVICE},
                "syncPolicy": {
                    "automated": {"prune": True, "selfHeal": True},
                    "syncOptions": ["CreateNamespace=true"],
                    "retry": {"limit": 5, "backoff": {"duration": "10s", "factor": 2, "maxDuration": "3m"}},
                },
            },
        },
    }


def rollouts_helm_values(argocd: ArgoCdSettings) -> dict[str, Any]:
    """Values for the argo-rollouts chart: the controller only, no dashboard, HA as Argo CD is."""
    controller: dict[str, Any] = {
        # Leader-elected: a second replica takes over at once when the first one's node goes away.
        "replicas": 2 if argocd.ha else 1,
        "resources": _SMALL,
        "metrics": {"enabled": False},
    }
    if argocd.ha:
        controller["pdb"] = {"enabled": True, "minAvailable": 1}
        # Preferred, not required: two nodes must still allow the rolling update's surge pod.
        controller["affinity"] = {"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [{
            "weight": 100,
            "podAffinityTerm": {"topologyKey": "kubernetes.io/hostname", "labelSelector": {"matchLabels": {
                "app.kubernetes.io/name": ROLLOUTS_CHART, "app.kubernetes.io/component": "rollouts-controller"}}},
        }]}}
    return {
        # Uninstalling the chart must not delete the CRDs, which would delete every Rollout.
        "installCRDs": True,
        "keepCRDs": True,
        # Nobody gets Rollout rights through the built-in view/edit/admin roles: changes go through
        # the GitOps repository, and verify's read access is granted below, by namespace.
        "createClusterAggregateRoles": False,
        # The template chart's canary steps by replica weights, through no traffic router: the
        # controller needs no rights over Istio, SMI, Gateway API, ALB and the like.
        "providerRBAC": {"enabled": False},
        "controller": controller,
        # Rollouts are read through Argo CD and `gitops verify`; no dashboard, so nothing to expose.
        "dashboard": {"enabled": False},
    }


def verify_namespace_rules(rollouts: bool) -> list[dict[str, Any]]:
    """What `gitops verify` reads in a service's namespace: the digests its pods run, the
    ReplicaSets that say which pods are current, and the Rollout when there is one."""
    rules = [
        {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]},
        {"apiGroups": ["apps"], "resources": ["replicasets"], "verbs": ["get", "list"]},
        # The workloads themselves, by name: desired replicas, current version, health.
        {"apiGroups": ["apps"], "resources": ["deployments", "statefulsets"], "verbs": ["get"]},
    ]
    if rollouts:
        rules.append({"apiGroups": ["argoproj.io"], "resources": ["rollouts"], "verbs": ["get", "list"]})
    return rules


def _verify_reads(prefix: str, namespace: str, rules: list, opts: pulumi.ResourceOptions,
                  suffix: str = "") -> k8s.rbac.v1.RoleBinding:
    """The Role `VERIFY_GROUP` with `rules` in `namespace` and its binding to the group of the same
    name (`<prefix>-role<suffix>`, `<prefix>-binding<suffix>`); the binding, created after the Role."""
    role = k8s.rbac.v1.Role(
        f"{prefix}-role{suffix}",
        metadata={"name": VERIFY_GROUP, "namespace": namespace},
        rules=rules,
        opts=opts,
    )
    return k8s.rbac.v1.RoleBinding(
        f"{prefix}-binding{suffix}",
        metadata={"name": VERIFY_GROUP, "namespace": namespace},
        role_ref={"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": VERIFY_GROUP},
        subjects=[{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": VERIFY_GROUP}],
        opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[role])),
    )


def verify_role_rules(services: Sequence[str]) -> list[dict[str, Any]]:
    """`gitops verify` GETs `applications/<service>`; nothing else, and only these names."""
    if not services:
        # An empty resourceNames would mean every name: a region without services grants nothing.
        return []
    return [{
        "apiGroups": ["argoproj.io"],
        "resources": ["applications"],
        "resourceNames": list(services),
        "verbs": ["get"],
    }]


def _release(resource_name: str, release: str, chart: str, version: str, namespace: str, values: dict[str, Any],
             opts: pulumi.ResourceOptions) -> k8s.helm.v3.Release:
    """A pinned chart of argoproj's Helm repository, installed atomically: a failed install or
    upgrade is rolled back instead of leaving half a release."""
    return k8s.helm.v3.Release(
        resource_name,
        name=release,
        chart=chart,
        version=version,
        repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=CHART_REPOSITORY),
        namespace=namespace,
        create_namespace=True,
        atomic=True,
        cleanup_on_fail=True,
        timeout=RELEASE_TIMEOUT_S,
        max_history=10,
        values=values,
        opts=opts,
    )


# ----------------------------------------------------------------------------------------------
# The component


class ArgoCdCluster(pulumi.ComponentResource):
    """Argo CD and the environment's ApplicationSet on one existing EKS cluster."""

    server_endpoint: pulumi.Output[str]
    application_set_name: pulumi.Output[str]

    def __init__(self, name: str, args: ArgoCdClusterArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("delivery:argocd:ArgoCdCluster", name, None, opts)
        cluster = aws.eks.get_cluster_output(
            name=args.cluster_name, region=args.region,
            opts=pulumi.InvokeOptions(parent=self, provider=args.env_provider))
        self.provider = self._kubernetes(name, args, cluster)
        on_cluster = pulumi.ResourceOptions(parent=self, provider=self.provider)

        self.release = _release(f"{name}-argocd", RELEASE_NAME, CHART, args.argocd.chart_version, NAMESPACE,
                                helm_values(args.argocd), on_cluster)
        rollouts = _release(f"{name}-rollouts", ROLLOUTS_RELEASE_NAME, ROLLOUTS_CHART,
                            args.argocd.rollouts.chart_version, ROLLOUTS_NAMESPACE, rollouts_helm_values(args.argocd),
                            on_cluster) if args.argocd.rollouts.enabled else None
        # Everything below lives in the chart's namespace and (for argoproj.io) uses its CRDs.
        after_release = pulumi.ResourceOptions.merge(on_cluster, pulumi.ResourceOptions(depends_on=[self.release]))
        self.repository_secret = self._secrets(name, args, after_release)
        self.application_set = self._applications(name, args, after_release)
        self.access_entry, argocd_reads, self._service_reads = self._verify_access(
            name, args, cluster, on_cluster, after_release)
        # What a verification on this cluster needs in place: Argo CD (and Argo Rollouts) running,
        # the repository it syncs and the Applications it makes, the verify role's access and reads.
        self._verifiable = tuple(r for r in (self.release, rollouts, self.repository_secret, self.application_set,
                                             self.access_entry, argocd_reads) if r is not None)

        self.server_endpoint = pulumi.Output.from_input(SERVER_ENDPOINT)
        self.application_set_name = self.application_set.metadata.apply(lambda metadata: metadata["name"])
        self.register_outputs({
            "serverEndpoint": self.server_endpoint,
            "applicationSetName": self.application_set_name,
        })

    def verifiable(self, service: str) -> tuple[pulumi.Resource, ...]:
        """The resources a verification of `service` on this cluster needs: a pipeline that verifies
        it here depends on these, not on the component, whose every child (each service's
        namespace and reads) the engine would wait for and list in each pipeline's dependencies:
        a plan quadratic in the number of services."""
        return (*self._verifiable, self._service_reads[service])

    def _kubernetes(self, name: str, args: ArgoCdClusterArgs, cluster: pulumi.Output[aws.eks.GetClusterResult]) -> k8s.Provider:
        return k8s.Provider(
            f"{name}-k8s",
            kubeconfig=pulumi.Output.all(cluster.endpoint, cluster.certificate_authorities).apply(
                lambda parts: kubeconfig(
                    cluster_name=args.cluster_name, region=args.region, endpoint=parts[0],
                    certificate_authority=parts[1][0]["data"], role_arn=args.bootstrap_role_arn)),
            # Only a different cluster replaces the provider (and everything on it); a kubeconfig
            # change such as a new bootstrap role is an update.
            cluster_identifier=cluster.arn,
            # An unreachable cluster is an error to investigate, never a reason to forget its objects.
            delete_unreachable=False,
            enable_server_side_apply=True,
            # A changed Secret (the rotated GitOps token in the repository Secret) is updated in place:
            # otherwise the provider replaces Secrets, and with a fixed name that deletes it first,
            # leaving Argo CD without repository credentials until the new one exists.
            enable_secret_mutable=True,
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _secrets(self, name: str, args: ArgoCdClusterArgs, after_release: pulumi.ResourceOptions) -> k8s.core.v1.Secret:
        """The GitOps repository's credentials and, with SSO, the OIDC client secret: read from
        Secrets Manager at `pulumi up`, kept secret in state."""
        secret_opts = pulumi.ResourceOptions.merge(
            after_release, pulumi.ResourceOptions(additional_secret_outputs=["data", "stringData"]))
        token_arn = args.gitops_token.secret_arn
        token_value = aws.secretsmanager.get_secret_version_output(
            secret_id=token_arn, region=args.gitops_token.region, opts=pulumi.InvokeOptions(parent=self))
        token = pulumi.Output.secret(
            token_value.secret_string.apply(lambda value: token_from_secret_string(value, f"secret {token_arn}")))
        repository_secret = k8s.core.v1.Secret(
            f"{name}-gitops-repository",
            metadata={"name": args.names.gitops_repository_secret, "namespace": NAMESPACE,
                      "labels": {"argocd.argoproj.io/secret-type": "repository"}},
            type="Opaque",
            string_data=pulumi.Output.secret({
                "url": args.gitops_url, "type": "git", "username": "x-access-token", "password": token}),
            opts=secret_opts,
        )
        if args.argocd.sso:
            sso_arn = args.argocd.sso.client_secret_arn
            client_secret = aws.secretsmanager.get_secret_version_output(
                secret_id=sso_arn, region=arn_region(sso_arn), opts=pulumi.InvokeOptions(parent=self))
            k8s.core.v1.Secret(
                f"{name}-oidc",
                metadata={"name": OIDC_SECRET_NAME, "namespace": NAMESPACE,
                          "labels": {"app.kubernetes.io/part-of": "argocd"}},
                type="Opaque",
                string_data=pulumi.Output.secret({OIDC_SECRET_KEY: client_secret.secret_string}),
                opts=secret_opts,
            )
        return repository_secret

    def _applications(self, name: str, args: ArgoCdClusterArgs,
                      after_release: pulumi.ResourceOptions) -> k8s.apiextensions.CustomResource:
        """The AppProject and the ApplicationSet, both named after the app."""
        project = k8s.apiextensions.CustomResource(
            f"{name}-project",
            api_version="argoproj.io/v1alpha1",
            kind="AppProject",
            metadata={"name": args.names.app, "namespace": NAMESPACE},
            spec=app_project_spec(args),
            opts=after_release,
        )
        return k8s.apiextensions.CustomResource(
            f"{name}-applications",
            api_version="argoproj.io/v1alpha1",
            kind="ApplicationSet",
            metadata={"name": args.names.app, "namespace": NAMESPACE},
            spec=application_set_spec(args),
            opts=pulumi.ResourceOptions.merge(
                after_release, pulumi.ResourceOptions(depends_on=[project, self.repository_secret])),
        )

    def _verify_access(self, name: str, args: ArgoCdClusterArgs, cluster: pulumi.Output[aws.eks.GetClusterResult],
                       on_cluster: pulumi.ResourceOptions, after_release: pulumi.ResourceOptions
                       ) -> tuple[aws.eks.AccessEntry, k8s.rbac.v1.RoleBinding, dict[str, k8s.rbac.v1.RoleBinding]]:
        """Read access for `gitops verify` (Kubernetes API, deployment role). EKS access policies
        cover built-in kinds only, so RBAC grants the argoproj.io read instead of a policy. Returns
        the access entry, the reads' binding in Argo CD's namespace and each service's in its own."""
        argocd_reads = _verify_reads(f"{name}-verify", NAMESPACE, verify_role_rules(args.services), after_release)
        service_reads = {}
        # In each service's namespace, the reads that prove what runs. The namespace is ensured here
        # (the Role needs it before Argo CD's first sync) as a patch, retained: it is the running
        # service's, and neither removing a service nor destroying the stack may delete it.
        for service in args.services:
            namespace = k8s.core.v1.NamespacePatch(
                f"{name}-namespace-{service}",
                metadata={"name": service, "labels": {"app.kubernetes.io/part-of": args.names.app}},
                opts=pulumi.ResourceOptions.merge(on_cluster, pulumi.ResourceOptions(retain_on_delete=True)),
            )
            in_namespace = pulumi.ResourceOptions.merge(on_cluster, pulumi.ResourceOptions(depends_on=[namespace]))
            service_reads[service] = _verify_reads(f"{name}-verify", service,
                                           verify_namespace_rules(args.argocd.rollouts.enabled),
                                           in_namespace, suffix=f"-{service}")
        return aws.eks.AccessEntry(
            f"{name}-verify-access",
            # Checked: a cluster in CONFIG_MAP mode would accept the entry and ignore it.
            cluster_name=cluster.access_configs.apply(
                lambda configs: access_entry_cluster(args.cluster_name, args.region, configs)),
            region=args.region,
            principal_arn=args.deployment_role_arn,
            type="STANDARD",
            kubernetes_groups=[VERIFY_GROUP],
            opts=pulumi.ResourceOptions(parent=self, provider=args.env_provider),
        ), argocd_reads, service_reads
