"""The text of a promotion: its commit's title, and the pull request a proposal commit on
promote/<env>/<service> is described by (title, body with the diff and the trailers block, the
comment when it replaces another proposal)."""

from __future__ import annotations

import difflib
import os
from dataclasses import dataclass
from pathlib import Path

from gitops.clients.codepipeline import initiating_pipeline
from gitops.clients.git import GitClient, RemoteCommit
from gitops.errors import ValuesError
from gitops.governance import trailers
from gitops.promotion.provenance import newest_setting
from gitops.repo.values import ImageRef, parse_image

# The commits read behind a proposal to find the source commit of the image it replaces.
PROPOSAL_HISTORY = 50


def promotion_title(env: str, service: str, old_tag: str | None, tag: str | None,
                    old_digest: str | None, digest: str | None) -> str:
    """The subject of a promotion commit and the title of its pull request."""
    new_digest = " (new digest)" if tag == old_tag and digest != old_digest else ""
    return f"promote({env}/{service}): {old_tag or '(none)'} → {tag}{new_digest}"


@dataclass(frozen=True)
class Proposal:
    """What a proposal commit on the branch proposes, and the pull request text for it. Derived
    from the commit alone (its file, its parent's file, its trailers, the history behind it), so
    any run writes the same text for the same commit."""

    commit: RemoteCommit
    service: str
    env: str
    values_path: str
    old_tag: str | None
    old_digest: str | None
    tag: str | None
    digest: str | None
    source_commit: str | None
    previous_source_commit: str | None
    execution_id: str | None
    approved_by: str | None
    source_repo: str | None

    @classmethod
    def of(cls, commit: RemoteCommit, *, service: str, env: str, values_path: str, branch: str,
           source_repo: str | None, git: GitClient, workdir: Path) -> Proposal:
        """The proposal of `commit`, the tip of `branch` (promote/<env>/<service>)."""
        if commit.text is None:
            raise ValuesError(f"{branch} holds no {values_path}; delete the branch and "
                              "run the promotion again")
        new = parse_image(commit.text, f"{values_path} on {branch}")
        old = (parse_image(commit.parent_text, f"{values_path} before {branch}")
               if commit.parent_text is not None else None)
        said = trailers.parse(commit.message)
        return cls(commit, service, env, values_path, old and old.tag,
                   old and old.digest, new.tag, new.digest, said.get(trailers.SOURCE_COMMIT),
                   _source_commit_of(git, workdir, commit.sha, values_path, old),
                   said.get(trailers.EXECUTION), said.get(trailers.APPROVER), source_repo)

    @property
    def title(self) -> str:
        return promotion_title(self.env, self.service, self.old_tag, self.tag, self.old_digest,
                               self.digest)

    @property
    def block(self) -> dict[str, str | None]:
        return {trailers.ACTION: "promote", trailers.SERVICE: self.service,
                trailers.ENVIRONMENT: self.env, trailers.TAG: self.tag,
                trailers.DIGEST: self.digest, trailers.PREVIOUS_DIGEST: self.old_digest,
                trailers.SOURCE_COMMIT: self.source_commit, trailers.EXECUTION: self.execution_id,
                trailers.APPROVER: self.approved_by, trailers.PROPOSAL_COMMIT: self.commit.sha}

    @property
    def body(self) -> str:
        rows = [("Service", f"`{self.service}`"), ("Environment", f"`{self.env}`"),
                ("Tag", f"`{self.old_tag or '(none)'}` → `{self.tag}`"),
                ("Digest", f"`{self.old_digest or '(none)'}` → `{self.digest or '(none)'}`")]
        commits = self._commit_range()
        if commits:
            rows.append(("Application commits", commits))
        if self.execution_id:
            rows.append(("Pipeline execution", execution_link(self.execution_id)))
        if self.approved_by:
            rows.append(("Approved by", f"`{self.approved_by}`"))
        rows.append(("Proposal commit", f"`{self.commit.sha}`"))
        diff = "".join(line if line.endswith("\n") else line + "\n" for line in difflib.unified_diff(
            (self.commit.parent_text or "").replace("\r\n", "\n").splitlines(True),
            (self.commit.text or "").replace("\r\n", "\n").splitlines(True),
            f"a/{self.values_path}", f"b/{self.values_path}"))
        table = "\n".join(f"| {key} | {value} |" for key, value in rows)
        same_tag = (f"\n\nSame tag `{self.tag}`, **new digest**: the image behind the tag changed."
                    if self.tag == self.old_tag and self.digest != self.old_digest else "")
        return (f"Promotes **{self.service}** in **{self.env}** to `{self.tag}`.{same_tag}\n\n"
                f"| | |\n|---|---|\n{table}\n\n```diff\n{diff}```\n\n"
                f"{trailers.render_block(self.block)}\n")

    def _commit_range(self) -> str | None:
        new, old = self.source_commit, self.previous_source_commit
        if not new:
            return None
        if not old or old == new:
            return f"`{new}` (the previous image's source commit is not recorded)" if not old \
                else f"`{new}` (same source commit)"
        text = f"`{old[:12]}...{new[:12]}`"
        if self.source_repo:
            from gitops.clients import forge

            link = forge.compare_url(forge.parse_repo_url(self.source_repo), base=old, head=new)
            text = f"[{text}]({link})"
        return text

    def supersedes(self, previous_body: str | None) -> str | None:
        """The comment for a pull request whose body described another proposal, else None."""
        before = trailers.parse_block(previous_body)
        if before is None or before.get(trailers.PROPOSAL_COMMIT) == self.commit.sha:
            return None

        def describe(values: dict[str, str | None]) -> str:
            execution = values.get(trailers.EXECUTION)
            return (f"`{values.get(trailers.TAG)}` ({values.get(trailers.DIGEST) or 'no digest'}; "
                    f"proposal {str(values.get(trailers.PROPOSAL_COMMIT))[:12]}"
                    + (f", execution {execution}" if execution else "") + ")")

        return (f"Superseded: this pull request now proposes {describe(self.block)} instead of "
                f"{describe(before)}.")


def _source_commit_of(git: GitClient, workdir: Path, sha: str, path: str, image: ImageRef | None
                      ) -> str | None:
    """The source commit of the image the proposal replaces: the Source-Commit trailer of the
    newest commit behind the proposal that set that image, when recorded (within the history
    fetched)."""
    if image is None or not image.tag:
        return None
    return newest_setting(git, workdir, f"{sha}^", path, PROPOSAL_HISTORY, image.tag,
                           image.digest or None).get(trailers.SOURCE_COMMIT)


def execution_link(execution_id: str) -> str:
    """A console link when running in CodeBuild under CodePipeline, else the id itself."""
    pipeline, region = initiating_pipeline(), os.environ.get("AWS_REGION")
    if pipeline and region:
        return (f"[{execution_id}](https://{region}.console.aws.amazon.com/codesuite/codepipeline/"
                f"pipelines/{pipeline}/executions/{execution_id}/timeline?region={region})")
    return f"`{execution_id}`"
