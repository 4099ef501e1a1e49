"""Pull requests on the GitOps repository's forge.

GitHub (github.com, or any GitHub-compatible API given as `api_url`) is driven through PyGithub:
open or update the promotion PR, arm auto-merge, and read the branch rules (`check_repo`); other
modules make their own calls through `GitHubClient`, under the same policy. Other forges get the
branch pushed by the caller and a compare URL from here, so a human can open the merge request.

API base: `api_url` when given; else https://api.github.com when the repository is on github.com;
else the forge is not treated as GitHub. GitHub Enterprise Server is GitHub only when told: pass
its API base, which by GitHub's convention is https://<host>/api/v3 (the GraphQL endpoint then is
https://<host>/api/graphql, derived by PyGithub).

Rate limits: a primary limit (403 with X-RateLimit-Remaining: 0) waits until X-RateLimit-Reset, a
secondary one (429 or 403 with Retry-After) waits Retry-After seconds, 60 s when GitHub gives no hint.
At most RATE_LIMIT_RETRIES retries, and never a wait longer than MAX_RATE_LIMIT_WAIT_S: beyond that
the command fails at once saying when the limit resets, rather than hanging a pipeline action.
PyGithub's own retrying and request pacing are switched off so that this is the only policy (a run
makes a handful of requests, and the pacing would add seconds of sleep to every run and test).
"""

from __future__ import annotations

import re
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import github
import requests
from github import GithubException
from github.PullRequest import PullRequest
from github.Repository import Repository

from gitops.clients.credentials import redact
from gitops.errors import CredentialsError, ForgeError, UsageError

GITHUB_API_URL = "https://api.github.com"
# Hosts that mean github.com itself (ssh.github.com serves SSH over port 443).
_GITHUB_HOSTS = {"github.com", "www.github.com", "ssh.github.com"}
RATE_LIMIT_RETRIES = 3
MAX_RATE_LIMIT_WAIT_S = 60.0
# GitHub's advice when a secondary rate limit comes without Retry-After: wait at least a minute.
_SECONDARY_DEFAULT_WAIT_S = 60.0
_REQUEST_TIMEOUT_S = 30

T = TypeVar("T")
Sleep = Callable[[float], None]


@dataclass(frozen=True)
class PullRequestResult:
    number: int | None  # None when the forge is not GitHub (branch pushed, compare URL only)
    url: str  # PR html_url, or the compare URL
    action: str  # "opened" | "updated" | "unchanged" | "pushed" (not GitHub: compare URL only)


@dataclass(frozen=True)
class RepoLocation:
    """Where a git remote lives: `host` (with a port for http(s) URLs), `path` ("owner/repo", or
    "group/subgroup/repo" on GitLab) and `web` (the forge's web root, for browser links)."""

    host: str
    path: str
    web: str

    @property
    def hostname(self) -> str:
        return self.host.split(":")[0].lower()


_SCP_LIKE = re.compile(r"^(?:[^@/]+@)?(?P<host>[^:/]+):(?P<path>[^/].*)$")


def parse_repo_url(repo_url: str) -> RepoLocation:
    """Parse https://, http://, ssh:// and scp-like (git@host:owner/repo.git) remote URLs.
    Credentials in the URL are dropped; they never reach a message or a link."""
    url = repo_url.strip()
    if "://" in url:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("https", "http", "ssh") or not parts.hostname:
            raise UsageError(_bad_url(repo_url))
        host = parts.hostname
        if parts.scheme == "ssh":
            # An SSH remote says nothing about the web port or scheme; forges serve https on 443.
            web = f"https://{host}"
        else:
            host = f"{host}:{parts.port}" if parts.port else host
            web = f"{parts.scheme}://{host}"
        path = parts.path
    else:
        match = _SCP_LIKE.match(url)
        if not match:
            raise UsageError(_bad_url(repo_url))
        host, path = match["host"], match["path"]
        web = f"https://{host}"
    path = path.strip("/").removesuffix(".git")
    if "/" not in path or "" in path.split("/"):
        raise UsageError(_bad_url(repo_url))
    return RepoLocation(host=host, path=path, web=web)


def _bad_url(repo_url: str) -> str:
    shown = _redact_userinfo(repo_url)
    return (
        f"cannot tell the forge repository from {shown!r}; use https://<host>/<owner>/<repo>.git "
        "or git@<host>:<owner>/<repo>.git"
    )


def _redact_userinfo(url: str) -> str:
    """`url` with any user:password@ part replaced by ***@ (remote URLs may embed a token)."""
    return re.sub(r"^([a-z+]+://)[^/@]+@", r"\1***@", url)


