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

import tempfile
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from gitops.governance import trailers
from gitops.repo import layout
from gitops.errors import UsageError
from gitops.clients.revisions import Commit, HistoryClient

MANUAL = "manual"


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
    skip_proof: bool = False          # promoted without its upstream's proof (--skip-proof)
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


def read_history(repo_url: str, branch: str, git: HistoryClient, *, env: str | None = None,
                 service: str | None = None, since: datetime | None = None,
                 until: datetime | None = None) -> list[Change]:
    """The changes of `env` (and `service`) on `branch` that landed in [since, until], oldest first."""
    if not git.valid_branch_name(branch):
        raise UsageError(f"--branch {branch!r} is not a valid branch name")
    with tempfile.TemporaryDirectory(prefix="gitops-history-") as tmp:
        gitdir = Path(tmp) / "repo.git"
        git.clone_branch_history(repo_url, branch, gitdir)
        commits = git.first_parent_commits(gitdir, history_paths(env, service), since=since,
                                           until=until)
        merges = [c for c in commits if len(c.parents) > 1
                  and not trailers.parse(c.message).get(trailers.ACTION)]
        # A merge without trailers of its own (a merged pull request) is read through the tip it
        # merged, whose message the promotion wrote.
        tips = {m.sha: m.parents[1] for m in merges}
        messages = git.messages(gitdir, sorted(set(tips.values())))
        merged = {merge: (tip, messages.get(tip, "")) for merge, tip in tips.items()}
    changes = [_change(c, merged, env) for c in reversed(commits)]
    return [c for c in changes
            if service is None or c.service in (service, None)
            if (since is None or c.landed_at >= since) and (until is None or c.landed_at <= until)]


def _change(commit: Commit, merged: dict[str, tuple[str, str]], env: str | None) -> Change:
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
        override_freeze=found.get(trailers.OVERRIDE_FREEZE) == "true",
        skip_proof=found.get(trailers.SKIP_PROOF) == "true", merged_commit=merged_commit)
