"""`gitops proof`: whether the upstream environment proved an image, before anyone is asked to
promote it (a promote pipeline's Resolve step runs it ahead of the manual approval)."""

from __future__ import annotations

import argparse

from gitops import output
from gitops.clients.git import GitClient, GitRunner
from gitops.commands import add_command
from gitops.commands.options import (add_branch, add_github_api_argument, add_output, add_proof_arguments,
                                     add_repo, add_service, add_token_arguments, proof_options,
                                     token_from_args)
from gitops.promotion.proof import Proof, ProofRequest, github_statuses, prove
from gitops.repo.layout import check_name
from gitops.repo.values import validate_digest, validate_tag


def register(subparsers: argparse._SubParsersAction) -> None:
    p = add_command(
        subparsers, "proof",
        description="Exit 0 when every region of ENV that runs the service reported a verification success "
                    "(delivery/<env>/<region> commit status) for exactly this tag and digest, the soak is over "
                    "and no block list holds the digest; else exit 19 naming what is missing.")
    add_repo(p)
    add_branch(p)
    p.add_argument("--from", dest="upstream", required=True, metavar="ENV",
                   help="the environment that must have proven the image")
    add_service(p)
    p.add_argument("--tag", required=True, help="image tag")
    p.add_argument("--digest", required=True, help="image digest (sha256:<64 hex>)")
    add_proof_arguments(p)
    add_token_arguments(p)
    add_github_api_argument(p)
    add_output(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    check_name("--from", args.upstream)
    check_name("--service", args.service)
    validate_tag(args.tag)
    validate_digest(args.digest)
    regions, soak = proof_options(args)
    req = ProofRequest(repo_url=args.repo, upstream=args.upstream, service=args.service, tag=args.tag,
                       digest=args.digest, branch=args.branch, regions=regions, soak=soak,
                       github_api_url=args.github_api_url)
    token = token_from_args(args)
    found = prove(req, GitClient(GitRunner(token)), github_statuses(req, token))
    if args.output == "json":
        output.print_json(_json(found))
    else:
        output.print_line(f"{req.service} {req.tag} ({req.digest}) is proven in {found.upstream}: "
                          + ", ".join(f"{p.region} at {p.at:%Y-%m-%d %H:%M} UTC ({p.commit[:12]})" for p in found.regions))
    return 0


def _json(found: Proof) -> dict:
    return {"upstream": found.upstream,
            "regions": [{"region": p.region, "commit": p.commit, "at": p.at.isoformat()} for p in found.regions]}
