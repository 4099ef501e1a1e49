"""Success needs the workload's desired replicas Ready on the promoted digest, counting only its pods
of the current version: a blue/green Rollout's previous pods kept for scaleDownDelaySeconds, pods
of another workload or of nothing, and unready pods never count; a StatefulSet is checked like the
rest; a workload scaled to zero is a success that says so."""

from __future__ import annotations

import pytest

from gitops.errors import VerifyTimeout
from sandbox.kube_api import (NAMESPACE, Moment, application, deployment, pods_of, rollout,
                              statefulset, statefulset_pods)
from tests.gitops.conftest import DIGEST_A, DIGEST_B
from tests.gitops.verification.verify_env import FakeTime, check, on_github, promote, running

BLUE_GREEN = {"blueGreen": {"activeService": "api", "previewService": "api-preview",
                            "autoPromotionEnabled": True, "scaleDownDelaySeconds": 600}}


def test_blue_green_keeps_the_old_pods_for_its_scale_down_delay_and_they_do_not_count(cluster,
                                                                                     repo) -> None:
    rev = promote(repo)
    current = pods_of("Rollout", "api", [DIGEST_B, DIGEST_B], replica_set="api-7c9d5b")
    # Argo Rollouts v1.9 marks the previous ReplicaSet with the time it may scale it down.
    previous = pods_of("Rollout", "api", [DIGEST_A, DIGEST_A], replica_set="api-5f6a4c",
                       annotations={"scale-down-deadline": "2026-12-06T04:10:00Z"})
    cluster.kube.script("argocd", "api", [Moment.running(
        application(revision=rev, workload="Rollout"), current, previous,
        rollout_obj=rollout(phase="Healthy", strategy=BLUE_GREEN))])
    time = FakeTime()
    result = check(cluster, repo, rev, time=time)
    assert (result.rollout, result.ready_pods, result.desired_replicas) == ("Healthy", 2, 2)
    assert time.sleeps == []


@pytest.mark.parametrize("pods", ["none", "unready"])
def test_no_ready_pod_is_never_success(cluster, repo, pods) -> None:
    rev = promote(repo)
    moment = Moment.running(application(revision=rev),
                            pods_of("Deployment", "api", [DIGEST_B, DIGEST_B] if pods == "unready"
                                    else [], ready=False),
                            deployment_obj=deployment(replicas=2))
    cluster.kube.script("argocd", "api", [moment])
    with pytest.raises(VerifyTimeout, match="0 of 2 pods of Deployment api ready at its current "
                                            "version"):
        check(cluster, repo, rev, "--timeout", "1m")


def test_fewer_ready_pods_than_desired_wait(cluster, repo) -> None:
    rev = promote(repo)
    cluster.kube.script("argocd", "api", [
        running(application(revision=rev), [DIGEST_B], deployment_obj=deployment(replicas=3)),
        running(application(revision=rev), [DIGEST_B] * 3)])
    time = FakeTime()
    assert check(cluster, repo, rev, time=time).ready_pods == 3
    assert time.sleeps == [10.0]


def test_a_statefulset_is_verified_by_its_pods_of_the_update_revision(cluster, repo) -> None:
    rev = promote(repo)
    cluster.kube.script("argocd", "api", [Moment.running(
        application(revision=rev, workload="StatefulSet"), statefulset_obj=statefulset(replicas=2),
        pods=statefulset_pods("api", [DIGEST_B, DIGEST_B])
        + statefulset_pods("api-old", [DIGEST_A], revision="api-0ld"))])
    result = check(cluster, repo, rev)
    assert (result.ready_pods, result.desired_replicas, result.digest_checked) == (2, 2, True)


def test_a_statefulset_on_another_digest_fails(cluster, repo) -> None:
    rev = promote(repo)
    cluster.kube.script("argocd", "api", [Moment.running(
        application(revision=rev, workload="StatefulSet"), statefulset_obj=statefulset(replicas=1),
        pods=statefulset_pods("api", [DIGEST_A]))])
    with pytest.raises(Exception, match=f"1 of 1 ready pods do not run the promoted {DIGEST_B}"):
        check(cluster, repo, rev)


def test_an_application_without_workloads_proves_nothing(cluster, repo) -> None:
    rev = promote(repo)
    app = application(revision=rev)
    app["status"]["resources"] = []
    cluster.kube.script("argocd", "api", [running(app)])
    with pytest.raises(VerifyTimeout, match="the Application has no Deployment, StatefulSet or "
                                            "Rollout"):
        check(cluster, repo, rev, "--timeout", "1m")


def test_pods_of_a_workload_of_the_same_name_elsewhere_are_not_counted(cluster, repo) -> None:
    rev = promote(repo)
    # The chart puts its Deployment in namespace "api-ns"; another "api" runs in the destination.
    cluster.kube.script("argocd", "api", [running(
        application(revision=rev, workload_namespace="api-ns"),
        deployment_obj=deployment(namespace="api-ns"))])
    with pytest.raises(VerifyTimeout, match="0 of 2 pods of Deployment api ready"):
        check(cluster, repo, rev, "--timeout", "1m")


def test_pods_of_an_earlier_object_of_the_same_name_are_not_counted(cluster, repo) -> None:
    rev = promote(repo)
    replica_set, pods = pods_of("Deployment", "api", [DIGEST_B, DIGEST_B])
    replica_set["metadata"]["ownerReferences"][0]["uid"] = "uid-of-a-deleted-api"
    cluster.kube.script("argocd", "api", [Moment.running(application(revision=rev),
                                                         (replica_set, pods))])
    with pytest.raises(VerifyTimeout, match="0 of 2 pods of Deployment api ready"):
        check(cluster, repo, rev, "--timeout", "1m")


def test_scaled_to_zero_is_a_success_that_says_so(cluster, repo, github) -> None:
    hub = on_github(github, repo)
    rev = promote(repo)
    cluster.kube.script("argocd", "api", [running(application(revision=rev), [],
                                                  deployment_obj=deployment(replicas=0))])
    notes: list[str] = []
    result = check(cluster, repo, rev, "--github-api-url", github.api_url, notes=notes)
    assert (result.desired_replicas, result.ready_pods, result.digest_checked) == (0, 0, False)
    assert "Deployment api scaled to zero: no pod runs the image, so no digest was checked" in notes
    assert hub.statuses[rev][-1]["description"] == "api 2.0.0: verified, scaled to zero (no pod ran it)"


def test_a_paused_deployment_is_described_as_one(cluster, repo) -> None:
    rev = promote(repo)
    cluster.kube.script("argocd", "api", [running(application(revision=rev, health="Suspended"),
                                                  deployment_obj=deployment(paused=True))])
    with pytest.raises(VerifyTimeout) as caught:
        check(cluster, repo, rev, "--pause-timeout", "1m")
    assert str(caught.value).endswith(
        f"Deployment api is paused (spec.paused) for 60 s; resume it (kubectl rollout resume "
        f"deployment/api -n {NAMESPACE}); --promote-paused only promotes Rollouts")
    assert "Rollout" not in str(caught.value).split("--promote-paused")[0]
