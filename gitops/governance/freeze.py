"""Freeze and unfreeze: stop promotions into an environment (or one service), in the GitOps repository.

A freeze is an entry of the environment's freeze file (gitops.governance.freeze_file, which also
describes its windows), added and removed by commits carrying the tool's trailers, so it is
reviewed, audited and visible in `gitops history` like any promotion.

`promote` (and so every pipeline's Promote step) reads the file at the head it edits and refuses
while a freeze or window applies, naming each with its reason and end; `--override-freeze
--reason "…"` promotes anyway and records `Override-Freeze: true` and the reason in the commit.

`--pipelines` also disables (unfreeze: re-enables) the inbound transition of each frozen
pipeline's Promote stage, so executions wait before Promote while source, build and tests keep
running. Windows and the end of a freeze are enforced by promote only: nothing re-enables a
transition on its own, `unfreeze --pipelines` does.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from gitops.clients.git import GitClient, Identity
from gitops.clients.push import Push, check_max_attempts, retry_push
from gitops.errors import UsageError, ValuesError
from gitops.governance import trailers
from gitops.governance.freeze_file import (Freeze, FreezeFile, iso_time, read_freeze_file,
                                           render_freezes, scope_name, validate_reason)
from gitops.governance.times import parse_time, show_time
from gitops.repo import inventory, layout
from gitops.repo.layout import check_name


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
    still_frozen_by: list[str]    # unfreeze: the scopes of the freezes that cover them
    attempts: int


@dataclass(frozen=True)
class _Change:
    text: str | None              # the new file; None: nothing to commit
    subject: str
    until: datetime | None = None
    still_frozen: tuple[str, ...] = ()
    still_frozen_by: tuple[str, ...] = ()


def validate_request(req: FreezeRequest) -> None:
    check_name("--env", req.env)
    check_name("--service", req.service)
    validate_reason(req.reason)
    check_max_attempts(req.max_attempts)


def freeze(req: FreezeRequest, git: GitClient, *, now: datetime | None = None,
           sleep: Callable[[float], None] = time.sleep) -> FreezeResult:
    """Record a freeze of `req.env` (or one service of it) until `req.until`. Freezing a scope that
    is already frozen replaces its end and reason; expired freezes are dropped from the file."""
    validate_request(req)
    if req.until is None:
        raise UsageError("--until is required: when does the freeze end?")
    now = now or datetime.now(UTC)
    reason = req.reason.strip()

    def change(text: str | None, current: FreezeFile, services: list[str]) -> _Change:
        until = parse_time(req.until, now=now, zone=current.zone, flag="--until")
        if until <= now:
            raise UsageError(f"--until {req.until!r} is in the past ({show_time(until, current.zone)})")
        same = next((f for f in current.freezes if f.service == req.service and f.until > now), None)
        # The file keeps whole seconds: the same freeze again within a second is the same end.
        until = until.replace(microsecond=0)
        if same and same.until == until and same.reason == reason:
            return _Change(None, "", until)
        kept = [f for f in current.freezes if f.until > now and f.service != req.service]
        entry = Freeze(req.service, until, reason, str(req.author), same.since if same else now)
        return _Change(render_freezes(text, [*kept, entry], current.zone),
                       f"freeze({scope_name(req.env, req.service)}): until {iso_time(until, current.zone)}",
                       until)

    return _commit_change(req, git, "freeze", change, sleep)


def unfreeze(req: FreezeRequest, git: GitClient, *, now: datetime | None = None,
             sleep: Callable[[float], None] = time.sleep) -> FreezeResult:
    """End the freeze of exactly this scope (the environment, or one service); windows, and
    freezes of other scopes, stay."""
    validate_request(req)
    now = now or datetime.now(UTC)

    def change(text: str | None, current: FreezeFile, services: list[str]) -> _Change:
        kept = [f for f in current.freezes if f.until > now and f.service != req.service]
        still = tuple(s for s in services if any(f.applies(s, now) for f in kept))
        by = tuple(sorted({scope_name(req.env, f.service) for f in kept
                           if any(f.applies(s, now) for s in still)}))
        if not any(f.service == req.service and f.until > now for f in current.freezes):
            return _Change(None, "", still_frozen=still, still_frozen_by=by)
        return _Change(render_freezes(text, kept, current.zone),
                       f"unfreeze({scope_name(req.env, req.service)})", still_frozen=still,
                       still_frozen_by=by)

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
                until = iso_time(computed.until, current.zone) if computed.until else None
                return FreezeResult(action, scope_name(req.env, req.service), commit, until,
                                    current.zone.key, services, list(computed.still_frozen),
                                    list(computed.still_frozen_by), number)

            # Nothing to commit, also when the change renders the file as it is (git would refuse
            # an empty commit).
            if computed.text is None or computed.text == text:
                return result(None)
            (workdir / path).parent.mkdir(parents=True, exist_ok=True)
            (workdir / path).write_bytes(computed.text.encode("utf-8"))
            # The first freeze creates the file: `git commit -- <path>` commits tracked files only.
            git.add(workdir, [path])
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
    services = git.subdirectories(workdir, env_dir)
    if services is None:
        raise ValuesError(f"{inventory.missing(git, workdir, env_dir, req.branch)}; check --env")
    if req.service is None:
        return services
    if req.service not in services:
        service_dir = layout.service_dir(req.env, req.service)
        raise ValuesError(f"{inventory.missing(git, workdir, service_dir, req.branch)}; check --service")
    return [req.service]
