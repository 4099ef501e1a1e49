"""IAM policy evaluation for one request, following AWS's documented logic.

What it decides (IAM User Guide, "Policy evaluation logic", "Cross-account policy evaluation
logic"; AWS KMS Developer Guide, "Key policies"):

- An explicit Deny in any policy that applies (identity or resource) denies.
- A service principal (`events.amazonaws.com`) has no identity policy: only a resource policy
  naming that service can allow it.
- Within one account, an Allow in either the identity policy or the resource policy is enough,
  except that a resource policy naming only the account (`arn:aws:iam::<account>:root`) delegates
  to IAM, so the identity policy must allow too.
- Across accounts, both the caller's identity policy and the resource policy must allow.
- KMS key policies and role trust policies must allow every request, in any account: no identity
  policy can grant use of a key, or assuming a role, without them.

Conditions: String*, Arn*, Bool and Null operators, each with `IfExists`, and the `ForAnyValue:` /
`ForAllValues:` set qualifiers. A key absent from the request makes a positive operator false and a
negated one (`StringNotEquals`, `ArnNotLike`, …) true. An operator outside that list raises
`UnsupportedPolicy` rather than being guessed at. Not modelled: SCPs, RCPs, permissions
boundaries, session policies, policy variables, Numeric/Date/IpAddress operators.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

# The two policy kinds that must allow even within the resource's own account.
KEY_POLICY = "key policy"
TRUST_POLICY = "trust policy"
RESOURCE_POLICY = "resource policy"
IDENTITY_POLICY = "identity policy"

_MAX_STATEMENTS = 500  # bounded work on a hostile document


class UnsupportedPolicy(ValueError):
    """A policy uses something the evaluator does not model; the message names it."""


@dataclass(frozen=True)
class Principal:
    """Who makes the request: an IAM principal (`arn` and `account`) or an AWS service."""

    account: str | None = None
    arn: str | None = None
    service: str | None = None

    def __post_init__(self) -> None:
        if (self.service is None) == (self.arn is None):
            raise ValueError("a principal is either an IAM principal (arn) or a service, not both")

    def __str__(self) -> str:
        return self.service or str(self.arn)


@dataclass(frozen=True)
class Request:
    principal: Principal
    action: str
    resource: str
    resource_account: str | None
    # Request context keys -> value or values; aws:PrincipalArn/aws:PrincipalAccount are added for
    # IAM principals, as AWS always sends them.
    context: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Policy:
    """A policy document and where it comes from, for explanations."""

    label: str  # e.g. "key policy of artifacts-us-east-1-key"
    kind: str  # IDENTITY_POLICY, RESOURCE_POLICY, KEY_POLICY or TRUST_POLICY
    document: Mapping[str, Any]


@dataclass(frozen=True)
class Decision:
    allowed: bool
    # Why: the statements that allowed or denied, or, for an implicit deny, what each policy lacks.
    reasons: tuple[str, ...]


def evaluate(request: Request, identity: Sequence[Policy] | None, resource: Policy | None) -> Decision:
    """Decide `request`. `identity` None means the caller's identity policies are outside the
    plan and assumed to allow (an operator, another account); a list is exactly its policies."""
    context = _context(request)
    # One pass over the statements that apply (principal, action, resource): each with the
    # condition it fails, None when it holds.
    applying = [(policy, statement, _failed_condition(statement.get("Condition") or {}, context))
                for policy in [*(identity or ()), *([resource] if resource else [])]
                for statement in _statements(policy) if _applies(policy, statement, request)]
    for policy, statement, failed in applying:
        if statement.get("Effect") == "Deny" and failed is None:
            return Decision(False, (f"explicit deny in {policy.label} ({_sid(statement)})",))
    allows = [(policy, statement) for policy, statement, failed in applying
              if statement.get("Effect") == "Allow" and failed is None]
    grants = {_principal_match(statement, request.principal) for policy, statement in allows if policy is resource}
    resource_grant = "principal" if "principal" in grants else ("account" if "account" in grants else None)
    identity_allows = identity is None or any(policy is not resource for policy, _ in allows)
    principal = request.principal

    if principal.service is not None:
        allowed = resource_grant is not None
    elif principal.account == request.resource_account:
        must_allow = resource is not None and resource.kind in (KEY_POLICY, TRUST_POLICY)
        allowed = (resource_grant == "principal" or (resource_grant == "account" and identity_allows)
                   or (identity_allows and not must_allow))
    else:
        allowed = resource_grant is not None and identity_allows
    if allowed:
        reasons = ["the caller's own identity policy (outside the plan, assumed to allow)"] if identity is None else []
        return Decision(True, tuple(reasons + [f"{policy.label} ({_sid(statement)})" for policy, statement in allows]))
    return Decision(False, tuple(_missing(request, identity, resource, applying, identity_allows, resource_grant)))


# ----------------------------------------------------------------------------------------------
# Explanations


def _missing(request: Request, identity: Sequence[Policy] | None, resource: Policy | None, applying: list,
             identity_allows: bool, resource_grant: str | None) -> list[str]:
    """What each policy lacks: its Allow statements that fail only their condition, and which
    condition; or that it has no such statement at all."""
    principal = request.principal

    def near(policies) -> list[str]:
        return [f"{policy.label} ({_sid(statement)}) needs {failed}" for policy, statement, failed in applying
                if policy in policies and statement.get("Effect") == "Allow" and failed is not None]

    if principal.service is not None:
        if resource is None:
            return [f"no resource policy lets the service {principal} do this"]
        return ["; ".join(near([resource])) or f"{resource.label} has no statement allowing {principal} "
                                                 f"{request.action}"]
    same_account = principal.account == request.resource_account
    must_allow = resource is not None and resource.kind in (KEY_POLICY, TRUST_POLICY)
    reasons = []
    if not identity_allows and not (same_account and resource_grant == "principal"):
        reasons.append("; ".join(near(identity or ())) or
                       f"the identity policy of {principal} allows no {request.action} on {request.resource}")
    if resource is not None and resource_grant is None and (must_allow or not same_account):
        reasons.append("; ".join(near([resource])) or
                       f"{resource.label} has no statement allowing {principal} {request.action}")
    if resource is None and not same_account:
        reasons.append(f"the resource has no resource policy, which a request from account "
                       f"{principal.account} to account {request.resource_account} needs")
    return reasons


def _sid(statement: Mapping[str, Any]) -> str:
    return statement.get("Sid", "no Sid")


# ----------------------------------------------------------------------------------------------
# Statements


def _statements(policy: Policy) -> list[Mapping[str, Any]]:
    statements = policy.document.get("Statement", [])
    if isinstance(statements, Mapping):
        statements = [statements]
    if not isinstance(statements, list) or len(statements) > _MAX_STATEMENTS:
        raise UnsupportedPolicy(f"{policy.label}: Statement must be a list of at most {_MAX_STATEMENTS}")
    return statements


def _applies(policy: Policy, statement: Mapping[str, Any], request: Request) -> bool:
    if "NotAction" in statement:
        if any(_glob(pattern, request.action, ignore_case=True) for pattern in _strings(statement["NotAction"])):
            return False
    elif not any(_glob(pattern, request.action, ignore_case=True) for pattern in _strings(statement.get("Action"))):
        return False
    if "NotResource" in statement:
        if any(_glob(pattern, request.resource) for pattern in _strings(statement["NotResource"])):
            return False
    elif "Resource" in statement:
        if not any(_glob(pattern, request.resource) for pattern in _strings(statement["Resource"])):
            return False
    elif policy.kind == IDENTITY_POLICY:
        return False  # an identity statement without Resource is malformed and grants nothing
    if policy.kind == IDENTITY_POLICY:
        return True
    return _principal_match(statement, request.principal) is not None


def _principal_match(statement: Mapping[str, Any], principal: Principal) -> str | None:
    if "NotPrincipal" in statement:
        return None if _names(statement["NotPrincipal"], principal) else "principal"
    return _names(statement.get("Principal"), principal)


def _names(element: Any, principal: Principal) -> str | None:
    if element == "*":
        return "principal"
    if not isinstance(element, Mapping):
        return None
    if principal.service is not None:
        return "principal" if principal.service in _strings(element.get("Service")) else None
    match = None
    for value in _strings(element.get("AWS")):
        if value == "*" or value == principal.arn:
            return "principal"
        if value in (principal.account, f"arn:aws:iam::{principal.account}:root"):
            match = "account"
    return match


def _strings(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return [str(v) for v in value]
    return [str(value)]


# ----------------------------------------------------------------------------------------------
# Conditions


def _context(request: Request) -> dict[str, list[str]]:
    context = {key.lower(): _strings(value) for key, value in request.context.items()}
    if request.principal.arn is not None:
        context.setdefault("aws:principalarn", [request.principal.arn])
        context.setdefault("aws:principalaccount", [str(request.principal.account)])
    return context


def _failed_condition(condition: Mapping[str, Any], context: Mapping[str, list[str]]) -> str | None:
    """None when every operator and key of the block holds; else the first that does not."""
    for operator, keys in condition.items():
        if not isinstance(keys, Mapping):
            raise UnsupportedPolicy(f"condition operator {operator} must map keys to values")
        for key, values in keys.items():
            present = context.get(key.lower())
            if not _holds(operator, _strings(values), present):
                have = f"the request has {key}={present}" if present else f"the request has no {key}"
                return f"{operator} {{{key}: {_strings(values)}}} ({have})"
    return None


def _holds(operator: str, expected: list[str], present: list[str] | None) -> bool:
    qualifier, _, base = operator.rpartition(":")
    if_exists = base.endswith("IfExists")
    base = base.removesuffix("IfExists")
    if base == "Null":
        return (present is None) == (expected[0].lower() == "true") if expected else False
    compare = _OPERATORS.get(base)
    if compare is None or qualifier not in ("", "ForAnyValue", "ForAllValues"):
        raise UnsupportedPolicy(f"condition operator {operator} is not supported by the access evaluator")
    negated = "Not" in base
    if present is None:
        if qualifier == "ForAllValues" or if_exists:
            return True
        return negated and qualifier != "ForAnyValue"
    if qualifier == "ForAllValues":
        return all(compare(value, expected) for value in present)
    return any(compare(value, expected) for value in present)


def _glob(pattern: str, value: str, ignore_case: bool = False) -> bool:
    if "*" not in pattern and "?" not in pattern:
        # Most Resource entries are whole ARNs and most Actions whole names: no regex to run.
        # ASCII only without regard to case: there `lower()` is exactly re.IGNORECASE.
        if not ignore_case:
            return pattern == value
        if pattern.isascii() and value.isascii():
            return pattern.lower() == value.lower()
    return _glob_regex(pattern, ignore_case).fullmatch(value) is not None


@functools.lru_cache(maxsize=4096)
def _glob_regex(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    # Literal runs escaped whole, not character by character: a plan compiles a pattern per ARN.
    body = "".join(".*" if part == "*" else "." if part == "?" else re.escape(part)
                   for part in re.split(r"([*?])", pattern) if part)
    return re.compile(body, re.DOTALL | (re.IGNORECASE if ignore_case else 0))


def _arn_like(value: str, pattern: str) -> bool:
    # Each of the six colon-separated parts of an ARN is matched on its own.
    values, patterns = value.split(":", 5), pattern.split(":", 5)
    return len(values) == len(patterns) == 6 and all(_glob(p, v) for p, v in zip(patterns, values))


_POSITIVE = {
    "StringEquals": lambda v, e: v == e,
    "StringEqualsIgnoreCase": lambda v, e: v.lower() == e.lower(),
    "StringLike": lambda v, e: _glob(e, v),
    "ArnEquals": lambda v, e: v == e,
    "ArnLike": lambda v, e: _arn_like(v, e),
    "Bool": lambda v, e: v.lower() == e.lower(),
}


def _any_of(test):
    return lambda value, expected: any(test(value, e) for e in expected)


def _none_of(test):
    return lambda value, expected: not any(test(value, e) for e in expected)


_OPERATORS = {
    **{name: _any_of(test) for name, test in _POSITIVE.items()},
    "StringNotEquals": _none_of(_POSITIVE["StringEquals"]),
    "StringNotEqualsIgnoreCase": _none_of(_POSITIVE["StringEqualsIgnoreCase"]),
    "StringNotLike": _none_of(_POSITIVE["StringLike"]),
    "ArnNotEquals": _none_of(_POSITIVE["ArnEquals"]),
    "ArnNotLike": _none_of(_POSITIVE["ArnLike"]),
}
