"""`gitops image-digest`: the digest ECR holds for an image tag, or nothing when no image has it.

The build step runs it before it builds (a tag already there is reused: the repositories' tags are
immutable) and after its push (the digest the later stages scan and promote is the registry's).
"""

from __future__ import annotations

import argparse

from gitops import output
from gitops.clients.registry import check_repository_name, image_digest
from gitops.commands import add_command
from gitops.commands.options import add_output
from gitops.repo.values import validate_tag


def register(subparsers: argparse._SubParsersAction) -> None:
    p = add_command(
        subparsers, "image-digest",
        description="Print the digest (sha256:…) of the image a tag names in an ECR repository of the "
                    "caller's account; print nothing and exit 0 when no image has that tag.")
    p.add_argument("--repository", required=True, help="ECR repository name, e.g. shop/api")
    p.add_argument("--tag", required=True, help="image tag, e.g. the commit sha")
    p.add_argument("--region", help="the repository's region (default: $AWS_REGION, else the AWS configuration)")
    add_output(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    check_repository_name(args.repository)
    validate_tag(args.tag)
    digest = image_digest(args.repository, args.tag, args.region)
    if args.output == "json":
        output.print_json({"repository": args.repository, "tag": args.tag, "digest": digest})
    elif digest is not None:
        output.print_line(digest)
    return 0
