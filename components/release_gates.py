"""Release gates: release windows, alarm gates and the bake, as CodePipeline V2 stage conditions.

Settings (under `promotion`):

* `windows` -- `{cron, timeZone}`: when promotions may change the environment, in CodePipeline's
  DeploymentWindow cron syntax (`gitops.governance.release_windows`). Default: none (any time).
* `blockingAlarms` -- CloudWatch alarm names (the tooling account's home region) or ARNs (the
  tooling account, any region): no promotion while one is in ALARM. Default: none.
* `bakeMinutes` -- after Verify succeeds, the stage holds the release that long watching the same
  alarms; a breach fails the stage. Needs `blockingAlarms`. Default: none (no bake).

Where they go: the entry condition of the stage that changes the environment (Promote) holds one
DeploymentWindow rule and one CloudWatchAlarm rule per alarm, result FAIL. Outside the window the
DeploymentWindow rule waits for it to open (the rule stays in progress, bounded by its timeout,
which is CodePipeline's longest: 60 days), so a promotion asked for on Friday evening enters
Promote when Monday's window opens. The bake is the on-success condition of the Verify stage: one
CloudWatchAlarm rule per alarm with `WaitTime` = the bake, result FAIL. Every rule of a condition
must pass and a condition holds at most 5 rules, so the window and the alarms share those 5.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Iterable, Mapping

from components import validators as v
from components.stage_conditions import (CLOUDWATCH_ALARM, DEPLOYMENT_WINDOW, MAX_RULE_TIMEOUT, MAX_RULES, Condition,
                                         Rule)
from gitops.governance.release_windows import LONGEST_WAIT_MINUTES, ReleaseWindow, WindowError, parse as parse_window
from gitops.verification.verify import MAX_BAKE_MINUTES

# The stage whose entry the window and the alarms gate (it writes the GitOps repository), and the
# stage whose success the bake holds.
PROMOTE_STAGE = "Promote"
VERIFY_STAGE = "Verify"
# With a bake: the stage after it, which verifies each region again and gives the proof.
PROVE_STAGE = "Prove"
# The tag a gated stack's pipelines carry: what the settings ask for (`window alarms=2 bake=30`), so
# the policy pack can check every promoting stage has it (policy/rules/codepipeline.py).
GATES_TAG = "delivery:release-gates"
# CloudWatch alarm names: 1-255 characters (PutMetricAlarm).
MAX_ALARM_NAME = 255
ALARM_ARN = re.compile(r"^arn:aws:cloudwatch:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):alarm:(?P<name>.+)$")
# The bake rule runs for its wait time; its timeout leaves it that long and a margin to answer.
BAKE_TIMEOUT_MARGIN = 30
_RULE_NAME_CHARS = re.compile(r"[^A-Za-z0-9.@_-]+")


@dataclass(frozen=True)
class BlockingAlarm:
    name: str
    region: str

    def arn(self, account: str) -> str:
        return f"arn:aws:cloudwatch:{self.region}:{account}:alarm:{self.name}"


@dataclass(frozen=True)
class ReleaseGates:
    window: ReleaseWindow | None = None
    alarms: tuple[BlockingAlarm, ...] = ()
    bake_minutes: int | None = None

    def __bool__(self) -> bool:
        return self.window is not None or bool(self.alarms)

    def entry_condition(self, home_region: str) -> Condition | None:
        """The Promote stage's entry condition: the window, then the alarms."""
        rules = []
        if self.window is not None:
            rules.append(Rule(name="ReleaseWindow", provider=DEPLOYMENT_WINDOW,
                              configuration={"Cron": self.window.cron, "TimeZone": self.window.time_zone},
                              timeout_minutes=LONGEST_WAIT_MINUTES))
        rules += [_alarm_rule("Alarm", index, alarm, home_region) for index, alarm in enumerate(self.alarms)]
        return Condition(result="FAIL", rules=tuple(rules)) if rules else None

    def bake_condition(self, home_region: str) -> Condition | None:
        """The Verify stage's on-success condition: each alarm watched for the bake."""
        if not self.bake_minutes:
            return None
        timeout = min(self.bake_minutes + BAKE_TIMEOUT_MARGIN, MAX_RULE_TIMEOUT)
        return Condition(result="FAIL", rules=tuple(
            _alarm_rule("Bake", index, alarm, home_region, wait=self.bake_minutes, timeout=timeout)
            for index, alarm in enumerate(self.alarms)))

    @property
    def tag(self) -> str:
        """The value of GATES_TAG: the gates configured, without names (tag values are short)."""
        parts = (["window"] if self.window else []) + ([f"alarms={len(self.alarms)}"] if self.alarms else [])
        return " ".join(parts + ([f"bake={self.bake_minutes}"] if self.bake_minutes else []))

    def alarm_arns(self, account: str) -> list[str]:
        return [alarm.arn(account) for alarm in self.alarms]


def _alarm_rule(prefix: str, index: int, alarm: BlockingAlarm, home_region: str, *, wait: int | None = None,
                timeout: int | None = None) -> Rule:
    # Rule names take fewer characters than alarm names: the index keeps them unique.
    name = f"{prefix}{index + 1}-{_RULE_NAME_CHARS.sub('-', alarm.name)}"[:100]
    configuration = {"AlarmName": alarm.name, **({"WaitTime": str(wait)} if wait else {})}
    return Rule(name=name, provider=CLOUDWATCH_ALARM, configuration=configuration,
                region=None if alarm.region == home_region else alarm.region, timeout_minutes=timeout)


