"""verify: EKS token and endpoint from moto, the Application from a TLS Kubernetes-like server on
127.0.0.1, ancestry from a real git repository on the smart-HTTP test server, PRs from the fake
GitHub. Time is a fake clock: sleeping advances it, so waits of minutes take milliseconds."""

from __future__ import annotations

import argparse
import base64
import json
import socket
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

import boto3
import pytest
import requests
from moto import mock_aws
from moto.eks.models import eks_backends
from moto.sts.models import sts_backends

from gitops import verify as verify_mod
from gitops.cli import main
from gitops.errors import (
    CredentialsError,
    GitopsError,
    EndpointUnreachable,
    PullRequestClosed,
    UsageError,
    VerifyDegraded,
    VerifyTimeout,
)
from gitops.verify import AppState, parse_duration, pull_request_number, verify
from tests.gitops.fake_github import FakeGitHub
from tests.gitops.fake_kube import (
    FakeKube,
    application,
    eks_token_access_key,
    eks_token_url,
    self_signed_certificate,
)

REGION = "eu-west-1"
ACCOUNT = "123456789012"
CLUSTER = "prod-eu-west-1"
REV = "1" * 40
LATER = "2" * 40
OLDER = "0" * 40


@dataclass
class FakeTime:
    now: float = 1000.0
    sleeps: list[float] = field(default_factory=list)

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds >= 0
        self.sleeps.append(seconds)
        self.now += seconds


@dataclass
class Cluster:
    kube: FakeKube
    role_arn: str
    other_role_arn: str

    def point_at(self, endpoint: str, ca_pem: bytes) -> None:
        cluster = eks_backends[ACCOUNT][REGION].clusters[CLUSTER]
        cluster.endpoint = endpoint
        cluster.certificate_authority = {"data": base64.b64encode(ca_pem).decode()}


def assumed_role_of(token: str) -> str | None:
    """What EKS does with a token: ask STS who signed it (here: moto's record of assumed roles)."""
    key = eks_token_access_key(token)
    for by_partition in sts_backends.values():
        for backend in by_partition.values():
            role = backend.get_assumed_role_from_access_key(key) if key else None
            if role:
                return role.role_arn
    return None


@pytest.fixture
def cluster(monkeypatch: pytest.MonkeyPatch) -> Iterator[Cluster]:
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_DEFAULT_REGION": REGION}.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        iam = boto3.client("iam")
        trust = json.dumps({"Version": "2012-10-17", "Statement": []})
        role_arn = iam.create_role(RoleName="deploy", AssumeRolePolicyDocument=trust)["Role"]["Arn"]
        other = iam.create_role(RoleName="other", AssumeRolePolicyDocument=trust)["Role"]["Arn"]
        boto3.client("eks", region_name=REGION).create_cluster(
            name=CLUSTER, roleArn=role_arn, resourcesVpcConfig={"subnetIds": ["subnet-1"]})
        # The cluster's only access entry is for the deployment role.
        with FakeKube(authorize=lambda token: assumed_role_of(token) == role_arn) as kube:
            result = Cluster(kube, role_arn, other)
            result.point_at(kube.url, kube.ca_pem)
            yield result


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    verify_mod.register(parser.add_subparsers())
    return parser.parse_args(["verify", *argv])


def args_for(cluster: Cluster, *extra: str, revision: str | None = REV) -> argparse.Namespace:
    argv = ["--env", "prod", "--region", REGION, "--service", "api", "--cluster", CLUSTER,
            "--role-arn", cluster.role_arn, *extra]
    if revision and "--pr" not in extra:
        argv += ["--revision", revision]
    return parse(*argv)


def run_verify(args: argparse.Namespace, time: FakeTime, seen: list[AppState] | None = None):
    return verify(args, clock=time.clock, sleep=time.sleep,
                  report=(seen.append if seen is not None else lambda state: None))


# --- the happy paths ------------------------------------------------------------------------------

