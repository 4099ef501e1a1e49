"""A smart-HTTP git server on 127.0.0.1: the sandbox's forge (`make sandbox`), the tests' and the
benchmarks'.

`git http-backend` runs as a CGI under a `ThreadingHTTPServer`, over the bare repositories in one
directory, and every request must carry the Basic auth the gitops CLI sends
(`Authorization: Basic base64("x-access-token:" + token)`); anything else gets 401. Pushes are
enabled (`http.receivepack`), so clone, fetch and push all work as against a real forge.

    with GitServer(root, token="t0k") as server:
        url = server.url("gitops")          # http://127.0.0.1:<port>/gitops.git

`on_receive_pack` lets a test step into a push: it is called with the request body of every
`git-receive-pack` POST before the backend sees it, and returns the body to hand on (a test may
block there, truncate the body, or raise to drop the connection).

Slowing a client on the wire: `add_token(t)` accepts another token (so two clients can be told
apart), `on_request(request)` runs before the backend sees a request and `on_reply(request)` after
the backend has done its work but before the answer goes out (the push has landed, the client has
not heard). Both get a `Request` (method, path, query, token) and may block, or raise to drop the
connection.
"""

from __future__ import annotations

import base64
import functools
import os
import subprocess
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from urllib.parse import urlsplit

from sandbox.loopback import LoopbackServer


@functools.cache
def _http_backend() -> str:
    """git's CGI, found when the first request comes (importing this module needs no git)."""
    return str(Path(subprocess.run(["git", "--exec-path"], capture_output=True, text=True,
                                   check=True).stdout.strip()) / "git-http-backend")


def basic_auth_header(token: str) -> str:
    """The Authorization header value the gitops CLI sends for `token`."""
    return "Basic " + base64.b64encode(f"x-access-token:{token}".encode()).decode()


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: str
    token: str    # the token the request authenticated with

    @property
    def is_push(self) -> bool:
        return self.method == "POST" and self.path.endswith("/git-receive-pack")


class GitServer(LoopbackServer):
    """Serves the bare repositories under `root` (`<name>.git`) over smart HTTP on 127.0.0.1."""

    def __init__(self, root: Path, token: str) -> None:
        self.root = Path(root)
        self.token = token
        self.tokens = {token}
        self.on_receive_pack: Callable[[bytes], bytes] | None = None
        self.on_request: Callable[[Request], None] | None = None
        self.on_reply: Callable[[Request], None] | None = None
        self.requests: list[tuple[str, str, int]] = []   # (method, path, status) of each request
        self.bytes_sent = 0                               # response bytes of git requests, in all
        self._lock = threading.Lock()
        super().__init__(_handler_for(self), "gitserver")

    @property
    def base_url(self) -> str:
        return f"http://{self.address}"

    def add_token(self, token: str) -> None:
        self.tokens.add(token)

    def url(self, name: str) -> str:
        return f"{self.base_url}/{name}.git"


