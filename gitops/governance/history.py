"""`gitops history`: the audit trail of an environment, read from the GitOps repository alone.

Every commit the tool writes carries trailers (`gitops.governance.trailers`), so the history of the
environment's paths on the branch is the change log: promotions, reverts, blocks, freezes and
overrides, who made them, with which pipeline execution and why. The history is read with one
blobless clone (commits and trees, no file contents) and one `git log --first-parent` over the
environment's paths, so its cost grows linearly with the commits read and not with file sizes.

What landed is what the branch's first-parent history shows, at the committer time of the commit
on the branch. A pull request merged with a merge commit landed at the merge; its trailers are
those of the merged tip (the promotion commit of the proposal branch). Squash and rebase merges
keep the promotion commit's message, and so its trailers. A change under `envs/` without the
tool's trailers (a hand edit) is listed as `manual`, so nothing that changed an environment is
missing from the trail.
"""

from __future__ import annotations

import argparse
import csv
import sys
import tempfile
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from gitops import output
from gitops.governance import trailers
from gitops.repo import layout
from gitops.clients.credentials import add_token_arguments, token_from_args
from gitops.errors import UsageError
from gitops.governance.freeze import check_name, parse_time
from gitops.clients.git import GitClient, GitRunner

MANUAL = "manual"
# One commit per NUL-separated record: sha, parents, committer time, author, then the message.
_FORMAT = "%H%n%P%n%ct%n%an <%ae>%n%B"
# Merged tips are read back in batches of this many shas per `git log --no-walk` (argv stays small).
_BATCH = 500
_UTC = ZoneInfo("UTC")


@dataclass(frozen=True)
class Change:
    commit: str                     # the commit on the branch that landed the change
    landed_at: datetime             # its committer time
    author: str
    subject: str
    action: str                     # one of trailers.ACTIONS, or "manual"
    env: str | None
    service: str | None
    tag: str | None = None
    digest: str | None = None
    previous_digest: str | None = None
    source_commit: str | None = None
    source_time: datetime | None = None
    execution: str | None = None
    approver: str | None = None
    pull_request: str | None = None
    reason: str | None = None
    override_freeze: bool = False
    merged_commit: str | None = None  # for a merge commit: the merged tip carrying the trailers

    def to_json(self) -> dict:
        data = asdict(self)
        for key in ("landed_at", "source_time"):
            data[key] = _iso(data[key])
        return data


def _iso(when: datetime | None) -> str | None:
    return when.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z") if when else None


def history_paths(env: str | None, service: str | None) -> list[str]:
    """The pathspecs whose changes make up the history of `env` (every environment when None),
    narrowed to one service's directory plus the environment's own files (its freeze file, and
    any other file directly in `envs/<env>/`, which concern every service)."""
    if service is None:
        return [layout.env_dir(env) if env else layout.ENVS_DIR]
    env_glob = env or "*"
    return [f":(glob){layout.service_dir(env_glob, service)}/**",
            f":(glob){layout.env_dir(env_glob)}/*"]


def read_history(repo_url: str, branch: str, git: GitClient, *, env: str | None = None,
                 service: str | None = None, since: datetime | None = None,
                 until: datetime | None = None) -> list[Change]:
    """The changes of `env` (and `service`) on `branch` that landed in [since, until], oldest first."""
    if not git.valid_branch_name(branch):
        raise UsageError(f"--branch {branch!r} is not a valid branch name")
    with tempfile.TemporaryDirectory(prefix="gitops-history-") as tmp:
        gitdir = Path(tmp) / "repo.git"
        git.runner.run(["clone", "--quiet", "--bare", "--filter=blob:none", "--single-branch",
                        "--branch", branch, "--", repo_url, str(gitdir)])
        args = ["log", "-z", "--first-parent", f"--format={_FORMAT}"]
        if since is not None:
            args.append(f"--since={since.isoformat()}")
        if until is not None:
            args.append(f"--until={until.isoformat()}")
        log = git.runner.run([*args, "HEAD", "--", *history_paths(env, service)], cwd=gitdir).stdout
        commits = [_split(record) for record in log.split("\0") if record.strip()]
        merged = _merged_tip_messages(git, gitdir, [c for c in commits if _needs_merged_tip(c)])
    changes = [_change(c, merged, env) for c in reversed(commits)]
    return [c for c in changes
            if service is None or c.service in (service, None)
            if (since is None or c.landed_at >= since) and (until is None or c.landed_at <= until)]


@dataclass(frozen=True)
class _Commit:
    sha: str
    parents: list[str]
    committed: datetime
    author: str
    message: str


def _split(record: str) -> _Commit:
    sha, parents, committed, author, *message = record.lstrip("\n").split("\n", 4)
    # A commit may have an empty message (git commit --allow-empty-message): no fifth field.
    return _Commit(sha, parents.split(), datetime.fromtimestamp(int(committed), UTC), author,
                   message[0] if message else "")


def _needs_merged_tip(commit: _Commit) -> bool:
    return len(commit.parents) > 1 and not trailers.parse(commit.message).get(trailers.ACTION)


def _merged_tip_messages(git: GitClient, gitdir: Path, merges: list[_Commit]) -> dict[str, tuple[str, str]]:
    """merge sha -> (merged tip sha, its message), for merges whose own message has no trailers."""
    tips = {m.sha: m.parents[1] for m in merges}
    wanted = sorted(set(tips.values()))
    messages: dict[str, str] = {}
    for start in range(0, len(wanted), _BATCH):
        out = git.runner.run(["log", "-z", "--no-walk=unsorted", "--format=%H%n%B",
                              *wanted[start:start + _BATCH]], cwd=gitdir).stdout
        for record in out.split("\0"):
            if record.strip():
                sha, _, message = record.lstrip("\n").partition("\n")
                messages[sha] = message
    return {merge: (tip, messages.get(tip, "")) for merge, tip in tips.items()}