def test_synced_and_healthy_at_the_revision(cluster: Cluster) -> None:
    cluster.kube.script("argocd", "api", [application(revision=REV)])
    time = FakeTime()
    result = run_verify(args_for(cluster), time)
    assert (result.sync, result.health, result.synced_revision) == ("Synced", "Healthy", REV)
    assert (result.application, result.namespace, result.cluster) == ("api", "argocd", CLUSTER)
    assert time.sleeps == []
    assert cluster.kube.requests == [
        ("/apis/argoproj.io/v1alpha1/namespaces/argocd/applications/api", 200)]
    # the token is an EKS token made by the assumed deployment role, for this region's STS
    token = cluster.kube.tokens[0]
    assert assumed_role_of(token) == cluster.role_arn
    url = urlsplit(eks_token_url(token))
    assert url.hostname == f"sts.{REGION}.amazonaws.com"
    assert parse_qs(url.query)["X-Amz-SignedHeaders"] == ["host;x-k8s-aws-id"]


def test_progressing_then_healthy(cluster: Cluster) -> None:
    cluster.kube.script("argocd", "api", [
        None,                                                           # not generated yet
        application(sync="OutOfSync", revision=OLDER),
        application(revision=REV, health="Progressing", phase="Running"),
        application(revision=REV, health="Healthy", phase="Running"),   # PostSync hook running
        application(revision=REV),
    ])
    time, seen = FakeTime(), []
    result = run_verify(args_for(cluster, "--namespace", "argocd"), time, seen)
    assert result.health == "Healthy"
    assert time.sleeps == [10.0] * 4
    assert [s.describe() for s in seen][:3] == [
        "Application not found (yet)",
        f"sync OutOfSync at {OLDER[:12]}, health Healthy",
        f"sync Synced at {REV[:12]}, health Progressing, operation Running",
    ]


def test_degraded_briefly_then_healthy_is_success(cluster: Cluster) -> None:
    cluster.kube.script("argocd", "api", [application(revision=REV, health="Degraded")] * 5
                        + [application(revision=REV)])
    assert run_verify(args_for(cluster), FakeTime()).health == "Healthy"


def test_synced_at_a_later_commit_containing_the_revision(cluster: Cluster, gitops_repo,
                                                          token_env: str) -> None:
    expected = gitops_repo.commit({"envs/prod/api/values.yaml": "image: {tag: v2}\n"}, "promote v2")
    later = gitops_repo.commit({"envs/prod/web/values.yaml": "image: {tag: v9}\n"}, "promote web")
    cluster.kube.script("argocd", "api", [application(revision=later, repo_url=gitops_repo.url)])
    result = run_verify(args_for(cluster, "--token-env", token_env, revision=expected), FakeTime())
    assert (result.revision, result.synced_revision) == (expected, later)
    # a treeless clone: commits only, so the server sent no trees or blobs for the check
    assert any(path.endswith("/git-upload-pack") for _, path, _ in gitops_repo.server.requests)


def test_older_diverged_or_unrelated_revision_is_not_enough(cluster: Cluster, gitops_repo,
                                                            token_env: str) -> None:
    base = gitops_repo.refs()["refs/heads/main"]
    expected = gitops_repo.commit({"envs/prod/api/values.yaml": "image: {tag: v2}\n"}, "v2")
    subprocess.run(["git", "--git-dir", str(gitops_repo.bare), "update-ref", "refs/heads/side",
                    base], check=True)
    diverged = gitops_repo.commit({"envs/prod/api/values.yaml": "image: {tag: v3}\n"}, "v3",
                                  branch="side")
    unrelated = gitops_repo.commit({"README.md": "other history\n"}, "root", branch="orphan")
    for revision in (base, diverged, unrelated):
        cluster.kube.script("argocd", "api", [application(revision=revision,
                                                          repo_url=gitops_repo.url)])
        with pytest.raises(VerifyTimeout, match=f"last seen: sync Synced at {revision[:12]}"):
            run_verify(args_for(cluster, "--token-env", token_env, "--timeout", "30s",
                                revision=expected), FakeTime())


