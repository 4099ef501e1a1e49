"""`gitops revert`, `gitops block`, `gitops unblock`: take a bad version out of an environment.

revert  writes back the last tag and digest of the service that passed verification in the
        environment, and blocks the bad digest there (one commit: both or neither). The bad digest
        is the one at `--revision` (the promotion whose verification failed), else the one the
        environment has now. A version "passed verification" when its commit on the branch carries
        a `delivery/<env>/<region>` success status from `gitops verify` in every region that
        reported, and none failed (gitops/report.py says why statuses are the record). History is
        walked newest first along the branch's first parents, through failed, unverified,
        superseded and blocked versions, at most HISTORY_LIMIT commits of the values file.
block   only adds the digest to the block list; unblock removes it. Each carries a reason.

Every change is a commit with trailers (Delivery-Action revert/block/unblock, Reason,
Pipeline-Execution, the digests), in commit mode pushed to the branch with promote's retry
discipline: a push rejected because the branch moved re-reads the new head and re-decides, so a
concurrent promotion is never lost. When the environment no longer runs the bad digest (a newer
promotion landed), revert leaves the values alone and only blocks. A re-run that finds its work done
changes nothing (exit 0, "no-op"). In pull-request mode the commit goes to `revert/<env>/<svc>`
and an auto-mergeable pull request; the block takes effect when it merges.
"""

from __future__ import annotations

import functools
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from gitops.governance import blocklist, trailers
from gitops.repo import files, inventory, layout
from gitops.errors import NothingVerified, NoVerifiedVersion, UsageError, ValuesError
from gitops.clients.git import Identity, check_commit_sha, refuse_credentials
from gitops.clients.revisions import HistoryClient
from gitops.clients.push import (DEFAULT_AUTHOR, DEFAULT_MAX_ATTEMPTS, Push, check_max_attempts,
                                 retry_push)
from gitops.repo.values import ImageRef, parse_image, set_image, validate_digest, validate_tag

HISTORY_LIMIT = 200
ACTIONS = ("revert", "block", "unblock")

# (sha) -> {status context: state} of the verification statuses of one commit
VerificationStates = Callable[[str], dict[str, str]]


@dataclass(frozen=True)
class RevertRequest:
    repo_url: str
    env: str
    service: str
    action: str                        # revert | block | unblock
    reason: str
    revision: str | None = None        # revert: the commit of the bad promotion
    digest: str | None = None          # block/unblock: the digest
    tag: str | None = None             # block: its tag, for the record
    branch: str = "main"
    mode: str = "commit"               # commit | pull-request
    auto_merge: bool = True
    execution_id: str | None = None
    author: Identity = DEFAULT_AUTHOR
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    github_api_url: str | None = None


@dataclass(frozen=True)
class RevertResult:
    action: str
    env: str
    service: str
    noop: bool
    bad_tag: str | None
    bad_digest: str
    restored_tag: str | None           # revert: what the values now say (None: left alone)
    restored_digest: str | None
    restored_from: str | None          # the verified commit the restored version comes from
    blocked: bool                      # the digest is on the block list after this run
    commit: str | None
    pr_url: str | None
    attempts: int


@dataclass(frozen=True)
class Verified:
    commit: str
    tag: str
    digest: str


def validate_request(req: RevertRequest) -> None:
    for flag, name in (("--env", req.env), ("--service", req.service)):
        layout.check_name(flag, name)
    if req.action not in ACTIONS:
        raise UsageError(f"unknown action {req.action!r}")
    if not req.reason.strip() or "\n" in req.reason or not req.reason.isprintable():
        raise UsageError("--reason must be one line of printable text saying why")
    if req.action == "revert":
        if req.digest is not None:
            raise UsageError("revert takes the bad version from --revision or the environment, "
                             "not --digest")
        check_commit_sha("--revision", req.revision)
    else:
        if req.digest is None:
            raise UsageError(f"{req.action} needs --digest sha256:<64 hex>")
        validate_digest(req.digest)
        if req.mode != "commit":
            raise UsageError(f"{req.action} commits to the branch; --mode applies to revert")
    if req.tag is not None:
        validate_tag(req.tag)
    if req.execution_id is not None and (not req.execution_id or not req.execution_id.isprintable()):
        raise UsageError("--execution-id must be one line of printable characters")
    if req.mode not in ("commit", "pull-request"):
        raise UsageError(f"--mode {req.mode!r}: use commit or pull-request")
    check_max_attempts(req.max_attempts)
    refuse_credentials(req.repo_url)


