"""`gitops init`: the options describing a new GitOps repository, and what was created."""

from __future__ import annotations

import argparse
from pathlib import Path

from gitops.commands import add_command
from gitops.commands.options import add_output
from gitops.output import print_json, print_line
from gitops.repo.scaffold import BRANCH, init_repository, make_plan


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = add_command(
        subparsers, "init",
        description="Create a new GitOps repository (git init and a first commit) from the "
                    "template: a Helm chart per service, values per environment, optional "
                    "per-region override files.")
    parser.add_argument("--path", required=True, type=Path,
                        help="directory to create (must be absent or empty)")
    parser.add_argument("--services", required=True, help="comma-separated service names")
    parser.add_argument("--envs", default="staging,prod",
                        help="comma-separated environments (default: staging,prod)")
    parser.add_argument("--regions", action="append", metavar="ENV=REGION[,REGION…]",
                        help="create values-<region>.yaml overrides for ENV; repeat per env")
    parser.add_argument("--image-registry", metavar="URI",
                        help="registry (and path) of the images: image.repository becomes "
                             "URI/<service> (default: the bare service name)")
    add_output(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    plan = make_plan(services=args.services, envs=args.envs, regions=args.regions or [],
                     image_registry=args.image_registry)
    commit, files = init_repository(plan, args.path)
    if args.output == "json":
        print_json({"path": str(args.path), "branch": BRANCH, "commit": commit, "files": files})
    else:
        print_line(f"created {args.path} ({len(files)} files, commit {commit[:12]} on {BRANCH})")
        print_line(f"next: git -C {args.path} remote add origin <URL> && "
                   f"git -C {args.path} push -u origin {BRANCH}")
    return 0
