"""`gitops check-repo`: are the GitOps repository's guard rails right for one environment's token?

Staging promotes by pushing `envs/staging/**` straight to the branch Argo CD follows; prod
promotes by pull requests from `promote/prod/*` that someone reviews. Both land on the same
branch, so the branch's rules decide whether the prod review can be skipped. This command reads
them through the GitHub API with the token to check (rulesets, with GitHub's own answer to
"can this token bypass this ruleset", and the classic branch protection when the token may read
it) and prints one row per question, with what to change when the answer is wrong.

    python -m gitops check-repo --repo URL --env staging --mode commit --token-env STAGING_TOKEN
    python -m gitops check-repo --repo URL --env prod --mode pull-request --token-env PROD_TOKEN

Exit 0 when every check passes, 18 when one fails, 6 when GitHub cannot be read.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from typing import Any

from gitops.repo import layout

# Any service's values file stands for the environment's paths in the path checks.
_SAMPLE_SERVICE = "any-service"


@dataclass(frozen=True)
class Check:
    question: str
    ok: bool
    answer: str    # yes / no, in the question's terms
    change: str    # what to change; "" when ok


@dataclass(frozen=True)
class Ruleset:
    id: int
    name: str
    target: str                 # "branch" | "tag" | "push"
    enforcement: str            # "active" | "evaluate" | "disabled"
    include: tuple[str, ...]
    exclude: tuple[str, ...]
    rules: tuple[dict[str, Any], ...]
    can_bypass: str             # GitHub's current_user_can_bypass: always | pull_requests_only | never

    def applies_to(self, branch: str, default_branch: str) -> bool:
        if self.enforcement != "active" or self.target != "branch":
            return False
        return (any(_ref_matches(p, branch, default_branch) for p in self.include)
                and not any(_ref_matches(p, branch, default_branch) for p in self.exclude))

    def review_rule(self) -> dict[str, Any] | None:
        for rule in self.rules:
            if rule.get("type") == "pull_request" and \
                    (rule.get("parameters") or {}).get("required_approving_review_count", 0) >= 1:
                return rule
        return None

    def restricts_path(self, path: str) -> bool:
        if self.enforcement != "active" or self.target != "push":
            return False
        for rule in self.rules:
            if rule.get("type") == "file_path_restriction":
                paths = (rule.get("parameters") or {}).get("restricted_file_paths") or []
                if any(fnmatch.fnmatchcase(path, pattern) for pattern in paths):
                    return True
        return False

    def restricts_updates(self, branch: str, default_branch: str) -> bool:
        return self.applies_to(branch, default_branch) and any(
            rule.get("type") in ("update", "creation") for rule in self.rules)


def _ref_matches(pattern: str, branch: str, default_branch: str) -> bool:
    if pattern == "~ALL":
        return True
    if pattern == "~DEFAULT_BRANCH":
        return branch == default_branch
    return fnmatch.fnmatchcase(f"refs/heads/{branch}", pattern) or \
        fnmatch.fnmatchcase(branch, pattern)


@dataclass(frozen=True)
class GuardRails:
    """What the token sees of the repository's rules."""

    full_name: str
    default_branch: str
    admin: bool
    push: bool
    rulesets: tuple[Ruleset, ...]
    # Classic branch protection of the branch: (required approvals, enforced for admins), None
    # when the branch has none, "unreadable" when the token may not read it (needs admin).
    protection: tuple[int, bool] | None | str