def test_unknown_revision_names_the_repository(cluster: Cluster, gitops_repo,
                                               token_env: str) -> None:
    synced = gitops_repo.refs()["refs/heads/main"]
    cluster.kube.script("argocd", "api", [application(revision=synced, repo_url=gitops_repo.url)])
    with pytest.raises(UsageError, match=f"revision {'9' * 40} is not in {gitops_repo.url}"):
        run_verify(args_for(cluster, "--token-env", token_env, revision="9" * 40), FakeTime())


# --- failures -------------------------------------------------------------------------------------

def test_degraded_past_the_grace_period_fails(cluster: Cluster) -> None:
    cluster.kube.script("argocd", "api", [application(
        revision=REV, health="Degraded", message="Deployment exceeded its progress deadline")])
    time = FakeTime()
    with pytest.raises(VerifyDegraded, match="Degraded for 120 s .* progress deadline") as caught:
        run_verify(args_for(cluster), time)
    assert caught.value.exit_code == 9
    assert sum(time.sleeps) == 120.0


def test_degraded_at_an_older_revision_is_waited_out(cluster: Cluster, gitops_repo,
                                                     token_env: str) -> None:
    # the old release was already broken; the new revision is what decides
    older = gitops_repo.refs()["refs/heads/main"]
    expected = gitops_repo.commit({"envs/prod/api/values.yaml": "image: {tag: v2}\n"}, "v2")
    cluster.kube.script("argocd", "api",
                        [application(revision=older, health="Degraded", repo_url=gitops_repo.url)]
                        * 20 + [application(revision=expected)])
    result = run_verify(args_for(cluster, "--token-env", token_env, revision=expected), FakeTime())
    assert result.synced_revision == expected


def test_failed_sync_of_the_revision_fails_at_once(cluster: Cluster) -> None:
    cluster.kube.script("argocd", "api", [application(
        sync="OutOfSync", revision=REV, health="Healthy", phase="Failed",
        message='one or more objects failed to apply: Deployment "api" is invalid')])
    time = FakeTime()
    with pytest.raises(VerifyDegraded, match=r"sync of 1{40} failed: one or more objects"):
        run_verify(args_for(cluster), time)
    assert time.sleeps == []


def test_failed_sync_of_an_older_revision_is_ignored(cluster: Cluster, gitops_repo,
                                                     token_env: str) -> None:
    older = gitops_repo.refs()["refs/heads/main"]
    expected = gitops_repo.commit({"envs/prod/api/values.yaml": "image: {tag: v2}\n"}, "v2")
    cluster.kube.script("argocd", "api", [
        application(sync="OutOfSync", revision=older, phase="Error", message="old failure",
                    repo_url=gitops_repo.url),
        application(revision=expected)])
    result = run_verify(args_for(cluster, "--token-env", token_env, revision=expected), FakeTime())
    assert result.synced_revision == expected


def test_timeout_reports_the_last_state(cluster: Cluster) -> None:
    cluster.kube.script("argocd", "api", [application(revision=REV, health="Progressing")])
    time = FakeTime()
    with pytest.raises(VerifyTimeout) as caught:
        run_verify(args_for(cluster, "--timeout", "1m"), time)
    assert caught.value.exit_code == 8
    assert f"last seen: sync Synced at {REV[:12]}, health Progressing" in str(caught.value)
    assert sum(time.sleeps) == 60.0 and len(cluster.kube.requests) == 7


def test_timeout_shows_why_argo_cd_cannot_render(cluster: Cluster) -> None:
    app = application(sync="Unknown", revision=REV, health="Healthy", phase=None)
    app["status"]["conditions"] = [
        {"type": "SharedResourceWarning", "message": "not an error"},
        {"type": "ComparisonError", "message": "values don't meet the specifications of the schema"}]
    cluster.kube.script("argocd", "api", [app])
    with pytest.raises(VerifyTimeout, match="sync Unknown .*, ComparisonError: values don't meet"):
        run_verify(args_for(cluster, "--timeout", "20s"), FakeTime())


