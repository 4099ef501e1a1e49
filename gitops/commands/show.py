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
from gitops.commands import add_command
from gitops.commands.options import add_output
from gitops.repo.values import deployable, read_image


def register(subparsers: argparse._SubParsersAction) -> None:
    p = add_command(
        subparsers, "show",
        description="Read image.repository, image.tag and image.digest from a values file in a "
                    "local directory (e.g. a pipeline's source artifact), as Helm reads them.")
    p.add_argument("--file", required=True, type=Path,
                   help="values file, e.g. envs/staging/api/values.yaml")
    add_output(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    image = deployable(read_image(args.file, str(args.file)), str(args.file))
    if args.output == "json":
        output.print_json(asdict(image))
    else:
        for key, value in asdict(image).items():
            output.print_line(f"{key}: {value or ''}".rstrip())
    return 0
