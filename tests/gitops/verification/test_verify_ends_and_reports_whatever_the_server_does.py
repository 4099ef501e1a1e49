"""verify ends by its --timeout whatever the API server does (empty pages with a `continue` token
forever, a reply trickled byte by byte), and every failure, an object of an unexpected shape or
a bug included, ends the commit status and the Deployment it started instead of leaving them
pending and in progress."""

from __future__ import annotations

import threading
import time as real_time

import pytest

from gitops.clients import kube as kube_mod
from gitops.errors import EndpointUnreachable, GitopsError
from gitops.verification import verify as verify_mod
from gitops.verification.verify import verify
from gitops.commands.verify import request_from_args
from sandbox.kube_api import Moment, application, pods_of
from tests.gitops.conftest import DIGEST_B
from tests.gitops.verification.verify_env import args_for, check, on_github, promote, running


def final_reports(hub, rev: str) -> tuple[str, str]:
    [deployment] = hub.deployments.values()
    return hub.statuses[rev][-1]["state"], deployment["statuses"][-1]["state"]


def test_a_list_of_empty_pages_with_a_continue_token_forever_ends(cluster, repo, github) -> None:
    hub = on_github(github, repo)
    rev = promote(repo)
    cluster.kube.script("argocd", "api", [running(application(revision=rev))])
    cluster.kube.endless_pages = True
    with pytest.raises(GitopsError, match=f"with {kube_mod.LIST_MAX_PAGES} pages \\(0 items\\) and "
                                          "still a continue token"):
        check(cluster, repo, rev, "--github-api-url", github.api_url)
    assert len([p for p, _ in cluster.kube.requests if "/replicasets" in p]) == \
        kube_mod.LIST_MAX_PAGES
    assert final_reports(hub, rev) == ("error", "error")


def test_a_reply_trickled_byte_by_byte_ends_with_the_runs_timeout(cluster, repo,
                                                                  monkeypatch) -> None:
    monkeypatch.setattr(verify_mod, "CHECK_OVERRUN_S", 1.0)
    rev = promote(repo)
    cluster.kube.script("argocd", "api", [running(application(revision=rev))])
    cluster.kube.trickle_s = 0.01  # the Application's few KiB would take a minute
    outcome: list[BaseException] = []

    def run() -> None:
        try:
            verify(request_from_args(args_for(cluster, repo, rev, "--timeout", "3s")),
                   token=repo.token)  # the real clock: the server's time is real
        except BaseException as exc:
            outcome.append(exc)

    started = real_time.monotonic()
    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(60)
    assert not worker.is_alive(), "verify did not end"
    [error] = outcome
    assert isinstance(error, EndpointUnreachable) and "before the timeout" in str(error)
    assert real_time.monotonic() - started < 30


@pytest.mark.parametrize("shape,message", [
    ("a list", "answered applications.argoproj.io/api in namespace argocd with a JSON list, not "
               "an object"),
    ("status", "Application api: status is a string, not an object"),
    ("resources", "Application api: status.resources holds a str, not an object"),
    ("nameless", "listed a ReplicaSet without a name in namespace shop"),
])
def test_an_object_of_an_unexpected_shape_ends_the_report(cluster, repo, github, shape,
                                                          message) -> None:
    hub = on_github(github, repo)
    rev = promote(repo)
    moment = running(application(revision=rev))
    if shape == "a list":
        moment.app = [moment.app]
    elif shape == "status":
        moment.app["status"] = "broken"
    elif shape == "resources":
        moment.app["status"]["resources"] = ["broken"]
    else:
        del moment.replica_sets[0]["metadata"]["name"]
    cluster.kube.script("argocd", "api", [moment])
    with pytest.raises(GitopsError, match=message) as caught:
        check(cluster, repo, rev, "--github-api-url", github.api_url)
    assert caught.value.exit_code == 1  # nothing about the release: no revert
    assert final_reports(hub, rev) == ("error", "error")


def test_describe_cluster_without_an_endpoint_ends_the_report(cluster, repo, github) -> None:
    hub = on_github(github, repo)
    rev = promote(repo)
    cluster.point_at(None, cluster.kube.ca_pem)
    with pytest.raises(GitopsError, match="returned no API endpoint"):
        check(cluster, repo, rev, "--github-api-url", github.api_url)
    assert final_reports(hub, rev) == ("error", "error")


def test_a_bug_still_ends_the_report(cluster, repo, github, monkeypatch) -> None:
    hub = on_github(github, repo)
    rev = promote(repo)
    cluster.kube.script("argocd", "api", [Moment.running(application(revision=rev),
                                                         pods_of("Deployment", "api", [DIGEST_B]))])

    def broken(*args):
        raise KeyError("spec")

    monkeypatch.setattr(verify_mod.Workload, "read", broken)
    with pytest.raises(KeyError):
        check(cluster, repo, rev, "--github-api-url", github.api_url)
    assert final_reports(hub, rev) == ("error", "error")
    assert hub.statuses[rev][-1]["description"] == "api 2.0.0: verification stopped (KeyError: 'spec')"
