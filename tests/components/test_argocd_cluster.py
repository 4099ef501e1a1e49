"""ArgoCdCluster on the mock runtime, with the real stack files, grouped by behaviour.

A small Mocks class records every registered resource (type, name, parent, provider, inputs as the
engine receives them, secrets still wrapped in Pulumi's secret signature) and answers the two
invokes the component makes. Assertions run after the program finished, on what was registered.
"""

from __future__ import annotations

import fnmatch
import functools
import json
import os
import posixpath
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Iterator

import jsonschema
import kubernetes_validate
import pulumi
import pulumi_aws as aws
import pytest
import yaml
from pulumi.runtime import rpc
from pulumi.runtime.mocks import MockMonitor

from components import argocd
from gitops.clients import credentials
from components.argocd_settings import CHART_VERSION, ROLLOUTS_CHART_VERSION, ArgoCdSettings, RolloutsSettings, SsoSettings
from components.settings import Settings
from tests.conftest import stack_settings

TOKEN = "ghp_MockedGitopsToken0123456789abcdef"
OIDC_CLIENT_SECRET = "mocked-oidc-client-secret-5f2c"
OIDC_ARN = "arn:aws:secretsmanager:us-east-1:111111111111:secret:argocd/oidc-XyZ789"
DEPLOYMENT_ROLE = {
    "staging": "arn:aws:iam::222222222222:role/delivery/shop/staging/shop-staging-deployment",
    "prod": "arn:aws:iam::333333333333:role/delivery/shop/prod/shop-prod-deployment",
}
# EKS's current standard-support Kubernetes version: the manifests must be valid there.
KUBERNETES_VERSION = "1.33"
# Pulumi's wire format for a secret value.
SECRET_SIG = {"4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270"}
SSO = SsoSettings(issuer="https://login.example.com", client_id="argocd", client_secret_arn=OIDC_ARN,
                  url="https://argocd.internal.example.com", admin_groups=("platform-admins",))

RELEASE = "kubernetes:helm.sh/v3:Release"
SECRET = "kubernetes:core/v1:Secret"
PROJECT = "kubernetes:argoproj.io/v1alpha1:AppProject"
APPSET = "kubernetes:argoproj.io/v1alpha1:ApplicationSet"
ROLE = "kubernetes:rbac.authorization.k8s.io/v1:Role"
BINDING = "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding"
NAMESPACE_PATCH = "kubernetes:core/v1:NamespacePatch"
K8S_PROVIDER = "pulumi:providers:kubernetes"
ACCESS_ENTRY = "aws:eks/accessEntry:AccessEntry"
COMPONENT = "delivery:argocd:ArgoCdCluster"


@dataclass
class Registered:
    type: str
    name: str
    urn: str
    parent: str
    provider: str
    inputs: dict[str, Any]
    retain_on_delete: bool = False


@dataclass
class Run:
    resources: list[Registered]
    calls: list[tuple[str, dict, str]]
    outputs: dict[str, list]

    def of(self, type_: str) -> list[Registered]:
        return [r for r in self.resources if r.type == type_]

    def one(self, type_: str, component: str) -> Registered:
        found = [r for r in self.of(type_) if r.parent == self.component(component).urn]
        assert len(found) == 1, f"{type_} under {component}: {[r.name for r in found]}"
        return found[0]

    def component(self, name: str) -> Registered:
        return next(r for r in self.of(COMPONENT) if r.name == name)

    def named(self, type_: str, name: str) -> Registered:
        (found,) = [r for r in self.of(type_) if r.name == name]
        return found

    def under(self, type_: str, component: str) -> list[Registered]:
        return [r for r in self.of(type_) if r.parent == self.component(component).urn]


class _Mocks(pulumi.runtime.Mocks):
    def __init__(self):
        self.calls: list[tuple[str, dict, str]] = []

    def new_resource(self, args):
        return f"{args.name}-id", dict(args.inputs)

    def call(self, args):
        self.calls.append((args.token, dict(args.args), args.provider))
        if args.token == "aws:eks/getCluster:getCluster":
            region, name = args.args["region"], args.args["name"]
            return {"name": name, "arn": f"arn:aws:eks:{region}:222222222222:cluster/{name}",
                    "endpoint": f"https://0123456789ABCDEF.gr7.{region}.eks.amazonaws.com",
                    "certificateAuthorities": [{"data": "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0t"}],
                    "accessConfigs": [{"authenticationMode": "API"}]}, []
        if args.token == "aws:secretsmanager/getSecretVersion:getSecretVersion":
            # The token in its JSON form ({"token": ...}), the OIDC secret raw.
            value = OIDC_CLIENT_SECRET if args.args["secretId"] == OIDC_ARN else json.dumps({"token": TOKEN})
            return {"arn": args.args["secretId"], "secretString": value}, []
        raise AssertionError(f"unexpected invoke {args.token}")


class _Monitor(MockMonitor):
    """Keeps each registration's parent and provider next to its inputs as the engine receives them."""

    def __init__(self, mocks):
        super().__init__(mocks)
        self.registered: list[Registered] = []

    def RegisterResource(self, request):
        response = super().RegisterResource(request)
        self.registered.append(Registered(
            type=request.type, name=request.name, urn=response.urn, parent=request.parent,
            provider=request.provider, inputs=rpc.deserialize_properties(request.object),
            retain_on_delete=request.retainOnDelete))
        return response


