"""Git through the git CLI, in two layers: a subprocess runner and thin verbs.

The runner starts git with an argv list in an environment built from an allow-list (the path,
home, temporary directory, proxy and CA settings, the SSH agent) plus the git settings it needs,
without the user's and system's git config, so neither a developer's setup, a CI image nor the
secrets of the calling process (AWS keys, the token's own variable) reach git or its transport
helpers. The forge token reaches git only through the environment (`GIT_CONFIG_*` →
`http.extraHeader`), never argv, a remote URL or `.git/config`, and never over plain http:// to
a host other than loopback. Every git process runs in its own process group: on a timeout (or
when the caller is interrupted) the whole group is killed, transport helpers included, so nothing
keeps pushing after the CLI has given up. Every error message is redacted before it leaves this
module, and git's advice lines (`warning:`, `hint:`) are left out of it.

The verbs are what the use cases (promote, status) need, one git operation each; tests inject a
`GitClient` wrapped around a real runner to step in between them. A push reads git's
machine-readable status (`push --porcelain`), never its prose, and after any doubt (a timeout, a
lost reply) reads the remote ref before saying whether the push landed.
"""

from __future__ import annotations

import base64
import contextlib
import ipaddress
import os
import re
import signal
import subprocess
import tempfile
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from gitops.clients.credentials import redact
from gitops.errors import GitError, GitopsError, PushOutcomeUnknown, UsageError

# What git and its transport helpers may inherit from the caller's environment; nothing else.
_INHERITED_ENV = ("PATH", "HOME", "TMPDIR", "SSL_CERT_FILE", "SSL_CERT_DIR", "CURL_CA_BUNDLE",
                  "SSH_AUTH_SOCK", "http_proxy", "https_proxy", "no_proxy", "all_proxy",
                  "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY")

_AUTH_FAILURES = ("could not read Username", "Authentication failed", "returned error: 401",
                  "returned error: 403")

# `git push --porcelain` rejections that mean "the branch moved while you worked" (the lease or
# the fast-forward check failed): integrate the new head and push again. "[remote rejected]"
# answers carry the server's reason; "failed to update ref" is both a server-side race and a
# stale lock, told apart by reading the remote ref (see GitClient.push).
_MOVED = ("non-fast-forward", "fetch first", "stale info", "remote ref updated since checkout")
_REMOTE_MOVED = ("incorrect old value provided",)
_REMOTE_UPDATE_FAILED = "failed to update ref"
_STATUS = re.compile(r"^(?P<flag>[ +\-*=!])\t(?P<src>[^\t]*):(?P<dst>[^\t]+)\t(?P<summary>\[[^\]]+\]|\S+)"
                     r"(?: \((?P<reason>.*)\))?$")


class PushRejected(GitError):
    """The remote refused the push because the branch moved; integrate its new head and retry."""


class GitTimeout(GitError):
    """git did not finish in time; its whole process group was killed."""


# A commit's object name or an abbreviation of it, as the tools write it: lowercase hex, 7
# characters (git's shortest abbreviation) up to 64 (a SHA-256 repository's full name).
COMMIT_SHA = re.compile(r"[0-9a-f]{7,64}")


def is_commit_sha(text: str) -> bool:
    return COMMIT_SHA.fullmatch(text) is not None


def check_commit_sha(flag: str, text: str | None) -> None:
    """A commit given with `flag` is a commit sha (not a branch, tag or other revision)."""
    if text is not None and not is_commit_sha(text):
        raise UsageError(f"{flag} {text!r} is not a commit sha (7 to 64 lowercase hex digits)")


@dataclass(frozen=True)
class Identity:
    name: str
    email: str

    def __str__(self) -> str:
        return f"{self.name} <{self.email}>"


