"""`gitops freeze` / `gitops unfreeze`: stop promotions into an environment, in the GitOps repository.

A freeze is a line in the environment's freeze file (`layout.freeze_file`), added and removed by
commits carrying the tool's trailers, so it is reviewed, audited and visible in `gitops history`
like any promotion. The same file holds recurring freeze windows ("no prod promotions Friday 16:00
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

`promote` (and so every pipeline's Promote step) reads the file at the head it edits and refuses
while a freeze or window applies, naming each with its reason and end; `--override-freeze
--reason "…"` promotes anyway and records `Override-Freeze: true` and the reason in the commit.

`--pipelines` also disables (unfreeze: re-enables) the inbound transition of each frozen
pipeline's Promote stage, so executions wait before Promote while source, build and tests keep
running. Windows and the end of a freeze are enforced by promote only: nothing re-enables a
transition on its own, `unfreeze --pipelines` does.
"""

from __future__ import annotations

import argparse
import re
import tempfile
import time
from io import StringIO
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.scalarstring import DoubleQuotedScalarString

# promote imports this module for its freeze check, so its names are read at call time.
from gitops import output
from gitops.governance import trailers
from gitops.promotion import promote
from gitops.repo import files, layout
from gitops.yaml import document
from gitops.clients.codepipeline import THROTTLED, codepipeline_client
from gitops.clients.credentials import add_token_arguments, token_from_args
from gitops.errors import GitopsError, UsageError, ValuesError
from gitops.clients.git import GitClient, GitRunner, Identity
from gitops.clients.push import Push, add_writer_arguments, check_max_attempts, retry_push

# Bounds on a file anyone with write access can edit: promote reads it on every run (the file's
# size, nesting and nodes are bounded by gitops.yaml.document).
MAX_ENTRIES = 100
MAX_REASON_CHARS = 500

# The stage whose inbound transition a freeze disables: the one that writes the GitOps repository.
PROMOTE_STAGE = "Promote"
# CodePipeline's DisabledReason: 1-300 characters of this set (its API model). Transitions this
# tool disabled carry the marker first, so unfreeze re-enables only those.
_REASON_CHARS = re.compile(r"[^a-zA-Z0-9!@ ().*?-]+")
MAX_TRANSITION_REASON = 300
TRANSITION_MARKER = "gitops freeze"

_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_WINDOW_TIME = re.compile(r"(?i)\s*([a-z]+)\s+([01]?\d|2[0-3]):([0-5]\d)\s*")
_DURATION = re.compile(r"(\d{1,5})([mhdw])")
_DURATION_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}")
_MINUTES_PER_WEEK = 7 * 24 * 60


# --- The freeze file ----------------------------------------------------------------------------

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
        return end.replace(tzinfo=zone)


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
        found = [ActiveFreeze("freeze", _scope(env, f.service), f.reason, f.until, f.by)
                 for f in self.freezes if f.applies(service, now)]
        for window in self.windows:
            if window.services is not None and service not in window.services:
                continue
            end = window.end_after(now, self.zone)
            if end is not None:
                scope = env if window.services is None else f"{env}/{service}"
                found.append(ActiveFreeze("window", scope, window.reason, end))
        return found


def _scope(env: str, service: str | None) -> str:
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
                or not all(isinstance(s, str) and _NAME.fullmatch(s) for s in services)):
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
    if service is not None and not _NAME.fullmatch(service):
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


def _iso(when: datetime, zone: ZoneInfo) -> str:
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
        entry["until"] = DoubleQuotedScalarString(_iso(f.until, zone))
        entry["reason"] = f.reason
        entry["by"] = f.by
        entry["since"] = DoubleQuotedScalarString(_iso(f.since, zone))
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


# --- The hook of promote ------------------------------------------------------------------------

def add_override_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--override-freeze", action="store_true",
                        help="promote although a freeze applies (emergency); needs --reason, "
                             "recorded in the commit")
    parser.add_argument("--reason", help="why the freeze is overridden (with --override-freeze)")


def override_reason(args: argparse.Namespace) -> str | None:
    """The reason of `--override-freeze --reason`, or None without the flag."""
    if not args.override_freeze:
        if args.reason is not None:
            raise UsageError("--reason goes with --override-freeze")
        return None
    return validate_reason(args.reason, "--override-freeze needs --reason; --reason")