def cluster_args(settings: Settings, region: str, argocd_settings: ArgoCdSettings | None = None,
                 env_provider: aws.Provider | None = None, deployment_role_arn: str = "") -> argocd.ArgoCdClusterArgs:
    """The component's args for one cluster of the stack, from its settings as __main__.py makes them."""
    return argocd.ArgoCdClusterArgs(
        names=settings.names, argocd=argocd_settings or settings.argocd, region=region,
        cluster_name=settings.clusters[region], bootstrap_role_arn=settings.bootstrap_role_arn,
        gitops_repository=settings.gitops_repository, gitops_url=settings.gitops_url,
        gitops_branch=settings.gitops_branch, gitops_token=settings.gitops_token,
        service_regions=settings.service_regions, env_provider=env_provider, deployment_role_arn=deployment_role_arn)


def run(stack: str, argocd_settings: ArgoCdSettings | None = None, settings=None) -> Run:
    """Run one ArgoCdCluster per cluster of the stack on the mock runtime; return what registered."""
    settings = settings or stack_settings(stack)
    argocd_settings = argocd_settings or ArgoCdSettings()
    mocks = _Mocks()
    monitor = _Monitor(mocks)
    pulumi.runtime.set_mocks(mocks, project="delivery-pipeline", stack=stack, preview=False, monitor=monitor)
    outputs: dict[str, list] = {}

    @pulumi.runtime.test
    def program():
        env = aws.Provider("env", region=settings.home_region,
                           assume_roles=[aws.ProviderAssumeRoleArgs(role_arn=settings.bootstrap_role_arn)])
        results = []
        for region in settings.clusters:
            component = argocd.ArgoCdCluster(f"argocd-{region}", cluster_args(
                settings, region, argocd_settings, env_provider=env, deployment_role_arn=DEPLOYMENT_ROLE[stack]))
            results.append(pulumi.Output.all(component.server_endpoint, component.application_set_name)
                           .apply(lambda values, region=region: outputs.__setitem__(region, values)))
        return pulumi.Output.all(*results)

    program()
    return Run(resources=monitor.registered, calls=mocks.calls, outputs=outputs)


def unwrap(value: Any) -> Any:
    """The plain value of a property, secret signatures removed (for manifests)."""
    if isinstance(value, dict):
        if SECRET_SIG.items() <= value.items():
            return unwrap(value["value"])
        return {k: unwrap(v) for k, v in value.items()}
    if isinstance(value, list):
        return [unwrap(v) for v in value]
    return value


def plain_strings(value: Any) -> Iterator[str]:
    """Every string in a property that is not inside a secret (keys included)."""
    if isinstance(value, dict):
        if SECRET_SIG.items() <= value.items():
            return
        for key, item in value.items():
            yield str(key)
            yield from plain_strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from plain_strings(item)
    elif isinstance(value, str):
        yield value


def secret_values(value: Any) -> Iterator[Any]:
    if isinstance(value, dict):
        if SECRET_SIG.items() <= value.items():
            yield value["value"]
            return
        for item in value.values():
            yield from secret_values(item)
    elif isinstance(value, list):
        for item in value:
            yield from secret_values(item)


@pytest.fixture(scope="module")
def staging() -> Run:
    return run("staging")


@pytest.fixture(scope="module")
def prod() -> Run:
    return run("prod", ArgoCdSettings(ha=True, sso=SSO))


@pytest.fixture(scope="module", params=["staging", "prod"])
def each(request, staging, prod) -> tuple[str, Run]:
    return request.param, {"staging": staging, "prod": prod}[request.param]


def clusters(stack: str) -> dict[str, str]:
    return dict(stack_settings(stack).clusters)


# ----------------------------------------------------------------------------------------------
# Shape: one component per cluster, every child parented and named after it


def test_every_cluster_gets_each_part_once(each):
    stack, plan = each
    for region in clusters(stack):
        component = f"argocd-{region}"
        for type_ in (K8S_PROVIDER, RELEASE, PROJECT, APPSET, ACCESS_ENTRY):
            plan.one(type_, component)
        # The Applications' Role in argocd, and one Role per service namespace.
        services = services_of(stack, region)
        for type_ in (ROLE, BINDING):
            assert len(plan.under(type_, component)) == 1 + len(services)
        assert len(plan.under(NAMESPACE_PATCH, component)) == len(services)
        secrets = [r for r in plan.of(SECRET) if r.parent == plan.component(component).urn]
        assert len(secrets) == (2 if stack == "prod" else 1)  # prod runs with SSO: + the OIDC secret
    assert len(plan.of(COMPONENT)) == len(clusters(stack))


def test_children_are_parented_and_named_after_the_component(each):
    _, plan = each
    for component in plan.of(COMPONENT):
        children = [r for r in plan.resources if r.parent == component.urn]
        assert len(children) >= 8
        assert all(child.name.startswith(component.name + "-") for child in children)


