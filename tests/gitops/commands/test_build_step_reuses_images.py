"""The image build, run the way CodeBuild runs it: the program's Build step's buildspec (install,
pre_build, build and post_build in one bash session: buildspec 0.2 keeps shell variables from
phase to phase), the tool bundle made from the same files the program uploads, and the real gitops
CLI asking ECR, served by moto on 127.0.0.1, with an IMMUTABLE-tag repository.

Only what belongs to the CodeBuild host is stood in for (the shims of
test_pipeline_steps_run_the_cli): `aws ecr get-login-password` hands over a password, and `docker`
records its calls; its `push` stores the image in moto as a registry would (PutImage), so ECR's
own immutability check refuses a tag another run pushed first.

A rebuild of a commit (a re-run, a retry after a later stage failed, CodePipeline's "Release
change") finds its tag in the repository and reuses that image: no build, no push, which ECR would
refuse. IMAGE_DIGEST is what ECR holds in every case.
"""

from __future__ import annotations

import sys
from pathlib import Path

import boto3
import pytest
import requests

from tests.conftest import REPO_ROOT, program_step
from tests.gitops.commands.test_image_digest import manifest
from tests.gitops.commands.test_pipeline_steps_run_the_cli import (SHA, creation_run, host,  # noqa: F401 (host: fixture)
                                                                   in_pipeline, run_step)

ACCOUNT = "123456789012"  # moto's
REGION = "us-east-1"
PHASES = ("install", "pre_build", "build", "post_build")
# `docker` on the build host: records each call (one line of arguments) in $DOCKER_CALLS. `push`
# does what $DOCKER_PUSH says: "lands" stores this build's image; "refused" is a run of the same
# commit pushing first, then this push meeting ECR's refusal; "fails" lands nothing.
DOCKER = f'''#!{sys.executable}
import os, sys
sys.path.insert(0, {str(REPO_ROOT)!r})
with open(os.environ["DOCKER_CALLS"], "a") as calls:
    calls.write(" ".join(sys.argv[1:]) + "\\n")
if sys.argv[1] == "login":
    sys.stdin.read()
elif sys.argv[1] == "push":
    import boto3
    from tests.gitops.commands.test_image_digest import manifest
    uri, tag = sys.argv[2].rsplit(":", 1)
    repository = uri.split("/", 1)[1]
    ecr = boto3.client("ecr", region_name=os.environ["AWS_REGION"])
    if os.environ["DOCKER_PUSH"] == "fails":
        sys.exit("dial tcp: connection reset by peer")
    if os.environ["DOCKER_PUSH"] == "refused":
        ecr.put_image(repositoryName=repository, imageManifest=manifest("another run"), imageTag=tag)
    try:
        pushed = ecr.put_image(repositoryName=repository, imageManifest=manifest("this build"), imageTag=tag)
    # ECR's API answers ImageTagAlreadyExistsException, moto ImageAlreadyExistsException.
    except (ecr.exceptions.ImageTagAlreadyExistsException, ecr.exceptions.ImageAlreadyExistsException) as e:
        sys.exit(f"tag invalid: {{e.response['Error']['Message']}}")
    print(f"{{tag}}: digest: {{pushed['image']['imageId']['imageDigest']}} size: 1")
'''


@pytest.fixture
def ecr():
    """moto's ECR on 127.0.0.1 with the step's repository (IMMUTABLE tags), empty; a client of it."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    url = "http://{}:{}".format(*server.get_host_and_port())
    requests.post(f"{url}/moto-api/reset", timeout=10)  # moto's state is the process's: start clean
    client = boto3.client("ecr", region_name=REGION, endpoint_url=url, aws_access_key_id="testing",
                          aws_secret_access_key="testing")
    client.create_repository(repositoryName=program_step("build.yml").project_variables["REPOSITORY_NAME"],
                             imageTagMutability="IMMUTABLE")
    yield client
    server.stop()


def build(host: dict[str, str], ecr, tmp_path: Path, push: str = "lands",
          pipeline: dict[str, str] | None = None) -> tuple[int, dict[str, str], str, list[str]]:
    """The program's Build step on SHA, its project's variables as the program sets them; the exit
    code, the exported variables, the output and docker's calls. `pipeline`: what a step of a
    pipeline's execution has (else it runs outside one, as a build started by hand)."""
    step = program_step("build.yml")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    real_aws = Path(host["PATH"].split(":")[0]) / "aws"
    shims = {"docker": DOCKER,
             "aws": '#!/usr/bin/env bash\nset -eu\n'
                    '[ "$1 $2" != "ecr get-login-password" ] || { echo password; exit 0; }\n'
                    f'exec "{real_aws}" "$@"\n'}
    for name, text in shims.items():
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    source = tmp_path / "source"
    source.mkdir()
    calls = tmp_path / "docker.calls"
    name = step.project_variables["REPOSITORY_NAME"]
    env = {**host, "PATH": f"{bin_dir}:{host['PATH']}",
           **{key: value for key, value in step.project_variables.items() if key != "REPOSITORY_URI"},
           "REPOSITORY_URI": f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/{name}",
           "SOURCE_COMMIT": SHA, "AWS_REGION": REGION, "AWS_ENDPOINT_URL_ECR": ecr.meta.endpoint_url,
           "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_CONFIG_FILE": "/nonexistent",
           "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent", "DOCKER_CALLS": str(calls), "DOCKER_PUSH": push,
           "EXECUTION_ID": "", **(pipeline or {})}
    code, exported, output = run_step(step, env, source, tmp_path / "tools", PHASES)
    return code, exported, output, calls.read_text().splitlines() if calls.exists() else []


