"""Verification results where people look, and where revert finds them: GitHub commit statuses and
Deployments on the GitOps commit that was verified.

Per (env, region) verify sets the commit status `delivery/<env>/<region>` (pending while it waits,
then success or failure, linking to the pipeline execution) and records a Deployment of the commit
to the environment `<env>-<region>` with its deployment status, so the pull request and the
repository's Environments page say "prod-us-east-1: success". The success status is also the record
of a verified version that `gitops revert` looks for: it is attached to the exact commit, written by
the step that verified it, needs no push right (the prod token may not push the branch), and
triggers no pipeline. On a forge that is not GitHub nothing is reported, and verify says so.

A promotion pull request's body carries the approved image (`trailers.render_block`);
`approved_image` reads it back for the merged pull request whose merge commit is the one verified.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from gitops.governance import trailers
from gitops.clients.forge import GitHubClient, github_api_base, parse_repo_url

# GitHub limits a commit status description to 140 characters.
_DESCRIPTION_MAX = 140


def status_context(env: str, region: str) -> str:
    return f"delivery/{env}/{region}"


def status_prefix(env: str) -> str:
    return f"delivery/{env}/"


@dataclass(frozen=True)
class CommitStatus:
    """One commit status as verify set it: its state, when it was set, what it says."""

    state: str            # pending | success | failure | error
    at: datetime          # GitHub's created_at of this status (aware, UTC)
    description: str


@dataclass(frozen=True)
class ApprovedImage:
    pull_request: str  # html URL
    values: dict[str, str]  # the block's keys (Image-Digest, Image-Tag, Delivery-Service …)


class GitHubRepository:
    """The GitOps repository on GitHub, through PyGithub and forge's error and rate-limit policy."""

    def __init__(self, repo_url: str, api_url: str | None, token: str | None,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        location = parse_repo_url(repo_url)
        api = github_api_base(location, api_url)
        assert api is not None, "use GitHubRepository.at(), which checks the forge"
        self._client = GitHubClient(api, token, sleep)
        self._repo = self._client.repository(location)

    @classmethod
    def at(cls, repo_url: str, api_url: str | None, token: str | None
           ) -> GitHubRepository | str:
        """The repository, or why nothing can be reported there (a note, not an error)."""
        location = parse_repo_url(repo_url)
        if github_api_base(location, api_url) is None:
            return (f"{location.hostname} is not GitHub: no commit status or deployment is "
                    "reported (for GitHub Enterprise give --github-api-url)")
        return cls(repo_url, api_url, token)

    def set_status(self, sha: str, context: str, state: str, description: str,
                   target_url: str | None) -> None:
        commit = self._client.call(f"reading commit {sha[:12]}", lambda: self._repo.get_commit(sha))
        kwargs = {"target_url": target_url} if target_url else {}
        self._client.call(f"setting the commit status {context} on {sha[:12]}",
                          lambda: commit.create_status(state=state, context=context,
                                                       description=description[:_DESCRIPTION_MAX],
                                                       **kwargs))

    def start_deployment(self, sha: str, environment: str, service: str, description: str,
                         production: bool) -> Callable[[str, str, str | None], None]:
        """Create the Deployment of `sha` to `environment` (in progress); return the function that
        records its final status (state, description, log URL)."""
        deployment = self._client.call(
            f"creating a deployment of {sha[:12]} to {environment}",
            lambda: self._repo.create_deployment(
                ref=sha, task=f"deploy:{service}", auto_merge=False, required_contexts=[],
                payload={"service": service}, environment=environment,
                description=description[:_DESCRIPTION_MAX], transient_environment=False,
                production_environment=production))

        def finish(state: str, text: str, log_url: str | None) -> None:
            kwargs = {"target_url": log_url} if log_url else {}
            self._client.call(
                f"setting the deployment status of {sha[:12]} in {environment}",
                # Other services deploy to the same environment: their deployments stay active.
                lambda: deployment.create_status(state=state, description=text[:_DESCRIPTION_MAX],
                                                 auto_inactive=False, **kwargs))

        finish("in_progress", description, None)
        return finish

    def approved_image(self, sha: str) -> ApprovedImage | None:
        """The block of the merged pull request whose merge commit is `sha`, if there is one."""
        commit = self._client.call(f"reading commit {sha[:12]}", lambda: self._repo.get_commit(sha))
        pulls = self._client.call(f"listing the pull requests of {sha[:12]}",
                                  lambda: list(commit.get_pulls()))
        for pull in pulls:
            if pull.merged_at is not None and pull.merge_commit_sha == sha:
                block = trailers.parse_block(pull.body)
                return ApprovedImage(pull.html_url, block or {})
        return None

    def verification_statuses(self, sha: str, env: str) -> dict[str, CommitStatus]:
        """The latest `delivery/<env>/<region>` status of each region on `sha`, by context."""
        commit = self._client.call(f"reading commit {sha[:12]}", lambda: self._repo.get_commit(sha))
        combined = self._client.call(f"reading the statuses of {sha[:12]}",
                                     lambda: commit.get_combined_status())
        # PyGithub reads GitHub's "…Z" times as aware UTC datetimes.
        return {status.context: CommitStatus(status.state, status.created_at.astimezone(UTC), status.description or "")
                for status in combined.statuses if status.context.startswith(status_prefix(env))}

    def verification_states(self, sha: str, env: str) -> dict[str, str]:
        """The latest state of each `delivery/<env>/<region>` status on `sha`, by context."""
        return {context: status.state for context, status in self.verification_statuses(sha, env).items()}


def verified(states: dict[str, str]) -> bool:
    """Passed verification: at least one region reported, and every region reported success."""
    return bool(states) and all(state == "success" for state in states.values())

