"""Argo CD in the real program's offline plans (staging and prod stack files, `__main__.py` wiring).

`tests/components/test_argocd_cluster.py` checks the component in detail on its own; these check how the program uses
it: one per cluster of the environment, in the right account and region, granting the deployment
role the program really creates, and no secret in the plan.
"""

from __future__ import annotations

import json

import pytest

from components.argocd import SERVER_ENDPOINT, VERIFY_GROUP, ClusterError
from offline.mocks import PLACEHOLDER_SECRET
from offline.plan import run_plan
from tests.conftest import stack_settings

COMPONENT = "delivery:argocd:ArgoCdCluster"
ACCESS_ENTRY = "aws:eks/accessEntry:AccessEntry"


def children(plan, component):
    return [r for r in plan.resources if r.parent == component.urn]


def test_one_argocd_per_cluster_of_the_environment(plan):
    stack = plan.stack
    settings = stack_settings(stack)
    components = plan.by_type(COMPONENT)
    assert len(components) == len(settings.clusters)
    for component in components:
        region = component.name.removeprefix("argocd-")
        services = [s for s in settings.services if region in s.regions]
        per_service = ["kubernetes:core/v1:NamespacePatch", "kubernetes:rbac.authorization.k8s.io/v1:Role",
                       "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding"] * len(services)
        types = sorted(r.type for r in children(plan, component))
        # Both stack files enable Argo Rollouts: its release beside Argo CD's.
        assert types == sorted([
            "pulumi:providers:kubernetes", "kubernetes:helm.sh/v3:Release", "kubernetes:helm.sh/v3:Release",
            "kubernetes:core/v1:Secret", *(["kubernetes:core/v1:Secret"] if settings.argocd.sso else []),
            "kubernetes:argoproj.io/v1alpha1:AppProject", "kubernetes:argoproj.io/v1alpha1:ApplicationSet",
            "kubernetes:rbac.authorization.k8s.io/v1:Role", "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding",
            *per_service, ACCESS_ENTRY])


def test_access_entries_grant_the_programs_deployment_role_in_each_cluster(plan):
    stack = plan.stack
    settings = stack_settings(stack)
    (deployment_role,) = [r for r in plan.by_type("aws:iam/role:Role")
                          if r.inputs.get("name") == f"{settings.app}-{settings.env_name}-deployment"]
    entries = plan.by_type(ACCESS_ENTRY)
    assert sorted((e.region, e.inputs["clusterName"]) for e in entries) == sorted(settings.clusters.items())
    for entry in entries:
        assert entry.account == settings.env_account
        assert entry.inputs["principalArn"] == deployment_role.outputs["arn"]
        assert entry.inputs["kubernetesGroups"] == [VERIFY_GROUP]


def test_deployment_role_may_describe_exactly_the_clusters_argocd_runs_on(plan):
    # verify calls eks:DescribeCluster before it talks to the cluster's API.
    stack = plan.stack
    settings = stack_settings(stack)
    policies = [r for r in plan.by_type("aws:iam/rolePolicy:RolePolicy") if "eks:DescribeCluster" in r.inputs["policy"]]
    (policy,) = policies
    (statement,) = json.loads(policy.inputs["policy"])["Statement"]
    assert sorted(statement["Resource"]) == sorted(
        f"arn:aws:eks:{region}:{settings.env_account}:cluster/{cluster}"
        for region, cluster in settings.clusters.items())


def test_no_secret_in_the_plan_and_the_repository_secret_is_marked(plan):
    assert PLACEHOLDER_SECRET not in json.dumps(plan.to_json())
    for secret in plan.by_type("kubernetes:core/v1:Secret"):
        assert secret.inputs["stringData"] == "[secret]"


def test_a_rotated_token_updates_the_repository_secret_in_place(plan):
    """The Kubernetes provider replaces a Secret whose data changes unless Secrets are mutable;
    the repository Secret has a fixed name (Argo CD finds it by label, the name is the program's),
    so a replacement would delete it before creating the new one."""
    providers = plan.by_type("pulumi:providers:kubernetes")
    assert providers and all(p.inputs.get("enableSecretMutable") in (True, "true") for p in providers)


def test_no_policy_violation_on_argocd_resources(plan):
    assert plan.policy_ran
    argocd_urns = {r.urn for c in plan.by_type(COMPONENT) for r in [c, *children(plan, c)]}
    assert [v for v in plan.violations if v.urn in argocd_urns] == []


def test_stack_exports_each_clusters_argocd_endpoint(plan):
    stack = plan.stack
    exported = plan.outputs["argocd"]
    assert sorted(exported) == sorted(stack_settings(stack).clusters)
    assert all(value == {"serverEndpoint": SERVER_ENDPOINT, "applicationSet": "shop"} for value in exported.values())


def test_stack_files_make_prod_highly_available_and_staging_not(plan):
    stack = plan.stack
    releases = [r for r in plan.by_type("kubernetes:helm.sh/v3:Release") if r.inputs["chart"] == "argo-cd"]
    assert len(releases) == len(stack_settings(stack).clusters)
    rollouts = [r for r in plan.by_type("kubernetes:helm.sh/v3:Release") if r.inputs["chart"] == "argo-rollouts"]
    assert len(rollouts) == len(releases)
    assert all(r.inputs["values"]["controller"]["replicas"] == (2 if stack == "prod" else 1) for r in rollouts)
    for release in releases:
        values = release.inputs["values"]
        assert values["redis-ha"]["enabled"] is (stack == "prod")
        assert values["server"]["replicas"] == (2 if stack == "prod" else 1)


