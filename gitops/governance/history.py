"""`gitops history`: the audit trail of an environment, read from the GitOps repository alone.

Every commit the tool writes carries trailers (`gitops.governance.trailers`), so the history of the
environment's paths on the branch is the change log: promotions, reverts, blocks, freezes and
overrides, who made them, with which pipeline execution and why. The history is read with one
blobless clone (commits and trees, no file contents) and one `git log --first-parent --name-only`
over the environment's paths, so its cost grows linearly with the commits of the branch and not
with file sizes.

What a row says comes from what its commit changed, not from what its message claims: the
environment and service are those of the files the commit changed on the branch's first-parent
line; the trailers describe that change (action, image, pipeline execution, reason) only where
they name those files' environment and service and an action that writes them. A commit whose
trailers claim another change (copied from a staging promotion, say) is a `manual` change of the
files it changed, with the claim shown in `claimed`. A change under `envs/` without the tool's
trailers (a hand edit) is `manual` too, so nothing that changed an environment is missing; a
commit that changed several services is one row per service.

Rows are in the branch's first-parent order, the order a push can only extend. Commit dates are
the committer's to choose, so they order nothing: each row's `landed_at` is its committer time
when that agrees with the order (the earliest longest run of times that never decrease, none
after now), else the `landed_at` of the change before it (`date_adjusted`; the commit's own time
stays in `committed_at`). The window [since, until] is taken on `landed_at`, a stretch of the
branch's history: one back- or future-dated commit moves nothing else in or out of it.

A pull request merged with a merge commit landed at the merge; its trailers are those of the
merged tip (the promotion commit of the proposal branch). Squash and rebase merges keep the
promotion commit's message, and so its trailers.
"""

from __future__ import annotations

import tempfile
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from gitops.governance import trailers
from gitops.repo import layout
from gitops.errors import UsageError
from gitops.clients.revisions import Commit, HistoryClient

MANUAL = "manual"
# The files an action of the tool writes directly in an environment's directory, beside the
# service directories: trailers naming one of these actions describe a change of those files.
_ENV_FILES_WRITTEN = {"freeze": {layout.FREEZE_FILE}, "unfreeze": {layout.FREEZE_FILE},
                      "block": {layout.BLOCKLIST_FILE}, "unblock": {layout.BLOCKLIST_FILE},
                      "revert": {layout.BLOCKLIST_FILE}}
# The actions that write a service's own files (its values).
_SERVICE_ACTIONS = ("promote", "revert")


def _parse_override(value: str | None) -> bool:
    return value == "true"


# The trailers a row carries, as (field of Change, trailer key, how its value is read), in the
# order of the CSV columns: a new trailer is one line here and its field below.
TRAILER_FIELDS = (
    ("tag", trailers.TAG, None), ("digest", trailers.DIGEST, None),
    ("previous_digest", trailers.PREVIOUS_DIGEST, None),
    ("source_commit", trailers.SOURCE_COMMIT, None),
    ("source_time", trailers.SOURCE_COMMIT_TIME, trailers.source_time),
    ("execution", trailers.EXECUTION, None), ("approver", trailers.APPROVER, None),
    ("pull_request", trailers.PULL_REQUEST, None), ("reason", trailers.REASON, None),
    ("override_freeze", trailers.OVERRIDE_FREEZE, _parse_override),
    ("skip_proof", trailers.SKIP_PROOF, _parse_override),
)


@dataclass(frozen=True)
class Change:
    commit: str                     # the commit on the branch that landed the change
    landed_at: datetime             # when it landed, in the branch's order (see the module doc)
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
    skip_proof: bool = False          # promoted without its upstream's proof (--skip-proof)
    merged_commit: str | None = None  # for a merge commit: the merged tip carrying the trailers
    committed_at: datetime | None = None  # the commit's own committer time (None: git has none)
    date_adjusted: bool = False     # landed_at is not committed_at: that disagreed with the order
    claimed: str | None = None      # manual: what the commit's trailers claimed instead

    def to_json(self) -> dict:
        data = asdict(self)
        for key in ("landed_at", "source_time", "committed_at"):
            data[key] = _iso(data[key])
        return data


@dataclass(frozen=True)
class Trail:
    changes: list[Change]           # oldest first
    environments: list[str]         # the environment directories at the branch's tip


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


