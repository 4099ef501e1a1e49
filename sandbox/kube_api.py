"""A Kubernetes-API-like server on 127.0.0.1 serving what verify reads: the sandbox's clusters
(`make sandbox`) and the verify tests'.

It answers like an EKS API server: GET of an Argo CD Application or an Argo Rollouts Rollout, LIST
of pods and ReplicaSets (paged with `limit`/`continue`), PATCH of a Rollout's status subresource;
200 with the object, 404 with a NotFound Status, 401 with an Unauthorized Status when `authorize`
rejects the bearer token, 403 Forbidden for what `forbidden` names, 503 while `unavailable` is above
zero. TLS with a self-signed certificate for 127.0.0.1 is on by default, as on EKS.

The cluster is scripted as a sequence of moments (`Moment`: the Application plus the Rollouts,
ReplicaSets and pods of the service's namespace at that time). Each GET of the Application moves to
the next moment (the last one repeats); the other reads see the current moment. A PATCH that
promotes a Rollout moves to the `after_promote` script, as the controller resuming would. A cluster
that follows something else (the sandbox's, which runs what its GitOps repository holds) is `follow`ed:
each GET of the Application asks it for the moment.

    with FakeKube(authorize=lambda token: ...) as kube:
        kube.script("argocd", "api", [application(...), Moment(application(...), ...)])
        kube.url, kube.ca_pem
"""

from __future__ import annotations

import base64
import datetime
import ipaddress
import json
import re
import ssl
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from sandbox.loopback import LoopbackServer

# The paths verify may use: Argo CD/Rollouts objects, pods, ReplicaSets (sub: a subresource).
_ROUTE = re.compile(r"(?P<api>/apis/argoproj\.io/v1alpha1|/api/v1|/apis/apps/v1)/namespaces/"
                    r"(?P<ns>[^/]+)/(?P<resource>applications|rollouts|pods|replicasets)"
                    r"(?:/(?P<name>[^/]+))?(?:/(?P<sub>status))?")
_API_OF = {"applications": "/apis/argoproj.io/v1alpha1", "rollouts": "/apis/argoproj.io/v1alpha1",
           "pods": "/api/v1", "replicasets": "/apis/apps/v1"}


NAMESPACE = "shop"
REPOSITORY = "111111111111.dkr.ecr.us-east-1.amazonaws.com/api"


def rfc3339(epoch: float) -> str:
    return datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%SZ")


def application(*, sync: str = "Synced", revision: str | None, health: str = "Healthy",
                phase: str | None = "Succeeded", operation_revision: str | None = None,
                message: str | None = None, repo_url: str = "https://example.invalid/gitops.git",
                name: str = "api", finished_at: float | None = None,
                reconciled_at: float | None = None, workload: str = "Deployment"
                ) -> dict[str, Any]:
    """An Application object shaped like Argo CD's: sync, health, the last operation (finished
    now unless told), when health was last computed (just after), and its managed resources."""
    finished_at = time.time() + 1 if finished_at is None else finished_at
    group = "argoproj.io" if workload == "Rollout" else "apps"
    status: dict[str, Any] = {
        "sync": {"status": sync, "revision": revision,
                 "comparedTo": {"source": {"repoURL": repo_url, "path": f"charts/{name}"}}},
        "health": {"status": health},
        "reconciledAt": rfc3339(finished_at + 1 if reconciled_at is None else reconciled_at),
        "resources": [
            {"version": "v1", "kind": "Service", "namespace": NAMESPACE, "name": name,
             "status": "Synced", "health": {"status": "Healthy"}},
            {"group": group, "version": "v1" if group == "apps" else "v1alpha1", "kind": workload,
             "namespace": NAMESPACE, "name": name, "status": "Synced",
             "health": {"status": health}}],
    }
    if message and health != "Healthy":
        status["health"]["message"] = message
    if phase:
        status["operationState"] = {
            "phase": phase, "message": message or "successfully synced (all tasks run)",
            "operation": {"sync": {"revision": operation_revision or revision}},
            "syncResult": {"revision": operation_revision or revision},
            "startedAt": rfc3339(finished_at - 5),
        }
        if phase != "Running":
            status["operationState"]["finishedAt"] = rfc3339(finished_at)
    return {"apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
            "metadata": {"name": name, "namespace": "argocd"},
            "spec": {"project": "default", "source": {"repoURL": repo_url,
                                                      "path": f"charts/{name}"},
                     "destination": {"server": "https://kubernetes.default.svc",
                                     "namespace": NAMESPACE}},
            "status": status}


