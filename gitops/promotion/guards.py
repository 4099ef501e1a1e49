"""The checks a promotion passes before anything is written: no freeze or window applies to the
service (or the promotion overrides it, with a reason recorded in the commit); the upstream's proof
is gitops.promotion.proof's (skipped only with a reason, recorded the same way)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from gitops.errors import FrozenError, UsageError
from gitops.governance import trailers
from gitops.governance.freeze_file import read_freeze_file, validate_reason
from gitops.governance.times import show_time
from gitops.repo import layout


def refuse_if_frozen(workdir: Path, env: str, service: str, override_reason: str | None,
                     now: datetime | None = None) -> None:
    """Raise unless `service` may be promoted into `env` at the checked-out head: no freeze or
    window applies, or one does and the promotion overrides it with a reason."""
    if override_reason is not None:
        validate_reason(override_reason, "--override-freeze needs --reason; --reason")
    _, freezes = read_freeze_file(workdir, env)
    active = freezes.active(env, service, now or datetime.now(UTC))
    if active and override_reason is None:
        parts = [f"{a.kind} of {a.scope} until {show_time(a.ends_at, freezes.zone)}: {a.reason}"
                 + (f" (by {a.by})" if a.by else "") for a in active]
        raise FrozenError(f"{env}/{service} is frozen: {'; '.join(parts)}. Promote after that, or in "
                          "an emergency with --override-freeze --reason \"…\" (recorded in the commit)",
                          active)
    if not active and override_reason is not None:
        raise UsageError(f"{env}/{service} is not frozen ({layout.freeze_file(env)}); drop "
                         "--override-freeze and --reason")


def override_trailers(override_reason: str | None) -> dict[str, str]:
    """The trailers a promotion made with --override-freeze carries (none without it)."""
    if override_reason is None:
        return {}
    return {trailers.OVERRIDE_FREEZE: "true", trailers.REASON: override_reason}


def skip_proof_trailers(skip_proof_reason: str | None) -> dict[str, str]:
    """The trailers a promotion made with --skip-proof carries (none without it)."""
    if skip_proof_reason is None:
        return {}
    return {trailers.SKIP_PROOF: "true", trailers.REASON: skip_proof_reason}
