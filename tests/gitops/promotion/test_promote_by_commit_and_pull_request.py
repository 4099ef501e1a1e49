"""promote against the real smart-HTTP git server: commit and pull-request modes, --from,
idempotence, push retries, bad input failing closed with the remote untouched, CLI output."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from gitops.cli import main
from gitops.errors import PushConflictError
from gitops.clients.git import GitClient, GitRunner
from gitops.promotion.promote import PromoteRequest, promote
from gitops.clients.push import BACKOFF_BASE_S
from tests.gitops.conftest import DIGEST_A, DIGEST_B, values_yaml
from sandbox.github_api import FakeGitHub

STAGING_API = "envs/staging/api/values.yaml"
PROD_API = "envs/prod/api/values.yaml"


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _promote_cli(capsys, repo, token_env, *extra: str) -> tuple[int, str, str]:
    return _run(capsys, "promote", "--repo", repo.url, "--token-env", token_env, *extra)


def test_commit_mode_edits_only_the_tag_and_digest(gitops_repo, token_env, capsys):
    before = {path: gitops_repo.file(path) for path in (PROD_API, "envs/staging/web/values.yaml")}
    code, out, err = _promote_cli(
        capsys, gitops_repo, token_env, "--env", "staging", "--service", "api", "--tag", "1.2.4",
        "--digest", DIGEST_B, "--source-commit", "0123abcd", "--execution-id", "exec-42",
        "--output", "json")
    assert code == 0, err
    result = json.loads(out)
    head = gitops_repo.refs()["refs/heads/main"]
    assert result == {"noop": False, "action": "committed", "env": "staging", "service": "api",
                      "old_tag": "1.0.0", "new_tag": "1.2.4", "old_digest": DIGEST_A,
                      "digest": DIGEST_B, "commit": head, "pr_number": None, "pr_url": None,
                      "attempts": 1, "revision": head, "push": "pushed", "auto_merge": None,
                      "approved_by": None}
    expected = values_yaml("api", "1.2.4", DIGEST_B).encode()
    assert gitops_repo.file(STAGING_API) == expected
    assert {path: gitops_repo.file(path) for path in before} == before
    assert gitops_repo.show("%an <%ae>|%B") == (
        "delivery-pipeline[bot] <delivery-pipeline-bot@noreply.invalid>|"
        "promote(staging/api): 1.0.0 → 1.2.4\n\nSet image.tag of api in staging to 1.2.4.\n\n"
        "Delivery-Action: promote\nDelivery-Service: api\nDelivery-Environment: staging\n"
        f"Image-Tag: 1.2.4\nImage-Digest: {DIGEST_B}\nPrevious-Digest: {DIGEST_A}\n"
        "Source-Commit: 0123abcd\nPipeline-Execution: exec-42\n\n")


def test_the_source_commit_time_is_recorded_and_dora_measures_the_lead_time_from_it(gitops_repo, token_env, capsys):
    code, out, err = _promote_cli(
        capsys, gitops_repo, token_env, "--env", "staging", "--service", "api", "--tag", "1.2.4",
        "--digest", DIGEST_B, "--source-commit", "0123abcd", "--source-commit-time", "2020-01-01T00:00:00Z")
    assert code == 0, err
    assert "Source-Commit: 0123abcd\nSource-Commit-Time: 2020-01-01T00:00:00Z\n" in gitops_repo.show("%B")
    code, out, err = _run(capsys, "dora", "--repo", gitops_repo.url, "--token-env", token_env, "--env", "staging",
                          "--since", "2000-01-01", "--output", "json")
    assert code == 0, err
    overall = json.loads(out)["overall"]
    assert overall["lead_time_samples"] == 1 and overall["lead_time_median_h"] > 24 * 365 * 6, overall


def _staging_promotion(repo, tag: str, digest: str, source: str | None, when: str | None) -> None:
    message = (f"promote(staging/api): → {tag}\n\nDelivery-Action: promote\nDelivery-Service: api\n"
               f"Delivery-Environment: staging\nImage-Tag: {tag}\nImage-Digest: {digest}\n"
               + (f"Source-Commit: {source}\n" if source else "") + (f"Source-Commit-Time: {when}\n" if when else ""))
    repo.commit({STAGING_API: values_yaml("api", tag, digest)}, message)


def test_prod_takes_the_source_commit_and_time_from_the_staging_promotion_of_the_same_image(
        gitops_repo, token_env, capsys):
    _staging_promotion(gitops_repo, "2.0.0", DIGEST_B, "aaaa1111", "2026-11-30T08:00:00Z")
    # A later rebuild of the same tag (another digest) must not lend its source commit.
    _staging_promotion(gitops_repo, "2.0.0", DIGEST_A, "bbbb2222", "2026-11-30T09:00:00Z")
    for n in range(3):
        gitops_repo.commit({"envs/staging/web/values.yaml": values_yaml("web", f"9.9.{n}")}, "unrelated")
    code, out, err = _promote_cli(capsys, gitops_repo, token_env, "--env", "prod", "--service", "api",
                                  "--tag", "2.0.0", "--digest", DIGEST_B, "--source-from-env", "staging")
    assert code == 0, err
    message = gitops_repo.show("%B")
    assert "Source-Commit: aaaa1111\nSource-Commit-Time: 2026-11-30T08:00:00Z\n" in message, message
    assert "note:" not in err


def test_prod_promotes_without_a_source_commit_when_staging_recorded_none_and_says_so(
        gitops_repo, token_env, capsys):
    _staging_promotion(gitops_repo, "2.0.0", DIGEST_B, None, None)
    code, out, err = _promote_cli(capsys, gitops_repo, token_env, "--env", "prod", "--service", "api",
                                  "--tag", "2.0.0", "--digest", DIGEST_B, "--source-from-env", "staging")
    assert code == 0, err
    assert "Source-Commit" not in gitops_repo.show("%B")
    assert err.startswith("note: no source commit recorded for 2.0.0") and "envs/staging/api/values.yaml" in err


def test_promoting_the_current_tag_is_a_noop(gitops_repo, token_env, capsys):
    refs = gitops_repo.refs()
    code, out, _ = _promote_cli(capsys, gitops_repo, token_env, "--env", "staging",
                                "--service", "api", "--tag", "1.0.0", "--digest", DIGEST_A)
    assert code == 0
    assert out.startswith("no-op: staging/api is already at 1.0.0")
    assert gitops_repo.refs() == refs
    code, out, _ = _promote_cli(capsys, gitops_repo, token_env, "--env", "staging",
                                "--service", "api", "--tag", "1.0.0", "--output", "json")
    assert json.loads(out)["noop"] is True and json.loads(out)["commit"] is None
    # Nothing to commit, but the head that already carries the tag is what Verify waits for.
    assert json.loads(out)["revision"] == refs["refs/heads/main"]
    assert gitops_repo.refs() == refs


def test_text_output_and_custom_author(gitops_repo, token_env, capsys):
    code, out, _ = _promote_cli(capsys, gitops_repo, token_env, "--env", "prod", "--service",
                                "web", "--tag", "2.0.0", "--author", "Release Bot <rel@example.invalid>")
    assert code == 0
    assert re.fullmatch(r"prod/web: 1\.0\.0 → 2\.0\.0 committed as [0-9a-f]{40} on main\n", out)
    assert gitops_repo.log(fmt="%an <%ae> / %cn <%ce>")[0] == \
        "Release Bot <rel@example.invalid> / Release Bot <rel@example.invalid>"


def test_tag_without_digest_clears_the_stale_digest(gitops_repo, token_env, capsys):
    code, _, _ = _promote_cli(capsys, gitops_repo, token_env, "--env", "staging",
                              "--service", "api", "--tag", "1.1.0")
    assert code == 0
    assert gitops_repo.file(STAGING_API) == values_yaml("api", "1.1.0", "").encode()


def test_from_takes_tag_and_digest_of_the_other_environment(gitops_repo, token_env, capsys):
    gitops_repo.commit({STAGING_API: values_yaml("api", "3.1.4", DIGEST_B)}, "staging moved")
    # (No forge records staging's verifications here: the proof, tested on its own, is skipped.)
    code, out, _ = _promote_cli(capsys, gitops_repo, token_env, "--env", "prod", "--service",
                                "api", "--from", "staging", "--skip-proof", "--reason", "no forge in this test",
                                "--output", "json")
    assert code == 0
    assert json.loads(out)["new_tag"] == "3.1.4" and json.loads(out)["digest"] == DIGEST_B
    assert gitops_repo.file(PROD_API) == values_yaml("api", "3.1.4", DIGEST_B).encode()
    assert "from staging" in gitops_repo.show("%B")


class _RacingClient(GitClient):
    """Lets another writer commit to the branch right before each of our first `races` pushes."""

    def __init__(self, repo, races: int, change) -> None:
        super().__init__(GitRunner(repo.token))
        self.repo, self.races, self.change, self.pushes = repo, races, change, 0

    def push(self, workdir: Path, branch: str, *, expected: str) -> str:
        self.pushes += 1
        if self.pushes <= self.races:
            self.repo.commit(*self.change(self.pushes))
        return super().push(workdir, branch, expected=expected)


def _request(env="staging", service="api", **kw) -> PromoteRequest:
    return PromoteRequest(repo_url=kw.pop("repo").url, env=env, service=service, **kw)


def test_rejected_push_is_retried_on_the_new_head(gitops_repo):
    other = "envs/prod/worker/values.yaml"
    git = _RacingClient(gitops_repo, 2, lambda n: ({other: values_yaml("worker", f"9.{n}")},
                                                   f"concurrent {n}"))
    delays: list[float] = []
    result = promote(_request(repo=gitops_repo, tag="1.5.0"), git, sleep=delays.append)
    assert result.attempts == 3 and not result.noop
    assert gitops_repo.refs()["refs/heads/main"] == result.commit
    assert gitops_repo.file(STAGING_API) == values_yaml("api", "1.5.0", "").encode()
    assert gitops_repo.file(other) == values_yaml("worker", "9.2").encode()
    assert [line.split(" ", 1)[1] for line in gitops_repo.log()[:3]] == [
        "promote(staging/api): 1.0.0 → 1.5.0", "concurrent 2", "concurrent 1"]
    # Full jitter: each wait is drawn below a cap that doubles.
    assert len(delays) == 2
    assert 0 <= delays[0] <= BACKOFF_BASE_S and 0 <= delays[1] <= 2 * BACKOFF_BASE_S


def test_retry_sees_a_concurrent_promotion_of_the_same_tag_as_a_noop(gitops_repo):
    git = _RacingClient(gitops_repo, 1, lambda n: ({STAGING_API: values_yaml("api", "1.5.0")},
                                                   "same promotion elsewhere"))
    result = promote(_request(repo=gitops_repo, tag="1.5.0"), git, sleep=lambda s: None)
    assert result.noop and result.attempts == 2 and result.commit is None
    assert result.revision == gitops_repo.refs()["refs/heads/main"]   # the other writer's commit
    assert gitops_repo.log()[0].endswith("same promotion elsewhere")


def test_push_conflict_after_max_attempts_changes_nothing_of_ours(gitops_repo, capsys,
                                                                  monkeypatch):
    other = "envs/prod/web/values.yaml"
    git = _RacingClient(gitops_repo, 99, lambda n: ({other: values_yaml("web", f"5.{n}")},
                                                    f"busy {n}"))
    delays: list[float] = []
    with pytest.raises(PushConflictError, match="rejected 3 times") as conflict:
        promote(_request(repo=gitops_repo, tag="1.6.0", max_attempts=3), git, sleep=delays.append)
    assert conflict.value.exit_code == 5
    assert git.pushes == 3 and len(delays) == 2
    assert gitops_repo.file(STAGING_API) == values_yaml("api", "1.0.0", DIGEST_A).encode()
    assert not any("promote(" in line for line in gitops_repo.log())


SCHEMA = json.dumps({"type": "object", "properties": {"image": {"type": "object", "properties": {
    "tag": {"type": "string", "pattern": "^v"}}}}})


def _bad_input_cases():
    """(id, extra argv, files to commit first, symlinks to commit first, exit code, message)"""
    base = ["--env", "staging", "--service", "api"]
    return [
        ("bad tag", [*base, "--tag=-rc1"], {}, {}, 2, "not a valid image tag"),
        ("tag too long", [*base, "--tag", "a" * 129], {}, {}, 2, "not a valid image tag"),
        ("bad digest", [*base, "--tag", "1", "--digest", "sha256:ABC"], {}, {}, 2,
         "not a valid image digest"),
        ("env escapes", ["--env", "..", "--service", "api", "--tag", "1"], {}, {}, 2,
         "not a DNS-1123 label"),
        ("service with slash", ["--env", "staging", "--service", "api/../../x", "--tag", "1"],
         {}, {}, 2, "not a DNS-1123 label"),
        ("absolute service", ["--env", "staging", "--service", "/etc", "--tag", "1"], {}, {}, 2,
         "not a DNS-1123 label"),
        ("from itself", [*base, "--from", "staging"], {}, {}, 2, "is the environment being"),
        ("from with digest", [*base, "--from", "prod", "--digest", DIGEST_B], {}, {}, 2,
         "--digest goes with --tag"),
        ("bad source commit", [*base, "--tag", "1", "--source-commit", "main; rm"], {}, {}, 2,
         "not a commit sha"),
        ("source time without offset", [*base, "--tag", "1", "--source-commit", "0123abcd",
                                        "--source-commit-time", "2026-12-01T09:30:00"], {}, {}, 2,
         "not an ISO 8601 time with an offset"),
        ("source time not a time", [*base, "--tag", "1", "--source-commit", "0123abcd",
                                    "--source-commit-time", "yesterday"], {}, {}, 2,
         "not an ISO 8601 time with an offset"),
        ("source time without commit", [*base, "--tag", "1", "--source-commit-time", "2026-12-01T09:30:00Z"],
         {}, {}, 2, "goes with --source-commit"),
        ("source from env without digest", [*base, "--tag", "1", "--source-from-env", "prod"], {}, {}, 2,
         "goes with --tag and --digest"),
        ("source from env and commit", [*base, "--tag", "1", "--digest", DIGEST_B, "--source-from-env", "prod",
                                        "--source-commit", "0123abcd"], {}, {}, 2, "without --source-commit"),
        ("source from itself", [*base, "--tag", "1", "--digest", DIGEST_B, "--source-from-env", "staging"],
         {}, {}, 2, "is the environment being promoted into"),
        ("source from env escapes", [*base, "--tag", "1", "--digest", DIGEST_B, "--source-from-env", ".."],
         {}, {}, 2, "not a DNS-1123 label"),
        ("bad author", [*base, "--tag", "1", "--author", "nobody"], {}, {}, 2, "Name <email>"),
        ("bad branch name", [*base, "--tag", "1", "--branch", "a..b"], {}, {}, 2,
         "not a valid branch name"),
        ("auto-merge in commit mode", [*base, "--tag", "1", "--auto-merge"], {}, {}, 2,
         "pull-request only"),
        ("missing branch", [*base, "--tag", "1", "--branch", "nope"], {}, {}, 4, "git clone failed"),
        ("missing service", ["--env", "staging", "--service", "billing", "--tag", "1"], {}, {}, 3,
         "envs/staging/billing does not exist on the branch (services in envs/staging: api, web, worker)"),
        ("malformed YAML", [*base, "--tag", "1"], {STAGING_API: "image: [\n"}, {}, 3,
         "values.yaml:2:1: did not find expected"),
        ("several documents", [*base, "--tag", "1"], {STAGING_API: "image: {tag: a}\n---\nx: 1\n"},
         {}, 3, "2 YAML documents"),
        ("list root", [*base, "--tag", "1"], {STAGING_API: "- 1\n"}, {}, 3, "not a mapping"),
        ("missing tag key", [*base, "--tag", "1"], {STAGING_API: "image: {repository: r}\n"}, {},
         3, "no image.tag"),
        ("from env missing tag", ["--env", "prod", "--service", "api", "--from", "staging"],
         {STAGING_API: "image: {repository: r, tag: ~}\n"}, {}, 3,
         "envs/staging/api/values.yaml has no image.tag"),
        ("from env with an invalid tag", ["--env", "prod", "--service", "api", "--from", "staging"],
         {STAGING_API: "image: {tag: 'a b'}\n"}, {}, 3, "image.tag 'a b' is not a valid image tag"),
        ("symlinked values file", [*base, "--tag", "1"], {STAGING_API: None},
         {STAGING_API: "../../prod/api/values.yaml"}, 3, "is a symlink"),
        ("symlinked service dir", ["--env", "staging", "--service", "evil", "--tag", "1"], {},
         {"envs/staging/evil": "../../.."}, 3, "envs/staging/evil is a symlink"),
        ("values path is a directory", [*base, "--tag", "1"],
         {STAGING_API: None, STAGING_API + "/x": "a: 1\n"}, {}, 3, "is not a file"),
        ("schema violation", [*base, "--tag", "1.2.3"],
         {"charts/api/values.schema.json": SCHEMA}, {}, 3, "values.schema.json"),
    ]


@pytest.mark.parametrize("case", _bad_input_cases(), ids=lambda c: c[0])
def test_bad_input_fails_closed_with_the_remote_untouched(gitops_repo, token_env, capsys, case):
    _, argv, files, symlinks, exit_code, message = case
    if files or symlinks:
        gitops_repo.commit(files, "set up the case", symlinks=symlinks)
    refs = gitops_repo.refs()
    code, out, err = _promote_cli(capsys, gitops_repo, token_env, *argv)
    assert (code, out) == (exit_code, "")
    assert err.startswith("error: ") and message in err, err
    assert gitops_repo.refs() == refs


def test_schema_accepting_the_new_values_lets_the_promotion_through(gitops_repo, token_env,
                                                                    capsys):
    gitops_repo.commit({"charts/api/values.schema.json": SCHEMA})
    code, _, err = _promote_cli(capsys, gitops_repo, token_env, "--env", "staging", "--service",
                                "api", "--tag", "v1.2.3")
    assert code == 0, err


def test_credentials_problems(gitops_repo, capsys, monkeypatch):
    refs = gitops_repo.refs()
    monkeypatch.delenv("NO_SUCH_TOKEN_VAR", raising=False)
    code, _, err = _run(capsys, "promote", "--repo", gitops_repo.url, "--token-env",
                        "NO_SUCH_TOKEN_VAR", "--env", "staging", "--service", "api", "--tag", "1")
    assert code == 7 and "NO_SUCH_TOKEN_VAR" in err
    url_with_token = gitops_repo.url.replace("http://", f"http://x:{gitops_repo.token}@")
    code, _, err = _run(capsys, "promote", "--repo", url_with_token, "--env", "staging",
                        "--service", "api", "--tag", "1")
    assert code == 2 and "holds credentials" in err and gitops_repo.token not in err
    code, _, err = _run(capsys, "promote", "--repo", gitops_repo.url, "--env", "staging",
                        "--service", "api", "--tag", "1")
    assert code == 4 and "--token-env" in err
    assert gitops_repo.refs() == refs


# --- pull-request mode ---------------------------------------------------------------------------

@pytest.fixture
def github(gitops_repo):
    """A fake GitHub API that knows the test repository and accepts the git server's token."""
    with FakeGitHub(token=gitops_repo.token) as fake:
        fake_repo = fake.add_repo(gitops_repo.url.split("/", 3)[3].removesuffix(".git"))
        yield fake, fake_repo