def test_unreachable_endpoint_gives_up_after_bounded_retries(cluster: Cluster) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cluster.point_at(f"https://127.0.0.1:{port}", cluster.kube.ca_pem)
    time = FakeTime()
    with pytest.raises(EndpointUnreachable, match="did not answer 5 times in a row") as caught:
        run_verify(args_for(cluster), time)
    assert caught.value.exit_code == 10
    assert time.sleeps == [10.0, 20.0, 40.0, 80.0]  # backoff between the 5 attempts


def test_transient_errors_are_retried(cluster: Cluster) -> None:
    cluster.kube.unavailable = 3
    cluster.kube.script("argocd", "api", [application(revision=REV)])
    time = FakeTime()
    assert run_verify(args_for(cluster), time).health == "Healthy"
    assert [code for _, code in cluster.kube.requests] == [503, 503, 503, 200]
    assert time.sleeps == [10.0, 20.0, 40.0]


def test_wrong_ca_fails_without_retrying(cluster: Cluster) -> None:
    other_ca, _ = self_signed_certificate()
    cluster.point_at(cluster.kube.url, other_ca)
    with pytest.raises(EndpointUnreachable, match="TLS verification .* failed"):
        run_verify(args_for(cluster), FakeTime())
    assert cluster.kube.requests == []


def test_401_for_a_role_without_access_entry(cluster: Cluster) -> None:
    cluster.kube.script("argocd", "api", [application(revision=REV)])
    args = args_for(cluster)
    args.role_arn = cluster.other_role_arn
    with pytest.raises(CredentialsError, match=r"rejected the token \(401 Unauthorized\)") as caught:
        run_verify(args, FakeTime())
    assert caught.value.exit_code == 7
    # one retry with a freshly made token, in case the first had expired
    assert [code for _, code in cluster.kube.requests] == [401, 401]
    assert cluster.kube.tokens[0] != cluster.kube.tokens[1]


def test_missing_cluster_is_a_usage_error(cluster: Cluster) -> None:
    args = args_for(cluster)
    args.cluster = "nope"
    with pytest.raises(UsageError, match="EKS cluster 'nope' not found in eu-west-1"):
        run_verify(args, FakeTime())


def test_no_aws_credentials_is_a_credentials_error(monkeypatch: pytest.MonkeyPatch,
                                                   tmp_path) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.delenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", raising=False)
    args = parse("--env", "prod", "--region", REGION, "--service", "api", "--cluster", CLUSTER,
                 "--revision", REV)
    with pytest.raises(CredentialsError, match="no AWS credentials"):
        run_verify(args, FakeTime())


# --- pull requests --------------------------------------------------------------------------------

@pytest.fixture
def github(git_token: str) -> Iterator[FakeGitHub]:
    with FakeGitHub(token=git_token) as fake:
        yield fake


def test_pr_merged_then_synced_at_the_merge_commit(cluster: Cluster, github: FakeGitHub,
                                                   token_env: str) -> None:
    repo = github.add_repo("acme/gitops")
    pr = github.add_pull(repo, head="promote/prod/api")
    merge_sha = github.merge(repo, pr.number, merge_commit_sha=LATER)
    cluster.kube.script("argocd", "api", [application(revision=merge_sha)])
    url = f"{github.api_url}/acme/gitops/pull/{pr.number}"
    result = run_verify(args_for(cluster, "--pr", url, "--token-env", token_env,
                                 "--github-api-url", github.api_url), FakeTime())
    assert (result.revision, result.synced_revision, result.pull_request) == (LATER, LATER, url)