def github_verification_states(req: RevertRequest, token: str | None) -> VerificationStates | str:
    """Where revert reads verification results: the GitHub commit statuses verify writes; on
    another forge, why there are none."""
    from gitops.verification.report import GitHubRepository

    forge = GitHubRepository.at(req.repo_url, req.github_api_url, token)
    if isinstance(forge, str):
        return forge
    return lambda sha: forge.verification_states(sha, req.env)


def revert(req: RevertRequest, git: HistoryClient, *, token: str | None = None,
           states: VerificationStates | str | None = None,
           sleep: Callable[[float], None] = time.sleep) -> RevertResult:
    validate_request(req)
    if not git.valid_branch_name(req.branch):
        raise UsageError(f"--branch {req.branch!r} is not a valid branch name")
    values_path = layout.values_file(req.env, req.service)
    block_path = layout.blocklist_file(req.env)
    with tempfile.TemporaryDirectory(prefix=f"gitops-{req.action}-") as tmp:
        workdir = Path(tmp) / "repo"
        git.clone_sparse(req.repo_url, req.branch, workdir,
                         ["/" + values_path, "/" + block_path, "/" + layout.schema_file(req.service),
                          "/" + layout.chart_values_file(req.service)])
        history = Path(tmp) / "history.git"
        if req.action == "revert":
            git.clone_history(req.repo_url, history)
        bad = _bad_version(req, git, workdir, history, values_path)
        target: Verified | None = None
        why_none = ""
        if req.action == "revert":
            if states is None:
                states = github_verification_states(req, token)
            if isinstance(states, str):
                _refuse_without_evidence(req, bad, f"verification results are GitHub commit statuses and {states}")
            else:
                states = functools.cache(states)  # asked once per commit: each answer is a forge API call
                target = last_verified(git, history, req, bad.digest or "", states,
                                       blocklist.read(workdir, req.env))
                if target is None and not ever_verified(git, history, req, states):
                    _refuse_without_evidence(req, bad, f"no version of {req.service} ever passed verification in "
                                                       f"{req.env} within the last {HISTORY_LIMIT} changes of {values_path}")
                if target is None:
                    why_none = (f"no earlier version of {req.service} passed verification in "
                                f"{req.env} within the last {HISTORY_LIMIT} changes of {values_path}")
        result = _apply(req, git, workdir, bad, target, token, sleep)
    if req.action == "revert" and target is None:
        raise NoVerifiedVersion(
            f"{why_none}; {bad.digest} is {'now ' if not result.noop else ''}blocked in {req.env}"
            f" and the values are unchanged: promote a good version of {req.service} by hand")
    return result


def _bad_version(req: RevertRequest, git: HistoryClient, workdir: Path, history: Path,
                 values_path: str) -> ImageRef:
    if req.action != "revert":
        return ImageRef(None, req.tag, req.digest)
    if req.revision is None:
        text = git.read_file(workdir, "HEAD", values_path)
        if text is None:
            raise UsageError(f"{inventory.missing(git, workdir, values_path, req.branch)}; check "
                             "--env/--service")
        where = f"{values_path} on {req.branch}"
    else:
        if not git.has_commit(history, req.revision):
            raise UsageError(f"--revision {req.revision} is not in {req.repo_url}")
        text = git.read_file(history, req.revision, values_path)
        where = f"{values_path} at {req.revision}"
    if text is None:
        raise UsageError(f"{where} does not exist; check --env/--service/--revision")
    image = parse_image(text, where)
    if not image.digest:
        raise UsageError(f"{where} sets no image.digest: there is no digest to block; block one "
                         "with `gitops block --digest …`")
    return image