def read_history(repo_url: str, branch: str, git: HistoryClient, *, env: str | None = None,
                 service: str | None = None, since: datetime | None = None,
                 until: datetime | None = None, now: datetime | None = None) -> Trail:
    """The changes of `env` (and `service`) on `branch` that landed in [since, until], oldest
    first, and the environments the branch has now."""
    if not git.valid_branch_name(branch):
        raise UsageError(f"--branch {branch!r} is not a valid branch name")
    with tempfile.TemporaryDirectory(prefix="gitops-history-") as tmp:
        gitdir = Path(tmp) / "repo.git"
        git.clone_branch_history(repo_url, branch, gitdir)
        commits = git.first_parent_changes(gitdir, history_paths(env, service))[::-1]
        merges = [c for c in commits if len(c.parents) > 1
                  and not trailers.parse(c.message).get(trailers.ACTION)]
        # A merge without trailers of its own (a merged pull request) is read through the tip it
        # merged, whose message the promotion wrote.
        tips = {m.sha: m.parents[1] for m in merges}
        messages = git.messages(gitdir, sorted(set(tips.values())))
        merged = {merge: (tip, messages.get(tip, "")) for merge, tip in tips.items()}
        environments = git.list_dir(gitdir, "HEAD", layout.ENVS_DIR)
    landings = landing_times([c.committed for c in commits], now or datetime.now(UTC))
    changes = [change for commit, (landed, adjusted) in zip(commits, landings)
               for change in _changes(commit, landed, adjusted, merged)]
    return Trail([c for c in changes
                  if service is None or c.service in (service, None)
                  if (since is None or c.landed_at >= since) and (until is None or c.landed_at <= until)],
                 environments)


def _changes(commit: Commit, landed: datetime, adjusted: bool,
             merged: dict[str, tuple[str, str]]) -> list[Change]:
    """The rows of one commit: the change its trailers describe, and a `manual` change of every
    environment and service it changed that they do not describe."""
    message, merged_commit = commit.message, None
    if commit.sha in merged:
        merged_commit, message = merged[commit.sha]
    found = trailers.parse(message)
    action = found.get(trailers.ACTION)
    claim_env, claim_service = found.get(trailers.ENVIRONMENT), found.get(trailers.SERVICE)
    scopes: dict[tuple[str, str | None], set[str]] = {}
    for path in commit.files:
        scope = layout.scope_of(path)
        if scope is not None:
            scopes.setdefault(scope, set()).add(path.rsplit("/", 1)[-1])

    def described(scope: tuple[str, str | None]) -> bool:
        env, service = scope
        if action is None or env != claim_env:
            return False
        if service is not None:
            return service == claim_service and action in _SERVICE_ACTIONS
        return scopes[scope] <= _ENV_FILES_WRITTEN.get(action, set())

    common = dict(commit=commit.sha, landed_at=landed, author=commit.author,
                  subject=message.split("\n", 1)[0].strip(), merged_commit=merged_commit,
                  committed_at=commit.committed, date_adjusted=adjusted)
    rows = []
    if any(described(scope) for scope in scopes):
        values = {name: (parse or (lambda v: v))(found.get(key)) for name, key, parse in TRAILER_FIELDS}
        rows.append(Change(action=action, env=claim_env, service=claim_service, **values, **common))
    claim = f"{action} {'/'.join(p for p in (claim_env, claim_service) if p)}" if action else None
    for env, service in sorted((s for s in scopes if not described(s)), key=str):
        rows.append(Change(action=MANUAL, env=env, service=service, claimed=claim, **common))
    return rows


def landing_times(times: list[datetime | None], now: datetime) -> list[tuple[datetime, bool]]:
    """(landed_at, adjusted) of commits in first-parent order, oldest first: its own time when that
    is in the earliest longest run of times that never decrease (none after `now`), else the
    landed_at of the commit before it (of the first in the run when none is before)."""
    known = [t if t is not None and t <= now else None for t in times]
    run = _earliest_longest_run(known)
    floor = next((known[i] for i in sorted(run)), datetime.min.replace(tzinfo=UTC))
    landed = []
    for i, when in enumerate(known):
        if i in run:
            floor = when
        landed.append((floor, i not in run))
    return landed


def _earliest_longest_run(times: list[datetime | None]) -> set[int]:
    """The indices of the longest non-decreasing subsequence of the known `times` that comes first
    in index order (O(n log n): the longest run starting at each index, from a Fenwick tree of
    maxima over the times' ranks, then a greedy pick)."""
    known = [i for i, t in enumerate(times) if t is not None]
    ranks = {t: r for r, t in enumerate(sorted({times[i] for i in known}))}
    size = len(ranks)
    tree = [0] * (size + 1)  # tree over reversed ranks: prefix maxima = runs starting at a later time

    def longest_from(rank: int) -> int:
        best, i = 0, size - rank
        while i > 0:
            best, i = max(best, tree[i]), i - (i & -i)
        return best

    def record(rank: int, length: int) -> None:
        i = size - rank
        while i <= size:
            tree[i], i = max(tree[i], length), i + (i & -i)

    longest: dict[int, int] = {}
    for i in reversed(known):
        longest[i] = 1 + longest_from(ranks[times[i]])
        record(ranks[times[i]], longest[i])
    need, floor, run = max(longest.values(), default=0), None, set()
    for i in known:
        if need and longest[i] == need and (floor is None or times[i] >= floor):
            run.add(i)
            floor, need = times[i], need - 1
    return run