def refuse_if_frozen(workdir: Path, env: str, service: str, override_reason: str | None,
                     now: datetime | None = None) -> None:
    """Raise unless `service` may be promoted into `env` at the checked-out head: no freeze or
    window applies, or one does and the promotion overrides it with a reason."""
    if override_reason is not None:
        validate_reason(override_reason, "--override-freeze needs --reason; --reason")
    _, freezes = read_freeze_file(workdir, env)
    active = freezes.active(env, service, now or datetime.now(UTC))
    if active and override_reason is None:
        raise FrozenError(env, service, active, freezes.zone)
    if not active and override_reason is not None:
        raise UsageError(f"{env}/{service} is not frozen ({layout.freeze_file(env)}); drop "
                         "--override-freeze and --reason")


def override_trailers(override_reason: str | None) -> dict[str, str]:
    """The trailers a promotion made with --override-freeze carries (none without it)."""
    if override_reason is None:
        return {}
    return {trailers.OVERRIDE_FREEZE: "true", trailers.REASON: override_reason}


class FrozenError(GitopsError):
    """A freeze or window applies: promotions wait (exit code 15)."""

    exit_code = 15

    def __init__(self, env: str, service: str, active: list[ActiveFreeze], zone: ZoneInfo) -> None:
        self.active = active
        parts = [f"{a.kind} of {a.scope} until {show_time(a.ends_at, zone)}: {a.reason}"
                 + (f" (by {a.by})" if a.by else "") for a in active]
        super().__init__(
            f"{env}/{service} is frozen: {'; '.join(parts)}. Promote after that, or in an "
            f"emergency with --override-freeze --reason \"…\" (recorded in the commit)")


# --- freeze / unfreeze: a commit on the branch ---------------------------------------------------

@dataclass(frozen=True)
class FreezeRequest:
    repo_url: str
    env: str
    service: str | None
    reason: str
    author: Identity              # recorded as who froze
    max_attempts: int             # pushes tried while the branch keeps moving
    until: str | None = None      # freeze: when it ends, as given (parsed in the file's zone)
    branch: str = "main"


@dataclass(frozen=True)
class FreezeResult:
    action: str                   # "freeze" | "unfreeze"
    scope: str                    # "prod" or "prod/api"
    commit: str | None            # None: nothing to change (the same freeze stands, or none to end)
    until: str | None             # freeze: its end, ISO 8601 in the file's time zone
    timezone: str                 # the freeze file's time zone
    services: list[str]           # the services the scope covers (their pipelines, for --pipelines)
    still_frozen: list[str]       # unfreeze: services another freeze still covers
    attempts: int


@dataclass(frozen=True)
class _Change:
    text: str | None              # the new file; None: nothing to commit
    subject: str
    until: datetime | None = None
    still_frozen: tuple[str, ...] = ()


def check_name(flag: str, name: str | None) -> None:
    """An environment or service given on the command line names a directory under envs/."""
    if name is not None and (not _NAME.fullmatch(name) or ".." in name or name.endswith(".lock")):
        raise UsageError(f"{flag} {name!r} is not a plain directory name: use letters, digits, "
                         ". _ - (starting with a letter or digit)")


def _validate(req: FreezeRequest) -> None:
    check_name("--env", req.env)
    check_name("--service", req.service)
    validate_reason(req.reason)
    check_max_attempts(req.max_attempts)


def freeze(req: FreezeRequest, git: GitClient, *, now: datetime | None = None,
           sleep: Callable[[float], None] = time.sleep) -> FreezeResult:
    """Record a freeze of `req.env` (or one service of it) until `req.until`. Freezing a scope that
    is already frozen replaces its end and reason; expired freezes are dropped from the file."""
    _validate(req)
    if req.until is None:
        raise UsageError("--until is required: when does the freeze end?")
    now = now or datetime.now(UTC)
    reason = req.reason.strip()

    def change(text: str | None, current: FreezeFile, services: list[str]) -> _Change:
        until = parse_time(req.until, now=now, zone=current.zone, flag="--until")
        if until <= now:
            raise UsageError(f"--until {req.until!r} is in the past ({show_time(until, current.zone)})")
        same = next((f for f in current.freezes if f.service == req.service and f.until > now), None)
        if same and same.until == until and same.reason == reason:
            return _Change(None, "", until)
        kept = [f for f in current.freezes if f.until > now and f.service != req.service]
        entry = Freeze(req.service, until, reason, str(req.author), same.since if same else now)
        return _Change(render_freezes(text, [*kept, entry], current.zone),
                       f"freeze({_scope(req.env, req.service)}): until {_iso(until, current.zone)}",
                       until)

    return _commit_change(req, git, "freeze", change, sleep)