def digest_in_ecr(ecr) -> str:
    name = program_step("build.yml").project_variables["REPOSITORY_NAME"]
    [image] = ecr.describe_images(repositoryName=name, imageIds=[{"imageTag": SHA}])["imageDetails"]
    return image["imageDigest"]


def verbs(calls: list[str]) -> list[str]:
    return [call.split()[0] for call in calls]


def test_a_rebuild_reuses_the_image_its_commit_has_and_builds_nothing(host, ecr, tmp_path):
    name = program_step("build.yml").project_variables["REPOSITORY_NAME"]
    earlier = ecr.put_image(repositoryName=name, imageManifest=manifest("the first run"), imageTag=SHA)
    digest = earlier["image"]["imageId"]["imageDigest"]
    code, exported, output, calls = build(host, ecr, tmp_path)
    assert code == 0, output
    assert verbs(calls) == ["login"]
    assert exported == {"IMAGE_TAG": SHA, "IMAGE_DIGEST": digest}
    uri = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/{name}"
    assert f"{uri}:{SHA} exists ({digest}): reusing it, nothing built" in output
    assert f"image {uri}:{SHA}@{digest}" in output


def test_a_first_build_builds_pushes_and_exports_the_digest_ecr_holds(host, ecr, tmp_path):
    code, exported, output, calls = build(host, ecr, tmp_path)
    assert code == 0, output
    uri = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/{program_step('build.yml').project_variables['REPOSITORY_NAME']}"
    assert verbs(calls) == ["login", "build", "push"]
    assert calls[2] == f"push {uri}:{SHA}"
    assert exported == {"IMAGE_TAG": SHA, "IMAGE_DIGEST": digest_in_ecr(ecr)}
    assert "reusing" not in output


def test_a_push_refused_because_another_run_pushed_the_tag_meanwhile_reuses_that_image(host, ecr, tmp_path):
    code, exported, output, calls = build(host, ecr, tmp_path, push="refused")
    assert code == 0, output
    assert verbs(calls) == ["login", "build", "push"]
    # ECR holds the other run's image (this build's never landed), and that is what is exported.
    assert digest_in_ecr(ecr) == exported["IMAGE_DIGEST"]
    assert f"tag invalid: Image with digest '{exported['IMAGE_DIGEST']}' and tag '{SHA}' already exists" in output
    assert f"push refused, but {ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/" in output
    assert f"({exported['IMAGE_DIGEST']}), pushed meanwhile by another run: reusing it" in output


def test_a_push_that_failed_with_nothing_in_ecr_fails_the_build(host, ecr, tmp_path):
    code, exported, output, calls = build(host, ecr, tmp_path, push="fails")
    assert code != 0 and exported == {}
    assert verbs(calls) == ["login", "build", "push"] and "connection reset by peer" in output


def test_when_ecr_cannot_say_whether_the_tag_exists_nothing_is_built(host, ecr, tmp_path):
    ecr.delete_repository(repositoryName=program_step("build.yml").project_variables["REPOSITORY_NAME"])
    code, exported, output, calls = build(host, ecr, tmp_path)
    assert code != 0 and exported == {}
    assert verbs(calls) == ["login"] and "error: no ECR repository" in output


def test_in_the_run_creating_the_pipeline_nothing_is_built_and_the_run_stops(host, ecr, tmp_path):
    # The first `pulumi up`: CodePipeline runs the new pipeline at once on the branch's head.
    with creation_run("CreatePipeline") as codepipeline:
        code, exported, output, calls = build(host, ecr, tmp_path, pipeline={
            **in_pipeline(codepipeline, "shop-api-staging"), "AWS_ENDPOINT_URL_ECR": ecr.meta.endpoint_url})
        codepipeline.shutdown()
    assert code == 0, output
    assert calls == [] and "nothing is built" in output
    assert [target.split(".")[-1] for target, _ in codepipeline.requests] == ["GetPipelineExecution",
                                                                           "StopPipelineExecution"]
    assert exported == {"IMAGE_TAG": SHA, "IMAGE_DIGEST": ""}


def test_a_run_a_push_started_builds_as_always(host, ecr, tmp_path):
    with creation_run("WebhookV2") as codepipeline:
        code, exported, output, calls = build(host, ecr, tmp_path, pipeline={
            **in_pipeline(codepipeline, "shop-api-staging"), "AWS_ENDPOINT_URL_ECR": ecr.meta.endpoint_url})
        codepipeline.shutdown()
    assert code == 0, output
    assert verbs(calls) == ["login", "build", "push"] and exported["IMAGE_DIGEST"] == digest_in_ecr(ecr)
