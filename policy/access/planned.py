"""Access paths evaluated over the policies a plan registers.

`evaluate_paths(resources, paths)` finds, for each path, the caller's identity policies (the
inline policies of a planned role), the policy that governs the resource (bucket policy, key
policy, topic policy, repository policy, or the role's trust policy for `sts:AssumeRole`) and
decides the request with `policy.access.evaluator`. Resources are the plan's `PlannedResource`s or
the mappings of the plan's JSON.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from policy.access.evaluator import (IDENTITY_POLICY, KEY_POLICY, RESOURCE_POLICY, TRUST_POLICY, Policy,
                                     Principal, Request, UnsupportedPolicy, evaluate)
from policy.access.model import FORBIDDEN, REQUIRED, AccessPath, External, Holder, Ref, Role, Service

ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
MANAGED_POLICY = "aws:iam/policy:Policy"
ATTACHMENT = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
KEY = "aws:kms/key:Key"
BUCKET = "aws:s3/bucket:Bucket"
BUCKET_POLICY = "aws:s3/bucketPolicy:BucketPolicy"
TOPIC_POLICY = "aws:sns/topicPolicy:TopicPolicy"
REPOSITORY = "aws:ecr/repository:Repository"
REPOSITORY_POLICY = "aws:ecr/repositoryPolicy:RepositoryPolicy"


class Unresolved(LookupError):
    """A path names something the plan does not have; the message says what."""


@dataclass(frozen=True)
class PathResult:
    path: AccessPath
    principal: str
    resource: str
    allowed: bool
    reasons: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return self.allowed == (self.path.expect == REQUIRED)

    def to_json(self) -> dict[str, Any]:
        return {"expect": self.path.expect, "verdict": "allowed" if self.allowed else "denied", "ok": self.ok,
                "principal": self.principal, "action": self.path.action, "resource": self.resource,
                "description": self.path.description, "reasons": list(self.reasons)}


def _field(resource: Any, key: str) -> Any:
    return resource.get(key) if isinstance(resource, Mapping) else getattr(resource, key, None)


def _document(resource: Any, key: str, label: str) -> Mapping[str, Any]:
    text = (_field(resource, "inputs") or {}).get(key)
    if not isinstance(text, str):
        raise UnsupportedPolicy(f"{label}: no {key} document in the plan")
    return _parsed(text, key, label)


@functools.lru_cache(maxsize=8192)
def _parsed(text: str, key: str, label: str) -> Mapping[str, Any]:
    # Many paths read the same few documents: each is parsed once (callers never change it).
    try:
        document = json.loads(text)
    except json.JSONDecodeError:
        raise UnsupportedPolicy(f"{label}: {key} is not a JSON policy document ({text[:40]!r})") from None
    if not isinstance(document, Mapping):
        raise UnsupportedPolicy(f"{label}: {key} is not a JSON object")
    return document


class PlannedPolicies:
    """The plan's resources indexed by what a request needs: names, roles, resource policies."""

    def __init__(self, resources: Iterable[Any]):
        self.resources = list(resources)
        self.by_name: dict[tuple[str, str], Any] = {}
        for resource in self.resources:
            self.by_name[(_field(resource, "type"), _field(resource, "name"))] = resource
        self.roles = {self._out(r, "arn"): r for r in self._of(ROLE)}
        self.keys = {self._out(r, "arn"): r for r in self._of(KEY)}
        self.buckets = {self._out(r, "bucket") or _field(r, "id"): r for r in self._of(BUCKET)}
        self.bucket_policies = {self._in(r, "bucket"): r for r in self._of(BUCKET_POLICY)}
        self.topic_policies = {self._in(r, "arn"): r for r in self._of(TOPIC_POLICY)}
        self.repositories = {self._out(r, "arn"): r for r in self._of(REPOSITORY)}
        self.repository_policies = {(_field(r, "account"), _field(r, "region"), self._in(r, "repository")): r
                                    for r in self._of(REPOSITORY_POLICY)}
        self._identities: dict[str, tuple[Principal, list[Policy], str]] = {}
        self.role_policies: dict[str, list[Any]] = {}
        for policy in self._of(ROLE_POLICY):
            self.role_policies.setdefault(self._in(policy, "role"), []).append(policy)
        managed = {self._out(p, "arn"): p for p in self._of(MANAGED_POLICY)}
        self.attached: dict[str, list[Any]] = {}
        for attachment in self._of(ATTACHMENT):
            if self._in(attachment, "policyArn") in managed:
                self.attached.setdefault(self._in(attachment, "role"), []).append(
                    managed[self._in(attachment, "policyArn")])

    def _of(self, type_: str) -> list[Any]:
        return [r for r in self.resources if _field(r, "type") == type_]

    @staticmethod
    def _in(resource: Any, key: str) -> Any:
        return (_field(resource, "inputs") or {}).get(key)

    @staticmethod
    def _out(resource: Any, key: str) -> Any:
        return (_field(resource, "outputs") or {}).get(key)

    def resolve(self, value: Any) -> Any:
        if isinstance(value, tuple):
            return [self.resolve(v) for v in value]
        if not isinstance(value, Ref):
            return value
        resource = self.by_name.get((value.type, value.name))
        if resource is None:
            raise Unresolved(f"the plan has no {value.type} named {value.name}")
        resolved = self._out(resource, value.attribute) or self._in(resource, value.attribute)
        if not isinstance(resolved, str):
            raise Unresolved(f"{value.type} {value.name} has no {value.attribute} in the plan")
        return resolved + value.suffix

    # -- the two sides of a request ---------------------------------------------------------

    def principal(self, path: AccessPath) -> tuple[Principal, list[Policy] | None, str]:
        who = path.principal
        if isinstance(who, Service):
            return Principal(service=who.name), [], who.name
        if isinstance(who, External):
            return Principal(arn=who.arn, account=_account(who.arn)), None, f"{who.who} ({who.arn})"
        if isinstance(who, Holder):
            policy = self.by_name.get((MANAGED_POLICY, who.policy.name))
            if policy is None:
                raise Unresolved(f"the plan has no {MANAGED_POLICY} named {who.policy.name}")
            label = f"managed policy {who.policy.name}"
            return (Principal(arn=who.arn, account=_account(who.arn)),
                    [Policy(label, IDENTITY_POLICY, _document(policy, "policy", label))], f"{who.who} ({who.arn})")
        assert isinstance(who, Role)
        arn = self.resolve(who.ref)
        if arn not in self._identities:
            self._identities[arn] = self._identity(who, arn)
        return self._identities[arn]

    def _identity(self, who: Role, arn: str) -> tuple[Principal, list[Policy], str]:
        role = self.roles.get(arn)
        if role is None:
            raise Unresolved(f"{who.ref.name} ({arn}) is not a role of the plan")
        role_id = _field(role, "id")
        identity = [Policy(f"identity policy {_field(p, 'name')}", IDENTITY_POLICY,
                           _document(p, "policy", f"role policy {_field(p, 'name')}"))
                    for p in self.role_policies.get(role_id, [])]
        for inline in self._in(role, "inlinePolicies") or []:
            label = f"inline policy {inline.get('name')} of {who.ref.name}"
            if not isinstance(inline.get("policy"), str):
                raise UnsupportedPolicy(f"{label}: no policy document in the plan")
            identity.append(Policy(label, IDENTITY_POLICY, _parsed(inline["policy"], "policy", label)))
        for policy in self.attached.get(self._out(role, "name") or role_id, []):
            label = f"managed policy {_field(policy, 'name')} attached to {who.ref.name}"
            identity.append(Policy(label, IDENTITY_POLICY, _document(policy, "policy", label)))
        return Principal(arn=arn, account=_field(role, "account")), identity, f"{who.ref.name} ({arn})"

    def governing(self, action: str, resource: str) -> tuple[Policy | None, str | None]:
        """The resource-based policy of `resource` for `action`, and the account that owns it."""
        if resource.startswith("arn:aws:s3:::"):
            bucket_name = resource[len("arn:aws:s3:::"):].split("/", 1)[0]
            bucket = self.buckets.get(bucket_name)
            policy = self.bucket_policies.get(bucket_name)
            account = _field(bucket, "account") if bucket is not None else None
            label = f"bucket policy of {bucket_name}"
            return (Policy(label, RESOURCE_POLICY, _document(policy, "policy", label)) if policy else None), account
        account = _account(resource)
        if resource in self.keys:
            key = self.keys[resource]
            label = f"key policy of {_field(key, 'name')}"
            return Policy(label, KEY_POLICY, _document(key, "policy", label)), account
        if resource in self.roles and action.lower() == "sts:assumerole":
            role = self.roles[resource]
            label = f"trust policy of {_field(role, 'name')}"
            return Policy(label, TRUST_POLICY, _document(role, "assumeRolePolicy", label)), account
        if resource in self.topic_policies:
            label = f"topic policy of {resource.rsplit(':', 1)[-1]}"
            return Policy(label, RESOURCE_POLICY, _document(self.topic_policies[resource], "policy", label)), account
        if resource.startswith("arn:aws:ecr:") and ":repository/" in resource:
            region = resource.split(":")[3]
            name = resource.split(":repository/", 1)[1]
            policy = self.repository_policies.get((account, region, name))
            label = f"repository policy of {name}"
            return (Policy(label, RESOURCE_POLICY, _document(policy, "policy", label)) if policy else None), account
        return None, account


