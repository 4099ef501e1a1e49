"""verify: EKS token and endpoint from moto, the Application, Rollout, ReplicaSets and pods from a
TLS Kubernetes-like server on 127.0.0.1, the promoted revision from a real git repository on the
smart-HTTP test server, statuses, deployments and pull requests on the fake GitHub (verify_env.py,
conftest.py). Time is a fake clock: sleeping advances it, so waits of minutes take milliseconds."""

from __future__ import annotations

import io
import re
import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import urllib3

from gitops.clients import kube as kube_mod
from gitops.governance import trailers
from gitops.cli import main
from gitops.errors import (
    CredentialsError,
    EndpointUnreachable,
    GitopsError,
    UsageError,
    ValuesError,
    VerifyDegraded,
    VerifySuperseded,
    VerifyTimeout,
)
from gitops.commands.verify import parse_duration
from tests.gitops.conftest import DIGEST_A, DIGEST_B, values_yaml
from sandbox.github_api import FakeGitHub
from sandbox.kube_api import (
    NAMESPACE,
    Moment,
    application,
    deployment,
    eks_token_url,
    pods_of,
    rollout,
    self_signed_certificate,
)
from tests.gitops.verification.verify_env import (
    CLUSTER,
    REGION,
    Cluster,
    FakeTime,
    args_for,
    assumed_role_of,
    check,
    on_github,
    parse,
    promote,
    run_verify,
    running,
)

WORKTREE = Path(__file__).resolve().parents[3]
VALUES = "envs/prod/api/values.yaml"


# --- the happy paths ------------------------------------------------------------------------------

def test_verified_when_synced_healthy_and_every_pod_runs_the_digest(cluster: Cluster, repo) -> None:
    rev = promote(repo)
    cluster.kube.script("argocd", "api", [running(application(revision=rev))])
    time, notes = FakeTime(), []
    result = check(cluster, repo, rev, time=time, notes=notes)
    assert (result.sync, result.health, result.synced_revision) == ("Synced", "Healthy", rev)
    assert (result.tag, result.digest, result.ready_pods, result.digest_checked) == (
        "2.0.0", DIGEST_B, 2, True)
    assert (result.application, result.namespace, result.cluster) == ("api", "argocd", CLUSTER)
    assert time.sleeps == []
    assert [path.split("?")[0] for path, _ in cluster.kube.requests] == [
        "/apis/argoproj.io/v1alpha1/namespaces/argocd/applications/api",
        f"/apis/apps/v1/namespaces/{NAMESPACE}/deployments/api",
        f"/apis/apps/v1/namespaces/{NAMESPACE}/replicasets", f"/api/v1/namespaces/{NAMESPACE}/pods"]
    # the repository on the test server is not GitHub: nothing reported, and verify says so
    assert not result.reported and any("is not GitHub" in n for n in notes)
    # the token is an EKS token made by the assumed deployment role, for this region's STS
    token = cluster.kube.tokens[0]
    assert assumed_role_of(token) == cluster.role_arn
    url = urlsplit(eks_token_url(token))
    assert url.hostname == f"sts.{REGION}.amazonaws.com"
    assert parse_qs(url.query)["X-Amz-SignedHeaders"] == ["host;x-k8s-aws-id"]


def test_short_revision_is_resolved_to_the_commit(cluster: Cluster, repo) -> None:
    rev = promote(repo)
    cluster.kube.script("argocd", "api", [running(application(revision=rev))])
    assert check(cluster, repo, rev[:10]).revision == rev


def test_progressing_then_healthy(cluster: Cluster, repo) -> None:
    older = repo.refs()["refs/heads/main"]
    rev = promote(repo)
    cluster.kube.script("argocd", "api", [
        None,
        application(sync="OutOfSync", revision=older, health="Healthy"),
        application(revision=rev, health="Progressing", phase="Running"),
        application(revision=rev, health="Healthy", phase="Running"),   # PostSync hook running
        running(application(revision=rev)),
    ])
    time, seen = FakeTime(), []
    result = check(cluster, repo, rev, time=time, seen=seen)
    assert result.health == "Healthy"
    assert time.sleeps == [10.0] * 4
    assert [s.describe() for s in seen][:3] == [
        "Application not found (yet)",
        f"sync OutOfSync at {older[:12]}, health Healthy",
        f"sync Synced at {rev[:12]}, health Progressing, operation Running",
    ]


