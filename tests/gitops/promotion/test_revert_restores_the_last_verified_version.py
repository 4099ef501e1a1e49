"""revert, block, unblock against the real git server: the last verified version is found across
a history of failed, unverified, superseded and blocked promotions; the bad digest is blocked and
promote refuses it; every change is one commit with trailers; re-runs change nothing; a crash at any
step leaves the remote as it was; concurrent promotions are never lost."""

from __future__ import annotations

import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor

import pytest
import yaml

from gitops.governance import trailers
from gitops.cli import main
from gitops.errors import DigestBlocked, GitError, NothingVerified, NoVerifiedVersion, ValuesError
from gitops.clients.git import GitClient, GitRunner
from gitops.clients.revisions import HistoryClient
from gitops.promotion.promote import PromoteRequest, promote
from gitops.promotion.revert import RevertRequest, revert
from tests.gitops.conftest import seed_files, values_yaml
from sandbox.github_api import FakeGitHub

VALUES = "envs/staging/api/values.yaml"
BLOCKLIST = "envs/staging/blocklist.yaml"


def digest(n: int) -> str:
    return "sha256:" + f"{n:x}" * 64 if n < 16 else "sha256:" + f"{n:02x}" * 32


def set_version(repo, n: int, env: str = "staging", service: str = "api") -> str:
    return repo.commit({f"envs/{env}/{service}/values.yaml": values_yaml(service, f"v{n}", digest(n))},
                       f"promote({env}/{service}): v{n}")


class Statuses:
    """Verification statuses by commit, as verify writes them on GitHub."""

    def __init__(self) -> None:
        self.by_sha: dict[str, dict[str, str]] = {}

    def set(self, sha: str, **regions: str) -> None:
        self.by_sha[sha] = {f"delivery/staging/{r.replace('_', '-')}": s for r, s in regions.items()}

    def __call__(self, sha: str) -> dict[str, str]:
        return self.by_sha.get(sha, {})


def client(repo) -> HistoryClient:
    return HistoryClient(GitRunner(repo.token))


def request(repo, action: str = "revert", **kw) -> RevertRequest:
    return RevertRequest(repo_url=repo.url, env="staging", service="api", action=action,
                         reason=kw.pop("reason", "Degraded: readiness probe failing"),
                         execution_id=kw.pop("execution_id", "exec-42"), **kw)


def blocked(repo, env: str = "staging") -> list[dict]:
    text = repo.file(f"envs/{env}/blocklist.yaml")
    return yaml.safe_load(text)["blocked"] if text else []


@pytest.fixture
def history(gitops_repo):
    """v1 verified, v2 verified, v3 failed in one region, v4 never verified (superseded), v5 bad."""
    statuses = Statuses()
    shas = {n: set_version(gitops_repo, n) for n in range(1, 6)}
    gitops_repo.commit({"envs/staging/web/values.yaml": values_yaml("web", "w9")}, "web")
    statuses.set(shas[1], us_east_1="success", eu_west_1="success")
    statuses.set(shas[2], us_east_1="success", eu_west_1="success")
    statuses.set(shas[3], us_east_1="success", eu_west_1="failure")
    statuses.set(shas[5], us_east_1="failure")
    return gitops_repo, shas, statuses