class GitRunner:
    """Runs `git` with argv lists in a minimal environment carrying the token, if any."""

    def __init__(self, token: str | None = None, *, timeout_s: float = 300.0) -> None:
        self._token = token
        self.timeout_s = timeout_s
        self._env = self._minimal_env(token)

    @staticmethod
    def _minimal_env(token: str | None) -> dict[str, str]:
        env = {name: os.environ[name] for name in _INHERITED_ENV if name in os.environ}
        env.update({
            "GIT_TERMINAL_PROMPT": "0",       # fail, never wait for a password on a terminal
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_CONFIG_GLOBAL": os.devnull,  # no credential helpers or URL rewrites from ~
            "LC_ALL": "C",                    # messages in one language, for people and tests
        })
        if token:
            basic = base64.b64encode(f"x-access-token:{token}".encode()).decode()
            env.update({
                "GIT_CONFIG_COUNT": "1",
                "GIT_CONFIG_KEY_0": "http.extraHeader",
                "GIT_CONFIG_VALUE_0": f"Authorization: Basic {basic}",
            })
        return env

    def redact(self, text: str) -> str:
        return redact(text, self._token)

    def check_remote(self, url: str) -> None:
        """Refuse credentials in the URL, and to send the token unencrypted: plain http:// only to
        a loopback host."""
        refuse_credentials(url)
        parts = urllib.parse.urlsplit(url)
        if not self._token or parts.scheme != "http":
            return
        host = parts.hostname or ""
        try:
            loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = False
        if not loopback:
            raise UsageError(f"{_without_userinfo(url)} is plain http://: the token would cross the "
                             "network unencrypted; use the https:// URL (http:// is accepted only "
                             "for a loopback host)")

    def run(self, args: list[str], *, cwd: Path | None = None, env: dict[str, str] | None = None,
            check: bool = True, errors: str = "strict") -> subprocess.CompletedProcess[str]:
        """Run `git <args>`; raise GitError (redacted) when git fails (with `check`) or hangs.

        stdout is decoded as UTF-8 with `errors`: "strict" (a file's content must be UTF-8; the
        caller says which file was not) or "replace" (commit messages, authors and paths, which
        git stores as bytes: one that is not UTF-8 is shown with U+FFFD, never a traceback)."""
        argv = ["git", *args]
        # A session of its own: the process group holds git and every helper it starts.
        try:
            proc = subprocess.Popen(argv, cwd=cwd, env={**self._env, **(env or {})},
                                    stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, start_new_session=True)
        except FileNotFoundError:
            raise GitError("git was not found on PATH: install git or put it on PATH, "
                           "then run the command again") from None
        try:
            raw_stdout, raw_stderr = proc.communicate(timeout=self.timeout_s)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            raise GitTimeout(f"git {args[0]} did not finish within {self.timeout_s:g} s and was "
                             "stopped; check that the repository URL is reachable") from None
        except BaseException:
            _kill_group(proc)
            raise
        # Only a successful run's output is content; a failure's is read for its messages.
        stdout = raw_stdout.decode("utf-8", errors if proc.returncode == 0 else "replace")
        done = subprocess.CompletedProcess(argv, proc.returncode, stdout,
                                           raw_stderr.decode("utf-8", "replace"))
        if check and done.returncode != 0:
            raise GitError(self.failure(args, done))
        return done

    def failure(self, args: list[str], done: subprocess.CompletedProcess[str]) -> str:
        """The one-line-per-problem message of a failed git run: git's errors without its advice,
        redacted, with what to do about credentials when the remote refused them."""
        lines = [line for line in self.redact(done.stderr).strip().splitlines()
                 if not line.startswith(("warning: ", "hint: "))]
        message = "\n".join(line.rstrip() for line in lines) or "no message"
        if any(marker in message for marker in _AUTH_FAILURES):
            if self._token:
                message += ("; the remote refused the credentials: pass a token allowed to "
                            "access it with --token-env or --token-secret")
            else:
                message += ("; the remote asked for credentials and none were sent: pass a token "
                            "with --token-env or --token-secret")
        return f"git {args[0]} failed (exit {done.returncode}): {message}"