def test_the_plans_rbac_objects_are_exactly_what_verify_may_read(plan):
    stack = plan.stack
    settings = stack_settings(stack)
    workloads = {("", "pods", ("get", "list"), ()), ("apps", "replicasets", ("get", "list"), ()),
                 ("apps", "deployments", ("get",), ()), ("apps", "statefulsets", ("get",), ()),
                 ("argoproj.io", "rollouts", ("get", "list"), ())}
    for component in plan.by_type(COMPONENT):
        on_cluster = children(plan, component)
        roles = {(r.inputs["metadata"]["namespace"], r.inputs["metadata"]["name"]): r for r in on_cluster
                 if r.type == "kubernetes:rbac.authorization.k8s.io/v1:Role"}
        readable: dict[str, set] = {}
        for binding in (r for r in on_cluster if r.type == "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding"):
            assert binding.inputs["subjects"] == [
                {"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": VERIFY_GROUP}]
            namespace = binding.inputs["metadata"]["namespace"]
            for rule in roles[(namespace, binding.inputs["roleRef"]["name"])].inputs["rules"]:
                readable.setdefault(namespace, set()).update(
                    (group, resource, tuple(rule["verbs"]), tuple(rule.get("resourceNames", ())))
                    for group in rule["apiGroups"] for resource in rule["resources"])
        region = component.name.removeprefix("argocd-")
        services = [s.name for s in settings.services if region in s.regions]
        assert readable == {"argocd": {("argoproj.io", "applications", ("get",), tuple(services))},
                            **{service: workloads for service in services}}


@pytest.mark.parametrize("access_configs,mode", [([{"authenticationMode": "CONFIG_MAP"}], "CONFIG_MAP"),
                                                 ([], "CONFIG_MAP")])
def test_a_cluster_whose_authentication_mode_ignores_access_entries_stops_the_program(
        monkeypatch, access_configs, mode):
    """EKS honours access entries only in API or API_AND_CONFIG_MAP mode: in CONFIG_MAP mode the
    verify access would be created and ignored, so the program reads the mode and stops."""
    from offline import mocks

    real = mocks._INVOKES["aws:eks/getCluster:getCluster"]
    monkeypatch.setitem(mocks._INVOKES, "aws:eks/getCluster:getCluster",
                        lambda args, where: {**real(args, where), "accessConfigs": access_configs})
    with pytest.raises(ClusterError) as caught:
        run_plan(stack="staging")
    message = str(caught.value)
    assert "\n" not in message
    assert f"EKS cluster shop-staging-use1 in us-east-1 has authentication mode {mode}" in message
    assert "authenticationMode=API_AND_CONFIG_MAP" in message


def test_the_offline_plan_reports_a_cluster_error_in_one_line(monkeypatch, capsys):
    from offline import mocks
    from offline.plan import main

    real = mocks._INVOKES["aws:eks/getCluster:getCluster"]
    monkeypatch.setitem(mocks._INVOKES, "aws:eks/getCluster:getCluster",
                        lambda args, where: {**real(args, where), "accessConfigs": [{"authenticationMode": "CONFIG_MAP"}]})
    assert main(["--stack", "staging", "--summary"]) == 2
    assert capsys.readouterr().err.startswith("error: EKS cluster shop-staging-use1 in us-east-1 has authentication mode")


def test_pipelines_wait_for_argo_cd_on_the_clusters_they_verify(plan):
    """A new pipeline runs once as it is created: the Argo CD its Verify actions read must exist
    by then, on every cluster it verifies (and only those: a pipeline verifying nothing waits for none)."""
    releases = {r.name.removeprefix("argocd-").removesuffix("-argocd"): r.urn for r in plan.resources
                if r.type == "kubernetes:helm.sh/v3:Release" and r.name.endswith("-argocd")}
    assert releases
    for pipeline in (r for r in plan.resources if r.type == "aws:codepipeline/pipeline:Pipeline"):
        verified = {action.get("region") or "us-east-1" for stage in pipeline.inputs["stages"]
                    if stage["name"] == "Verify" for action in stage["actions"]}
        waits_for = {region for region, urn in releases.items() if urn in pipeline.dependencies}
        assert waits_for == verified, (pipeline.inputs["name"], waits_for, verified)


def test_a_pipeline_waits_for_what_verifying_its_service_needs_and_nothing_of_the_others(plan):
    """On each cluster it verifies: Argo CD, the repository Secret, the ApplicationSet, the verify
    access entry, the reads in Argo CD's namespace and in its own service's namespace. Not the other
    services' namespaces and reads: every pipeline listing every service's would make the plan
    quadratic in the number of services (bench/scale.py)."""
    bindings = {r.urn: r for r in plan.resources if r.type == "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding"}
    checked = 0
    for pipeline in (r for r in plan.resources if r.type == "aws:codepipeline/pipeline:Pipeline"):
        service = pipeline.inputs["tags"]["service"]
        waited = [bindings[urn].inputs["metadata"]["namespace"] for urn in pipeline.dependencies if urn in bindings]
        verified = {action.get("region") or "us-east-1" for stage in pipeline.inputs["stages"]
                    if stage["name"] == "Verify" for action in stage["actions"]}
        # Per verified region: Argo CD's namespace and the service's own.
        assert sorted(waited) == sorted(["argocd", service] * len(verified)), (pipeline.inputs["name"], waited)
        checked += bool(verified)
    assert checked