def test_revert_restores_the_last_verified_version_and_blocks_the_bad_one(history) -> None:
    repo, shas, statuses = history
    result = revert(request(repo, revision=shas[5]), client(repo), states=statuses)
    assert (result.bad_tag, result.bad_digest) == ("v5", digest(5))
    assert (result.restored_tag, result.restored_digest, result.restored_from) == (
        "v2", digest(2), shas[2])
    assert repo.file(VALUES).decode() == values_yaml("api", "v2", digest(2))  # minimal edit
    assert blocked(repo) == [{"service": "api", "digest": digest(5), "tag": "v5",
                              "reason": "Degraded: readiness probe failing",
                              "execution": "exec-42"}]
    # one commit holding both changes, with the audit trailers
    assert repo.log()[0].split()[0] == result.commit
    assert set(subprocess.run(["git", "--git-dir", str(repo.bare), "show", "--name-only",
                               "--format=", result.commit], capture_output=True, text=True,
                              check=True).stdout.split()) == {VALUES, BLOCKLIST}
    found = trailers.parse(repo.show("%B"))
    assert {k: found[k] for k in (trailers.ACTION, trailers.SERVICE, trailers.ENVIRONMENT,
                                  trailers.TAG, trailers.DIGEST, trailers.PREVIOUS_DIGEST,
                                  trailers.EXECUTION, trailers.REASON)} == {
        trailers.ACTION: "revert", trailers.SERVICE: "api", trailers.ENVIRONMENT: "staging",
        trailers.TAG: "v2", trailers.DIGEST: digest(2), trailers.PREVIOUS_DIGEST: digest(5),
        trailers.EXECUTION: "exec-42", trailers.REASON: "Degraded: readiness probe failing"}


def test_a_blocked_version_is_passed_over(history) -> None:
    repo, shas, statuses = history
    revert(request(repo, "block", digest=digest(2), tag="v2"), client(repo))
    result = revert(request(repo), client(repo), states=statuses)  # bad: what runs now (v5)
    assert (result.restored_tag, result.restored_from) == ("v1", shas[1])


def test_versions_that_cannot_be_read_are_passed_over(gitops_repo) -> None:
    statuses = Statuses()
    good = set_version(gitops_repo, 1)
    statuses.set(good, us_east_1="success")
    gitops_repo.commit({VALUES: "image: [\n"}, "broken by hand")
    gitops_repo.commit({VALUES: values_yaml("api", "v2", digest(2)) + "image:\n  tag: v3\n"},
                       "a duplicated key")
    gitops_repo.commit({VALUES: values_yaml("api", "v4", digest(4)).encode() + b"# caf\xe9\n"},
                       "not UTF-8 in the file, nor in this message: caf\udce9")
    set_version(gitops_repo, 5)
    result = revert(request(gitops_repo), client(gitops_repo), states=statuses)
    assert (result.restored_tag, result.restored_from) == ("v1", good)


def test_revert_again_changes_nothing(history) -> None:
    repo, shas, statuses = history
    revert(request(repo, revision=shas[5]), client(repo), states=statuses)
    refs = repo.refs()
    again = revert(request(repo, revision=shas[5]), client(repo), states=statuses)
    assert again.noop and again.commit is None and repo.refs() == refs


def test_a_newer_promotion_is_kept_and_the_bad_digest_still_blocked(history) -> None:
    repo, shas, statuses = history
    newer = set_version(repo, 6)  # landed after v5 failed, before the revert ran
    result = revert(request(repo, revision=shas[5]), client(repo), states=statuses)
    assert result.restored_tag is None and result.commit
    assert repo.file(VALUES).decode() == values_yaml("api", "v6", digest(6))
    assert [e["digest"] for e in blocked(repo)] == [digest(5)]
    assert trailers.parse(repo.show("%B"))[trailers.ACTION] == "block"
    assert repo.log()[1].split()[0] == newer


def test_no_earlier_verified_version_blocks_and_says_so(gitops_repo) -> None:
    # v7 verified once (the environment ran it), then failed a later verification: it is the bad one.
    bad = set_version(gitops_repo, 7)
    statuses = Statuses()
    statuses.set(bad, us_east_1="success")
    with pytest.raises(NoVerifiedVersion, match="no earlier version of api passed verification") \
            as caught:
        revert(request(gitops_repo, revision=bad), client(gitops_repo), states=statuses)
    assert caught.value.exit_code == 13
    assert [e["digest"] for e in blocked(gitops_repo)] == [digest(7)]
    assert gitops_repo.file(VALUES).decode() == values_yaml("api", "v7", digest(7))


