"""`make sandbox` (`python -m sandbox [--dir DIR]`): every flow of the gitops CLI on this machine.

Starts on 127.0.0.1 the smart-HTTP git server (one token per environment), the GitHub-like API
(the repository, its rulesets, pull requests, commit statuses; a merge really merges in git), the
EKS-like API (DescribeCluster) and one Kubernetes-like API per environment's cluster (Argo CD
running what the repository holds, `sandbox.argo`); seeds `acme/shop-gitops` from `gitops init`;
writes an environment file and prints it with the commands of the day-to-day flow
(`sandbox.flow`). Runs until Ctrl-C or SIGTERM, then stops every server and exits 0. State lives in
a temporary directory removed at the end, or in `--dir` (kept).
"""

from __future__ import annotations

import argparse
import os
import secrets
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from sandbox import argo, flow, git_http
from sandbox.eks_api import EksApi
from sandbox.github_api import FakeGitHub, FakePull, FakeRepo, NotMergeable
from sandbox.kube_api import FakeKube, eks_token_access_key

REPOSITORY = "acme/shop-gitops"
SERVICES = ("api", "web")
REGION = "us-east-1"
CLUSTERS = {"staging": "shop-staging-use1", "prod": "shop-prod-use1"}
REGISTRY = "111111111111.dkr.ecr.us-east-1.amazonaws.com/shop"
# Who each token acts as in the rulesets' bypass lists (docs/operations/security.md's setup).
STAGING_APP, PROD_APP, RELEASE_MANAGERS = ("Integration", 101), ("Integration", 202), ("Team", 7)
# The sandbox runs until stopped; the GitHub-like API's own time limit is for tests that forget it.
A_YEAR_S = 365 * 24 * 3600.0


def _bypass(actor: tuple[str, int], mode: str = "always") -> dict:
    return {"actor_type": actor[0], "actor_id": actor[1], "bypass_mode": mode}