def test_resource_urns_stay_stable(staging):
    # A rename replaces the object on the cluster (and an ApplicationSet replacement recreates the
    # Applications): changing one of these must be a deliberate decision.
    base = "urn:pulumi:staging::delivery-pipeline::delivery:argocd:ArgoCdCluster"
    urns = sorted(r.urn for r in staging.resources if r.urn.startswith(base))
    assert [r.name for r in staging.of(COMPONENT)] == ["argocd-us-east-1"]
    assert urns == sorted([
        f"{base}$pulumi:providers:kubernetes::argocd-us-east-1-k8s",
        f"{base}${RELEASE}::argocd-us-east-1-argocd",
        f"{base}${SECRET}::argocd-us-east-1-gitops-repository",
        f"{base}${PROJECT}::argocd-us-east-1-project",
        f"{base}${APPSET}::argocd-us-east-1-applications",
        f"{base}${ROLE}::argocd-us-east-1-verify-role",
        f"{base}${BINDING}::argocd-us-east-1-verify-binding",
        f"{base}${ACCESS_ENTRY}::argocd-us-east-1-verify-access",
        *(f"{base}${type_}::argocd-us-east-1-{part}-{service}"
          for service in ("api", "web", "worker")
          for type_, part in ((NAMESPACE_PATCH, "namespace"), (ROLE, "verify-role"), (BINDING, "verify-binding"))),
    ])


def test_outputs_name_the_in_cluster_endpoint_and_application_set(each):
    stack, plan = each
    assert plan.outputs == {region: [argocd.SERVER_ENDPOINT, "shop"] for region in clusters(stack)}
    assert argocd.SERVER_ENDPOINT == "https://argocd-server.argocd.svc.cluster.local"


# ----------------------------------------------------------------------------------------------
# Connecting to the cluster


def test_cluster_is_looked_up_in_the_environment_account_in_its_region(each):
    stack, plan = each
    env_provider = next(r for r in plan.resources if r.type == "pulumi:providers:aws" and r.name == "env")
    lookups = [(args["name"], args["region"], provider) for token, args, provider in plan.calls
               if token == "aws:eks/getCluster:getCluster"]
    assert sorted(lookups) == sorted(
        (cluster, region, f"{env_provider.urn}::env-id") for region, cluster in clusters(stack).items())


def test_kubeconfig_runs_aws_eks_get_token_as_the_bootstrap_role(each):
    stack, plan = each
    settings = stack_settings(stack)
    for region, cluster in clusters(stack).items():
        provider = plan.one(K8S_PROVIDER, f"argocd-{region}")
        config = json.loads(provider.inputs["kubeconfig"])
        assert config["clusters"][0]["cluster"] == {
            "server": f"https://0123456789ABCDEF.gr7.{region}.eks.amazonaws.com",
            "certificate-authority-data": "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0t"}
        (user,) = config["users"]
        # Only an exec plugin: no token, password, client key or certificate to end up in state.
        assert set(user["user"]) == {"exec"}
        assert user["user"]["exec"]["command"] == "aws"
        assert user["user"]["exec"]["args"] == [
            "eks", "get-token", "--cluster-name", cluster, "--region", region,
            "--role-arn", settings.bootstrap_role_arn, "--output", "json"]
        assert config["current-context"] == cluster
        assert provider.inputs["clusterIdentifier"] == f"arn:aws:eks:{region}:222222222222:cluster/{cluster}"


def test_provider_never_forgets_objects_of_an_unreachable_cluster(each):
    stack, plan = each
    for region in clusters(stack):
        provider = plan.one(K8S_PROVIDER, f"argocd-{region}")
        # Provider inputs travel as strings.
        assert provider.inputs["deleteUnreachable"] == "false"
        assert provider.inputs["enableServerSideApply"] == "true"


def test_everything_on_the_cluster_goes_through_its_own_provider(each):
    stack, plan = each
    for region in clusters(stack):
        provider = plan.one(K8S_PROVIDER, f"argocd-{region}")
        component = plan.component(f"argocd-{region}")
        on_cluster = [r for r in plan.resources if r.parent == component.urn and r.type.startswith("kubernetes:")]
        assert on_cluster and all(r.provider == f"{provider.urn}::{provider.name}-id" for r in on_cluster)


# ----------------------------------------------------------------------------------------------
# The Argo CD release


def test_release_is_the_pinned_official_chart_installed_atomically(each):
    stack, plan = each
    for region in clusters(stack):
        release = plan.one(RELEASE, f"argocd-{region}").inputs
        assert release["chart"] == "argo-cd"
        assert release["version"] == CHART_VERSION == "10.1.1"
        assert release["repositoryOpts"] == {"repo": "https://argoproj.github.io/argo-helm"}
        assert release["name"] == "argocd" and release["namespace"] == "argocd"
        assert release["createNamespace"] is True and release["atomic"] is True
        assert release["timeout"] == argocd.RELEASE_TIMEOUT_S


def values_of(plan: Run, region: str) -> dict[str, Any]:
    return plan.one(RELEASE, f"argocd-{region}").inputs["values"]


def test_prod_is_highly_available_and_staging_is_not(staging, prod):
    staging_values = values_of(staging, "us-east-1")
    for region in clusters("prod"):
        prod_values = values_of(prod, region)
        assert prod_values["redis-ha"]["enabled"] is True
        for part in ("server", "repoServer", "applicationSet"):
            assert prod_values[part]["replicas"] == 2
            assert prod_values[part]["pdb"] == {"enabled": True, "minAvailable": 1}
    assert staging_values["redis-ha"]["enabled"] is False
    for part in ("server", "repoServer", "applicationSet"):
        assert staging_values[part]["replicas"] == 1
        assert "pdb" not in staging_values[part]
    # One in-cluster destination is one controller shard in both.
    assert staging_values["controller"]["replicas"] == prod_values["controller"]["replicas"] == 1


def _walk(value: Any, path: tuple = ()) -> Iterator[tuple[tuple, Any]]:
    yield path, value
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _walk(item, path + (key,))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _walk(item, path + (index,))


