"""Evaluate the policy pack against the offline plan, without the Pulumi CLI.

`evaluate(resources)` builds, from the plan's resources, the argument objects the CrossGuard
analyzer would build (`ResourceValidationArgs` with the inputs as props, `StackValidationArgs`
with `PolicyResource`s whose props are the outputs), passes props through the same protobuf
Struct and unknown-checking proxy, and calls the `validate` of every policy in
`policy.rules.POLICIES`: the pack's own objects, not a copy of its rules.

A resource is anything with `urn`, `type`, `name`, `inputs` and optionally `id`, `outputs`,
`provider` (provider URN), `parent` — the plan's `PlannedResource`, or a mapping with those keys
(the plan's JSON).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

from pulumi_policy import (
    PolicyCustomTimeouts,
    PolicyProviderResource,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.deserialize import deserialize_properties
from pulumi_policy.proxy import unknown_checking_proxy

from policy.rules import DEFAULT_ENFORCEMENT, POLICIES
from policy.rules.base import split_report


@dataclass(frozen=True)
class Violation:
    policy: str
    enforcement: str  # "mandatory" | "advisory"
    urn: str
    type: str
    name: str
    message: str  # what is wrong, on which resource
    fix: str  # how to fix it

    @property
    def mandatory(self) -> bool:
        return self.enforcement == "mandatory"


def _field(resource: Any, key: str, default: Any = None) -> Any:
    if isinstance(resource, Mapping):
        return resource.get(key, default)
    return getattr(resource, key, default)


def _provider(resource: Any) -> PolicyProviderResource | None:
    reference = _field(resource, "provider")
    if not reference:
        return None
    # urn:pulumi:<stack>::<project>::<type>::<name>, optionally followed by ::<id> (a provider
    # reference); the type of a provider is pulumi:providers:<package>.
    parts = reference.split("::")
    urn, provider_type, name = "::".join(parts[:4]), parts[2], parts[3]
    return PolicyProviderResource(provider_type.rsplit("$", 1)[-1], {}, urn, name)


def _options(resource: Any) -> PolicyResourceOptions:
    return PolicyResourceOptions(protect=False, ignore_changes=[], delete_before_replace=None, aliases=[],
                                 custom_timeouts=PolicyCustomTimeouts(0, 0, 0), additional_secret_outputs=[],
                                 parent=_field(resource, "parent"))


def _engine_props(values: Mapping[str, Any]) -> Mapping[str, Any]:
    """Props as the analyzer hands them to policies: as a protobuf Struct carries them (every number
    becomes a float), deserialized, behind the proxy that raises on values unknown during preview."""
    return unknown_checking_proxy(deserialize_properties(_as_struct_carries(dict(values))))


def _as_struct_carries(value: Any) -> Any:
    """`value` after a trip through a protobuf Struct and `json_format.MessageToDict`, without
    building the message (that trip was most of the evaluation's cost): numbers become floats
    (booleans stay booleans), tuples lists; NaN and infinities are refused, as MessageToDict
    refuses them, and so are keys that are not strings (TypeError) and values of other types
    (ValueError), as `Struct.update` refuses them. Only the key order differs: a Struct's map has
    none to keep."""
    if value is None or isinstance(value, (str, bool)):
        return value
    if isinstance(value, dict):
        for key in value:
            if not isinstance(key, str):
                raise TypeError(f"a Struct's keys are strings, not {key!r}")
        return {key: _as_struct_carries(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_as_struct_carries(item) for item in value]
    if isinstance(value, (int, float)):
        number = float(value)
        if math.isinf(number) or math.isnan(number):
            raise ValueError(f"Fail to serialize {number} for Value.number_value, which would parse as string_value")
        return number
    raise ValueError(f"a Struct cannot carry {type(value).__name__} {value!r}")


def _state(resource: Any) -> dict[str, Any]:
    """What the engine hands stack policies: the resource's outputs, which include its inputs and id."""
    state = {**(_field(resource, "inputs") or {}), **(_field(resource, "outputs") or {})}
    if _field(resource, "id") is not None:
        state.setdefault("id", _field(resource, "id"))
    return state


def evaluate(resources: Iterable[Any], policies: Sequence[Any] = POLICIES) -> list[Violation]:
    resources = list(resources)
    by_urn = {_field(r, "urn"): r for r in resources}
    violations: list[Violation] = []

    def collect(policy: Any, default_urn: str | None) -> Any:
        level = (policy.enforcement_level or DEFAULT_ENFORCEMENT).value

        def report_violation(text: str, urn: str | None = None) -> None:
            target = urn or default_urn or ""
            resource = by_urn.get(target)
            message, fix = split_report(text)
            violations.append(Violation(policy.name, level, target, _field(resource, "type", ""),
                                        _field(resource, "name", ""), message, fix))
        return report_violation

    inputs = [_engine_props(_field(r, "inputs") or {}) for r in resources]
    stack = [PolicyResource(_field(r, "type"), _engine_props(_state(r)), _field(r, "urn"), _field(r, "name"),
                            _options(r), _provider(r), None, [], {}) for r in resources]
    parents = {item.urn: item for item in stack}
    for item in stack:
        item.parent = parents.get(item.opts.parent)

    # One argument object per resource, shared by every resource policy (none of them mutates it).
    resource_args = [ResourceValidationArgs(_field(r, "type"), props, _field(r, "urn"), _field(r, "name"),
                                            _options(r), _provider(r)) for r, props in zip(resources, inputs)]
    for policy in policies:
        if isinstance(policy, ResourceValidationPolicy):
            # Rules written with `resource_policy` name their types; others see every resource.
            types = getattr(policy, "resource_types", None)
            for args in resource_args:
                if types is None or args.resource_type in types:
                    _run(policy, args, collect(policy, args.urn), args.urn)
        elif isinstance(policy, StackValidationPolicy):
            _run(policy, StackValidationArgs(stack), collect(policy, None), "the stack")
        else:
            raise TypeError(f"{policy!r} is neither a ResourceValidationPolicy nor a StackValidationPolicy")
    return violations


def _run(policy: Any, args: Any, report_violation: Any, subject: str) -> None:
    try:
        result = policy.validate(args, report_violation)
    except Exception as error:  # a crashing rule must not read as "no violations"
        raise RuntimeError(f"policy {policy.name} failed on {subject}: {error!r}") from error
    if result is not None:
        raise RuntimeError(f"policy {policy.name} is asynchronous; the offline evaluation runs synchronous "
                           "rules only")


def summary(violations: Sequence[Violation]) -> str:
    """Human-readable listing, one violation per block, mandatory first."""
    lines = []
    for v in sorted(violations, key=lambda v: (not v.mandatory, v.policy, v.urn)):
        lines.append(f"[{v.enforcement}] {v.policy}: {v.message}\n    resource: {v.urn}\n    fix: {v.fix}")
    return "\n".join(lines)
