"""An EKS-API-like HTTP server on 127.0.0.1 answering DescribeCluster, the one EKS call verify makes.

boto3 reaches it through the service's endpoint variable (`AWS_ENDPOINT_URL_EKS=<url>`), for every
region: the region is read from the request's SigV4 credential scope, as AWS routes it. It answers
like EKS's REST-JSON API: `GET /clusters/{name}` is 200 with `{"cluster": {...}}` (endpoint, CA
bundle, status ACTIVE, ...), 404 `ResourceNotFoundException` for a cluster not in that region,
403 `UnrecognizedClientException` for a request not signed with the sandbox's access key.

    with EksApi(access_key="AKIA...") as eks:
        eks.add_cluster("us-east-1", "shop-staging-use1", endpoint=kube.url, ca_pem=kube.ca_pem)
        os.environ["AWS_ENDPOINT_URL_EKS"] = eks.url
"""

from __future__ import annotations

import base64
import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import unquote, urlsplit

from sandbox.loopback import LoopbackServer

ACCOUNT = "111111111111"
# SigV4: "AWS4-HMAC-SHA256 Credential=<key id>/<date>/<region>/<service>/aws4_request, ..."
_CREDENTIAL = re.compile(r"Credential=(?P<key>[^/\s]+)/\d{8}/(?P<region>[a-z0-9-]+)/eks/aws4_request")
_CLUSTER_PATH = re.compile(r"/clusters/(?P<name>[^/]+)")


class EksApi(LoopbackServer):
    """DescribeCluster for the clusters added with `add_cluster`. A context manager."""

    def __init__(self, access_key: str) -> None:
        self.access_key = access_key
        self.requests: list[tuple[str, int]] = []   # (path, status)
        self._clusters: dict[tuple[str, str], dict[str, Any]] = {}
        self._lock = threading.Lock()
        super().__init__(_handler_for(self), "eks-api")

    @property
    def url(self) -> str:
        return f"http://{self.address}"

    def add_cluster(self, region: str, name: str, *, endpoint: str, ca_pem: bytes,
                    role_arn: str = f"arn:aws:iam::{ACCOUNT}:role/eks-cluster") -> None:
        """A cluster as DescribeCluster shows it once ACTIVE."""
        with self._lock:
            self._clusters[(region, name)] = {
                "name": name, "arn": f"arn:aws:eks:{region}:{ACCOUNT}:cluster/{name}",
                "createdAt": time.time(), "version": "1.31", "endpoint": endpoint, "roleArn": role_arn,
                "resourcesVpcConfig": {"subnetIds": [], "securityGroupIds": [], "vpcId": "vpc-sandbox",
                                       "endpointPublicAccess": True, "endpointPrivateAccess": False},
                "kubernetesNetworkConfig": {"serviceIpv4Cidr": "10.100.0.0/16", "ipFamily": "ipv4"},
                "status": "ACTIVE", "platformVersion": "eks.1", "tags": {},
                "certificateAuthority": {"data": base64.b64encode(ca_pem).decode()},
                "accessConfig": {"authenticationMode": "API"},
            }

    def _describe(self, region: str, name: str) -> dict[str, Any] | None:
        with self._lock:
            return self._clusters.get((region, name))



def _handler_for(eks: EksApi) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            """Quiet: read `eks.requests`."""

        def do_GET(self) -> None:
            path = urlsplit(self.path).path
            credential = _CREDENTIAL.search(self.headers.get("Authorization", ""))
            if credential is None or credential["key"] != eks.access_key:
                self._error(path, 403, "UnrecognizedClientException",
                            "The security token included in the request is invalid.")
                return
            route = _CLUSTER_PATH.fullmatch(path)
            if route is None:
                self._error(path, 404, "UnknownOperationException", "Unknown operation")
                return
            name = unquote(route["name"])
            cluster = eks._describe(credential["region"], name)
            if cluster is None:
                self._error(path, 404, "ResourceNotFoundException", f"No cluster found for name: {name}.",
                            clusterName=name)
                return
            self._send(path, 200, {"cluster": cluster}, {})

        def _error(self, path: str, code: int, kind: str, message: str, **fields: str) -> None:
            self._send(path, code, {"message": message, **fields}, {"x-amzn-ErrorType": kind})

        def _send(self, path: str, code: int, body: dict[str, Any], headers: dict[str, str]) -> None:
            eks.requests.append((path, code))
            data = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

    return Handler