def evaluate(rails: GuardRails, *, branch: str, env: str, mode: str, review_env: str
             ) -> list[Check]:
    """The checks for a token of `env` promoting in `mode`; `review_env` is the environment whose
    changes need a review."""
    reviewed = layout.values_file(review_env, _SAMPLE_SERVICE)
    own = layout.values_file(env, _SAMPLE_SERVICE)
    rulesets = [r for r in rails.rulesets if r.applies_to(branch, rails.default_branch)]
    reviews = [r for r in rulesets if r.review_rule() is not None]
    classic_review = isinstance(rails.protection, tuple) and rails.protection[0] >= 1
    unbypassable_review = [r for r in reviews if r.can_bypass == "never"]
    classic_binds = classic_review and (rails.protection[1] or not rails.admin)
    review_binds = bool(unbypassable_review) or classic_binds
    path_guards = [r for r in rails.rulesets if r.restricts_path(reviewed)]
    binding_guard = any(r.can_bypass == "never" for r in path_guards)
    bypassed = [r.name for r in reviews if r.can_bypass != "never"]
    checks = []

    has_review = bool(reviews) or classic_review
    checks.append(Check(
        f"changes on {branch} need an approving review", has_review, "yes" if has_review else "no",
        "" if has_review else f"add a branch ruleset on {branch}: Require a pull request before "
                              "merging, 1 approval or more"))

    can_skip = rails.push and not binding_guard and not review_binds
    if rails.admin:
        fix = ("use a token without the Administration permission (admins can change the rules "
               "themselves)")
    elif bypassed:
        fix = (f"remove this token's actor from the bypass list of {', '.join(bypassed)}, or add a "
               f"push ruleset restricting {layout.service_dir(review_env, '**')} that it cannot bypass")
    else:
        fix = f"require a review on {branch} (row above)"
    checks.append(Check(
        f"this token can change {layout.ENVS_DIR}/{review_env}/ on {branch} without a review",
        not can_skip and not rails.admin, "yes" if can_skip or rails.admin else "no",
        "" if not can_skip and not rails.admin else fix))

    if mode == "commit":
        own_guarded = any(r.restricts_path(own) and r.can_bypass == "never" for r in rails.rulesets)
        can_push = rails.push and not review_binds and not own_guarded
        if not rails.push:
            fix = "grant the token Contents: read and write"
        elif own_guarded:
            fix = f"the push ruleset guarding {layout.ENVS_DIR}/{env}/ must not cover it"
        else:
            names = ", ".join(r.name for r in unbypassable_review) or "the branch protection"
            fix = (f"add this token's GitHub App to the bypass list of {names} (mode: always) and "
                   f"guard {layout.ENVS_DIR}/{review_env}/** with a push ruleset it cannot bypass")
        checks.append(Check(f"this token can push {layout.ENVS_DIR}/{env}/ straight to {branch}",
                            can_push, "yes" if can_push else "no", "" if can_push else fix))
    else:
        proposal = layout.proposal_branch(env, "x")
        blocked = [r.name for r in rails.rulesets
                   if r.restricts_updates(proposal, rails.default_branch) and r.can_bypass == "never"]
        can_propose = rails.push and not blocked
        fix = ("grant the token Contents: read and write and Pull requests: read and write"
               if not rails.push else
               f"exclude {layout.proposal_branch(env, '*')} from {', '.join(blocked)}")
        checks.append(Check(f"this token can push {layout.proposal_branch(env, '*')}",
                            can_propose, "yes" if can_propose else "no",
                            "" if can_propose else fix))

    if rails.protection == "unreadable":
        checks.append(Check(f"classic branch protection of {branch} is readable", True,
                            "no (needs admin; rulesets are what count here)", ""))
    return checks


def read_guard_rails(*, repo_url: str, api_url: str | None, token: str, branch: str
                     ) -> GuardRails:
    """Read the repository's permissions, rulesets and classic branch protection with `token`."""
    from gitops.clients import forge

    seen = forge.read_rules(repo_url=repo_url, api_url=api_url, token=token, branch=branch)
    rulesets = []
    for data in seen["rulesets"]:
        ref_name = (data.get("conditions") or {}).get("ref_name") or {}
        rulesets.append(Ruleset(
            id=data["id"], name=data.get("name", str(data["id"])), target=data.get("target", "branch"),
            enforcement=data.get("enforcement", "disabled"),
            include=tuple(ref_name.get("include") or ()), exclude=tuple(ref_name.get("exclude") or ()),
            rules=tuple(data.get("rules") or ()),
            can_bypass=data.get("current_user_can_bypass") or "never"))
    protection = seen["protection"]
    if isinstance(protection, dict):
        reviews = protection.get("required_pull_request_reviews") or {}
        protection = (reviews.get("required_approving_review_count", 0) if reviews else 0,
                      bool((protection.get("enforce_admins") or {}).get("enabled")))
    permissions = seen["permissions"]
    return GuardRails(seen["full_name"], seen["default_branch"], bool(permissions.get("admin")),
                      bool(permissions.get("push")), tuple(rulesets), protection)
