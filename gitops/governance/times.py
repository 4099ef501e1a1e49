"""Times given on the command line and in governance files, and how people read them."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from gitops.errors import UsageError

_DURATION = re.compile(r"(\d{1,5})([mhdw])")
_DURATION_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
# The instants a time is held to: a day inside datetime's calendar, so that it can be shown in any
# time zone (offsets reach ±14 h) and compared with any other.
EARLIEST = datetime.min.replace(tzinfo=UTC) + timedelta(days=1)
LATEST = datetime.max.replace(tzinfo=UTC) - timedelta(days=1)


def parse_time(text: str, *, now: datetime, zone: ZoneInfo, flag: str, past: bool = False) -> datetime:
    """A time given on the command line: ISO 8601 (with an offset, or without one in `zone`), or a
    duration (`8h`, `3d`, `2w`, `30m`) from `now`, forwards, or backwards when `past`. A time at
    the ends of the calendar (0001-01-01, 9999-12-31, in any offset) is held to EARLIEST..LATEST."""
    match = _DURATION.fullmatch(text.strip())
    if match:
        delta = timedelta(**{_DURATION_UNITS[match[2]]: int(match[1])})
        return within_calendar(now - delta if past else now + delta)
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise UsageError(f"{flag} {text!r} is not a time: give an ISO 8601 time (2024-12-27T08:00+01:00, "
                         f"or 2024-12-27 08:00 in {zone.key}) or a duration such as 8h, 3d, 2w"
                         ) from None
    return within_calendar(when if when.tzinfo else local_time(when, zone, after=None if past else now))


def local_time(wall: datetime, zone: ZoneInfo, *, after: datetime | None) -> datetime:
    """The naive wall-clock time `wall` in `zone`. In the hour a daylight-saving change repeats,
    02:30 happens twice: the first reading that is after `after` (an end named while the repeated
    hour runs is the one still to come), else the first."""
    first, second = wall.replace(tzinfo=zone, fold=0), wall.replace(tzinfo=zone, fold=1)
    if after is not None and first <= after < second:
        return second
    return first


def within_calendar(when: datetime) -> datetime:
    """`when` in UTC, held to EARLIEST..LATEST (a time an offset pushes out of the calendar, like
    0001-01-01T00:00+14:00, is the nearest end)."""
    try:
        utc = when.astimezone(UTC)
    except OverflowError:
        return EARLIEST if when.year == 1 else LATEST
    return min(max(utc, EARLIEST), LATEST)


def show_time(when: datetime, zone: ZoneInfo) -> str:
    """`2024-12-27 08:00 CET` : what people read, in the environment's time zone."""
    return when.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z")
