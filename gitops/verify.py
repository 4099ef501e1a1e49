"""`python -m gitops verify`: wait until Argo CD on one cluster runs a GitOps revision, Healthy.

Argo CD is read through the Kubernetes API of the EKS cluster, not through the Argo CD API: the
`argoproj.io/v1alpha1` Application `<service>` in namespace `argocd` carries the sync status, the
synced revision and the health. So Argo CD needs no public server or ingress, there is no Argo CD
API token to store and rotate, and access is IAM: the pipeline assumes the deployment role, which
has an EKS access entry allowing `get` on Applications in `argocd` and nothing else.

The bearer token is what `aws eks get-token` makes: an STS GetCallerIdentity URL presigned by
botocore with the `x-k8s-aws-id: <cluster>` header signed in, base64url without padding, prefixed
`k8s-aws-v1.`. EKS resolves it to the role by calling STS with it.

"Done" means the Application is Synced at the expected revision or a later one that contains it
(checked with `git merge-base --is-ancestor` in a treeless clone of the GitOps repository: Argo CD
may already have moved on to a newer commit) and Healthy with no sync operation running.
"""

from __future__ import annotations

import argparse
import base64
import os
import re
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import boto3
import botocore.exceptions
import requests
from rich.console import Console

from gitops.credentials import add_token_arguments, token_from_args
from gitops.errors import (
    CredentialsError,
    EndpointUnreachable,
    GitError,
    GitopsError,
    UsageError,
    VerifyDegraded,
    VerifyTimeout,
)
from gitops.forge import wait_for_merge
from gitops.git import GitRunner
from gitops.layout import application_source
from gitops.output import print_json, print_line

POLL_S = 10.0
# A rollout can pass through Degraded (a pod failing its first probe, an HPA catching up); fail only
# when the synced revision stays Degraded this long.
DEGRADED_GRACE_S = 120.0
# Consecutive failed requests (connection refused, timeout, 5xx, 429) before giving up.
UNREACHABLE_ATTEMPTS = 5
# EKS accepts a token for 15 minutes after it is made; renew it well before.
TOKEN_RENEW_S = 600.0
REQUEST_TIMEOUT_S = 10.0

_HEX_REVISION = re.compile(r"^[0-9a-f]{7,40}$")
_DURATION = re.compile(r"^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")
_K8S_AWS_ID = "x-k8s-aws-id"
_FAILED_PHASES = {"Failed", "Error"}

Clock = Callable[[], float]
Sleep = Callable[[float], None]


class Unavailable(Exception):
    """One request to the API server failed in a way worth retrying."""


# --- what Argo CD reports -------------------------------------------------------------------------

@dataclass(frozen=True)
class AppState:
    """The parts of an Application's status that decide whether a deployment is done."""

    found: bool
    sync: str | None = None                # status.sync.status: Synced | OutOfSync | Unknown
    revision: str | None = None            # status.sync.revision: the commit last compared/synced
    health: str | None = None              # status.health.status: Healthy | Progressing | Degraded …
    phase: str | None = None               # status.operationState.phase: Running | Succeeded | Failed …
    operation_revision: str | None = None  # the revision that operation synced
    message: str | None = None
    condition: str | None = None           # an error condition, e.g. ComparisonError: <why>
    repo_url: str | None = None            # spec.source.repoURL

    @classmethod
    def from_application(cls, app: dict[str, Any]) -> AppState:
        status = app.get("status") or {}
        sync = status.get("sync") or {}
        health = status.get("health") or {}
        operation = status.get("operationState") or {}
        operation_revision = (operation.get("syncResult") or {}).get("revision") or (
            ((operation.get("operation") or {}).get("sync") or {}).get("revision"))
        # Argo CD reports a chart it cannot render (values breaking the schema, a missing value
        # file) as a ComparisonError condition with sync status Unknown: worth showing.
        errors = [c for c in status.get("conditions") or [] if c.get("type", "").endswith("Error")]
        return cls(
            found=True,
            sync=sync.get("status"),
            revision=sync.get("revision"),
            health=health.get("status"),
            phase=operation.get("phase"),
            operation_revision=operation_revision,
            message=operation.get("message") or health.get("message"),
            condition=f"{errors[0]['type']}: {errors[0].get('message', '')}" if errors else None,
            repo_url=((app.get("spec") or {}).get("source") or {}).get("repoURL"),
        )

    def describe(self) -> str:
        if not self.found:
            return "Application not found (yet)"
        text = f"sync {self.sync or 'Unknown'} at {(self.revision or 'no revision')[:12]}, " \
               f"health {self.health or 'Unknown'}"
        if self.phase and self.phase != "Succeeded":
            text += f", operation {self.phase}"
        if self.condition:
            text += f", {self.condition}"
        return text