def rollout(*, phase: str, name: str = "api", paused: bool = False, aborted: bool = False,
            message: str | None = None, step: int = 0, generation: int = 2,
            observed: int | None = None) -> dict[str, Any]:
    """An Argo Rollouts Rollout as its controller reports it (status.phase since v1.0)."""
    status: dict[str, Any] = {"phase": phase, "currentStepIndex": step,
                              "observedGeneration": str(generation if observed is None else observed)}
    if message:
        status["message"] = message
    if paused:
        status["pauseConditions"] = [{"reason": "CanaryPauseStep", "startTime": rfc3339(time.time())}]
    if aborted:
        status["abort"] = True
    return {"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
            "metadata": {"name": name, "namespace": NAMESPACE, "generation": generation},
            "spec": {"strategy": {"canary": {"steps": [{"setWeight": 20}, {"pause": {}}]}}},
            "status": status}


def pods_of(owner_kind: str, owner: str, digests: list[str], *, ready: bool = True,
            replica_set: str | None = None, repository: str = REPOSITORY,
            terminating: bool = False) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(ReplicaSet owned by the workload, its pods), one pod per digest, as the kubelet reports
    them: `image` as in the spec (by digest), `imageID` what the runtime really pulled."""
    rs_name = replica_set or f"{owner}-{abs(hash((owner, tuple(digests)))) % 10**8:08d}"
    replica_set_obj = {"apiVersion": "apps/v1", "kind": "ReplicaSet",
                       "metadata": {"name": rs_name, "namespace": NAMESPACE, "ownerReferences": [
                           {"apiVersion": "apps/v1" if owner_kind == "Deployment"
                            else "argoproj.io/v1alpha1", "kind": owner_kind, "name": owner,
                            "controller": True}]}}
    pods = []
    for i, digest in enumerate(digests):
        meta: dict[str, Any] = {"name": f"{rs_name}-{i}", "namespace": NAMESPACE,
                                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet",
                                                     "name": rs_name, "controller": True}]}
        if terminating:
            meta["deletionTimestamp"] = rfc3339(time.time())
        pods.append({"apiVersion": "v1", "kind": "Pod", "metadata": meta,
                     "spec": {"containers": [{"name": "api", "image": f"{repository}@{digest}"},
                                             {"name": "proxy", "image": "envoyproxy/envoy:v1.31"}]},
                     "status": {"phase": "Running",
                                "conditions": [{"type": "Ready",
                                                "status": "True" if ready else "False"}],
                                "containerStatuses": [
                                    {"name": "proxy", "image": "envoyproxy/envoy:v1.31",
                                     "imageID": "docker.io/envoyproxy/envoy@sha256:" + "e" * 64},
                                    {"name": "api", "image": f"{repository}@{digest}",
                                     "imageID": f"{repository}@{digest}"}]}})
    return replica_set_obj, pods


@dataclass
class Moment:
    """The cluster at one poll: the Application and what runs in the service's namespace."""

    app: dict[str, Any] | None
    rollouts: dict[str, dict[str, Any]] = field(default_factory=dict)
    replica_sets: list[dict[str, Any]] = field(default_factory=list)
    pods: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def running(cls, app: dict[str, Any] | None, *workloads: tuple[dict[str, Any], list[dict[str, Any]]],
                rollout_obj: dict[str, Any] | None = None) -> Moment:
        return cls(app, {rollout_obj["metadata"]["name"]: rollout_obj} if rollout_obj else {},
                   [rs for rs, _ in workloads], [pod for _, pods in workloads for pod in pods])