def test_synced_at_a_later_commit_keeping_the_service_files(cluster: Cluster, repo) -> None:
    rev = promote(repo)
    later = promote(repo, "9.0.0", DIGEST_A, service="web")
    cluster.kube.script("argocd", "api", [running(application(revision=later))])
    result = check(cluster, repo, rev)
    assert (result.revision, result.synced_revision) == (rev, later)


def test_a_later_commit_changing_the_service_supersedes_the_revision(cluster: Cluster,
                                                                     repo) -> None:
    rev = promote(repo)
    later = promote(repo, "3.0.0", DIGEST_A)
    cluster.kube.script("argocd", "api", [running(application(revision=later), [DIGEST_A])])
    with pytest.raises(VerifySuperseded, match=f"synced {later[:12]}, a later commit that changed "
                                               "the service's files") as caught:
        check(cluster, repo, rev)
    assert caught.value.exit_code == 12


def test_a_chart_change_after_the_revision_supersedes_it_too(cluster: Cluster, repo) -> None:
    rev = promote(repo)
    later = repo.commit({"charts/api/templates/extra.yaml": "kind: ConfigMap\n"}, "chart")
    cluster.kube.script("argocd", "api", [running(application(revision=later))])
    with pytest.raises(VerifySuperseded):
        check(cluster, repo, rev)


def test_older_diverged_or_unrelated_revision_is_not_enough(cluster: Cluster, repo) -> None:
    base = repo.refs()["refs/heads/main"]
    rev = promote(repo)
    subprocess.run(["git", "--git-dir", str(repo.bare), "update-ref", "refs/heads/side", base],
                   check=True)
    diverged = repo.commit({VALUES: values_yaml("api", "3.0.0")}, "v3", branch="side")
    unrelated = repo.commit({"README.md": "other history\n"}, "root", branch="orphan")
    for revision in (base, diverged, unrelated):
        cluster.kube.script("argocd", "api", [running(application(revision=revision))])
        with pytest.raises(VerifyTimeout, match=f"last seen: sync Synced at {revision[:12]}.*"
                                                f"not yet {rev[:12]}"):
            check(cluster, repo, rev, "--timeout", "30s")


def test_unknown_revision_names_the_repository(cluster: Cluster, repo) -> None:
    with pytest.raises(UsageError, match=f"revision {'9' * 40} is not in {repo.url}"):
        check(cluster, repo, "9" * 40)
    assert cluster.kube.requests == []  # the repository is read before the cluster


# --- never a stale answer -------------------------------------------------------------------------

def test_health_computed_before_the_sync_finished_is_not_trusted(cluster: Cluster, repo) -> None:
    rev = promote(repo)
    now = 2_000_000_000.0
    stale = application(revision=rev, finished_at=now, reconciled_at=now - 30)
    cluster.kube.script("argocd", "api", [running(stale)] * 3 +
                        [running(application(revision=rev, finished_at=now, reconciled_at=now + 5))])
    time, seen = FakeTime(), []
    check(cluster, repo, rev, time=time, seen=seen)
    assert time.sleeps == [10.0] * 3


def test_stale_health_forever_times_out_saying_so(cluster: Cluster, repo) -> None:
    rev = promote(repo)
    now = 2_000_000_000.0
    cluster.kube.script("argocd", "api", [running(application(revision=rev, finished_at=now,
                                                              reconciled_at=now - 1))])
    with pytest.raises(VerifyTimeout, match="health not yet computed since the sync"):
        check(cluster, repo, rev, "--timeout", "1m")


def test_an_operation_that_finished_before_the_commit_is_not_this_sync(cluster: Cluster,
                                                                       repo) -> None:
    rev = promote(repo)
    cluster.kube.script("argocd", "api", [running(application(revision=rev, finished_at=1e9))])
    with pytest.raises(VerifyTimeout, match="finished before the commit"):
        check(cluster, repo, rev, "--timeout", "1m")


def test_synced_status_with_the_last_operation_of_an_older_revision_waits(cluster: Cluster,
                                                                          repo) -> None:
    older = repo.refs()["refs/heads/main"]
    rev = promote(repo)
    # Argo CD compared the new revision (Synced) but its last operation applied the old one.
    cluster.kube.script("argocd", "api", [running(application(revision=rev,
                                                              operation_revision=older))])
    with pytest.raises(VerifyTimeout, match="did not apply this revision"):
        check(cluster, repo, rev, "--timeout", "30s")


