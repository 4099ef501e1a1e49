"""A GitHub-API-like HTTP server on 127.0.0.1: the sandbox's GitHub (`make sandbox`), and what the tests
of gitops.clients.forge, promote, verify, revert and check-repo talk to.

It serves exactly the endpoints PyGithub calls from gitops.clients.forge, with the status codes, JSON shapes,
`Link` pagination and error bodies of the real REST API (v2022-11-28), plus the GraphQL mutation
`enablePullRequestAutoMerge`. State lives in memory; tests inspect it and act as a reviewer would.

Usage::

    from sandbox.github_api import FakeGitHub

    with FakeGitHub() as github:                       # starts on an ephemeral port, stops on exit
        repo = github.add_repo("acme/gitops")          # "main" exists; every other branch too
        result = open_or_update_pull_request(repo_url=repo.clone_url, api_url=github.api_url,
                                             token=github.token, head="promote/orders", base="main", ...)
        pr = repo.pulls[result.number]                 # FakePull: title, body, comments, auto_merge...
        github.merge(repo, result.number, merge_commit_sha="<sha from the git server>")

`repo_url` may be any remote whose path is owner/repo, e.g. the smart-HTTP git server's URL for the
same repository: with `api_url` given, only its path matters.

Endpoints (anything else answers 404 like GitHub does):
    GET   /repos/{o}/{r}                              PATCH /repos/{o}/{r}/pulls/{n}
    GET   /repos/{o}/{r}/pulls?state&head&base&page&per_page (Link header)
    POST  /repos/{o}/{r}/pulls                        GET   /repos/{o}/{r}/pulls/{n}
    POST  /repos/{o}/{r}/issues/{n}/comments          PUT   /repos/{o}/{r}/pulls/{n}/merge
    POST  /graphql   (mutation enablePullRequestAutoMerge only)
    GET   /repos/{o}/{r}/commits/{sha}                GET   /repos/{o}/{r}/commits/{sha}/pulls
    POST  /repos/{o}/{r}/statuses/{sha}               GET   /repos/{o}/{r}/commits/{sha}/status
    POST  /repos/{o}/{r}/deployments                  POST  /repos/{o}/{r}/deployments/{id}/statuses
    GET   /repos/{o}/{r}/rulesets                     GET   /repos/{o}/{r}/rulesets/{id}
    GET   /repos/{o}/{r}/branches/{b}/protection      (guard rails; see add_ruleset, protect_branch)

Behaviour worth knowing:
- Every request needs `Authorization: token <t>` or `Bearer <t>` with a known token, else 401
  "Bad credentials". Tokens in `read_only_tokens` get 403 "Resource not accessible by personal
  access token" on writes.
- `add_repo(..., branches=None)` accepts any branch name (the fake does not see the git server);
  give a set to make an unknown head/base a 422 like GitHub's.
- A second open PR for the same head and base is a 422 "A pull request already exists for o:b.".
- `require_checks=True` (default) keeps PRs "blocked", so enabling auto-merge is accepted and merging
  waits for the test to call `merge()`; False makes them "clean": GitHub then refuses auto-merge
  ("Pull request is in clean status") and a direct merge succeeds.
- `rate_limit(count, ...)` answers the next `count` requests (optionally of one method) as rate
  limited: primary (403, X-RateLimit-Remaining: 0, X-RateLimit-Reset) or secondary (429, Retry-After).
- `requests` records (method, path, status) of every request, for asserting what was (not) called.
- Slowing a client on the wire: `add_token(t)` accepts another write token (to tell two clients
  apart); `on_request(method, path, token)` runs before a request is handled and
  `on_reply(method, path, token)` after it took effect but before the answer goes out; either may
  block.
- The server stops itself after `lifetime_s` even if a test never leaves the `with` block.
- The merge endpoint makes up a merge commit sha unless `on_merge(repo, pull, method)` is set: then
  it returns the sha of the merge it made (the sandbox merges in its git repository), or raises
  `NotMergeable` for GitHub's 405.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any, Self

from sandbox.loopback import LoopbackServer

DEFAULT_TOKEN = "ghs_fakeGitHubToken0123456789abcdefABCD"
BOT_LOGIN = "gitops-bot"
_DOCS = "https://docs.github.com/rest"


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _sha(*parts: object) -> str:
    return hashlib.sha1(":".join(map(str, parts)).encode()).hexdigest()


@dataclass
class FakeComment:
    id: int
    body: str
    user: str
    created_at: str


@dataclass
class FakePull:
    number: int
    title: str
    body: str | None
    head: str
    base: str
    user: str
    node_id: str
    created_at: str
    state: str = "open"
    merged: bool = False
    merge_commit_sha: str | None = None
    merged_at: str | None = None
    closed_at: str | None = None
    comments: list[FakeComment] = field(default_factory=list)
    # None, or the auto-merge request as GitHub reports it: {"merge_method": "merge", "enabled_by": login}
    auto_merge: dict[str, str] | None = None
    merged_by_method: str | None = None


@dataclass
class FakeRepo:
    owner: str
    name: str
    id: int
    allow_auto_merge: bool
    require_checks: bool
    branches: set[str] | None
    default_branch: str = "main"
    pulls: dict[int, FakePull] = field(default_factory=dict)
    # Commit statuses by sha, oldest first, and deployments by id (see "commit statuses and
    # deployments" at the end of this module).
    statuses: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    deployments: dict[int, dict[str, Any]] = field(default_factory=dict)
    # Guard rails, as an admin configured them (see add_ruleset / protect_branch).
    rulesets: dict[int, dict[str, Any]] = field(default_factory=dict)
    protections: dict[str, dict[str, Any]] = field(default_factory=dict)

    # Filled in by FakeGitHub.add_repo: a remote URL on the fake's host (the fake serves no git).
    clone_url: str = ""

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.name}"

    def open_pulls(self) -> list[FakePull]:
        return [pr for pr in self.pulls.values() if pr.state == "open"]


class FakeGitHub(LoopbackServer):
    """The fake server. Use as a context manager; see the module docstring."""

    def __init__(
        self, *, token: str = DEFAULT_TOKEN, read_only_tokens: tuple[str, ...] = (), lifetime_s: float = 120.0,
        says_who_can_bypass: bool = True,
    ) -> None:
        self.token = token
        # False: rulesets are answered without `current_user_can_bypass`, as GitHub Enterprise
        # Server did before it had the field.
        self.says_who_can_bypass = says_who_can_bypass
        self._tokens = {token: "write", **{t: "read" for t in read_only_tokens}}
        self._actors: dict[str, tuple[str, int]] = {}
        self._lock = threading.Lock()
        self._repos: dict[str, FakeRepo] = {}
        self._ids = itertools.count(1000)
        self._rate_limited: list[dict[str, Any]] = []
        self.requests: list[tuple[str, str, int]] = []
        self.on_request: Callable[[str, str, str], None] | None = None
        self.on_reply: Callable[[str, str, str], None] | None = None
        self.on_merge: Callable[[FakeRepo, FakePull, str], str] | None = None
        super().__init__(_handler_for(self), "fake-github")
        self._timer = threading.Timer(lifetime_s, self._httpd.shutdown)
        self._timer.daemon = True

    # -- lifecycle ------------------------------------------------------------------------------

    def __enter__(self) -> Self:
        super().__enter__()
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._timer.cancel()
        super().__exit__(*exc)

    @property
    def api_url(self) -> str:
        """What to pass as `api_url` (GitHub's is https://api.github.com)."""
        return f"http://{self.address}"

    # -- state for tests ----------------------------------------------------------------------

    def add_repo(
        self,
        full_name: str,
        *,
        allow_auto_merge: bool = True,
        require_checks: bool = True,
        branches: set[str] | None = None,
    ) -> FakeRepo:
        owner, name = full_name.split("/")
        repo = FakeRepo(
            owner=owner,
            name=name,
            id=next(self._ids),
            allow_auto_merge=allow_auto_merge,
            require_checks=require_checks,
            branches=None if branches is None else {"main", *branches},
        )
        repo.clone_url = f"{self.api_url}/{full_name}.git"
        with self._lock:
            self._repos[full_name.lower()] = repo
        return repo

    def add_token(self, token: str, *, permission: str = "write",
                  actor: tuple[str, int] | None = None) -> None:
        """Accept another token: `permission` "read", "write" or "admin"; `actor` is who it acts
        as in rulesets' bypass lists, e.g. ("Integration", 101) for a GitHub App."""
        assert permission in ("read", "write", "admin"), permission
        with self._lock:
            self._tokens[token] = permission
            if actor is not None:
                self._actors[token] = actor

    def add_ruleset(self, repo: FakeRepo, name: str, *, target: str = "branch",
                    include: tuple[str, ...] = ("~DEFAULT_BRANCH",), exclude: tuple[str, ...] = (),
                    rules: list[dict[str, Any]], bypass: list[dict[str, Any]] = (),
                    enforcement: str = "active") -> int:
        """A repository ruleset as GitHub stores it: `rules` like [{"type": "pull_request",
        "parameters": {...}}], `bypass` like [{"actor_id": 101, "actor_type": "Integration",
        "bypass_mode": "always"}]. Push rulesets (`target="push"`) have no ref conditions, and no
        "pull_request" bypass mode (GitHub: "only applicable to branch rulesets")."""
        if target == "push" and any(actor["bypass_mode"] == "pull_request" for actor in bypass):
            raise ValueError(f"ruleset {name}: bypass mode pull_request is only applicable to branch rulesets")
        with self._lock:
            ruleset_id = next(self._ids)
            conditions = {} if target == "push" else {"ref_name": {"include": list(include), "exclude": list(exclude)}}
            repo.rulesets[ruleset_id] = {
                "id": ruleset_id, "name": name, "target": target, "source_type": "Repository",
                "source": repo.full_name, "enforcement": enforcement, "bypass_actors": list(bypass),
                "conditions": conditions, "rules": rules, "node_id": f"RRS_{ruleset_id}",
                "created_at": _now(), "updated_at": _now(),
            }
            return ruleset_id

    def protect_branch(self, repo: FakeRepo, branch: str, *, required_approvals: int = 1,
                       enforce_admins: bool = True) -> None:
        """Classic branch protection requiring `required_approvals` reviews."""
        with self._lock:
            repo.protections[branch] = {"required_approvals": required_approvals, "enforce_admins": enforce_admins}

    def add_pull(self, repo: FakeRepo, *, head: str, base: str = "main", title: str = "existing", body: str = "") -> FakePull:
        """An open PR created outside the code under test (by someone else, or an earlier run)."""
        with self._lock:
            return self._create_pull(repo, head=head, base=base, title=title, body=body, user="someone")

    def merge(self, repo: FakeRepo, number: int, *, merge_commit_sha: str | None = None) -> str:
        """Merge an open PR as a reviewer or auto-merge would; returns the merge commit sha."""
        with self._lock:
            pr = repo.pulls[number]
            assert pr.state == "open", f"PR #{number} is {pr.state}"
            sha = merge_commit_sha or _sha(repo.full_name, number, "merge")
            self._mark_merged(pr, sha, "merge")
            return sha

    def close(self, repo: FakeRepo, number: int) -> None:
        """Close an open PR without merging it."""
        with self._lock:
            pr = repo.pulls[number]
            pr.state, pr.closed_at = "closed", _now()

    def rate_limit(self, count: int, *, kind: str = "primary", wait_s: int = 1, method: str | None = None) -> None:
        """Answer the next `count` requests (only those with `method`, when given) as rate limited;
        the limit lifts after `wait_s` seconds (X-RateLimit-Reset for "primary", Retry-After for
        "secondary")."""
        assert kind in ("primary", "secondary"), kind
        with self._lock:
            self._rate_limited.extend({"kind": kind, "wait_s": wait_s, "method": method} for _ in range(count))

    def count(self, method: str, path_pattern: str) -> int:
        """How many requests matched `method` and the regex `path_pattern` (path without query)."""
        return sum(1 for m, p, _ in self.requests if m == method and re.fullmatch(path_pattern, p))

    # -- internals (called with the lock held) ------------------------------------------------

    def _create_pull(self, repo: FakeRepo, *, head: str, base: str, title: str, body: str | None, user: str) -> FakePull:
        number = max(repo.pulls, default=0) + 1
        pr = FakePull(
            number=number,
            title=title,
            body=body,
            head=head,
            base=base,
            user=user,
            node_id=f"PR_kwDO{repo.id}x{number}",
            created_at=_now(),
        )
        repo.pulls[number] = pr
        return pr

    def _mark_merged(self, pr: FakePull, sha: str, method: str) -> None:
        pr.state, pr.merged, pr.merge_commit_sha, pr.merged_by_method = "closed", True, sha, method
        pr.merged_at = pr.closed_at = _now()


# -- JSON shapes ------------------------------------------------------------------------------


def _user(api: str, login: str) -> dict[str, Any]:
    return {
        "login": login,
        "id": int(_sha(login)[:6], 16),
        "node_id": f"U_{login}",
        "type": "User",
        "site_admin": False,
        "url": f"{api}/users/{login}",
        "html_url": f"{api}/{login}",
    }


def _repo_json(api: str, repo: FakeRepo, permission: str) -> dict[str, Any]:
    return {
        "id": repo.id,
        "node_id": f"R_kgDO{repo.id}",
        "name": repo.name,
        "full_name": repo.full_name,
        "owner": _user(api, repo.owner),
        "private": True,
        "html_url": f"{api}/{repo.full_name}",
        "url": f"{api}/repos/{repo.full_name}",
        "pulls_url": f"{api}/repos/{repo.full_name}/pulls{{/number}}",
        "clone_url": repo.clone_url,
        "default_branch": repo.default_branch,
        "allow_auto_merge": repo.allow_auto_merge,
        "allow_merge_commit": True,
        "allow_squash_merge": True,
        "allow_rebase_merge": True,
        "permissions": {"admin": permission == "admin", "push": permission in ("write", "admin"),
                        "pull": True},
    }


def _pull_json(api: str, repo: FakeRepo, pr: FakePull, *, full: bool) -> dict[str, Any]:
    base_url = f"{api}/repos/{repo.full_name}"

    def ref(branch: str) -> dict[str, Any]:
        return {
            "label": f"{repo.owner}:{branch}",
            "ref": branch,
            "sha": _sha(repo.full_name, branch),
            "user": _user(api, repo.owner),
            "repo": _repo_json(api, repo, "read"),
        }

    data: dict[str, Any] = {
        "url": f"{base_url}/pulls/{pr.number}",
        "id": repo.id * 1000 + pr.number,
        "node_id": pr.node_id,
        "html_url": f"{api}/{repo.full_name}/pull/{pr.number}",
        "diff_url": f"{api}/{repo.full_name}/pull/{pr.number}.diff",
        "patch_url": f"{api}/{repo.full_name}/pull/{pr.number}.patch",
        "issue_url": f"{base_url}/issues/{pr.number}",
        "comments_url": f"{base_url}/issues/{pr.number}/comments",
        "number": pr.number,
        "state": pr.state,
        "locked": False,
        "title": pr.title,
        "body": pr.body,
        "user": _user(api, pr.user),
        "labels": [],
        "draft": False,
        "created_at": pr.created_at,
        "updated_at": pr.created_at,
        "closed_at": pr.closed_at,
        "merged_at": pr.merged_at,
        "merge_commit_sha": pr.merge_commit_sha,
        "head": ref(pr.head),
        "base": ref(pr.base),
        "author_association": "MEMBER",
        "auto_merge": None
        if pr.auto_merge is None
        else {**pr.auto_merge, "enabled_by": _user(api, pr.auto_merge["enabled_by"]), "commit_title": None, "commit_message": None},
    }
    if full:
        # Fields GitHub returns only for a single pull request, not in lists.
        data.update(
            merged=pr.merged,
            mergeable=None if pr.state != "open" else True,
            mergeable_state="blocked" if repo.require_checks else "clean",
            merged_by=_user(api, BOT_LOGIN) if pr.merged else None,
            comments=len(pr.comments),
            review_comments=0,
            commits=1,
            additions=2,
            deletions=2,
            changed_files=1,
        )
    return data


def _comment_json(api: str, repo: FakeRepo, pr: FakePull, comment: FakeComment) -> dict[str, Any]:
    return {
        "id": comment.id,
        "node_id": f"IC_{comment.id}",
        "url": f"{api}/repos/{repo.full_name}/issues/comments/{comment.id}",
        "html_url": f"{api}/{repo.full_name}/pull/{pr.number}#issuecomment-{comment.id}",
        "issue_url": f"{api}/repos/{repo.full_name}/issues/{pr.number}",
        "body": comment.body,
        "user": _user(api, comment.user),
        "created_at": comment.created_at,
        "updated_at": comment.created_at,
        "author_association": "MEMBER",
    }


class NotMergeable(Exception):
    """Raised by `on_merge` when the pull request cannot be merged; the message is GitHub's 405's."""


class _Reply(Exception):
    """Raised by a route to answer with an error status and GitHub's error body."""

    def __init__(self, status: int, message: str, errors: list[dict[str, Any]] | None = None, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.body: dict[str, Any] = {"message": message, "documentation_url": _DOCS, "status": str(status)}
        if errors:
            self.body["errors"] = errors
        self.headers = headers or {}


def _handler_for(github: FakeGitHub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body go out in two writes; without TCP_NODELAY each response waits ~40 ms
        # for the client's delayed ACK.
        disable_nagle_algorithm = True

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - keep test output quiet
            pass

        def do_GET(self) -> None:
            self._serve("GET")

        def do_POST(self) -> None:
            self._serve("POST")

        def do_PATCH(self) -> None:
            self._serve("PATCH")

        def do_PUT(self) -> None:
            self._serve("PUT")

        def _serve(self, method: str) -> None:
            url = urllib.parse.urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            headers: dict[str, str] = {}
            token = (self.headers.get("Authorization") or "").partition(" ")[2]
            if github.on_request is not None:
                github.on_request(method, url.path, token)
            try:
                with github._lock:
                    permission = self._authenticate()
                    self._maybe_rate_limit(method)
                    if method != "GET" and url.path != "/graphql" and permission == "read":
                        raise _Reply(403, "Resource not accessible by personal access token")
                    body = json.loads(raw) if raw else {}
                    status, payload, headers = _route(github, self.api, method, url, body, permission,
                                                      github._actors.get(token))
            except _Reply as reply:
                status, payload, headers = reply.status, reply.body, reply.headers
            except json.JSONDecodeError:
                status, payload = 400, {"message": "Problems parsing JSON", "documentation_url": _DOCS, "status": "400"}
            github.requests.append((method, url.path, status))
            if github.on_reply is not None:
                github.on_reply(method, url.path, token)
            self._send(status, payload, headers)

        @property
        def api(self) -> str:
            return github.api_url

        def _authenticate(self) -> str:
            scheme, _, token = (self.headers.get("Authorization") or "").partition(" ")
            if scheme.lower() not in ("token", "bearer") or token not in github._tokens:
                raise _Reply(401, "Bad credentials")
            return github._tokens[token]

        def _maybe_rate_limit(self, method: str) -> None:
            pending = [limit for limit in github._rate_limited if limit["method"] in (None, method)]
            if not pending:
                return
            limit = pending[0]
            github._rate_limited.remove(limit)
            if limit["kind"] == "primary":
                raise _Reply(
                    403,
                    "API rate limit exceeded for user ID 4242. If you reach out to GitHub Support for help, "
                    "please include the request ID 0000:0000:0000000:0000000:00000000.",
                    headers={
                        "X-RateLimit-Limit": "5000",
                        "X-RateLimit-Remaining": "0",
                        "X-RateLimit-Used": "5000",
                        "X-RateLimit-Resource": "core",
                        "X-RateLimit-Reset": str(int(time.time()) + limit["wait_s"]),
                    },
                )
            raise _Reply(
                429,
                "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.",
                headers={"Retry-After": str(limit["wait_s"])},
            )

        def _send(self, status: int, payload: Any, headers: dict[str, str]) -> None:
            data = b"" if payload is None else json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("X-GitHub-Api-Version-Selected", "2022-11-28")
            if "X-RateLimit-Remaining" not in headers:
                headers = {"X-RateLimit-Limit": "5000", "X-RateLimit-Remaining": "4999",
                           "X-RateLimit-Reset": str(int(time.time()) + 3600), **headers}
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

    return Handler


# -- routes (called with the lock held) ---------------------------------------------------------

_REPO = r"/repos/(?P<owner>[^/]+)/(?P<name>[^/]+)"


def _route(
    github: FakeGitHub, api: str, method: str, url: urllib.parse.SplitResult, body: dict[str, Any], permission: str,
    actor: tuple[str, int] | None = None,
) -> tuple[int, Any, dict[str, str]]:
    if url.path == "/graphql" and method == "POST":
        return 200, _graphql(github, api, body, permission), {}
    for verb, pattern, route in (*_ROUTES, *_GUARD_RAIL_ROUTES):
        match = re.fullmatch(_REPO + pattern, url.path)
        if verb == method and match:
            repo = github._repos.get(f"{match['owner']}/{match['name']}".lower())
            if repo is None:
                raise _Reply(404, "Not Found")
            number = int(match["number"]) if "number" in match.groupdict() else None
            if number is not None and number not in repo.pulls:
                raise _Reply(404, "Not Found")
            query = dict(urllib.parse.parse_qsl(url.query))
            # Other path parameters (a commit sha, a deployment id) ride along as "__<name>".
            query.update({f"__{k}": v for k, v in match.groupdict().items() if k not in ("owner", "name", "number")})
            return route(_Request(github, api, repo, number, query, body, permission, match.groupdict(), actor))
    raise _Reply(404, "Not Found")


@dataclass
class _Request:
    github: FakeGitHub
    api: str
    repo: FakeRepo
    number: int | None  # the pull request number of /pulls/{n} and /issues/{n} routes
    query: dict[str, str]
    body: dict[str, Any]
    permission: str  # "admin", "write" or "read", from the token
    params: dict[str, Any] = field(default_factory=dict)  # the route's named groups
    actor: tuple[str, int] | None = None  # who the token acts as in bypass lists

    @property
    def pull(self) -> FakePull:
        assert self.number is not None
        return self.repo.pulls[self.number]


_Response = tuple[int, Any, dict[str, str]]


def _get_repo(req: _Request) -> _Response:
    return 200, _repo_json(req.api, req.repo, req.permission), {}


def _list_pulls(req: _Request) -> _Response:
    state = req.query.get("state", "open")
    pulls = [pr for pr in req.repo.pulls.values() if state == "all" or pr.state == state]
    if "head" in req.query:
        owner, _, branch = req.query["head"].partition(":")
        # GitHub filters by "user:ref"; a head without the owner part matches nothing useful.
        pulls = [pr for pr in pulls if owner.lower() == req.repo.owner.lower() and pr.head == branch]
    if "base" in req.query:
        pulls = [pr for pr in pulls if pr.base == req.query["base"]]
    pulls.sort(key=lambda pr: pr.number, reverse=True)  # sort=created, direction=desc
    per_page = max(1, min(int(req.query.get("per_page", 30)), 100))
    page = max(1, int(req.query.get("page", 1)))
    last = max(1, -(-len(pulls) // per_page))
    items = pulls[(page - 1) * per_page : page * per_page]

    def link(to: int) -> str:
        params = urllib.parse.urlencode({**req.query, "page": to, "per_page": per_page})
        return f"<{req.api}/repos/{req.repo.full_name}/pulls?{params}>"

    rels = []
    if page < last:
        rels += [f'{link(page + 1)}; rel="next"', f'{link(last)}; rel="last"']
    if page > 1:
        rels += [f'{link(1)}; rel="first"', f'{link(page - 1)}; rel="prev"']
    headers = {"Link": ", ".join(rels)} if rels else {}
    return 200, [_pull_json(req.api, req.repo, pr, full=False) for pr in items], headers


def _invalid(resource: str, **error: str) -> _Reply:
    """GitHub's 422: {"message": "Validation Failed", "errors": [{"resource": ..., "code": ...}]}."""
    return _Reply(422, "Validation Failed", [{"resource": resource, **error}])


def _create_pull(req: _Request) -> _Response:
    for key in ("title", "head", "base"):
        if not req.body.get(key):
            raise _invalid("PullRequest", field=key, code="missing_field")
    owner, _, head = req.body["head"].rpartition(":")
    base = req.body["base"]
    if owner and owner.lower() != req.repo.owner.lower():
        raise _invalid("PullRequest", field="head", code="invalid")  # forks are not modelled
    for name, branch in (("base", base), ("head", head)):
        if req.repo.branches is not None and branch not in req.repo.branches:
            raise _invalid("PullRequest", field=name, code="invalid")
    if head == base:
        raise _invalid("PullRequest", code="custom", message=f"No commits between {base} and {head}")
    if any(pr.head == head and pr.base == base for pr in req.repo.open_pulls()):
        raise _invalid("PullRequest", code="custom", message=f"A pull request already exists for {req.repo.owner}:{head}.")
    pr = req.github._create_pull(
        req.repo, head=head, base=base, title=req.body["title"], body=req.body.get("body"), user=BOT_LOGIN
    )
    location = f"{req.api}/repos/{req.repo.full_name}/pulls/{pr.number}"
    return 201, _pull_json(req.api, req.repo, pr, full=True), {"Location": location}


def _get_pull(req: _Request) -> _Response:
    return 200, _pull_json(req.api, req.repo, req.pull, full=True), {}


def _edit_pull(req: _Request) -> _Response:
    pr = req.pull
    if "title" in req.body:
        if not req.body["title"]:
            raise _invalid("PullRequest", field="title", code="missing_field")
        pr.title = req.body["title"]
    if "body" in req.body:
        pr.body = req.body["body"]
    return 200, _pull_json(req.api, req.repo, pr, full=True), {}


def _comment(req: _Request) -> _Response:
    if not req.body.get("body"):
        raise _invalid("IssueComment", field="body", code="missing_field")
    pr = req.pull
    comment = FakeComment(id=next(req.github._ids), body=req.body["body"], user=BOT_LOGIN, created_at=_now())
    pr.comments.append(comment)
    return 201, _comment_json(req.api, req.repo, pr, comment), {}


def _merge(req: _Request) -> _Response:
    pr = req.pull
    if pr.state != "open":
        raise _Reply(405, "Pull Request is not mergeable")
    if req.repo.require_checks:
        raise _Reply(405, "Required status check \"build\" is expected.")
    method = req.body.get("merge_method", "merge")
    if req.github.on_merge is None:
        sha = _sha(req.repo.full_name, req.number, method)
    else:
        try:
            sha = req.github.on_merge(req.repo, pr, method)
        except NotMergeable as refused:
            raise _Reply(405, str(refused)) from None
    req.github._mark_merged(pr, sha, method)
    return 200, {"sha": pr.merge_commit_sha, "merged": True, "message": "Pull Request successfully merged"}, {}


_ROUTES = (
    ("GET", r"", _get_repo),
    ("GET", r"/pulls", _list_pulls),
    ("POST", r"/pulls", _create_pull),
    ("GET", r"/pulls/(?P<number>\d+)", _get_pull),
    ("PATCH", r"/pulls/(?P<number>\d+)", _edit_pull),
    ("POST", r"/issues/(?P<number>\d+)/comments", _comment),
    ("PUT", r"/pulls/(?P<number>\d+)/merge", _merge),
)


# -- guard rails: branch protection and rulesets (read-only, as check-repo reads them) ----------


def _can_bypass(ruleset: dict[str, Any], req: _Request) -> str:
    """GitHub's `current_user_can_bypass` for the token: "always", "exempt", "pull_requests_only" or
    "never"."""
    for actor in ruleset["bypass_actors"]:
        admin_role = actor["actor_type"] == "RepositoryRole" and actor["actor_id"] == 5 and req.permission == "admin"
        if admin_role or (actor["actor_type"], actor["actor_id"]) == req.actor:
            return {"always": "always", "exempt": "exempt"}.get(actor["bypass_mode"], "pull_requests_only")
    return "never"


def _list_rulesets(req: _Request) -> _Response:
    summary = ("id", "name", "target", "source_type", "source", "enforcement", "node_id", "created_at", "updated_at")
    return 200, [{key: r[key] for key in summary} for r in req.repo.rulesets.values()], {}


def _get_ruleset(req: _Request) -> _Response:
    ruleset = req.repo.rulesets.get(int(req.params["ruleset"]))
    if ruleset is None:
        raise _Reply(404, "Not Found")
    # Bypass actors are shown to those who may edit the ruleset only, as on GitHub.
    shown = ruleset if req.permission == "admin" else {k: v for k, v in ruleset.items() if k != "bypass_actors"}
    if not req.github.says_who_can_bypass:
        return 200, shown, {}
    return 200, {**shown, "current_user_can_bypass": _can_bypass(ruleset, req)}, {}


def _get_branch_protection(req: _Request) -> _Response:
    if req.permission != "admin":
        raise _Reply(403, "Resource not accessible by personal access token")
    protection = req.repo.protections.get(req.params["branch"])
    if protection is None:
        raise _Reply(404, "Branch not protected")
    url = f"{req.api}/repos/{req.repo.full_name}/branches/{req.params['branch']}/protection"
    return 200, {
        "url": url,
        "required_pull_request_reviews": {
            "url": f"{url}/required_pull_request_reviews", "dismiss_stale_reviews": False,
            "require_code_owner_reviews": False,
            "required_approving_review_count": protection["required_approvals"],
        },
        "enforce_admins": {"url": f"{url}/enforce_admins", "enabled": protection["enforce_admins"]},
        "allow_force_pushes": {"enabled": False}, "allow_deletions": {"enabled": False},
    }, {}


_GUARD_RAIL_ROUTES = (
    ("GET", r"/rulesets", _list_rulesets),
    ("GET", r"/rulesets/(?P<ruleset>\d+)", _get_ruleset),
    ("GET", r"/branches/(?P<branch>.+)/protection", _get_branch_protection),
)


def _graphql(github: FakeGitHub, api: str, body: dict[str, Any], permission: str) -> dict[str, Any]:
    """GraphQL answers 200 with an "errors" list when a mutation is refused, as GitHub does."""
    query = body.get("query", "")

    def refused(message: str, kind: str = "UNPROCESSABLE") -> dict[str, Any]:
        return {"data": {"enablePullRequestAutoMerge": None},
                "errors": [{"type": kind, "path": ["enablePullRequestAutoMerge"], "message": message}]}

    if not re.search(r"\benablePullRequestAutoMerge\s*\(", query):
        return {"errors": [{"message": "the fake GitHub serves only the enablePullRequestAutoMerge mutation"}]}
    mutation_input = body.get("variables", {}).get("input", {})
    node_id = mutation_input.get("pullRequestId")
    found = [(repo, pr) for repo in github._repos.values() for pr in repo.pulls.values() if pr.node_id == node_id]
    if not found:
        return refused(f"Could not resolve to a node with the global id of '{node_id}'", "NOT_FOUND")
    repo, pr = found[0]
    if permission != "write":
        return refused(f"{BOT_LOGIN} does not have permission to enable auto-merge on this pull request.", "FORBIDDEN")
    if not repo.allow_auto_merge:
        return refused("Pull request Auto merge is not allowed for this repository")
    if pr.state != "open":
        return refused("Pull request Pull request is closed")
    if not repo.require_checks:
        return refused("Pull request Pull request is in clean status")
    pr.auto_merge = {"merge_method": mutation_input.get("mergeMethod", "MERGE").lower(), "enabled_by": BOT_LOGIN}
    actor = {"avatarUrl": "", "login": BOT_LOGIN, "resourcePath": f"/{BOT_LOGIN}", "url": f"{api}/{BOT_LOGIN}"}
    return {"data": {"enablePullRequestAutoMerge": {"actor": actor, "clientMutationId": mutation_input.get("clientMutationId")}}}


# -- commit statuses and deployments ------------------------------------------------------------
# What verify reports and revert reads. GitHub's rules modelled: status states and the 140-character
# description; a deployment without `required_contexts` is refused (409) unless every status of the
# commit is success; a success deployment status with auto_inactive (the default) marks the earlier
# non-production deployments of that environment inactive.

_STATUS_STATES = {"error", "failure", "pending", "success"}
_DEPLOYMENT_STATES = {"error", "failure", "inactive", "in_progress", "queued", "pending", "success"}
_HEX = re.compile(r"[0-9a-f]{40}")


def _commit_sha(req: _Request, sha: str) -> str:
    if not _HEX.fullmatch(sha):
        raise _Reply(422, f"No commit found for SHA: {sha}")
    return sha


def _latest_statuses(repo: FakeRepo, sha: str) -> dict[str, dict[str, Any]]:
    latest: dict[str, dict[str, Any]] = {}
    for status in repo.statuses.get(sha, []):
        latest[status["context"]] = status
    return latest


def _get_commit(req: _Request, sha: str) -> _Response:
    sha = _commit_sha(req, sha)
    base = f"{req.api}/repos/{req.repo.full_name}"
    person = {"name": BOT_LOGIN, "email": f"{BOT_LOGIN}@example.invalid", "date": _now()}
    return 200, {"sha": sha, "node_id": f"C_{sha[:8]}", "url": f"{base}/commits/{sha}",
                 "html_url": f"{req.api}/{req.repo.full_name}/commit/{sha}",
                 "commit": {"message": "", "author": person, "committer": person,
                            "tree": {"sha": _sha(sha, "tree"), "url": f"{base}/git/trees/x"}},
                 "parents": [], "files": []}, {}


def _commit_pulls(req: _Request, sha: str) -> _Response:
    sha = _commit_sha(req, sha)
    pulls = [pr for pr in req.repo.pulls.values() if pr.merge_commit_sha == sha]
    return 200, [_pull_json(req.api, req.repo, pr, full=False) for pr in pulls], {}


def _status_json(req: _Request, status: dict[str, Any]) -> dict[str, Any]:
    return {**status, "url": f"{req.api}/repos/{req.repo.full_name}/statuses/{status['sha']}",
            "creator": _user(req.api, BOT_LOGIN)}


def _create_status(req: _Request, sha: str) -> _Response:
    sha = _commit_sha(req, sha)
    state = req.body.get("state")
    if state not in _STATUS_STATES:
        raise _invalid("Status", field="state", code="custom",
                       message=f"state is not included in the list")
    if len(req.body.get("description") or "") > 140:
        raise _invalid("Status", field="description", code="custom",
                       message="description is too long (maximum is 140 characters)")
    status = {"id": next(req.github._ids), "sha": sha, "state": state,
              "context": req.body.get("context") or "default",
              "description": req.body.get("description"), "target_url": req.body.get("target_url"),
              "created_at": _now(), "updated_at": _now()}
    req.repo.statuses.setdefault(sha, []).append(status)
    return 201, _status_json(req, status), {}


def _combined_status(req: _Request, sha: str) -> _Response:
    sha = _commit_sha(req, sha)
    statuses = sorted(_latest_statuses(req.repo, sha).values(), key=lambda s: s["context"])
    states = {s["state"] for s in statuses}
    overall = ("failure" if states & {"failure", "error"} else "pending" if "pending" in states
               or not states else "success")
    return 200, {"state": overall, "sha": sha, "total_count": len(statuses),
                 "statuses": [_status_json(req, s) for s in statuses],
                 "repository": _repo_json(req.api, req.repo, req.permission),
                 "commit_url": f"{req.api}/repos/{req.repo.full_name}/commits/{sha}"}, {}


def _deployment_json(req: _Request, deployment: dict[str, Any]) -> dict[str, Any]:
    base = f"{req.api}/repos/{req.repo.full_name}/deployments/{deployment['id']}"
    public = {k: v for k, v in deployment.items() if k != "statuses"}
    return {**public, "url": base, "statuses_url": f"{base}/statuses",
            "repository_url": f"{req.api}/repos/{req.repo.full_name}",
            "creator": _user(req.api, BOT_LOGIN)}


def _create_deployment(req: _Request) -> _Response:
    ref = req.body.get("ref")
    if not ref:
        raise _invalid("Deployment", field="ref", code="missing_field")
    required = req.body.get("required_contexts")
    latest = _latest_statuses(req.repo, ref)
    if required is None and any(s["state"] != "success" for s in latest.values()):
        raise _Reply(409, "Conflict: Commit status checks failed for " + ref + ".")
    deployment = {"id": next(req.github._ids), "node_id": "DE_x", "sha": ref, "ref": ref,
                  "task": req.body.get("task", "deploy"), "payload": req.body.get("payload", {}),
                  "environment": req.body.get("environment", "production"),
                  "description": req.body.get("description"),
                  "transient_environment": bool(req.body.get("transient_environment", False)),
                  "production_environment": bool(req.body.get(
                      "production_environment", req.body.get("environment") == "production")),
                  "created_at": _now(), "updated_at": _now(), "statuses": []}
    req.repo.deployments[deployment["id"]] = deployment
    return 201, _deployment_json(req, deployment), {}


def _create_deployment_status(req: _Request, deployment_id: str) -> _Response:
    deployment = req.repo.deployments.get(int(deployment_id))
    if deployment is None:
        raise _Reply(404, "Not Found")
    state = req.body.get("state")
    if state not in _DEPLOYMENT_STATES:
        raise _invalid("DeploymentStatus", field="state", code="invalid")
    status = {"id": next(req.github._ids), "state": state,
              "description": req.body.get("description", ""),
              "target_url": req.body.get("target_url") or req.body.get("log_url") or "",
              "environment": deployment["environment"], "created_at": _now()}
    deployment["statuses"].append(status)
    if state == "success" and req.body.get("auto_inactive", True):
        for other in req.repo.deployments.values():
            if other is not deployment and other["environment"] == deployment["environment"] \
                    and not other["transient_environment"] and not other["production_environment"]:
                other["statuses"].append({**status, "id": next(req.github._ids),
                                          "state": "inactive"})
    base = f"{req.api}/repos/{req.repo.full_name}/deployments/{deployment['id']}"
    return 201, {**status, "url": f"{base}/statuses/{status['id']}", "deployment_url": base,
                 "repository_url": f"{req.api}/repos/{req.repo.full_name}",
                 "creator": _user(req.api, BOT_LOGIN)}, {}


def _with_path_arg(route: Any, group: str) -> Any:
    """A route taking one path parameter besides the repository, from the matched URL."""
    def call(req: _Request) -> _Response:
        return route(req, req.query.pop(f"__{group}"))
    return call


_COMMIT_ROUTES = (
    ("GET", r"/commits/(?P<sha>[^/]+)", _with_path_arg(_get_commit, "sha")),
    ("GET", r"/commits/(?P<sha>[^/]+)/pulls", _with_path_arg(_commit_pulls, "sha")),
    ("GET", r"/commits/(?P<sha>[^/]+)/status", _with_path_arg(_combined_status, "sha")),
    ("POST", r"/statuses/(?P<sha>[^/]+)", _with_path_arg(_create_status, "sha")),
    ("POST", r"/deployments", _create_deployment),
    ("POST", r"/deployments/(?P<deployment>\d+)/statuses",
     _with_path_arg(_create_deployment_status, "deployment")),
)
_ROUTES = _ROUTES + _COMMIT_ROUTES