def github_api_base(location: RepoLocation, api_url: str | None) -> str | None:
    """The GitHub API base for `location`, or None when the repository is not on GitHub."""
    if api_url:
        return api_url.rstrip("/")
    if location.hostname in _GITHUB_HOSTS:
        return GITHUB_API_URL
    return None


def compare_url(location: RepoLocation, *, base: str, head: str) -> str:
    """A browser link comparing `head` with `base`, where a merge request can be opened.

    GitLab (host contains "gitlab"): /-/compare/base...head. Bitbucket Cloud (bitbucket.org):
    /branches/compare/head%0Dbase (source first). Anything else: /compare/base...head, the form of
    GitHub, Gitea and Forgejo; best effort for other forges."""
    quoted_base, quoted_head = (urllib.parse.quote(b, safe="/") for b in (base, head))
    root = f"{location.web}/{location.path}"
    if "gitlab" in location.hostname:
        return f"{root}/-/compare/{quoted_base}...{quoted_head}"
    if location.hostname == "bitbucket.org":
        return f"{root}/branches/compare/{quoted_head}%0D{quoted_base}"
    return f"{root}/compare/{quoted_base}...{quoted_head}"


def find_open_pull_request(*, repo_url: str, api_url: str | None, token: str | None, head: str,
                           base: str, sleep: Sleep = time.sleep) -> str | None:
    """The URL of the open pull request head → base on GitHub, or None (none open, or not GitHub)."""
    location = parse_repo_url(repo_url)
    api = github_api_base(location, api_url)
    if api is None:
        return None
    client = GitHubClient(api, _required_token(token, location), sleep)
    repo = client.repository(location)
    owner = repo.full_name.split("/")[0]
    pr = client.call(f"listing open pull requests for {owner}:{head}", lambda: _find_open_pull(repo, owner, head, base))
    return pr.html_url if pr is not None else None


def open_or_update_pull_request(
    *,
    repo_url: str,
    api_url: str | None,
    token: str | None,
    head: str,
    base: str,
    title: str,
    body: str,
    superseded_note: Callable[[str | None], str | None] | None = None,
    sleep: Sleep = time.sleep,
) -> PullRequestResult:
    """Open the pull request head → base, or update the open one, on GitHub; elsewhere return the
    compare URL of the already pushed branch.

    An open PR for `head` (in the repository itself, not a fork) and `base` gets the new title and
    body, plus a comment when `superseded_note(<its previous body>)` returns one; when its title
    and body are already these, nothing is written (action "unchanged"). `sleep` is for tests
    (rate-limit waits)."""
    if not head or not base or head == base:
        raise UsageError(f"a pull request needs two different branches; got head {head!r} and base {base!r}")
    if not title.strip():
        raise UsageError("a pull request needs a non-empty title")
    location = parse_repo_url(repo_url)
    api = github_api_base(location, api_url)
    if api is None:
        return PullRequestResult(number=None, url=compare_url(location, base=base, head=head), action="pushed")
    client = GitHubClient(api, _required_token(token, location), sleep)
    repo = client.repository(location)
    owner = repo.full_name.split("/")[0]
    listing = f"listing open pull requests for {owner}:{head}"
    pr = client.call(listing, lambda: _find_open_pull(repo, owner, head, base))
    if pr is None:
        pr = client.call(f"creating the pull request {head} → {base}", lambda: _create_pull(repo, head, base, title, body))
        if pr is not None:
            return PullRequestResult(number=pr.number, url=pr.html_url, action="opened")
        # Opened by someone else between our listing and our create: GitHub said "already exists".
        pr = client.call(listing, lambda: _find_open_pull(repo, owner, head, base))
        if pr is None:
            raise ForgeError(f"GitHub says a pull request {head} → {base} exists in {repo.full_name} but lists none open")
    action = _update_pull(client, pr, title, body, superseded_note)
    return PullRequestResult(number=pr.number, url=pr.html_url, action=action)


def arm_auto_merge(*, repo_url: str, api_url: str | None, token: str | None, number: int,
                   sleep: Sleep = time.sleep) -> str:
    """Arm GitHub's auto-merge (merge commit) on pull request `number`: "armed". When the PR is
    already mergeable GitHub refuses that ("clean status"), so it is merged at once, which branch
    protection still gates: "merged"."""
    location = parse_repo_url(repo_url)
    api = github_api_base(location, api_url)
    if api is None:
        raise UsageError(f"{location.hostname} is not GitHub: auto-merge needs the GitHub API")
    client = GitHubClient(api, _required_token(token, location), sleep)
    repo = client.repository(location)
    pr = client.call(f"reading pull request #{number}", lambda: repo.get_pull(number))
    return _arm_auto_merge(client, pr)


