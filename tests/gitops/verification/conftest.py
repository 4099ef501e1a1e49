"""Fixtures of the verify tests: the cluster, the GitOps repository, the fake GitHub."""

from __future__ import annotations

import json
from collections.abc import Iterator

import boto3
import pytest
from moto import mock_aws

from sandbox.github_api import FakeGitHub
from sandbox.kube_api import FakeKube
from tests.gitops.verification.verify_env import CLUSTER, REGION, Cluster, assumed_role_of


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


@pytest.fixture
def repo(gitops_repo, token_env):
    """The GitOps repository; its token is what verify reads with (the server requires it)."""
    gitops_repo.token_env = token_env
    return gitops_repo


@pytest.fixture
def github(git_token: str) -> Iterator[FakeGitHub]:
    with FakeGitHub(token=git_token) as fake:
        yield fake
