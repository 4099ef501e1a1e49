"""The git runner and verbs against the real smart-HTTP server: auth, scrubbing, redaction,
partial clones, push rejection classes."""

from __future__ import annotations

import base64
import os
import stat
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import pytest

from gitops.errors import GitError, PushOutcomeUnknown, UsageError
from gitops.clients.git import _INHERITED_ENV, GitClient, GitRunner, GitTimeout, Identity, PushRejected

BOT = Identity("bot", "bot@example.invalid")
VALUES = "envs/staging/api/values.yaml"


def _client(token: str | None) -> GitClient:
    return GitClient(GitRunner(token))


def _commit_on(git: GitClient, work, tag: str) -> str:
    """Commit a change of VALUES on the checked-out head; return the head it was made on."""
    base = git.head(work)
    (work / VALUES).write_text(f"image:\n  tag: {tag}\n")
    git.commit(work, [VALUES], "change", BOT)
    return base


def test_server_requires_the_token_and_the_error_says_what_to_do(gitops_repo, tmp_path):
    with pytest.raises(GitError, match="none were sent: pass a token with --token-env or "
                                       "--token-secret") as unsent:
        _client(None).clone_sparse(gitops_repo.url, "main", tmp_path / "a", ["/" + VALUES])
    assert "refused the credentials" not in str(unsent.value)
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
    base = _commit_on(git, work, "c")
    git.push(work, "main", expected=base)
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
    base = _commit_on(git, work, "d")
    git.push(work, "main", expected=base)
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
    base = _commit_on(git, work, "f")
    with pytest.raises(PushRejected, match=r"\[rejected\] \(stale info\)"):
        git.push(work, "main", expected=base)
    # A server-side hook that declines is final, not a race, whatever words its message holds.
    hook = gitops_repo.bare / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho 'non-fast-forward pushes are not allowed here; "
                    "fetch first' >&2\nexit 1\n")
    hook.chmod(0o755)
    git.fetch_and_reset(work, "main")
    base = _commit_on(git, work, "g")
    with pytest.raises(GitError, match="pre-receive hook declined") as declined:
        git.push(work, "main", expected=base)
    assert not isinstance(declined.value, PushRejected)
    assert "remote: non-fast-forward pushes are not allowed" in str(declined.value)


def test_a_stale_lock_on_the_server_is_final(gitops_repo, tmp_path):
    """git answers "cannot lock ref" both for a stale lock file and for a lost race; only the
    remote ref tells them apart: unmoved here, so retrying could never help."""
    git = _client(gitops_repo.token)
    work = tmp_path / "w"
    git.clone_sparse(gitops_repo.url, "main", work, ["/" + VALUES])
    (gitops_repo.bare / "refs" / "heads" / "main.lock").write_text("")
    base = _commit_on(git, work, "h")
    with pytest.raises(GitError, match="failed to update ref") as failed:
        git.push(work, "main", expected=base)
    assert not isinstance(failed.value, PushRejected)


def test_pushes_are_compare_and_swap_on_the_value_read(gitops_repo, tmp_path):
    git = _client(gitops_repo.token)
    work = tmp_path / "w"
    git.clone_sparse(gitops_repo.url, "main", work, ["/" + VALUES])
    _commit_on(git, work, "i")
    # The branch did not exist when read ("" lease): created once, refused once it exists.
    assert git.push(work, "promote/x", expected="") == "pushed"
    assert git.push(work, "promote/x", expected="") == "pushed"  # "[up to date]": it holds ours
    _commit_on(git, work, "i2")
    with pytest.raises(PushRejected, match="stale info"):
        git.push(work, "promote/x", expected="")
    proposal = gitops_repo.refs()["refs/heads/promote/x"]
    gitops_repo.commit({VALUES: "image:\n  tag: other\n"}, "another proposal", branch="promote/x")
    _commit_on(git, work, "j")
    with pytest.raises(PushRejected, match="stale info"):  # it moved since we read `proposal`
        git.push(work, "promote/x", expected=proposal)
    moved = gitops_repo.refs()["refs/heads/promote/x"]
    assert git.push(work, "promote/x", expected=moved) == "pushed"   # a forced, leased update
    assert gitops_repo.refs()["refs/heads/promote/x"] == git.head(work)


