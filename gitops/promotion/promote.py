"""`gitops promote`: set a service's image tag (and digest) in one environment of the GitOps repo.

The use case works on a blobless, shallow, sparse clone holding only the files it reads, so its
cost does not grow with the repository's history or size. Every push is compare-and-swap on the
value this run read. In commit mode, when the branch moved meanwhile, it integrates the new head,
re-applies the edit and pushes again (bounded, with jittered exponential backoff), so concurrent
promotions never lose an update. In pull-request mode it pushes `promote/<env>/<service>` (or
nothing, when the branch already holds this proposal), then writes the pull request's title and
body from what the branch holds now, read back after the push, and checks the branch again after
writing: the pull request always describes its branch, and a run whose proposal another run
replaced says so and fails. Nothing reaches the remote before every check has passed, and a push
is atomic, so a promotion that dies at any point leaves the remote as it was or fully updated.
"""

from __future__ import annotations

import re
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from gitops.governance import blocklist, trailers
from gitops.promotion import guards, proof, provenance
from gitops.promotion.proposal import PROPOSAL_HISTORY, Proposal, promotion_title
from gitops.repo import inventory, layout, schema
from gitops.errors import GitError, NotProven, ProposalRaceLost, UsageError, ValuesError
from gitops.clients.git import (GitClient, Identity, PushRejected, RemoteCommit, check_commit_sha,
                                errors_name_repository_paths, refuse_credentials)
from gitops.clients.revisions import HistoryClient
from gitops.clients.push import DEFAULT_AUTHOR, DEFAULT_MAX_ATTEMPTS, Push, check_max_attempts, retry_push
from gitops.repo.values import (deployable, parse_image, read_text, set_image, validate_digest,
                           validate_tag)

# Pull-request mode: rounds of "read the branch, write the PR, read the branch again" before
# giving up on a branch that keeps moving.
MAX_PUBLISH_ROUNDS = 5


@dataclass(frozen=True)
class PromoteRequest:
    repo_url: str
    env: str
    service: str
    tag: str | None = None            # the tag to promote, or None with from_env
    digest: str | None = None
    from_env: str | None = None       # take tag and digest from this environment's values file
    branch: str = "main"
    mode: str = "commit"              # "commit" | "pull-request"
    auto_merge: bool = False
    source_commit: str | None = None
    source_commit_time: str | None = None  # ISO 8601 with an offset (`gitops dora` measures from it)
    # Take Source-Commit and Source-Commit-Time from the promotion of this image into that
    # environment (the upstream a promote pipeline follows), when its history records them.
    source_from_env: str | None = None
    source_repo: str | None = None    # the application repository, for compare links
    execution_id: str | None = None
    approved_by: str | None = None    # who gave the pipeline's manual approval (Approved-By)
    author: Identity = DEFAULT_AUTHOR
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    github_api_url: str | None = None
    override_freeze_reason: str | None = None  # --override-freeze --reason: promote during a freeze
    # The environment whose proof the image needs (gitops.promotion.proof): --proof-from, else --from.
    proof_from: str | None = None
    upstream_regions: tuple[str, ...] = ()  # regions that must prove it, besides every one reporting
    soak: timedelta = timedelta(0)
    skip_proof_reason: str | None = None  # --skip-proof --reason: promote without the proof

    @property
    def upstream(self) -> str | None:
        """The environment that must have proven the image, if any."""
        return self.proof_from or self.from_env

    @property
    def values_path(self) -> str:
        return layout.values_file(self.env, self.service)

    @property
    def pr_branch(self) -> str:
        return layout.proposal_branch(self.env, self.service)


