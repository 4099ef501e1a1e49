"""One rule for what an environment or service is, in every command: a DNS-1123 label (what
Kubernetes and Argo CD accept as the Application of envs/<env>/<service>). A name that verify
could never check is refused by promote too, with the same one-line message, before anything is
cloned or pushed."""

from __future__ import annotations

import pytest

from gitops.cli import main

REPO = "http://127.0.0.1:9/acme/gitops.git"   # nothing listens: a refusal must come first
MESSAGE = "error: --env 'Prod_1' is not a DNS-1123 label (lowercase letters, digits and '-')\n"
COMMANDS = {
    "promote": ["--service", "api", "--tag", "1.0.0"],
    "verify": ["--service", "api", "--region", "eu-west-1", "--cluster", "c",
               "--revision", "0123abcd"],
    "revert": ["--service", "api", "--reason", "bad"],
    "block": ["--service", "api", "--reason", "bad", "--digest", "sha256:" + "a" * 64],
    "freeze": ["--until", "8h", "--reason", "release"],
    "unfreeze": ["--reason", "done"],
    "history": [],
    "dora": [],
}


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_an_env_that_is_no_dns_label_is_refused_by_every_command_alike(command, capsys):
    code = main([command, "--repo", REPO, "--env", "Prod_1", *COMMANDS[command]])
    assert (code, capsys.readouterr().err) == (2, MESSAGE)


@pytest.mark.parametrize("name", ["Api", "api_1", "api.v2", "-api", "api-", "a" * 64, ".."])
def test_a_service_that_is_no_dns_label_is_refused_by_promote_as_by_verify(name, capsys):
    promote = main(["promote", "--repo", REPO, "--env", "prod", "--service", name, "--tag", "1"])
    promote_err = capsys.readouterr().err
    verify = main(["verify", "--repo", REPO, "--env", "prod", "--service", name, "--region",
                   "eu-west-1", "--cluster", "c", "--revision", "0123abcd"])
    assert (promote, promote_err) == (verify, capsys.readouterr().err) == (
        2, f"error: --service {name!r} is not a DNS-1123 label (lowercase letters, digits and '-')\n")


@pytest.mark.parametrize("flag, sha", [("--revision", "HEAD"), ("--revision", "ABCDEF1"),
                                       ("--revision", "abc")])
def test_a_commit_is_held_to_one_rule_by_revert_and_verify(flag, sha, capsys):
    revert = main(["revert", "--repo", REPO, "--env", "prod", "--service", "api", "--reason", "x",
                   flag, sha])
    revert_err = capsys.readouterr().err
    verify = main(["verify", "--repo", REPO, "--env", "prod", "--service", "api", "--region",
                   "eu-west-1", "--cluster", "c", flag, sha])
    assert (revert, revert_err) == (verify, capsys.readouterr().err) == (
        2, f"error: {flag} {sha!r} is not a commit sha (7 to 64 lowercase hex digits)\n")