# --- EKS: endpoint, CA, token ---------------------------------------------------------------------

def eks_token(session: boto3.Session, cluster: str, region: str) -> str:
    """The bearer token `aws eks get-token --cluster-name <cluster>` prints, made from `session`."""
    sts = session.client("sts", region_name=region)

    # GetCallerIdentity takes no parameters; the cluster name rides in the request context to
    # become a signed header, so EKS can check the token was made for this cluster.
    def move_id_to_context(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        if _K8S_AWS_ID in params:
            context[_K8S_AWS_ID] = params.pop(_K8S_AWS_ID)

    def sign_id_header(request: Any, **_: Any) -> None:
        if _K8S_AWS_ID in request.context:
            request.headers[_K8S_AWS_ID] = request.context[_K8S_AWS_ID]

    sts.meta.events.register("provide-client-params.sts.GetCallerIdentity", move_id_to_context)
    sts.meta.events.register("before-sign.sts.GetCallerIdentity", sign_id_header)
    url = sts.generate_presigned_url("get_caller_identity", Params={_K8S_AWS_ID: cluster},
                                     ExpiresIn=60, HttpMethod="GET")
    return "k8s-aws-v1." + base64.urlsafe_b64encode(url.encode()).decode().rstrip("=")


class EksAccess:
    """The API endpoint, CA and bearer tokens of one EKS cluster, as the deployment role."""

    def __init__(self, *, cluster: str, region: str, role_arn: str | None, clock: Clock) -> None:
        self.cluster = cluster
        self.region = region
        self.role_arn = role_arn
        self._clock = clock
        self._token: tuple[str, float] | None = None

    def _session(self) -> boto3.Session:
        if not self.role_arn:
            return boto3.Session(region_name=self.region)
        try:
            creds = boto3.client("sts", region_name=self.region).assume_role(
                RoleArn=self.role_arn, RoleSessionName="gitops-verify")["Credentials"]
        except botocore.exceptions.ClientError as exc:
            raise CredentialsError(
                f"cannot assume {self.role_arn}: {exc.response['Error'].get('Message', exc)}; the "
                "CodeBuild role needs sts:AssumeRole on it and the role must trust the CodeBuild "
                "role") from None
        except botocore.exceptions.BotoCoreError as exc:
            raise CredentialsError(f"cannot assume {self.role_arn}: {exc}") from None
        return boto3.Session(aws_access_key_id=creds["AccessKeyId"],
                             aws_secret_access_key=creds["SecretAccessKey"],
                             aws_session_token=creds["SessionToken"], region_name=self.region)

    def describe(self) -> tuple[str, bytes]:
        """(endpoint URL, CA bundle PEM) from eks:DescribeCluster."""
        try:
            cluster = self._session().client("eks").describe_cluster(name=self.cluster)["cluster"]
        except botocore.exceptions.ClientError as exc:
            error = exc.response["Error"]
            if error.get("Code") == "ResourceNotFoundException":
                raise UsageError(f"EKS cluster {self.cluster!r} not found in {self.region}; check "
                                 "--cluster and --region") from None
            raise CredentialsError(f"eks:DescribeCluster on {self.cluster} failed: "
                                   f"{error.get('Message', exc)}") from None
        except botocore.exceptions.NoCredentialsError:
            raise CredentialsError("no AWS credentials to call eks:DescribeCluster with; run "
                                   "with a role (CodeBuild) or configure credentials") from None
        except botocore.exceptions.BotoCoreError as exc:
            raise EndpointUnreachable(f"eks:DescribeCluster on {self.cluster}: {exc}") from None
        try:
            ca = base64.b64decode(cluster["certificateAuthority"]["data"], validate=True)
        except (KeyError, ValueError):
            raise GitopsError(f"EKS cluster {self.cluster} returned no usable CA certificate") \
                from None
        return cluster["endpoint"], ca

    def token(self, renew: bool = False) -> str:
        now = self._clock()
        if renew or self._token is None or now - self._token[1] >= TOKEN_RENEW_S:
            # Re-assume the role each time: its credentials expire too, after an hour.
            self._token = (eks_token(self._session(), self.cluster, self.region), now)
        return self._token[0]


# --- the Kubernetes API ---------------------------------------------------------------------------

class KubeClient:
    """Reads Argo CD Applications through a Kubernetes API server with a bearer token."""

    def __init__(self, endpoint: str, *, token: Callable[[bool], str], ca_file: str | None,
                 http: requests.Session | None = None) -> None:
        self.endpoint = endpoint.rstrip("/")
        self._token = token
        self._verify: str | bool = ca_file or True
        self._http = http or requests.Session()

    def get_application(self, namespace: str, name: str) -> dict[str, Any] | None:
        """The Application object, or None when it does not exist (yet).

        Raises Unavailable for what a retry may fix, CredentialsError for 401/403."""
        url = (f"{self.endpoint}/apis/argoproj.io/v1alpha1/namespaces/{quote(namespace)}"
               f"/applications/{quote(name)}")
        for renew in (False, True):  # a 401 may be an expired token: make a new one, once
            try:
                resp = self._http.get(url, timeout=REQUEST_TIMEOUT_S, verify=self._verify,
                                      headers={"Authorization": f"Bearer {self._token(renew)}",
                                               "Accept": "application/json"})
            except requests.exceptions.SSLError as exc:
                raise EndpointUnreachable(
                    f"TLS verification of {self.endpoint} failed ({exc}); the CA from "
                    "eks:DescribeCluster does not match the server") from None
            except (requests.ConnectionError, requests.Timeout) as exc:
                raise Unavailable(f"{type(exc).__name__}: {exc}") from None
            if resp.status_code != 401:
                break
        where = f"applications.argoproj.io/{name} in namespace {namespace}"
        if resp.status_code == 200:
            try:
                return resp.json()
            except ValueError:  # a proxy or load balancer page, not the API server
                raise GitopsError(f"{self.endpoint} answered {where} with something other than "
                                  "JSON; is the endpoint the cluster's API server?") from None
        if resp.status_code == 404:
            return None
        if resp.status_code == 401:
            raise CredentialsError(
                f"{self.endpoint} rejected the token (401 Unauthorized): the role has no EKS "
                "access entry on this cluster; add one for the deployment role")
        if resp.status_code == 403:
            raise CredentialsError(
                f"{self.endpoint} forbids reading {where} (403): {_status_message(resp)}; bind the "
                "access entry's Kubernetes group to a Role allowing get on applications.argoproj.io")
        if resp.status_code == 429 or resp.status_code >= 500:
            raise Unavailable(f"HTTP {resp.status_code}: {_status_message(resp)}")
        raise GitopsError(f"unexpected HTTP {resp.status_code} reading {where}: "
                          f"{_status_message(resp)}")


def _status_message(resp: requests.Response) -> str:
    """The message of a Kubernetes Status body, else the start of the body."""
    try:
        return str(resp.json().get("message") or resp.reason)
    except ValueError:
        return resp.text[:200] or str(resp.reason)


# --- ancestry -------------------------------------------------------------------------------------

class RevisionHistory:
    """Answers "does commit B contain commit A?" from a treeless clone of the GitOps repository:
    commits only, no trees or blobs, so the clone stays small however big the repository is."""

    def __init__(self, runner: GitRunner, url: str, workdir: Path) -> None:
        self._runner = runner
        self._url = url
        self._dir = workdir / "history.git"
        self._cloned = False
        self._known: dict[tuple[str, str], bool] = {}

    def contains(self, descendant: str, ancestor: str) -> bool:
        key = (descendant, ancestor)
        if key not in self._known:
            self._ensure(ancestor, f"revision {ancestor} is not in {self._url}; check --revision")
            self._ensure(descendant, f"Argo CD reports revision {descendant}, which is not in "
                                     f"{self._url}; give the Application's repository with --repo")
            try:
                self._git("merge-base", "--is-ancestor", ancestor, descendant)
                self._known[key] = True
            except GitError:  # exit 1: both commits exist (checked above), one is not in the other
                self._known[key] = False
        return self._known[key]

    def _ensure(self, sha: str, missing: str) -> None:
        if not self._cloned:
            self._runner.run(["clone", "--quiet", "--bare", "--filter=tree:0", "--", self._url,
                              str(self._dir)])
            self._cloned = True
        if self._has(sha):
            return
        # Argo CD may have synced a commit pushed after the clone.
        self._git("fetch", "--quiet", "--filter=tree:0", "origin", "+refs/heads/*:refs/heads/*")
        if not self._has(sha):
            raise UsageError(missing)

    def _has(self, sha: str) -> bool:
        try:
            self._git("rev-parse", "--quiet", "--verify", f"{sha}^{{commit}}")
            return True
        except GitError:
            return False

    def _git(self, *args: str) -> None:
        self._runner.run(["--git-dir", str(self._dir), *args])


class RevisionMatcher:
    """Does a revision Argo CD reports contain the expected one? Git is asked (and the clone made)
    only when the two differ; the repository is --repo, else the Application's repoURL."""

    def __init__(self, expected: str, *, repo_url: str | None, token: str | None, workdir: Path,
                 where: str) -> None:
        self.expected = expected
        self.repo_url = repo_url
        self._token = token
        self._workdir = workdir
        self._where = where
        self._history: RevisionHistory | None = None

    def learn_repo(self, repo_url: str | None) -> None:
        self.repo_url = self.repo_url or repo_url

    def __call__(self, revision: str) -> bool:
        if revision.startswith(self.expected):
            return True
        if self._history is None:
            if not self.repo_url:
                raise UsageError(f"{self._where}: the Application names no repository; give the "
                                 "GitOps repository with --repo")
            self._history = RevisionHistory(GitRunner(self._token), self.repo_url, self._workdir)
        return self._history.contains(revision, self.expected)


# --- the wait -------------------------------------------------------------------------------------

def wait_for_application(*, read: Callable[[], dict[str, Any] | None],
                         covers: Callable[[str], bool], where: str, expected: str,
                         deadline: float, clock: Clock, sleep: Sleep,
                         report: Callable[[AppState], None], poll_s: float = POLL_S,
                         degraded_grace_s: float = DEGRADED_GRACE_S,
                         unreachable_attempts: int = UNREACHABLE_ATTEMPTS) -> AppState:
    """Poll `read` until the Application is Synced at a revision that `covers` the expected one and
    Healthy; raise VerifyDegraded, VerifyTimeout or EndpointUnreachable otherwise."""
    degraded_since: float | None = None
    failures = 0
    last_failure = ""
    state = AppState(found=False)
    while True:
        try:
            app = read()
        except Unavailable as exc:
            failures += 1
            last_failure = str(exc)
            if failures >= unreachable_attempts:
                raise EndpointUnreachable(
                    f"{where}: the API server did not answer {failures} times in a row (last: "
                    f"{last_failure}); check the cluster endpoint is reachable from here (a "
                    "private endpoint needs the CodeBuild project in the cluster's VPC)") from None
        else:
            failures = 0
            state = AppState.from_application(app) if app is not None else AppState(found=False)
            report(state)
            if state.phase in _FAILED_PHASES and (
                    state.operation_revision is None or covers(state.operation_revision)):
                raise VerifyDegraded(f"{where}: sync of {state.operation_revision or expected} "
                                     f"{state.phase.lower()}: {state.message or 'no message'}")
            # `covers` may need git, so it is asked only when the answer decides something.
            if state.sync == "Synced" and state.health == "Healthy" and state.phase != "Running" \
                    and state.revision and covers(state.revision):
                return state
            if state.health == "Degraded" and state.revision and covers(state.revision):
                degraded_since = clock() if degraded_since is None else degraded_since
                if clock() - degraded_since >= degraded_grace_s:
                    raise VerifyDegraded(
                        f"{where}: Degraded for {clock() - degraded_since:.0f} s at "
                        f"{state.revision}: {state.message or 'no message'}; see the "
                        "Application's resources in Argo CD")
            else:
                degraded_since = None
        now = clock()
        if now >= deadline:
            if failures:
                raise EndpointUnreachable(f"{where}: the API server did not answer before the "
                                          f"timeout (last: {last_failure})")
            raise VerifyTimeout(f"{where}: not Synced and Healthy at {expected} (or later) "
                                f"before the timeout; last seen: {state.describe()}")
        sleep(min(poll_s * (2 ** (failures - 1)) if failures else poll_s, deadline - now))


# --- the command ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Result:
    env: str
    region: str
    service: str
    cluster: str
    namespace: str
    application: str
    revision: str
    synced_revision: str | None
    sync: str | None
    health: str | None
    pull_request: str | None
    elapsed_s: float


def parse_duration(text: str) -> float:
    """Seconds in "30m", "1h30m", "90s" or a bare number of seconds."""
    if text.isdigit():
        return float(text)
    match = _DURATION.match(text)
    if not text or not match:
        raise UsageError(f"bad duration {text!r}: write it like 30m, 1h30m or 90s")
    hours, minutes, seconds = (int(part or 0) for part in match.groups())
    return float(hours * 3600 + minutes * 60 + seconds)


def pull_request_number(url: str) -> tuple[str, int]:
    """(repository URL, number) of a pull request URL like https://github.com/o/r/pull/12."""
    match = re.match(r"^(?P<repo>https?://[^?#]+?)/pull/(?P<number>\d+)/?$", url)
    if not match:
        raise UsageError(f"--pr {url!r} is not a pull request URL (…/<owner>/<repo>/pull/<n>)")
    return match.group("repo"), int(match.group("number"))


def verify(args: argparse.Namespace, *, clock: Clock = time.monotonic, sleep: Sleep = time.sleep,
           http: requests.Session | None = None,
           report: Callable[[AppState], None] = lambda state: None) -> Result:
    start = clock()
    deadline = start + parse_duration(args.timeout)
    # The secret lives where the pipeline keeps it (its ARN says where), not in the cluster's region.
    token = token_from_args(args)
    where = f"{args.service} on {args.cluster} ({args.env}, {args.region})"
    expected = args.revision
    if args.pr:
        repo_url, number = pull_request_number(args.pr)
        expected = wait_for_merge(repo_url=repo_url, api_url=args.github_api_url, token=token,
                                  number=number, timeout_s=max(0.0, deadline - clock()),
                                  poll_s=POLL_S, sleep=sleep, clock=clock)
    access = EksAccess(cluster=args.cluster, region=args.region, role_arn=args.role_arn,
                       clock=clock)
    endpoint, ca = access.describe()
    application = application_source(args.env, args.region, args.service).application
    with tempfile.TemporaryDirectory(prefix="gitops-verify-") as tmp:
        ca_file = Path(tmp) / "cluster-ca.pem"
        ca_file.write_bytes(ca)
        kube = KubeClient(endpoint, token=access.token, ca_file=str(ca_file), http=http)
        matcher = RevisionMatcher(expected, repo_url=args.repo, token=token, workdir=Path(tmp),
                                  where=where)

        def read() -> dict[str, Any] | None:
            app = kube.get_application(args.namespace, application)
            if app is not None:
                matcher.learn_repo(AppState.from_application(app).repo_url)
            return app

        state = wait_for_application(read=read, covers=matcher, where=where, expected=expected,
                                     deadline=deadline, clock=clock, sleep=sleep, report=report)
    return Result(env=args.env, region=args.region, service=args.service, cluster=args.cluster,
                  namespace=args.namespace, application=application, revision=expected,
                  synced_revision=state.revision, sync=state.sync, health=state.health,
                  pull_request=args.pr, elapsed_s=round(clock() - start, 1))


class _Progress:
    """Progress on stderr: a live status line on a terminal, one plain line per change otherwise."""

    def __init__(self, where: str) -> None:
        self._where = where
        self._last = ""
        self._status: Any = None
        if sys.stderr.isatty():
            self._status = Console(stderr=True).status(f"{where}: waiting")
            self._status.start()

    def __call__(self, state: AppState) -> None:
        text = state.describe()
        if self._status is not None:
            self._status.update(f"{self._where}: {text}")
        elif text != self._last:
            print(f"{self._where}: {text}", file=sys.stderr, flush=True)
        self._last = text

    def close(self) -> None:
        if self._status is not None:
            self._status.stop()


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "verify", help="wait until Argo CD on a cluster has synced a revision and is Healthy",
        description="Wait until the service's Argo CD Application on one EKS cluster is Synced at "
                    "the revision (or a later one containing it) and Healthy. With --pr, first "
                    "wait for the pull request to merge and verify its merge commit.")
    parser.add_argument("--env", required=True, help="environment, e.g. staging")
    parser.add_argument("--region", required=True, help="AWS region of the cluster")
    parser.add_argument("--service", required=True, help="service = Argo CD Application name")
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--revision", type=_revision,
                        help="GitOps repository commit to wait for (hex sha)")
    target.add_argument("--pr", help="promotion pull request URL: wait for its merge commit")
    parser.add_argument("--cluster", required=True, help="EKS cluster name")
    parser.add_argument("--role-arn", help="role to assume for EKS (default: current credentials)")
    parser.add_argument("--namespace", default="argocd",
                        help="namespace of the Argo CD Applications (default: argocd)")
    parser.add_argument("--timeout", default="30m",
                        help="give up after this long, PR wait included (default: 30m)")
    parser.add_argument("--repo", help="GitOps repository URL for the ancestry check (default: "
                                       "the Application's spec.source.repoURL)")
    add_token_arguments(parser)
    parser.add_argument("--github-api-url", default=os.environ.get("GITHUB_API_URL"),
                        help="GitHub API base URL for --pr (default: $GITHUB_API_URL, else derived "
                             "from the PR URL)")
    parser.add_argument("--output", choices=("text", "json"), default="text")
    parser.set_defaults(func=run)


def _revision(text: str) -> str:
    if not _HEX_REVISION.match(text):
        raise argparse.ArgumentTypeError(f"{text!r} is not a commit sha (7 to 40 lowercase hex)")
    return text


def run(args: argparse.Namespace) -> int:
    progress = _Progress(f"{args.service} on {args.cluster}")
    try:
        result = verify(args, report=progress)
    finally:
        progress.close()
    if args.output == "json":
        print_json(asdict(result))
    else:
        print_line(f"{result.service} on {result.cluster} ({result.env}, {result.region}): Synced at "
              f"{result.synced_revision} (contains {result.revision}) and Healthy after "
              f"{result.elapsed_s:.0f} s")
    return 0

