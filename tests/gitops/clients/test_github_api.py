"""gitops.clients.forge against the fake GitHub server (real HTTP through PyGithub), and URL handling."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
from github import GithubException

from gitops.errors import CredentialsError, ForgeError, UsageError
from gitops.clients.forge import (
    MAX_RATE_LIMIT_WAIT_S,
    GitHubClient,
    RATE_LIMIT_RETRIES,
    PullRequestResult,
    arm_auto_merge,
    compare_url,
    github_api_base,
    open_or_update_pull_request,
    parse_repo_url,
)
from sandbox.github_api import FakeGitHub, FakeRepo

HEAD = "promote/prod/orders"


@pytest.fixture
def github() -> Iterator[FakeGitHub]:
    with FakeGitHub(read_only_tokens=("ghp_readonly",)) as server:
        yield server


@pytest.fixture
def repo(github: FakeGitHub) -> FakeRepo:
    return github.add_repo("acme/gitops")


class Sleeps:
    """An injected sleep that records what it was asked to wait and returns at once."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


def promote(github: FakeGitHub, repo: FakeRepo, *, auto_merge: bool = False,
            superseded_note: str | None = None, **overrides: object) -> PullRequestResult:
    """Open or update the PR as promote does (the note whatever the previous body), then arm
    auto-merge when asked."""
    arguments: dict[str, object] = dict(
        repo_url=repo.clone_url,
        api_url=github.api_url,
        token=github.token,
        head=HEAD,
        base="main",
        title="prod: orders → 3f2a9c1",
        body="Promotes orders to 3f2a9c1 (sha256:aaa).",
        superseded_note=lambda previous_body: superseded_note,
        sleep=Sleeps(),
    )
    arguments.update(overrides)
    result = open_or_update_pull_request(**arguments)  # type: ignore[arg-type]
    if auto_merge:
        assert result.number is not None
        arm_auto_merge(repo_url=repo.clone_url, api_url=github.api_url, token=arguments["token"],
                       number=result.number, sleep=Sleeps())  # type: ignore[arg-type]
    return result


# -- open or update -------------------------------------------------------------------------


def test_creates_the_pull_request(github: FakeGitHub, repo: FakeRepo) -> None:
    result = promote(github, repo)
    assert result.action == "opened"
    pr = repo.pulls[result.number]  # type: ignore[index]
    assert (pr.head, pr.base, pr.state) == (HEAD, "main", "open")
    assert pr.title == "prod: orders → 3f2a9c1"
    assert pr.body == "Promotes orders to 3f2a9c1 (sha256:aaa)."
    assert result.url == f"{github.api_url}/acme/gitops/pull/{pr.number}"
    assert pr.auto_merge is None and pr.comments == []


def test_updates_the_open_pull_request_with_a_comment_instead_of_a_second_one(github: FakeGitHub, repo: FakeRepo) -> None:
    first = promote(github, repo)
    second = promote(
        github, repo, title="prod: orders → 8b77e02", body="Promotes orders to 8b77e02.",
        superseded_note="Superseded: now promotes 8b77e02 instead of 3f2a9c1.",
    )
    assert (second.action, second.number, second.url) == ("updated", first.number, first.url)
    assert len(repo.pulls) == 1
    pr = repo.pulls[first.number]  # type: ignore[index]
    assert (pr.title, pr.body) == ("prod: orders → 8b77e02", "Promotes orders to 8b77e02.")
    assert [c.body for c in pr.comments] == ["Superseded: now promotes 8b77e02 instead of 3f2a9c1."]
    assert github.count("POST", r"/repos/acme/gitops/pulls") == 1


def test_rerun_of_the_same_promotion_changes_nothing(github: FakeGitHub, repo: FakeRepo) -> None:
    first = promote(github, repo)
    again = promote(github, repo, superseded_note="Superseded: ...")
    assert (again.action, again.number) == ("unchanged", first.number)
    assert repo.pulls[first.number].comments == []  # type: ignore[index]
    assert github.count("PATCH", r"/repos/acme/gitops/pulls/\d+") == 0


def test_without_superseded_note_updates_without_comment(github: FakeGitHub, repo: FakeRepo) -> None:
    first = promote(github, repo)
    promote(github, repo, body="new body")
    pr = repo.pulls[first.number]  # type: ignore[index]
    assert pr.body == "new body" and pr.comments == []


