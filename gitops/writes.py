"""What every command that commits to the GitOps branch shares: the bot author, bounded retries
with full-jitter backoff when the branch moved, and the command-line options for them.

promote, revert/block/unblock and freeze/unfreeze each re-read the branch and re-apply their change
after a rejected (compare-and-swap) push; the loop bodies differ, the discipline is this one.
"""

from __future__ import annotations

import argparse
import random
from collections.abc import Callable

from gitops.errors import PushConflictError, UsageError
from gitops.git import Identity

DEFAULT_AUTHOR = Identity("delivery-pipeline[bot]", "delivery-pipeline-bot@noreply.invalid")
DEFAULT_MAX_ATTEMPTS = 10
# Full-jitter backoff between push attempts: uniform(0, min(cap, base * 2**retry)) seconds.
BACKOFF_BASE_S = 0.5
BACKOFF_CAP_S = 10.0


def add_writer_arguments(parser: argparse.ArgumentParser, *, author_help: str = "commit author") -> None:
    parser.add_argument("--author", default=str(DEFAULT_AUTHOR),
                        help=f'{author_help} "Name <email>" (default: {DEFAULT_AUTHOR})')
    parser.add_argument("--max-attempts", type=int, default=DEFAULT_MAX_ATTEMPTS,
                        help=f"pushes tried while the branch keeps moving (default: {DEFAULT_MAX_ATTEMPTS})")


def check_max_attempts(max_attempts: int) -> None:
    if max_attempts < 1:
        raise UsageError("--max-attempts must be at least 1")


def back_off(attempt: int, sleep: Callable[[float], None]) -> None:
    """Wait before push attempt `attempt + 1` (attempt counts from 1)."""
    sleep(random.uniform(0, min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2 ** (attempt - 1))))


def kept_moving(branch: str, attempts: int, rerun: str) -> PushConflictError:
    return PushConflictError(f"{branch} kept moving: the push was rejected {attempts} times; nothing "
                             f"was changed. {rerun}, or raise --max-attempts")
