"""The digest of an image tag in Amazon ECR, so a promotion pins exactly the image that was built."""

from __future__ import annotations

import re

import boto3
import botocore.exceptions

from gitops.credentials import is_access_denied
from gitops.errors import CredentialsError, GitopsError, UsageError

# <account>.dkr.ecr[-fips].<region>.amazonaws.com[.cn]/<name>; names may have slashes (namespaces).
_ECR_URI = re.compile(
    r"^(?P<account>\d{12})\.dkr\.ecr(?:-fips)?\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(?:\.cn)?"
    r"/(?P<name>[a-z0-9][a-z0-9._/-]*)$"
)
# Docker's tag grammar; ECR allows the same characters.
_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")


def resolve_digest(repository_uri: str, tag: str) -> str:
    """Return the digest ("sha256:...") of `tag` in the ECR repository `repository_uri`
    (`<account>.dkr.ecr.<region>.amazonaws.com/<name>`), read with ecr:DescribeImages in the URI's
    account and region. For a multi-architecture image it is the digest of the image index."""
    match = _ECR_URI.match(repository_uri)
    if not match:
        raise UsageError(
            f"{repository_uri!r} is not an ECR repository URI; expected "
            "<account>.dkr.ecr.<region>.amazonaws.com/<name> (no tag, no scheme)"
        )
    if not _TAG.match(tag):
        raise UsageError(f"{tag!r} is not a valid image tag (letters, digits, '_', '.', '-'; at most 128)")
    account, region, name = match.group("account", "region", "name")

    try:
        response = boto3.client("ecr", region_name=region).describe_images(
            registryId=account, repositoryName=name, imageIds=[{"imageTag": tag}]
        )
    except botocore.exceptions.NoCredentialsError:
        raise CredentialsError(
            f"no AWS credentials to read {repository_uri}: run with a role or profile allowed ecr:DescribeImages"
        ) from None
    except botocore.exceptions.ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code == "RepositoryNotFoundException":
            raise UsageError(
                f"ECR repository {name} does not exist in account {account}, region {region}; check the repository URI"
            ) from None
        if code == "ImageNotFoundException":
            raise UsageError(f"tag {tag} not found in {repository_uri}; was the image pushed with that tag?") from None
        if is_access_denied(exc):
            raise CredentialsError(
                f"not allowed to read {repository_uri}: grant ecr:DescribeImages on repository {name} "
                f"(account {account}, region {region}) to the role, and allow it in the repository "
                "policy when the role is in another account"
            ) from None
        raise GitopsError(f"looking up tag {tag} in {repository_uri} failed: {code or 'unknown error'}") from None

    details = response.get("imageDetails", [])
    if not details:
        raise UsageError(f"tag {tag} not found in {repository_uri}; was the image pushed with that tag?")
    return details[0]["imageDigest"]
