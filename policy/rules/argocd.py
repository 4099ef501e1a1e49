"""Argo CD: projects fenced to named repositories and destinations; Applications only in them.

An AppProject with `sourceRepos: ["*"]` or a `*` destination lets any Application deploy anything
anywhere, which is what the built-in `default` project does; Applications rendered by an
ApplicationSet must therefore name an AppProject this stack defines on the same cluster
(same provider) and namespace, never `default`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Iterator

from pulumi_policy import PolicyResource

from .base import Finding, dig, items, label, mapping, resource_policy, stack_policy

APP_PROJECT_TYPE = "kubernetes:argoproj.io/v1alpha1:AppProject"
APPLICATION_SET_TYPE = "kubernetes:argoproj.io/v1alpha1:ApplicationSet"
DESTINATION_FIELDS = ("server", "name", "namespace")


def check_app_project_scope(resource_type: str, props: Mapping[str, Any], urn: str, name: str) -> Iterator[Finding]:
    where = label(resource_type, name)
    repos = items(dig(props, "spec", "sourceRepos"))
    if not repos:
        yield Finding(f"{where} lists no sourceRepos", "list the GitOps repository URL in spec.sourceRepos")
    if "*" in repos:
        yield Finding(f"{where} allows every source repository (sourceRepos \"*\")",
                      "list the GitOps repository URL(s) in spec.sourceRepos")
    destinations = [mapping(d) for d in items(dig(props, "spec", "destinations"))]
    if not destinations:
        yield Finding(f"{where} lists no destinations", "list the cluster and namespaces in spec.destinations")
    for destination in destinations:
        wild = [field for field in DESTINATION_FIELDS if destination.get(field) == "*"]
        if wild:
            yield Finding(f"{where}: destination {dict(destination)} has \"*\" in {wild}",
                          "name the cluster (server or name) and the namespace of each destination")


def _provider_urn(resource: PolicyResource) -> str | None:
    return resource.provider.urn if resource.provider is not None else None


def check_application_project(resources: Sequence[PolicyResource]) -> Iterator[Finding]:
    projects = {(dig(p.props, "metadata", "name"), dig(p.props, "metadata", "namespace"), _provider_urn(p))
                for p in resources if p.resource_type == APP_PROJECT_TYPE}
    for application_set in (r for r in resources if r.resource_type == APPLICATION_SET_TYPE):
        project = dig(application_set.props, "spec", "template", "spec", "project")
        namespace = dig(application_set.props, "metadata", "namespace")
        where = label(APPLICATION_SET_TYPE, application_set.name)
        if project in (None, "", "default"):
            yield Finding(f"{where} renders Applications in the {project or 'default'!s} project, which allows "
                          "every repository and destination",
                          "set spec.template.spec.project to an AppProject defined by the stack",
                          application_set.urn)
        elif (project, namespace, _provider_urn(application_set)) not in projects:
            yield Finding(f"{where} renders Applications in project {project!r}, which the stack does not define "
                          f"in namespace {namespace!r} of the same cluster",
                          "define that AppProject (same provider and namespace) or use one the stack defines",
                          application_set.urn)


ARGOCD_APP_PROJECT_SCOPE = resource_policy(
    "argocd-appproject-scoped",
    "AppProjects name their source repositories and destinations: no \"*\" in sourceRepos or in a "
    "destination's server, name or namespace. No public rule; Argo CD's project model (the default project "
    "is the unrestricted one).",
    (APP_PROJECT_TYPE,), check_app_project_scope)

ARGOCD_APPLICATION_PROJECT = stack_policy(
    "argocd-application-in-stack-project",
    "ApplicationSet templates put Applications in an AppProject the stack defines on the same cluster and "
    "namespace, never `default`. No public rule; Argo CD's project model.",
    check_application_project)

POLICIES = [ARGOCD_APP_PROJECT_SCOPE, ARGOCD_APPLICATION_PROJECT]
