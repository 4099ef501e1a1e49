"""Where an image came from: the Source-Commit (and its time) that a promotion recorded in its
trailers, read back from the branch's history (commits and trees only)."""

from __future__ import annotations

from pathlib import Path

from gitops import output
from gitops.clients.git import GitClient, is_commit_sha
from gitops.governance import trailers
from gitops.repo import layout

# How far back --source-from-env looks for the upstream promotion of the image.
PROVENANCE_HISTORY = 200


def recorded_source(git: GitClient, workdir: Path, *, branch: str, source_env: str, service: str,
                    tag: str | None, digest: str | None) -> dict[str, str | None]:
    """Source-Commit and Source-Commit-Time of the newest promotion of this tag and digest into
    `source_env`, from the last PROVENANCE_HISTORY commits of the branch (commits and trees
    only). None of them when no such promotion is found or it recorded none: the promotion goes on
    without them (they are a record, not a gate) and says so."""
    git.deepen(workdir, branch, PROVENANCE_HISTORY)
    path = layout.values_file(source_env, service)
    said = newest_setting(git, workdir, "HEAD", path, PROVENANCE_HISTORY, tag, digest, action="promote")
    commit = said.get(trailers.SOURCE_COMMIT)
    if commit is not None and is_commit_sha(commit):
        when = said.get(trailers.SOURCE_COMMIT_TIME)
        return {"source_commit": commit,
                "source_commit_time": when if trailers.source_time(when) is not None else None}
    output.print_notice(f"note: no source commit recorded for {tag} {digest} in {path} within the "
                        f"last {PROVENANCE_HISTORY} commits: promoting without Source-Commit")
    return {}


def newest_setting(git: GitClient, workdir: Path, rev: str, path: str, limit: int, tag: str | None,
                   digest: str | None, action: str | None = None) -> dict[str, str]:
    """The trailers of the newest of `limit` commits behind `rev` changing `path` whose trailers
    name this tag and digest (and `action`, when given); {} when none does."""
    for message in git.log_trailers(workdir, rev, path, limit):
        said = trailers.parse(message)
        if (said.get(trailers.TAG) == tag and said.get(trailers.DIGEST) == digest
                and (action is None or said.get(trailers.ACTION) == action)):
            return said
    return {}
