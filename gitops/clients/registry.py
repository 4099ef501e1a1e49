"""ECR as the CLI reads it: the digest an image tag names in a repository (`gitops image-digest`).

The build step asks before it builds. The repositories' tags are immutable and the tag is the
commit sha, so a rebuild of a commit (a re-run, a retry, "Release change") would have its push
refused: a tag already there is reused instead, and the digest the later stages scan and promote
is always the one the registry holds. So a tag that is not there is an answer (None), and any
failure to know is an error of one line: the build must not guess either way.
"""

from __future__ import annotations

import re
from typing import Any

from gitops.clients.aws import ATTEMPTS, THROTTLED, bounded_client
from gitops.clients.credentials import is_access_denied
from gitops.errors import CredentialsError, GitopsError, UsageError

# ECR's RepositoryName (its API model): 2 to 256 characters of lowercase path components.
REPOSITORY_NAME = re.compile(r"[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(\/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*")
REPOSITORY_NAME_LENGTH = (2, 256)
# DescribeImages answers an image that is ACTIVE (pullable); an ARCHIVED or ACTIVATING one is
# pulled only once restored.
PULLABLE = "ACTIVE"
REJECTED_CREDENTIALS = ("UnrecognizedClientException", "InvalidClientTokenId", "ExpiredTokenException",
                        "InvalidSignatureException")


def check_repository_name(name: str) -> None:
    """A UsageError unless `name` is a repository name ECR accepts."""
    low, high = REPOSITORY_NAME_LENGTH
    if not low <= len(name) <= high or not REPOSITORY_NAME.fullmatch(name):
        raise UsageError(f"{name[:high]!r} is not an ECR repository name: use {low} to {high} characters, "
                         "lowercase path components of a-z 0-9 separated by . _ __ or -, joined by /")


def registry_client(region: str | None) -> Any:
    """A bounded ECR client in `region` (default: $AWS_REGION): `aws.bounded_client`."""
    return bounded_client("ecr", region)


def image_digest(repository: str, tag: str, region: str | None = None, client: Any = None) -> str | None:
    """The digest (sha256:…) of the image tagged `tag` in `repository` of the caller's registry,
    or None when no image has that tag. `client` defaults to `registry_client(region)`."""
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, NoRegionError, \
        PartialCredentialsError

    image = f"{repository}:{tag}"
    try:
        client = client or registry_client(region)
        answer = client.describe_images(repositoryName=repository, imageIds=[{"imageTag": tag}])
    except ClientError as e:
        if e.response.get("Error", {}).get("Code") == "ImageNotFoundException":
            return None
        raise _read_error(e, repository, image, client.meta.region_name) from None
    except NoRegionError:
        raise UsageError(f"no AWS region to read {image} from ECR: pass --region or set AWS_REGION") from None
    except (NoCredentialsError, PartialCredentialsError):
        raise CredentialsError(f"no AWS credentials to read {image} from ECR: run with a role or profile "
                               "allowed ecr:DescribeImages on the repository") from None
    except BotoCoreError as e:
        # Unreachable or timed out after ATTEMPTS tries, a bad endpoint or region: its own message
        # is one line once its whitespace is.
        raise GitopsError(f"cannot read {image} from ECR: {' '.join(str(e).split())}") from None
    found = next(iter(answer.get("imageDetails") or ()), None)
    if found is None:
        return None
    status = found.get("imageStatus", PULLABLE)
    if status != PULLABLE:
        raise GitopsError(f"{image} ({found['imageDigest']}) is {status}, not {PULLABLE}: nothing can pull it "
                          "until it is restored (ECR UpdateImageStorageClass); restore it, then run again")
    return found["imageDigest"]


def _read_error(e: Any, repository: str, image: str, region: str) -> GitopsError:
    code = e.response.get("Error", {}).get("Code", "")
    message = " ".join(e.response.get("Error", {}).get("Message", "").split())
    if code == "RepositoryNotFoundException":
        return UsageError(f"no ECR repository {repository} in {region} (the caller's registry): check "
                          "--repository, and --region or AWS_REGION")
    if is_access_denied(e):
        return CredentialsError(f"not allowed to read {image} from ECR ({message}): the role needs "
                                f"ecr:DescribeImages on repository {repository}")
    if code in REJECTED_CREDENTIALS:
        return CredentialsError(f"AWS rejected the credentials used to read {image} from ECR ({code}); "
                                "refresh them")
    if code in THROTTLED:
        return GitopsError(f"ECR throttled the read of {image} after {ATTEMPTS} attempts ({code}); run again")
    return GitopsError(f"reading {image} from ECR in {region} failed ({code or 'unknown error'}: {message})")