@dataclass(frozen=True)
class PromoteResult:
    noop: bool
    # commit mode: "committed" | "noop"; pull-request mode: "opened" | "updated" | "unchanged" |
    # "noop" (the base already runs it), or "pushed" on a forge without a pull request API.
    action: str
    env: str
    service: str
    old_tag: str | None
    new_tag: str
    old_digest: str | None
    digest: str | None
    commit: str | None        # the pushed commit (on the branch, or on promote/<env>/<svc>)
    pr_number: int | None
    pr_url: str | None
    attempts: int
    # The commit that carries the requested image: the pushed commit, the proposal the branch
    # already held, or on a no-op the branch head already carrying it (a Verify stage always has
    # a revision to wait for).
    revision: str
    push: str | None = None   # "pushed", "landed" (confirmed by reading the remote), None: none
    auto_merge: str | None = None  # "armed", "merged" (mergeable at once), None: not requested
    approved_by: str | None = None  # the Approved-By the commit records, None: none


def validate_request(req: PromoteRequest) -> None:
    """Reject bad input before anything is cloned."""
    for flag, name in (("--env", req.env), ("--service", req.service), ("--from", req.from_env),
                       ("--source-from-env", req.source_from_env)):
        layout.check_name(flag, name)
    if (req.tag is None) == (req.from_env is None):
        raise UsageError("give exactly one of --tag TAG or --from ENV")
    if req.from_env is not None and req.digest is not None:
        raise UsageError("--digest goes with --tag; --from takes the digest from that environment")
    if req.from_env == req.env:
        raise UsageError(f"--from {req.from_env} is the environment being promoted into")
    if req.tag is not None:
        validate_tag(req.tag)
    if req.digest is not None:
        validate_digest(req.digest)
    check_commit_sha("--source-commit", req.source_commit)
    if req.source_from_env is not None:
        if req.source_commit is not None or req.tag is None or req.digest is None:
            raise UsageError("--source-from-env goes with --tag and --digest and without --source-commit "
                             "(it finds the source commit of that image)")
        if req.source_from_env == req.env:
            raise UsageError(f"--source-from-env {req.source_from_env} is the environment being promoted into")
    if req.source_commit_time is not None:
        if req.source_commit is None:
            raise UsageError("--source-commit-time goes with --source-commit (the time of that commit)")
        if trailers.source_time(req.source_commit_time) is None:
            raise UsageError(f"--source-commit-time {req.source_commit_time!r} is not an ISO 8601 time with an "
                             "offset (2026-12-01T09:30:00Z, 2026-12-01T10:30:00+01:00)")
    if req.source_repo is not None and not re.fullmatch(r"https?://[^\s/@]+/\S+", req.source_repo):
        raise UsageError(f"--source-repo {req.source_repo!r} is not an https:// repository URL "
                         "without credentials")
    if req.execution_id is not None and (not req.execution_id.isprintable() or not req.execution_id):
        raise UsageError("--execution-id must be one line of printable characters")
    if req.approved_by is not None and (not req.approved_by.isprintable() or not req.approved_by):
        raise UsageError(f"the approver {req.approved_by!r} is not one line of printable characters")
    layout.check_name("--proof-from", req.proof_from)
    if req.proof_from is not None and req.proof_from == req.env:
        raise UsageError(f"--proof-from {req.proof_from} is the environment being promoted into")
    if req.upstream is None and (req.upstream_regions or req.soak or req.skip_proof_reason is not None):
        raise UsageError("--upstream-regions, --soak-minutes and --skip-proof go with --from or --proof-from "
                         "(the environment that proves the image)")
    if req.mode not in ("commit", "pull-request"):
        raise UsageError(f"--mode {req.mode!r}: use commit or pull-request")
    if req.auto_merge and req.mode != "pull-request":
        raise UsageError("--auto-merge applies to --mode pull-request only")
    check_max_attempts(req.max_attempts)
    refuse_credentials(req.repo_url)


