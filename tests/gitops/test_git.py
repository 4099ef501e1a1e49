"""The git runner and verbs against the real smart-HTTP server: auth, scrubbing, redaction,
partial clones, push rejection classes."""

from __future__ import annotations

import base64
import os
import stat
import subprocess
import tempfile

import pytest

from gitops.errors import GitError
from gitops.git import GitClient, GitRunner, Identity, PushRejected

BOT = Identity("bot", "bot@example.invalid")
VALUES = "envs/staging/api/values.yaml"


def _client(token: str | None) -> GitClient:
    return GitClient(GitRunner(token))


def test_server_requires_the_token_and_the_error_says_what_to_do(gitops_repo, tmp_path):
    with pytest.raises(GitError, match="--token-env or --token-secret"):
        _client(None).clone_sparse(gitops_repo.url, "main", tmp_path / "a", ["/" + VALUES])
    with pytest.raises(GitError, match="refused the credentials"):
        _client("wrong").clone_sparse(gitops_repo.url, "main", tmp_path / "b", ["/" + VALUES])
    assert ("GET", "/acme/" + gitops_repo.url.rsplit("/acme/", 1)[1] + "/info/refs", 401) \
        in gitops_repo.server.requests


def test_sparse_clone_is_shallow_and_fetches_only_the_needed_blobs(gitops_repo, tmp_path):
    gitops_repo.commit({VALUES: "image:\n  tag: b\n"}, "second commit")
    work = tmp_path / "w"
    _client(gitops_repo.token).clone_sparse(gitops_repo.url, "main", work, ["/" + VALUES])
    files = sorted(str(p.relative_to(work)) for p in work.rglob("*")
                   if p.is_file() and ".git" not in p.parts)
    assert files == [VALUES]
    assert (work / VALUES).read_text() == "image:\n  tag: b\n"
    objects = subprocess.run(["git", "cat-file", "--batch-all-objects", "--batch-check"], cwd=work,
                             capture_output=True, text=True, check=True).stdout.split("\n")
    assert sum(" blob " in line for line in objects) == 1
    assert subprocess.run(["git", "rev-list", "--count", "HEAD"], cwd=work, capture_output=True,
                          text=True, check=True).stdout.strip() == "1"


