"""What every command that commits to the GitOps branch shares: the bot author, the push loop
(`retry_push`: compare-and-swap, bounded retries with full-jitter backoff when the branch moved),
and the command-line options for them.

promote, revert/block/unblock and freeze/unfreeze each decide their change on the checked-out head
and commit it; `retry_push` pushes it and, when the branch moved, integrates the new head and asks
them to decide again.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, TypeVar

from gitops.errors import PushConflictError, UsageError
from gitops.clients.git import GitClient, Identity, PushRejected

T = TypeVar("T")

DEFAULT_AUTHOR = Identity("delivery-pipeline[bot]", "delivery-pipeline-bot@noreply.invalid")
DEFAULT_MAX_ATTEMPTS = 10
# Full-jitter backoff between push attempts: uniform(0, min(cap, base * 2**retry)) seconds.
BACKOFF_BASE_S = 0.5
BACKOFF_CAP_S = 10.0


def check_max_attempts(max_attempts: int) -> None:
    if max_attempts < 1:
        raise UsageError("--max-attempts must be at least 1")


def back_off(attempt: int, sleep: Callable[[float], None]) -> None:
    """Wait before push attempt `attempt + 1` (attempt counts from 1)."""
    sleep(random.uniform(0, min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2 ** (attempt - 1))))


def kept_moving(branch: str, attempts: int, rerun: str) -> PushConflictError:
    return PushConflictError(f"{branch} kept moving: the push was rejected {attempts} times; nothing "
                             f"was changed. {rerun}, or raise --max-attempts")


@dataclass(frozen=True)
class Push(Generic[T]):
    """An attempt's answer when it committed a change on the checked-out head: `result(push)`
    is what the command returns once the push is in ("pushed", or "landed" when git's answer was
    lost and the remote shows it)."""
    result: Callable[[str], T]


def retry_push(git: GitClient, workdir: Path, branch: str, attempt: Callable[[int], T | Push[T]],
               *, max_attempts: int, rerun: str, sleep: Callable[[float], None]) -> T:
    """Call `attempt(n)` (n counts from 1) on the checked-out head of `branch`: it returns the
    command's result when there is nothing to push, or a Push after committing its change. The
    push is compare-and-swap on the head the attempt decided on; when it is rejected because the
    branch moved, back off, move to the new head and attempt again, at most `max_attempts` times,
    then raise `kept_moving` (`rerun` says what to run again). Every other git error, and
    PushOutcomeUnknown, goes to the caller as it is."""
    for number in range(1, max_attempts + 1):
        base = git.head(workdir)
        outcome = attempt(number)
        if not isinstance(outcome, Push):
            return outcome
        try:
            return outcome.result(git.push(workdir, branch, expected=base))
        except PushRejected:
            if number == max_attempts:
                break
            back_off(number, sleep)
            git.fetch_and_reset(workdir, branch)
    raise kept_moving(branch, max_attempts, rerun)
