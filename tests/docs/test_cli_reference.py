"""Each command of the gitops CLI has its page under docs/reference/cli/, whose options table lists
exactly the options the command's parser has, marking the required ones."""

from __future__ import annotations

import argparse
import re

import pytest

from gitops.cli import build_parser
from tests.docs.pages import DOCS, prose_lines

CLI_DOCS = DOCS / "reference" / "cli"
INDEX = CLI_DOCS / "README.md"


def commands() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(subparsers.choices)


def parser_options(command: argparse.ArgumentParser) -> dict[str, bool]:
    """Option -> required, for every option but --help."""
    return {action.option_strings[-1]: action.required for action in command._actions
            if action.option_strings and not isinstance(action, argparse._HelpAction)}


def documented_options(text_lines: list[str]) -> dict[str, bool]:
    """Option -> marked required, from the rows of the page's `## Options` table: the first cell
    names the option (`` `--repo URL` ``), a required one's meaning starts with **required**."""
    options, inside = {}, False
    for line in text_lines:
        if line.startswith("## "):
            inside = line.strip() == "## Options"
            continue
        match = re.match(r"^\|\s*`(--[\w-]+)[^`]*`\s*\|\s*(.*)\|\s*$", line) if inside else None
        if match:
            if match.group(1) in options:
                raise AssertionError(f"{match.group(1)} is listed twice")
            options[match.group(1)] = match.group(2).startswith("**required**")
    return options


@pytest.mark.parametrize("name", sorted(commands()))
def test_each_command_page_lists_exactly_its_parsers_options(name):
    page = CLI_DOCS / f"{name}.md"
    assert page.is_file(), f"no reference page {page.relative_to(DOCS.parent)} for `gitops {name}`"
    documented = documented_options([line for _, line in prose_lines(page)])
    assert documented == parser_options(commands()[name])


def test_every_page_is_a_command_and_the_index_links_each():
    pages = {path.stem for path in CLI_DOCS.glob("*.md") if path != INDEX}
    assert pages == set(commands())
    index = INDEX.read_text()
    assert [name for name in sorted(commands()) if f"]({name}.md)" not in index] == []


def test_the_table_reader_sees_a_missing_extra_or_unmarked_option():
    command = argparse.ArgumentParser()
    command.add_argument("--repo", required=True)
    command.add_argument("--branch")
    page = ["## Options", "", "| option | meaning |", "|---|---|",
            "| `--repo URL` | the repository |", "| `--tag TAG` | a tag |", "## Next"]
    assert documented_options(page) == {"--repo": False, "--tag": False}
    assert documented_options(page) != parser_options(command)
