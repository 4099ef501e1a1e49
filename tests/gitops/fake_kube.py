"""A Kubernetes-API-like server on 127.0.0.1 serving Argo CD Applications, for the verify tests.

It answers the one call verify makes, GET
`/apis/argoproj.io/v1alpha1/namespaces/<ns>/applications/<name>`, like an EKS API server: 200 with
the Application, 404 with a NotFound Status, 401 with an Unauthorized Status when `authorize`
rejects the bearer token, 503 while `unavailable` is above zero. Each GET of an Application takes
the next state of its script; the last state repeats. TLS with a self-signed certificate for
127.0.0.1 is on by default, as on EKS, so the client's CA handling is exercised.

    with FakeKube(authorize=lambda token: ...) as kube:
        kube.script("argocd", "api", [application(...), application(...)])
        kube.url, kube.ca_pem
"""

from __future__ import annotations

import base64
import datetime
import ipaddress
import json
import ssl
import tempfile
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

_PREFIX = "/apis/argoproj.io/v1alpha1/namespaces/"


def application(*, sync: str = "Synced", revision: str | None, health: str = "Healthy",
                phase: str | None = "Succeeded", operation_revision: str | None = None,
                message: str | None = None, repo_url: str = "https://example.invalid/gitops.git",
                name: str = "api") -> dict[str, Any]:
    """An Application object shaped like Argo CD's (only the fields verify reads, and a few more)."""
    status: dict[str, Any] = {
        "sync": {"status": sync, "revision": revision,
                 "comparedTo": {"source": {"repoURL": repo_url, "path": f"charts/{name}"}}},
        "health": {"status": health},
    }
    if message and health != "Healthy":
        status["health"]["message"] = message
    if phase:
        status["operationState"] = {
            "phase": phase, "message": message or "successfully synced (all tasks run)",
            "operation": {"sync": {"revision": operation_revision or revision}},
            "syncResult": {"revision": operation_revision or revision},
        }
    return {"apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
            "metadata": {"name": name, "namespace": "argocd"},
            "spec": {"project": "default", "source": {"repoURL": repo_url,
                                                      "path": f"charts/{name}"}},
            "status": status}


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


class FakeKube:
    def __init__(self, *, authorize: Callable[[str], bool], tls: bool = True) -> None:
        self.authorize = authorize
        self.unavailable = 0          # answer the next N requests 503
        self.requests: list[tuple[str, int]] = []   # (path, status)
        self.tokens: list[str] = []
        self._scripts: dict[tuple[str, str], list[dict[str, Any] | None]] = {}
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._httpd.daemon_threads = True
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
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="fake-kube",
                                        kwargs={"poll_interval": 0.05},
                                        daemon=True)

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"{'https' if self.ca_pem else 'http'}://{host}:{port}"

    def script(self, namespace: str, name: str, states: list[dict[str, Any] | None]) -> None:
        """The Application's successive states, one per GET (None: it does not exist)."""
        with self._lock:
            self._scripts[(namespace, name)] = list(states)

    def _next_state(self, namespace: str, name: str) -> dict[str, Any] | None:
        with self._lock:
            states = self._scripts.get((namespace, name))
            if not states:
                return None
            return states.pop(0) if len(states) > 1 else states[0]

    def __enter__(self) -> FakeKube:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=10)


def _handler_for(kube: FakeKube) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            """Quiet: tests read `kube.requests`."""

        def do_GET(self) -> None:
            path = urlsplit(self.path).path
            auth = self.headers.get("Authorization", "")
            token = auth.removeprefix("Bearer ") if auth.startswith("Bearer ") else ""
            kube.tokens.append(token)
            if kube.unavailable > 0:
                kube.unavailable -= 1
                self._send(path, 503, _status(503, "ServiceUnavailable", "etcdserver: leader changed"))
            elif not token or not kube.authorize(token):
                self._send(path, 401, _status(401, "Unauthorized", "Unauthorized"))
            elif not path.startswith(_PREFIX) or path.count("/") != 7:
                self._send(path, 404, _status(404, "NotFound", "the server could not find the "
                                                                "requested resource"))
            else:
                namespace, resource, name = path.removeprefix(_PREFIX).split("/")
                app = kube._next_state(namespace, name) if resource == "applications" else None
                if app is None:
                    self._send(path, 404, _status(
                        404, "NotFound", f'applications.argoproj.io "{name}" not found',
                        {"name": name, "group": "argoproj.io", "kind": "applications"}))
                else:
                    self._send(path, 200, app)

        def _send(self, path: str, code: int, body: dict[str, Any]) -> None:
            kube.requests.append((path, code))
            data = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    return Handler
