"""The row "this token can push promote/<env>/* branches changing envs/<env>/" of check-repo, on
GitHub's answers as gitops.governance.guard_rails reads them: a push ruleset applies to every push
whatever the branch, and only an "always" (or "exempt") bypass lets the token's pushes past it."""

from __future__ import annotations

import pytest

from gitops.governance.guard_rails import GuardRails, Ruleset, evaluate, ruleset_from_github

ROW = "this token can push promote/prod/* branches changing envs/prod/"
FIX = ("add this token's GitHub App to the bypass list of prod-paths (mode: always): push rulesets "
       "have no branch condition, and the review stays required by the branch's pull request rule, "
       "which it must not bypass")


def _push_ruleset(*paths: str, bypass: str | None, name: str = "prod-paths",
                  enforcement: str = "active") -> Ruleset:
    """A push ruleset as GitHub answers it; `bypass` is its current_user_can_bypass (None: absent)."""
    answer = {"id": 1, "name": name, "target": "push", "source_type": "Repository",
              "source": "acme/gitops", "enforcement": enforcement, "conditions": {},
              "rules": [{"type": "file_path_restriction",
                         "parameters": {"restricted_file_paths": list(paths)}}]}
    if bypass is not None:
        answer["current_user_can_bypass"] = bypass
    return ruleset_from_github(answer)


def _row(*rulesets: Ruleset, push: bool = True, env: str = "prod"):
    rails = GuardRails("acme/gitops", "main", admin=False, push=push, rulesets=rulesets, protection=None)
    return next(c for c in evaluate(rails, branch="main", env=env, mode="pull-request", review_env="prod")
                if c.question == ROW.replace("prod", env))


@pytest.mark.parametrize("bypass", ["never", "pull_requests_only"])
def test_a_push_ruleset_on_the_promoted_paths_the_token_cannot_always_bypass_fails(bypass):
    # "pull_requests_only": GitHub makes such an actor open a pull request; its pushes are refused.
    row = _row(_push_ruleset("envs/prod/**/*", bypass=bypass))
    assert (row.ok, row.answer, row.change) == (False, "no", FIX)


@pytest.mark.parametrize("bypass", ["always", "exempt"])
def test_a_token_that_bypasses_the_push_ruleset_always_passes(bypass):
    row = _row(_push_ruleset("envs/prod/**/*", bypass=bypass))
    assert (row.ok, row.answer, row.change) == (True, "yes", "")


@pytest.mark.parametrize("paths", [
    ("envs/prod/*/values.yaml",),
    ("envs/prod/payments/values.yaml",),       # refused for one service is refused
    ("**/*.yaml",),
    ("charts/**/*", "envs/prod/**/*"),
])
def test_any_restriction_of_a_services_values_file_refuses(paths):
    assert _row(_push_ruleset(*paths, bypass="never")).ok is False


@pytest.mark.parametrize(("paths", "enforcement"), [
    (("envs/staging/**/*",), "active"),
    (("charts/**/*",), "active"),
    (("envs/prod/freeze.yaml",), "active"),     # promotions change values.yaml only
    (("envs/prod/**/*",), "evaluate"),
    (("envs/prod/**/*",), "disabled"),
])
def test_a_push_ruleset_that_does_not_restrict_the_promoted_file_passes(paths, enforcement):
    row = _row(_push_ruleset(*paths, bypass="never", enforcement=enforcement))
    assert (row.ok, row.answer) == (True, "yes")


def test_no_push_ruleset_passes_and_no_push_permission_fails():
    assert _row().ok is True
    row = _row(push=False)
    assert (row.ok, row.change) == (False, "grant the token Contents: read and write and Pull "
                                           "requests: read and write")


def test_each_refusing_ruleset_is_named_and_only_those():
    row = _row(_push_ruleset("envs/prod/**/*", bypass="never", name="prod-paths"),
               _push_ruleset("envs/prod/*/values.yaml", bypass="never", name="values-guard"),
               _push_ruleset("envs/prod/**/*", bypass="always", name="bypassed"))
    assert row.change.startswith("add this token's GitHub App to the bypass list of prod-paths, "
                                 "values-guard (mode: always)")


def test_github_not_saying_who_can_bypass_is_unknown_not_a_pass():
    row = _row(_push_ruleset("envs/prod/**/*", bypass=None))
    assert row.ok is False
    assert row.answer == ("unknown: GitHub did not say whether this token can bypass prod-paths "
                          "(no current_user_can_bypass in its answer)")
    assert row.change == FIX


def test_a_path_pattern_github_cannot_evaluate_is_unknown():
    row = _row(_push_ruleset("envs/prod/[^x]*/values.yaml", bypass="never"))
    assert row.ok is False
    assert row.answer == ("unknown: prod-paths uses a pattern GitHub's syntax does not support, so "
                          "whether it applies to envs/prod/<service>/values.yaml cannot be told")


def test_the_row_is_about_the_environment_the_token_promotes():
    ruleset = _push_ruleset("envs/prod/**/*", bypass="never")
    assert _row(ruleset, env="qa").ok is True
    assert _row(_push_ruleset("envs/qa/**/*", bypass="never"), env="qa").ok is False