def test_pull_request_mode_opens_then_updates_the_pr(gitops_repo, token_env, capsys, github):
    fake, fake_repo = github
    base_before = gitops_repo.refs()["refs/heads/main"]
    args = ["--env", "prod", "--service", "api", "--mode", "pull-request", "--github-api-url",
            fake.api_url, "--output", "json", "--source-commit", "feedbeef", "--execution-id", "ex-7"]
    code, out, err = _promote_cli(capsys, gitops_repo, token_env, *args, "--tag", "2.0.0",
                                  "--digest", DIGEST_B)
    assert code == 0, err
    result = json.loads(out)
    pr = fake_repo.pulls[result["pr_number"]]
    assert result["pr_url"].endswith(f"/pull/{pr.number}")
    assert result["commit"] == result["revision"] == gitops_repo.refs()["refs/heads/promote/prod/api"]
    assert gitops_repo.refs()["refs/heads/main"] == base_before       # base untouched
    assert gitops_repo.file(PROD_API, "promote/prod/api") == \
        values_yaml("api", "2.0.0", DIGEST_B).encode()
    assert (pr.head, pr.base, pr.title) == ("promote/prod/api", "main",
                                            "promote(prod/api): 1.0.0 → 2.0.0")
    for needle in ("**api**", "**prod**", "`1.0.0` → `2.0.0`", DIGEST_B, "`feedbeef`", "`ex-7`",
                   "```diff\n--- a/envs/prod/api/values.yaml\n+++ b/envs/prod/api/values.yaml\n",
                   '\n-  tag: "1.0.0"  # set by the pipeline\n', '\n+  tag: "2.0.0"  # set by the pipeline\n',
                   '\n replicaCount: 2\n'):
        assert needle in pr.body, needle
    assert pr.comments == []

    code, out, err = _promote_cli(capsys, gitops_repo, token_env, *args, "--tag", "2.0.1")
    assert code == 0, err
    assert json.loads(out)["pr_number"] == pr.number and len(fake_repo.pulls) == 1
    assert pr.title == "promote(prod/api): 1.0.0 → 2.0.1"
    first, second = result["commit"], gitops_repo.refs()["refs/heads/promote/prod/api"]
    assert [c.body for c in pr.comments] == [
        f"Superseded: this pull request now proposes `2.0.1` (no digest; proposal {second[:12]}, "
        f"execution ex-7) instead of `2.0.0` ({DIGEST_B}; proposal {first[:12]}, execution ex-7)."]
    assert gitops_repo.file(PROD_API, "promote/prod/api") == values_yaml("api", "2.0.1", "").encode()
    assert gitops_repo.refs()["refs/heads/main"] == base_before