def exposure(values: dict[str, Any]) -> list[str]:
    """Every way the values would make Argo CD reachable from outside the cluster."""
    found = []
    for path, value in _walk(values):
        if path and path[-1] == "type" and value in ("LoadBalancer", "NodePort"):
            found.append(".".join(map(str, path)))
        if len(path) >= 2 and path[-2] in ("ingress", "ingressGrpc", "httproute", "grpcroute", "route") \
                and path[-1] == "enabled" and value is True:
            found.append(".".join(map(str, path)))
        if isinstance(value, str) and value in ("--insecure", "--disable-auth"):
            found.append(".".join(map(str, path)) + "=" + value)
    return found


def test_argocd_is_not_exposed_outside_the_cluster(each):
    stack, plan = each
    for region in clusters(stack):
        values = values_of(plan, region)
        assert exposure(values) == []
        assert values["server"]["service"]["type"] == "ClusterIP"
        assert values["server"]["ingress"]["enabled"] is False


def test_exposure_check_catches_what_it_looks_for():
    # The check above must be able to fail.
    exposed = {"server": {"service": {"type": "LoadBalancer"}, "ingress": {"enabled": True},
                          "extraArgs": ["--insecure"]},
               "applicationSet": {"ingress": {"enabled": True}}}
    assert exposure(exposed) == ["server.service.type", "server.ingress.enabled",
                                 "server.extraArgs.0=--insecure", "applicationSet.ingress.enabled"]


# Parts of the chart that run by default (chart 10.1.1): each must be sized or switched off.
CHART_PARTS = ("controller", "server", "repoServer", "applicationSet", "redis", "redisSecretInit",
               "dex", "notifications", "redis-ha.redis", "redis-ha.sentinel", "redis-ha.haproxy")


def test_every_running_part_has_requests_and_limits(each):
    stack, plan = each
    for region in clusters(stack):
        values = values_of(plan, region)
        for part in CHART_PARTS:
            node = values
            for key in part.split("."):
                node = node[key]
            if node.get("enabled") is False:
                continue
            resources = node["resources"]
            for kind in ("requests", "limits"):
                assert set(resources[kind]) == {"cpu", "memory"}, f"{part}.resources.{kind}"
    assert values["dex"]["enabled"] is False and values["notifications"]["enabled"] is False


def test_local_admin_is_disabled_once_sso_is_configured(staging, prod):
    assert values_of(staging, "us-east-1")["configs"]["cm"]["admin.enabled"] is True
    assert "oidc.config" not in values_of(staging, "us-east-1")["configs"]["cm"]
    for region in clusters("prod"):
        configs = values_of(prod, region)["configs"]
        assert configs["cm"]["admin.enabled"] is False
        assert configs["cm"]["url"] == SSO.url
        oidc = yaml.safe_load(configs["cm"]["oidc.config"])
        assert oidc["issuer"] == SSO.issuer and oidc["clientID"] == SSO.client_id
        # A reference to the OIDC Secret, resolved by Argo CD at runtime.
        assert oidc["clientSecret"] == "$argocd-oidc:clientSecret"
        assert configs["rbac"]["policy.default"] == "role:readonly"
        assert configs["rbac"]["policy.csv"] == "g, platform-admins, role:admin\n"


def test_oidc_client_secret_lives_in_a_secret_argocd_can_reference(prod):
    for region in clusters("prod"):
        component = prod.component(f"argocd-{region}")
        oidc = next(r for r in prod.of(SECRET) if r.parent == component.urn and r.name.endswith("-oidc"))
        assert oidc.inputs["metadata"]["name"] == "argocd-oidc"
        assert oidc.inputs["metadata"]["labels"] == {"app.kubernetes.io/part-of": "argocd"}
        assert unwrap(oidc.inputs["stringData"]) == {"clientSecret": OIDC_CLIENT_SECRET}


# ----------------------------------------------------------------------------------------------
# Secrets


def test_no_secret_appears_in_plain_text_in_any_registered_input(each):
    stack, plan = each
    secrets = [TOKEN] + ([OIDC_CLIENT_SECRET] if stack == "prod" else [])
    for resource in plan.resources:
        for text in plain_strings(resource.inputs):
            for secret in secrets:
                assert secret not in text, f"{resource.type} {resource.name} holds a secret in plain text"
    # ... and they did reach the cluster, marked secret: the check above ran over real values.
    wrapped = json.dumps([list(secret_values(r.inputs)) for r in plan.resources])
    assert all(secret in wrapped for secret in secrets)


def test_repository_secret_is_an_argocd_repository_with_the_token(each):
    stack, plan = each
    settings = stack_settings(stack)
    for region in clusters(stack):
        secret = plan.one(SECRET, f"argocd-{region}") if stack == "staging" else next(
            r for r in plan.of(SECRET)
            if r.parent == plan.component(f"argocd-{region}").urn and r.name.endswith("-gitops-repository"))
        assert secret.inputs["metadata"] == {
            "name": "shop-gitops-repository", "namespace": "argocd",
            "labels": {"argocd.argoproj.io/secret-type": "repository"}}
        assert secret.inputs["stringData"]["value"] == {
            "url": settings.gitops_url, "type": "git", "username": "x-access-token", "password": TOKEN}
    reads = [(args["secretId"], args["region"], provider) for token, args, provider in plan.calls
             if token == "aws:secretsmanager/getSecretVersion:getSecretVersion"
             and args["secretId"] == settings.gitops_token.secret_arn]
    # Read in the tooling account (default provider), in the secret's own region.
    assert reads and all(region == "us-east-1" and provider == "" for _, region, provider in reads)