def test_finds_the_open_pull_request_beyond_the_first_page(github: FakeGitHub, repo: FakeRepo) -> None:
    # 150 open PRs from the same head into other bases: ours (oldest, listed last) is on page 2.
    ours = github.add_pull(repo, head=HEAD, base="main", title="old")
    for i in range(150):
        github.add_pull(repo, head=HEAD, base=f"release-{i}")
    result = promote(github, repo, superseded_note="Superseded.")
    assert (result.action, result.number) == ("updated", ours.number)
    assert repo.pulls[ours.number].title == "prod: orders → 3f2a9c1"
    assert [c.body for c in repo.pulls[ours.number].comments] == ["Superseded."]
    assert github.count("GET", r"/repos/acme/gitops/pulls") == 2  # page 1 (100) and page 2 via Link
    assert github.count("POST", r"/repos/acme/gitops/pulls") == 0


def test_ignores_closed_pull_requests_and_other_heads(github: FakeGitHub, repo: FakeRepo) -> None:
    closed = github.add_pull(repo, head=HEAD)
    github.close(repo, closed.number)
    other = github.add_pull(repo, head="promote/prod/payments")
    result = promote(github, repo)
    assert result.action == "opened"
    assert result.number not in (closed.number, other.number)
    assert repo.pulls[other.number].title == "existing"


