"""`gitops status`: which tag and digest each service runs in each environment, and where
environments differ (drift), and each environment's freeze file. Reads only `envs/*/*/values.yaml`
and `envs/*/freeze.yaml` from a blobless, shallow, sparse clone of the branch.

One bad file never stops the table: whatever is wrong with a values file (a symlink, a directory or
submodule in its place, malformed YAML, nesting or aliases past the limits, a tag Helm cannot read)
becomes that cell's error, and each file is read within the limits of gitops.yaml.document, so no file can
hold up the others."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from gitops.repo import files, layout
from gitops.errors import UsageError, ValuesError
from gitops.clients.git import GitClient
from gitops.repo.layout import FREEZE_GLOB, VALUES_GLOB
from gitops.repo.values import ImageRef, parse_image


@dataclass(frozen=True)
class Cell:
    image: ImageRef | None = None
    error: str | None = None      # the values file exists but cannot be read


@dataclass(frozen=True)
class FreezeText:
    """An environment's freeze file as read: its text, or why it could not be read."""
    text: str | None = None
    error: str | None = None


@dataclass(frozen=True)
class Status:
    commit: str
    environments: list[str]
    services: dict[str, dict[str, Cell]]     # service -> env -> cell (absent env: no key)
    # env -> its freeze file, for the environments that have one.
    freeze_files: dict[str, FreezeText] = field(default_factory=dict)

    def drift(self, service: str) -> bool:
        """True when the environments running `service` do not all run the same tag and digest."""
        cells = self.services[service].values()
        return len({(c.image.tag, c.image.digest) if c.image else c.error for c in cells}) > 1


def collect(repo_url: str, branch: str, git: GitClient) -> Status:
    if not git.valid_branch_name(branch):
        raise UsageError(f"--branch {branch!r} is not a valid branch name")
    with tempfile.TemporaryDirectory(prefix="gitops-status-") as tmp:
        workdir = Path(tmp) / "repo"
        git.clone_sparse(repo_url, branch, workdir, ["/" + VALUES_GLOB, "/" + FREEZE_GLOB])
        services: dict[str, dict[str, Cell]] = {}
        environments: set[str] = set()
        for path in sorted(workdir.glob(VALUES_GLOB)):
            env, service = path.parts[-3], path.parts[-2]
            environments.add(env)
            services.setdefault(service, {})[env] = _cell(workdir, path.relative_to(workdir).as_posix())
        freeze_files = {path.parts[-2]: _freeze_text(workdir, path.relative_to(workdir).as_posix())
                        for path in sorted(workdir.glob(FREEZE_GLOB))}
        return Status(git.head(workdir), sorted(environments), dict(sorted(services.items())), freeze_files)


def _freeze_text(workdir: Path, relative: str) -> FreezeText:
    try:
        return FreezeText(text=files.read_repo_file(workdir, relative))
    except ValuesError as e:
        return FreezeText(error=str(e))


def _cell(workdir: Path, relative: str) -> Cell:
    try:
        text = files.read_text(workdir.joinpath(*relative.split("/")), relative, root=workdir)
        return Cell(image=parse_image(text, relative))
    except ValuesError as e:
        return Cell(error=str(e))


def missing(git: GitClient, workdir: Path, path: str, branch: str) -> str:
    """What a "does not exist" error says of `path` (an environment's or a service's directory, or
    a file in one) at the checkout's HEAD: the first directory missing on the way, with the
    environments or services that do exist."""
    parts = path.split("/")
    for depth, kind in ((2, "environments"), (3, f"services in {'/'.join(parts[:2])}")):
        if len(parts) < depth:
            break
        parent, name = "/".join(parts[:depth - 1]), parts[depth - 1]
        existing = git.subdirectories(workdir, parent) or []
        if name not in existing:
            return layout.missing("/".join(parts[:depth]), branch, kind, existing)
    return f"{path} does not exist on {branch}"
