"""The commands of the CLI: the one table of their names, modules and summaries.

Each module here parses its command's options, calls its use case and renders the result; it
exposes `register(subparsers)` (adding its parsers with `set_defaults(func=run)`) and `run(args)`.
A module is imported only when its command runs (or for the full help), so a promotion does not
pay for what verify imports, and the reverse. A module may register a pair of commands that share
every option (freeze/unfreeze, block/unblock beside revert).
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass


@dataclass(frozen=True)
class Command:
    module: str
    summary: str


COMMANDS = {
    "promote": Command("gitops.commands.promote",
                       "set a service's image tag in one environment of the GitOps repository"),
    "status": Command("gitops.commands.status",
                      "table of services × environments with the image each runs"),
    "proof": Command("gitops.commands.proof",
                     "whether the upstream environment proved an image (verified in its regions, soaked)"),
    "show": Command("gitops.commands.show",
                    "print the image (repository, tag, digest) of a local values file"),
    "image-digest": Command("gitops.commands.image_digest",
                            "print the digest ECR holds for an image tag (nothing when no image has it)"),
    "verify": Command("gitops.commands.verify",
                      "prove that a cluster runs a GitOps revision, and report it on the commit"),
    "init": Command("gitops.commands.init", "create a GitOps repository for a set of services"),
    "revert": Command("gitops.commands.revert",
                      "restore the last verified version of a service and block the bad one"),
    "revert-breach": Command("gitops.commands.revert_breach",
                             "revert the release whose bake a blocking alarm failed, as a failed verify does"),
    "block": Command("gitops.commands.revert", "refuse a digest in promotions"),
    "unblock": Command("gitops.commands.revert", "allow a blocked digest again"),
    "freeze": Command("gitops.commands.freeze",
                      "stop promotions into an environment (or one service) until a time"),
    "unfreeze": Command("gitops.commands.freeze", "end a freeze recorded by `freeze` (windows stay)"),
    "history": Command("gitops.commands.history",
                       "promotions, reverts, blocks, freezes and overrides of an environment"),
    "dora": Command("gitops.commands.dora",
                    "deployment frequency, lead time, change failure rate, time to restore"),
    "check-repo": Command("gitops.commands.check_repo",
                          "check the GitOps repository's branch rules for one environment's token"),
    "trigger": Command("gitops.commands.trigger",
                       "what started a pipeline execution; stop the run CodePipeline starts on creation"),
}
# Every module of the table once, in the table's order (the order `gitops --help` lists).
MODULES = tuple(dict.fromkeys(command.module for command in COMMANDS.values()))


def add_command(subparsers: argparse._SubParsersAction, name: str, **kwargs) -> argparse.ArgumentParser:
    """The parser of command `name`, with its summary from the table."""
    return subparsers.add_parser(name, help=COMMANDS[name].summary, **kwargs)