def read_rules(*, repo_url: str, api_url: str | None, token: str, branch: str,
               sleep: Sleep = time.sleep) -> dict:
    """What `token` sees of the repository's guard rails: {"full_name", "default_branch",
    "permissions" (the token's admin/push/pull), "rulesets" (each ruleset in full, with GitHub's
    `current_user_can_bypass` for this token), "protection" (the branch's classic protection, None
    when it has none, "unreadable" when the token may not read it: that needs admin)}.
    PyGithub has no rulesets API; its requester makes those calls (auth, errors, rate limits as
    for every other call)."""
    location = parse_repo_url(repo_url)
    api = github_api_base(location, api_url)
    if api is None:
        raise UsageError(f"{location.hostname} is not GitHub: check-repo reads GitHub rulesets and branch "
                         "protection; give --github-api-url for GitHub Enterprise")
    client = GitHubClient(api, token, sleep)
    repo = client.repository(location)

    def get(path: str) -> object:
        return client.call(f"reading {path}", lambda: client.requester.requestJsonAndCheck("GET", f"{repo.url}{path}")[1])

    listed = get("/rulesets?includes_parents=true&per_page=100")
    rulesets = [get(f"/rulesets/{item['id']}") for item in listed]  # type: ignore[union-attr]
    protection: object
    try:
        protection = client.call(f"reading the branch protection of {branch}", lambda: client.requester.requestJsonAndCheck(
            "GET", f"{repo.url}/branches/{urllib.parse.quote(branch, safe='')}/protection")[1], raw_errors=True)
    except GithubException as exc:
        if exc.status == 404 and "not protected" in " ".join(_api_messages(exc)).lower():
            protection = None
        elif exc.status in (403, 404):
            protection = "unreadable"
        else:
            raise ForgeError(client._redact(_error_message(f"reading the branch protection of {branch}", exc))) from None
    return {"full_name": repo.full_name, "default_branch": repo.default_branch,
            "permissions": repo.raw_data.get("permissions") or {}, "rulesets": rulesets,
            "protection": protection}


def _required_token(token: str | None, location: RepoLocation) -> str:
    if not token:
        raise CredentialsError(
            f"a token is needed to open a pull request on {location.hostname}; give the token's "
            "environment variable or Secrets Manager secret"
        )
    return token


def _find_open_pull(repo: Repository, owner: str, head: str, base: str) -> PullRequest | None:
    # GitHub filters by head ("owner:branch"); several open PRs may share it with different bases,
    # so the listing is paged through (PaginatedList follows the Link header) and filtered on base.
    for pr in repo.get_pulls(state="open", head=f"{owner}:{head}"):
        if pr.base.ref == base:
            return pr
    return None


def _create_pull(repo: Repository, head: str, base: str, title: str, body: str) -> PullRequest | None:
    """The new PR, or None when GitHub says one already exists for head → base."""
    try:
        return repo.create_pull(base=base, head=head, title=title, body=body)
    except GithubException as exc:
        if exc.status == 422 and any("already exists" in m for m in _api_messages(exc)):
            return None
        raise


def _update_pull(client: GitHubClient, pr: PullRequest, title: str, body: str,
                 superseded_note: Callable[[str | None], str | None] | None) -> str:
    if pr.title == title and (pr.body or "") == body:
        return "unchanged"  # a re-run of the same promotion: nothing is superseded
    previous_body = pr.body
    client.call(f"updating pull request #{pr.number}", lambda: pr.edit(title=title, body=body))
    note = superseded_note(previous_body) if superseded_note else None
    if note:
        client.call(f"commenting on pull request #{pr.number}", lambda: pr.create_issue_comment(note))
    return "updated"


def _arm_auto_merge(client: GitHubClient, pr: PullRequest) -> str:
    if pr.auto_merge is not None:
        return "armed"

    def enable() -> bool:
        """True when armed, False when GitHub says the PR can be merged right now."""
        try:
            pr.enable_automerge(merge_method="MERGE")
            return True
        except GithubException as exc:
            messages = " ".join(_api_messages(exc)).lower()
            if "auto merge is not allowed" in messages:
                raise ForgeError(
                    f"cannot enable auto-merge on pull request #{pr.number} ({pr.html_url}): the repository does "
                    'not allow it. Enable "Allow auto-merge" in the repository settings (Settings > General > '
                    "Pull Requests), or promote without auto-merge"
                ) from None
            if "clean status" in messages or "unstable status" in messages:
                return False
            raise

    if client.call(f"enabling auto-merge on pull request #{pr.number}", enable):
        return "armed"
    client.call(f"merging pull request #{pr.number}", lambda: pr.merge(merge_method="merge"))
    return "merged"


