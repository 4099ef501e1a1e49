"""Git verbs over a repository's history, beside the working-copy verbs of `gitops.clients.git`.

Verify, revert, the block list and init need what promote does not: a bare clone with every commit
but no file contents (blobs are fetched one by one when a file at a commit is read), ancestry, commit
times, the files of a commit, the first-parent log of one path with its messages, and creating a
repository. One git operation each, through the same `GitRunner` (scrubbed environment, token only
in the environment, redacted errors).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from gitops.errors import GitError, ValuesError
from gitops.clients.git import GitClient

# Separators of `git log --format`: NUL between fields, and a record separator no message contains
# (git refuses NUL in commit messages).
_FIELD, _RECORD = "%x00", "%x00%x01%x00"


# `first_parent_changes`: with -z and --name-only, git prints each commit's fields (this format,
# NUL-separated), then the paths it changed, each NUL-terminated (the first after a newline).
_CHANGES_FORMAT = "%H%x00%P%x00%ct%x00%an <%ae>%x00%B"
_SHA = re.compile(r"[0-9a-f]{40}(?:[0-9a-f]{24})?")
# Messages are read in batches of this many shas per `git log --no-walk` (argv stays small).
MESSAGE_BATCH = 500


@dataclass(frozen=True)
class Commit:
    sha: str
    parents: list[str]
    committed: datetime | None      # its committer time; None when git cannot give one
    author: str
    message: str
    files: tuple[str, ...]          # the paths it changed (against its first parent)


def _committer_time(text: str) -> datetime | None:
    """A `%ct` value as a time; None for what a datetime cannot hold (git prints nothing for a
    date before 1970 and any number a commit object carries, up to year 10000 and beyond)."""
    try:
        return datetime.fromtimestamp(int(text), UTC)
    except (ValueError, OverflowError, OSError):
        return None


def _commits(log: str) -> list[Commit]:
    """The commits of a `git log -z --name-only --format=_CHANGES_FORMAT` output."""
    tokens = log.split("\0")
    commits: list[Commit] = []
    i = 0
    while i + 4 < len(tokens):
        sha, parents, committed, author, message = tokens[i:i + 5]
        i += 5
        files = []
        # Paths follow until the next commit's sha; the paths asked for all lie under envs/.
        while i < len(tokens) and not _SHA.fullmatch(tokens[i].lstrip("\n")):
            if tokens[i].strip("\n"):
                files.append(tokens[i].lstrip("\n"))
            i += 1
        commits.append(Commit(sha.lstrip("\n"), parents.split(), _committer_time(committed), author,
                              message, tuple(files)))
    return commits


@dataclass(frozen=True)
class LogEntry:
    sha: str
    parents: tuple[str, ...]
    message: str


class HistoryClient(GitClient):
    """The history verbs; `where` is a bare repository (`--git-dir`) or a working copy."""

    def init(self, path: Path, branch: str) -> None:
        self.runner.run(["init", "--quiet", f"--initial-branch={branch}", str(path)])

    def clone_branch_history(self, url: str, branch: str, dest: Path) -> None:
        """A bare clone of `branch` alone with commits and trees but no blobs."""
        self.runner.check_remote(url)
        self.runner.run(["clone", "--quiet", "--bare", "--filter=blob:none", "--single-branch",
                         "--branch", branch, "--", url, str(dest)])

    def clone_history(self, url: str, dest: Path) -> None:
        """A bare clone of every branch with commits and trees but no blobs."""
        self.runner.check_remote(url)
        self.runner.run(["clone", "--quiet", "--bare", "--filter=blob:none", "--", url, str(dest)])

    def fetch_branches(self, gitdir: Path) -> None:
        self._git(gitdir, "fetch", "--quiet", "--filter=blob:none", "origin",
                  "+refs/heads/*:refs/heads/*")

    def has_commit(self, gitdir: Path, sha: str) -> bool:
        try:
            self._git(gitdir, "rev-parse", "--quiet", "--verify", f"{sha}^{{commit}}")
            return True
        except GitError:
            return False

    def resolve(self, gitdir: Path, rev: str) -> str:
        return self._git(gitdir, "rev-parse", "--verify", f"{rev}^{{commit}}").strip()

    def is_ancestor(self, gitdir: Path, ancestor: str, descendant: str) -> bool:
        """Both commits must exist (exit 1 then means "not an ancestor"; other failures raise)."""
        try:
            self._git(gitdir, "merge-base", "--is-ancestor", ancestor, descendant)
            return True
        except GitError as exc:
            if "(exit 1)" in str(exc):
                return False
            raise

    def commit_time(self, gitdir: Path, sha: str) -> int:
        """Committer time, epoch seconds: when the commit was made (a merge: when it merged)."""
        return int(self._git(gitdir, "show", "-s", "--format=%ct", sha).strip())

    def same_paths(self, gitdir: Path, a: str, b: str, paths: list[str]) -> bool:
        """True when `paths` are identical in commits `a` and `b` (tree ids only, no blob read)."""
        try:
            self._git(gitdir, "diff-tree", "-r", "--quiet", a, b, "--", *paths)
            return True
        except GitError as exc:
            if "(exit 1)" in str(exc):
                return False
            raise

    def read_file(self, where: Path, rev: str, path: str) -> str | None:
        """Text of `path` at `rev`; None when the commit has no file there; a ValuesError when it
        is not UTF-8."""
        entries = self._git(where, "ls-tree", rev, "--", path).split()
        if len(entries) < 2 or entries[1] != "blob":
            return None
        try:
            return self._git(where, "cat-file", "blob", entries[2])
        except UnicodeDecodeError as e:
            raise ValuesError(f"{path} at {rev[:12]} is not UTF-8 ({e.reason} at byte {e.start})") from None

    def list_dir(self, where: Path, rev: str, path: str) -> list[str]:
        """Names of the entries directly under directory `path` at `rev` (empty when absent)."""
        out = self._git(where, "ls-tree", "--name-only", rev, "--", f"{path}/")
        return [line.rsplit("/", 1)[-1] for line in out.splitlines()]

    def first_parent_log(self, where: Path, rev: str, paths: list[str], limit: int
                         ) -> list[LogEntry]:
        """Newest first: the commits on `rev`'s first-parent line that changed `paths` (a merged
        pull request appears as its merge commit), at most `limit`."""
        out = self._git(where, "log", "--first-parent", f"--max-count={limit}",
                        f"--format=%H{_FIELD}%P{_FIELD}%B{_RECORD}", rev, "--", *paths,
                        errors="replace")
        entries = []
        for record in out.split("\x00\x01\x00"):
            if not record.strip("\n"):
                continue
            sha, parents, message = record.lstrip("\n").split("\x00", 2)
            entries.append(LogEntry(sha, tuple(parents.split()), message))
        return entries

    def first_parent_changes(self, where: Path, paths: list[str]) -> list[Commit]:
        """Newest first: every commit on HEAD's first-parent line that changed `paths` (under
        envs/), with its committer time, author, message and the paths of `paths` it changed. No
        date limit: git's --since stops at the first commit dated before it, and dates are the
        committer's to choose."""
        return _commits(self._git(where, "log", "-z", "--first-parent", "--name-only",
                                  f"--format={_CHANGES_FORMAT}", "HEAD", "--", *paths,
                                  errors="replace"))

    def messages(self, where: Path, shas: list[str]) -> dict[str, str]:
        """sha -> message of each commit of `shas`, read in batches of MESSAGE_BATCH."""
        found: dict[str, str] = {}
        for start in range(0, len(shas), MESSAGE_BATCH):
            out = self._git(where, "log", "-z", "--no-walk=unsorted", "--format=%H%n%B",
                            *shas[start:start + MESSAGE_BATCH], errors="replace")
            for record in out.split("\0"):
                if record.strip():
                    sha, _, message = record.lstrip("\n").partition("\n")
                    found[sha] = message
        return found

    def message(self, where: Path, sha: str) -> str:
        return self._git(where, "show", "-s", "--format=%B", sha, errors="replace")

    def _git(self, where: Path, *args: str, errors: str = "strict") -> str:
        """git's stdout (decoded with `errors`, see GitRunner.run); `where` ending in .git is a
        bare repository, else a working copy."""
        flag = ["--git-dir", str(where)] if where.suffix == ".git" else []
        return self.runner.run([*flag, *args], cwd=None if flag else where, errors=errors).stdout
