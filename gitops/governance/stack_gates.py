"""The release gates a stack's settings put on an environment, read from its Pulumi stack file for
`gitops status`: the release window (open now? when does it open, or close?), the blocking alarms
and the bake. The program (components/release_gates.py) turns the same keys into CodePipeline stage
conditions and validates them fully; here they are read to be shown, and a window is parsed by the
same rules (gitops.governance.release_windows), so what status says is what CodePipeline does.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from gitops.errors import UsageError, ValuesError
from gitops.governance.freeze_file import ActiveFreeze, parse_freeze_file
from gitops.governance.release_windows import ReleaseWindow, WindowError, parse as parse_window
from gitops.repo import layout
from gitops.repo.inventory import Status
from gitops.yaml.document import load

PROJECT = "delivery-pipeline"


@dataclass(frozen=True)
class EnvironmentGates:
    environment: str
    window: ReleaseWindow | None
    alarms: tuple[str, ...]
    bake_minutes: int | None

    def to_json(self, now: datetime) -> dict:
        window = None
        if self.window is not None:
            opening = None if self.window.is_open(now) else self.window.next_opening(now)
            closing = self.window.closes_after(now) if self.window.is_open(now) else None
            window = {"cron": self.window.cron, "timeZone": self.window.time_zone, "open": self.window.is_open(now),
                      "opensAt": opening.isoformat() if opening else None,
                      "closesAt": closing.isoformat() if closing else None}
        return {"window": window, "blockingAlarms": list(self.alarms), "bakeMinutes": self.bake_minutes}

    def lines(self, now: datetime) -> list[str]:
        found = []
        if self.window is not None:
            found.append(f"release window {self.window.cron} ({self.window.time_zone}): {self.window.describe(now)}")
        if self.alarms:
            bake = f"; bake {self.bake_minutes} min after Verify" if self.bake_minutes else ""
            found.append(f"blocking alarms: {', '.join(self.alarms)}{bake}")
        return found


def read_stack_gates(path: Path) -> EnvironmentGates:
    """The gates of the stack file `path` (Pulumi.<stack>.yaml); UsageError names the file and key."""
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as error:
        raise UsageError(f"--stack {path}: cannot read it ({error})") from None
    try:
        data = load(text, str(path))
    except ValuesError as error:
        raise UsageError(f"--stack {path}: {error}") from None
    config = data.get("config") if isinstance(data, dict) else None
    if not isinstance(config, dict):
        raise UsageError(f"--stack {path}: not a Pulumi stack file (no `config` mapping)")
    environment = _get(config, "environment", path)
    name = environment.get("name")
    if not isinstance(name, str) or not name:
        raise UsageError(f"--stack {path}: {PROJECT}:environment.name is missing")
    promotion = _get(config, "promotion", path)
    window = promotion.get("windows")
    alarms = promotion.get("blockingAlarms") or []
    bake = promotion.get("bakeMinutes")
    if window is not None:
        if not isinstance(window, dict) or "cron" not in window:
            raise UsageError(f"--stack {path}: {PROJECT}:promotion.windows is not a mapping with a cron")
        try:
            window = parse_window(window["cron"], window.get("timeZone", "UTC"))
        except WindowError as error:
            raise UsageError(f"--stack {path}: {PROJECT}:promotion.windows: {error}") from None
    if not isinstance(alarms, list) or not all(isinstance(a, str) for a in alarms):
        raise UsageError(f"--stack {path}: {PROJECT}:promotion.blockingAlarms is not a list of alarm names")
    if bake is not None and (not isinstance(bake, int) or isinstance(bake, bool)):
        raise UsageError(f"--stack {path}: {PROJECT}:promotion.bakeMinutes is not a whole number")
    return EnvironmentGates(environment=name, window=window, alarms=tuple(alarms), bake_minutes=bake)


def _get(config: dict, section: str, path: Path) -> dict[str, Any]:
    value = config.get(f"{PROJECT}:{section}") or {}
    if not isinstance(value, dict):
        raise UsageError(f"--stack {path}: {PROJECT}:{section} is not a mapping")
    return value


@dataclass(frozen=True)
class EnvironmentControls:
    """What stops or holds promotions into one environment now: its release gates (from its stack
    file, when given) beside its freezes (from its freeze file)."""

    environment: str
    gates: EnvironmentGates | None
    freezes: tuple[ActiveFreeze, ...] = ()
    # The freeze file could not be read or parsed: promote fails closed on it.
    freeze_error: str | None = None

    def lines(self, now: datetime) -> list[str]:
        found = self.gates.lines(now) if self.gates else []
        if self.freeze_error:
            found.append(f"freeze file unreadable, promote refuses: {self.freeze_error}")
        found += [f"{f.kind} of {f.scope} until {f.ends_at:%Y-%m-%d %H:%M %Z}: {f.reason}" for f in self.freezes]
        return found

    def to_json(self, now: datetime) -> dict:
        return {**(self.gates.to_json(now) if self.gates else {}), "freezeError": self.freeze_error,
                "freezes": [{"kind": f.kind, "scope": f.scope, "reason": f.reason, "endsAt": f.ends_at.isoformat(),
                             "by": f.by} for f in self.freezes]}


def controls(status: Status, stacks: list[Path], now: datetime) -> list[EnvironmentControls]:
    """Each environment with a stack file or a freeze file, in name order."""
    gates = {g.environment: g for g in map(read_stack_gates, stacks)}
    found = []
    for env in sorted(set(gates) | set(status.freeze_files)):
        freeze_file, error, active = status.freeze_files.get(env), None, {}
        if freeze_file is not None:
            try:
                parsed = parse_freeze_file(freeze_file.text, layout.freeze_file(env)) if freeze_file.text else None
                error = freeze_file.error
            except ValuesError as e:
                parsed, error = None, str(e)
            services = [s for s, cells in status.services.items() if env in cells] or [""]
            for service in services if parsed else []:
                for freeze in parsed.active(env, service, now):
                    # Shown on the file's own clock, as promote names it.
                    freeze = dataclasses.replace(freeze, ends_at=freeze.ends_at.astimezone(parsed.zone))
                    active.setdefault((freeze.kind, freeze.scope, freeze.reason, freeze.ends_at), freeze)
        found.append(EnvironmentControls(env, gates.get(env), tuple(active.values()), error))
    return found