def test_without_any_version_ever_verified_revert_changes_nothing(gitops_repo, token_env, capsys) -> None:
    # The first day: every verify times out while Argo CD is being installed. No version was ever
    # verified in the environment, so the timeout is no evidence against the release.
    bad = set_version(gitops_repo, 7)
    statuses = Statuses()
    statuses.set(bad, us_east_1="failure")
    head = gitops_repo.refs()["refs/heads/main"]
    with pytest.raises(NothingVerified, match="no version of api ever passed verification in staging within the "
                                              "last 200 changes of envs/staging/api/values.yaml; nothing is "
                                              "blocked or rewritten") as caught:
        revert(request(gitops_repo, revision=bad), client(gitops_repo), states=statuses)
    assert caught.value.exit_code == 20
    assert "gitops block --env staging --service api --digest " + digest(7) in str(caught.value)
    assert gitops_repo.refs()["refs/heads/main"] == head and blocked(gitops_repo) == []
    # The CLI (on a forge that is not GitHub there is no evidence at all): exit 20, nothing pushed.
    code = main(["revert", "--repo", gitops_repo.url, "--env", "staging", "--service", "api", "--revision", bad,
                 "--reason", "verify failed", "--token-env", token_env, "--mode", "pull-request"])
    assert code == 20 and "nothing is blocked or rewritten" in capsys.readouterr().err
    assert gitops_repo.refs() == {"refs/heads/main": head}


def test_on_a_forge_that_is_not_github_revert_has_no_evidence_and_changes_nothing(history) -> None:
    repo, shas, _ = history
    with pytest.raises(NothingVerified, match="verification results are GitHub commit statuses "
                                              "and 127.0.0.1 is not GitHub.*; nothing is blocked"):
        revert(request(repo, revision=shas[5]), client(repo))
    assert blocked(repo) == []


