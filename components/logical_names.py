"""The logical names of the stack's resources: the names in their URNs.

Pulumi tells a resource from a new one by its URN, so renaming one replaces it (the snapshot in
tests/test_stable_names.py holds them). `__main__.py` names its components here, each component
names the children that other code refers to through the same functions, and the access paths
(`policy.access.declared`) find the planned resources by them: the name and every reference to it
come from one function.
"""

from __future__ import annotations

APPROVERS = "approvers"
DEPLOYMENT = "deployment"
NOTIFICATIONS = "notifications"
REGISTRY = "registry"


def artifact_store(region: str) -> str:
    return f"artifacts-{region}"


def pipeline(service: str, *, verify: bool = False) -> str:
    """The `DeliveryPipeline` component of a service (its verify pipeline: `verify`)."""
    return f"{service}-pipeline" + ("-verify" if verify else "")


def build_projects(service: str) -> str:
    """The `BuildProjects` component of a service."""
    return service


def role(owner: str) -> str:
    """The service role of a pipeline, a project or the registry's replica creation."""
    return f"{owner}-role"


def key(owner: str) -> str:
    """The KMS key of an artifact store, of the notifications or of the registry's home region."""
    return f"{owner}-key"


def replica_key(registry: str, region: str) -> str:
    """The registry's image key in a replica region."""
    return f"{key(registry)}-{region}"


def bucket(store: str) -> str:
    return f"{store}-bucket"


def log_bucket(store: str) -> str:
    return f"{store}-logs"


def tools_object(store: str) -> str:
    """The gitops tool bundle in an artifact store's bucket."""
    return f"{store}-tools"


def project(projects: str, step: str) -> str:
    """The CodeBuild project of one step (its role: `role(project(...))`)."""
    return f"{projects}-{step}"


def log_group(projects: str, region: str) -> str:
    return f"{projects}-logs-{region}"


def topic(notifications: str, purpose: str) -> str:
    """An SNS topic of the notifications: "alerts" or "approval"."""
    return f"{notifications}-{purpose}"


def rule(notifications: str, name: str) -> str:
    """An EventBridge rule of the notifications (`components.notifications.RULES`)."""
    return f"{notifications}-{name}"


def repository(registry: str, service: str) -> str:
    return f"{registry}-{service}"


def replica_creation_role(registry: str) -> str:
    return role(f"{registry}-replica-creation")


def start_rule(pipeline_component: str) -> str:
    """The EventBridge rule that starts a pipeline when its upstream succeeds."""
    return f"{pipeline_component}-start"


def start_role(pipeline_component: str) -> str:
    """The role that rule starts the pipeline with."""
    return role(start_rule(pipeline_component))