def test_pull_request_opened_concurrently_is_updated(github: FakeGitHub, repo: FakeRepo, monkeypatch: pytest.MonkeyPatch) -> None:
    # Another run opens the PR after our listing: our create gets GitHub's 422 "already exists".
    import gitops.clients.forge as forge

    real_find = forge._find_open_pull
    calls = []

    def find_then_race(*args: object) -> object:
        calls.append(args)
        if len(calls) == 1:
            github.add_pull(repo, head=HEAD, title="by the other run")
            return None
        return real_find(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(forge, "_find_open_pull", find_then_race)
    result = promote(github, repo, superseded_note="Superseded.")
    assert result.action == "updated"
    assert len(repo.pulls) == 1
    assert repo.pulls[result.number].title == "prod: orders → 3f2a9c1"  # type: ignore[index]
    assert github.count("POST", r"/repos/acme/gitops/pulls") == 1  # the refused create


# -- auto-merge -----------------------------------------------------------------------------


def test_auto_merge_is_armed(github: FakeGitHub, repo: FakeRepo) -> None:
    result = promote(github, repo, auto_merge=True)
    pr = repo.pulls[result.number]  # type: ignore[index]
    assert pr.auto_merge == {"merge_method": "merge", "enabled_by": "gitops-bot"}
    assert pr.state == "open"  # waits for the required checks
    assert github.count("POST", "/graphql") == 1


def test_auto_merge_already_armed_is_not_requested_again(github: FakeGitHub, repo: FakeRepo) -> None:
    promote(github, repo, auto_merge=True)
    promote(github, repo, auto_merge=True, body="new body")
    assert github.count("POST", "/graphql") == 1


def test_auto_merge_not_allowed_says_which_setting(github: FakeGitHub) -> None:
    repo = github.add_repo("acme/strict", allow_auto_merge=False)
    with pytest.raises(ForgeError, match='Enable "Allow auto-merge" in the repository settings'):
        promote(github, repo, auto_merge=True)
    assert repo.pulls[1].auto_merge is None


def test_auto_merge_on_a_clean_pull_request_merges_it(github: FakeGitHub) -> None:
    # No required checks: GitHub refuses auto-merge ("clean status"), so it is merged directly.
    repo = github.add_repo("acme/open", require_checks=False)
    result = promote(github, repo, auto_merge=True)
    pr = repo.pulls[result.number]  # type: ignore[index]
    assert (pr.state, pr.merged, pr.merged_by_method) == ("closed", True, "merge")
    assert github.count("PUT", r"/repos/acme/open/pulls/\d+/merge") == 1


# -- errors ---------------------------------------------------------------------------------


def test_bad_token_is_401_and_never_shown(github: FakeGitHub, repo: FakeRepo) -> None:
    with pytest.raises(ForgeError, match="rejected the token.*401: Bad credentials") as caught:
        promote(github, repo, token="ghp_wrongTokenValue123")
    assert "ghp_wrongTokenValue123" not in str(caught.value)
    assert repo.pulls == {}


def test_read_only_token_is_403_with_the_permission_to_grant(github: FakeGitHub, repo: FakeRepo) -> None:
    with pytest.raises(ForgeError, match=r"403: Resource not accessible by personal access token.*Pull requests: read and write"):
        promote(github, repo, token="ghp_readonly")
    assert repo.pulls == {}


def test_unknown_repository_is_404(github: FakeGitHub, repo: FakeRepo) -> None:
    with pytest.raises(ForgeError, match=r"reading repository acme/nope \(404: Not Found\).*token can see"):
        promote(github, repo, repo_url=f"{github.api_url}/acme/nope.git")


def test_validation_failure_is_422_with_githubs_reason(github: FakeGitHub) -> None:
    repo = github.add_repo("acme/gitops", branches={HEAD})
    with pytest.raises(ForgeError, match=r"creating the pull request .* \(422: Validation Failed; PullRequest base invalid\)"):
        promote(github, repo, base="no-such-branch")
    assert repo.pulls == {}


def test_token_echoed_in_an_api_message_is_redacted() -> None:
    token = "ghp_secretValue0123456789"

    def echo() -> None:
        raise GithubException(422, {"message": "Validation Failed", "errors": [{"message": f"bad header token {token}"}]}, {})

    with pytest.raises(ForgeError, match=r"422: Validation Failed; bad header token \*\*\*") as caught:
        GitHubClient("http://127.0.0.1:9", token, Sleeps()).call("testing", echo)
    assert token not in str(caught.value)


# -- rate limits ----------------------------------------------------------------------------


def test_primary_rate_limit_waits_for_the_reset_then_succeeds(github: FakeGitHub, repo: FakeRepo) -> None:
    sleeps = Sleeps()
    github.rate_limit(2, kind="primary", wait_s=5)
    result = promote(github, repo, sleep=sleeps)
    assert result.action == "opened" and len(repo.pulls) == 1
    assert len(sleeps.calls) == 2
    assert all(4.0 <= s <= 7.0 for s in sleeps.calls), sleeps.calls  # reset - now + 1 s
    assert [s for _, _, s in github.requests[:3]] == [403, 403, 200]


def test_secondary_rate_limit_honors_retry_after(github: FakeGitHub, repo: FakeRepo) -> None:
    sleeps = Sleeps()
    github.rate_limit(1, kind="secondary", wait_s=7)
    promote(github, repo, sleep=sleeps)
    assert sleeps.calls == [7.0]
    assert github.requests[0][2] == 429 and len(repo.pulls) == 1


def test_rate_limit_exhausted_after_bounded_retries(github: FakeGitHub, repo: FakeRepo) -> None:
    sleeps = Sleeps()
    github.rate_limit(10, kind="secondary", wait_s=2)
    with pytest.raises(ForgeError, match=f"still hit while reading repository acme/gitops after {RATE_LIMIT_RETRIES} retries"):
        promote(github, repo, sleep=sleeps)
    assert sleeps.calls == [2.0] * RATE_LIMIT_RETRIES
    assert len(github.requests) == RATE_LIMIT_RETRIES + 1 and repo.pulls == {}


def test_rate_limit_longer_than_the_cap_fails_at_once(github: FakeGitHub, repo: FakeRepo) -> None:
    sleeps = Sleeps()
    github.rate_limit(1, kind="primary", wait_s=int(MAX_RATE_LIMIT_WAIT_S) + 600)
    with pytest.raises(ForgeError, match=r"lifts in \d+ s, longer than the 60 s this command waits"):
        promote(github, repo, sleep=sleeps)
    assert sleeps.calls == [] and len(github.requests) == 1


def test_rate_limited_write_is_retried_not_duplicated(github: FakeGitHub, repo: FakeRepo) -> None:
    sleeps = Sleeps()
    first = promote(github, repo)
    github.rate_limit(1, kind="secondary", wait_s=3, method="PATCH")
    github.rate_limit(1, kind="secondary", wait_s=4, method="POST")
    promote(github, repo, body="new", superseded_note="Superseded.", sleep=sleeps)
    pr = repo.pulls[first.number]  # type: ignore[index]
    assert pr.body == "new" and [c.body for c in pr.comments] == ["Superseded."]
    assert github.count("PATCH", r"/repos/acme/gitops/pulls/\d+") == 2  # 429, then 200
    assert github.count("POST", r"/repos/acme/gitops/issues/\d+/comments") == 2  # 429, then 201
    assert sleeps.calls == [3.0, 4.0]


# -- other forges, URLs, arguments ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("repo_url", "expected"),
    [
        ("https://gitlab.com/acme/platform/gitops.git", "https://gitlab.com/acme/platform/gitops/-/compare/main...promote/prod/orders"),
        ("git@gitlab.example.com:acme/gitops.git", "https://gitlab.example.com/acme/gitops/-/compare/main...promote/prod/orders"),
        ("https://bitbucket.org/acme/gitops.git", "https://bitbucket.org/acme/gitops/branches/compare/promote/prod/orders%0Dmain"),
        ("ssh://git@git.example.com:2222/acme/gitops.git", "https://git.example.com/acme/gitops/compare/main...promote/prod/orders"),
        ("http://127.0.0.1:3000/acme/gitops", "http://127.0.0.1:3000/acme/gitops/compare/main...promote/prod/orders"),
    ],
)
def test_other_forges_get_the_compare_url(repo_url: str, expected: str) -> None:
    result = open_or_update_pull_request(
        repo_url=repo_url, api_url=None, token=None, head=HEAD, base="main",
        title="t", body="b",
    )
    assert result == PullRequestResult(number=None, url=expected, action="pushed")


