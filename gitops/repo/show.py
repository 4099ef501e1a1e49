"""`gitops show`: the image of one values file in a local directory.

The prod pipeline's Resolve action runs it on its source artifact (the GitOps repository at the
triggering commit, without .git) to learn exactly what staging runs, so it fails closed like
promote: a broken file, a missing or invalid tag, a symlinked path, a directory or a FIFO is an
error, never a guess (and never a wait: a FIFO is refused before it is opened).
"""

from __future__ import annotations

import argparse
from dataclasses import asdict
from pathlib import Path

from gitops import output
from gitops.repo.values import ImageRef, deployable, read_image


def show(path: Path) -> ImageRef:
    """The image of the values file at `path`, as Helm reads it. The file, and each directory of a
    relative `path` (inside the artifact), must not be a symlink: the repository content decides
    where they lead."""
    return deployable(read_image(path, str(path)), str(path))


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "show", help="print the image (repository, tag, digest) of a local values file",
        description="Read image.repository, image.tag and image.digest from a values file in a "
                    "local directory (e.g. a pipeline's source artifact), as Helm reads them.")
    p.add_argument("--file", required=True, type=Path,
                   help="values file, e.g. envs/staging/api/values.yaml")
    p.add_argument("--output", choices=("text", "json"), default="text")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    image = show(args.file)
    if args.output == "json":
        output.print_json(asdict(image))
    else:
        for key, value in asdict(image).items():
            output.print_line(f"{key}: {value or ''}".rstrip())
    return 0