def _account(arn: str) -> str | None:
    parts = arn.split(":")
    return parts[4] or None if len(parts) > 5 else None


def evaluate_paths(resources: Iterable[Any], paths: Sequence[AccessPath]) -> list[PathResult]:
    planned = PlannedPolicies(resources)
    results = []
    for path in paths:
        principal_label, resource_label = str(path.principal), str(path.resource)
        try:
            principal, identity, principal_label = planned.principal(path)
            resource = planned.resolve(path.resource)
            resource_label = resource
            context = {key: planned.resolve(value) for key, value in path.context.items()}
            policy, account = planned.governing(path.action, resource)
            # A resource without an account (`*`, for actions with no resource type) is the caller's.
            account = account or principal.account
            decision = evaluate(Request(principal, path.action, resource, account, context), identity, policy)
            allowed, reasons = decision.allowed, decision.reasons
        except (Unresolved, UnsupportedPolicy) as error:
            # A path that cannot be evaluated is a failure either way: required paths are not
            # proven, forbidden ones not disproven.
            allowed = path.expect == FORBIDDEN
            reasons = (f"cannot evaluate: {error}",)
        results.append(PathResult(path, principal_label, resource_label, allowed, tuple(reasons)))
    return results


def summary(results: Sequence[PathResult]) -> list[str]:
    """The plan's access lines: the count, then one line per failure (who, action, resource, why)."""
    required_ok = sum(1 for r in results if r.path.expect == REQUIRED and r.ok)
    forbidden_ok = sum(1 for r in results if r.path.expect == FORBIDDEN and r.ok)
    lines = [f"access: {required_ok} required paths allowed, {forbidden_ok} forbidden paths denied"
             + (f", {sum(1 for r in results if not r.ok)} failed" if any(not r.ok for r in results) else "")]
    for result in results:
        if result.ok:
            continue
        verdict = "denied" if result.path.expect == REQUIRED else "allowed but forbidden"
        lines.append(f"  {verdict}: {result.path.description}: {result.principal} {result.path.action} "
                     f"{result.resource}")
        lines += [f"    {reason}" for reason in result.reasons]
    return lines
