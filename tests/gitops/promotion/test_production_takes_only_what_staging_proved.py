"""Proof from the upstream: a version is promoted into the next environment only when every
upstream region that runs it reported a verification success for exactly that digest (and the
soak, when asked for, is over); anything else refuses with exit 19 naming what is missing. Against
the real git server, with statuses as verify writes them (and through the CLI, on the GitHub
fake)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from gitops.cli import main
from gitops.clients.git import GitClient, GitRunner
from gitops.errors import DigestBlocked, NotProven
from gitops.governance import trailers
from gitops.promotion.proof import ProofRequest, prove
from gitops.verification.report import CommitStatus
from sandbox.github_api import FakeGitHub
from tests.gitops.conftest import values_yaml

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


def digest(n: int) -> str:
    return "sha256:" + f"{n:x}" * 64


def set_version(repo, n: int, env: str = "staging", replicas: int = 2) -> str:
    text = values_yaml("api", f"v{n}", digest(n)).replace("replicaCount: 2", f"replicaCount: {replicas}")
    return repo.commit({f"envs/{env}/api/values.yaml": text}, f"promote({env}/api): v{n}")


class Statuses:
    """Statuses by commit, as verify writes them: `set(sha, us_east_1=("success", minutes ago))`."""

    def __init__(self) -> None:
        self.by_sha: dict[str, dict[str, CommitStatus]] = {}
        self.asked: list[str] = []

    def set(self, sha: str, description: str = "", **regions: tuple[str, int]) -> None:
        self.by_sha.setdefault(sha, {}).update({
            f"delivery/staging/{region.replace('_', '-')}": CommitStatus(state, NOW - timedelta(minutes=ago), description)
            for region, (state, ago) in regions.items()})

    def __call__(self, sha: str) -> dict[str, CommitStatus]:
        self.asked.append(sha)
        return self.by_sha.get(sha, {})


def check(repo, statuses, n: int = 5, **kw):
    req = ProofRequest(repo_url=repo.url, upstream="staging", service="api", tag=f"v{n}", digest=digest(n), **kw)
    return prove(req, GitClient(GitRunner(repo.token)), statuses, now=NOW)


def refusal(repo, statuses, n: int = 5, **kw) -> str:
    with pytest.raises(NotProven) as caught:
        check(repo, statuses, n, **kw)
    assert caught.value.exit_code == 19
    return str(caught.value)


def test_a_version_staging_never_ran_is_not_proven(gitops_repo):
    set_version(gitops_repo, 4)
    assert refusal(gitops_repo, Statuses()) == (
        f"staging never ran api v5 ({digest(5)}) within the last 200 changes of envs/staging/api/values.yaml: "
        "nothing proves it; promote it to staging first")


def test_before_any_region_reports_it_is_not_proven(gitops_repo):
    set_version(gitops_repo, 5)
    assert "no region reported a verification of it (no delivery/staging/<region> status)" in \
        refusal(gitops_repo, Statuses())


def test_a_verification_still_running_or_failed_names_the_region(gitops_repo):
    sha = set_version(gitops_repo, 5)
    statuses = Statuses()
    statuses.set(sha, us_east_1=("pending", 3))
    assert refusal(gitops_repo, statuses).endswith(f"is not proven in staging: us-east-1: still verifying at {sha[:12]}")
    statuses.set(sha, description="api v5: Degraded", us_east_1=("success", 1), eu_west_1=("failure", 1))
    assert refusal(gitops_repo, statuses).endswith(
        f"eu-west-1: verification failure at {sha[:12]} (api v5: Degraded)")


def test_every_required_region_must_prove_it(gitops_repo):
    sha = set_version(gitops_repo, 5)
    statuses = Statuses()
    statuses.set(sha, us_east_1=("success", 30))
    # eu-west-1 runs the service too (source.upstreamRegions) but has not reported yet.
    assert refusal(gitops_repo, statuses, regions=("eu-west-1", "us-east-1")).endswith(
        "is not proven in staging: eu-west-1: no verification reported")
    proof = check(gitops_repo, statuses, regions=("us-east-1",))
    assert [(p.region, p.commit, p.at) for p in proof.regions] == [("us-east-1", sha, NOW - timedelta(minutes=30))]


def test_the_newest_verification_of_the_version_decides(gitops_repo):
    first = set_version(gitops_repo, 5)
    later = set_version(gitops_repo, 5, replicas=4)   # same image, values changed: verified again
    statuses = Statuses()
    statuses.set(first, us_east_1=("success", 60))
    statuses.set(later, us_east_1=("failure", 5))
    assert f"us-east-1: verification failure at {later[:12]}" in refusal(gitops_repo, statuses)
    statuses.set(later, us_east_1=("success", 5))
    assert check(gitops_repo, statuses).regions[0].commit == later
    # An older image's statuses are never read as this one's proof.
    set_version(gitops_repo, 6)
    assert first in statuses.asked and all(sha in (first, later) for sha in statuses.asked)


def test_the_soak_counts_from_the_newest_proof(gitops_repo):
    sha = set_version(gitops_repo, 5)
    statuses = Statuses()
    statuses.set(sha, us_east_1=("success", 50), eu_west_1=("success", 10))
    assert refusal(gitops_repo, statuses, soak=timedelta(minutes=60)) == (
        f"api v5 ({digest(5)}) is proven in staging and soaking: 50m more, until 2026-12-06 12:50 UTC (1h00m after "
        "its last verification); promote it after that")
    assert check(gitops_repo, statuses, soak=timedelta(minutes=10)).newest == NOW - timedelta(minutes=10)


def test_a_revert_or_block_revokes_the_proof(gitops_repo):
    sha = set_version(gitops_repo, 5)
    statuses = Statuses()
    statuses.set(sha, us_east_1=("success", 60))
    gitops_repo.commit({"envs/staging/blocklist.yaml": "blocked:\n- service: api\n  digest: " + digest(5)
                        + "\n  tag: v5\n  reason: verify failed in us-east-1\n"}, "block(staging/api): v5")
    with pytest.raises(DigestBlocked, match="blocked in staging: verify failed in us-east-1"):
        check(gitops_repo, statuses)


# --- The CLI: `gitops proof`, and promote checking it again ---------------------------------------

def _github_statuses(hub, sha: str, **regions: str) -> None:
    for region, state in regions.items():
        hub.statuses.setdefault(sha, []).append({
            "id": len(hub.statuses) + 1, "sha": sha, "state": state, "context": f"delivery/staging/{region}",
            "description": f"api v5: {state}", "target_url": None,
            "created_at": "2026-01-02T11:00:00Z", "updated_at": "2026-01-02T11:00:00Z"})


def test_the_cli_refuses_an_unproven_image_and_promote_checks_it_again(gitops_repo, git_token, token_env, capsys):
    sha = set_version(gitops_repo, 5)
    common = ["--repo", gitops_repo.url, "--token-env", token_env]
    with FakeGitHub(token=git_token) as github:
        hub = github.add_repo(gitops_repo.url.removesuffix(".git").split("/", 3)[3])
        _github_statuses(hub, sha, **{"us-east-1": "pending"})
        api = ["--github-api-url", github.api_url]
        code = main(["proof", *common, *api, "--from", "staging", "--service", "api", "--tag", "v5",
                     "--digest", digest(5), "--upstream-regions", "us-east-1"])
        assert code == 19 and "us-east-1: still verifying" in capsys.readouterr().err
        code = main(["promote", *common, *api, "--env", "prod", "--service", "api", "--from", "staging"])
        assert code == 19 and "us-east-1: still verifying" in capsys.readouterr().err
        assert gitops_repo.file("envs/prod/api/values.yaml").decode() == values_yaml("api", "1.0.0", "sha256:" + "a" * 64)

        _github_statuses(hub, sha, **{"us-east-1": "success"})
        code = main(["proof", *common, *api, "--from", "staging", "--service", "api", "--tag", "v5",
                     "--digest", digest(5), "--output", "json"])
        out = json.loads(capsys.readouterr().out)
        assert code == 0 and out["regions"] == [{"region": "us-east-1", "commit": sha, "at": "2026-01-02T11:00:00+00:00"}]
        code = main(["promote", *common, *api, "--env", "prod", "--service", "api", "--from", "staging"])
        assert code == 0, capsys.readouterr().err
    assert "tag: \"v5\"" in gitops_repo.file("envs/prod/api/values.yaml").decode()


def test_skip_proof_is_an_audited_emergency(gitops_repo, token_env, capsys):
    set_version(gitops_repo, 5)
    common = ["promote", "--repo", gitops_repo.url, "--token-env", token_env, "--env", "prod", "--service", "api",
              "--from", "staging"]
    assert main([*common, "--skip-proof"]) == 2
    assert "--skip-proof needs --reason" in capsys.readouterr().err
    assert main([*common, "--skip-proof", "--reason", "hotfix INC-42, staging verify broken"]) == 0
    said = trailers.parse(gitops_repo.show("%B"))
    assert (said[trailers.SKIP_PROOF], said[trailers.REASON]) == ("true", "hotfix INC-42, staging verify broken")
    capsys.readouterr()
    assert main(["history", "--repo", gitops_repo.url, "--token-env", token_env, "--env", "prod", "--output",
                 "json"]) == 0
    (change,) = [c for c in json.loads(capsys.readouterr().out) if c["action"] == "promote"]
    assert change["skip_proof"] is True and change["reason"] == "hotfix INC-42, staging verify broken"
