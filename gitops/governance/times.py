"""Times given on the command line and in governance files, and how people read them."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from gitops.errors import UsageError

_DURATION = re.compile(r"(\d{1,5})([mhdw])")
_DURATION_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_time(text: str, *, now: datetime, zone: ZoneInfo, flag: str, past: bool = False) -> datetime:
    """A time given on the command line: ISO 8601 (with an offset, or without one in `zone`), or a
    duration (`8h`, `3d`, `2w`, `30m`) from `now`, forwards, or backwards when `past`."""
    match = _DURATION.fullmatch(text.strip())
    if match:
        delta = timedelta(**{_DURATION_UNITS[match[2]]: int(match[1])})
        return now - delta if past else now + delta
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise UsageError(f"{flag} {text!r} is not a time: give an ISO 8601 time (2024-12-27T08:00+01:00, "
                         "or 2024-12-27 08:00 in the environment's time zone) or a duration such as "
                         "8h, 3d, 2w") from None
    return when if when.tzinfo else when.replace(tzinfo=zone)


def show_time(when: datetime, zone: ZoneInfo) -> str:
    """`2024-12-27 08:00 CET` : what people read, in the environment's time zone."""
    return when.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z")