def test_revert_reads_the_statuses_verify_wrote_on_github(history, git_token, token_env,
                                                          capsys) -> None:
    repo, shas, statuses = history
    with FakeGitHub(token=git_token) as github:
        hub = github.add_repo(repo.url.removesuffix(".git").split("/", 3)[3])
        for sha, states in statuses.by_sha.items():
            for context, state in states.items():
                hub.statuses.setdefault(sha, []).append({"sha": sha, "state": state, "context": context, "id": 1,
                                                         "created_at": "2026-01-02T11:00:00Z"})
        code = main(["revert", "--repo", repo.url, "--env", "staging", "--service", "api",
                     "--revision", shas[5], "--reason", "verify failed", "--token-env",
                     token_env, "--github-api-url", github.api_url, "--output", "json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert '"restored_tag": "v2"' in out


def test_pull_request_mode_opens_an_auto_merged_revert(history, git_token) -> None:
    repo, shas, statuses = history
    main_before = repo.refs()["refs/heads/main"]
    with FakeGitHub(token=git_token) as github:
        hub = github.add_repo(repo.url.removesuffix(".git").split("/", 3)[3])
        result = revert(request(repo, revision=shas[5], mode="pull-request",
                                github_api_url=github.api_url), client(repo), token=git_token,
                        states=statuses)
        [pull] = hub.pulls.values()
    assert repo.refs()["refs/heads/main"] == main_before
    assert repo.file(VALUES, ref="revert/staging/api").decode() == values_yaml("api", "v2", digest(2))
    assert (pull.head, pull.auto_merge["merge_method"]) == ("revert/staging/api", "merge")
    assert result.pr_url.endswith(f"/pull/{pull.number}") and "Restore v2" in pull.body


# --- block, unblock, and promote refusing ----------------------------------------------------------

def test_promote_refuses_a_digest_blocked_in_any_environment(gitops_repo) -> None:
    revert(request(gitops_repo, "block", digest=digest(9), tag="v9"), client(gitops_repo))
    git = GitClient(GitRunner(gitops_repo.token))
    for env in ("staging", "prod"):
        with pytest.raises(DigestBlocked, match=r"api v9 \(sha256:9{64}\) is blocked in staging: "
                                                "Degraded.*exec-42.*gitops unblock") as caught:
            promote(PromoteRequest(repo_url=gitops_repo.url, env=env, service="api", tag="v9",
                                   digest=digest(9)), git)
        assert caught.value.exit_code == 14
    # by tag alone too; another service with the same digest is not this image
    with pytest.raises(DigestBlocked):
        promote(PromoteRequest(repo_url=gitops_repo.url, env="prod", service="api", tag="v9"), git)
    assert promote(PromoteRequest(repo_url=gitops_repo.url, env="prod", service="web", tag="v9",
                                  digest=digest(9)), git).commit


def test_unblock_lifts_it_with_a_reason(gitops_repo) -> None:
    history = client(gitops_repo)
    revert(request(gitops_repo, "block", digest=digest(9)), history)
    result = revert(request(gitops_repo, "unblock", digest=digest(9),
                            reason="false alarm: the probe was misconfigured"), history)
    assert result.commit and blocked(gitops_repo) == []
    found = trailers.parse(gitops_repo.show("%B"))
    assert (found[trailers.ACTION], found[trailers.REASON]) == (
        "unblock", "false alarm: the probe was misconfigured")
    assert revert(request(gitops_repo, "unblock", digest=digest(9)), history).noop
    assert promote(PromoteRequest(repo_url=gitops_repo.url, env="staging", service="api",
                                  tag="v9", digest=digest(9)), GitClient(history.runner)).commit


def test_a_block_list_not_in_its_shape_stops_promote(gitops_repo) -> None:
    gitops_repo.commit({BLOCKLIST: "blocked: {api: yes}\n"}, "hand edit")
    with pytest.raises(ValuesError, match="envs/staging/blocklist.yaml is not a block list"):
        promote(PromoteRequest(repo_url=gitops_repo.url, env="prod", service="api", tag="v2"),
                GitClient(GitRunner(gitops_repo.token)))


@pytest.mark.parametrize("written", [
    "SHA256:" + "AB" * 32,              # upper case
    "'sha256:" + "ab" * 32 + " '",      # a trailing space
    "ab" * 32,                          # no sha256: prefix
    "' Sha256:" + "aB" * 32 + "'",
])
def test_a_hand_written_block_list_entry_still_blocks_its_digest(gitops_repo, written) -> None:
    gitops_repo.commit({BLOCKLIST: f"blocked:\n  - service: ' api'\n    digest: {written}\n"
                                   "    reason: CVE-2026-1\n"}, "block by hand")
    with pytest.raises(DigestBlocked, match="is blocked in staging: CVE-2026-1"):
        promote(PromoteRequest(repo_url=gitops_repo.url, env="prod", service="api", tag="v2",
                               digest="sha256:" + "ab" * 32), GitClient(GitRunner(gitops_repo.token)))


@pytest.mark.parametrize(("field", "written"), [("digest", "sha256:abc"), ("digest", "latest"),
                                                 ("service", "API/../web")])
def test_a_block_list_entry_that_names_no_digest_or_service_stops_promote(gitops_repo, field, written):
    entry = {"service": "api", "digest": "sha256:" + "ab" * 32, field: written}
    gitops_repo.commit({BLOCKLIST: "blocked:\n  - " + "\n    ".join(f"{k}: '{v}'" for k, v in entry.items())
                                   + "\n    reason: CVE\n"}, "block by hand")
    with pytest.raises(ValuesError, match=f"envs/staging/blocklist.yaml: {field + ' ' if field == 'service' else ''}'"):
        promote(PromoteRequest(repo_url=gitops_repo.url, env="prod", service="api", tag="v2"),
                GitClient(GitRunner(gitops_repo.token)))


@pytest.mark.parametrize("argv,message", [
    (["revert", "--reason", ""], "--reason must be one line"),
    (["revert", "--reason", "x", "--revision", "HEAD"], "is not a commit sha"),
    (["block", "--reason", "x", "--digest", "sha256:abc"], "is not a valid image digest"),
    (["revert", "--reason", "x", "--env", "../prod"], "is not a DNS-1123 label"),
])
def test_bad_input_is_one_line_before_any_clone(argv, message, capsys) -> None:
    base = ["--repo", "http://127.0.0.1:9/none.git", "--service", "api"]
    if "--env" not in argv:
        base += ["--env", "staging"]
    assert main([*argv, *base]) == 2
    assert message in capsys.readouterr().err


# --- crashes and concurrency ---------------------------------------------------------------------

class _Killed(BaseException):
    """The process dying: not an Exception, so no handler catches it."""


class _DyingClient(HistoryClient):
    def __init__(self, token: str, step: str) -> None:
        super().__init__(GitRunner(token))
        self.step = step

    def clone_history(self, url, dest):
        super().clone_history(url, dest)
        if self.step == "after reading history":
            raise _Killed

    def add(self, workdir, paths):
        if self.step == "after edit":
            raise _Killed
        super().add(workdir, paths)

    def commit(self, workdir, paths, message, author):
        sha = super().commit(workdir, paths, message, author)
        if self.step == "after commit":
            raise _Killed
        return sha


@pytest.mark.parametrize("step", ["after reading history", "after edit", "after commit"])
def test_dying_before_the_push_leaves_the_remote_as_it_was(history, step, tmp_path, monkeypatch):
    repo, shas, statuses = history
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    refs = repo.refs()
    with pytest.raises(_Killed):
        revert(request(repo, revision=shas[5]), _DyingClient(repo.token, step), states=statuses)
    assert repo.refs() == refs
    assert list(scratch.iterdir()) == []
    subprocess.run(["git", "--git-dir", str(repo.bare), "fsck", "--strict"], check=True,
                   capture_output=True)
    assert revert(request(repo, revision=shas[5]), client(repo), states=statuses).restored_tag == "v2"


def test_connection_cut_mid_push_leaves_the_remote_as_it_was(history) -> None:
    repo, shas, statuses = history
    refs = repo.refs()
    repo.server.on_receive_pack = lambda body: body[: len(body) // 2]
    with pytest.raises(GitError, match="git push failed"):
        revert(request(repo, revision=shas[5]), client(repo), states=statuses, sleep=lambda s: None)
    assert repo.refs() == refs


def test_revert_racing_promotions_loses_none(make_gitops_repo) -> None:
    services = ("api",) + tuple(f"svc{i}" for i in range(8))
    repo = make_gitops_repo(seed_files(services, ("staging", "prod")))
    statuses = Statuses()
    good = set_version(repo, 1)
    statuses.set(good, us_east_1="success")
    bad = set_version(repo, 2)

    def run(job: str):
        if job == "revert":
            return revert(request(repo, revision=bad), client(repo), states=statuses)
        return promote(PromoteRequest(repo_url=repo.url, env="staging", service=job,
                                      tag="2.0.0"), GitClient(GitRunner(repo.token)))

    with ThreadPoolExecutor(max_workers=len(services)) as pool:
        results = list(pool.map(run, ["revert", *services[1:]]))
    assert results[0].restored_tag == "v1"
    assert repo.file(VALUES).decode() == values_yaml("api", "v1", digest(1))
    for service in services[1:]:
        assert repo.file(f"envs/staging/{service}/values.yaml").decode() == \
            values_yaml(service, "2.0.0", "")
    assert [e["digest"] for e in blocked(repo)] == [digest(2)]
    merges = subprocess.run(["git", "--git-dir", str(repo.bare), "rev-list", "--merges", "main"],
                            capture_output=True, text=True, check=True).stdout
    assert merges == ""


def test_a_promotion_of_the_same_service_racing_the_revert_is_kept_or_wins(make_gitops_repo):
    repo = make_gitops_repo()
    statuses = Statuses()
    statuses.set(set_version(repo, 1), us_east_1="success")
    bad = set_version(repo, 2)
    with ThreadPoolExecutor(max_workers=2) as pool:
        reverted = pool.submit(revert, request(repo, revision=bad), client(repo), states=statuses)
        promoted = pool.submit(promote, PromoteRequest(repo_url=repo.url, env="staging",
                                                       service="api", tag="v3", digest=digest(3)),
                               GitClient(GitRunner(repo.token)))
        reverted.result(), promoted.result()
    # Whatever the order: the new promotion is what runs, and v2 is blocked.
    assert repo.file(VALUES).decode() == values_yaml("api", "v3", digest(3))
    assert [e["digest"] for e in blocked(repo)] == [digest(2)]