def test_compare_url_quotes_branch_names() -> None:
    location = parse_repo_url("https://gitea.example.com/acme/gitops")
    assert compare_url(location, base="main", head="promote/a b#1") == (
        "https://gitea.example.com/acme/gitops/compare/main...promote/a%20b%231"
    )


@pytest.mark.parametrize(
    ("repo_url", "host", "path"),
    [
        ("https://github.com/acme/gitops.git", "github.com", "acme/gitops"),
        ("https://x-access-token:secret@github.com/acme/gitops/", "github.com", "acme/gitops"),
        ("git@github.com:acme/gitops.git", "github.com", "acme/gitops"),
        ("ssh://git@ssh.github.com:443/acme/gitops.git", "ssh.github.com", "acme/gitops"),
        ("http://127.0.0.1:8123/acme/gitops.git", "127.0.0.1:8123", "acme/gitops"),
    ],
)
def test_parse_repo_url(repo_url: str, host: str, path: str) -> None:
    location = parse_repo_url(repo_url)
    assert (location.host, location.path) == (host, path)
    assert "secret" not in location.web


@pytest.mark.parametrize("repo_url", ["", "gitops", "/srv/git/gitops.git", "file:///srv/gitops.git", "https://github.com/acme", "https://tok@github.com/"])
def test_parse_repo_url_rejects(repo_url: str) -> None:
    with pytest.raises(UsageError, match="cannot tell the forge repository") as caught:
        parse_repo_url(repo_url)
    assert "tok@" not in str(caught.value)


def test_api_base() -> None:
    assert github_api_base(parse_repo_url("git@github.com:a/b.git"), None) == "https://api.github.com"
    assert github_api_base(parse_repo_url("https://ghe.corp/a/b"), None) is None
    assert github_api_base(parse_repo_url("https://ghe.corp/a/b"), "https://ghe.corp/api/v3/") == "https://ghe.corp/api/v3"


def test_github_without_token_is_a_credentials_error() -> None:
    with pytest.raises(CredentialsError, match="a token is needed to open a pull request on github.com"):
        open_or_update_pull_request(
            repo_url="https://github.com/acme/gitops", api_url=None, token=None, head=HEAD, base="main",
            title="t", body="b",
        )


@pytest.mark.parametrize(("head", "base", "title"), [("main", "main", "t"), ("", "main", "t"), (HEAD, "main", " ")])
def test_bad_arguments(head: str, base: str, title: str) -> None:
    with pytest.raises(UsageError):
        open_or_update_pull_request(
            repo_url="https://github.com/acme/gitops", api_url=None, token="t", head=head, base=base,
            title=title, body="b",
        )


def test_fake_server_stops_by_itself() -> None:
    server = FakeGitHub(lifetime_s=0.05)
    with server:
        assert server._thread is not None
        server._thread.join(timeout=2)  # returns when the lifetime timer has shut the server down
        assert not server._thread.is_alive()


def test_unreachable_api_is_a_forge_error() -> None:
    with socket.socket() as probe:  # a port nothing listens on once the probe is closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(ForgeError, match=f"cannot reach the GitHub API at http://127.0.0.1:{port} while reading repository acme/gitops"):
        open_or_update_pull_request(
            repo_url="https://github.com/acme/gitops", api_url=f"http://127.0.0.1:{port}", token="ghp_unused0123456789", head=HEAD,
            base="main", title="t", body="b",
        )
