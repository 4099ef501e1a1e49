"""Release windows in CodePipeline's DeploymentWindow cron syntax: parsed, checked, evaluated.

CodePipeline's `DeploymentWindow` rule (user guide, rule reference "DeploymentWindow") takes a
`Cron` of six fields and an optional year -- seconds, minutes, hours, day-of-month, month,
day-of-week (1-7 = SUN-SAT), [year] -- matching the times a deployment is allowed, and a
`TimeZone`. An entry condition holding the rule waits until the window opens, bounded by the rule's
timeout (at most `LONGEST_WAIT_MINUTES`).

The program and `gitops status` read the part of the syntax whose meaning is plain: `*`, `?`,
numbers, names (JAN-DEC, SUN-SAT), ranges, lists and `/` steps. `L`, `W` and `#` are valid for
CodePipeline but refused here, so that what the plan and the CLI say about a window (open now,
opens next at) is what CodePipeline does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
WEEKDAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")
# The longest a rule may run (the API's RuleTimeout maximum, minutes): the longest a promotion can
# wait at a closed window.
LONGEST_WAIT_MINUTES = 86400
MAX_CRON_CHARS = 256
_TERM = re.compile(r"^(?:(\*)|([0-9A-Z]+)(?:-([0-9A-Z]+))?)(?:/([0-9]{1,4}))?$")


class WindowError(ValueError):
    """A cron or time zone CodePipeline would refuse, or a part of the syntax this program does not
    evaluate; the message says which part and what is accepted."""


@dataclass(frozen=True)
class _Field:
    name: str
    low: int
    high: int
    names: tuple[str, ...] = ()


_MINUTES = _Field("minutes", 0, 59)
_HOURS = _Field("hours", 0, 23)
_DAYS = _Field("day-of-month", 1, 31)
_MONTHS = _Field("month", 1, 12, MONTHS)
_WEEKDAYS = _Field("day-of-week", 1, 7, WEEKDAYS)
_YEARS = _Field("year", 1970, 2199)


def _number(field: _Field, text: str) -> int:
    if text.isdigit():
        value = int(text)
    elif text in field.names:
        value = field.names.index(text) + 1
    else:
        raise WindowError(f"{field.name} {text!r} is not a number{' or a name' if field.names else ''} "
                          f"(L, W and # are not evaluated by this program)")
    if not field.low <= value <= field.high:
        raise WindowError(f"{field.name} {value} is outside {field.low}-{field.high}")
    return value


def _values(field: _Field, text: str) -> frozenset[int]:
    values: set[int] = set()
    for term in text.split(","):
        match = _TERM.match(term)
        if not match:
            raise WindowError(f"{field.name} {term!r}: use *, numbers, ranges a-b, lists a,b and steps /n "
                              f"(L, W and # are not evaluated by this program)")
        star, first, last, step = match.groups()
        low = field.low if star else _number(field, first)
        high = field.high if star or (step and not last) else _number(field, last) if last else low
        if low > high:
            raise WindowError(f"{field.name} range {term!r} runs backwards")
        if step is not None and int(step) < 1:
            raise WindowError(f"{field.name} step {term!r} must be at least 1")
        values.update(range(low, high + 1, int(step or 1)))
    return frozenset(values)


@dataclass(frozen=True)
class ReleaseWindow:
    """When deployments are allowed: the minutes the cron matches on the zone's wall clock."""

    cron: str
    time_zone: str
    minutes: frozenset[int]
    hours: frozenset[int]
    # None: `?` (the other of the two says which days).
    days: frozenset[int] | None
    months: frozenset[int]
    weekdays: frozenset[int] | None   # 1 = Sunday
    years: frozenset[int]

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)

    def _day_matches(self, day: datetime) -> bool:
        if day.month not in self.months or day.year not in self.years:
            return False
        if self.days is not None:
            return day.day in self.days
        return day.isoweekday() % 7 + 1 in self.weekdays

    def is_open(self, at: datetime) -> bool:
        local = at.astimezone(self.zone)
        return self._day_matches(local) and local.hour in self.hours and local.minute in self.minutes

    def next_opening(self, after: datetime, within_minutes: int = LONGEST_WAIT_MINUTES) -> datetime | None:
        """The first minute at or after `after` in the window, if one comes within the bound."""
        local = after.astimezone(self.zone).replace(tzinfo=None)
        start = local.replace(second=0, microsecond=0)
        if start < local:
            start += timedelta(minutes=1)
        limit = start + timedelta(minutes=within_minutes)
        day = start.replace(hour=0, minute=0)
        while day <= limit:
            if self._day_matches(day):
                for hour in sorted(self.hours):
                    for minute in sorted(self.minutes):
                        candidate = day.replace(hour=hour, minute=minute)
                        if start <= candidate <= limit:
                            return candidate.replace(tzinfo=self.zone)
            day += timedelta(days=1)
        return None

    def closes_after(self, at: datetime) -> datetime | None:
        """When the opening that holds `at` ends (its first minute outside the window); None when it
        lasts past the longest wait."""
        moment = at.astimezone(self.zone).replace(tzinfo=None, second=0, microsecond=0)
        for _ in range(LONGEST_WAIT_MINUTES):
            moment += timedelta(minutes=1)
            if not self.is_open(moment.replace(tzinfo=self.zone)):
                return moment.replace(tzinfo=self.zone)
        return None

    def describe(self, now: datetime) -> str:
        """"open until <time>" or "closed, opens <time>" (or "closed for more than 60 days")."""
        if self.is_open(now):
            end = self.closes_after(now)
            return f"open until {end:%a %Y-%m-%d %H:%M %Z}" if end else "open"
        opening = self.next_opening(now)
        if opening is None:
            return f"closed for more than {LONGEST_WAIT_MINUTES // 1440} days"
        return f"closed, opens {opening:%a %Y-%m-%d %H:%M %Z}"


def parse(cron: str, time_zone: str) -> ReleaseWindow:
    """A DeploymentWindow cron and time zone, or WindowError naming what is wrong."""
    if not isinstance(cron, str) or not cron.strip() or len(cron) > MAX_CRON_CHARS:
        raise WindowError(f"a cron of 6 or 7 fields in at most {MAX_CRON_CHARS} characters")
    try:
        ZoneInfo(time_zone)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise WindowError(f"time zone {time_zone!r} is not an IANA time zone name such as Europe/Berlin or UTC") from None
    fields = cron.upper().split()
    if len(fields) not in (6, 7):
        raise WindowError(f"{len(fields)} fields: CodePipeline's cron has 6 (seconds minutes hours day-of-month "
                          f"month day-of-week) and an optional year")
    seconds, minutes, hours, days, months, weekdays, *year = fields
    if seconds != "*":
        raise WindowError(f"seconds {seconds!r}: CodePipeline's DeploymentWindow takes only * there")
    if (days == "?") == (weekdays == "?"):
        raise WindowError("exactly one of day-of-month and day-of-week must be ?, the other says which days")
    return ReleaseWindow(
        cron=cron, time_zone=time_zone, minutes=_values(_MINUTES, minutes), hours=_values(_HOURS, hours),
        days=None if days == "?" else _values(_DAYS, days), months=_values(_MONTHS, months),
        weekdays=None if weekdays == "?" else _values(_WEEKDAYS, weekdays),
        years=_values(_YEARS, year[0]) if year else frozenset(range(_YEARS.low, _YEARS.high + 1)),
    )