def _kill_group(proc: subprocess.Popen[str]) -> None:
    """Kill git and every process it started, then reap git (its pipes close with the group)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate()


def refuse_credentials(url: str) -> None:
    """One rule for every command, before anything connects: a repository URL carries no
    credentials (git would send them, and they would reach logs). A password in it, or any user on
    http(s):// (where the user part of a URL is a token), is refused; `ssh://git@host/…` and
    `git@host:owner/repo` name the SSH user, not a credential."""
    parts = urllib.parse.urlsplit(url.strip())
    userinfo, at, _ = parts.netloc.rpartition("@") if "://" in url else ("", "", "")
    if at and (":" in userinfo or parts.scheme.lower() in ("http", "https")):
        raise UsageError("the repository URL holds credentials; drop them from the URL and pass the "
                         "token with --token-env or --token-secret")


def _without_userinfo(url: str) -> str:
    return re.sub(r"^([a-z][a-z0-9+.-]*://)[^/@]*@", r"\1", url)


@contextlib.contextmanager
def errors_name_repository_paths(root: Path) -> Iterator[None]:
    """Inside, a GitopsError whose message names a path under the temporary clone `root` names
    the repository path instead (`envs/prod/api/values.yaml`, not `/tmp/…/repo/envs/…`)."""
    try:
        yield
    except GitopsError as e:
        message = str(e)
        for form in {str(root), str(root.resolve())}:
            message = message.replace(form + os.sep, "").replace(form, "the repository")
        e.args = (message,)
        raise


@dataclass(frozen=True)
class RemoteCommit:
    """A branch tip as the remote holds it, with what the tool reads from it."""

    sha: str
    message: str
    text: str | None          # the file asked for at this commit (None: absent)
    parent_text: str | None   # the same file at its first parent (None: absent, or no parent)


class GitClient:
    """The git verbs of the use cases; each is one git operation in a working copy."""

    def __init__(self, runner: GitRunner) -> None:
        self.runner = runner

    def valid_branch_name(self, name: str) -> bool:
        try:
            self.runner.run(["check-ref-format", f"refs/heads/{name}"])
        except GitError:
            return False
        return True

    def clone_sparse(self, url: str, branch: str, dest: Path, patterns: list[str]) -> None:
        """Clone only the tip of `branch`, with no blobs but those matching the sparse `patterns`
        (gitignore-style, anchored at the root), so cost grows with neither history nor size."""
        self.runner.check_remote(url)
        self.runner.run(["clone", "--quiet", "--filter=blob:none", "--depth", "1", "--sparse",
                         "--no-checkout", "--single-branch", "--branch", branch, "--", url,
                         str(dest)])
        self.set_sparse(dest, patterns)
        # Fetches and writes just the blobs matching the patterns (the clone checked out nothing).
        self.runner.run(["checkout", "--quiet", branch], cwd=dest)

    def set_sparse(self, workdir: Path, patterns: list[str]) -> None:
        self.runner.run(["sparse-checkout", "set", "--no-cone", "--", *patterns], cwd=workdir)

    def head(self, workdir: Path) -> str:
        return self.runner.run(["rev-parse", "HEAD"], cwd=workdir).stdout.strip()

    def tree_entry_modes(self, workdir: Path, paths: list[str]) -> dict[str, str]:
        """Mode in HEAD's tree of each of `paths` that exists ("100644", "040000", "120000" for a
        symlink, …). Reads trees only, which a blobless clone has."""
        out = self.runner.run(["ls-tree", "-t", "HEAD", "--", *paths], cwd=workdir).stdout
        modes = {}
        for line in out.splitlines():
            meta, _, name = line.partition("\t")
            modes[name] = meta.split()[0]
        return modes

    def subdirectories(self, workdir: Path, path: str) -> list[str] | None:
        """Names of the directories directly under `path` in HEAD's tree, sorted; None when HEAD
        has nothing under `path`. Reads trees only."""
        out = self.runner.run(["ls-tree", "HEAD", "--", path + "/"], cwd=workdir).stdout
        if not out:
            return None
        return sorted(line.partition("\t")[2].rpartition("/")[2] for line in out.splitlines()
                      if line.split()[1] == "tree")

    def add(self, workdir: Path, paths: list[str]) -> None:
        """Stage new files (`commit` commits only paths git already tracks or has staged)."""
        self.runner.run(["add", "--", *paths], cwd=workdir)

    def commit(self, workdir: Path, paths: list[str], message: str, author: Identity) -> str:
        """Commit `paths` with `message` as `author` (also the committer); return the new sha.
        The message goes through a private temporary file, removed whatever happens."""
        fd, message_path = tempfile.mkstemp(prefix="gitops-commit-", suffix=".txt")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(message)
            ident = {"GIT_AUTHOR_NAME": author.name, "GIT_AUTHOR_EMAIL": author.email,
                     "GIT_COMMITTER_NAME": author.name, "GIT_COMMITTER_EMAIL": author.email}
            self.runner.run(["commit", "--quiet", "--no-verify", "--cleanup=whitespace",
                             "-F", message_path, "--", *paths], cwd=workdir, env=ident)
        finally:
            os.unlink(message_path)
        return self.head(workdir)

    def push(self, workdir: Path, branch: str, *, expected: str) -> str:
        """Push HEAD to `branch` on origin, compare-and-swap: only if the remote branch is still at
        `expected` (the sha this run read; "" when the branch did not exist).

        Returns "pushed", or "landed" when git's answer was lost (timeout, dropped reply) but
        reading the remote ref shows the push took effect. Raises PushRejected when the branch
        moved meanwhile; GitError for a final refusal (hook, protection, stale lock, auth) or a
        push that, read back, did not land; PushOutcomeUnknown when even that read fails."""
        commit = self.head(workdir)
        ref = f"refs/heads/{branch}"
        args = ["push", "--porcelain", f"--force-with-lease={ref}:{expected}", "origin",
                f"HEAD:{ref}"]
        try:
            done = self.runner.run(args, cwd=workdir, check=False)
        except GitTimeout as e:
            return self._settle(workdir, ref, commit, str(e))
        status = _push_status(done.stdout, ref)
        if status is not None and status["flag"] in " +*=":
            return "pushed"
        failure = self.runner.failure(args, done)
        if status is None or status["summary"] == "[remote failure]":
            if any(marker in done.stderr for marker in _AUTH_FAILURES):
                raise GitError(failure)  # refused before anything was sent
            return self._settle(workdir, ref, commit, failure)
        reason = status["reason"] or status["summary"]
        failure = failure.replace(": ", f": {ref} {status['summary']} ({reason}); ", 1)
        if status["summary"] == "[rejected]" and reason in _MOVED:
            raise PushRejected(failure)
        if status["summary"] == "[remote rejected]":
            if reason in _REMOTE_MOVED:
                raise PushRejected(failure)
            if reason == _REMOTE_UPDATE_FAILED and self.remote_sha(workdir, branch) != (expected or None):
                raise PushRejected(failure)  # another push won the server's ref lock
        raise GitError(failure)

    def _settle(self, workdir: Path, ref: str, commit: str, doubt: str) -> str:
        """After a push whose answer never came: read the remote ref and say what happened."""
        try:
            out = self.runner.run(["ls-remote", "origin", ref], cwd=workdir).stdout
        except GitError as e:
            raise PushOutcomeUnknown(
                f"{doubt}; reading {ref} back failed too ({e}): the push may or may not have "
                f"landed. Check whether {ref} on the remote is {commit} before running again"
            ) from None
        if out.split("\t", 1)[0].strip() == commit:
            return "landed"
        raise GitError(f"{doubt}; read back from the remote, {ref} does not hold {commit}: not "
                       "landed, nothing changed. Run the promotion again")

    def remote_sha(self, workdir: Path, branch: str) -> str | None:
        """The sha `branch` points at on origin now, or None when it does not exist."""
        out = self.runner.run(["ls-remote", "origin", f"refs/heads/{branch}"], cwd=workdir).stdout
        return out.split("\t", 1)[0].strip() or None

    def fetch_and_reset(self, workdir: Path, branch: str) -> None:
        """Move the working copy to the remote's current tip of `branch`."""
        self._fetch_tip(workdir, branch)
        self.runner.run(["reset", "--quiet", "--hard", f"refs/remotes/origin/{branch}"],
                        cwd=workdir)

    def read_remote_commit(self, workdir: Path, branch: str, path: str, *, history: int = 1
                           ) -> RemoteCommit | None:
        """The tip of origin's `branch` now: its sha, message and `path` there and at its parent
        (None when the branch does not exist). `history` commits are fetched (commits and trees
        only; blobs come on demand), for callers that read further back with `log_trailers`."""
        sha = self.remote_sha(workdir, branch)
        if sha is None:
            return None
        self._fetch_tip(workdir, branch, depth=max(2, history))
        message = self.runner.run(["log", "-1", "--format=%B", sha], cwd=workdir).stdout
        return RemoteCommit(sha, message, self._show(workdir, sha, path),
                            self._show(workdir, f"{sha}^", path))

    def deepen(self, workdir: Path, branch: str, depth: int) -> None:
        """Fetch the last `depth` commits of origin's `branch` (commits and trees only)."""
        self._fetch_tip(workdir, branch, depth=depth)

    def log_trailers(self, workdir: Path, rev: str, path: str, limit: int) -> list[str]:
        """Messages of the newest `limit` commits reachable from `rev` (in what was fetched) that
        changed `path`, newest first."""
        out = self.runner.run(["log", f"-{limit}", "--format=%B%x00", rev, "--", path],
                              cwd=workdir, check=False).stdout
        return [m.strip("\n") for m in out.split("\x00") if m.strip()]

    def _show(self, workdir: Path, rev: str, path: str) -> str | None:
        done = self.runner.run(["show", f"{rev}:{path}"], cwd=workdir, check=False)
        return done.stdout if done.returncode == 0 else None

    def _fetch_tip(self, workdir: Path, branch: str, depth: int = 1) -> None:
        self.runner.run(["fetch", "--quiet", "--filter=blob:none", "--depth", str(depth), "origin",
                         f"+refs/heads/{branch}:refs/remotes/origin/{branch}"], cwd=workdir)


def _push_status(porcelain: str, ref: str) -> dict[str, str] | None:
    """The `git push --porcelain` status line of `ref` (flag, summary, reason), or None."""
    for line in porcelain.splitlines():
        match = _STATUS.match(line)
        if match and match["dst"] == ref:
            return match.groupdict()
    return None
