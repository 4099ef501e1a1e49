"""CloudWatch: every alarm tells someone. An alarm without an action changes state in a console
nobody watches; one with its actions disabled is the same alarm, silenced.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Iterator

from .base import Finding, items, label, resource_policy

ALARM_TYPES = ("aws:cloudwatch/metricAlarm:MetricAlarm", "aws:cloudwatch/compositeAlarm:CompositeAlarm")


def check_alarm_actions(resource_type: str, props: Mapping[str, Any], urn: str, name: str) -> Iterator[Finding]:
    if not [a for a in items(props.get("alarmActions")) if isinstance(a, str) and a]:
        yield Finding(f"{label(resource_type, name)} has no alarm action: entering ALARM notifies nobody",
                      "set alarm_actions to the stack's alerts topic ARN (Notifications.alerts_topic_arn)")
    if props.get("actionsEnabled") is False:
        yield Finding(f"{label(resource_type, name)} has its actions disabled (actions_enabled=False)",
                      "remove actions_enabled=False (actions are enabled by default)")


CLOUDWATCH_ALARM_ACTIONS = resource_policy(
    "cloudwatch-alarm-actions",
    "Every alarm has an alarm action and its actions enabled. Mirrors AWS Config cloudwatch-alarm-action-check "
    "(alarmActionRequired), AWS Control Tower CT.CLOUDWATCH.PR.1 and CT.CLOUDWATCH.PR.4, Prowler "
    "cloudwatch_alarm_actions_enabled.",
    ALARM_TYPES, check_alarm_actions)

POLICIES = [CLOUDWATCH_ALARM_ACTIONS]