def test_the_repository_credentials_read_the_token_by_the_clis_rule():
    # One rule for every reader (gitops.clients.credentials, tested there raw and as JSON): the
    # program applies the CLI's own function to the secret's value, no copy of it.
    assert argocd.token_from_secret_string is credentials.token_from_secret_string


# ----------------------------------------------------------------------------------------------
# Kubernetes objects are valid


def manifest(resource: Registered) -> dict[str, Any]:
    """The object the provider would apply, from the registered inputs (secrets unwrapped)."""
    _, module, kind = resource.type.split(":")
    api_version = module.removeprefix("core/")
    body = {key: unwrap(value) for key, value in resource.inputs.items() if key not in ("apiVersion", "kind")}
    return {"apiVersion": api_version, "kind": kind, **body}


def test_builtin_kubernetes_objects_validate_against_the_kubernetes_schemas(each):
    _, plan = each
    builtin = [r for r in plan.resources if r.type.startswith("kubernetes:")
               and not r.type.startswith(("kubernetes:argoproj.io/", "kubernetes:helm.sh/"))]
    assert {r.type for r in builtin} == {SECRET, ROLE, BINDING, NAMESPACE_PATCH}
    for resource in builtin:
        document = manifest(resource)
        # A patch applies part of an object of its kind: what it sets must be valid there.
        document["kind"] = document["kind"].removesuffix("Patch")
        assert document["apiVersion"] == resource.inputs["apiVersion"]
        kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)


def test_schema_validation_rejects_a_broken_object(staging):
    role = manifest(next(iter(staging.of(ROLE))))
    role["rules"][0]["verbs"] = "get"  # a string where Kubernetes wants a list
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(role, KUBERNETES_VERSION, strict=True)


def test_argoproj_objects_carry_api_version_kind_and_namespace(each):
    _, plan = each
    for resource in plan.of(PROJECT) + plan.of(APPSET):
        assert resource.inputs["apiVersion"] == "argoproj.io/v1alpha1"
        assert resource.inputs["kind"] == resource.type.rsplit(":", 1)[1]
        assert resource.inputs["metadata"] == {"name": "shop", "namespace": "argocd"}


# ----------------------------------------------------------------------------------------------
# The AppProject: the GitOps repository, this cluster, the services' namespaces


def services_of(stack: str, region: str) -> list[str]:
    return [s.name for s in stack_settings(stack).services if region in s.regions]


def test_project_allows_only_the_gitops_repo_this_cluster_and_the_service_namespaces(each):
    stack, plan = each
    settings = stack_settings(stack)
    for region in clusters(stack):
        spec = plan.one(PROJECT, f"argocd-{region}").inputs["spec"]
        assert spec["sourceRepos"] == [settings.gitops_url]
        assert spec["destinations"] == [
            {"server": "https://kubernetes.default.svc", "namespace": service}
            for service in services_of(stack, region)]
        assert spec["clusterResourceWhitelist"] == [{"group": "", "kind": "Namespace"}]
        assert spec["orphanedResources"] == {"warn": True}
        assert "*" not in json.dumps(spec)


def test_prod_regions_differ_where_services_differ(prod):
    # web runs in us-east-1 only (Pulumi.prod.yaml).
    east = prod.one(PROJECT, "argocd-us-east-1").inputs["spec"]["destinations"]
    west = prod.one(PROJECT, "argocd-eu-west-1").inputs["spec"]["destinations"]
    assert [d["namespace"] for d in east] == ["api", "web", "worker"]
    assert [d["namespace"] for d in west] == ["api", "worker"]


def project_permits(spec: dict[str, Any], group: str, kind: str) -> bool:
    """Whether an AppProject lets an Application deploy a namespaced group/kind: Argo CD's
    AppProject.IsGroupKindPermitted (no whitelist key: all; an empty one: none; then the blacklist)."""
    def listed(entries: list[dict[str, str]]) -> bool:
        return any(fnmatch.fnmatchcase(group, e["group"]) and fnmatch.fnmatchcase(kind, e["kind"]) for e in entries)

    whitelist = spec.get("namespaceResourceWhitelist")
    whitelisted = whitelist is None or (len(whitelist) != 0 and listed(whitelist))
    return whitelisted and not listed(spec.get("namespaceResourceBlacklist") or [])


def test_project_permits_reads_lists_as_argo_cd_does():
    assert project_permits({}, "apps", "Deployment")
    assert not project_permits({"namespaceResourceWhitelist": []}, "apps", "Deployment")
    assert not project_permits({"namespaceResourceBlacklist": [{"group": "argoproj.io", "kind": "*"}]},
                               "argoproj.io", "Rollout")
    assert project_permits({"namespaceResourceWhitelist": [{"group": "apps", "kind": "*"}]}, "apps", "ReplicaSet")


@pytest.mark.parametrize("enabled", [False, True])
def test_project_permits_the_rollout_kinds_exactly_when_the_controller_is_installed(enabled):
    settings = stack_settings("prod")
    rollouts = replace(settings.argocd.rollouts, enabled=enabled)
    spec = argocd.app_project_spec(cluster_args(settings, "us-east-1", replace(settings.argocd, rollouts=rollouts)))
    for kind in ("Rollout", "AnalysisTemplate", "AnalysisRun", "Experiment"):
        assert project_permits(spec, "argoproj.io", kind) is enabled, kind
    # What every service deploys stays permitted either way; Argo CD's own kinds are not rollout kinds.
    assert project_permits(spec, "apps", "Deployment") and project_permits(spec, "", "Service")
    assert set(argocd.ROLLOUT_KINDS) == {"Rollout", "AnalysisTemplate", "AnalysisRun", "Experiment"}


