"""Two pull-request promotions of one service racing: run A is slowed on the wire at each of its
requests in turn (git server and GitHub API alike, held before the server handles the request or
after it took effect but before A hears back) while run B runs from start to end. In every
interleaving the pull request describes exactly what the proposal branch holds, the branch holds
the proposal of a run that reported success, and a run whose proposal was replaced before it
looked last says so (exit 16) instead of reporting success."""

from __future__ import annotations

import copy
import subprocess
import threading

import pytest

from gitops.governance import trailers
from gitops.errors import ProposalRaceLost
from gitops.clients.git import GitClient, GitRunner
from gitops.promotion.promote import PromoteRequest, PromoteResult, promote
from gitops.repo.values import parse_image
from tests.gitops.conftest import DIGEST_A, DIGEST_B
from sandbox.github_api import FakeGitHub

PROD_API = "envs/prod/api/values.yaml"
BRANCH = "refs/heads/promote/prod/api"
DIGEST_C = "sha256:" + "c" * 64
TOKEN_B = "gitops-test-run-b-token"


class Wire:
    """Holds run A's `index`-th request (counted over both servers) at `phase` ("before": before
    the server handles it, "after": once it took effect, before A hears back)."""

    def __init__(self, token: str, index: int, phase: str) -> None:
        self.token, self.index, self.phase = token, index, phase
        self.seen = 0
        self.held, self.release = threading.Event(), threading.Event()
        self._current = threading.local()   # the index of the request a handler thread serves

    def request(self, token: str) -> None:
        if token != self.token:
            return
        self._current.index = self.seen
        self.seen += 1
        if self.phase == "before":
            self._hold_if(self._current.index)

    def reply(self, token: str) -> None:
        if token == self.token and self.phase == "after":
            self._hold_if(getattr(self._current, "index", None))

    def _hold_if(self, index: int | None) -> None:
        if index == self.index:
            self.held.set()
            self.release.wait(timeout=60)


@pytest.fixture
def race(gitops_repo):
    """The repository, a fake GitHub knowing it, and a second token for run B on both."""
    gitops_repo.server.add_token(TOKEN_B)
    with FakeGitHub(token=gitops_repo.token, lifetime_s=900) as github:
        github.add_token(TOKEN_B)
        fake_repo = github.add_repo(gitops_repo.url.split("/", 3)[3].removesuffix(".git"))
        yield gitops_repo, github, fake_repo


def _run(repo, github, token: str, tag: str, digest: str, execution: str
         ) -> PromoteResult | ProposalRaceLost:
    request = PromoteRequest(repo_url=repo.url, env="prod", service="api", tag=tag, digest=digest,
                             mode="pull-request", github_api_url=github.api_url,
                             execution_id=execution, source_commit=execution.encode().hex()[:12])
    try:
        return promote(request, GitClient(GitRunner(token)), token=token)
    except Exception as failed:   # the test asserts which errors are acceptable
        return failed


def _assert_pull_request_is_the_branch(repo, fake_repo) -> str:
    (pr,) = fake_repo.open_pulls()
    tip = repo.refs()[BRANCH]
    image = parse_image(repo.file(PROD_API, tip).decode(), PROD_API)
    block = trailers.parse_block(pr.body)
    assert block is not None, pr.body
    assert (block[trailers.PROPOSAL_COMMIT], block[trailers.TAG], block[trailers.DIGEST]) == \
        (tip, image.tag, image.digest)
    assert pr.title == f"promote(prod/api): 1.0.0 → {image.tag}"
    assert f'+  tag: "{image.tag}"  # set by the pipeline' in pr.body
    assert f"| Proposal commit | `{tip}` |" in pr.body
    return tip


def _git(repo, *args: str) -> None:
    subprocess.run(["git", "--git-dir", str(repo.bare), *args], check=True)


def _interleave(race, phase: str, start_from_a_proposal: bool) -> int:
    """Every interleaving of B inside a gap of A; returns how many were run."""
    gitops_repo, github, fake_repo = race
    repo = gitops_repo
    start: tuple[str, dict] | None = None   # the earlier proposal: its sha and pull requests
    if start_from_a_proposal:
        earlier = _run(repo, github, repo.token, "1.5.0", DIGEST_C, "exec-earlier")
        assert isinstance(earlier, PromoteResult) and earlier.action == "opened"
        start = (repo.refs()[BRANCH], copy.deepcopy(fake_repo.pulls))
    cases = 0
    while True:
        # The same starting point for each case: the branch and the pull requests as they were.
        fake_repo.pulls.clear()
        if start is None:
            if BRANCH in repo.refs():
                _git(repo, "update-ref", "-d", BRANCH)
        else:
            _git(repo, "update-ref", BRANCH, start[0])
            fake_repo.pulls.update(copy.deepcopy(start[1]))
        wire = Wire(repo.token, cases, phase)
        repo.server.on_request = lambda request: wire.request(request.token)
        repo.server.on_reply = lambda request: wire.reply(request.token)
        github.on_request = lambda method, path, token: wire.request(token)
        github.on_reply = lambda method, path, token: wire.reply(token)
        outcome: dict[str, object] = {}
        run_a = threading.Thread(target=lambda: outcome.update(
            a=_run(repo, github, repo.token, "2.1.0", DIGEST_A, "exec-a")))
        run_a.start()
        while not wire.held.wait(timeout=0.05) and run_a.is_alive():
            pass
        interleaved = wire.held.is_set()
        if interleaved:
            outcome["b"] = _run(repo, github, TOKEN_B, "2.2.0", DIGEST_B, "exec-b")
        wire.release.set()
        run_a.join(timeout=120)
        repo.server.on_request = repo.server.on_reply = github.on_request = github.on_reply = None
        assert not run_a.is_alive()
        tip = _assert_pull_request_is_the_branch(repo, fake_repo)
        a, b = outcome["a"], outcome.get("b")
        for result in (a, b):
            assert isinstance(result, (PromoteResult, ProposalRaceLost, type(None))), \
                (phase, cases, result)
        # The branch holds the proposal of a run that reported success. A run can report
        # success and still be replaced later (B ran whole after A's last read of the branch,
        # inside the gap before A heard the answer): its proposal was on the branch when it
        # looked, as in a run that finished before the other started. A run that lost names
        # the branch.
        succeeded = [r for r in (a, b) if isinstance(r, PromoteResult)]
        assert tip in {r.revision for r in succeeded}, (phase, cases, a, b)
        for result in (a, b):
            if isinstance(result, ProposalRaceLost):
                assert "promote/prod/api" in str(result) and tip in str(result)
        if not interleaved:
            return cases
        cases += 1


# A held before each request sees B's effects; held after it, A acts on what it read or did
# before B ran. From an open proposal only the second is run: the first adds no new shape (A then
# simply runs after B) and costs a minute.
@pytest.mark.parametrize(("phase", "start_from_a_proposal"),
                         [("before", False), ("after", False), ("after", True)],
                         ids=["before-new", "after-new", "after-existing"])
def test_the_pull_request_describes_the_branch_in_every_interleaving(race, phase,
                                                                     start_from_a_proposal):
    cases = _interleave(race, phase, start_from_a_proposal)
    assert cases >= 15   # A's requests over both servers: clone, read, push, read back, PR