def test_pr_closed_unmerged(cluster: Cluster, github: FakeGitHub, token_env: str) -> None:
    repo = github.add_repo("acme/gitops")
    pr = github.add_pull(repo, head="promote/prod/api")
    github.close(repo, pr.number)
    url = f"{github.api_url}/acme/gitops/pull/{pr.number}"
    with pytest.raises(PullRequestClosed) as caught:
        run_verify(args_for(cluster, "--pr", url, "--token-env", token_env,
                            "--github-api-url", github.api_url), FakeTime())
    assert caught.value.exit_code == 11
    assert cluster.kube.requests == []  # the cluster is never asked


def test_revision_and_pr_are_exclusive(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        parse("--env", "e", "--region", REGION, "--service", "s", "--cluster", "c",
              "--revision", REV, "--pr", "https://github.com/o/r/pull/1")
    assert "not allowed with argument" in capsys.readouterr().err


# --- small parts ----------------------------------------------------------------------------------

def test_token_is_renewed_before_eks_expires_it(cluster: Cluster,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    made = []
    monkeypatch.setattr(verify_mod, "eks_token", lambda *a: made.append(a) or f"t{len(made)}")
    time = FakeTime()
    access = verify_mod.EksAccess(cluster=CLUSTER, region=REGION, role_arn=cluster.role_arn,
                                  clock=time.clock)
    assert [access.token(), access.token()] == ["t1", "t1"]
    time.sleep(verify_mod.TOKEN_RENEW_S)
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


def test_pull_request_number() -> None:
    assert pull_request_number("https://github.com/acme/gitops/pull/42") == (
        "https://github.com/acme/gitops", 42)
    with pytest.raises(UsageError, match="not a pull request URL"):
        pull_request_number("https://github.com/acme/gitops/issues/42")


@pytest.mark.parametrize("revision", ["abc", "G" * 40, "1" * 41, "HEAD"])
def test_revision_must_be_a_sha(revision: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        parse("--env", "e", "--region", REGION, "--service", "s", "--cluster", "c",
              "--revision", revision)
    assert "is not a commit sha" in capsys.readouterr().err


def test_cli_prints_the_final_status_as_json(cluster: Cluster,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    cluster.kube.script("argocd", "api", [application(revision=REV)])
    argv = ["verify", "--env", "prod", "--region", REGION, "--service", "api", "--cluster",
            CLUSTER, "--role-arn", cluster.role_arn, "--revision", REV]
    assert main([*argv, "--output", "json"]) == 0
    out, err = capsys.readouterr()
    status = json.loads(out)
    assert {k: status[k] for k in ("application", "revision", "synced_revision", "sync",
                                   "health", "env", "region")} == {
        "application": "api", "revision": REV, "synced_revision": REV, "sync": "Synced",
        "health": "Healthy", "env": "prod", "region": REGION}
    assert f"api on {CLUSTER}: sync Synced at {REV[:12]}, health Healthy" in err  # plain progress


def test_cli_reports_a_failed_sync_with_its_exit_code(cluster: Cluster,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    cluster.kube.script("argocd", "api", [application(revision=REV, phase="Failed",
                                                      message="hook failed")])
    code = main(["verify", "--env", "prod", "--region", REGION, "--service", "api", "--cluster",
                 CLUSTER, "--role-arn", cluster.role_arn, "--revision", REV])
    assert code == 9
    assert "error: api on prod-eu-west-1 (prod, eu-west-1): sync of" in capsys.readouterr().err


def test_a_non_json_answer_is_reported_not_crashed_on() -> None:
    class LoginPage(requests.Session):  # e.g. a proxy in front of the endpoint
        def get(self, url, **kwargs):
            response = requests.Response()
            response.status_code, response._content = 200, b"<html>sign in</html>"
            return response

    kube = verify_mod.KubeClient("https://proxy.example", token=lambda renew: "t", ca_file=None,
                                 http=LoginPage())
    with pytest.raises(GitopsError, match="something other than JSON"):
        kube.get_application("argocd", "api")
