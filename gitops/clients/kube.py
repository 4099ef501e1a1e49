"""The Kubernetes API of an EKS cluster, as the deployment role: endpoint, CA, bearer token, reads.

The bearer token is what `aws eks get-token` makes: an STS GetCallerIdentity URL presigned by
botocore with the `x-k8s-aws-id: <cluster>` header signed in, base64url without padding, prefixed
`k8s-aws-v1.`. EKS resolves it to the role by calling STS with it.

What verify may do on a cluster, and so what the deployment role's RBAC must allow (nothing else):

| request | RBAC |
|---|---|
| GET applications/<service> in `argocd` | argoproj.io applications get |
| GET deployments/<name>, statefulsets/<name> where the Application puts them | apps deployments get, apps statefulsets get |
| GET rollouts/<name> where the Application puts it | argoproj.io rollouts get |
| PATCH rollouts/<name>/status (only with --promote-paused) | argoproj.io rollouts/status patch |
| LIST pods, LIST replicasets there | "" pods list, apps replicasets list |

Every request is bounded in time whatever the server does: a connect and each read by
REQUEST_TIMEOUT_S, the whole reply by REQUEST_BUDGET_S and by what is left of the caller's
deadline (a reply trickled byte by byte ends there), its size by MAX_REPLY_BYTES, a list by
LIST_MAX_PAGES pages (a server answering empty pages with a `continue` token forever ends there).
What the server answers must have the shape of what was asked (an object, a list of objects), or
the request fails with an error naming what came back.
"""

from __future__ import annotations

import base64
import json
import math
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import quote, urlencode

import boto3
import botocore.config
import botocore.exceptions
import requests
import urllib3.exceptions

from gitops.errors import CredentialsError, EndpointUnreachable, GitopsError, UsageError

# EKS accepts a token for 15 minutes after it is made; renew it well before.
TOKEN_RENEW_S = 600.0
REQUEST_TIMEOUT_S = 10.0
REQUEST_BUDGET_S = 30.0
# An Application of a few hundred resources, a page of LIST_PAGE pods: a few MiB.
MAX_REPLY_BYTES = 32 * 1024 * 1024
# A namespace of one service holds tens of pods; a page this big is one request, and the
# continue token bounds the rest.
LIST_PAGE = 500
LIST_MAX_ITEMS = 5000
# The API server may answer short pages (it stops a page early after filtering); the items' limit
# would need LIST_MAX_ITEMS / LIST_PAGE full ones.
LIST_MAX_PAGES = 10 * math.ceil(LIST_MAX_ITEMS / LIST_PAGE)
# STS and EKS through botocore: a stalled AWS endpoint costs seconds, not botocore's 60 s reads.
AWS_CONFIG = botocore.config.Config(connect_timeout=5, read_timeout=10,
                                    retries={"mode": "standard", "total_max_attempts": 3})
_CHUNK = 64 * 1024
# Where each kind of workload lives in the API: path prefix, resource, and the RBAC to name.
_WORKLOADS = {"Deployment": ("/apis/apps/v1", "deployments", "get on apps deployments"),
              "StatefulSet": ("/apis/apps/v1", "statefulsets", "get on apps statefulsets"),
              "Rollout": ("/apis/argoproj.io/v1alpha1", "rollouts", "get on rollouts.argoproj.io")}
WORKLOAD_KINDS = tuple(_WORKLOADS)

_K8S_AWS_ID = "x-k8s-aws-id"

Clock = Callable[[], float]