def last_verified(git: HistoryClient, history: Path, req: RevertRequest, bad_digest: str,
                  states: VerificationStates, blocked: list[blocklist.Entry]) -> Verified | None:
    """The newest version of the service on the branch's first-parent line that passed
    verification in the environment, is not `bad_digest` and is not `blocked` there."""
    from gitops.verification.report import verified

    values_path = layout.values_file(req.env, req.service)
    head = f"refs/heads/{req.branch}"
    for entry in git.first_parent_log(history, head, [values_path], HISTORY_LIMIT):
        # A version that cannot be read (not UTF-8, malformed, a duplicated key) is passed over:
        # Helm could not read it either, so it never ran and is no version to go back to.
        try:
            text = git.read_file(history, entry.sha, values_path)
            if text is None:
                continue
            image = parse_image(text, f"{values_path} at {entry.sha[:12]}")
        except ValuesError:
            continue
        if not image.digest or not image.tag or image.digest == bad_digest or \
                blocklist.find(blocked, req.service, image.digest, None):
            continue
        if verified(states(entry.sha)):
            return Verified(entry.sha, image.tag, image.digest)
    return None


def ever_verified(git: HistoryClient, history: Path, req: RevertRequest, states: VerificationStates) -> bool:
    """Whether any version of the service (the bad one and blocked ones included) passed
    verification in the environment: the evidence that the environment can run the service, so
    that a failed verification says something about the release rather than about the environment
    (a first `pulumi up` whose Argo CD is not installed yet times out every verify)."""
    from gitops.verification.report import verified

    head = f"refs/heads/{req.branch}"
    return any(verified(states(entry.sha)) for entry in git.first_parent_log(
        history, head, [layout.values_file(req.env, req.service)], HISTORY_LIMIT))


def _refuse_without_evidence(req: RevertRequest, bad: ImageRef, why: str) -> None:
    raise NothingVerified(
        f"{why}; nothing is blocked or rewritten without that evidence ({bad.tag or bad.digest} may have failed "
        f"for the environment's sake, e.g. Argo CD not running yet). Make the environment verify a version "
        f"first, or block this one by hand: gitops block --env {req.env} --service {req.service} "
        f"--digest {bad.digest} --reason \"…\"")


def _apply(req: RevertRequest, git: HistoryClient, workdir: Path, bad: ImageRef,
           target: Verified | None, token: str | None, sleep: Callable[[float], None]
           ) -> RevertResult:
    """Decide on the checked-out head and commit; `retry_push` pushes, and on a moved branch this
    decides again on the new head."""
    values_path = layout.values_file(req.env, req.service)
    block_path = layout.blocklist_file(req.env)
    assert bad.digest is not None

    def attempt(number: int) -> RevertResult | Push[RevertResult]:
        values_text = files.read_repo_file(workdir, values_path)
        if values_text is None:
            raise ValuesError(f"{inventory.missing(git, workdir, values_path, req.branch)}; check "
                              "--env and --service")
        current = parse_image(values_text, values_path)
        entries = blocklist.read(workdir, req.env)
        listed = blocklist.find(entries, req.service, bad.digest, None)
        new_entries = entries
        if req.action in ("revert", "block") and listed is None:
            new_entries = [*entries, blocklist.Entry(req.service, bad.digest, bad.tag, req.reason,
                                                     req.execution_id)]
        elif req.action == "unblock" and listed is not None:
            new_entries = [e for e in entries if e is not listed]
        new_values = values_text
        if req.action == "revert" and target is not None and current.digest == bad.digest:
            new_values = set_image(values_text, target.tag, target.digest, values_path)
        changed = [path for path, before, after in (
            (values_path, values_text, new_values),
            (block_path, entries, new_entries)) if before != after]
        restored = target if new_values != values_text else None
        blocked = req.action != "unblock"
        if not changed:
            return _result(req, bad, restored=None, blocked=blocked, noop=True, attempts=number)
        if new_values != values_text:
            (workdir / values_path).write_bytes(new_values.encode("utf-8"))
        if new_entries != entries:
            (workdir / block_path).write_text(blocklist.render(new_entries), encoding="utf-8")
            git.add(workdir, [block_path])
        message = _message(req, bad, restored, current)
        commit = git.commit(workdir, changed, message, req.author)
        if req.mode == "pull-request":
            return _open_pull_request(req, git, workdir, bad, restored, commit, message, token)
        return Push(lambda push: _result(req, bad, restored=restored, blocked=blocked, noop=False,
                                         attempts=number, commit=commit))

    return retry_push(git, workdir, req.branch, attempt, max_attempts=req.max_attempts,
                      rerun="Run it again", sleep=sleep)