def promote(req: PromoteRequest, git: GitClient, *, token: str | None = None,
            sleep: Callable[[float], None] = time.sleep) -> PromoteResult:
    validate_request(req)
    if not git.valid_branch_name(req.branch):
        raise UsageError(f"--branch {req.branch!r} is not a valid branch name")
    if req.mode == "pull-request":
        # Imported only here: PyGithub is the slowest import of the package, and commits need none.
        from gitops.clients import forge

        forge.parse_repo_url(req.repo_url)  # fail before pushing a branch no PR could be opened for
    with tempfile.TemporaryDirectory(prefix="gitops-promote-") as tmp:
        workdir = Path(tmp) / "repo"
        with errors_name_repository_paths(workdir):
            git.clone_sparse(req.repo_url, req.branch, workdir, _sparse_patterns(req))
            if req.upstream is not None and req.skip_proof_reason is None:
                _require_proof(req, git, workdir, Path(tmp) / "history.git", token)
            if req.source_from_env:
                req = replace(req, **provenance.recorded_source(
                    git, workdir, branch=req.branch, source_env=req.source_from_env,
                    service=req.service, tag=req.tag, digest=req.digest))
            if req.mode == "pull-request":
                return _promote_by_pull_request(req, git, workdir, token)
            return _promote_by_commit(req, git, workdir, sleep)


def _require_proof(req: PromoteRequest, git: GitClient, workdir: Path, history: Path, token: str | None) -> None:
    """NotProven unless the upstream proved the image promoted (checked on the branch as cloned;
    its block lists are read again at the head each push goes onto)."""
    tag, digest = _image(req, git, workdir)
    if not digest:
        raise NotProven(f"{req.service} {tag} has no digest: a proof from {req.upstream} is of a digest; promote "
                        "with --digest")
    proof_req = proof.ProofRequest(repo_url=req.repo_url, upstream=req.upstream or "", service=req.service,
                                   tag=tag, digest=digest, branch=req.branch, regions=req.upstream_regions,
                                   soak=req.soak, github_api_url=req.github_api_url)
    statuses = proof.github_statuses(proof_req, token)
    history_client = HistoryClient(git.runner)
    history_client.clone_history(req.repo_url, history)
    proof.check(proof_req, history_client, history, statuses, datetime.now(UTC))


def _image(req: PromoteRequest, git: GitClient, workdir: Path) -> tuple[str, str | None]:
    """The tag and digest promoted: as given, or what `--from` runs at the checked-out head."""
    if not req.from_env:
        assert req.tag is not None
        return req.tag, req.digest
    source_path = layout.values_file(req.from_env, req.service)
    source = deployable(parse_image(_read_checked(git, workdir, source_path), source_path), source_path)
    return source.tag, source.digest


def _sparse_patterns(req: PromoteRequest) -> list[str]:
    """The files promote reads: the values it edits, the chart's schema and defaults it validates
    against, the freeze file and every block list it obeys."""
    paths = [req.values_path, layout.schema_file(req.service),
             layout.chart_values_file(req.service), layout.freeze_file(req.env),
             layout.BLOCKLIST_GLOB]
    if req.from_env:
        paths.append(layout.values_file(req.from_env, req.service))
    return ["/" + path for path in paths]


@dataclass(frozen=True)
class _Edit:
    old_text: str
    new_text: str
    old_tag: str | None
    new_tag: str
    old_digest: str | None
    digest: str | None

    @property
    def noop(self) -> bool:
        return self.old_text == self.new_text


def _prepare_edit(req: PromoteRequest, git: GitClient, workdir: Path) -> _Edit:
    """Read the checked-out head and compute the edit; raise before anything is written."""
    guards.refuse_if_frozen(workdir, req.env, req.service, req.override_freeze_reason)
    tag, digest = _image(req, git, workdir)
    blocklist.refuse_blocked(git, workdir, req.service, tag, digest)
    old_text = _read_checked(git, workdir, req.values_path)
    old = parse_image(old_text, req.values_path)
    if old.tag == tag and (digest is None or old.digest == digest):
        return _Edit(old_text, old_text, old.tag, tag, old.digest, old.digest)
    new_text = set_image(old_text, tag, digest, req.values_path)
    schema.validate_values(workdir, req.service, new_text, source=req.values_path)
    return _Edit(old_text, new_text, old.tag, tag, old.digest, digest)