class Unavailable(Exception):
    """One request to the API server failed in a way worth retrying."""


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
            creds = boto3.client("sts", region_name=self.region, config=AWS_CONFIG).assume_role(
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
            cluster = self._session().client("eks", config=AWS_CONFIG).describe_cluster(
                name=self.cluster)["cluster"]
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
        endpoint = cluster.get("endpoint")
        if not isinstance(endpoint, str) or not endpoint.startswith("https://"):
            raise GitopsError(f"eks:DescribeCluster on {self.cluster} returned no API endpoint "
                              f"(cluster status {cluster.get('status') or 'unknown'}); verify "
                              "once the cluster is ACTIVE")
        try:
            ca = base64.b64decode(cluster["certificateAuthority"]["data"], validate=True)
        except (KeyError, TypeError, ValueError):
            raise GitopsError(f"EKS cluster {self.cluster} returned no usable CA certificate") \
                from None
        return endpoint, ca

    def token(self, renew: bool = False) -> str:
        now = self._clock()
        if renew or self._token is None or now - self._token[1] >= TOKEN_RENEW_S:
            # Re-assume the role each time: its credentials expire too, after an hour.
            self._token = (eks_token(self._session(), self.cluster, self.region), now)
        return self._token[0]


class KubeClient:
    """The reads (and the one write) verify makes on a Kubernetes API server with a bearer token.

    Every method raises Unavailable for what a retry may fix and CredentialsError for 401/403.
    `deadline` (on `clock`) is when the caller's whole run ends: no request outlives it."""

    def __init__(self, endpoint: str, *, token: Callable[[bool], str], ca_file: str | None,
                 http: requests.Session | None = None, clock: Clock = time.monotonic,
                 deadline: float = math.inf) -> None:
        self.endpoint = endpoint.rstrip("/")
        self._token = token
        self._verify: str | bool = ca_file or True
        self._http = http or requests.Session()
        self._clock = clock
        self._deadline = deadline

    def get_application(self, namespace: str, name: str) -> dict[str, Any] | None:
        """The Application object, or None when it does not exist (yet)."""
        return self._get(f"/apis/argoproj.io/v1alpha1/namespaces/{quote(namespace)}/applications/"
                         f"{quote(name)}", f"applications.argoproj.io/{name} in namespace "
                         f"{namespace}", "get on applications.argoproj.io")

    def get_workload(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        """The Deployment, StatefulSet or Rollout (`kind`, one of WORKLOAD_KINDS), or None."""
        api, resource, grant = _WORKLOADS[kind]
        return self._get(f"{api}/namespaces/{quote(namespace)}/{resource}/{quote(name)}",
                         f"{resource}/{name} in namespace {namespace}", grant)

    def list_pods(self, namespace: str) -> list[dict[str, Any]]:
        return self._list(f"/api/v1/namespaces/{quote(namespace)}/pods",
                          f"pods in namespace {namespace}", "list on pods")

    def list_replica_sets(self, namespace: str) -> list[dict[str, Any]]:
        return self._list(f"/apis/apps/v1/namespaces/{quote(namespace)}/replicasets",
                          f"replicasets in namespace {namespace}", "list on apps replicasets")

    def promote_rollout(self, namespace: str, name: str) -> None:
        """What `kubectl argo rollouts promote` does to a paused canary step: clear the pause
        conditions through the status subresource."""
        self._request("PATCH", f"/apis/argoproj.io/v1alpha1/namespaces/{quote(namespace)}/"
                      f"rollouts/{quote(name)}/status",
                      f"rollouts.argoproj.io/{name}/status in namespace {namespace}",
                      "patch on rollouts/status",
                      body=json.dumps({"status": {"pauseConditions": None}}),
                      content_type="application/merge-patch+json")

    def _list(self, path: str, what: str, grant: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        query: dict[str, str | int] = {"limit": LIST_PAGE}
        for _ in range(LIST_MAX_PAGES):
            page = self._get(f"{path}?{urlencode(query)}", what, grant)
            if page is None:
                return items
            found = page.get("items") or []
            if not isinstance(found, list) or not all(isinstance(i, dict) for i in found):
                raise GitopsError(f"{self.endpoint} answered the list of {what} with items that "
                                  "are not a list of objects; is the endpoint the cluster's API "
                                  "server?")
            items.extend(found)
            if len(items) > LIST_MAX_ITEMS:
                raise GitopsError(f"more than {LIST_MAX_ITEMS} {what}: not a namespace of one "
                                  "service; check the Application's destination namespace")
            metadata = page.get("metadata")
            token = metadata.get("continue") if isinstance(metadata, dict) else None
            if not token:
                return items
            query["continue"] = str(token)
        raise GitopsError(f"{self.endpoint} answered the list of {what} with {LIST_MAX_PAGES} "
                          f"pages ({len(items)} items) and still a continue token; is the endpoint "
                          "the cluster's API server?")

    def _get(self, path: str, what: str, grant: str) -> dict[str, Any] | None:
        found = self._request("GET", path, what, grant)
        if found is not None and not isinstance(found, dict):
            raise GitopsError(f"{self.endpoint} answered {what} with a JSON "
                              f"{type(found).__name__}, not an object; is the endpoint the "
                              "cluster's API server?")
        return found

    def _request(self, method: str, path: str, what: str, grant: str, *, body: str | None = None,
                 content_type: str | None = None) -> Any:
        url = self.endpoint + path
        for renew in (False, True):  # a 401 may be an expired token: make a new one, once
            headers = {"Authorization": f"Bearer {self._token(renew)}",
                       "Accept": "application/json"}
            if content_type:
                headers["Content-Type"] = content_type
            budget = min(REQUEST_BUDGET_S, self._deadline - self._clock())
            if budget <= 0:
                raise Unavailable("no time left for another request")
            try:
                resp = self._http.request(method, url, data=body,
                                          timeout=min(REQUEST_TIMEOUT_S, budget),
                                          verify=self._verify, headers=headers, stream=True)
                with resp:
                    reply = _read_reply(resp, budget, what)
            except requests.exceptions.SSLError as exc:
                raise EndpointUnreachable(
                    f"TLS verification of {self.endpoint} failed ({exc}); the CA from "
                    "eks:DescribeCluster does not match the server") from None
            except (requests.ConnectionError, requests.Timeout, urllib3.exceptions.HTTPError,
                    OSError) as exc:
                raise Unavailable(f"{type(exc).__name__}: {exc}") from None
            if resp.status_code != 401:
                break
        if resp.status_code == 200:
            try:
                return json.loads(reply)
            except ValueError:  # a proxy or load balancer page, not the API server
                raise GitopsError(f"{self.endpoint} answered {what} with something other than "
                                  "JSON; is the endpoint the cluster's API server?") from None
        if resp.status_code == 404:
            return None
        if resp.status_code == 401:
            raise CredentialsError(
                f"{self.endpoint} rejected the token (401 Unauthorized): the role has no EKS "
                "access entry on this cluster; add one for the deployment role")
        if resp.status_code == 403:
            raise CredentialsError(
                f"{self.endpoint} forbids {method} {what} (403): "
                f"{_status_message(reply, resp.reason)}; bind the access entry's Kubernetes group "
                f"to a Role allowing {grant}")
        if resp.status_code == 429 or resp.status_code >= 500:
            raise Unavailable(f"HTTP {resp.status_code}: {_status_message(reply, resp.reason)}")
        raise GitopsError(f"unexpected HTTP {resp.status_code} on {what}: "
                          f"{_status_message(reply, resp.reason)}")


def _read_reply(resp: requests.Response, budget: float, what: str) -> bytes:
    """The body of `resp`, read as it comes: at most MAX_REPLY_BYTES, within `budget` seconds
    (the read timeout only bounds each wait for the next bytes)."""
    ends = time.monotonic() + budget
    reply = bytearray()
    while chunk := resp.raw.read1(_CHUNK, decode_content=True):
        reply += chunk
        if len(reply) > MAX_REPLY_BYTES:
            raise GitopsError(f"the answer to {what} is longer than {MAX_REPLY_BYTES} bytes; is "
                              "the endpoint the cluster's API server?")
        if time.monotonic() > ends:
            raise Unavailable(f"the answer to {what} took longer than {budget:.0f} s")
    return bytes(reply)


def _status_message(reply: bytes, reason: str | None) -> str:
    """The message of a Kubernetes Status body, else the start of the body."""
    try:
        status = json.loads(reply)
    except ValueError:
        return reply[:200].decode(errors="replace") or str(reason)
    message = status.get("message") if isinstance(status, dict) else None
    return str(message or reason)