def _message(req: RevertRequest, bad: ImageRef, restored: Verified | None,
             current: ImageRef) -> str:
    where = f"{req.env}/{req.service}"
    if req.action == "revert" and restored is not None:
        subject = f"revert({where}): {bad.tag or bad.digest[:19]} → {restored.tag}"
        summary = (f"Restore {restored.tag} ({restored.digest}), verified at "
                   f"{restored.commit[:12]}, and block {bad.digest}.")
    elif req.action == "unblock":
        subject = f"unblock({where}): {bad.digest[:19]}"
        summary = f"Allow {bad.digest} to be promoted again."
    else:
        subject = f"block({where}): {bad.tag or bad.digest[:19]}"
        summary = f"Refuse {bad.digest} in promotions." + (
            f" {req.env} runs {current.tag} now; values unchanged." if req.action == "revert"
            else "")
    action = "revert" if req.action == "revert" and restored is not None else \
        "unblock" if req.action == "unblock" else "block"
    block = trailers.render({
        trailers.ACTION: action, trailers.SERVICE: req.service, trailers.ENVIRONMENT: req.env,
        trailers.TAG: restored.tag if restored else bad.tag,
        trailers.DIGEST: restored.digest if restored else bad.digest,
        trailers.PREVIOUS_DIGEST: bad.digest if restored else None,
        trailers.EXECUTION: req.execution_id, trailers.REASON: req.reason})
    return f"{subject}\n\n{summary}\n\n{block}\n"


def _open_pull_request(req: RevertRequest, git: HistoryClient, workdir: Path, bad: ImageRef,
                       restored: Verified | None, commit: str, message: str, token: str | None
                       ) -> RevertResult:
    from gitops.clients import forge

    branch = layout.revert_branch(req.env, req.service)
    # The branch belongs to this revert: a re-run replaces it with the same decision, compare-and-
    # swap on what it held a moment ago (a concurrent re-run makes this one fail, not both land).
    git.push(workdir, branch, expected=git.remote_sha(workdir, branch) or "")
    subject, _, body = message.partition("\n\n")
    pr = forge.open_or_update_pull_request(
        repo_url=req.repo_url, api_url=req.github_api_url, token=token, head=branch,
        base=req.branch, title=subject, body=body)
    if req.auto_merge and pr.number is not None:
        forge.arm_auto_merge(repo_url=req.repo_url, api_url=req.github_api_url, token=token,
                             number=pr.number)
    return _result(req, bad, restored=restored, blocked=True, noop=False, attempts=1,
                   commit=commit, pr_url=pr.url)


def _result(req: RevertRequest, bad: ImageRef, *, restored: Verified | None, blocked: bool,
            noop: bool, attempts: int, commit: str | None = None, pr_url: str | None = None
            ) -> RevertResult:
    assert bad.digest is not None
    return RevertResult(action=req.action, env=req.env, service=req.service, noop=noop,
                        bad_tag=bad.tag, bad_digest=bad.digest,
                        restored_tag=restored.tag if restored else None,
                        restored_digest=restored.digest if restored else None,
                        restored_from=restored.commit if restored else None, blocked=blocked,
                        commit=commit, pr_url=pr_url, attempts=attempts)
