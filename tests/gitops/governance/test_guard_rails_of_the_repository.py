"""check-repo against the fake GitHub: the documented safe setup passes for both environments'
tokens, and each unsafe variant fails with the row and the change that fixes it."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from gitops import cli
from sandbox.github_api import FakeGitHub, FakeRepo

STAGING_TOKEN, PROD_TOKEN = "ghs_stagingApp000000000000000000000000", "ghs_prodApp00000000000000000000000000"
STAGING_APP, PROD_APP, RELEASE_MANAGERS = ("Integration", 101), ("Integration", 202), ("Team", 7)


@pytest.fixture
def github() -> Iterator[FakeGitHub]:
    with FakeGitHub() as server:
        server.add_token(STAGING_TOKEN, actor=STAGING_APP)
        server.add_token(PROD_TOKEN, actor=PROD_APP)
        yield server


def _bypass(actor: tuple[str, int], mode: str = "always") -> dict:
    return {"actor_type": actor[0], "actor_id": actor[1], "bypass_mode": mode}


REVIEW = {"type": "pull_request", "parameters": {"required_approving_review_count": 1,
                                                 "dismiss_stale_reviews_on_push": True,
                                                 "require_code_owner_review": False,
                                                 "require_last_push_approval": True,
                                                 "required_review_thread_resolution": False}}
PROD_PATHS = {"type": "file_path_restriction", "parameters": {"restricted_file_paths": ["envs/prod/**/*"]}}


def _safe(github: FakeGitHub, prod_paths_bypass: tuple[tuple[str, int], ...] = (PROD_APP, RELEASE_MANAGERS)
          ) -> FakeRepo:
    """The setup docs/operations/security.md describes (push rulesets take bypass mode "always"
    only: GitHub's "pull_request" mode "is only applicable to branch rulesets")."""
    repo = github.add_repo("acme/gitops")
    github.add_ruleset(repo, "gitops-main", rules=[REVIEW, {"type": "non_fast_forward"}, {"type": "deletion"}],
                       bypass=[_bypass(STAGING_APP)])
    github.add_ruleset(repo, "prod-paths", target="push", rules=[PROD_PATHS],
                       bypass=[_bypass(actor) for actor in prod_paths_bypass])
    return repo


def _check(capsys, github: FakeGitHub, repo: FakeRepo, token: str, env: str, mode: str,
           monkeypatch: pytest.MonkeyPatch, *extra: str) -> tuple[int, dict]:
    monkeypatch.setenv("CHECKED_TOKEN", token)
    code = cli.main(["check-repo", "--repo", repo.clone_url, "--github-api-url", github.api_url,
                     "--env", env, "--mode", mode, "--token-env", "CHECKED_TOKEN", "--output", "json",
                     *extra])
    out, err = capsys.readouterr()
    assert token not in out + err
    return code, json.loads(out)


def _rows(report: dict) -> dict[str, tuple[bool, str]]:
    return {c["question"]: (c["ok"], c["change"]) for c in report["checks"]}


def test_the_documented_setup_passes_for_both_tokens(github, capsys, monkeypatch):
    repo = _safe(github)
    code, staging = _check(capsys, github, repo, STAGING_TOKEN, "staging", "commit", monkeypatch)
    assert code == 0 and staging["ok"], staging
    assert _rows(staging) == {
        "changes on main need an approving review": (True, ""),
        "this token can change envs/prod/ on main without a review": (True, ""),
        "this token can push envs/staging/ straight to main": (True, ""),
        "classic branch protection of main is readable": (True, ""),
    }
    code, prod = _check(capsys, github, repo, PROD_TOKEN, "prod", "pull-request", monkeypatch)
    assert code == 0 and prod["ok"], prod
    assert _rows(prod) == {
        "changes on main need an approving review": (True, ""),
        "this token can change envs/prod/ on main without a review": (True, ""),
        "this token can push promote/prod/*": (True, ""),
        "this token can push promote/prod/* branches changing envs/prod/": (True, ""),
        "classic branch protection of main is readable": (True, ""),
    }


PROMOTION_ROW = "this token can push promote/prod/* branches changing envs/prod/"


def test_a_prod_app_the_push_ruleset_refuses_cannot_push_its_promotion_branch(github, capsys, monkeypatch):
    # The push ruleset guards envs/prod on every branch, promote/prod/* included: with only the
    # release managers on its bypass list the prod App's promotions could never be pushed.
    repo = _safe(github, prod_paths_bypass=(RELEASE_MANAGERS,))
    code, report = _check(capsys, github, repo, PROD_TOKEN, "prod", "pull-request", monkeypatch)
    assert code == 18 and not report["ok"]
    rows = {c["question"]: c for c in report["checks"]}
    assert rows[PROMOTION_ROW] == {
        "question": PROMOTION_ROW, "ok": False, "answer": "no",
        "change": "add this token's GitHub App to the bypass list of prod-paths (mode: always): push "
                  "rulesets have no branch condition, and the review stays required by the branch's "
                  "pull request rule, which it must not bypass"}
    # The review is not what is wrong: the other rows still pass.
    assert [c["question"] for c in report["checks"] if not c["ok"]] == [PROMOTION_ROW]
    # The staging token does not promote by pull request: it has no such row.
    code, staging = _check(capsys, github, repo, STAGING_TOKEN, "staging", "commit", monkeypatch)
    assert code == 0 and PROMOTION_ROW not in _rows(staging)


def test_without_a_push_ruleset_the_promotion_branch_can_be_pushed(github, capsys, monkeypatch):
    repo = github.add_repo("acme/gitops")
    github.add_ruleset(repo, "gitops-main", rules=[REVIEW])
    code, report = _check(capsys, github, repo, PROD_TOKEN, "prod", "pull-request", monkeypatch)
    assert code == 0, report
    assert _rows(report)[PROMOTION_ROW] == (True, "")


def test_a_staging_token_bypassing_the_review_without_a_path_guard_fails(github, capsys, monkeypatch):
    repo = github.add_repo("acme/gitops")
    github.add_ruleset(repo, "gitops-main", rules=[REVIEW], bypass=[_bypass(STAGING_APP)])
    code, report = _check(capsys, github, repo, STAGING_TOKEN, "staging", "commit", monkeypatch)
    assert code == 18 and not report["ok"]
    ok, change = _rows(report)["this token can change envs/prod/ on main without a review"]
    assert not ok
    assert change == ("remove this token's actor from the bypass list of gitops-main, or add a push "
                      "ruleset restricting envs/prod/**/* that it cannot bypass")


def test_a_review_staging_cannot_bypass_blocks_its_push(github, capsys, monkeypatch):
    repo = github.add_repo("acme/gitops")
    github.add_ruleset(repo, "gitops-main", rules=[REVIEW])
    code, report = _check(capsys, github, repo, STAGING_TOKEN, "staging", "commit", monkeypatch)
    assert code == 18
    ok, change = _rows(report)["this token can push envs/staging/ straight to main"]
    assert not ok and change.startswith("add this token's GitHub App to the bypass list of gitops-main")
    assert _rows(report)["this token can change envs/prod/ on main without a review"] == (True, "")


def test_a_pull_requests_only_bypass_does_not_let_a_token_push(github, capsys, monkeypatch):
    # GitHub: such an actor "is now required to open a pull request"; it may merge past the rules,
    # so it still counts as bypassing the review.
    repo = github.add_repo("acme/gitops")
    github.add_ruleset(repo, "gitops-main", rules=[REVIEW], bypass=[_bypass(STAGING_APP, "pull_request")])
    code, report = _check(capsys, github, repo, STAGING_TOKEN, "staging", "commit", monkeypatch)
    assert code == 18
    rows = _rows(report)
    ok, change = rows["this token can push envs/staging/ straight to main"]
    assert not ok and change.startswith("add this token's GitHub App to the bypass list of gitops-main "
                                        "(mode: always)")
    assert rows["this token can change envs/prod/ on main without a review"][0] is False

    github.add_ruleset(repo, "no-promote-branches", include=("refs/heads/promote/**/*",),
                       rules=[{"type": "creation"}, {"type": "update"}], bypass=[_bypass(PROD_APP, "pull_request")])
    code, report = _check(capsys, github, repo, PROD_TOKEN, "prod", "pull-request", monkeypatch)
    assert _rows(report)["this token can push promote/prod/*"] == (
        False, "exclude promote/prod/* from no-promote-branches")


def test_no_rules_at_all_fails_both_tokens(github, capsys, monkeypatch):
    repo = github.add_repo("acme/gitops")
    for token, env, mode in ((STAGING_TOKEN, "staging", "commit"), (PROD_TOKEN, "prod", "pull-request")):
        code, report = _check(capsys, github, repo, token, env, mode, monkeypatch)
        assert code == 18
        rows = _rows(report)
        assert rows["changes on main need an approving review"][0] is False
        assert rows["this token can change envs/prod/ on main without a review"][0] is False


def test_an_admin_token_fails_whatever_the_rules(github, capsys, monkeypatch):
    repo = _safe(github)
    github.add_token("ghp_adminToken000000000000000000000000", permission="admin")
    code, report = _check(capsys, github, repo, "ghp_adminToken000000000000000000000000", "prod",
                          "pull-request", monkeypatch)
    assert code == 18
    ok, change = _rows(report)["this token can change envs/prod/ on main without a review"]
    assert not ok and "without the Administration permission" in change


def test_classic_branch_protection_counts_when_readable(github, capsys, monkeypatch):
    repo = github.add_repo("acme/gitops")
    github.protect_branch(repo, "main", required_approvals=1, enforce_admins=False)
    github.add_token("ghp_adminToken000000000000000000000000", permission="admin")
    # An admin sees it, and that it does not bind admins.
    code, report = _check(capsys, github, repo, "ghp_adminToken000000000000000000000000", "prod",
                          "pull-request", monkeypatch)
    rows = _rows(report)
    assert rows["changes on main need an approving review"] == (True, "")
    assert rows["this token can change envs/prod/ on main without a review"][0] is False
    # A write token cannot read it; a review it cannot bypass still stops its direct pushes.
    code, report = _check(capsys, github, repo, PROD_TOKEN, "prod", "pull-request", monkeypatch)
    assert report["checks"][-1]["answer"].startswith("no (needs admin")


def test_text_table_and_a_clear_error(github, capsys, monkeypatch):
    repo = github.add_repo("acme/gitops")
    monkeypatch.setenv("CHECKED_TOKEN", STAGING_TOKEN)
    code = cli.main(["check-repo", "--repo", repo.clone_url, "--github-api-url", github.api_url,
                     "--env", "staging", "--mode", "commit", "--token-env", "CHECKED_TOKEN"])
    out, err = capsys.readouterr()
    assert code == 18
    assert out.splitlines()[0] == "acme/gitops main: the staging token"
    assert "changes on main need an approving review" in out and "FAIL" in out
    assert err == ("error: 2 of 4 checks failed on acme/gitops: changes on main need an approving "
                   "review? no\n")
    monkeypatch.delenv("CHECKED_TOKEN")
    code = cli.main(["check-repo", "--repo", repo.clone_url, "--env", "staging", "--mode", "commit"])
    assert code == 2 and "--token-env or --token-secret" in capsys.readouterr().err


# GitHub matches ruleset patterns as Ruby's File.fnmatch with FNM_PATHNAME (gitops.governance.patterns):
# a setup that looks like a guard but is not one must fail, and what GitHub's answer leaves open is
# "unknown", never a pass.

SKIP_ROW = "this token can change envs/prod/ on main without a review"


def _paths(*patterns: str) -> dict:
    return {"type": "file_path_restriction", "parameters": {"restricted_file_paths": list(patterns)}}


@pytest.mark.parametrize("guard", [
    "envs/prod/*",                   # the service directories, not the files in them
    "envs/prod/**",                  # `**` without `/` is one path level too
    "envs/prod/api/**/*",            # one service only
    "envs/prod/*/values.yaml",       # not the per-region files Argo CD also reads
])
def test_a_path_guard_github_does_not_apply_to_every_values_file_leaves_the_review_skippable(
        github, capsys, monkeypatch, guard):
    repo = github.add_repo("acme/gitops")
    github.add_ruleset(repo, "gitops-main", rules=[REVIEW], bypass=[_bypass(STAGING_APP)])
    github.add_ruleset(repo, "prod-paths", target="push", rules=[_paths(guard)])
    code, report = _check(capsys, github, repo, STAGING_TOKEN, "staging", "commit", monkeypatch)
    assert code == 18
    assert _rows(report)[SKIP_ROW][0] is False


@pytest.mark.parametrize("guard", [("envs/prod/**/*",), ("envs/prod/*/values.yaml", "envs/prod/*/values-*.yaml")])
def test_a_path_guard_covering_every_values_file_holds(github, capsys, monkeypatch, guard):
    repo = github.add_repo("acme/gitops")
    github.add_ruleset(repo, "gitops-main", rules=[REVIEW], bypass=[_bypass(STAGING_APP)])
    github.add_ruleset(repo, "prod-paths", target="push", rules=[_paths(*guard)])
    code, report = _check(capsys, github, repo, STAGING_TOKEN, "staging", "commit", monkeypatch)
    assert code == 0, report
    assert _rows(report)[SKIP_ROW] == (True, "")


@pytest.mark.parametrize(("include", "applies"), [
    ("refs/heads/*", False),         # one level: not release/main
    ("refs/heads/**/*", True),
    ("refs/heads/release/*", True),
    ("~ALL", True),
    ("~DEFAULT_BRANCH", False),      # the default branch is main
    ("release/main", False),         # GitHub matches the full ref name
])
def test_a_review_ruleset_applies_to_the_branch_as_github_matches_it(github, capsys, monkeypatch,
                                                                     include, applies):
    repo = github.add_repo("acme/gitops")
    github.add_ruleset(repo, "reviews", include=(include,), rules=[REVIEW])
    code, report = _check(capsys, github, repo, PROD_TOKEN, "prod", "pull-request", monkeypatch,
                          "--branch", "release/main")
    rows = {c["question"]: c for c in report["checks"]}
    review = rows["changes on release/main need an approving review"]
    assert (review["ok"], review["answer"]) == (applies, "yes" if applies else "no")
    assert rows["this token can change envs/prod/ on release/main without a review"]["ok"] is applies


def test_a_pattern_github_cannot_evaluate_is_unknown_not_a_pass(github, capsys, monkeypatch):
    repo = github.add_repo("acme/gitops")
    github.add_ruleset(repo, "reviews", include=("refs/heads/[^x]*",), rules=[REVIEW])
    code, report = _check(capsys, github, repo, PROD_TOKEN, "prod", "pull-request", monkeypatch)
    assert code == 18
    review = next(c for c in report["checks"] if c["question"] == "changes on main need an approving review")
    assert review["ok"] is False
    assert review["answer"] == ("unknown: reviews uses a pattern GitHub's syntax does not support, so "
                                "whether it applies to main cannot be told")


def test_a_ruleset_answered_without_who_can_bypass_it_is_unknown_not_binding(capsys, monkeypatch):
    with FakeGitHub(says_who_can_bypass=False) as github:
        github.add_token(STAGING_TOKEN, actor=STAGING_APP)
        repo = github.add_repo("acme/gitops")
        github.add_ruleset(repo, "gitops-main", rules=[REVIEW], bypass=[_bypass(STAGING_APP)])
        code, report = _check(capsys, github, repo, STAGING_TOKEN, "staging", "commit", monkeypatch)
    assert code == 18
    skip = next(c for c in report["checks"] if c["question"] == SKIP_ROW)
    assert skip["ok"] is False
    assert skip["answer"] == ("unknown: GitHub did not say whether this token can bypass gitops-main "
                              "(no current_user_can_bypass in its answer)")
    assert skip["change"].startswith("remove this token's actor from the bypass list of gitops-main")