def test_a_noop_promotion_is_verified_by_the_sync_that_applied_the_same_files(cluster: Cluster,
                                                                              repo) -> None:
    applied = promote(repo)
    head = promote(repo, "9.0.0", DIGEST_A, service="web")  # the revision a no-op promote reports
    cluster.kube.script("argocd", "api", [running(application(
        revision=head, operation_revision=applied, finished_at=1e9, reconciled_at=1e9 + 1))])
    assert check(cluster, repo, head).health == "Healthy"


# --- failures -------------------------------------------------------------------------------------

def test_degraded_past_the_grace_period_fails_with_the_deployments_reason(cluster: Cluster,
                                                                           repo) -> None:
    rev = promote(repo)
    # Argo CD 3: no message in the Application (health not persisted); the operation succeeded.
    cluster.kube.script("argocd", "api", [running(
        application(revision=rev, health="Degraded"),
        deployment_obj=deployment(progress_deadline_exceeded=True))])
    time = FakeTime()
    with pytest.raises(VerifyDegraded) as caught:
        check(cluster, repo, rev, time=time)
    assert str(caught.value).endswith(
        f'Degraded at {rev[:12]}: Deployment api: Deployment "api" exceeded its progress deadline; '
        "see the Application's resources in Argo CD (for 120 s)")
    assert "successfully synced" not in str(caught.value)
    assert caught.value.exit_code == 9
    assert sum(time.sleeps) == 120.0


def test_a_persisted_resource_health_gives_the_reason(cluster: Cluster, repo) -> None:
    rev = promote(repo)
    # controller.resource.health.persist: true, and the degraded resource is not a workload
    app = application(revision=rev, health="Degraded", health_persisted=True)
    app["status"]["resources"][1]["health"] = {"status": "Healthy"}
    app["status"]["resources"].append({"version": "v1", "kind": "PersistentVolumeClaim",
                                       "namespace": NAMESPACE, "name": "data", "health": {
                                           "status": "Degraded", "message": "lost its volume"}})
    cluster.kube.script("argocd", "api", [running(app)])
    with pytest.raises(VerifyDegraded, match=f"Degraded at {rev[:12]}: PersistentVolumeClaim data: "
                                             "lost its volume"):
        check(cluster, repo, rev)


def test_degraded_briefly_then_healthy_is_success(cluster: Cluster, repo) -> None:
    rev = promote(repo)
    cluster.kube.script("argocd", "api", [running(application(revision=rev, health="Degraded"))] * 5
                        + [running(application(revision=rev))])
    assert check(cluster, repo, rev).health == "Healthy"


def test_degraded_at_an_older_revision_is_waited_out(cluster: Cluster, repo) -> None:
    older = repo.refs()["refs/heads/main"]
    rev = promote(repo)
    cluster.kube.script("argocd", "api",
                        [application(revision=older, health="Degraded")] * 20
                        + [running(application(revision=rev))])
    assert check(cluster, repo, rev).synced_revision == rev


def test_failed_sync_of_the_revision_fails_at_once(cluster: Cluster, repo) -> None:
    rev = promote(repo)
    cluster.kube.script("argocd", "api", [application(
        sync="OutOfSync", revision=rev, health="Healthy", phase="Failed",
        message='one or more objects failed to apply: Deployment "api" is invalid')])
    time = FakeTime()
    with pytest.raises(VerifyDegraded, match=f"sync of {rev} failed: one or more objects"):
        check(cluster, repo, rev, time=time)
    assert time.sleeps == []


def test_failed_sync_of_an_older_revision_is_ignored(cluster: Cluster, repo) -> None:
    older = repo.refs()["refs/heads/main"]
    rev = promote(repo)
    cluster.kube.script("argocd", "api", [
        application(sync="OutOfSync", revision=older, phase="Error", message="old failure"),
        running(application(revision=rev))])
    assert check(cluster, repo, rev).synced_revision == rev


def test_timeout_reports_the_last_state(cluster: Cluster, repo) -> None:
    rev = promote(repo)
    cluster.kube.script("argocd", "api", [running(application(revision=rev, health="Progressing"))])
    time = FakeTime()
    with pytest.raises(VerifyTimeout) as caught:
        check(cluster, repo, rev, "--timeout", "1m", time=time)
    assert caught.value.exit_code == 8
    assert f"last seen: sync Synced at {rev[:12]}, health Progressing" in str(caught.value)
    assert sum(time.sleeps) == 60.0
    assert len([p for p, _ in cluster.kube.requests if "/applications/" in p]) == 7