def gate(stage_name: str, gates: ReleaseGates, home_region: str) -> dict[str, Condition | None]:
    """The conditions a stage of this name gets (the keys of `pipeline_model.Stage`)."""
    if stage_name == PROMOTE_STAGE:
        return {"before_entry": gates.entry_condition(home_region)}
    if stage_name == VERIFY_STAGE:
        return {"on_success": gates.bake_condition(home_region)}
    return {}


def watches_alarms(conditions: Iterable[Condition | None]) -> bool:
    """Whether any of these conditions reads CloudWatch alarms (its pipeline's role must)."""
    return any(rule.provider == CLOUDWATCH_ALARM for condition in conditions if condition for rule in condition.rules)


def stage_conditions(stage_names: Iterable[str], gates: ReleaseGates, home_region: str) -> list[Condition | None]:
    """The conditions the release gates give stages of these names."""
    return [condition for name in stage_names for condition in gate(name, gates, home_region).values()]


def gated_stages(stage_names: Iterable[str], gates: ReleaseGates, home_region: str) -> list[str]:
    """Which of these stages the release gates give a condition (in order, once each)."""
    return [name for name in dict.fromkeys(stage_names) if any(gate(name, gates, home_region).values())]


# ----------------------------------------------------------------------------------------------
# Settings


def parse(promotion: v.Reader, *, tooling_account: str, home_region: str, now: datetime | None = None) -> ReleaseGates:
    """`promotion.windows`, `promotion.blockingAlarms` and `promotion.bakeMinutes`."""
    window = promotion.get("windows", lambda key, value: _window(key, value, now or datetime.now(UTC)), default=None)
    alarms = promotion.get("blockingAlarms", lambda key, value: _alarms(key, value, tooling_account, home_region),
                           default=())
    bake = promotion.get("bakeMinutes", v.integer(1, MAX_BAKE_MINUTES), default=None)
    errors = promotion.errors
    if bake and alarms == ():
        errors.add(v.fail(promotion.key("bakeMinutes"), bake,
                          f"{promotion.key('blockingAlarms')} as well: the bake watches those alarms"))
    if window and alarms and 1 + len(alarms) > MAX_RULES:
        errors.add(v.fail(promotion.key("blockingAlarms"), [a.name for a in alarms],
                          f"at most {MAX_RULES - 1} alarms beside {promotion.key('windows')}: CodePipeline's entry "
                          f"condition holds {MAX_RULES} rules (use a composite alarm)"))
    return ReleaseGates(window=window or None, alarms=alarms or (), bake_minutes=bake or None)


def _window(key: str, value: Any, now: datetime) -> ReleaseWindow:
    if not isinstance(value, Mapping) or set(value) - {"cron", "timeZone"} or "cron" not in value:
        raise v.fail(key, value, "a mapping {cron: <DeploymentWindow cron>, timeZone: <IANA zone, default UTC>}, "
                                 "e.g. {cron: '* * 9-16 ? * MON-THU *', timeZone: Europe/Berlin}")
    try:
        window = parse_window(value["cron"], value.get("timeZone", "UTC"))
    except WindowError as error:
        raise v.fail(key, value, f"a valid release window: {error}") from None
    if window.next_opening(now) is None:
        raise v.fail(key, value, f"a window that opens within {LONGEST_WAIT_MINUTES // 1440} days (this one does "
                                 f"not): a promotion waits for it at most that long (CodePipeline's rule timeout)")
    return window


def _alarms(key: str, value: Any, tooling_account: str, home_region: str) -> tuple[BlockingAlarm, ...]:
    if not isinstance(value, list) or not value:
        raise v.fail(key, value, "a non-empty list of CloudWatch alarm names or ARNs")
    if len(value) > MAX_RULES:
        raise v.fail(key, f"{len(value)} alarms", f"at most {MAX_RULES} alarms: CodePipeline's condition holds {MAX_RULES} rules "
                                 f"(use a composite alarm)")
    alarms = [_alarm(f"{key}[{index}]", item, tooling_account, home_region) for index, item in enumerate(value)]
    if len(set(alarms)) < len(alarms):
        raise v.fail(key, value, "each alarm once")
    return tuple(alarms)


def _alarm(key: str, value: Any, tooling_account: str, home_region: str) -> BlockingAlarm:
    if not isinstance(value, str) or not value.strip():
        raise v.fail(key, value, "a CloudWatch alarm name or ARN")
    if value.startswith("arn:"):
        match = ALARM_ARN.match(value)
        if not match:
            raise v.fail(key, value, "an alarm ARN, arn:aws:cloudwatch:<region>:<account>:alarm:<name>")
        if match["account"] != tooling_account:
            raise v.fail(key, value, f"an alarm of the tooling account {tooling_account}: the pipeline's role reads "
                                     f"alarms in its own account (make a composite or cross-account alarm there)")
        if match["region"] not in v.AWS_REGIONS:
            raise v.fail(key, value, "an alarm ARN naming an AWS region of the aws partition")
        name, region = match["name"], match["region"]
    else:
        name, region = value, home_region
    if len(name) > MAX_ALARM_NAME or any(ord(c) < 32 or ord(c) == 127 for c in name):
        raise v.fail(key, value, f"an alarm name of 1-{MAX_ALARM_NAME} printable characters")
    return BlockingAlarm(name=name, region=region)