def _read_checked(git: GitClient, workdir: Path, path: str) -> str:
    """The file at `path` in the checkout, after making sure that the tree really has a file there:
    no component may be a symlink (it could point outside the repository) or missing."""
    parts = path.split("/")
    prefixes = ["/".join(parts[:depth]) for depth in range(1, len(parts) + 1)]
    modes = git.tree_entry_modes(workdir, prefixes)
    for prefix in prefixes:
        mode = modes.get(prefix)
        if mode is None:
            raise ValuesError(f"{inventory.missing(git, workdir, path, 'the branch')}; check "
                              "--env/--service, or create the file first")
        if mode == "120000":
            raise ValuesError(f"{prefix} is a symlink in the repository; promote edits only "
                              "regular files inside it")
        expected_tree = prefix != path
        if (mode == "040000") != expected_tree:
            raise ValuesError(f"{prefix} is not a {'directory' if expected_tree else 'file'} "
                              "in the repository")
    return read_text(workdir / path)


def _promote_by_commit(req: PromoteRequest, git: GitClient, workdir: Path,
                       sleep: Callable[[float], None]) -> PromoteResult:
    def attempt(number: int) -> PromoteResult | Push[PromoteResult]:
        edit = _prepare_edit(req, git, workdir)
        if edit.noop:
            return _result(req, edit, "noop", attempts=number, revision=git.head(workdir))
        _write(workdir / req.values_path, edit.new_text)
        commit = git.commit(workdir, [req.values_path], _commit_message(req, edit), req.author)
        return Push(lambda push: _result(req, edit, "committed", attempts=number, revision=commit,
                                         commit=commit, push=push))

    return retry_push(git, workdir, req.branch, attempt, max_attempts=req.max_attempts,
                      rerun="Re-run the promotion", sleep=sleep)


def _promote_by_pull_request(req: PromoteRequest, git: GitClient, workdir: Path,
                             token: str | None) -> PromoteResult:
    from gitops.clients import forge

    edit = _prepare_edit(req, git, workdir)
    if edit.noop:
        return _result(req, edit, "noop", attempts=1, revision=git.head(workdir))
    held = git.read_remote_commit(workdir, req.pr_branch, req.values_path)
    push = commit = None
    lost_push = False
    if held is not None and held.text == edit.new_text:
        ours = held.sha  # re-promoting what the branch already proposes: push nothing
    else:
        open_pr = forge.find_open_pull_request(repo_url=req.repo_url, api_url=req.github_api_url,
                                               token=token, head=req.pr_branch, base=req.branch)
        _write(workdir / req.values_path, edit.new_text)
        ours = commit = git.commit(workdir, [req.values_path],
                                   _commit_message(req, edit, pull_request=open_pr), req.author)
        try:
            push = git.push(workdir, req.pr_branch, expected=held.sha if held else "")
        except PushRejected:
            lost_push = True  # another run pushed since we read the branch
    # Whatever happened, the pull request ends up describing what the branch holds.
    published, current = _publish(req, git, workdir, token)
    if lost_push or current.sha != ours:
        raise ProposalRaceLost(
            f"another promotion replaced this run's proposal on {req.pr_branch}: it now holds "
            f"{current.sha} ({_image_summary(req, current)}), not {edit.new_tag}"
            f"{'' if lost_push else f' ({ours})'}; this run changed "
            f"{'nothing' if lost_push else 'nothing that remains'}. The pull request describes the "
            f"branch: {published.url}")
    armed = (forge.arm_auto_merge(repo_url=req.repo_url, api_url=req.github_api_url, token=token,
                                  number=published.number)
             if req.auto_merge and published.number is not None else None)
    if published.action == "opened":
        action = "opened"
    elif push is not None:
        action = "pushed" if published.action == "pushed" else "updated"
    else:
        action = "unchanged" if published.action in ("unchanged", "pushed") else "updated"
    return _result(req, edit, action, attempts=1, revision=ours, commit=commit, push=push,
                   pr_number=published.number, pr_url=published.url, auto_merge=armed)