def test_timeout_shows_why_argo_cd_cannot_render(cluster: Cluster, repo) -> None:
    rev = promote(repo)
    app = application(sync="Unknown", revision=rev, health="Healthy", phase=None)
    app["status"]["conditions"] = [
        {"type": "SharedResourceWarning", "message": "not an error"},
        {"type": "ComparisonError", "message": "values don't meet the specifications of the schema"}]
    cluster.kube.script("argocd", "api", [app])
    with pytest.raises(VerifyTimeout, match="sync Unknown .*, ComparisonError: values don't meet"):
        check(cluster, repo, rev, "--timeout", "20s")


def test_unreachable_endpoint_gives_up_after_bounded_retries(cluster: Cluster, repo) -> None:
    rev = promote(repo)
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cluster.point_at(f"https://127.0.0.1:{port}", cluster.kube.ca_pem)
    time = FakeTime()
    with pytest.raises(EndpointUnreachable, match="did not answer 5 times in a row") as caught:
        check(cluster, repo, rev, time=time)
    assert caught.value.exit_code == 10
    assert time.sleeps == [10.0, 20.0, 40.0, 80.0]  # backoff between the 5 attempts


def test_transient_errors_are_retried(cluster: Cluster, repo) -> None:
    rev = promote(repo)
    cluster.kube.unavailable = 3
    cluster.kube.script("argocd", "api", [running(application(revision=rev))])
    time = FakeTime()
    assert check(cluster, repo, rev, time=time).health == "Healthy"
    assert [code for _, code in cluster.kube.requests][:4] == [503, 503, 503, 200]
    assert time.sleeps == [10.0, 20.0, 40.0]


def test_wrong_ca_fails_without_retrying(cluster: Cluster, repo) -> None:
    rev = promote(repo)
    other_ca, _ = self_signed_certificate()
    cluster.point_at(cluster.kube.url, other_ca)
    with pytest.raises(EndpointUnreachable, match="TLS verification .* failed"):
        check(cluster, repo, rev)
    assert cluster.kube.requests == []


def test_401_for_a_role_without_access_entry(cluster: Cluster, repo) -> None:
    rev = promote(repo)
    cluster.kube.script("argocd", "api", [running(application(revision=rev))])
    args = args_for(cluster, repo, rev)
    args.role_arn = cluster.other_role_arn
    with pytest.raises(CredentialsError, match=r"rejected the token \(401 Unauthorized\)") as caught:
        run_verify(args, FakeTime(), token=repo.token)
    assert caught.value.exit_code == 7
    # one retry with a freshly made token, in case the first had expired
    assert [code for _, code in cluster.kube.requests] == [401, 401]
    assert cluster.kube.tokens[0] != cluster.kube.tokens[1]


def test_403_on_pods_names_the_missing_grant(cluster: Cluster, repo) -> None:
    rev = promote(repo)
    cluster.kube.script("argocd", "api", [running(application(revision=rev))])
    cluster.kube.forbidden = {"pods"}
    with pytest.raises(CredentialsError, match="forbids GET pods in namespace shop .* allowing "
                                               "list on pods"):
        check(cluster, repo, rev)


def test_missing_cluster_is_a_usage_error(cluster: Cluster, repo) -> None:
    rev = promote(repo)
    args = args_for(cluster, repo, rev)
    args.cluster = "nope"
    with pytest.raises(UsageError, match="EKS cluster 'nope' not found in eu-west-1"):
        run_verify(args, FakeTime(), token=repo.token)


def test_no_aws_credentials_is_a_credentials_error(monkeypatch: pytest.MonkeyPatch, tmp_path,
                                                   repo) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.delenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", raising=False)
    rev = promote(repo)
    args = parse("--env", "prod", "--region", REGION, "--service", "api", "--cluster", CLUSTER,
                 "--revision", rev, "--repo", repo.url)
    with pytest.raises(CredentialsError, match="no AWS credentials"):
        run_verify(args, FakeTime(), token=repo.token)


# --- the running digest ---------------------------------------------------------------------------

def test_one_ready_pod_on_another_digest_fails_naming_it(cluster: Cluster, repo) -> None:
    rev = promote(repo)
    moment = running(application(revision=rev), [DIGEST_B, DIGEST_B, DIGEST_A])
    wrong_pod = moment.pods[2]["metadata"]["name"]
    cluster.kube.script("argocd", "api", [moment])
    time = FakeTime()
    with pytest.raises(VerifyDegraded, match=f"1 of 3 ready pods do not run the promoted "
                                             f"{DIGEST_B}: {wrong_pod} runs {DIGEST_A}"):
        check(cluster, repo, rev, time=time)
    assert sum(time.sleeps) == 120.0  # old pods may linger a moment: the grace period applies