def test_pull_request_mode_is_a_noop_when_the_base_has_the_tag(gitops_repo, token_env, capsys,
                                                              github):
    fake, fake_repo = github
    refs = gitops_repo.refs()
    code, out, _ = _promote_cli(capsys, gitops_repo, token_env, "--env", "prod", "--service", "api",
                                "--tag", "1.0.0", "--mode", "pull-request", "--github-api-url",
                                fake.api_url, "--output", "json")
    assert code == 0 and json.loads(out)["noop"] is True and json.loads(out)["pr_number"] is None
    assert json.loads(out)["revision"] == refs["refs/heads/main"]
    assert gitops_repo.refs() == refs and fake_repo.pulls == {} and fake.requests == []


def test_pull_request_mode_with_auto_merge(gitops_repo, token_env, capsys, github):
    fake, fake_repo = github
    code, out, err = _promote_cli(capsys, gitops_repo, token_env, "--env", "prod", "--service",
                                  "web", "--tag", "4.0.0", "--mode", "pull-request",
                                  "--auto-merge", "--github-api-url", fake.api_url)
    assert code == 0, err
    (pr,) = fake_repo.pulls.values()
    assert pr.auto_merge is not None
    proposal = gitops_repo.refs()["refs/heads/promote/prod/web"]
    assert out == (f"prod/web: 1.0.0 → 4.0.0 proposed as {proposal} on promote/prod/web: pull "
                   f"request opened, auto-merge armed: {fake.api_url}/{fake_repo.full_name}/pull/1\n")



