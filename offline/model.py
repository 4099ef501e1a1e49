"""The offline plan as data: the planned resources, the stack's outputs, the policy violations and
access verdicts, and the JSON `--json` writes. `offline.plan` makes it, `offline.render` prints it."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class PlannedResource:
    urn: str
    type: str
    name: str
    id: str | None  # None for components, which have no physical id
    parent: str | None
    account: str | None
    region: str | None
    inputs: dict[str, Any]  # camelCase, as registered with the engine; secrets as "[secret]"
    outputs: dict[str, Any]
    custom: bool
    provider: str | None  # the explicit provider's URN; None for the default provider
    # URNs the resource waits for (depends_on and the inputs' resources), as the engine is told.
    dependencies: tuple[str, ...] = ()
    # The URNs the resource had before (its `aliases` option): the engine moves their state to it.
    aliases: tuple[str, ...] = ()


@dataclass
class Plan:
    project: str
    stack: str
    resources: list[PlannedResource]
    outputs: dict[str, Any]
    violations: list[Any] = field(default_factory=list)
    # Whether the policy pack ran (then the JSON carries "violations", even an empty list).
    policy_ran: bool = False
    # Access paths and their verdicts (policy.access.planned.PathResult); None when not declared.
    access: list[Any] | None = None
    # AWS limits and their verdicts (policy.quotas.usage.QuotaResult); None when the project has none.
    quotas: list[Any] | None = None
    # The other stacks whose counts `quotas` adds (their plans' JSON, `--with-plan`).
    quotas_added: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        document: dict[str, Any] = {
            "project": self.project,
            "stack": self.stack,
            "resources": [
                {"urn": r.urn, "type": r.type, "name": r.name, "id": r.id, "parent": r.parent,
                 "account": r.account, "region": r.region, "inputs": r.inputs, "outputs": r.outputs}
                for r in self.resources
            ],
            "outputs": self.outputs,
        }
        if self.policy_ran:
            document["violations"] = [_violation_dict(v) for v in self.violations]
        if self.access is not None:
            document["access"] = [result.to_json() for result in self.access]
        if self.quotas is not None:
            from policy.quotas.usage import to_json as quotas_json

            document["quotas"] = quotas_json(self.quotas, self.quotas_added)
        return document

    def by_type(self, type_: str) -> list[PlannedResource]:
        return [r for r in self.resources if r.type == type_]


def _violation_dict(violation: Any) -> dict[str, Any]:
    if dataclasses.is_dataclass(violation):
        return dataclasses.asdict(violation)
    if hasattr(violation, "_asdict"):
        return dict(violation._asdict())
    return dict(vars(violation))
