"""`writes.retry_push`, the one push loop of promote, revert/block/unblock and freeze/unfreeze:
compare-and-swap on the head each attempt decided on, backoff and a new head after a rejection,
`kept_moving` after the last attempt, every other failure passed through. (The commands' races
against the real git server are in test_promote_concurrency, test_revert and test_freeze.)"""

from __future__ import annotations

from pathlib import Path

import pytest

from gitops.errors import GitError, PushConflictError, PushOutcomeUnknown
from gitops.clients.git import PushRejected
from gitops.clients.push import BACKOFF_BASE_S, BACKOFF_CAP_S, Push, retry_push

WORKDIR = Path("/nonexistent/repo")


class FakeGit:
    """A branch whose head moves each time a push is refused; pushes answer from `answers`."""

    def __init__(self, *answers: str | Exception) -> None:
        self.answers = list(answers)
        self.heads = 0
        self.pushes: list[tuple[str, str]] = []   # (branch, expected)

    def head(self, workdir: Path) -> str:
        return f"head-{self.heads}"

    def push(self, workdir: Path, branch: str, *, expected: str) -> str:
        self.pushes.append((branch, expected))
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    def fetch_and_reset(self, workdir: Path, branch: str) -> None:
        self.heads += 1


def _commit_each_time(attempts: list[int]):
    def attempt(number: int) -> Push[str]:
        attempts.append(number)
        return Push(lambda push: f"attempt {number}: {push}")
    return attempt


def test_a_rejected_push_is_decided_again_on_the_new_head():
    git, attempts, delays = FakeGit(PushRejected("moved"), PushRejected("moved"), "landed"), [], []
    result = retry_push(git, WORKDIR, "main", _commit_each_time(attempts), max_attempts=5,
                        rerun="Run it again", sleep=delays.append)
    assert result == "attempt 3: landed" and attempts == [1, 2, 3]
    assert git.pushes == [("main", "head-0"), ("main", "head-1"), ("main", "head-2")]
    # Full jitter: the n-th wait is at most base * 2**(n-1), never over the cap.
    assert len(delays) == 2 and all(0 <= d <= min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2 ** i)
                                    for i, d in enumerate(delays))


def test_nothing_to_push_returns_at_once():
    git = FakeGit()
    assert retry_push(git, WORKDIR, "main", lambda number: "no-op", max_attempts=3,
                      rerun="Run it again", sleep=lambda s: None) == "no-op"
    assert git.pushes == []


def test_a_branch_that_keeps_moving_ends_with_exit_5_after_the_last_attempt():
    git, attempts, delays = FakeGit(*[PushRejected("moved")] * 3), [], []
    with pytest.raises(PushConflictError, match="main kept moving: the push was rejected 3 times; "
                                                "nothing was changed. Re-run the promotion, or raise "
                                                "--max-attempts") as caught:
        retry_push(git, WORKDIR, "main", _commit_each_time(attempts), max_attempts=3,
                   rerun="Re-run the promotion", sleep=delays.append)
    assert caught.value.exit_code == 5
    assert attempts == [1, 2, 3] and len(delays) == 2 and git.heads == 2


@pytest.mark.parametrize("failure", [GitError("refused by a hook"),
                                     PushOutcomeUnknown("no answer, and the read-back failed")])
def test_other_push_failures_are_not_retried(failure):
    git, attempts = FakeGit(failure), []
    with pytest.raises(type(failure)) as caught:
        retry_push(git, WORKDIR, "main", _commit_each_time(attempts), max_attempts=5,
                   rerun="Run it again", sleep=lambda s: None)
    assert caught.value is failure and attempts == [1] and git.heads == 0