def test_token_is_never_in_argv_git_config_or_errors(gitops_repo, tmp_path, monkeypatch):
    token = gitops_repo.token
    basic = base64.b64encode(f"x-access-token:{token}".encode()).decode()
    # A `git` shim first on PATH records the argv of every git process, and GIT_TRACE makes git log
    # the argv of each process it starts itself (remote helpers, upload-pack, index-pack…).
    shim_dir, argv_log, trace_log = tmp_path / "shim", tmp_path / "argv.log", tmp_path / "trace.log"
    shim_dir.mkdir()
    real_git = subprocess.run(["which", "git"], capture_output=True, text=True).stdout.strip()
    shim = shim_dir / "git"
    shim.write_text(f'#!/bin/sh\nprintf "%s\\n" "$*" >> {argv_log}\n'
                    f'GIT_TRACE={trace_log} exec {real_git} "$@"\n')
    shim.chmod(shim.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{shim_dir}{os.pathsep}{os.environ['PATH']}")

    git = _client(token)
    work = tmp_path / "w"
    git.clone_sparse(gitops_repo.url, "main", work, ["/" + VALUES])
    (work / VALUES).write_text("image:\n  tag: c\n")
    git.commit(work, [VALUES], "change", BOT)
    git.push(work, "main")
    git.fetch_and_reset(work, "main")

    assert "git-remote-http" in trace_log.read_text()  # the trace really saw child processes
    logs = {"argv": argv_log.read_text(), "trace": trace_log.read_text()}
    for path in (work / ".git").rglob("*"):
        if path.is_file():
            logs[str(path)] = path.read_bytes().decode("latin-1")
    for name, text in logs.items():
        assert token not in text, name
        assert basic not in text, name


def test_git_errors_are_redacted(tmp_path):
    token = "s3cr3t-token-value"
    basic = base64.b64encode(f"x-access-token:{token}".encode()).decode()
    runner = GitRunner(token)
    subprocess.run(["git", "init", "--quiet", str(tmp_path)], check=True)
    # git echoes the unknown revision, which here holds both forms of the secret.
    with pytest.raises(GitError) as failed:
        runner.run(["show", f"{token}/{basic}"], cwd=tmp_path)
    assert token not in str(failed.value) and basic not in str(failed.value)
    assert "***/***" in str(failed.value)


def test_inherited_git_environment_and_user_config_are_ignored(gitops_repo, tmp_path, monkeypatch):
    home = tmp_path / "home"
    home.mkdir()
    # A developer's config that would send every fetch elsewhere, and a stray GIT_DIR.
    (home / ".gitconfig").write_text(f'[url "http://127.0.0.1:9/nowhere/"]\n'
                                     f'\tinsteadOf = {gitops_repo.server.base_url}/\n')
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("GIT_DIR", str(tmp_path / "not-a-repo"))
    monkeypatch.setenv("GIT_AUTHOR_NAME", "someone else")
    git = _client(gitops_repo.token)
    work = tmp_path / "w"
    git.clone_sparse(gitops_repo.url, "main", work, ["/" + VALUES])
    (work / VALUES).write_text("image:\n  tag: d\n")
    git.commit(work, [VALUES], "change", BOT)
    git.push(work, "main")
    assert gitops_repo.log(fmt="%an")[0] == "bot"


def test_commit_message_file_is_private_and_removed(gitops_repo, tmp_path, monkeypatch):
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    git = _client(gitops_repo.token)
    work = tmp_path / "w"
    git.clone_sparse(gitops_repo.url, "main", work, ["/" + VALUES])
    (work / VALUES).write_text("image:\n  tag: e\n")
    sha = git.commit(work, [VALUES], "subject → arrow\n\nTrailer: x\n", BOT)
    assert list(scratch.iterdir()) == []
    message = subprocess.run(["git", "log", "-1", "--format=%B", sha], cwd=work,
                             capture_output=True, text=True, check=True).stdout
    assert message == "subject → arrow\n\nTrailer: x\n\n"


def test_push_rejections_are_retryable_only_when_the_branch_moved(gitops_repo, tmp_path):
    git = _client(gitops_repo.token)
    work = tmp_path / "w"
    git.clone_sparse(gitops_repo.url, "main", work, ["/" + VALUES])
    gitops_repo.commit({"envs/prod/api/values.yaml": "image:\n  tag: other\n"}, "someone else")
    (work / VALUES).write_text("image:\n  tag: f\n")
    git.commit(work, [VALUES], "change", BOT)
    with pytest.raises(PushRejected, match="fetch first|non-fast-forward"):
        git.push(work, "main")
    # A server-side hook that declines is final, not a race.
    hook = gitops_repo.bare / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho 'protected branch' >&2\nexit 1\n")
    hook.chmod(0o755)
    git.fetch_and_reset(work, "main")
    (work / VALUES).write_text("image:\n  tag: g\n")
    git.commit(work, [VALUES], "change", BOT)
    with pytest.raises(GitError, match="protected branch") as declined:
        git.push(work, "main")
    assert not isinstance(declined.value, PushRejected)


def test_read_remote_file_and_branch_names(gitops_repo, tmp_path):
    git = _client(gitops_repo.token)
    work = tmp_path / "w"
    git.clone_sparse(gitops_repo.url, "main", work, ["/" + VALUES])
    gitops_repo.commit({VALUES: "image:\n  tag: proposed\n"}, "proposal", branch="promote/x")
    modes = git.tree_entry_modes(work, ["envs", "envs/staging", VALUES, "nope"])
    assert (modes["envs"], modes["envs/staging"], modes[VALUES]) == ("040000", "040000", "100644")
    assert "nope" not in modes
    assert git.read_remote_file(work, "promote/x", VALUES) == "image:\n  tag: proposed\n"
    assert git.read_remote_file(work, "promote/x", "missing.yaml") is None
    assert git.read_remote_file(work, "no-such-branch", VALUES) is None
    assert git.valid_branch_name("release/2024.1")
    assert not git.valid_branch_name("bad..name")
    assert not git.valid_branch_name("with space")


def test_server_takes_large_chunked_pushes(gitops_repo, tmp_path):
    """git sends requests over http.postBuffer (1 MiB) chunked; the fixture must decode them."""
    git = _client(gitops_repo.token)
    work = tmp_path / "w"
    git.clone_sparse(gitops_repo.url, "main", work, ["/" + VALUES, "/big.bin"])
    payload = os.urandom(3 * 1024 * 1024)   # incompressible: the pack stays over 1 MiB
    (work / "big.bin").write_bytes(payload)
    subprocess.run(["git", "add", "big.bin"], cwd=work, check=True)
    git.commit(work, ["big.bin"], "large file", BOT)
    git.push(work, "main")
    assert gitops_repo.file("big.bin") == payload
