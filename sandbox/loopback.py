"""An HTTP server on 127.0.0.1 (an ephemeral port) serving from a thread: started when its `with`
block is entered, stopped when it is left: the sandbox's git server and its GitHub-like, EKS-like and
Kubernetes-like APIs."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Self


class LoopbackServer:
    def __init__(self, handler: type[BaseHTTPRequestHandler], name: str) -> None:
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, name=name,
                                        kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def address(self) -> str:
        """host:port"""
        host, port = self._httpd.server_address[:2]
        return f"{host}:{port}"

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=10)
