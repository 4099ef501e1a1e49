"""Git through the git CLI, in two layers: a subprocess runner and thin verbs.

The runner starts git with an argv list in an environment stripped of every inherited `GIT_*`
variable and of the user's and system's git config, so a developer's setup or a CI image cannot
change what a promotion does. The forge token reaches git only through the environment
(`GIT_CONFIG_*` → `http.extraHeader`), never argv, a remote URL or `.git/config`, and every error
message is redacted before it leaves this module.

The verbs are what the use cases (promote, status) need, one git operation each; tests inject a
`GitClient` wrapped around a real runner to step in between them.
"""

from __future__ import annotations

import base64
import os
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from gitops.credentials import redact
from gitops.errors import GitError

# Server answers that mean "the branch moved while you worked": integrate the new head and push
# again. Any other rejection (hook declined, protected branch, auth) is final. (Kargo's list.)
_RETRYABLE_PUSH_ERRORS = ("non-fast-forward", "fetch first", "cannot lock ref",
                          "incorrect old value provided")

_AUTH_FAILURES = ("could not read Username", "Authentication failed", "returned error: 401",
                  "returned error: 403")


class PushRejected(GitError):
    """The remote refused the push because the branch moved; integrate its new head and retry."""


@dataclass(frozen=True)
class Identity:
    name: str
    email: str

    def __str__(self) -> str:
        return f"{self.name} <{self.email}>"


class GitRunner:
    """Runs `git` with argv lists in a scrubbed environment carrying the token, if any."""

    def __init__(self, token: str | None = None, *, timeout_s: float = 300.0) -> None:
        self._token = token
        self._timeout_s = timeout_s
        self._env = self._scrubbed_env(token)

    @staticmethod
    def _scrubbed_env(token: str | None) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
        env.update({
            "GIT_TERMINAL_PROMPT": "0",       # fail, never wait for a password on a terminal
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_CONFIG_GLOBAL": os.devnull,  # no credential helpers or URL rewrites from ~
            "LC_ALL": "C",                    # push rejections are recognised by their English text
        })
        env.pop("LANGUAGE", None)
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

    def run(self, args: list[str], *, cwd: Path | None = None, env: dict[str, str] | None = None
            ) -> subprocess.CompletedProcess[str]:
        """Run `git <args>`; raise GitError (redacted) when git fails or hangs."""
        argv = ["git", *args]
        try:
            proc = subprocess.run(argv, cwd=cwd, env={**self._env, **(env or {})}, text=True,
                                  capture_output=True, timeout=self._timeout_s,
                                  stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            raise GitError(f"git {args[0]} did not finish within {self._timeout_s:.0f} s; "
                           "check that the repository URL is reachable") from None
        if proc.returncode != 0:
            message = self.redact(proc.stderr.strip()) or "no message"
            if any(marker in message for marker in _AUTH_FAILURES):
                message += ("; the remote refused the credentials: pass a token allowed to "
                            "access it with --token-env or --token-secret")
            raise GitError(f"git {args[0]} failed (exit {proc.returncode}): {message}")
        return proc


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

    def push(self, workdir: Path, branch: str, *, force: bool = False) -> None:
        """Push HEAD to `branch` on origin. Raises PushRejected when the branch moved meanwhile."""
        args = ["push", "--quiet", "origin", f"{'+' if force else ''}HEAD:refs/heads/{branch}"]
        try:
            self.runner.run(args, cwd=workdir)
        except GitError as e:
            if any(marker in str(e) for marker in _RETRYABLE_PUSH_ERRORS):
                raise PushRejected(str(e)) from None
            raise

    def fetch_and_reset(self, workdir: Path, branch: str) -> None:
        """Move the working copy to the remote's current tip of `branch`."""
        self._fetch_tip(workdir, branch)
        self.runner.run(["reset", "--quiet", "--hard", f"refs/remotes/origin/{branch}"],
                        cwd=workdir)

    def read_remote_file(self, workdir: Path, branch: str, path: str) -> str | None:
        """Text of `path` at the tip of origin's `branch`; None when the branch or file is absent."""
        if not self.runner.run(["ls-remote", "origin", f"refs/heads/{branch}"], cwd=workdir).stdout:
            return None
        self._fetch_tip(workdir, branch)
        try:
            return self.runner.run(["show", f"refs/remotes/origin/{branch}:{path}"],
                                   cwd=workdir).stdout
        except GitError:
            return None

    def _fetch_tip(self, workdir: Path, branch: str) -> None:
        self.runner.run(["fetch", "--quiet", "--filter=blob:none", "--depth", "1", "origin",
                         f"+refs/heads/{branch}:refs/remotes/origin/{branch}"], cwd=workdir)