def test_tricky_file_survives_the_round_trip_through_git_byte_for_byte(gitops_repo, token_env,
                                                                       capsys):
    tricky = ("---\r\n# keep me\r\nimage:   {repository: r,  tag: '0.9', digest: ''}  # flow\r\n"
              "x: &a 1\r\ny: *a\r\n...")
    gitops_repo.commit({STAGING_API: tricky})
    code, _, err = _promote_cli(capsys, gitops_repo, token_env, "--env", "staging", "--service",
                                "api", "--tag", "1.0", "--digest", DIGEST_B)
    assert code == 0, err
    assert gitops_repo.file(STAGING_API) == tricky.replace("'0.9'", "'1.0'").replace(
        "digest: ''", f"digest: '{DIGEST_B}'").encode()


def test_token_never_reaches_output(gitops_repo, token_env, capsys):
    seen = []
    for argv in (["--tag", "5.0.0", "--output", "json"], ["--tag", "5.0.0"],
                 ["--tag", "5.0.1", "--branch", "missing"], ["--tag", "5.0.2", "--max-attempts", "0"]):
        code, out, err = _promote_cli(capsys, gitops_repo, token_env, "--env", "staging",
                                      "--service", "api", *argv)
        seen.append(code)
        assert gitops_repo.token not in out + err
    assert seen == [0, 0, 4, 2]


