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

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from gitops.governance import patterns
from gitops.repo import layout

# A service (and region) name only a wildcard can match: longer than the 200 characters GitHub
# allows a pattern, of a character no name has. A path guard that matches the paths made with it
# covers every service's values files, not one whose name a pattern happens to spell.
_ANY_NAME = "\x01" * 201
# A service's name in a path a promotion changes: the patterns that match it for some service
# (gitops.governance.patterns.matches' `some`), so a guard of one service's values counts too.
_SOME_NAME = "\x02"
# GitHub's current_user_can_bypass: the token may skip the ruleset ("exempt": without asking;
# "pull_requests_only": by merging a pull request past its rules).
_BYPASSES = {"always": True, "pull_requests_only": True, "exempt": True, "never": False}
# Whether the token's pushes get past the ruleset: a "pull_requests_only" bypass "is now required to
# open a pull request" (GitHub's docs), so its pushes are held to the rules like anyone's.
_PUSHES_PASS = {"always": True, "exempt": True, "pull_requests_only": False, "never": False}

# Three-valued answers: True, False, or None when GitHub's answer does not settle it.
Maybe = bool | None


def _any(values: Iterable[Maybe]) -> Maybe:
    values = list(values)
    return True if True in values else None if None in values else False


def _all(values: Iterable[Maybe]) -> Maybe:
    values = list(values)
    return False if False in values else None if None in values else True


def _not(value: Maybe) -> Maybe:
    return None if value is None else not value


@dataclass(frozen=True)
class Check:
    question: str
    ok: bool
    answer: str    # yes / no / unknown (why), in the question's terms
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
    can_bypass: Maybe           # None: GitHub's answer had no (known) current_user_can_bypass
    pushes_pass: Maybe          # the token's pushes get past it; None as for can_bypass

    def applies_to(self, branch: str, default_branch: str) -> Maybe:
        if self.enforcement != "active" or self.target != "branch":
            return False
        included = _any(_ref_matches(p, branch, default_branch) for p in self.include)
        excluded = _any(_ref_matches(p, branch, default_branch) for p in self.exclude)
        return _all([included, _not(excluded)])

    def review_rule(self) -> dict[str, Any] | None:
        for rule in self.rules:
            if rule.get("type") == "pull_request" and \
                    (rule.get("parameters") or {}).get("required_approving_review_count", 0) >= 1:
                return rule
        return None

    def _restricted_paths(self) -> list[str]:
        if self.enforcement != "active" or self.target != "push":
            return []
        return [pattern for rule in self.rules if rule.get("type") == "file_path_restriction"
                for pattern in (rule.get("parameters") or {}).get("restricted_file_paths") or []]

    def restricts_paths(self, paths: list[str]) -> Maybe:
        """Whether this push ruleset refuses pushes changing each of `paths`."""
        restricted = self._restricted_paths()
        return _all(_any(patterns.matches(pattern, path) for pattern in restricted)
                    for path in paths)

    def refuses_change_to(self, path: str) -> Maybe:
        """Whether this push ruleset refuses a push changing `path`, whose `_SOME_NAME` segments
        stand for some name (a service): refused for one service is refused."""
        return _any(patterns.matches(pattern, path, some=_SOME_NAME)
                    for pattern in self._restricted_paths())

    def restricts_updates(self, branch: str, default_branch: str) -> Maybe:
        if not any(rule.get("type") in ("update", "creation") for rule in self.rules):
            return False
        return self.applies_to(branch, default_branch)

    def binds(self, applies: Maybe) -> Maybe:
        """Whether the rules of this ruleset, where `applies`, hold for the token."""
        return _all([applies, _not(self.can_bypass)])

    def binds_pushes(self, applies: Maybe) -> Maybe:
        """Whether the rules of this ruleset, where `applies`, hold for the token's pushes."""
        return _all([applies, _not(self.pushes_pass)])


def _ref_matches(pattern: str, branch: str, default_branch: str) -> Maybe:
    """GitHub matches ref conditions against the full ref name (refs/heads/<branch>)."""
    if pattern == "~ALL":
        return True
    if pattern == "~DEFAULT_BRANCH":
        return branch == default_branch
    return patterns.matches(pattern, f"refs/heads/{branch}")


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