def test_git_children_get_only_the_environment_they_need(gitops_repo, tmp_path, monkeypatch):
    env_log = tmp_path / "env.log"
    shim_dir = tmp_path / "shim"
    shim_dir.mkdir()
    real_git = subprocess.run(["which", "git"], capture_output=True, text=True).stdout.strip()
    (shim_dir / "git").write_text(f'#!/bin/sh\nenv >> {env_log}\nexec {real_git} "$@"\n')
    (shim_dir / "git").chmod(0o755)
    monkeypatch.setenv("PATH", f"{shim_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "aws-secret-of-the-caller")
    monkeypatch.setenv("GITOPS_TOKEN", gitops_repo.token)
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.invalid:3128")
    _client(gitops_repo.token).clone_sparse(gitops_repo.url, "main", tmp_path / "w", ["/" + VALUES])
    seen = env_log.read_text()
    assert "aws-secret-of-the-caller" not in seen and "GITOPS_TOKEN=" not in seen
    assert gitops_repo.token not in seen     # only its base64 header form, as documented
    assert "HTTPS_PROXY=http://proxy.invalid:3128" in seen   # what the network needs is kept
    names = {line.split("=", 1)[0] for line in seen.splitlines() if "=" in line}
    # The allow-list, git's own settings, and what the shim's shell adds itself.
    assert names <= {*_INHERITED_ENV, "LC_ALL", "GIT_TERMINAL_PROMPT", "GIT_CONFIG_NOSYSTEM",
                     "GIT_CONFIG_GLOBAL", "GIT_CONFIG_COUNT", "GIT_CONFIG_KEY_0",
                     "GIT_CONFIG_VALUE_0", "PWD", "SHLVL", "_", "OLDPWD"}, names


@pytest.mark.parametrize("url", ["http://gitops.example.invalid/acme/gitops.git",
                                 "http://10.0.0.8:8080/acme/gitops.git"])
def test_a_token_never_goes_over_plain_http_except_to_loopback(url, tmp_path):
    with pytest.raises(UsageError, match="plain http://: the token would cross the network"):
        _client("s3cret").clone_sparse(url, "main", tmp_path / "w", ["/" + VALUES])
    assert not (tmp_path / "w").exists()
    for fine in ("http://127.0.0.1:9/x.git", "http://localhost/x.git", "http://[::1]/x.git",
                 "https://gitops.example.invalid/x.git"):
        GitRunner("s3cret").check_remote(fine)
    GitRunner(None).check_remote(url)   # nothing to leak without a token


def test_git_advice_lines_do_not_leak_into_errors(gitops_repo, tmp_path):
    # A local clone: git warns that --depth and --filter are ignored, then fails on the branch.
    with pytest.raises(GitError) as failed:
        _client(None).clone_sparse(str(gitops_repo.bare), "no-such-branch", tmp_path / "w", ["/x"])
    assert "Remote branch no-such-branch not found" in str(failed.value)
    assert "warning" not in str(failed.value) and "--depth is ignored" not in str(failed.value)


# --- push outcome certainty ----------------------------------------------------------------------

def _transport_processes(url: str) -> list[int]:
    """Live processes whose argv holds `url` (git's transport helper names the remote URL)."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if url in cmdline and state != "Z":
            found.append(int(proc.name))
    return found


@pytest.fixture
def stalled_push(gitops_repo, tmp_path):
    """A working copy with a commit to push through a runner that gives up after 2 s, and the
    server's hooks; the stall is released whatever the test does."""
    release = threading.Event()
    git = GitClient(GitRunner(gitops_repo.token, timeout_s=2))
    work = tmp_path / "w"
    git.clone_sparse(gitops_repo.url, "main", work, ["/" + VALUES])
    base = _commit_on(git, work, "stalled")
    yield git, work, base, release
    release.set()


def test_a_stalled_push_is_killed_with_its_helpers_and_read_back_as_not_landed(gitops_repo,
                                                                               stalled_push):
    git, work, base, release = stalled_push

    def stall_then_drop(body: bytes) -> bytes:
        release.wait(timeout=30)
        raise ConnectionAbortedError("the server never took the push")

    gitops_repo.server.on_receive_pack = stall_then_drop
    started = time.monotonic()
    with pytest.raises(GitError, match=r"within 2 s.*does not hold .*not landed, nothing changed"):
        git.push(work, "main", expected=base)
    assert time.monotonic() - started < 20
    assert _transport_processes(gitops_repo.url) == []
    assert gitops_repo.refs()["refs/heads/main"] == base


def test_a_push_whose_answer_is_lost_is_read_back_as_landed(gitops_repo, stalled_push):
    git, work, base, release = stalled_push
    gitops_repo.server.on_reply = lambda request: request.is_push and release.wait(timeout=30)
    assert git.push(work, "main", expected=base) == "landed"
    assert _transport_processes(gitops_repo.url) == []
    assert gitops_repo.refs()["refs/heads/main"] == git.head(work)


def test_a_push_nobody_can_read_back_is_reported_as_unknown(gitops_repo, stalled_push):
    git, work, base, release = stalled_push
    pushing = threading.Event()

    def stall(request) -> None:
        if request.is_push:
            pushing.set()
        if pushing.is_set():   # the push and every request after it hang
            release.wait(timeout=30)

    gitops_repo.server.on_request = stall
    with pytest.raises(PushOutcomeUnknown, match="may or may not have landed") as unknown:
        git.push(work, "main", expected=base)
    assert unknown.value.exit_code == 17
    assert _transport_processes(gitops_repo.url) == []


def test_a_timeout_kills_the_whole_process_group(tmp_path):
    """The runner's own promise, without a server: git's children die with it."""
    shim_dir = tmp_path / "shim"
    shim_dir.mkdir()
    marker = f"gitops-timeout-{os.getpid()}-{time.monotonic_ns()}"
    (shim_dir / "git").write_text(f"#!/bin/sh\nsh -c 'sleep 30; : {marker}' &\nsleep 30\n")
    (shim_dir / "git").chmod(0o755)
    runner = GitRunner(None, timeout_s=1)
    runner._env["PATH"] = f"{shim_dir}{os.pathsep}{runner._env['PATH']}"
    with pytest.raises(GitTimeout, match="within 1 s"):
        runner.run(["fetch"])
    assert _transport_processes(marker) == []


def test_read_remote_file_and_branch_names(gitops_repo, tmp_path):
    git = _client(gitops_repo.token)
    work = tmp_path / "w"
    git.clone_sparse(gitops_repo.url, "main", work, ["/" + VALUES])
    gitops_repo.commit({VALUES: "image:\n  tag: before\n"}, "root", branch="promote/x")
    gitops_repo.commit({VALUES: "image:\n  tag: proposed\n"}, "proposal", branch="promote/x")
    modes = git.tree_entry_modes(work, ["envs", "envs/staging", VALUES, "nope"])
    assert (modes["envs"], modes["envs/staging"], modes[VALUES]) == ("040000", "040000", "100644")
    assert "nope" not in modes
    proposal = git.read_remote_commit(work, "promote/x", VALUES)
    assert proposal.sha == gitops_repo.refs()["refs/heads/promote/x"]
    assert (proposal.message, proposal.text, proposal.parent_text) == (
        "proposal\n\n", "image:\n  tag: proposed\n", "image:\n  tag: before\n")
    assert git.read_remote_commit(work, "promote/x", "missing.yaml").text is None
    assert git.read_remote_commit(work, "no-such-branch", VALUES) is None
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
    base = git.head(work)
    git.commit(work, ["big.bin"], "large file", BOT)
    git.push(work, "main", expected=base)
    assert gitops_repo.file("big.bin") == payload


def test_without_git_on_path_the_runner_says_so_in_one_line(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(GitError, match="git was not found on PATH: install git"):
        GitRunner().run(["--version"])