def _api_messages(exc: GithubException) -> list[str]:
    """GitHub's own words from an error body: "message", and each entry of "errors" (REST
    validation errors carry a message or a field and code; GraphQL errors carry a message)."""
    data = exc.data if isinstance(exc.data, dict) else {}
    messages = [data["message"]] if isinstance(data.get("message"), str) else []
    for error in data.get("errors") or []:
        if isinstance(error, dict):
            if error.get("message"):
                messages.append(str(error["message"]))
            elif error.get("field"):
                messages.append(f"{error.get('resource', '')} {error['field']} {error.get('code', 'invalid')}".strip())
        elif isinstance(error, str):
            messages.append(error)
    return messages


class GitHubClient:
    """A PyGithub client plus the one error and rate-limit policy every call goes through: what
    other modules (gitops.verification.report's commit statuses and deployments) drive GitHub with. `token`
    may be None for a public repository's reads; `api` comes from `github_api_base`."""

    def __init__(self, api: str, token: str | None, sleep: Sleep) -> None:
        self._api = api
        self._token = token
        self._sleep = sleep
        self._github = github.Github(
            base_url=api,
            auth=github.Auth.Token(token) if token else None,
            user_agent="delivery-pipeline-gitops",
            timeout=_REQUEST_TIMEOUT_S,
            per_page=100,
            retry=None,
            seconds_between_requests=None,
            seconds_between_writes=None,
        )

    def repository(self, location: RepoLocation) -> Repository:
        """The PyGithub repository at `location` (read once); drive it through `call`."""
        if location.path.count("/") != 1:
            raise UsageError(f"{location.path!r} is not a GitHub owner/repository path")
        return self.call(f"reading repository {location.path}", lambda: self._github.get_repo(location.path))

    @property
    def requester(self):
        """PyGithub's requester, for endpoints PyGithub has no method for."""
        return self._github.requester

    def call(self, what: str, action: Callable[[], T], *, raw_errors: bool = False) -> T:
        """`action()` under the rate-limit policy; other API errors become a ForgeError, or are
        raised as they are with `raw_errors` (for callers that read some statuses as answers)."""
        for attempt in range(RATE_LIMIT_RETRIES + 1):
            try:
                return action()
            except GithubException as exc:
                wait = _rate_limit_wait(exc)
                if wait is None:
                    if raw_errors:
                        raise
                    raise ForgeError(self._redact(_error_message(what, exc))) from None
                if wait > MAX_RATE_LIMIT_WAIT_S:
                    raise ForgeError(
                        f"GitHub rate limit hit while {what}; it lifts in {wait:.0f} s, longer than the "
                        f"{MAX_RATE_LIMIT_WAIT_S:.0f} s this command waits. Run it again later"
                    ) from None
                if attempt == RATE_LIMIT_RETRIES:
                    raise ForgeError(
                        f"GitHub rate limit still hit while {what} after {RATE_LIMIT_RETRIES} retries; "
                        "run it again later, or use a token with a higher limit (a GitHub App installation token)"
                    ) from None
                self._sleep(wait)
            except requests.RequestException as exc:
                raise ForgeError(self._redact(f"cannot reach the GitHub API at {self._api} while {what}: {exc}")) from None
        raise AssertionError("unreachable: the loop returns or raises")

    def _redact(self, text: str) -> str:
        return redact(text, self._token)


def _rate_limit_wait(exc: GithubException) -> float | None:
    """Seconds to wait before retrying, or None when `exc` is not a rate limit."""
    headers = {k.lower(): v for k, v in (exc.headers or {}).items()}
    message = " ".join(_api_messages(exc)).lower()
    primary = headers.get("x-ratelimit-remaining") == "0"
    secondary = "retry-after" in headers or "secondary rate limit" in message
    if not (exc.status == 429 or exc.status == 403 and (primary or secondary or "rate limit" in message)):
        return None
    if "retry-after" in headers:
        return max(0.0, float(headers["retry-after"]))
    if primary and "x-ratelimit-reset" in headers:
        # The reset is an epoch second; one more second absorbs clock skew and rounding.
        return max(0.0, float(headers["x-ratelimit-reset"]) - time.time()) + 1.0
    return _SECONDARY_DEFAULT_WAIT_S


def _error_message(what: str, exc: GithubException) -> str:
    said = "; ".join(_api_messages(exc)) or "no message"
    status = exc.status
    if status == 401:
        return f"GitHub rejected the token while {what} (401: {said}); check it is valid, not expired or revoked"
    if status == 403:
        return (
            f"GitHub refused {what} (403: {said}); the token needs access to the repository with "
            '"Pull requests: read and write" and "Contents: read" (classic tokens: the repo scope)'
        )
    if status == 404:
        return (
            f"GitHub found nothing while {what} (404: {said}); check the repository and number, and that the "
            "token can see the repository (GitHub answers 404 for private repositories it cannot)"
        )
    if status == 422:
        return f"GitHub refused {what} (422: {said})"
    return f"GitHub failed while {what} ({status}: {said})"