class Sandbox:
    """The servers and the seeded repository, started on entry and stopped on exit."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.tokens = {"staging": "ghs_staging" + secrets.token_hex(16), "prod": "ghs_prod" + secrets.token_hex(16)}
        self.access_key = "AKIASANDBOX" + secrets.token_hex(4).upper()
        self.secret_key = secrets.token_hex(20)
        self.bare = root / "git" / f"{REPOSITORY}.git"
        self._stack = ExitStack()

    def __enter__(self) -> Sandbox:
        try:
            self._start()
        except BaseException:
            self._stack.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()

    def _start(self) -> None:
        self._seed()
        self.git = self._stack.enter_context(git_http.GitServer(self.root / "git", token=self.tokens["staging"]))
        self.git.add_token(self.tokens["prod"])
        self.url = self.git.url(REPOSITORY)
        self.github = self._stack.enter_context(FakeGitHub(token=self.tokens["staging"], lifetime_s=A_YEAR_S))
        self.github.add_token(self.tokens["staging"], actor=STAGING_APP)
        self.github.add_token(self.tokens["prod"], actor=PROD_APP)
        repo = self.github.add_repo(REPOSITORY, require_checks=False)
        self._guard(repo)
        self.github.on_merge = self._merge
        self.eks = self._stack.enter_context(EksApi(self.access_key))
        for env, cluster in CLUSTERS.items():
            kube = self._stack.enter_context(
                FakeKube(authorize=lambda token: eks_token_access_key(token) == self.access_key))
            for service in SERVICES:
                kube.follow("argocd", service, lambda env=env, service=service: argo.running(
                    self.bare, self.url, env, service))
            self.eks.add_cluster(REGION, cluster, endpoint=kube.url, ca_pem=kube.ca_pem)

    def _seed(self) -> None:
        """The GitOps repository as `gitops init` makes it, published as a bare repository."""
        made = self.root / "init"
        subprocess.run([sys.executable, "-m", "gitops", "init", "--path", str(made), "--services", ",".join(SERVICES),
                        "--image-registry", REGISTRY], check=True, stdout=subprocess.DEVNULL)
        self.bare.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(["git", "clone", "--quiet", "--bare", str(made), str(self.bare)], check=True)
        subprocess.run(["git", "--git-dir", str(self.bare), "config", "uploadpack.allowFilter", "true"], check=True)
        shutil.rmtree(made)

    def _guard(self, repo: FakeRepo) -> None:
        """docs/operations/security.md's rulesets: reviews on main, bypassed by the staging App only;
        prod's files pushed by the prod App (to its promotion branches: it cannot bypass the review on
        main) and the release managers only."""
        review = {"type": "pull_request", "parameters": {
            "required_approving_review_count": 1, "dismiss_stale_reviews_on_push": True,
            "require_code_owner_review": False, "require_last_push_approval": True,
            "required_review_thread_resolution": False}}
        self.github.add_ruleset(repo, "gitops-main", rules=[review, {"type": "non_fast_forward"}, {"type": "deletion"}],
                                bypass=[_bypass(STAGING_APP)])
        self.github.add_ruleset(repo, "prod-paths", target="push", rules=[
            {"type": "file_path_restriction", "parameters": {"restricted_file_paths": ["envs/prod/**/*"]}}],
            bypass=[_bypass(PROD_APP), _bypass(RELEASE_MANAGERS)])

    def _merge(self, repo: FakeRepo, pull: FakePull, method: str) -> str:
        if method != "merge":
            raise NotMergeable(f"the sandbox merges with merge commits only, not {method!r}")
        sha = git_http.merge_branch(self.bare, pull.head, f"Merge pull request #{pull.number} from "
                                    f"{repo.owner}/{pull.head}\n\n{pull.title}", branch=pull.base)
        if sha is None:
            raise NotMergeable("Pull Request is not mergeable")
        return sha

    def environment(self) -> dict[str, str]:
        """What the flow's commands need: the CLI on PATH, the repository, tokens, GitHub and EKS
        endpoints, and AWS credentials that reach nothing but the sandbox."""
        return {
            "PATH": f"{Path(sys.executable).parent}:$PATH",
            "GITOPS_REPO": self.url, "GITOPS_REPOSITORY": REPOSITORY, "SANDBOX_GITOPS": str(self.bare),
            "STAGING_TOKEN": self.tokens["staging"], "PROD_TOKEN": self.tokens["prod"],
            "GITHUB_API_URL": self.github.api_url, "AWS_ENDPOINT_URL_EKS": self.eks.url,
            "AWS_ACCESS_KEY_ID": self.access_key, "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_REGION": REGION, "AWS_DEFAULT_REGION": REGION,
            "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        }

    def write_environment(self) -> Path:
        path = self.root / "env"
        lines = ["# Source this file (. <file>) in the shell that runs the sandbox's flow.",
                 "unset AWS_PROFILE AWS_SESSION_TOKEN AWS_ENDPOINT_URL"]
        for name, value in self.environment().items():
            shown = f'"{value}"' if name == "PATH" else shlex.quote(value)
            lines.append(f"export {name}={shown}")
        path.write_text("\n".join(lines) + "\n")
        path.chmod(0o600)
        return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sandbox", description=__doc__.split("\n\n")[0])
    parser.add_argument("--dir", type=Path, help="keep the sandbox's state here (default: a temporary "
                                                 "directory, removed when the sandbox stops)")
    args = parser.parse_args(argv)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    if args.dir is not None:
        args.dir.mkdir(parents=True, exist_ok=True)
        if any(args.dir.iterdir()):
            print(f"error: --dir {args.dir} is not empty: give an empty or new directory", file=sys.stderr)
            return 2
    root = args.dir.resolve() if args.dir is not None else Path(tempfile.mkdtemp(prefix="delivery-sandbox-"))
    try:
        with _started(root) as sandbox:
            env_file = sandbox.write_environment()
            print("\n".join([
                f"sandbox ready: git {sandbox.git.base_url}, GitHub API {sandbox.github.api_url}, "
                f"EKS API {sandbox.eks.url}, clusters {', '.join(CLUSTERS.values())} ({REGION})",
                f"repository {REPOSITORY} ({', '.join(SERVICES)}; seeded by gitops init): {sandbox.url}",
                "",
                "In another shell, from any directory:",
                "",
                f". {shlex.quote(str(env_file))}",
                "",
                *flow.render(flow.steps(CLUSTERS)),
                "Ctrl-C (or SIGTERM) stops the sandbox.",
            ]), flush=True)
            while not stop.wait(0.5):
                pass
    except SandboxError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    finally:
        if args.dir is None:
            shutil.rmtree(root, ignore_errors=True)
    print("sandbox stopped", flush=True)
    return 0


class SandboxError(Exception):
    """The sandbox could not start; the message says what failed."""


@contextmanager
def _started(root: Path) -> Iterator[Sandbox]:
    """The sandbox, or SandboxError naming the step that failed (git missing, gitops init failing)."""
    try:
        sandbox = Sandbox(root).__enter__()
    except subprocess.CalledProcessError as failed:
        raise SandboxError(f"the sandbox could not start: {shlex.join(map(str, failed.cmd))} exited "
                           f"{failed.returncode}") from None
    except OSError as failed:
        raise SandboxError(f"the sandbox could not start: {failed}") from None
    try:
        yield sandbox
    finally:
        sandbox.__exit__(None, None, None)


if __name__ == "__main__":
    sys.exit(main())