def test_python_dash_m_entry_point(gitops_repo, token_env):
    proc = subprocess.run(
        [sys.executable, "-m", "gitops", "promote", "--repo", gitops_repo.url, "--token-env",
         token_env, "--env", "prod", "--service", "worker", "--tag", "8.0.0", "--output", "json"],
        cwd=Path(__file__).resolve().parents[3], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["commit"] == gitops_repo.refs()["refs/heads/main"]


def _pushes(repo) -> int:
    """Push requests the server answered for `repo`."""
    path = urlsplit(repo.url).path + "/git-receive-pack"
    return sum(1 for method, p, _ in repo.server.requests if (method, p) == ("POST", path))


def test_rerunning_a_pull_request_promotion_pushes_nothing_and_says_unchanged(gitops_repo, token_env,
                                                                            capsys, github):
    fake, fake_repo = github
    args = ["--env", "prod", "--service", "api", "--tag", "2.0.0", "--digest", DIGEST_B, "--mode",
            "pull-request", "--github-api-url", fake.api_url, "--output", "json"]
    code, out, err = _promote_cli(capsys, gitops_repo, token_env, *args)
    assert code == 0, err
    first = json.loads(out)
    assert (first["action"], first["push"], first["auto_merge"]) == ("opened", "pushed", None)
    refs, pr = gitops_repo.refs(), fake_repo.pulls[first["pr_number"]]
    body, pushes = pr.body, _pushes(gitops_repo)
    code, out, err = _promote_cli(capsys, gitops_repo, token_env, *args, "--execution-id", "rerun")
    assert code == 0, err
    again = json.loads(out)
    assert (again["action"], again["push"], again["commit"]) == ("unchanged", None, None)
    assert again["revision"] == first["revision"] == refs["refs/heads/promote/prod/api"]
    assert gitops_repo.refs() == refs and pr.body == body and pr.comments == []
    assert _pushes(gitops_repo) == pushes
    assert fake.count("PATCH", r"/repos/.*/pulls/\d+") == 0
    code, out, _ = _promote_cli(capsys, gitops_repo, token_env, *args[:-2])
    assert out == (f"prod/api: 1.0.0 → 2.0.0 already proposed as {first['revision']} on "
                   f"promote/prod/api: pull request unchanged: {first['pr_url']}\n")


def test_the_pull_request_body_is_rich_and_machine_readable(gitops_repo, token_env, capsys, github,
                                                            monkeypatch):
    fake, fake_repo = github
    # The image prod runs now was promoted with its source commit recorded in the trailers.
    gitops_repo.commit({PROD_API: values_yaml("api", "1.0.1", DIGEST_A)},
                       "promote(prod/api): 1.0.0 → 1.0.1\n\nDelivery-Action: promote\n"
                       "Delivery-Service: api\nDelivery-Environment: prod\nImage-Tag: 1.0.1\n"
                       f"Image-Digest: {DIGEST_A}\nSource-Commit: 1111111111aa\n")
    gitops_repo.commit({"envs/staging/web/values.yaml": values_yaml("web", "9.9.9")}, "unrelated")
    monkeypatch.setenv("CODEBUILD_INITIATOR", "codepipeline/shop-api-prod")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    code, out, err = _promote_cli(
        capsys, gitops_repo, token_env, "--env", "prod", "--service", "api", "--tag", "2.0.0",
        "--digest", DIGEST_B, "--mode", "pull-request", "--github-api-url", fake.api_url,
        "--source-commit", "2222222222bb", "--source-repo", "https://github.com/acme/shop",
        "--execution-id", "ex-9", "--output", "json")
    assert code == 0, err
    result = json.loads(out)
    pr = fake_repo.pulls[result["pr_number"]]
    tip = gitops_repo.refs()["refs/heads/promote/prod/api"]
    for row in ("| Tag | `1.0.1` → `2.0.0` |", f"| Digest | `{DIGEST_A}` → `{DIGEST_B}` |",
                "| Application commits | [`1111111111aa...2222222222bb`]"
                "(https://github.com/acme/shop/compare/1111111111aa...2222222222bb) |",
                "| Pipeline execution | [ex-9](https://us-east-1.console.aws.amazon.com/codesuite/"
                "codepipeline/pipelines/shop-api-prod/executions/ex-9/timeline?region=us-east-1) |",
                f"| Proposal commit | `{tip}` |"):
        assert row in pr.body, row
    from gitops.governance import trailers
    assert trailers.parse_block(pr.body) == {
        "Delivery-Action": "promote", "Delivery-Service": "api", "Delivery-Environment": "prod",
        "Image-Tag": "2.0.0", "Image-Digest": DIGEST_B, "Previous-Digest": DIGEST_A,
        "Source-Commit": "2222222222bb", "Pipeline-Execution": "ex-9", "Proposal-Commit": tip}
    assert trailers.parse(gitops_repo.show("%B", "promote/prod/api"))["Pipeline-Execution"] == "ex-9"


def test_same_tag_with_a_new_digest_says_so(gitops_repo, token_env, capsys, github):
    fake, fake_repo = github
    code, out, _ = _promote_cli(capsys, gitops_repo, token_env, "--env", "staging", "--service",
                                "api", "--tag", "1.0.0", "--digest", DIGEST_B)
    assert code == 0
    assert out.startswith(f"staging/api: 1.0.0 → 1.0.0 (same tag, new digest {DIGEST_B}; was "
                          f"{DIGEST_A}) committed as ")
    assert gitops_repo.show("%s") == "promote(staging/api): 1.0.0 → 1.0.0 (new digest)\n"
    assert f"Same tag, new digest {DIGEST_B} (was {DIGEST_A})." in gitops_repo.show("%B")
    code, out, _ = _promote_cli(capsys, gitops_repo, token_env, "--env", "prod", "--service",
                                "api", "--tag", "1.0.0", "--digest", DIGEST_B, "--mode",
                                "pull-request", "--github-api-url", fake.api_url)
    (pr,) = fake_repo.pulls.values()
    assert pr.title == "promote(prod/api): 1.0.0 → 1.0.0 (new digest)"
    assert "Same tag `1.0.0`, **new digest**" in pr.body


def test_a_hook_message_about_non_fast_forward_is_a_final_exit_4(gitops_repo, token_env, capsys):
    hook = gitops_repo.bare / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho 'non-fast-forward: cannot lock ref, fetch first' >&2\nexit 1\n")
    hook.chmod(0o755)
    code, _, err = _promote_cli(capsys, gitops_repo, token_env, "--env", "staging", "--service",
                                "api", "--tag", "1.7.0")
    assert code == 4 and "pre-receive hook declined" in err
    assert _pushes(gitops_repo) == 1   # no retries


def test_a_stale_lock_on_the_server_is_a_final_exit_4(gitops_repo, token_env, capsys):
    (gitops_repo.bare / "refs" / "heads" / "main.lock").write_text("")
    code, _, err = _promote_cli(capsys, gitops_repo, token_env, "--env", "staging", "--service",
                                "api", "--tag", "1.7.1")
    assert code == 4 and "failed to update ref" in err and "kept moving" not in err


def test_errors_name_repository_paths_not_the_temporary_clone(gitops_repo, token_env, capsys):
    gitops_repo.commit({STAGING_API: b"image:\n  tag: \xff\n"})
    code, _, err = _promote_cli(capsys, gitops_repo, token_env, "--env", "staging", "--service",
                                "api", "--tag", "1.8.0")
    assert code == 3 and "values file envs/staging/api/values.yaml is not UTF-8" in err
    assert "gitops-promote-" not in err and "/tmp" not in err


def test_a_token_is_never_sent_over_plain_http_to_another_host(capsys, token_env):
    code, _, err = _run(capsys, "promote", "--repo", "http://gitops.example.invalid/acme/gitops.git",
                        "--token-env", token_env, "--env", "staging", "--service", "api", "--tag", "1")
    assert code == 2 and "plain http://: the token would cross the network unencrypted" in err
