"""A promotion that dies at any step leaves the remote as it was or fully updated, never half."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from gitops.errors import GitError
from gitops.clients.git import GitClient, GitRunner
from gitops.promotion.promote import PromoteRequest, promote
from tests.gitops.conftest import DIGEST_A, values_yaml

VALUES = "envs/staging/api/values.yaml"
ORIGINAL = values_yaml("api", "1.0.0", DIGEST_A).encode()
PROMOTED = values_yaml("api", "7.0.0", "").encode()
WORKTREE = Path(__file__).resolve().parents[3]


class _Killed(BaseException):
    """Stands in for the process dying: not an Exception, so no handler in promote catches it."""


class _DyingClient(GitClient):
    def __init__(self, token: str, step: str) -> None:
        super().__init__(GitRunner(token))
        self.step = step

    def clone_sparse(self, url, branch, dest, patterns):
        super().clone_sparse(url, branch, dest, patterns)
        if self.step == "after clone":
            raise _Killed

    def commit(self, workdir, paths, message, author):
        if self.step == "after edit":
            assert (workdir / VALUES).read_bytes() == PROMOTED   # the edit is on disk
            raise _Killed
        sha = super().commit(workdir, paths, message, author)
        if self.step == "after commit":
            raise _Killed
        return sha


def _fsck(repo) -> None:
    subprocess.run(["git", "--git-dir", str(repo.bare), "fsck", "--strict", "--no-progress"],
                   check=True, capture_output=True)


@pytest.mark.parametrize("step", ["after clone", "after edit", "after commit"])
def test_dying_before_the_push_leaves_the_remote_as_it_was(gitops_repo, step, tmp_path,
                                                           monkeypatch):
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    refs = gitops_repo.refs()
    request = PromoteRequest(repo_url=gitops_repo.url, env="staging", service="api", tag="7.0.0")
    with pytest.raises(_Killed):
        promote(request, _DyingClient(gitops_repo.token, step))
    assert gitops_repo.refs() == refs
    assert gitops_repo.file(VALUES) == ORIGINAL
    assert list(scratch.iterdir()) == []          # clone and message file cleaned up
    _fsck(gitops_repo)
    # The next run starts from scratch and lands.
    assert promote(request, GitClient(GitRunner(gitops_repo.token))).commit
    assert gitops_repo.file(VALUES) == PROMOTED


def test_connection_cut_mid_push_leaves_the_remote_as_it_was(gitops_repo):
    refs = gitops_repo.refs()
    gitops_repo.server.on_receive_pack = lambda body: body[: len(body) // 2]
    request = PromoteRequest(repo_url=gitops_repo.url, env="staging", service="api", tag="7.0.0")
    with pytest.raises(GitError, match="git push failed"):
        promote(request, GitClient(GitRunner(gitops_repo.token)), sleep=lambda s: None)
    assert gitops_repo.refs() == refs
    _fsck(gitops_repo)


def test_sigkill_mid_push_leaves_the_remote_as_it_was_or_fully_updated(gitops_repo, token_env):
    """The CLI process is SIGKILLed while the server holds its push request."""
    main_before = gitops_repo.refs()["refs/heads/main"]
    in_push, release = threading.Event(), threading.Event()

    def hold(body: bytes) -> bytes:
        in_push.set()
        release.wait(timeout=30)
        return body

    gitops_repo.server.on_receive_pack = hold
    proc = subprocess.Popen(
        [sys.executable, "-m", "gitops", "promote", "--repo", gitops_repo.url, "--token-env",
         token_env, "--env", "staging", "--service", "api", "--tag", "7.0.0"],
        cwd=WORKTREE, env=os.environ.copy(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert in_push.wait(timeout=60), proc.communicate(timeout=5)
        proc.kill()
        proc.wait(timeout=10)
    finally:
        release.set()
    deadline = time.monotonic() + 20
    push_path = urlsplit(gitops_repo.url).path + "/git-receive-pack"
    while ("POST", push_path) not in {(m, p) for m, p, _ in gitops_repo.server.requests}:
        assert time.monotonic() < deadline, "the held push never finished on the server"
        time.sleep(0.05)

    main_after = gitops_repo.refs()["refs/heads/main"]
    _fsck(gitops_repo)
    if main_after == main_before:
        assert gitops_repo.file(VALUES) == ORIGINAL
    else:  # fully landed: exactly our one commit, complete file
        assert gitops_repo.log(fmt="%H %P")[0] == f"{main_after} {main_before}"
        assert gitops_repo.file(VALUES) == PROMOTED