def _handler_for(server: GitServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            """Quiet: tests read `server.requests` instead of a log on stderr."""

        def do_GET(self) -> None:
            self._serve()

        def do_POST(self) -> None:
            self._serve()

        def _serve(self) -> None:
            tokens = {basic_auth_header(t): t for t in server.tokens}
            if self.headers.get("Authorization") not in tokens:
                self._reply(401, b"authentication required\n",
                            {"WWW-Authenticate": 'Basic realm="gitserver"'})
                return
            parts = urlsplit(self.path)
            request = Request(self.command, parts.path, parts.query,
                              tokens[self.headers["Authorization"]])
            body = self._read_body()
            if server.on_request is not None:
                server.on_request(request)
            if request.is_push and server.on_receive_pack is not None:
                body = server.on_receive_pack(body)
            self._run_backend(request, body)

        def _read_body(self) -> bytes:
            # git sends large pushes with chunked transfer encoding; the CGI wants a plain body.
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                chunks = []
                while True:
                    size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                    if size == 0:
                        while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                            pass
                        return b"".join(chunks)
                    chunks.append(self.rfile.read(size))
                    self.rfile.readline()
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))

        def _run_backend(self, request: Request, body: bytes) -> None:
            path, query = request.path, request.query
            env = {
                "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
                "GIT_PROJECT_ROOT": str(server.root),
                "GIT_HTTP_EXPORT_ALL": "1",
                # Pushes need an authenticated user or http.receivepack; the auth check is above.
                "GIT_CONFIG_COUNT": "1",
                "GIT_CONFIG_KEY_0": "http.receivepack",
                "GIT_CONFIG_VALUE_0": "true",
                "REMOTE_USER": "x-access-token",
                "REMOTE_ADDR": self.client_address[0],
                "REQUEST_METHOD": self.command,
                "PATH_INFO": path,
                "QUERY_STRING": query,
                "CONTENT_TYPE": self.headers.get("Content-Type", ""),
                "CONTENT_LENGTH": str(len(body)),
            }
            if self.headers.get("Content-Encoding"):
                env["HTTP_CONTENT_ENCODING"] = self.headers["Content-Encoding"]
            if self.headers.get("Git-Protocol"):
                env["GIT_PROTOCOL"] = self.headers["Git-Protocol"]
            # The body goes through a file so a large request and a large response never deadlock.
            with tempfile.TemporaryFile() as stdin:
                stdin.write(body)
                stdin.seek(0)
                proc = subprocess.Popen([_http_backend()], stdin=stdin, stdout=subprocess.PIPE,
                                        stderr=subprocess.DEVNULL, env=env)
                assert proc.stdout is not None
                status = 502
                try:
                    status, headers = self._read_cgi_headers(proc.stdout)
                    chunks = iter(lambda: proc.stdout.read1(64 * 1024), b"")
                    if server.on_reply is not None:
                        # The whole answer first: the backend finishes its work, then the hook.
                        chunks = iter(list(chunks))
                        proc.wait()
                        server.on_reply(request)
                    self.send_response(status)
                    for name, value in headers:
                        self.send_header(name, value)
                    self.end_headers()
                    for chunk in chunks:
                        self.wfile.write(chunk)
                        with server._lock:
                            server.bytes_sent += len(chunk)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client went away (a test killed it); the backend still finishes
                finally:
                    proc.stdout.close()
                    proc.wait()
                    # Recorded once the backend is done, so a test can wait for a push to settle.
                    server.requests.append((self.command, path, status))

        @staticmethod
        def _read_cgi_headers(stream) -> tuple[int, list[tuple[str, str]]]:
            status, headers = 200, []
            for raw in iter(stream.readline, b""):
                line = raw.decode("latin-1").rstrip("\r\n")
                if not line:
                    break
                name, _, value = line.partition(":")
                if name.lower() == "status":
                    status = int(value.strip().split()[0])
                else:
                    headers.append((name, value.strip()))
            return status, headers

        def _reply(self, status: int, body: bytes, headers: dict[str, str]) -> None:
            server.requests.append((self.command, urlsplit(self.path).path, status))
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return Handler


# --- Bare repositories for the server: seeded and inspected with git plumbing, no work tree. ---

def _git(bare: Path, *args: str, env: dict[str, str] | None = None, input: bytes | None = None
         ) -> str:
    return _git_bytes(bare, *args, env=env, input=input).decode()


def _git_bytes(bare: Path, *args: str, env: dict[str, str] | None = None,
               input: bytes | None = None) -> bytes:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    clean.update({"GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull,
                  "GIT_AUTHOR_NAME": "seed", "GIT_AUTHOR_EMAIL": "seed@example.invalid",
                  "GIT_COMMITTER_NAME": "seed", "GIT_COMMITTER_EMAIL": "seed@example.invalid"})
    clean.update(env or {})
    return subprocess.run(["git", "--git-dir", str(bare), *args], env=clean, input=input,
                          capture_output=True, check=True).stdout