def unfreeze(req: FreezeRequest, git: GitClient, *, now: datetime | None = None,
             sleep: Callable[[float], None] = time.sleep) -> FreezeResult:
    """End the freeze of exactly this scope (the environment, or one service); windows, and
    freezes of other scopes, stay."""
    _validate(req)
    now = now or datetime.now(UTC)

    def change(text: str | None, current: FreezeFile, services: list[str]) -> _Change:
        kept = [f for f in current.freezes if f.until > now and f.service != req.service]
        still = tuple(s for s in services if any(f.applies(s, now) for f in kept))
        if not any(f.service == req.service and f.until > now for f in current.freezes):
            return _Change(None, "", still_frozen=still)
        return _Change(render_freezes(text, kept, current.zone),
                       f"unfreeze({_scope(req.env, req.service)})", still_frozen=still)

    return _commit_change(req, git, "unfreeze", change, sleep)


def _commit_change(req: FreezeRequest, git: GitClient, action: str,
                   change: Callable[[str | None, FreezeFile, list[str]], _Change],
                   sleep: Callable[[float], None]) -> FreezeResult:
    """Commit the freeze file `change` computes from the head, and push it with `retry_push`: on
    a rejected push, integrate the new head, recompute, push again."""
    path = layout.freeze_file(req.env)
    if not git.valid_branch_name(req.branch):
        raise UsageError(f"--branch {req.branch!r} is not a valid branch name")
    with tempfile.TemporaryDirectory(prefix=f"gitops-{action}-") as tmp:
        workdir = Path(tmp) / "repo"
        git.clone_sparse(req.repo_url, req.branch, workdir, ["/" + path])

        def attempt(number: int) -> FreezeResult | Push[FreezeResult]:
            services = _services(git, workdir, req)
            text, current = read_freeze_file(workdir, req.env)
            computed = change(text, current, services)

            def result(commit: str | None) -> FreezeResult:
                until = _iso(computed.until, current.zone) if computed.until else None
                return FreezeResult(action, _scope(req.env, req.service), commit, until,
                                    current.zone.key, services, list(computed.still_frozen), number)

            if computed.text is None:
                return result(None)
            (workdir / path).parent.mkdir(parents=True, exist_ok=True)
            (workdir / path).write_bytes(computed.text.encode("utf-8"))
            # The first freeze creates the file: `git commit -- <path>` commits tracked files only.
            git.runner.run(["add", "--", path], cwd=workdir)
            values = {trailers.ACTION: action, trailers.ENVIRONMENT: req.env,
                      trailers.SERVICE: req.service, trailers.REASON: req.reason.strip()}
            message = f"{computed.subject}\n\n{req.reason.strip()}\n\n{trailers.render(values)}\n"
            commit = git.commit(workdir, [path], message, req.author)
            return Push(lambda push: result(commit))

        return retry_push(git, workdir, req.branch, attempt, max_attempts=req.max_attempts,
                          rerun="Run it again", sleep=sleep)


def _services(git: GitClient, workdir: Path, req: FreezeRequest) -> list[str]:
    """The services the request covers: the one named, or every service directory of the env."""
    env_dir = layout.env_dir(req.env)
    listing = git.runner.run(["ls-tree", "HEAD", "--", env_dir + "/"], cwd=workdir).stdout
    if not listing:
        raise ValuesError(f"{env_dir} does not exist on the branch; check --env")
    services = sorted(line.partition("\t")[2].rpartition("/")[2] for line in listing.splitlines()
                      if line.split()[1] == "tree")
    if req.service is None:
        return services
    if req.service not in services:
        raise ValuesError(f"{layout.service_dir(req.env, req.service)} does not exist on the branch; "
                          "check --service")
    return [req.service]