# ----------------------------------------------------------------------------------------------
# The ApplicationSet: the layout rule of the GitOps repository


def render(template: Any, service: str) -> Any:
    """The Application the generator produces for directory envs/<env>/<service>."""
    text = json.dumps(template).replace("{{.path.basename}}", service)
    assert "{{" not in text, f"unrendered placeholder in {text}"
    return json.loads(text)


def test_application_set_generates_from_the_env_directories(each):
    stack, plan = each
    settings = stack_settings(stack)
    for region in clusters(stack):
        spec = plan.one(APPSET, f"argocd-{region}").inputs["spec"]
        assert spec["goTemplate"] is True and spec["goTemplateOptions"] == ["missingkey=error"]
        (generator,) = spec["generators"]
        git = generator["git"]
        assert git["repoURL"] == settings.gitops_url and git["revision"] == settings.gitops_branch
        elsewhere = [s.name for s in settings.services if region not in s.regions]
        assert git["directories"] == [{"path": f"envs/{stack}/*"}] + [
            {"path": f"envs/{stack}/{name}", "exclude": True} for name in elsewhere]
        assert spec["syncPolicy"] == {"preserveResourcesOnDeletion": True}


def test_each_application_follows_the_layout_rule(each):
    stack, plan = each
    settings = stack_settings(stack)
    for region in clusters(stack):
        project = plan.one(PROJECT, f"argocd-{region}").inputs["metadata"]["name"]
        template = plan.one(APPSET, f"argocd-{region}").inputs["spec"]["template"]
        for service in services_of(stack, region):
            application = render(template, service)
            assert application["metadata"]["name"] == service  # what `gitops verify` reads
            spec = application["spec"]
            assert spec["project"] == project
            source = spec["source"]
            assert source["repoURL"] == settings.gitops_url
            assert source["targetRevision"] == settings.gitops_branch
            assert source["path"] == f"charts/{service}"
            # Argo CD resolves value files relative to the chart directory.
            resolved = [posixpath.normpath(posixpath.join(source["path"], f)) for f in source["helm"]["valueFiles"]]
            assert resolved == [f"envs/{stack}/{service}/values.yaml",
                                f"envs/{stack}/{service}/values-{region}.yaml"]
            assert source["helm"]["ignoreMissingValueFiles"] is True
            assert spec["destination"] == {"server": "https://kubernetes.default.svc", "namespace": service}
            sync = spec["syncPolicy"]
            assert sync["automated"] == {"prune": True, "selfHeal": True}
            assert sync["syncOptions"] == ["CreateNamespace=true"]
            assert sync["retry"]["limit"] > 0 and sync["retry"]["backoff"]["factor"] > 1


def test_application_source_matches_the_gitops_layout_module(each):
    layout = pytest.importorskip("gitops.repo.layout", reason="gitops/layout.py is on the gitops branch until merged")
    stack, plan = each
    for region in clusters(stack):
        template = plan.one(APPSET, f"argocd-{region}").inputs["spec"]["template"]
        for service in services_of(stack, region):
            expected = layout.application_source(stack, region, service)
            source = render(template, service)["spec"]["source"]
            assert render(template, service)["metadata"]["name"] == expected.application
            assert source["path"] == expected.chart
            assert tuple(source["helm"]["valueFiles"]) == expected.helm_value_files


# ----------------------------------------------------------------------------------------------
# Read access for `gitops verify`: access entry -> group -> namespaced Role


def test_deployment_role_gets_an_access_entry_in_the_environment_account(each):
    stack, plan = each
    env_provider = next(r for r in plan.resources if r.type == "pulumi:providers:aws" and r.name == "env")
    for region, cluster in clusters(stack).items():
        entry = plan.one(ACCESS_ENTRY, f"argocd-{region}")
        assert entry.inputs["clusterName"] == cluster and entry.inputs["region"] == region
        assert entry.inputs["principalArn"] == DEPLOYMENT_ROLE[stack]
        assert entry.inputs["type"] == "STANDARD"
        assert entry.inputs["kubernetesGroups"] == ["delivery-verify"]
        assert entry.provider == f"{env_provider.urn}::env-id"
    # No EKS access policy: none covers argoproj.io, and each grants more than verify needs.
    assert plan.of("aws:eks/accessPolicyAssociation:AccessPolicyAssociation") == []


def test_verify_group_may_only_get_the_services_applications_in_argocd(each):
    stack, plan = each
    for region in clusters(stack):
        role = plan.named(ROLE, f"argocd-{region}-verify-role").inputs
        binding = plan.named(BINDING, f"argocd-{region}-verify-binding").inputs
        entry = plan.one(ACCESS_ENTRY, f"argocd-{region}").inputs
        assert role["metadata"]["namespace"] == binding["metadata"]["namespace"] == "argocd"
        assert role["rules"] == [{"apiGroups": ["argoproj.io"], "resources": ["applications"],
                                  "resourceNames": services_of(stack, region), "verbs": ["get"]}]
        assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                                      "name": role["metadata"]["name"]}
        assert binding["subjects"] == [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group",
                                        "name": entry["kubernetesGroups"][0]}]


