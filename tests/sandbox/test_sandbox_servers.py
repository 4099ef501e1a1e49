"""The sandbox's own pieces: the EKS-like API as boto3 reads it, a pull request's merge in git, and
what its clusters run for a repository's values."""

from __future__ import annotations

import subprocess
from pathlib import Path

import boto3
import botocore.exceptions
import pytest

from sandbox import argo, git_http
from sandbox.eks_api import EksApi

KEY = "AKIASANDBOXTEST"


def eks_client(url: str, key: str = KEY, region: str = "us-east-1"):
    return boto3.client("eks", region_name=region, endpoint_url=url, aws_access_key_id=key,
                        aws_secret_access_key="secret")


def test_describe_cluster_answers_as_eks_does_for_the_region_signed() -> None:
    with EksApi(KEY) as eks:
        eks.add_cluster("us-east-1", "shop-staging-use1", endpoint="https://127.0.0.1:1", ca_pem=b"PEM")
        cluster = eks_client(eks.url).describe_cluster(name="shop-staging-use1")["cluster"]
        assert (cluster["endpoint"], cluster["status"], cluster["certificateAuthority"]["data"]) == (
            "https://127.0.0.1:1", "ACTIVE", "UEVN")
        with pytest.raises(eks_client(eks.url).exceptions.ResourceNotFoundException,
                           match="No cluster found for name: other."):
            eks_client(eks.url).describe_cluster(name="other")
        with pytest.raises(botocore.exceptions.ClientError, match="No cluster found"):
            eks_client(eks.url, region="eu-west-1").describe_cluster(name="shop-staging-use1")
        with pytest.raises(botocore.exceptions.ClientError, match="UnrecognizedClientException"):
            eks_client(eks.url, key="AKIAOTHER").describe_cluster(name="shop-staging-use1")


def test_a_merge_makes_a_merge_commit_of_both_heads_or_refuses_a_conflict(tmp_path: Path) -> None:
    bare = git_http.make_bare_repo(tmp_path / "r.git", {"a.txt": "1\n", "b.txt": "1\n"})
    base = git_http.ref_sha(bare, "refs/heads/main")
    git_http.commit_files(bare, {"a.txt": "2\n"}, "change a", branch="main")
    git_http.commit_files(bare, {"b.txt": "2\n"}, "change b", branch="main")  # main moves on
    subprocess.run(["git", "--git-dir", str(bare), "branch", "feature", base], check=True)
    tip = git_http.commit_files(bare, {"c.txt": "new\n"}, "add c", branch="feature")
    main_before = git_http.ref_sha(bare, "refs/heads/main")
    merged = git_http.merge_branch(bare, "feature", "Merge pull request #1")
    assert merged == git_http.ref_sha(bare, "refs/heads/main")
    assert git_http.show(bare, "%P|%an|%s") == f"{main_before} {tip}|GitHub|Merge pull request #1\n"
    assert [git_http.file_at(bare, p) for p in ("a.txt", "b.txt", "c.txt")] == [b"2\n", b"2\n", b"new\n"]
    git_http.commit_files(bare, {"a.txt": "3\n"}, "change a again", branch="feature")
    git_http.commit_files(bare, {"a.txt": "4\n"}, "change a on main", branch="main")
    head = git_http.ref_sha(bare, "refs/heads/main")
    assert git_http.merge_branch(bare, "feature", "Merge pull request #2") is None
    assert git_http.ref_sha(bare, "refs/heads/main") == head


def test_the_clusters_run_the_digest_main_holds_and_abort_the_broken_one(tmp_path: Path) -> None:
    values = "image:\n  repository: registry/api\n  tag: \"1.0\"\n  digest: \"{}\"\n"
    bare = git_http.make_bare_repo(tmp_path / "g.git", {"envs/staging/api/values.yaml": values.format("sha256:" + "1" * 64)})
    moment = argo.running(bare, "http://x/g.git", "staging", "api")
    assert moment.app["status"]["sync"]["revision"] == git_http.ref_sha(bare, "refs/heads/main")
    assert {pod["status"]["containerStatuses"][1]["imageID"] for pod in moment.pods} == {
        "registry/api@sha256:" + "1" * 64}
    assert moment.rollouts["api"]["status"]["phase"] == "Healthy"
    git_http.commit_files(bare, {"envs/staging/api/values.yaml": values.format(argo.BROKEN_DIGEST)}, "broken")
    moment = argo.running(bare, "http://x/g.git", "staging", "api")
    assert moment.app["status"]["health"]["status"] == "Degraded"
    assert moment.rollouts["api"]["status"]["abort"] is True and not moment.pods