def test_the_digest_is_the_image_id_not_the_tag_or_the_spec(cluster: Cluster, repo) -> None:
    rev = promote(repo)
    moment = running(application(revision=rev), [DIGEST_B])
    # the spec asks for the promoted digest, but the runtime reports another image was pulled
    moment.pods[0]["status"]["containerStatuses"][1]["imageID"] = f"repo@{DIGEST_A}"
    cluster.kube.script("argocd", "api", [moment])
    with pytest.raises(VerifyDegraded, match=f"runs {DIGEST_A}"):
        check(cluster, repo, rev)


def test_leaving_and_unready_pods_are_not_counted(cluster: Cluster, repo) -> None:
    rev = promote(repo)
    current = pods_of("Deployment", "api", [DIGEST_B], replica_set="api-new")
    leaving = pods_of("Deployment", "api", [DIGEST_A], replica_set="api-old", terminating=True)
    starting = pods_of("Deployment", "api", [DIGEST_A], replica_set="api-odd", ready=False)
    other_app = pods_of("Deployment", "web", [DIGEST_A], replica_set="web-1")
    cluster.kube.script("argocd", "api", [Moment.running(application(revision=rev), current,
                                                         leaving, starting, other_app)])
    assert check(cluster, repo, rev).ready_pods == 1


def test_pods_are_listed_page_by_page(cluster: Cluster, repo, monkeypatch) -> None:
    monkeypatch.setattr(kube_mod, "LIST_PAGE", 2)
    rev = promote(repo)
    cluster.kube.script("argocd", "api", [running(application(revision=rev), [DIGEST_B] * 5)])
    assert check(cluster, repo, rev).ready_pods == 5
    assert len([p for p, _ in cluster.kube.requests if "/pods" in p]) == 3


# --- Rollouts -------------------------------------------------------------------------------------

def rollout_moment(rev: str, health: str, digests, **rollout_kw) -> Moment:
    return Moment.running(application(revision=rev, health=health, workload="Rollout"),
                          pods_of("Rollout", "api", list(digests)),
                          rollout_obj=rollout(**rollout_kw))


def test_canary_walks_progressing_paused_healthy(cluster: Cluster, repo) -> None:
    rev = promote(repo)
    cluster.kube.script("argocd", "api", [
        rollout_moment(rev, "Progressing", [DIGEST_A, DIGEST_A, DIGEST_B], phase="Progressing"),
        rollout_moment(rev, "Suspended", [DIGEST_A, DIGEST_B], phase="Paused", paused=True, step=1),
        rollout_moment(rev, "Suspended", [DIGEST_A, DIGEST_B], phase="Paused", paused=True, step=1),
        rollout_moment(rev, "Healthy", [DIGEST_B, DIGEST_B], phase="Healthy", step=2)])
    time = FakeTime()
    result = check(cluster, repo, rev, time=time)
    assert (result.rollout, result.ready_pods) == ("Healthy", 2)
    assert time.sleeps == [10.0] * 3
    assert cluster.kube.patches == []  # nobody promoted it but its own steps


def test_suspended_is_paused_not_success(cluster: Cluster, repo) -> None:
    rev = promote(repo)
    # Argo CD says Suspended and every pod already runs the new digest: still not done.
    cluster.kube.script("argocd", "api", [rollout_moment(rev, "Suspended", [DIGEST_B],
                                                         phase="Paused", paused=True, step=1)])
    time = FakeTime()
    with pytest.raises(VerifyTimeout, match=r"Rollout api paused at step 1 \(until promoted\) for 300 s; promote it"):
        check(cluster, repo, rev, "--pause-timeout", "5m", time=time)
    assert sum(time.sleeps) == 300.0


def test_promote_paused_promotes_the_canary_step(cluster: Cluster, repo) -> None:
    rev = promote(repo)
    cluster.kube.script(
        "argocd", "api",
        [rollout_moment(rev, "Suspended", [DIGEST_A, DIGEST_B], phase="Paused", paused=True, step=1)],
        after_promote=[rollout_moment(rev, "Progressing", [DIGEST_B], phase="Progressing", step=2),
                       rollout_moment(rev, "Healthy", [DIGEST_B, DIGEST_B], phase="Healthy", step=2)])
    result = check(cluster, repo, rev, "--promote-paused")
    assert result.rollout == "Healthy"
    assert cluster.kube.patches == [
        (f"/apis/argoproj.io/v1alpha1/namespaces/{NAMESPACE}/rollouts/api/status",
         {"status": {"pauseConditions": None}})]