def _answer(value: Maybe, unknowns: list[str]) -> str:
    if value is None:
        return "unknown: " + "; ".join(dict.fromkeys(unknowns))
    return "yes" if value else "no"


def _unknowns(rails: GuardRails, rulesets: Iterable[tuple[Ruleset, Maybe]], subject: str) -> list[str]:
    """Why the answers about `rulesets` (each with whether it applies to `subject`, a branch or a
    path) are unknown."""
    found = []
    for ruleset, applies in rulesets:
        if applies is None:
            found.append(f"{ruleset.name} uses a pattern GitHub's syntax does not support, so "
                         f"whether it applies to {subject} cannot be told")
        if applies is not False and ruleset.can_bypass is None:
            found.append(f"GitHub did not say whether this token can bypass {ruleset.name} (no "
                         "current_user_can_bypass in its answer)")
    return found


def evaluate(rails: GuardRails, *, branch: str, env: str, mode: str, review_env: str
             ) -> list[Check]:
    """The checks for a token of `env` promoting in `mode`; `review_env` is the environment whose
    changes need a review. A check passes only when GitHub's answers confirm it: what they leave
    open is answered "unknown", with why, and fails."""
    reviewed = [layout.values_file(review_env, _ANY_NAME),
                layout.region_file(review_env, _ANY_NAME, _ANY_NAME)]
    own = [layout.values_file(env, _ANY_NAME), layout.region_file(env, _ANY_NAME, _ANY_NAME)]
    reviews = [(r, r.applies_to(branch, rails.default_branch)) for r in rails.rulesets
               if r.review_rule() is not None]
    guards = [(r, r.restricts_paths(reviewed)) for r in rails.rulesets if r.target == "push"]
    classic_review = isinstance(rails.protection, tuple) and rails.protection[0] >= 1
    classic_binds = classic_review and (rails.protection[1] or not rails.admin)
    review_binds = _any([classic_binds, *(r.binds(applies) for r, applies in reviews)])
    guard_binds = _any(r.binds(covers) for r, covers in guards)
    bypassed = [r.name for r, applies in reviews if applies is not False and r.can_bypass is not False]
    checks = []

    has_review = _any([classic_review, *(applies for _, applies in reviews)])
    checks.append(Check(
        f"changes on {branch} need an approving review", has_review is True,
        _answer(has_review, _unknowns(rails, [(r, a) for r, a in reviews if a is None], branch)),
        "" if has_review else f"add a branch ruleset on {branch}: Require a pull request before "
                              "merging, 1 approval or more"))

    can_skip = _all([rails.push, _not(guard_binds), _not(review_binds)])
    if rails.admin:
        can_skip = True
        fix = ("use a token without the Administration permission (admins can change the rules "
               "themselves)")
    elif bypassed:
        fix = (f"remove this token's actor from the bypass list of {', '.join(bypassed)}, or add a "
               f"push ruleset restricting {layout.env_dir(review_env)}/**/* that it cannot bypass")
    else:
        fix = f"require a review on {branch} (row above)"
    checks.append(Check(
        f"this token can change {layout.ENVS_DIR}/{review_env}/ on {branch} without a review",
        can_skip is False, _answer(can_skip, _unknowns(rails, [*reviews, *guards], branch)),
        "" if can_skip is False else fix))

    if mode == "commit":
        own_guards = [(r, r.restricts_paths(own)) for r in rails.rulesets if r.target == "push"]
        own_guarded = _any(r.binds_pushes(covers) for r, covers in own_guards)
        review_refuses = _any([classic_binds, *(r.binds_pushes(applies) for r, applies in reviews)])
        can_push = _all([rails.push, _not(review_refuses), _not(own_guarded)])
        if not rails.push:
            fix = "grant the token Contents: read and write"
        elif own_guarded is not False:
            fix = f"the push ruleset guarding {layout.ENVS_DIR}/{review_env}/ must not cover {layout.ENVS_DIR}/{env}/"
        else:
            names = ", ".join(r.name for r, applies in reviews if r.binds_pushes(applies) is not False)
            fix = (f"add this token's GitHub App to the bypass list of {names or 'the branch protection'} "
                   f"(mode: always) and guard {layout.env_dir(review_env)}/**/* with a push ruleset it "
                   "cannot bypass")
        checks.append(Check(f"this token can push {layout.ENVS_DIR}/{env}/ straight to {branch}",
                            can_push is True,
                            _answer(can_push, _unknowns(rails, [*reviews, *own_guards], branch)),
                            "" if can_push is True else fix))
    else:
        proposal = layout.proposal_branch(env, _ANY_NAME)
        updates = [(r, r.restricts_updates(proposal, rails.default_branch)) for r in rails.rulesets]
        blocked = _any(r.binds_pushes(applies) for r, applies in updates)
        can_propose = _all([rails.push, _not(blocked)])
        names = ", ".join(r.name for r, applies in updates if r.binds_pushes(applies) is not False)
        fix = ("grant the token Contents: read and write and Pull requests: read and write"
               if not rails.push else f"exclude {layout.proposal_branch(env, '*')} from {names}")
        checks.append(Check(f"this token can push {layout.proposal_branch(env, '*')}",
                            can_propose is True,
                            _answer(can_propose, _unknowns(rails, updates, branch)),
                            "" if can_propose is True else fix))
        checks.append(_pushes_promotions(rails, env))

    if rails.protection == "unreadable":
        checks.append(Check(f"classic branch protection of {branch} is readable", True,
                            "no (needs admin; rulesets are what count here)", ""))
    return checks


