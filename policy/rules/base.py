"""How a rule is written once and registered as a CrossGuard policy.

A rule is a pure check that yields `Finding`s:

* resource rules: `check(resource_type, props, urn, name)`, props are the resource's inputs;
* stack rules: `check(resources)`, a list of `PolicyResource` whose props are the resources'
  outputs (the engine's view after the program ran), for rules that join resources.

`resource_policy` / `stack_policy` wrap a check into a `ResourceValidationPolicy` /
`StackValidationPolicy`. The Pulumi CLI calls those policies' `validate`; `policy/offline.py`
calls the very same `validate` with argument objects built from the offline plan.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Callable, Iterable

from pulumi_policy import (
    EnforcementLevel,
    PolicyResource,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

MANDATORY = EnforcementLevel.MANDATORY
ADVISORY = EnforcementLevel.ADVISORY
# A violation message is "<what is wrong, where>" + FIX_SEPARATOR + "<how to fix it>": the CLI
# shows both, the offline evaluation splits them into `message` and `fix`.
FIX_SEPARATOR = "\nFix: "


@dataclass(frozen=True)
class Finding:
    message: str
    fix: str
    # Stack rules: the resource the finding is about (resource rules report on their resource).
    urn: str | None = None

    def render(self) -> str:
        return f"{self.message}{FIX_SEPARATOR}{self.fix}"


def split_report(text: str) -> tuple[str, str]:
    message, _, fix = text.partition(FIX_SEPARATOR)
    return message, fix


ResourceCheck = Callable[[str, Mapping[str, Any], str, str], Iterable[Finding]]
StackCheck = Callable[[Sequence[PolicyResource]], Iterable[Finding]]


def resource_policy(name: str, description: str, resource_types: Iterable[str], check: ResourceCheck,
                    enforcement: EnforcementLevel = MANDATORY) -> ResourceValidationPolicy:
    types = frozenset(resource_types)

    def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        if args.resource_type not in types:
            return
        for finding in check(args.resource_type, args.props, args.urn, args.name):
            report_violation(finding.render(), None)

    policy = ResourceValidationPolicy(name=name, description=description, validate=validate,
                                      enforcement_level=enforcement)
    # The offline evaluation skips resources of other types without building their arguments.
    policy.resource_types = types
    return policy


def stack_policy(name: str, description: str, check: StackCheck,
                 enforcement: EnforcementLevel = MANDATORY) -> StackValidationPolicy:
    def validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
        for finding in check(args.resources):
            report_violation(finding.render(), finding.urn)

    return StackValidationPolicy(name=name, description=description, validate=validate,
                                 enforcement_level=enforcement)


# ----------------------------------------------------------------------------------------------
# Reading props. In the pack they are read-only Mapping/Sequence proxies (not dict/list) that
# raise on values unknown during preview, so rules test for the abstract types.


def mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def items(value: Any) -> list[Any]:
    if isinstance(value, Sequence) and not isinstance(value, (str, bytes)):
        return list(value)
    return []


def dig(props: Mapping[str, Any], *path: str) -> Any:
    """props["a"]["b"]…, or None where a level is missing or not a mapping."""
    value: Any = props
    for key in path:
        if not isinstance(value, Mapping) or key not in value:
            return None
        value = value[key]
    return value


def number(value: Any) -> float | None:
    """A numeric prop. The engine sends props as protobuf Structs, where every number is a float."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return None


def label(resource_type: str, name: str) -> str:
    """How a message names a resource: its short type and its Pulumi name."""
    short = resource_type.rsplit(":", 1)[-1]
    return f"{short} '{name}'"


def is_aws_managed_key(key: str) -> bool:
    """An AWS-managed key named by alias (alias/aws/s3, arn:…:alias/aws/sns): not customer-managed."""
    return key.startswith("alias/aws/") or ":alias/aws/" in key