def test_aborted_rollout_fails_at_once_with_its_reason(cluster: Cluster, repo) -> None:
    rev = promote(repo)
    message = 'RolloutAborted: Rollout aborted update to revision 3: Metric "success-rate" ' \
              'assessed Failed due to failed (1) > failureLimit (0)'
    cluster.kube.script("argocd", "api", [rollout_moment(rev, "Degraded", [DIGEST_A],
                                                         phase="Degraded", aborted=True,
                                                         message=message)])
    time = FakeTime()
    with pytest.raises(VerifyDegraded, match="Rollout api aborted: RolloutAborted.*success-rate"):
        check(cluster, repo, rev, time=time)
    assert time.sleeps == []


def test_degraded_rollout_fails_with_its_message(cluster: Cluster, repo) -> None:
    rev = promote(repo)
    cluster.kube.script("argocd", "api", [rollout_moment(
        rev, "Degraded", [DIGEST_A], phase="Degraded",
        message="ProgressDeadlineExceeded: ReplicaSet api-7f9 has timed out progressing")])
    with pytest.raises(VerifyDegraded, match="ProgressDeadlineExceeded"):
        check(cluster, repo, rev)


def test_a_rollout_not_yet_at_its_new_generation_waits(cluster: Cluster, repo) -> None:
    rev = promote(repo)
    cluster.kube.script("argocd", "api", [
        rollout_moment(rev, "Healthy", [DIGEST_A], phase="Healthy", generation=3, observed=2),
        rollout_moment(rev, "Healthy", [DIGEST_B], phase="Healthy", generation=3)])
    time = FakeTime()
    assert check(cluster, repo, rev, time=time).rollout == "Healthy"
    assert time.sleeps == [10.0]


# --- reporting on the commit ----------------------------------------------------------------------

def test_success_is_a_commit_status_and_a_deployment(cluster: Cluster, repo, github) -> None:
    hub = on_github(github, repo)
    rev = promote(repo)
    cluster.kube.script("argocd", "api", [running(application(revision=rev))])
    details = "https://console.example/pipeline/exec-1"
    result = check(cluster, repo, rev, "--github-api-url", github.api_url, "--details-url", details)
    assert result.reported
    assert [(s["context"], s["state"], s["target_url"]) for s in hub.statuses[rev]] == [
        (f"delivery/prod/{REGION}", "pending", details),
        (f"delivery/prod/{REGION}", "success", details)]
    assert hub.statuses[rev][1]["description"] == "api 2.0.0: verified, 2 ready pods"
    [deployment] = hub.deployments.values()
    assert (deployment["sha"], deployment["environment"], deployment["task"],
            deployment["production_environment"]) == (rev, f"prod-{REGION}", "deploy:api", True)
    assert [(s["state"], s["target_url"]) for s in deployment["statuses"]] == [
        ("in_progress", ""), ("success", details)]


def test_before_a_bake_the_proof_stays_pending_and_says_so(cluster: Cluster, repo, github) -> None:
    hub = on_github(github, repo)
    rev = promote(repo)
    cluster.kube.script("argocd", "api", [running(application(revision=rev))])
    check(cluster, repo, rev, "--github-api-url", github.api_url, "--bake-minutes", "30")
    final = hub.statuses[rev][-1]
    # The success status is the proof a later environment needs: it comes after the bake.
    assert final["state"] == "pending"
    assert re.fullmatch(r"api 2\.0\.0: verified, 2 ready pods; baking until \d\d:\d\d UTC at least, proof after",
                        final["description"])
    # The deployment records that the release runs in the region: it did.
    [deployment] = hub.deployments.values()
    assert deployment["statuses"][-1]["state"] == "success"


def test_failure_is_reported_then_raised(cluster: Cluster, repo, github) -> None:
    hub = on_github(github, repo)
    rev = promote(repo)
    cluster.kube.script("argocd", "api", [rollout_moment(rev, "Degraded", [DIGEST_A],
                                                         phase="Degraded", aborted=True,
                                                         message="analysis failed")])
    with pytest.raises(VerifyDegraded):
        check(cluster, repo, rev, "--github-api-url", github.api_url)
    final = hub.statuses[rev][-1]
    assert final["state"] == "failure" and "aborted: analysis failed" in final["description"]
    [deployment] = hub.deployments.values()
    assert deployment["statuses"][-1]["state"] == "failure"