def _pushes_promotions(rails: GuardRails, env: str) -> Check:
    """Whether the token can push the branch of a pull-request promotion, which changes
    `envs/<env>/<service>/values.yaml`. Push rulesets apply to every push whatever the branch, so
    one restricting those paths refuses the branch unless the token bypasses it always."""
    changed = layout.values_file(env, _SOME_NAME)
    guards = [(r, r.refuses_change_to(changed)) for r in rails.rulesets if r.target == "push"]
    refused = _any(r.binds_pushes(refuses) for r, refuses in guards)
    can_push = _all([rails.push, _not(refused)])
    if not rails.push:
        fix = "grant the token Contents: read and write and Pull requests: read and write"
    else:
        names = ", ".join(r.name for r, refuses in guards if r.binds_pushes(refuses) is not False)
        fix = (f"add this token's GitHub App to the bypass list of {names} (mode: always): push "
               "rulesets have no branch condition, and the review stays required by the branch's "
               "pull request rule, which it must not bypass")
    branches = layout.proposal_branch(env, "*")
    return Check(f"this token can push {branches} branches changing {layout.env_dir(env)}/",
                 can_push is True,
                 _answer(can_push, _unknowns(rails, guards, layout.values_file(env, "<service>"))),
                 "" if can_push is True else fix)


def ruleset_from_github(data: dict[str, Any]) -> Ruleset:
    """A ruleset as GitHub's "Get a repository ruleset" answers it."""
    ref_name = (data.get("conditions") or {}).get("ref_name") or {}
    return Ruleset(
        id=data["id"], name=data.get("name", str(data["id"])), target=data.get("target", "branch"),
        enforcement=data.get("enforcement", "disabled"),
        include=tuple(ref_name.get("include") or ()), exclude=tuple(ref_name.get("exclude") or ()),
        rules=tuple(data.get("rules") or ()),
        can_bypass=_BYPASSES.get(data.get("current_user_can_bypass")),
        pushes_pass=_PUSHES_PASS.get(data.get("current_user_can_bypass")))


def read_guard_rails(*, repo_url: str, api_url: str | None, token: str, branch: str
                     ) -> GuardRails:
    """Read the repository's permissions, rulesets and classic branch protection with `token`."""
    from gitops.clients import forge

    seen = forge.read_rules(repo_url=repo_url, api_url=api_url, token=token, branch=branch)
    rulesets = [ruleset_from_github(data) for data in seen["rulesets"]]
    protection = seen["protection"]
    if isinstance(protection, dict):
        reviews = protection.get("required_pull_request_reviews") or {}
        protection = (reviews.get("required_approving_review_count", 0) if reviews else 0,
                      bool((protection.get("enforce_admins") or {}).get("enabled")))
    permissions = seen["permissions"]
    return GuardRails(seen["full_name"], seen["default_branch"], bool(permissions.get("admin")),
                      bool(permissions.get("push")), tuple(rulesets), protection)