def _publish(req: PromoteRequest, git: GitClient, workdir: Path, token: str | None):
    """Write the pull request from the branch's tip, until the tip is the same after writing."""
    from gitops.clients import forge

    for _ in range(MAX_PUBLISH_ROUNDS):
        current = git.read_remote_commit(workdir, req.pr_branch, req.values_path,
                                         history=PROPOSAL_HISTORY)
        if current is None:
            raise GitError(f"{req.pr_branch} no longer exists on the remote (deleted after its "
                           "pull request was merged or closed?); run the promotion again")
        proposal = Proposal.of(current, service=req.service, env=req.env,
                                 values_path=req.values_path, branch=req.pr_branch,
                                 source_repo=req.source_repo, git=git, workdir=workdir)
        published = forge.open_or_update_pull_request(
            repo_url=req.repo_url, api_url=req.github_api_url, token=token, head=req.pr_branch,
            base=req.branch, title=proposal.title, body=proposal.body,
            superseded_note=proposal.supersedes)
        if git.remote_sha(workdir, req.pr_branch) == current.sha:
            return published, current
    raise ProposalRaceLost(f"{req.pr_branch} kept moving while the pull request was written "
                           f"({MAX_PUBLISH_ROUNDS} rounds): several promotions run at once. Run "
                           "this one again when they are done")


def _image_summary(req: PromoteRequest, commit: RemoteCommit) -> str:
    image = parse_image(commit.text or "", req.values_path) if commit.text else None
    execution = trailers.parse(commit.message).get(trailers.EXECUTION)
    return (f"tag {image.tag if image else '(none)'}"
            + (f", digest {image.digest}" if image and image.digest else "")
            + (f", execution {execution}" if execution else ""))


def _write(path: Path, text: str) -> None:
    path.write_bytes(text.encode("utf-8"))


def _commit_message(req: PromoteRequest, edit: _Edit, pull_request: str | None = None) -> str:
    title = promotion_title(req.env, req.service, edit.old_tag, edit.new_tag, edit.old_digest, edit.digest)
    summary = (f"Set image.tag of {req.service} in {req.env} to {edit.new_tag}"
               + (f" from {req.from_env}" if req.from_env else "") + ".")
    if edit.new_tag == edit.old_tag:
        summary += (f" Same tag, new digest {edit.digest or '(none)'} "
                    f"(was {edit.old_digest or '(none)'}).")
    trailer_block = trailers.render({
        trailers.ACTION: "promote", trailers.SERVICE: req.service, trailers.ENVIRONMENT: req.env,
        trailers.TAG: edit.new_tag, trailers.DIGEST: edit.digest,
        trailers.PREVIOUS_DIGEST: edit.old_digest, trailers.SOURCE_COMMIT: req.source_commit,
        trailers.SOURCE_COMMIT_TIME: req.source_commit_time,
        trailers.EXECUTION: req.execution_id, trailers.APPROVER: req.approved_by,
        trailers.PULL_REQUEST: pull_request,
        **guards.override_trailers(req.override_freeze_reason),
        **guards.skip_proof_trailers(req.skip_proof_reason)})
    return f"{title}\n\n{summary}\n\n{trailer_block}\n"


def _result(req: PromoteRequest, edit: _Edit, action: str, *, attempts: int, revision: str,
            commit: str | None = None, push: str | None = None, pr_number: int | None = None,
            pr_url: str | None = None, auto_merge: str | None = None) -> PromoteResult:
    return PromoteResult(noop=edit.noop, action=action, env=req.env, service=req.service,
                         old_tag=edit.old_tag, new_tag=edit.new_tag, old_digest=edit.old_digest,
                         digest=edit.digest, commit=commit, pr_number=pr_number, pr_url=pr_url,
                         attempts=attempts, revision=revision, push=push, auto_merge=auto_merge,
                         approved_by=req.approved_by)
