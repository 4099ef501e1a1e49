"""Proof that the upstream environment ran a version well: what a promotion into the environment
after it requires (`gitops proof`, which a promote pipeline's Resolve step runs before anyone is
asked to approve, and `gitops promote --from ENV` / `--proof-from ENV`, checked again at Promote).

The record is the one verify writes and revert reads (gitops.verification.report): the commit
status `delivery/<upstream>/<region>` on the GitOps commit verify checked. A version is **proven**
in the upstream when

* the upstream's values carry it: of the last HISTORY commits changing
  `envs/<upstream>/<service>/values.yaml` on the branch's first-parent line, those whose file sets
  this tag and digest are its candidates (the promotion, and later commits keeping it);
* in every required region, the newest candidate with a status of that region says `success` (a
  later verification of the version decides over an older one). Required are the regions named
  (`source.upstreamRegions`, `--upstream-regions`) and every region that reported at all: a
  `pending` status is a verification still running, `failure` or `error` one that failed;
* with a soak (`promotion.soakMinutes`, `--soak-minutes`: Kargo's requiredSoakTime), the newest of
  those success statuses is at least that old;
* its digest is on no environment's block list: a revert or a block revokes the proof (promote
  reads the block lists at the head it pushes onto, `gitops proof` at the branch's head).

Anything else is NotProven (exit 19), naming every region that lacks proof and why, or how long the
soak still runs. The statuses are GitHub's; elsewhere nothing can prove a version, and the
refusal says so. An emergency promotion skips the check with `--skip-proof --reason`, recorded in
the commit's trailers.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from typing import TYPE_CHECKING

from gitops.clients.git import GitClient
from gitops.clients.revisions import HistoryClient
from gitops.errors import NotProven
from gitops.governance import blocklist
from gitops.promotion.soak import soak_left
from gitops.repo import layout
from gitops.repo.values import parse_image

if TYPE_CHECKING:
    # The statuses' module imports GitHub's client, a sixth of a second the Pulumi program (which
    # reads MAX_SOAK_MINUTES) must not pay: imported where statuses are read.
    from gitops.verification.report import CommitStatus

# Changes of the upstream's values file read back to find the commits that set the version.
HISTORY = 200

# sha -> {status context: the latest status of that context on the commit}
Statuses = Callable[[str], "dict[str, CommitStatus]"]


@dataclass(frozen=True)
class ProofRequest:
    repo_url: str
    upstream: str
    service: str
    tag: str
    digest: str
    branch: str = "main"
    regions: tuple[str, ...] = ()       # required, besides every region that reported
    soak: timedelta = timedelta(0)
    github_api_url: str | None = None


@dataclass(frozen=True)
class RegionProof:
    region: str
    commit: str          # the upstream commit whose status proves it
    at: datetime         # when that success status was set


@dataclass(frozen=True)
class Proof:
    upstream: str
    regions: tuple[RegionProof, ...]

    @property
    def newest(self) -> datetime:
        return max(proof.at for proof in self.regions)


def github_statuses(req: ProofRequest, token: str | None) -> Statuses:
    """The statuses verify wrote, read from GitHub; on another forge, NotProven saying why."""
    from gitops.verification.report import GitHubRepository

    forge = GitHubRepository.at(req.repo_url, req.github_api_url, token)
    if isinstance(forge, str):
        raise NotProven(f"{req.service} {req.tag} cannot be proven in {req.upstream}: its verifications are "
                        f"GitHub commit statuses and {forge}; promote with --skip-proof --reason to go on")
    return lambda sha: forge.verification_statuses(sha, req.upstream)


def prove(req: ProofRequest, git: GitClient, statuses: Statuses, *, now: datetime | None = None) -> Proof:
    """The proof of `req`'s version at the branch's head: its block lists, then its history and the
    upstream's statuses. Raises DigestBlocked or NotProven."""
    with tempfile.TemporaryDirectory(prefix="gitops-proof-") as tmp:
        workdir, history = Path(tmp) / "repo", Path(tmp) / "history.git"
        git.clone_sparse(req.repo_url, req.branch, workdir, ["/" + layout.BLOCKLIST_GLOB])
        blocklist.refuse_blocked(git, workdir, req.service, req.tag, req.digest)
        history_client = HistoryClient(git.runner)
        history_client.clone_history(req.repo_url, history)
        return check(req, history_client, history, statuses, now or datetime.now(UTC))


def check(req: ProofRequest, git: HistoryClient, history: Path, statuses: Statuses, now: datetime) -> Proof:
    """The proof of `req`'s version in the bare clone `history` and the upstream's statuses;
    NotProven naming what is missing. (Block lists are the caller's: promote reads them at the
    head it pushes onto.)"""
    what = f"{req.service} {req.tag} ({req.digest})"
    path = layout.values_file(req.upstream, req.service)
    candidates = [entry.sha for entry in git.first_parent_log(history, f"refs/heads/{req.branch}", [path], HISTORY)
                  if _sets_version(git, history, entry.sha, path, req)]
    if not candidates:
        raise NotProven(f"{req.upstream} never ran {what} within the last {HISTORY} changes of {path}: nothing "
                        f"proves it; promote it to {req.upstream} first")
    decided = _latest_by_region(candidates, statuses, req.upstream)
    required = sorted(set(req.regions) | set(decided))
    if not required:
        raise NotProven(f"{what} is not proven in {req.upstream}: no region reported a verification of it (no "
                        f"delivery/{req.upstream}/<region> status); wait for {req.upstream}'s verify")
    lacking = [_lack(region, decided.get(region)) for region in required
               if region not in decided or decided[region][1].state != "success"]
    if lacking:
        raise NotProven(f"{what} is not proven in {req.upstream}: {'; '.join(lacking)}")
    proof = Proof(req.upstream, tuple(RegionProof(region, decided[region][0], decided[region][1].at)
                                      for region in required))
    left = soak_left(proof.newest, req.soak, now)
    if left is not None:
        raise NotProven(f"{what} is proven in {req.upstream} and soaking: {_duration(left)} more, until "
                        f"{(now + left).astimezone(UTC):%Y-%m-%d %H:%M} UTC ({_duration(req.soak)} after its last "
                        f"verification); promote it after that")
    return proof


def _sets_version(git: HistoryClient, history: Path, sha: str, path: str, req: ProofRequest) -> bool:
    text = git.read_file(history, sha, path)
    if text is None:
        return False
    image = parse_image(text, f"{path} at {sha[:12]}")
    return image.tag == req.tag and image.digest == req.digest


def _latest_by_region(candidates: list[str], statuses: Statuses, upstream: str
                      ) -> dict[str, tuple[str, CommitStatus]]:
    """Per region, the status of the newest candidate (newest first) that has one."""
    from gitops.verification.report import status_prefix

    prefix = status_prefix(upstream)
    decided: dict[str, tuple[str, CommitStatus]] = {}
    for sha in candidates:
        for context, status in statuses(sha).items():
            if context.startswith(prefix):
                decided.setdefault(context.removeprefix(prefix), (sha, status))
    return decided


def _lack(region: str, found: tuple[str, CommitStatus] | None) -> str:
    if found is None:
        return f"{region}: no verification reported"
    sha, status = found
    state = "still verifying" if status.state == "pending" else f"verification {status.state}"
    return f"{region}: {state} at {sha[:12]}" + (f" ({status.description})" if status.description else "")


def _duration(delta: timedelta) -> str:
    minutes = -(-int(delta.total_seconds()) // 60)
    hours, minutes = divmod(max(minutes, 1), 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m"