def make_bare_repo(path: Path, files: dict[str, str | bytes], branch: str = "main") -> Path:
    """A bare repository at `path` whose `branch` has one commit holding `files` ({path: content}).
    Partial clones are allowed, as on GitHub."""
    subprocess.run(["git", "init", "--quiet", "--bare", "--initial-branch", branch, str(path)],
                   check=True, env={**os.environ, "GIT_CONFIG_GLOBAL": os.devnull})
    _git(path, "config", "uploadpack.allowFilter", "true")
    commit_files(path, files, "seed GitOps repository", branch=branch)
    return path


def commit_files(bare: Path, files: dict[str, str | bytes | None], message: str,
                 branch: str = "main", symlinks: dict[str, str] | None = None) -> str:
    """Commit onto `branch` of `bare`: write `files` (None deletes) and `symlinks` ({path: target});
    return the new commit sha."""
    with tempfile.TemporaryDirectory() as tmp:
        env = {"GIT_INDEX_FILE": str(Path(tmp) / "index")}
        parent = ref_sha(bare, f"refs/heads/{branch}")
        if parent:
            _git(bare, "read-tree", parent, env=env)
        entries = [(p, "100644", c) for p, c in files.items()]
        entries += [(p, "120000", t) for p, t in (symlinks or {}).items()]
        index_info = []
        for file_path, mode, content in entries:
            if content is None:  # mode 0 removes the path from the index
                index_info.append(f"0 {'0' * 40}\t{file_path}\n")
                continue
            data = content.encode() if isinstance(content, str) else content
            blob = _git(bare, "hash-object", "-w", "--stdin", input=data).strip()
            index_info.append(f"{mode} {blob}\t{file_path}\n")
        _git(bare, "update-index", "--add", "--index-info", env=env,
             input="".join(index_info).encode())
        tree = _git(bare, "write-tree", env=env).strip()
        sha = _git(bare, "commit-tree", tree, *(["-p", parent] if parent else []), "-m",
                   message).strip()
    _git(bare, "update-ref", f"refs/heads/{branch}", sha, *([parent] if parent else []))
    return sha


def merge_branch(bare: Path, head: str, message: str, branch: str = "main") -> str | None:
    """Merge `head` into `branch` with a merge commit, as GitHub's merge button does (committed by
    GitHub); the merge commit's sha, or None when the two conflict (`branch` is left as it was)."""
    base, tip = ref_sha(bare, f"refs/heads/{branch}"), ref_sha(bare, f"refs/heads/{head}")
    if base is None or tip is None:
        return None
    try:
        tree = _git(bare, "merge-tree", "--write-tree", base, tip).split("\n", 1)[0]
    except subprocess.CalledProcessError:   # exit 1: conflicts
        return None
    github = {f"GIT_{who}_{what}": value for who in ("AUTHOR", "COMMITTER")
              for what, value in (("NAME", "GitHub"), ("EMAIL", "noreply@github.com"))}
    sha = _git(bare, "commit-tree", tree, "-p", base, "-p", tip, "-m", message, env=github).strip()
    _git(bare, "update-ref", f"refs/heads/{branch}", sha, base)
    return sha


def ref_sha(bare: Path, ref: str) -> str | None:
    try:
        return _git(bare, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}").strip()
    except subprocess.CalledProcessError:
        return None


def refs(bare: Path) -> dict[str, str]:
    """Every ref of `bare` and the sha it points at."""
    out = _git(bare, "for-each-ref", "--format=%(refname) %(objectname)")
    return dict(line.split() for line in out.splitlines())


def file_at(bare: Path, path: str, ref: str = "main") -> bytes | None:
    """Content of `path` at `ref` (exact bytes), or None when absent."""
    try:
        return _git_bytes(bare, "show", f"{ref}:{path}")
    except subprocess.CalledProcessError:
        return None


def log(bare: Path, ref: str = "main", fmt: str = "%H %s") -> list[str]:
    return _git(bare, "log", f"--format={fmt}", ref).splitlines()


def show(bare: Path, fmt: str, ref: str = "main") -> str:
    return _git(bare, "log", "-1", f"--format={fmt}", ref)
