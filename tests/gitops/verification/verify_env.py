"""The world verify runs in, for its tests: moto's STS and EKS (one cluster, whose only access entry
is the deployment role's), the Kubernetes-like API server of sandbox/kube_api.py as that cluster,
the GitOps repository on the smart-HTTP git test server, and a fake clock: sleeping advances it, so
waits of minutes take milliseconds. The fixtures are in conftest.py."""

from __future__ import annotations

import argparse
import base64
from dataclasses import dataclass, field

from moto.eks.models import eks_backends
from moto.sts.models import sts_backends

from gitops.commands import verify as verify_command
from gitops.commands.verify import request_from_args
from gitops.verification.verify import AppState, verify
from sandbox.github_api import FakeGitHub
from sandbox.kube_api import FakeKube, Moment, eks_token_access_key, pods_of
from tests.gitops.conftest import DIGEST_B, values_yaml

REGION = "eu-west-1"
ACCOUNT = "123456789012"
CLUSTER = "prod-eu-west-1"


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


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    verify_command.register(parser.add_subparsers())
    return parser.parse_args(["verify", *argv])


def args_for(cluster: Cluster, repo, revision: str, *extra: str) -> argparse.Namespace:
    return parse("--env", "prod", "--region", REGION, "--service", "api", "--cluster", CLUSTER,
                 "--role-arn", cluster.role_arn, "--repo", repo.url, "--revision", revision,
                 *extra)


def run_verify(args: argparse.Namespace, time: FakeTime, seen: list[AppState] | None = None,
               notes: list[str] | None = None, token: str | None = None):
    return verify(request_from_args(args), token=token, clock=time.clock, sleep=time.sleep,
                  report=(seen.append if seen is not None else lambda state: None),
                  note=(notes.append if notes is not None else lambda text: None))


def promote(repo, tag: str = "2.0.0", digest: str = DIGEST_B, service: str = "api") -> str:
    """A promotion commit of `service` in prod, as promote writes it."""
    return repo.commit({f"envs/prod/{service}/values.yaml": values_yaml(service, tag, digest)},
                       f"promote(prod/{service}): 1.0.0 → {tag}")


def running(app, digests=(DIGEST_B, DIGEST_B), **kw) -> Moment:
    """The Deployment `api` with one ready pod per digest."""
    return Moment.running(app, pods_of("Deployment", "api", list(digests)), **kw)


def check(cluster: Cluster, repo, revision: str, *extra: str, time: FakeTime | None = None,
          seen=None, notes=None):
    return run_verify(args_for(cluster, repo, revision, *extra), time or FakeTime(), seen, notes,
                      token=repo.token)


def on_github(github: FakeGitHub, repo):
    return github.add_repo(repo.url.removesuffix(".git").split("/", 3)[3])