def test_superseded_is_an_error_status_not_a_failure(cluster: Cluster, repo, github) -> None:
    hub = on_github(github, repo)
    rev = promote(repo)
    later = promote(repo, "3.0.0", DIGEST_A)
    cluster.kube.script("argocd", "api", [running(application(revision=later), [DIGEST_A])])
    with pytest.raises(VerifySuperseded):
        check(cluster, repo, rev, "--github-api-url", github.api_url)
    assert hub.statuses[rev][-1]["state"] == "error"


def approved_pull(github: FakeGitHub, hub, rev: str, *, digest: str, tag: str = "2.0.0"):
    body = "Promotes api.\n\n" + trailers.render_block({
        trailers.SERVICE: "api", trailers.ENVIRONMENT: "prod", trailers.TAG: tag,
        trailers.DIGEST: digest})
    pull = github.add_pull(hub, head="promote/prod/api", body=body)
    github.merge(hub, pull.number, merge_commit_sha=rev)
    return pull


def test_a_merge_that_sets_another_digest_than_approved_fails(cluster: Cluster, repo,
                                                              github) -> None:
    hub = on_github(github, repo)
    rev = promote(repo, "2.0.0", DIGEST_B)
    approved_pull(github, hub, rev, digest=DIGEST_A)
    cluster.kube.script("argocd", "api", [running(application(revision=rev))])
    with pytest.raises(VerifyDegraded, match=f"sets 2.0.0 {DIGEST_B}; the pull request approved "
                                             f"2.0.0 {DIGEST_A}"):
        check(cluster, repo, rev, "--github-api-url", github.api_url)
    assert cluster.kube.requests == []  # decided before the cluster is asked
    assert hub.statuses[rev][-1]["state"] == "failure"


def test_a_merge_of_exactly_what_was_approved_is_verified(cluster: Cluster, repo, github) -> None:
    hub = on_github(github, repo)
    rev = promote(repo, "2.0.0", DIGEST_B)
    approved_pull(github, hub, rev, digest=DIGEST_B)
    cluster.kube.script("argocd", "api", [running(application(revision=rev))])
    assert check(cluster, repo, rev, "--github-api-url", github.api_url).reported


# --- the command line -----------------------------------------------------------------------------

def cli_args(cluster: Cluster, repo, rev: str) -> list[str]:
    return ["verify", "--env", "prod", "--region", REGION, "--service", "api", "--cluster",
            CLUSTER, "--role-arn", cluster.role_arn, "--revision", rev, "--repo", repo.url,
            "--token-env", repo.token_env]


