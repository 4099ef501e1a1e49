"""`gitops status`: which tag and digest each service runs in each environment, and where
environments differ (drift). Reads only `envs/*/*/values.yaml` from a blobless, shallow, sparse
clone of the branch.

One bad file never stops the table: whatever is wrong with a values file (a symlink, a directory or
submodule in its place, malformed YAML, nesting or aliases past the limits, a tag Helm cannot read)
becomes that cell's error, and each file is read within the limits of gitops.yaml.document, so no file can
hold up the others."""

from __future__ import annotations

import argparse
import tempfile
from dataclasses import dataclass
from pathlib import Path

from gitops import output
from gitops.repo import files
from gitops.clients.credentials import add_token_arguments, token_from_args
from gitops.errors import UsageError, ValuesError
from gitops.clients.git import GitClient, GitRunner
from gitops.repo.layout import VALUES_GLOB
from gitops.repo.values import ImageRef, parse_image


@dataclass(frozen=True)
class Cell:
    image: ImageRef | None = None
    error: str | None = None      # the values file exists but cannot be read


@dataclass(frozen=True)
class Status:
    commit: str
    environments: list[str]
    services: dict[str, dict[str, Cell]]     # service -> env -> cell (absent env: no key)

    def drift(self, service: str) -> bool:
        """True when the environments running `service` do not all run the same tag and digest."""
        cells = self.services[service].values()
        return len({(c.image.tag, c.image.digest) if c.image else c.error for c in cells}) > 1


def collect(repo_url: str, branch: str, git: GitClient) -> Status:
    if not git.valid_branch_name(branch):
        raise UsageError(f"--branch {branch!r} is not a valid branch name")
    with tempfile.TemporaryDirectory(prefix="gitops-status-") as tmp:
        workdir = Path(tmp) / "repo"
        git.clone_sparse(repo_url, branch, workdir, ["/" + VALUES_GLOB])
        services: dict[str, dict[str, Cell]] = {}
        environments: set[str] = set()
        for path in sorted(workdir.glob(VALUES_GLOB)):
            env, service = path.parts[-3], path.parts[-2]
            environments.add(env)
            services.setdefault(service, {})[env] = _cell(workdir, path.relative_to(workdir).as_posix())
        return Status(git.head(workdir), sorted(environments), dict(sorted(services.items())))


def _cell(workdir: Path, relative: str) -> Cell:
    try:
        text = files.read_text(workdir.joinpath(*relative.split("/")), relative, root=workdir)
        return Cell(image=parse_image(text, relative))
    except ValuesError as e:
        return Cell(error=str(e))


def to_json(status: Status) -> dict:
    return {
        "commit": status.commit,
        "environments": status.environments,
        "services": [
            {"service": service,
             "drift": status.drift(service),
             "environments": {env: _cell_json(cells.get(env)) for env in status.environments}}
            for service, cells in status.services.items()],
    }


def _cell_json(cell: Cell | None) -> dict | None:
    if cell is None:
        return None
    if cell.image is None:
        return {"error": cell.error}
    return {"tag": cell.image.tag, "digest": cell.image.digest}


def _cell_text(cell: Cell | None) -> str:
    if cell is None:
        return "-"
    if cell.image is None:
        return "error (see below)"
    digest = f" @{cell.image.digest[7:19]}" if cell.image.digest else ""
    return f"{cell.image.tag or '(none)'}{digest}"


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "status", help="table of services × environments with the image each runs",
        description="Show the image tag and digest of every service in every environment "
                    "(envs/<env>/<service>/values.yaml) and mark services whose environments differ.")
    p.add_argument("--repo", required=True, help="GitOps repository URL (or path)")
    p.add_argument("--branch", default="main", help="branch to read (default: main)")
    add_token_arguments(p)
    p.add_argument("--output", choices=("text", "json"), default="text")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    token = token_from_args(args)
    status = collect(args.repo, args.branch, GitClient(GitRunner(token)))
    if args.output == "json":
        output.print_json(to_json(status))
        return 0
    rows, drifting = [], set()
    for i, (service, cells) in enumerate(status.services.items()):
        drift = status.drift(service)
        if drift:
            drifting.add(i)
        rows.append([service, *(_cell_text(cells.get(env)) for env in status.environments),
                     "drift" if drift else ""])
    output.print_table(["service", *status.environments, ""], rows, drifting,
                       title=f"{args.branch} at {status.commit[:12]}")
    for service, cells in status.services.items():
        for env, cell in cells.items():
            if cell.error:
                output.print_line(f"{env}/{service}: {cell.error}")
    return 0
