"""image-digest: the digest ECR holds for a tag (DescribeImages, against moto and, for the answers
moto does not give, a real boto3 client whose answers come from botocore's Stubber, checked against
the ECR API model); nothing and exit 0 for a tag no image has; one typed line for every failure."""

from __future__ import annotations

import hashlib
import json

import boto3
import pytest

from gitops.cli import main
from gitops.clients import aws, registry
from gitops.errors import CredentialsError, GitopsError, UsageError
from tests import aws_models
from tests.gitops.promotion.test_approver_recorded_from_codepipeline import StalledEndpoint

REPOSITORY = "shop/api"
TAG = "0123456789abcdef0123456789abcdef01234567"
REQUEST = {"repositoryName": REPOSITORY, "imageIds": [{"imageTag": TAG}]}


def manifest(layer: str) -> str:
    """An OCI image manifest with one layer whose content is `layer`."""
    return json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                       "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                  "digest": "sha256:" + hashlib.sha256(b"{}").hexdigest(), "size": 2},
                       "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                                   "digest": "sha256:" + hashlib.sha256(layer.encode()).hexdigest(),
                                   "size": len(layer)}]})


def image_digest(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(["image-digest", *argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def ecr(aws):
    """moto's ECR in us-east-1 with the IMMUTABLE-tag repository shop/api, empty."""
    client = boto3.client("ecr", region_name="us-east-1")
    client.create_repository(repositoryName=REPOSITORY, imageTagMutability="IMMUTABLE")
    return client


def test_a_pushed_tag_prints_the_digest_ecr_holds(ecr, capsys):
    pushed = ecr.put_image(repositoryName=REPOSITORY, imageManifest=manifest("app"), imageTag=TAG)
    digest = pushed["image"]["imageId"]["imageDigest"]
    code, out, err = image_digest(capsys, "--repository", REPOSITORY, "--tag", TAG, "--region", "us-east-1")
    assert (code, out, err) == (0, digest + "\n", "")


def test_json_output_names_the_image_and_its_digest_or_null(ecr, capsys):
    pushed = ecr.put_image(repositoryName=REPOSITORY, imageManifest=manifest("app"), imageTag=TAG)
    for tag, digest in ((TAG, pushed["image"]["imageId"]["imageDigest"]), ("absent", None)):
        code, out, _ = image_digest(capsys, "--repository", REPOSITORY, "--tag", tag, "--region", "us-east-1",
                                    "--output", "json")
        assert (code, json.loads(out)) == (0, {"repository": REPOSITORY, "tag": tag, "digest": digest})


def test_the_region_defaults_to_aws_region(ecr, capsys, monkeypatch):
    pushed = ecr.put_image(repositoryName=REPOSITORY, imageManifest=manifest("app"), imageTag=TAG)
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    assert image_digest(capsys, "--repository", REPOSITORY, "--tag", TAG) == (
        0, pushed["image"]["imageId"]["imageDigest"] + "\n", "")
    # The same repository name in another region is another repository.
    code, _, err = image_digest(capsys, "--repository", REPOSITORY, "--tag", TAG, "--region", "eu-west-1")
    assert code == UsageError.exit_code and "no ECR repository shop/api in eu-west-1" in err


def test_a_tag_no_image_has_prints_nothing_and_succeeds(ecr, capsys):
    ecr.put_image(repositoryName=REPOSITORY, imageManifest=manifest("app"), imageTag="other")
    assert image_digest(capsys, "--repository", REPOSITORY, "--tag", TAG, "--region", "us-east-1") == (0, "", "")


def test_an_unknown_repository_is_one_line_naming_it(ecr, capsys):
    code, out, err = image_digest(capsys, "--repository", "shop/web", "--tag", TAG, "--region", "us-east-1")
    assert (code, out) == (UsageError.exit_code, "")
    assert err == ("error: no ECR repository shop/web in us-east-1 (the caller's registry): check --repository, "
                   "and --region or AWS_REGION\n")


@pytest.mark.parametrize("name", ["Shop/api", "a", "a" * 257, "shop//api", "-shop", "shop/api/", "shop api",
                                  "shop:api"])
def test_a_name_ecr_refuses_is_refused_before_any_call(capsys, monkeypatch, name):
    monkeypatch.setattr(registry, "registry_client", lambda region: pytest.fail("no call for a bad name"))
    code, out, err = image_digest(capsys, "--repository", name, "--tag", TAG)
    assert (code, out) == (UsageError.exit_code, "")
    assert err.startswith("error: ") and "is not an ECR repository name" in err and err.count("\n") == 1


@pytest.mark.parametrize("tag", ["bad tag!", "-x", ".x", "a" * 129, ""])
def test_a_tag_docker_cannot_push_is_refused_before_any_call(capsys, monkeypatch, tag):
    monkeypatch.setattr(registry, "registry_client", lambda region: pytest.fail("no call for a bad tag"))
    code, _, err = image_digest(capsys, "--repository", REPOSITORY, "--tag", tag)
    assert code == UsageError.exit_code and "is not a valid image tag" in err and err.count("\n") == 1


def test_the_rules_are_ecrs_own():
    model = aws_models.model("ecr")
    name = aws_models.member_shape("ecr", "DescribeImages", "repositoryName")
    assert (registry.REPOSITORY_NAME.pattern, registry.REPOSITORY_NAME_LENGTH) == (
        name["pattern"], (name["min"], name["max"]))
    # ECR's model bounds a tag's length only (1 to 300): every tag the CLI accepts (the OCI rule,
    # what docker pushes and promote takes, at most 128 characters) is within it.
    tag = aws_models.shape("ecr", "ImageTag")
    assert (tag["min"], tag["max"]) == (1, 300)
    errors = {e["shape"] for e in model["operations"]["DescribeImages"]["errors"]}
    assert {"ImageNotFoundException", "RepositoryNotFoundException"} <= errors
    assert registry.PULLABLE in aws_models.shape("ecr", "ImageStatus")["enum"]


@pytest.fixture
def stubbed(monkeypatch):
    """A real ECR client whose answers come from a Stubber (checked against the API model); the CLI
    gets it."""
    from botocore.stub import Stubber

    client = boto3.client("ecr", region_name="us-east-1", aws_access_key_id="testing",
                          aws_secret_access_key="testing")
    monkeypatch.setattr(registry, "registry_client", lambda region: client)
    with Stubber(client) as stubber:
        yield stubber
        stubber.assert_no_pending_responses()


@pytest.mark.parametrize("code,status,exit_code,error", [
    ("AccessDeniedException", 400, CredentialsError.exit_code,
     f"not allowed to read {REPOSITORY}:{TAG} from ECR (User: arn:aws:sts::1:assumed-role/build is not "
     f"authorized to perform: ecr:DescribeImages): the role needs ecr:DescribeImages on repository {REPOSITORY}"),
    ("ExpiredTokenException", 400, CredentialsError.exit_code,
     f"AWS rejected the credentials used to read {REPOSITORY}:{TAG} from ECR (ExpiredTokenException); refresh them"),
    ("ThrottlingException", 400, GitopsError.exit_code,
     f"ECR throttled the read of {REPOSITORY}:{TAG} after 3 attempts (ThrottlingException); run again"),
    ("ServerException", 500, GitopsError.exit_code,
     f"reading {REPOSITORY}:{TAG} from ECR in us-east-1 failed (ServerException: User: "
     "arn:aws:sts::1:assumed-role/build is not authorized to perform: ecr:DescribeImages)"),
])
def test_a_failed_read_is_one_typed_line(stubbed, capsys, code, status, exit_code, error):
    stubbed.add_client_error("describe_images", service_error_code=code, http_status_code=status,
                             service_message="User: arn:aws:sts::1:assumed-role/build is not authorized\n"
                                             "to perform: ecr:DescribeImages", expected_params=REQUEST)
    assert image_digest(capsys, "--repository", REPOSITORY, "--tag", TAG) == (exit_code, "", f"error: {error}\n")


def test_an_archived_image_is_not_reused(stubbed, capsys):
    digest = "sha256:" + "c" * 64
    stubbed.add_response("describe_images", {"imageDetails": [
        {"repositoryName": REPOSITORY, "imageDigest": digest, "imageTags": [TAG], "imageStatus": "ARCHIVED"}]},
        REQUEST)
    code, out, err = image_digest(capsys, "--repository", REPOSITORY, "--tag", TAG)
    assert (code, out) == (GitopsError.exit_code, "")
    assert err == (f"error: {REPOSITORY}:{TAG} ({digest}) is ARCHIVED, not ACTIVE: nothing can pull it until it "
                   "is restored (ECR UpdateImageStorageClass); restore it, then run again\n")


def test_without_credentials_or_region_the_line_says_what_to_set(capsys, monkeypatch):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
                 "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
                 "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_WEB_IDENTITY_TOKEN_FILE"):
        monkeypatch.delenv(name, raising=False)
    for name in ("AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
        monkeypatch.setenv(name, "/nonexistent")
    # No instance metadata either: botocore asks 169.254.169.254 last.
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    # A new process's boto3: its default session keeps the credentials an earlier test resolved.
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)
    code, _, err = image_digest(capsys, "--repository", REPOSITORY, "--tag", TAG)
    assert (code, err) == (UsageError.exit_code, f"error: no AWS region to read {REPOSITORY}:{TAG} from ECR: "
                                                 "pass --region or set AWS_REGION\n")
    code, _, err = image_digest(capsys, "--repository", REPOSITORY, "--tag", TAG, "--region", "us-east-1")
    assert (code, err) == (CredentialsError.exit_code, f"error: no AWS credentials to read {REPOSITORY}:{TAG} "
                                                       "from ECR: run with a role or profile allowed "
                                                       "ecr:DescribeImages on the repository\n")


def test_an_unreachable_ecr_costs_seconds_and_one_line(capsys, monkeypatch):
    # What botocore would make of the client's settings in the worst case, every try timing out:
    # ATTEMPTS tries of a connect and a read, plus standard mode's backoff (at most 2^n s each).
    worst = aws.ATTEMPTS * (aws.CONNECT_TIMEOUT_S + aws.READ_TIMEOUT_S) + sum(
        2 ** n for n in range(aws.ATTEMPTS - 1))
    assert worst <= 30
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_CONFIG_FILE": "/nonexistent", "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent"}.items():
        monkeypatch.setenv(name, value)
    # The client really applies them: shortened here, every try ends on its read timeout.
    monkeypatch.setattr(aws, "READ_TIMEOUT_S", 0.2)
    with StalledEndpoint() as endpoint:
        monkeypatch.setenv("AWS_ENDPOINT_URL_ECR", endpoint.url)
        code, out, err = image_digest(capsys, "--repository", REPOSITORY, "--tag", TAG, "--region", "eu-west-1")
        assert len(endpoint.connections) == aws.ATTEMPTS
    assert (code, out) == (GitopsError.exit_code, "")
    assert err.startswith(f"error: cannot read {REPOSITORY}:{TAG} from ECR: Read timeout on endpoint URL")
    assert err.count("\n") == 1