# --- The CodePipeline transition switch ---------------------------------------------------------

def pipeline_name(app: str, service: str, env: str) -> str:
    """The pipeline of a service in an environment, as the Pulumi program names it
    (components.naming.Names.pipeline; a test keeps the two in step)."""
    return f"{app}-{service}-{env}"


def transition_reason(env: str, service: str | None, until: datetime, reason: str,
                      zone: ZoneInfo) -> str:
    """What CodePipeline's console shows on the disabled transition: the marker, scope, end and
    reason, in the characters its API accepts (others become spaces: no / or :), at most 300."""
    end = until.astimezone(zone).strftime("%Y-%m-%d %H.%M %Z")
    text = f"{TRANSITION_MARKER} {service or 'every service'} in {env} until {end} - {reason}"
    cleaned = re.sub(r" {2,}", " ", _REASON_CHARS.sub(" ", text)).strip()
    return cleaned[:MAX_TRANSITION_REASON].rstrip()


@dataclass(frozen=True)
class TransitionChange:
    pipeline: str
    outcome: str      # disabled | enabled | already disabled | already enabled | left disabled | failed
    detail: str = ""


def switch_transitions(client: Any, pipelines: list[str], *, enable: bool,
                       reason: str = "") -> list[TransitionChange]:
    """Disable (or enable) the inbound transition of each pipeline's Promote stage, reading its
    state first so the report says what really changed. On enable, a transition someone disabled
    by hand (its reason lacks the marker) stays disabled. Errors are reported per pipeline."""
    from botocore.exceptions import BotoCoreError, ClientError

    changes = []
    for name in pipelines:
        try:
            changes.append(_switch_one(client, name, enable, reason))
        except ClientError as e:
            changes.append(TransitionChange(name, "failed", _client_error(e, name)))
        except BotoCoreError as e:
            changes.append(TransitionChange(name, "failed", f"{e}; check the AWS credentials and "
                                                            "--region"))
    return changes


def _switch_one(client: Any, name: str, enable: bool, reason: str) -> TransitionChange:
    state = client.get_pipeline_state(name=name)
    stage = next((s for s in state.get("stageStates", []) if s.get("stageName") == PROMOTE_STAGE), None)
    if stage is None:
        return TransitionChange(name, "failed", f"has no stage {PROMOTE_STAGE}; nothing changed")
    transition = stage.get("inboundTransitionState", {})
    enabled = transition.get("enabled", True)
    disabled_reason = transition.get("disabledReason", "")
    if enable:
        if enabled:
            return TransitionChange(name, "already enabled")
        if not disabled_reason.startswith(TRANSITION_MARKER):
            return TransitionChange(name, "left disabled",
                                    f"disabled by {transition.get('lastChangedBy', 'someone')} for "
                                    f"{disabled_reason!r}, not by a freeze")
        client.enable_stage_transition(pipelineName=name, stageName=PROMOTE_STAGE,
                                       transitionType="Inbound")
        return TransitionChange(name, "enabled")
    if not enabled:
        return TransitionChange(name, "already disabled", disabled_reason)
    client.disable_stage_transition(pipelineName=name, stageName=PROMOTE_STAGE,
                                    transitionType="Inbound", reason=reason)
    return TransitionChange(name, "disabled", reason)


def _client_error(e: Any, name: str) -> str:
    code = e.response.get("Error", {}).get("Code", "")
    message = e.response.get("Error", {}).get("Message", "")
    if code == "PipelineNotFoundException":
        return f"no such pipeline; check --app and --region ({message})".strip()
    if code == "StageNotFoundException":
        return f"no stage {PROMOTE_STAGE} ({message})"
    if code in THROTTLED:
        return "throttled by CodePipeline after retries; run the command again"
    if code in ("AccessDeniedException", "AccessDenied", "UnrecognizedClientException"):
        return (f"access denied ({message}); the caller needs codepipeline:GetPipelineState, "
                "DisableStageTransition and EnableStageTransition on it")
    return f"{code}: {message}"


# --- The commands -------------------------------------------------------------------------------