def test_cli_prints_the_final_status_as_json(cluster: Cluster, repo,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    rev = promote(repo)
    cluster.kube.script("argocd", "api", [running(application(revision=rev))])
    assert main([*cli_args(cluster, repo, rev), "--output", "json"]) == 0
    out, err = capsys.readouterr()
    status = json.loads(out)
    assert {k: status[k] for k in ("application", "revision", "synced_revision", "sync",
                                   "health", "env", "region", "digest", "ready_pods")} == {
        "application": "api", "revision": rev, "synced_revision": rev, "sync": "Synced",
        "health": "Healthy", "env": "prod", "region": REGION, "digest": DIGEST_B, "ready_pods": 2}
    assert f"api on {CLUSTER}: sync Synced at {rev[:12]}, health Healthy" in err  # plain progress
    assert "note: " in err and "is not GitHub" in err


def test_cli_reports_a_failed_sync_with_its_exit_code(cluster: Cluster, repo,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    rev = promote(repo)
    cluster.kube.script("argocd", "api", [application(revision=rev, phase="Failed",
                                                      message="hook failed")])
    assert main(cli_args(cluster, repo, rev)) == 9
    assert "error: api on prod-eu-west-1 (prod, eu-west-1): sync of" in capsys.readouterr().err


def test_the_pr_wait_is_gone(capsys: pytest.CaptureFixture[str]) -> None:
    """No abbreviation either: `--pr` is not read as `--promote-paused`."""
    assert main(["verify", "--env", "e", "--region", REGION, "--service", "s", "--cluster", "c",
                 "--repo", "r", "--revision", "a" * 40, "--pr", "https://github.com/o/r/pull/1"]) == 2
    assert "unrecognized arguments: --pr" in capsys.readouterr().err


@pytest.mark.parametrize("argv,message", [
    (["--revision", "HEAD"], "--revision 'HEAD' is not a commit sha"),
    (["--revision", "a" * 40, "--timeout", "1d"], "bad duration '1d'"),
    (["--revision", "a" * 40, "--service", "Api"], "--service 'Api' is not a DNS-1123 label"),
])
def test_usage_errors_import_nothing_heavy(argv: list[str], message: str) -> None:
    base = {"--env": "prod", "--region": REGION, "--service": "api", "--cluster": "c",
            "--repo": "https://github.com/acme/gitops.git"}
    for flag in argv[::2]:
        base.pop(flag, None)
    full = [x for pair in base.items() for x in pair] + argv
    code = ("import sys; from gitops.cli import main; code = main(['verify', *sys.argv[1:]]); "
            "heavy = sorted(m for m in ('boto3', 'requests', 'github') if m in sys.modules); "
            "print(code, heavy)")
    proc = subprocess.run([sys.executable, "-c", code, *full], cwd=WORKTREE, capture_output=True,
                          text=True, env={**os.environ, "PYTHONPATH": str(WORKTREE)})
    assert proc.stdout.strip() == "2 []", proc.stderr
    assert message in proc.stderr and "Traceback" not in proc.stderr


# --- small parts ----------------------------------------------------------------------------------

def test_token_is_renewed_before_eks_expires_it(cluster: Cluster,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    made = []
    monkeypatch.setattr(kube_mod, "eks_token", lambda *a: made.append(a) or f"t{len(made)}")
    time = FakeTime()
    access = kube_mod.EksAccess(cluster=CLUSTER, region=REGION, role_arn=cluster.role_arn,
                                clock=time.clock)
    assert [access.token(), access.token()] == ["t1", "t1"]
    time.sleep(kube_mod.TOKEN_RENEW_S)
    assert access.token() == "t2"
    assert access.token(renew=True) == "t3"


@pytest.mark.parametrize("text,seconds", [("30m", 1800), ("1h30m", 5400), ("90s", 90),
                                          ("45", 45), ("2h", 7200)])
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "m", "1d", "-5m", "30 m"])
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(UsageError, match="write it like 30m"):
        parse_duration(text)


def test_a_non_json_answer_is_reported_not_crashed_on() -> None:
    class LoginPage(requests.Session):  # e.g. a proxy in front of the endpoint
        def request(self, method, url, **kwargs):
            response = requests.Response()
            response.status_code = 200
            response.raw = urllib3.HTTPResponse(body=io.BytesIO(b"<html>sign in</html>"),
                                                preload_content=False)
            return response

    kube = kube_mod.KubeClient("https://proxy.example", token=lambda renew: "t", ca_file=None,
                               http=LoginPage())
    with pytest.raises(GitopsError, match="something other than JSON"):
        kube.get_application("argocd", "api")


def test_a_merged_pull_request_without_a_block_is_noted_not_failed(cluster: Cluster, repo,
                                                                   github) -> None:
    hub = on_github(github, repo)
    rev = promote(repo)
    pull = github.add_pull(hub, head="by-hand", body="bump api by hand")
    github.merge(hub, pull.number, merge_commit_sha=rev)
    cluster.kube.script("argocd", "api", [running(application(revision=rev))])
    notes: list[str] = []
    check(cluster, repo, rev, "--github-api-url", github.api_url, notes=notes)
    assert any("has no promotion block: the approved image is not checked" in n for n in notes)


@pytest.mark.parametrize("hostile, limit", [
    ("bomb:\n  " + "\n  ".join(["l0: &l0 [x, x, x, x, x, x, x, x, x, x]"]
                               + [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 10)}]" for i in range(1, 10)]) + "\n",
     "MAX_NODES"),
    ("deep: " + "[" * 5000 + "]" * 5000 + "\n", "MAX_DEPTH"),
])
def test_a_hostile_values_file_is_refused_with_bounded_work(cluster: Cluster, repo, hostile, limit) -> None:
    # The values files are read as promote reads them, within the same limits: an alias bomb standing
    # for 10**10 nodes, or nesting 5,000 deep, is one line naming the limit, not a hang or a traceback.
    rev = repo.commit({"envs/prod/api/values.yaml": values_yaml("api", "2.0.0", DIGEST_B) + hostile}, "hostile")
    cluster.kube.script("argocd", "api", [running(application(revision=rev))])
    with pytest.raises(ValuesError, match=limit):
        check(cluster, repo, rev)
