"""Stage conditions of CodePipeline V2 (`beforeEntry`, `onSuccess`) as data, checked the way
CodePipeline checks them before any resource is registered.

A stage has at most one condition of each kind (the API's ConditionList holds exactly one); a
condition holds 1 to 5 rules, all of which must pass ("Configure conditions for a stage"). Rule
names, the rule type and the configuration keys each provider documents (the rule reference) are
checked here; names, counts and ranges are the API model's (botocore's codepipeline service-2.json,
which the tests read).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Mapping

RULE_NAME = re.compile(r"^[A-Za-z0-9.@_-]{1,100}$")
MAX_RULES = 5
MIN_RULE_TIMEOUT, MAX_RULE_TIMEOUT = 5, 86400
MAX_CONFIGURATION_VALUE = 10000

BEFORE_ENTRY = "entry"
ON_SUCCESS = "on success"
# The results each kind takes (user guide, "Configure conditions for a stage"); SKIP is for entry
# conditions of LambdaInvoke and VariableCheck rules, which this program does not use.
RESULTS = {BEFORE_ENTRY: ("FAIL",), ON_SUCCESS: ("FAIL", "ROLLBACK")}

DEPLOYMENT_WINDOW = "DeploymentWindow"
CLOUDWATCH_ALARM = "CloudWatchAlarm"
# provider -> (required configuration keys, optional ones), from the rule reference pages.
CONFIGURATION_KEYS: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    DEPLOYMENT_WINDOW: (frozenset({"Cron"}), frozenset({"TimeZone"})),
    CLOUDWATCH_ALARM: (frozenset({"AlarmName"}), frozenset({"AlarmStates", "WaitTime"})),
}


@dataclass(frozen=True)
class Rule:
    name: str
    provider: str
    configuration: Mapping[str, Any] = field(default_factory=dict)
    # None: the pipeline's region.
    region: str | None = None
    timeout_minutes: int | None = None
    category: str = "Rule"
    owner: str = "AWS"
    version: str = "1"


@dataclass(frozen=True)
class Condition:
    result: str
    rules: tuple[Rule, ...]


def problems(kind: str, condition: Condition) -> list[str]:
    """What CodePipeline would refuse in a condition of this kind, one line each (none: valid)."""
    found = []
    if condition.result not in RESULTS[kind]:
        found.append(f"result {condition.result!r}: a condition {kind} takes {' or '.join(RESULTS[kind])}")
    if not 1 <= len(condition.rules) <= MAX_RULES:
        found.append(f"a condition has 1 to {MAX_RULES} rules, this one has {len(condition.rules)}")
    names = [rule.name for rule in condition.rules]
    for rule in condition.rules:
        where = f"rule {rule.name!r}"
        if not RULE_NAME.match(rule.name):
            found.append(f"{where}: rule names use 1-100 of A-Z a-z 0-9 . @ - _")
        if names.count(rule.name) > 1:
            found.append(f"{where}: rule names must be unique in their condition")
        keys = CONFIGURATION_KEYS.get(rule.provider)
        if keys is None or (rule.category, rule.owner, rule.version) != ("Rule", "AWS", "1"):
            found.append(f"{where}: unsupported rule type {rule.category}/{rule.owner}/{rule.provider}/{rule.version}")
            continue
        required, optional = keys
        missing, unknown = required - set(rule.configuration), set(rule.configuration) - required - optional
        if missing:
            found.append(f"{where}: {rule.provider} needs {', '.join(sorted(missing))}")
        if unknown:
            found.append(f"{where}: {rule.provider} documents no {', '.join(sorted(unknown))}")
        for key, value in rule.configuration.items():
            if isinstance(value, str) and not 1 <= len(value) <= MAX_CONFIGURATION_VALUE:
                found.append(f"{where}: {key} must be 1 to {MAX_CONFIGURATION_VALUE} characters")
        if rule.timeout_minutes is not None and not MIN_RULE_TIMEOUT <= rule.timeout_minutes <= MAX_RULE_TIMEOUT:
            found.append(f"{where}: timeout {rule.timeout_minutes} is outside "
                         f"{MIN_RULE_TIMEOUT}..{MAX_RULE_TIMEOUT} minutes")
    return found


def render(condition: Condition) -> dict:
    """The condition as pulumi-aws takes it (`before_entry` / `on_success` = {"condition": this})."""
    return {"result": condition.result, "rules": [
        {key: value for key, value in {
            "name": rule.name,
            "rule_type_id": {"category": rule.category, "owner": rule.owner, "provider": rule.provider,
                             "version": rule.version},
            "configuration": dict(rule.configuration), "region": rule.region,
            "timeout_in_minutes": rule.timeout_minutes,
        }.items() if value is not None}
        for rule in condition.rules]}