def register(subparsers: argparse._SubParsersAction) -> None:
    for action, help_text in (
            ("freeze", "stop promotions into an environment (or one service) until a time"),
            ("unfreeze", "end a freeze recorded by `freeze` (windows stay)")):
        p = subparsers.add_parser(
            action, help=help_text,
            description=f"{help_text[0].upper()}{help_text[1:]}: a commit of "
                        f"{layout.freeze_file('<env>')} with the tool's trailers. See docs/governance.md.")
        p.add_argument("--repo", required=True, help="GitOps repository URL (no credentials in it)")
        p.add_argument("--branch", default="main", help="branch Argo CD follows (default: main)")
        p.add_argument("--env", required=True, help="environment directory under envs/")
        p.add_argument("--service", help="one service only (default: the whole environment)")
        if action == "freeze":
            p.add_argument("--until", required=True,
                           help="end: ISO 8601 (an offset, or none for the file's time zone) or a "
                                "duration such as 8h, 3d, 2w")
        p.add_argument("--reason", required=True, help="why; recorded in the commit and shown by promote")
        p.add_argument("--pipelines", action="store_true",
                       help=f"also {'disable' if action == 'freeze' else 're-enable'} the transition "
                            f"into {PROMOTE_STAGE} of the pipelines concerned (CodePipeline)")
        p.add_argument("--app", help="application name of the pipelines (<app>-<service>-<env>); "
                                     "with --pipelines")
        p.add_argument("--region", help="region of the pipelines (default: $AWS_REGION, else the AWS configuration)")
        add_token_arguments(p)
        add_writer_arguments(p, author_help="commit author, recorded as who froze,")
        p.add_argument("--output", choices=("text", "json"), default="text")
        p.set_defaults(func=run, action=action)


def run(args: argparse.Namespace) -> int:
    req = FreezeRequest(repo_url=args.repo, env=args.env, service=args.service, reason=args.reason,
                        author=promote.parse_author(args.author), max_attempts=args.max_attempts,
                        until=getattr(args, "until", None), branch=args.branch)
    _validate(req)
    if args.pipelines and not args.app:
        raise UsageError("--pipelines needs --app (pipelines are named <app>-<service>-<env>)")
    if not args.pipelines and (args.app or args.region):
        raise UsageError("--app and --region go with --pipelines")
    check_name("--app", args.app)
    token = token_from_args(args)
    git = GitClient(GitRunner(token))
    result = (freeze if args.action == "freeze" else unfreeze)(req, git)
    changes: list[TransitionChange] = []
    if args.pipelines:
        client = codepipeline_client(args.region)
        if result.action == "freeze":
            until = datetime.fromisoformat(result.until)
            reason = transition_reason(req.env, req.service, until, req.reason.strip(),
                                       ZoneInfo(result.timezone))
            changes = switch_transitions(client, [pipeline_name(args.app, s, req.env)
                                                  for s in result.services], enable=False, reason=reason)
        else:
            reopen = [s for s in result.services if s not in result.still_frozen]
            changes = switch_transitions(client, [pipeline_name(args.app, s, req.env) for s in reopen],
                                         enable=True)
    if args.output == "json":
        output.print_json({**asdict(result), "transitions": [asdict(c) for c in changes]})
    else:
        output.print_line(_describe(result, req))
        for change in changes:
            output.print_line(f"  {change.pipeline}: {change.outcome}"
                              + (f" ({change.detail})" if change.detail else ""))
    failed = [c.pipeline for c in changes if c.outcome == "failed"]
    if failed:
        raise GitopsError(f"the transition of {len(failed)} pipeline(s) was not switched: "
                          f"{', '.join(failed)} (see above); the {result.action} itself is recorded")
    return 0


def _describe(result: FreezeResult, req: FreezeRequest) -> str:
    if result.commit is None:
        return (f"no-op: {result.scope} is already frozen until {result.until} for that reason"
                if result.action == "freeze" else f"no-op: {result.scope} has no freeze to end")
    if result.action == "freeze":
        return f"{result.scope} frozen until {result.until}: committed as {result.commit} on {req.branch}"
    still = (f"; still frozen by an environment-wide freeze: {', '.join(result.still_frozen)}"
             if result.still_frozen else "")
    return f"{result.scope} unfrozen: committed as {result.commit} on {req.branch}{still}"
