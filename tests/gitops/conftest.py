"""Shared fixtures of the gitops tests: a smart-HTTP git server on 127.0.0.1 requiring a token,
and a freshly seeded GitOps repository on it for each test.

    def test_x(gitops_repo):
        gitops_repo.url                      # http://127.0.0.1:<port>/acme/gitops-<n>.git (needs the token)
        gitops_repo.token                    # the token the server requires
        gitops_repo.file("envs/staging/api/values.yaml")          # bytes at main, or None
        gitops_repo.commit({"envs/prod/api/values.yaml": "..."}, "msg")  # -> sha
        gitops_repo.refs()                   # {"refs/heads/main": sha, ...}
        gitops_repo.log(), gitops_repo.show("%an|%B")                  # history, one commit

`make_gitops_repo(files)` seeds another repository with other files (e.g. `seed_files(services)`).
`token_env` puts the token in an environment variable and returns the variable's name, for the
CLI's `--token-env`. The seeded layout is `SERVICES` in `ENVIRONMENTS` (see `seed_files`).
"""

from __future__ import annotations

import itertools
import json
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from sandbox import git_http

ENVIRONMENTS = ("staging", "prod")
SERVICES = ("api", "web", "worker")
DIGEST_A = "sha256:" + "a" * 64
DIGEST_B = "sha256:" + "b" * 64


def values_yaml(service: str, tag: str, digest: str = "") -> str:
    """A values file as application teams write them: comments, quoted tag, other values."""
    return (f"# {service}: values for this environment\n"
            f"image:\n"
            f"  repository: 111111111111.dkr.ecr.us-east-1.amazonaws.com/{service}\n"
            f"  tag: \"{tag}\"  # set by the pipeline\n"
            f"  digest: \"{digest}\"\n"
            f"replicaCount: 2\n"
            f"resources:\n"
            f"  limits: {{cpu: 500m, memory: 256Mi}}\n")


def seed_files(services: tuple[str, ...] = SERVICES,
               environments: tuple[str, ...] = ENVIRONMENTS) -> dict[str, str]:
    """charts/<svc>/{Chart,values}.yaml and envs/<env>/<svc>/values.yaml at tag 1.0.0."""
    files: dict[str, str] = {}
    for service in services:
        files[f"charts/{service}/Chart.yaml"] = (f"apiVersion: v2\nname: {service}\n"
                                                 "version: 0.1.0\n")
        files[f"charts/{service}/values.yaml"] = "image:\n  repository: \"\"\n  tag: \"\"\n"
        for env in environments:
            files[f"envs/{env}/{service}/values.yaml"] = values_yaml(service, "1.0.0", DIGEST_A)
    return files


@dataclass
class GitopsRepo:
    url: str
    bare: Path
    token: str
    server: git_http.GitServer

    def file(self, path: str, ref: str = "main") -> bytes | None:
        return git_http.file_at(self.bare, path, ref)

    def commit(self, files: dict[str, str | bytes | None], message: str = "test change",
               branch: str = "main", symlinks: dict[str, str] | None = None) -> str:
        return git_http.commit_files(self.bare, files, message, branch, symlinks)

    def refs(self) -> dict[str, str]:
        return git_http.refs(self.bare)

    def log(self, ref: str = "main", fmt: str = "%H %s") -> list[str]:
        """One line per commit, newest first."""
        return git_http.log(self.bare, ref, fmt)

    def show(self, fmt: str, ref: str = "main") -> str:
        """`git log -1 --format=<fmt> <ref>`, whole (multi-line formats such as %B)."""
        return git_http.show(self.bare, fmt, ref)


@pytest.fixture(scope="session")
def git_token() -> str:
    return "gitops-test-" + secrets.token_hex(12)


@pytest.fixture(scope="session")
def git_server(tmp_path_factory: pytest.TempPathFactory, git_token: str
               ) -> Iterator[git_http.GitServer]:
    """One server per test process; each test gets its own repository on it."""
    with git_http.GitServer(tmp_path_factory.mktemp("git-server"), token=git_token) as server:
        yield server


_repo_numbers = itertools.count()


@pytest.fixture
def make_gitops_repo(git_server: git_http.GitServer, git_token: str
                     ) -> Iterator[Callable[..., GitopsRepo]]:
    """Factory: `make_gitops_repo(files=None)` seeds a new repository on the server with `files`
    ({path: content}, default `seed_files()`)."""
    def make(files: dict[str, str] | None = None) -> GitopsRepo:
        # owner/name like a forge's, so forge code (and FakeGitHub) can parse the URL.
        name = f"acme/gitops-{next(_repo_numbers)}"
        bare = git_http.make_bare_repo(git_server.root / f"{name}.git",
                                        seed_files() if files is None else files)
        return GitopsRepo(git_server.url(name), bare, git_token, git_server)

    git_server.on_receive_pack = git_server.on_request = git_server.on_reply = None
    yield make
    git_server.on_receive_pack = git_server.on_request = git_server.on_reply = None
    git_server.tokens = {git_token}


@pytest.fixture
def gitops_repo(make_gitops_repo: Callable[..., GitopsRepo]) -> GitopsRepo:
    """A repository seeded with `seed_files()`: SERVICES in ENVIRONMENTS at tag 1.0.0."""
    return make_gitops_repo()


@pytest.fixture
def token_env(monkeypatch: pytest.MonkeyPatch, git_token: str) -> str:
    monkeypatch.setenv("GITOPS_TEST_TOKEN", git_token)
    return "GITOPS_TEST_TOKEN"


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Fake AWS credentials, no profile or region from the machine, every call served by moto."""
    for name in ("AWS_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    with mock_aws():
        yield


@pytest.fixture
def codepipeline(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[object, Stubber]]:
    """A real boto3 CodePipeline client in us-east-1 whose answers come from a Stubber, which
    checks every request and answer against the CodePipeline API model (no network)."""
    for name in ("AWS_PROFILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
        monkeypatch.delenv(name, raising=False)
    client = boto3.client("codepipeline", region_name="us-east-1", aws_access_key_id="testing",
                          aws_secret_access_key="testing")
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def keys_allowed_only(action: str) -> dict[str, str]:
    """Environment for the access keys of a new moto IAM user allowed only `action` (three IAM
    calls: count them in `set_initial_no_auth_action_count`)."""
    iam = boto3.client("iam", region_name="us-east-1")
    iam.create_user(UserName="pipeline")
    policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": action, "Resource": "*"}]}
    iam.put_user_policy(UserName="pipeline", PolicyName="only", PolicyDocument=json.dumps(policy))
    key = iam.create_access_key(UserName="pipeline")["AccessKey"]
    return {"AWS_ACCESS_KEY_ID": key["AccessKeyId"], "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"]}
