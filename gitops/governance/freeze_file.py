"""The freeze file of an environment (`layout.freeze_file`): deployment freezes and windows.

Freezes are entries that `gitops freeze` and `unfreeze` add and remove by commits; the same file
holds recurring freeze windows ("no prod promotions Friday 16:00
– Monday 08:00"), written by hand and evaluated in the file's time zone:

    # Deployment freezes of prod (`python -m gitops freeze` / `unfreeze` edit `freezes`).
    timezone: Europe/Berlin                  # IANA zone; windows and times without offset use it
    windows:
      - start: Fri 16:00
        end: Mon 08:00
        reason: no prod promotions over the weekend
        services: [api, web]                 # optional: default every service
    freezes:
      - service: api                         # absent: the whole environment
        until: "2024-12-27T08:00:00+01:00"
        reason: year-end freeze
        by: Jane Doe <jane@example.com>
        since: "2024-12-20T17:00:00+01:00"
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from io import StringIO
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.scalarstring import DoubleQuotedScalarString

from gitops.errors import UsageError, ValuesError
from gitops.governance.times import local_time
from gitops.repo import files, layout
from gitops.yaml import document

# Bounds on a file anyone with write access can edit: promote reads it on every run (the file's
# size, nesting and nodes are bounded by gitops.yaml.document).
MAX_ENTRIES = 100
MAX_REASON_CHARS = 500

_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_WINDOW_TIME = re.compile(r"(?i)\s*([a-z]+)\s+([01]?\d|2[0-3]):([0-5]\d)\s*")


@dataclass(frozen=True)
class Freeze:
    service: str | None          # None: every service of the environment
    until: datetime
    reason: str
    by: str
    since: datetime

    def applies(self, service: str, now: datetime) -> bool:
        return self.service in (None, service) and self.since <= now < self.until


@dataclass(frozen=True)
class Window:
    """A weekly freeze window, from `start` to `end` (minutes since Monday 00:00, local time)."""
    start: int
    end: int
    reason: str
    services: tuple[str, ...] | None   # None: every service

    def end_after(self, now: datetime, zone: ZoneInfo) -> datetime | None:
        """When the occurrence of the window that holds `now` ends, or None when `now` is outside.

        Evaluated on the local wall clock of `zone`, so "Mon 08:00" is 08:00 in winter and in
        summer alike: the window is as long as the clocks say, one hour more or less across a
        daylight-saving change."""
        local = now.astimezone(zone)
        minute = local.weekday() * 1440 + local.hour * 60 + local.minute + local.second / 60
        inside = (self.start <= minute < self.end if self.start < self.end
                  else minute >= self.start or minute < self.end)
        if not inside:
            return None
        days_ahead = (self.end // 1440 - local.weekday()) % 7
        end = (local.replace(tzinfo=None, hour=0, minute=0, second=0, microsecond=0)
               + timedelta(days=days_ahead, minutes=self.end % 1440))
        if end <= local.replace(tzinfo=None):
            end += timedelta(days=7)
        return local_time(end, zone, after=now)


@dataclass(frozen=True)
class ActiveFreeze:
    """A freeze or window that applies to a service now."""
    kind: str                    # "freeze" | "window"
    scope: str                   # "prod" or "prod/api"
    reason: str
    ends_at: datetime
    by: str | None = None


@dataclass(frozen=True)
class FreezeFile:
    zone: ZoneInfo
    windows: tuple[Window, ...] = ()
    freezes: tuple[Freeze, ...] = ()

    def active(self, env: str, service: str, now: datetime) -> list[ActiveFreeze]:
        found = [ActiveFreeze("freeze", scope_name(env, f.service), f.reason, f.until, f.by)
                 for f in self.freezes if f.applies(service, now)]
        for window in self.windows:
            if window.services is not None and service not in window.services:
                continue
            end = window.end_after(now, self.zone)
            if end is not None:
                scope = env if window.services is None else f"{env}/{service}"
                found.append(ActiveFreeze("window", scope, window.reason, end))
        return found


def scope_name(env: str, service: str | None) -> str:
    return env if service is None else f"{env}/{service}"


def parse_freeze_file(text: str, where: str) -> FreezeFile:
    """The freezes and windows of a freeze file, read within the limits of gitops.yaml.document; a
    ValuesError naming `where` when it is broken (promote fails closed on a file it cannot read)."""
    data = document.load(text, where)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ValuesError(f"{where}: the top level must be a mapping (timezone, windows, freezes)")
    unknown = set(data) - {"timezone", "windows", "freezes"}
    if unknown:
        raise ValuesError(f"{where}: unknown key {sorted(map(str, unknown))[0]!r}; expected "
                          "timezone, windows, freezes")
    zone = _zone(data.get("timezone", "UTC"), f"{where}: timezone")
    windows = tuple(_window(entry, f"{where}: windows[{i}]")
                    for i, entry in enumerate(_entries(data, "windows", where)))
    freezes = tuple(_freeze(entry, f"{where}: freezes[{i}]", zone)
                    for i, entry in enumerate(_entries(data, "freezes", where)))
    return FreezeFile(zone, windows, freezes)


def _entries(data: dict, key: str, where: str) -> list[dict]:
    entries = data.get(key) or []
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise ValuesError(f"{where}: {key} must be a list of mappings")
    if len(entries) > MAX_ENTRIES:
        raise ValuesError(f"{where}: more than {MAX_ENTRIES} {key}; remove old ones")
    return entries


def _zone(name: Any, where: str) -> ZoneInfo:
    if not isinstance(name, str) or not name:
        raise ValuesError(f"{where} must be an IANA time zone name such as Europe/Berlin")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValuesError(f"{where} {name!r} is not a known IANA time zone (e.g. Europe/Berlin, "
                          "UTC)") from None


def _text(entry: dict, key: str, where: str, *, required: bool = True) -> str | None:
    value = entry.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ValuesError(f"{where}: {key} must be a non-empty string")
    return value


def _window(entry: dict, where: str) -> Window:
    start = _week_minute(_text(entry, "start", where), f"{where}: start")
    end = _week_minute(_text(entry, "end", where), f"{where}: end")
    if start == end:
        raise ValuesError(f"{where}: start and end are the same time; a window must have a length")
    services = entry.get("services")
    if services is not None:
        if (not isinstance(services, list) or not services
                or not all(isinstance(s, str) and layout.is_label(s) for s in services)):
            raise ValuesError(f"{where}: services must be a non-empty list of service names")
        services = tuple(services)
    return Window(start, end, _reason(_text(entry, "reason", where), where), services)


def _week_minute(text: str, where: str) -> int:
    match = _WINDOW_TIME.fullmatch(text)
    day = match and next((i for i, d in enumerate(_WEEKDAYS) if match[1].lower() in (d, d[:3])), None)
    if day is None:
        raise ValuesError(f"{where} {text!r} is not a weekday and a time such as 'Fri 16:00'")
    return day * 1440 + int(match[2]) * 60 + int(match[3])


def _freeze(entry: dict, where: str, zone: ZoneInfo) -> Freeze:
    service = _text(entry, "service", where, required=False)
    if service is not None and not layout.is_label(service):
        raise ValuesError(f"{where}: service {service!r} is not a service name")
    return Freeze(service=service, until=_instant(entry.get("until"), f"{where}: until", zone),
                  reason=_reason(_text(entry, "reason", where), where),
                  by=_text(entry, "by", where), since=_instant(entry.get("since"), f"{where}: since", zone))


def _instant(value: Any, where: str, zone: ZoneInfo) -> datetime:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            value = None
    if not isinstance(value, datetime):
        raise ValuesError(f"{where} must be an ISO 8601 time such as \"2024-12-27T08:00:00+01:00\"")
    return value if value.tzinfo else value.replace(tzinfo=zone)


def _reason(text: str, where: str) -> str:
    if len(text) > MAX_REASON_CHARS or not text.isprintable():
        raise ValuesError(f"{where}: reason must be one line of at most {MAX_REASON_CHARS} "
                          "printable characters")
    return text


def validate_reason(reason: str | None, flag: str = "--reason") -> str:
    """A freeze or override reason as given on the command line: required, one printable line."""
    if reason is None or not reason.strip():
        raise UsageError(f"{flag} is required: say why, it is recorded in the commit")
    if len(reason) > MAX_REASON_CHARS or not reason.isprintable():
        raise UsageError(f"{flag} must be one line of at most {MAX_REASON_CHARS} printable "
                         "characters")
    return reason.strip()


def iso_time(when: datetime, zone: ZoneInfo) -> str:
    return when.astimezone(zone).isoformat(timespec="seconds")


def render_freezes(text: str | None, freezes: Iterable[Freeze], zone: ZoneInfo) -> str:
    """The freeze file `text` (None: a new file) with its `freezes` list replaced by `freezes`;
    comments, windows and the time zone stay as written."""
    yaml = YAML()  # round trip: hand-written windows and comments stay
    yaml.indent(mapping=2, sequence=4, offset=2)
    doc = yaml.load(text) if text and text.strip() else None
    if not isinstance(doc, CommentedMap):
        doc = CommentedMap()
        doc.yaml_set_start_comment(
            "Deployment freezes of this environment: `python -m gitops freeze` and `unfreeze` edit\n"
            "`freezes`; `windows` (weekly, in `timezone`) are edited by hand and reviewed.")
    entries = CommentedSeq()
    for f in freezes:
        entry = CommentedMap()
        if f.service is not None:
            entry["service"] = f.service
        entry["until"] = DoubleQuotedScalarString(iso_time(f.until, zone))
        entry["reason"] = f.reason
        entry["by"] = f.by
        entry["since"] = DoubleQuotedScalarString(iso_time(f.since, zone))
        entries.append(entry)
    if entries:
        doc["freezes"] = entries
    else:
        doc.pop("freezes", None)
    out = StringIO()
    yaml.dump(doc, out)
    return out.getvalue()


# --- Reading the file from a clone --------------------------------------------------------------

def read_freeze_file(workdir: Path, env: str) -> tuple[str | None, FreezeFile]:
    """The text (None when absent) and content of the environment's freeze file in the checkout
    `workdir`, through the checks of gitops.repo.files (a regular file, no symlink on the way)."""
    path = layout.freeze_file(env)
    text = files.read_repo_file(workdir, path)
    if text is None:
        return None, FreezeFile(ZoneInfo("UTC"))
    return text, parse_freeze_file(text, path)
