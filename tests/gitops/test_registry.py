"""resolve_digest against ECR in moto: the digest moto computed for a pushed manifest, and each error."""

from __future__ import annotations

import hashlib
import json

import boto3
import pytest
from moto.core import set_initial_no_auth_action_count

from gitops.errors import CredentialsError, UsageError
from gitops.registry import resolve_digest
from tests.gitops.conftest import keys_allowed_only

ACCOUNT = "123456789012"  # moto's default account
REGION = "eu-west-1"
URI = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/team/orders"



def _manifest(layer: str) -> str:
    return json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": 7023,
                       "digest": "sha256:" + hashlib.sha256(b"config" + layer.encode()).hexdigest()},
            "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "size": 32654,
                        "digest": "sha256:" + hashlib.sha256(layer.encode()).hexdigest()}],
        }
    )


def _push(tag: str, layer: str, region: str = REGION) -> str:
    """Put a manifest under `tag`; return the digest the registry recorded for it."""
    ecr = boto3.client("ecr", region_name=region)
    image = ecr.put_image(repositoryName="team/orders", imageManifest=_manifest(layer), imageTag=tag)["image"]
    return image["imageId"]["imageDigest"]


@pytest.fixture
def repository(aws: None) -> None:
    boto3.client("ecr", region_name=REGION).create_repository(repositoryName="team/orders")


def test_resolves_the_digest_of_the_tag(repository: None) -> None:
    first = _push("3f2a9c1", "layer-a")
    second = _push("8b77e02", "layer-b")
    assert first != second
    assert resolve_digest(URI, "3f2a9c1") == first
    assert resolve_digest(URI, "8b77e02") == second


def test_uses_the_region_of_the_uri(aws: None) -> None:
    # The same repository name in two regions holds different images; the URI's region decides.
    for region in ("eu-west-1", "us-east-1"):
        boto3.client("ecr", region_name=region).create_repository(repositoryName="team/orders")
    _push("v1", "layer-eu", region="eu-west-1")
    us = _push("v1", "layer-us", region="us-east-1")
    assert resolve_digest(f"{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com/team/orders", "v1") == us


def test_unknown_tag(repository: None) -> None:
    _push("v1", "layer-a")
    with pytest.raises(UsageError, match=f"tag v2 not found in {URI}"):
        resolve_digest(URI, "v2")


def test_unknown_repository(aws: None) -> None:
    with pytest.raises(UsageError, match=f"ECR repository team/orders does not exist in account {ACCOUNT}, region {REGION}"):
        resolve_digest(URI, "v1")


@pytest.mark.parametrize(
    "uri",
    [
        "ghcr.io/team/orders",
        f"https://{URI}",
        f"{URI}:v1",
        f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com",
        f"12345.dkr.ecr.{REGION}.amazonaws.com/orders",
    ],
)
def test_not_an_ecr_uri(uri: str) -> None:
    with pytest.raises(UsageError, match="is not an ECR repository URI"):
        resolve_digest(uri, "v1")


@pytest.mark.parametrize("tag", ["", "-lead", "a:b", "x" * 129, "sha256@abc"])
def test_bad_tag(tag: str) -> None:
    with pytest.raises(UsageError, match="is not a valid image tag"):
        resolve_digest(URI, tag)


@set_initial_no_auth_action_count(5)
def test_access_denied_names_the_permission(aws: None) -> None:
    keys = keys_allowed_only("ecr:ListImages")
    boto3.client("ecr", region_name=REGION).create_repository(repositoryName="team/orders")
    _push("v1", "layer-a")
    with pytest.MonkeyPatch.context() as env:
        for name, value in keys.items():
            env.setenv(name, value)
        with pytest.raises(CredentialsError, match="grant ecr:DescribeImages on repository team/orders"):
            resolve_digest(URI, "v1")
