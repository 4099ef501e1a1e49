"""IAM building blocks: policy documents, and a role with exactly one scoped inline policy.

Every role the program creates lives under `Names.role_path()`, `/delivery/<app>/<env>/`, so a
KMS key policy or a trust policy can name "the roles of this stack" with one `aws:PrincipalArn`
condition instead of a list of ARNs that would outgrow the 32 KB key-policy limit at a few hundred
services.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Sequence

import pulumi
import pulumi_aws as aws


def statement(sid: str, actions: Sequence[str], resources: Any, *, effect: str = "Allow",
              condition: dict | None = None, principal: dict | None = None) -> dict:
    body: dict[str, Any] = {"Sid": sid, "Effect": effect, "Action": sorted(actions)}
    if principal is not None:
        body["Principal"] = principal
    body["Resource"] = resources
    if condition:
        body["Condition"] = condition
    return body


def document(statements: Sequence[Any]) -> pulumi.Input[str]:
    """A policy document as a JSON string; statements may hold Outputs anywhere (then the string is
    an Output).

    The Outputs are gathered into one `Output.all` rather than handed to `Output.json_dumps`, which
    wraps every nested value in an Output of its own: with hundreds of roles that bookkeeping was a
    tenth of the plan's time.
    """
    outputs: list[pulumi.Output] = []

    def collect(value: Any) -> Any:
        if isinstance(value, pulumi.Output):
            outputs.append(value)
            return _Slot(len(outputs) - 1)
        if isinstance(value, dict):
            return {key: collect(item) for key, item in value.items()}
        if isinstance(value, (list, tuple)):
            return [collect(item) for item in value]
        return value

    template = collect({"Version": "2012-10-17", "Statement": list(statements)})
    if not outputs:
        # Known at program time (a trust policy, most key policies): a plain string, as an input
        # takes it, without an Output and its apply to wait for.
        return json.dumps(template)

    def fill(value: Any, resolved: list[Any]) -> Any:
        if isinstance(value, _Slot):
            return resolved[value.index]
        if isinstance(value, dict):
            return {key: fill(item, resolved) for key, item in value.items()}
        if isinstance(value, list):
            return [fill(item, resolved) for item in value]
        return value

    return pulumi.Output.all(*outputs).apply(lambda resolved: json.dumps(fill(template, resolved)))


@dataclass(frozen=True)
class _Slot:
    """Where a resolved Output goes in a document template."""

    index: int


def service_trust(service: str, account: str | None) -> pulumi.Input[str]:
    """Trust policy for an AWS service, limited to calls made on behalf of `account` when given."""
    trust: dict[str, Any] = {
        "Sid": "AssumedByService",
        "Effect": "Allow",
        "Principal": {"Service": service},
        "Action": "sts:AssumeRole",
    }
    if account is not None:
        trust["Condition"] = {"StringEquals": {"aws:SourceAccount": account}}
    return document([trust])


@dataclass(frozen=True)
class ServiceRoleArgs:
    # e.g. "codebuild.amazonaws.com"
    service: str
    path: str
    statements: Sequence[Any]
    description: str
    # The account the trust is narrowed to (aws:SourceAccount): the service acts for it. None only
    # for a service whose documented trust has no source keys (ECR's replica creation role): there
    # the condition could never match and every request would be refused.
    source_account: str | None


@dataclass(frozen=True)
class ServiceRole:
    """An IAM role assumable by one AWS service of this account, and its one inline policy.

    A pair of resources rather than a component: the program makes hundreds of them, and each
    registration costs the plan (and the engine) time. Depend on `resources` so the policy exists
    before anything uses the role.
    """

    role: aws.iam.Role
    policy: aws.iam.RolePolicy

    @property
    def arn(self) -> pulumi.Output[str]:
        return self.role.arn

    @property
    def resources(self) -> list[pulumi.Resource]:
        return [self.role, self.policy]


def service_role(name: str, args: ServiceRoleArgs, parent: pulumi.Resource, *,
                 formerly: str | None = None) -> ServiceRole:
    """`formerly`: the logical name the role had before (its policy's likewise): an alias keeps the
    deployed role and policy instead of replacing them."""

    def opts(suffix: str = "") -> pulumi.ResourceOptions:
        aliases = [pulumi.Alias(name=f"{formerly}{suffix}")] if formerly and formerly != name else None
        return pulumi.ResourceOptions(parent=parent, aliases=aliases)

    role = aws.iam.Role(
        name,
        path=args.path,
        description=args.description,
        assume_role_policy=service_trust(args.service, args.source_account),
        max_session_duration=3600,
        opts=opts(),
    )
    policy = aws.iam.RolePolicy(f"{name}-policy", role=role.id, policy=document(args.statements),
                                opts=opts("-policy"))
    return ServiceRole(role, policy)


def merged_statements(statements: Sequence[dict]) -> list[dict]:
    """Statements of several policies as one policy's: those alike but for their resources (same
    Sid, effect, actions and condition) become one statement naming all their resources, so the
    union grants exactly what the parts granted. Sids stay unique, as IAM requires."""
    merged: dict[str, dict] = {}
    for item in statements:
        sid = item["Sid"]
        resources = item["Resource"] if isinstance(item["Resource"], list) else [item["Resource"]]
        if sid not in merged:
            merged[sid] = {**item, "Resource": list(resources)}
            continue
        known = merged[sid]
        if {k: v for k, v in known.items() if k != "Resource"} != {k: v for k, v in item.items() if k != "Resource"}:
            raise ValueError(f"statements {sid} differ in more than their resources: they cannot be one statement")
        known["Resource"] += [r for r in resources
                              if not any(r is k or (isinstance(r, str) and r == k) for k in known["Resource"])]
    # A statement that still names one resource keeps the form it was written in.
    firsts = {item["Sid"]: item for item in reversed(statements)}
    return [{**item, "Resource": firsts[item["Sid"]]["Resource"]} if len(item["Resource"]) == 1 else item
            for item in merged.values()]