def eks_token_url(token: str) -> str | None:
    """The presigned STS URL inside an EKS bearer token, or None if it is not one."""
    if not token.startswith("k8s-aws-v1."):
        return None
    body = token.removeprefix("k8s-aws-v1.")
    try:
        return base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode()
    except (ValueError, UnicodeDecodeError):
        return None


def eks_token_access_key(token: str) -> str | None:
    """The access key id that signed `token`, when the token has the shape EKS accepts for
    `cluster` (a presigned GetCallerIdentity with the x-k8s-aws-id header signed); else None.
    EKS would then ask STS who that is; tests map the key to a role with moto's STS backend."""
    url = eks_token_url(token)
    if url is None:
        return None
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    if not (parts.scheme == "https" and parts.hostname and parts.hostname.startswith("sts.")
            and query.get("Action") == "GetCallerIdentity" and query.get("X-Amz-Expires") == "60"
            and "x-k8s-aws-id" in query.get("X-Amz-SignedHeaders", "").split(";")
            and query.get("X-Amz-Signature")):
        return None
    return query.get("X-Amz-Credential", "").split("/")[0] or None


def self_signed_certificate() -> tuple[bytes, bytes]:
    """(certificate PEM, key PEM) for 127.0.0.1, valid for a day."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kubernetes")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


def _status(code: int, reason: str, message: str, details: dict[str, str] | None = None) -> dict:
    body = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": message, "reason": reason, "code": code}
    if details:
        body["details"] = details
    return body


class FakeKube(LoopbackServer):
    def __init__(self, *, authorize: Callable[[str], bool], tls: bool = True) -> None:
        self.authorize = authorize
        self.unavailable = 0          # answer the next N requests 503
        self.forbidden: set[str] = set()   # resources ("pods", "rollouts/status", …) answered 403
        self.requests: list[tuple[str, int]] = []   # (path, status)
        self.patches: list[tuple[str, dict[str, Any]]] = []  # (path, body) of each PATCH
        self.tokens: list[str] = []
        self._scripts: dict[tuple[str, str], list[Moment]] = {}
        self._followed: dict[tuple[str, str], Callable[[], Moment]] = {}
        self._after_promote: dict[tuple[str, str], list[Moment]] = {}
        self._current = Moment(None)
        self._lock = threading.Lock()
        super().__init__(_handler_for(self), "fake-kube")
        self.ca_pem = b""
        if tls:
            self.ca_pem, key_pem = self_signed_certificate()
            with tempfile.TemporaryDirectory() as tmp:
                cert_file, key_file = Path(tmp, "tls.crt"), Path(tmp, "tls.key")
                cert_file.write_bytes(self.ca_pem)
                key_file.write_bytes(key_pem)
                context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
                context.load_cert_chain(cert_file, key_file)
            self._httpd.socket = context.wrap_socket(self._httpd.socket, server_side=True)

    @property
    def url(self) -> str:
        return f"{'https' if self.ca_pem else 'http'}://{self.address}"

    def script(self, namespace: str, name: str, states: list[Moment | dict[str, Any] | None],
               after_promote: list[Moment] | None = None) -> None:
        """The successive moments, one per GET of the Application (a bare Application or None:
        nothing runs in the namespace; None: the Application does not exist)."""
        with self._lock:
            self._scripts[(namespace, name)] = [s if isinstance(s, Moment) else Moment(s)
                                                for s in states]
            self._after_promote[(namespace, name)] = list(after_promote or [])

    def follow(self, namespace: str, name: str, moment: Callable[[], Moment]) -> None:
        """Each GET of the Application takes the moment `moment()` says (called outside the lock)."""
        with self._lock:
            self._followed[(namespace, name)] = moment

    def _next_app(self, namespace: str, name: str) -> dict[str, Any] | None:
        followed = self._followed.get((namespace, name))
        if followed is not None:
            current = followed()
            with self._lock:
                self._current = current
            return current.app
        with self._lock:
            states = self._scripts.get((namespace, name))
            if not states:
                return None
            self._current = states.pop(0) if len(states) > 1 else states[0]
            return self._current.app

    def _promote(self, name: str, body: dict[str, Any]) -> dict[str, Any] | None:
        with self._lock:
            if name not in self._current.rollouts:
                return None
            for key, moments in self._after_promote.items():
                if moments:
                    self._scripts[key] = moments
            status = self._current.rollouts[name].setdefault("status", {})
            for key, value in (body.get("status") or {}).items():
                if value is None:
                    status.pop(key, None)
                else:
                    status[key] = value
            return self._current.rollouts[name]

    def _read(self, namespace: str, resource: str, name: str | None) -> Any:
        with self._lock:
            moment = self._current
        if resource == "rollouts" and name is not None:
            found = moment.rollouts.get(name)
            return found if found and found["metadata"]["namespace"] == namespace else None
        items = {"pods": moment.pods, "replicasets": moment.replica_sets}.get(resource)
        if items is None or name is not None:
            return None
        return [item for item in items if item["metadata"]["namespace"] == namespace]



def _handler_for(kube: FakeKube) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            """Quiet: tests read `kube.requests`."""

        def do_GET(self) -> None:
            self._serve("GET")

        def do_PATCH(self) -> None:
            self._serve("PATCH")

        def _serve(self, method: str) -> None:
            url = urlsplit(self.path)
            path = url.path
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            auth = self.headers.get("Authorization", "")
            token = auth.removeprefix("Bearer ") if auth.startswith("Bearer ") else ""
            kube.tokens.append(token)
            route = _ROUTE.fullmatch(path)
            if route is not None and _API_OF[route["resource"]] != route["api"]:
                route = None
            if kube.unavailable > 0:
                kube.unavailable -= 1
                self._send(path, 503, _status(503, "ServiceUnavailable", "etcdserver: leader changed"))
                return
            if not token or not kube.authorize(token):
                self._send(path, 401, _status(401, "Unauthorized", "Unauthorized"))
                return
            if route is None:
                self._send(path, 404, _status(404, "NotFound", "the server could not find the "
                                                                "requested resource"))
                return
            namespace, resource, name, sub = route["ns"], route["resource"], route["name"], route["sub"]
            if (resource + (f"/{sub}" if sub else "")) in kube.forbidden:
                verb = {"GET": "get" if name else "list", "PATCH": "patch"}[method]
                self._send(path, 403, _status(403, "Forbidden", f'{resource} is forbidden: User '
                                              f'"deploy" cannot {verb} resource "{resource}" in '
                                              f'the namespace "{namespace}"'))
                return
            if method == "PATCH":
                if resource != "rollouts" or sub != "status" or \
                        self.headers.get("Content-Type") != "application/merge-patch+json":
                    self._send(path, 405, _status(405, "MethodNotAllowed", "method not allowed"))
                    return
                patch = json.loads(body)
                kube.patches.append((path, patch))
                found = kube._promote(name, patch)
            elif resource == "applications":
                found = kube._next_app(namespace, name) if name else None
            else:
                found = kube._read(namespace, resource, name)
            if found is None:
                self._send(path, 404, _status(404, "NotFound", f'{resource} "{name}" not found'))
            elif isinstance(found, list):
                self._send_list(path, resource, found, parse_qs(url.query))
            else:
                self._send(path, 200, found)

        def _send_list(self, path: str, resource: str, items: list[dict[str, Any]],
                       query: dict[str, list[str]]) -> None:
            limit = int(query.get("limit", ["500"])[0])
            start = int(query.get("continue", ["0"])[0])
            page: dict[str, Any] = {"kind": f"{resource.title()}List", "apiVersion": "v1",
                                    "metadata": {}, "items": items[start:start + limit]}
            if start + limit < len(items):
                page["metadata"]["continue"] = str(start + limit)
            self._send(path, 200, page)

        def _send(self, path: str, code: int, body: dict[str, Any]) -> None:
            kube.requests.append((path, code))
            data = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    return Handler