def _change(commit: _Commit, merged: dict[str, tuple[str, str]], env: str | None) -> Change:
    message, merged_commit = commit.message, None
    if commit.sha in merged:
        merged_commit, message = merged[commit.sha]
    found = trailers.parse(message)
    action = found.get(trailers.ACTION)
    if action is None:
        found = {}
    return Change(
        commit=commit.sha, landed_at=commit.committed, author=commit.author,
        subject=message.split("\n", 1)[0].strip(),
        action=action or MANUAL, env=found.get(trailers.ENVIRONMENT, env),
        service=found.get(trailers.SERVICE), tag=found.get(trailers.TAG),
        digest=found.get(trailers.DIGEST), previous_digest=found.get(trailers.PREVIOUS_DIGEST),
        source_commit=found.get(trailers.SOURCE_COMMIT),
        source_time=trailers.source_time(found.get(trailers.SOURCE_COMMIT_TIME)),
        execution=found.get(trailers.EXECUTION), approver=found.get(trailers.APPROVER),
        pull_request=found.get(trailers.PULL_REQUEST), reason=found.get(trailers.REASON),
        override_freeze=found.get(trailers.OVERRIDE_FREEZE) == "true", merged_commit=merged_commit)


# --- Output -------------------------------------------------------------------------------------

CSV_FIELDS = ("landed_at", "action", "env", "service", "tag", "digest", "previous_digest",
              "source_commit", "source_time", "execution", "approver", "pull_request", "reason",
              "override_freeze", "author", "commit", "merged_commit", "subject")


def print_csv(changes: list[Change]) -> None:
    writer = csv.DictWriter(sys.stdout, fieldnames=CSV_FIELDS, lineterminator="\n")
    writer.writeheader()
    for change in changes:
        data = change.to_json()
        writer.writerow({key: _csv_cell(data[key]) for key in CSV_FIELDS})


def _csv_cell(value: object) -> str:
    """A cell a spreadsheet shows as text: no formula from a commit's `=cmd|…` reason."""
    text = "" if value is None else str(value).lower() if isinstance(value, bool) else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def print_table(changes: list[Change]) -> None:
    rows, overrides = [], set()
    for i, c in enumerate(reversed(changes)):   # newest first, like git log
        if c.override_freeze:
            overrides.add(i)
        scope = "/".join(part for part in (c.env, c.service) if part) or "-"
        what = c.tag or ""
        if c.digest:
            what += f" @{c.digest.removeprefix('sha256:')[:12]}"
        note = c.reason or ""
        if c.override_freeze:
            note = f"OVERRIDE-FREEZE: {note}"
        if c.action in ("freeze", "unfreeze", MANUAL):
            note = f"{c.subject}{' - ' + c.reason if c.reason else ''}"
        rows.append([c.landed_at.strftime("%Y-%m-%d %H:%M"), c.action, scope, what.strip(),
                     note, c.author, c.commit[:12]])
    output.print_table(["landed (UTC)", "action", "scope", "image", "note", "author", "commit"],
                       rows, overrides, title=f"{len(changes)} changes")


# --- The command --------------------------------------------------------------------------------

def add_window_arguments(parser: argparse.ArgumentParser, default_since: str | None) -> None:
    """`--since` and `--until`, shared with dora: an ISO 8601 time (UTC without an offset) or a
    duration back from now (90d, 12w, 24h)."""
    parser.add_argument("--since", default=default_since,
                        help="start: ISO 8601 (UTC without offset) or a duration back from now, "
                             f"e.g. 90d, 12w (default: {default_since or 'the whole history'})")
    parser.add_argument("--until", help="end, in the same forms (default: now)")


def window(args: argparse.Namespace, now: datetime) -> tuple[datetime | None, datetime]:
    until = parse_time(args.until, now=now, zone=_UTC, flag="--until", past=True) if args.until else now
    since = (parse_time(args.since, now=until, zone=_UTC, flag="--since", past=True)
             if args.since else None)
    if since is not None and since >= until:
        raise UsageError(f"--since {args.since!r} is not before --until")
    return since, until


def add_scope_arguments(parser: argparse.ArgumentParser, env_required: bool) -> None:
    parser.add_argument("--repo", required=True, help="GitOps repository URL (or path)")
    parser.add_argument("--branch", default="main", help="branch Argo CD follows (default: main)")
    parser.add_argument("--env", required=env_required,
                        help="environment directory under envs/" + ("" if env_required
                                                                     else " (default: every one)"))
    parser.add_argument("--service", help="one service only (default: every one)")
    add_token_arguments(parser)


def validate_scope(args: argparse.Namespace) -> None:
    check_name("--env", args.env)
    check_name("--service", args.service)


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "history", help="promotions, reverts, blocks, freezes and overrides of an environment",
        description="List the changes that landed in the environment's paths on the branch, from "
                    "the trailers of their commits (docs/governance.md).")
    add_scope_arguments(p, env_required=False)
    add_window_arguments(p, default_since=None)
    p.add_argument("--output", choices=("text", "json", "csv"), default="text")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    validate_scope(args)
    since, until = window(args, datetime.now(UTC))
    token = token_from_args(args)
    changes = read_history(args.repo, args.branch, GitClient(GitRunner(token)), env=args.env,
                           service=args.service, since=since, until=until)
    if args.output == "json":
        output.print_json([c.to_json() for c in changes])
    elif args.output == "csv":
        print_csv(changes)
    else:
        print_table(changes)
    return 0