def test_a_region_without_services_grants_nothing():
    # An empty resourceNames list would mean "every name".
    assert argocd.verify_role_rules([]) == []
    settings = stack_settings("prod")
    only_east = replace(settings, services=tuple(replace(s, regions=("us-east-1",)) for s in settings.services))
    west = cluster_args(only_east, "eu-west-1")
    assert west.services == []
    assert argocd.app_project_spec(west)["destinations"] == []
    assert not [r for r in run("prod", settings=only_east).under(ROLE, "argocd-eu-west-1")
                if r.inputs["metadata"]["namespace"] != "argocd"]
    excluded = argocd.application_set_spec(west)["generators"][0]["git"]["directories"]
    assert excluded == [{"path": "envs/prod/*"}] + [
        {"path": f"envs/prod/{name}", "exclude": True} for name in ("api", "web", "worker")]


def test_verify_may_read_the_pods_and_replicasets_of_each_service_namespace_only(each):
    stack, plan = each
    for region in clusters(stack):
        component = f"argocd-{region}"
        entry = plan.one(ACCESS_ENTRY, component).inputs
        for service in services_of(stack, region):
            role = plan.named(ROLE, f"{component}-verify-role-{service}").inputs
            binding = plan.named(BINDING, f"{component}-verify-binding-{service}").inputs
            assert role["metadata"] == binding["metadata"] == {"name": "delivery-verify", "namespace": service}
            assert role["rules"] == [
                {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]},
                {"apiGroups": ["apps"], "resources": ["replicasets"], "verbs": ["get", "list"]},
                {"apiGroups": ["apps"], "resources": ["deployments", "statefulsets"], "verbs": ["get"]},
            ]
            assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                                          "name": "delivery-verify"}
            assert binding["subjects"] == [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group",
                                            "name": entry["kubernetesGroups"][0]}]
        # Nothing cluster-wide, and a namespace of another region's service gets nothing here.
        namespaces = {r.inputs["metadata"]["namespace"] for r in plan.under(ROLE, component)}
        assert namespaces == {"argocd", *services_of(stack, region)}
    assert not [r for r in plan.resources if r.type.endswith((":ClusterRole", ":ClusterRoleBinding"))]


def test_with_rollouts_verify_may_also_read_the_services_rollouts():
    plan = run("prod", ArgoCdSettings(rollouts=RolloutsSettings(enabled=True)))
    role = plan.named(ROLE, "argocd-eu-west-1-verify-role-api").inputs
    assert role["rules"][-1] == {"apiGroups": ["argoproj.io"], "resources": ["rollouts"], "verbs": ["get", "list"]}
    # Reading, never promoting: `gitops verify --promote-paused` would need patch on rollouts/status.
    assert all(set(rule["verbs"]) <= {"get", "list"} for rule in role["rules"])


def test_service_namespaces_are_ensured_and_never_deleted_by_the_stack(each):
    stack, plan = each
    for region in clusters(stack):
        for service in services_of(stack, region):
            namespace = plan.named(NAMESPACE_PATCH, f"argocd-{region}-namespace-{service}")
            assert namespace.inputs["metadata"]["name"] == service
            assert namespace.retain_on_delete is True


# ----------------------------------------------------------------------------------------------
# Argo Rollouts


ROLLOUTS_RELEASE = "argocd-{region}-rollouts"


def test_rollouts_are_not_installed_unless_enabled(staging):
    assert [r.name for r in staging.of(RELEASE)] == ["argocd-us-east-1-argocd"]
    assert ArgoCdSettings().rollouts.enabled is False


@pytest.mark.parametrize("ha", [False, True])
def test_rollouts_come_from_the_pinned_official_chart_in_their_own_namespace(ha):
    plan = run("prod", ArgoCdSettings(ha=ha, rollouts=RolloutsSettings(enabled=True)))
    for region in clusters("prod"):
        release = plan.named(RELEASE, ROLLOUTS_RELEASE.format(region=region))
        assert release.parent == plan.component(f"argocd-{region}").urn
        assert release.provider == plan.named(RELEASE, f"argocd-{region}-argocd").provider
        inputs = release.inputs
        assert inputs["chart"] == "argo-rollouts" and inputs["version"] == ROLLOUTS_CHART_VERSION == "2.41.0"
        assert inputs["repositoryOpts"] == {"repo": "https://argoproj.github.io/argo-helm"}
        assert inputs["name"] == inputs["namespace"] == "argo-rollouts"
        assert inputs["atomic"] is True and inputs["createNamespace"] is True
        values = inputs["values"]
        assert exposure(values) == [] and values["dashboard"] == {"enabled": False}
        assert values["keepCRDs"] is True and values["providerRBAC"] == {"enabled": False}
        assert values["createClusterAggregateRoles"] is False
        controller = values["controller"]
        assert set(controller["resources"]) == {"requests", "limits"}
        assert controller["replicas"] == (2 if ha else 1)
        if ha:
            assert controller["pdb"] == {"enabled": True, "minAvailable": 1}
            (term,) = controller["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"]
            assert term["podAffinityTerm"]["topologyKey"] == "kubernetes.io/hostname"
            assert term["podAffinityTerm"]["labelSelector"]["matchLabels"] == {
                "app.kubernetes.io/name": "argo-rollouts", "app.kubernetes.io/component": "rollouts-controller"}
        else:
            assert "pdb" not in controller and "affinity" not in controller
        project = plan.one(PROJECT, f"argocd-{region}").inputs["spec"]
        assert project_permits(project, "argoproj.io", "Rollout")


