"""The Kubernetes API of an EKS cluster, as the deployment role: endpoint, CA, bearer token, reads.

The bearer token is what `aws eks get-token` makes: an STS GetCallerIdentity URL presigned by
botocore with the `x-k8s-aws-id: <cluster>` header signed in, base64url without padding, prefixed
`k8s-aws-v1.`. EKS resolves it to the role by calling STS with it.

What verify may do on a cluster, and so what the deployment role's RBAC must allow (nothing else):

| request | RBAC |
|---|---|
| GET applications/<service> in `argocd` | argoproj.io applications get |
| GET rollouts/<name> in the service's namespace | argoproj.io rollouts get |
| PATCH rollouts/<name>/status (only with --promote-paused) | argoproj.io rollouts/status patch |
| LIST pods, LIST replicasets in the service's namespace | "" pods list, apps replicasets list |
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any
from urllib.parse import quote, urlencode

import boto3
import botocore.exceptions
import requests

from gitops.errors import CredentialsError, EndpointUnreachable, GitopsError, UsageError

# EKS accepts a token for 15 minutes after it is made; renew it well before.
TOKEN_RENEW_S = 600.0
REQUEST_TIMEOUT_S = 10.0
# A namespace of one service holds tens of pods; a page this big is one request, and the
# continue token bounds the rest.
LIST_PAGE = 500
LIST_MAX_ITEMS = 5000

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


class KubeClient:
    """The reads (and the one write) verify makes on a Kubernetes API server with a bearer token.

    Every method raises Unavailable for what a retry may fix and CredentialsError for 401/403."""

    def __init__(self, endpoint: str, *, token: Callable[[bool], str], ca_file: str | None,
                 http: requests.Session | None = None) -> None:
        self.endpoint = endpoint.rstrip("/")
        self._token = token
        self._verify: str | bool = ca_file or True
        self._http = http or requests.Session()

    def get_application(self, namespace: str, name: str) -> dict[str, Any] | None:
        """The Application object, or None when it does not exist (yet)."""
        return self._get(f"/apis/argoproj.io/v1alpha1/namespaces/{quote(namespace)}/applications/"
                         f"{quote(name)}", f"applications.argoproj.io/{name} in namespace "
                         f"{namespace}", "get on applications.argoproj.io")

    def get_rollout(self, namespace: str, name: str) -> dict[str, Any] | None:
        return self._get(f"/apis/argoproj.io/v1alpha1/namespaces/{quote(namespace)}/rollouts/"
                         f"{quote(name)}", f"rollouts.argoproj.io/{name} in namespace {namespace}",
                         "get on rollouts.argoproj.io")

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
        while True:
            page = self._get(f"{path}?{urlencode(query)}", what, grant)
            if page is None:
                return items
            items.extend(page.get("items") or [])
            if len(items) > LIST_MAX_ITEMS:
                raise GitopsError(f"more than {LIST_MAX_ITEMS} {what}: not a namespace of one "
                                  "service; check the Application's destination namespace")
            token = (page.get("metadata") or {}).get("continue")
            if not token:
                return items
            query["continue"] = token

    def _get(self, path: str, what: str, grant: str) -> dict[str, Any] | None:
        return self._request("GET", path, what, grant)

    def _request(self, method: str, path: str, what: str, grant: str, *, body: str | None = None,
                 content_type: str | None = None) -> dict[str, Any] | None:
        url = self.endpoint + path
        for renew in (False, True):  # a 401 may be an expired token: make a new one, once
            headers = {"Authorization": f"Bearer {self._token(renew)}",
                       "Accept": "application/json"}
            if content_type:
                headers["Content-Type"] = content_type
            try:
                resp = self._http.request(method, url, data=body, timeout=REQUEST_TIMEOUT_S,
                                          verify=self._verify, headers=headers)
            except requests.exceptions.SSLError as exc:
                raise EndpointUnreachable(
                    f"TLS verification of {self.endpoint} failed ({exc}); the CA from "
                    "eks:DescribeCluster does not match the server") from None
            except (requests.ConnectionError, requests.Timeout) as exc:
                raise Unavailable(f"{type(exc).__name__}: {exc}") from None
            if resp.status_code != 401:
                break
        if resp.status_code == 200:
            try:
                return resp.json()
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
                f"{self.endpoint} forbids {method} {what} (403): {_status_message(resp)}; bind the "
                f"access entry's Kubernetes group to a Role allowing {grant}")
        if resp.status_code == 429 or resp.status_code >= 500:
            raise Unavailable(f"HTTP {resp.status_code}: {_status_message(resp)}")
        raise GitopsError(f"unexpected HTTP {resp.status_code} on {what}: "
                          f"{_status_message(resp)}")


def _status_message(resp: requests.Response) -> str:
    """The message of a Kubernetes Status body, else the start of the body."""
    try:
        return str(resp.json().get("message") or resp.reason)
    except ValueError:
        return resp.text[:200] or str(resp.reason)
