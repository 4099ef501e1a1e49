"""Reading a file of a repository or artifact whose content the tool does not trust.

Every file the CLI reads (values files, a chart's `values.yaml` and `values.schema.json`) comes
through `read_text`: it must be a regular file reached without a symlink, inside the root it was
named under, no larger than the limit, and UTF-8. A directory, a FIFO, a device or a socket is
refused from its `lstat` before anything opens it (a FIFO would block the read forever), and the
open itself neither follows a symlink nor blocks. Errors name the file as the user knows it (a
repository path, never a temporary clone's) and never show its content.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path, PurePosixPath

from gitops.errors import ValuesError
from gitops.yaml.document import MAX_BYTES, check_size


def read_repo_file(root: Path, relative: str) -> str | None:
    """Text of the repository file `relative` (a POSIX path under `root`); None when absent."""
    parts = PurePosixPath(relative).parts
    if PurePosixPath(relative).is_absolute() or ".." in parts:
        raise ValuesError(f"{relative} is not a path inside the repository")
    return read_text(root.joinpath(*parts), relative, root=root, missing_ok=True)


def read_text(path: Path, name: str | None = None, *, root: Path | None = None,
              missing_ok: bool = False) -> str | None:
    """The text of the regular file at `path`, exactly as stored (no newline translation).

    No component may be a symlink: the file itself, and each directory between `root` and it (or,
    without `root`, each directory of `path`, from the root for an absolute one). `name` is how
    errors name the file."""
    name = name or str(path)
    for part in _checked_components(path, root):
        try:
            mode = os.lstat(part).st_mode
        except FileNotFoundError:
            if missing_ok:
                return None
            raise ValuesError(f"{name} does not exist") from None
        except OSError as e:
            raise ValuesError(f"cannot read {name}: {e.strerror}") from None
        if stat.S_ISLNK(mode):
            where = "" if part == path else f" (a directory on the way to {name})"
            raise ValuesError(f"{_display(part, path, name, root)} is a symlink{where}; only "
                              "regular files inside the repository are read")
        if part != path and not stat.S_ISDIR(mode):
            raise ValuesError(f"{name} does not exist ({_display(part, path, name, root)} is not a "
                              "directory)")
    mode = os.lstat(path).st_mode
    if stat.S_ISDIR(mode):
        raise ValuesError(f"{name} is a directory (a submodule, or a misnamed path), not a file")
    if not stat.S_ISREG(mode):
        raise ValuesError(f"{name} is not a regular file (a FIFO, socket or device); not read")
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as e:
        raise ValuesError(f"cannot read {name}: {e.strerror}") from None
    with os.fdopen(fd, "rb") as f:
        # The path may have been swapped since lstat: decide on what was opened.
        opened = os.fstat(f.fileno())
        if not stat.S_ISREG(opened.st_mode):
            raise ValuesError(f"{name} is not a regular file; not read")
        check_size(opened.st_size, name)
        data = f.read(MAX_BYTES + 1)
    check_size(len(data), name)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ValuesError(f"{name} is not UTF-8 ({e.reason} at byte {e.start})") from None


def _checked_components(path: Path, root: Path | None) -> list[Path]:
    """The directories that must not be symlinks, outermost first, then `path` itself."""
    if root is not None:
        relative = path.relative_to(root)
        return [root.joinpath(*relative.parts[:i]) for i in range(1, len(relative.parts) + 1)]
    # An absolute path is checked from the root: through a symlinked directory it would read what
    # the same path given relative to the artifact refuses.
    directories = [p for p in reversed(path.parents) if p not in (Path("."), Path("/"))]
    return [*directories, path]


def _display(part: Path, path: Path, name: str, root: Path | None) -> str:
    """How errors name `part`, a component of `path` (which they name `name`)."""
    if part == path:
        return name
    return part.relative_to(root).as_posix() if root is not None else str(part)