ROLLOUTS_CHART_DIR = os.environ.get("ROLLOUTS_CHART_DIR")


@pytest.mark.skipif(not ROLLOUTS_CHART_DIR, reason="set ROLLOUTS_CHART_DIR to the pinned chart's directory, "
                                                   "charts/argo-rollouts (docs/contributing/testing.md)")
@pytest.mark.parametrize("ha", [False, True])
def test_every_rollouts_value_key_exists_in_the_pinned_chart(ha):
    chart_dir = Path(ROLLOUTS_CHART_DIR)
    assert yaml.safe_load((chart_dir / "Chart.yaml").read_text())["version"] == ROLLOUTS_CHART_VERSION
    chart = yaml.safe_load((chart_dir / "values.yaml").read_text())
    assert unknown_keys(argocd.rollouts_helm_values(ArgoCdSettings(ha=ha)), chart) == []
    # The selector the anti-affinity names is the one the chart puts on the controller's pods.
    template = (chart_dir / "templates" / "controller" / "deployment.yaml").read_text()
    assert "app.kubernetes.io/component: {{ .Values.controller.component }}" in template
    assert chart["controller"]["component"] == "rollouts-controller"


# ----------------------------------------------------------------------------------------------
# The values against the pinned chart's own values.yaml (no Helm binary needed; docs/contributing/testing.md)

# Free-form in the chart (argocd-cm / argocd-rbac-cm data), or the redis-ha subchart's own values,
# which the argo-cd chart's values.yaml lists only in part.
FREE_FORM = {("configs", "cm"), ("configs", "rbac"), ("redis-ha",)}


def unknown_keys(ours: dict[str, Any], chart: Any, path: tuple = ()) -> list[str]:
    """Keys of our values the chart does not declare: a typo there is silently ignored by Helm."""
    if path in FREE_FORM:
        return []
    unknown = []
    for key, value in ours.items():
        here = path + (key,)
        declared = chart.get(key, ...) if isinstance(chart, dict) else ...
        if declared is ...:
            unknown.append(".".join(here))
        elif isinstance(value, dict) and isinstance(declared, dict) and declared:
            unknown.extend(unknown_keys(value, declared, here))
    return unknown


def test_unknown_key_check_finds_a_typo():
    chart = {"server": {"replicas": 1, "service": {"type": "ClusterIP"}}, "configs": {"cm": {"a": 1}}}
    ours = {"server": {"replica": 2, "service": {"typ": "ClusterIP"}}, "configs": {"cm": {"url": "x"}}}
    assert unknown_keys(ours, chart) == ["server.replica", "server.service.typ"]


CHART_DIR = os.environ.get("ARGOCD_CHART_DIR")
needs_chart = pytest.mark.skipif(
    not CHART_DIR, reason="set ARGOCD_CHART_DIR to the pinned chart's directory, charts/argo-cd (docs/contributing/testing.md)")


@needs_chart
@pytest.mark.parametrize("ha", [False, True])
@pytest.mark.parametrize("sso", [None, SSO])
def test_every_value_key_exists_in_the_pinned_chart(ha, sso):
    chart = yaml.safe_load((Path(CHART_DIR) / "values.yaml").read_text())
    assert unknown_keys(argocd.helm_values(ArgoCdSettings(ha=ha, sso=sso)), chart) == []


def closed(schema: Any) -> Any:
    """An OpenAPI schema that rejects unknown fields, as the API server's strict field validation does."""
    if isinstance(schema, list):
        return [closed(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    result = {key: closed(value) if key not in ("properties",) else {k: closed(v) for k, v in value.items()}
              for key, value in schema.items()}
    if "properties" in schema and "additionalProperties" not in schema \
            and not schema.get("x-kubernetes-preserve-unknown-fields"):
        result["additionalProperties"] = False
    return result


@functools.cache
def crd_validator(kind: str) -> jsonschema.protocols.Validator:
    """The v1alpha1 schema of one of the chart's Argo CD CRDs (its few template lines dropped)."""
    text = (Path(CHART_DIR) / "templates" / "crds" / f"crd-{kind.lower()}.yaml").read_text()
    crd = yaml.safe_load("\n".join(line for line in text.splitlines() if not line.lstrip().startswith("{{")))
    assert crd["spec"]["names"]["kind"] == kind
    (version,) = [v for v in crd["spec"]["versions"] if v["name"] == "v1alpha1"]
    return jsonschema.Draft7Validator(closed(version["schema"]["openAPIV3Schema"]))


def test_closed_schema_rejects_a_typo():
    schema = closed({"type": "object", "properties": {"spec": {"type": "object", "properties": {
        "helm": {"type": "object", "properties": {"ignoreMissingValueFiles": {"type": "boolean"}}}}}}})
    jsonschema.validate({"spec": {"helm": {"ignoreMissingValueFiles": True}}}, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"spec": {"helm": {"ignoreMissingValueFile": True}}}, schema)


@needs_chart
def test_argoproj_objects_validate_against_the_pinned_charts_crds(each):
    stack, plan = each
    for type_, kind in ((PROJECT, "AppProject"), (APPSET, "ApplicationSet")):
        for resource in plan.of(type_):
            crd_validator(kind).validate(manifest(resource))
    for region in clusters(stack):
        template = plan.one(APPSET, f"argocd-{region}").inputs["spec"]["template"]
        for service in services_of(stack, region):
            application = {"apiVersion": "argoproj.io/v1alpha1", "kind": "Application", **render(template, service)}
            crd_validator("Application").validate(application)
