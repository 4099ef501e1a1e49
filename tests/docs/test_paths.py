"""Paths the docs name exist: the contributor pages' layout and module paths (a restructure that
moves a folder fails here until the page follows), and every docs/ page the code or the tests
point readers to."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.docs.pages import DOCS, ROOT

CONTRIBUTING = sorted((DOCS / "contributing").glob("*.md"))
TOP_LEVEL = {path.name for path in ROOT.iterdir()
             if path.is_dir() and not path.name.startswith((".", "__")) and path.name != "build"}
_CODE_SPAN = re.compile(r"`([^`\s]+)`")
_DOC_REFERENCE = re.compile(r"\bdocs/[\w./-]+\.(?:md|svg)\b")
_DOC_JOINED = re.compile(r'"docs"((?:\s*/\s*"[\w.-]+")+)')  # a path joined from "docs" and its parts


def named_paths(text: str) -> list[str]:
    """Repository paths a page names: the first word of each entry of its layout block, and code
    spans starting with a top-level folder (`components/steps.py`, `tests/gitops/`), without a
    `::test` suffix; placeholders (`<service>`) excluded, globs kept."""
    paths = [line.split()[0] for line in _layout_block(text) if not line.startswith(" ")]
    for word in _CODE_SPAN.findall(text):
        word = word.split("::")[0].rstrip(".,;:)")
        first = word.split("/")[0]
        if "/" in word and first in TOP_LEVEL and "<" not in word and "{" not in word:
            paths.append(word)
    return paths


def _layout_block(text: str) -> list[str]:
    """The lines of the fenced block under the `## Layout` heading, if any."""
    match = re.search(r"^## Layout\n.*?^```\n(.*?)^```", text, re.S | re.M)
    return [line for line in match.group(1).splitlines() if line.strip()] if match else []


def missing(paths: list[str]) -> list[str]:
    return [path for path in paths if not any(ROOT.glob(path.rstrip("/")))]


@pytest.mark.parametrize("page", CONTRIBUTING, ids=lambda p: p.name)
def test_every_path_a_contributor_page_names_exists(page):
    assert missing(named_paths(page.read_text())) == []


def test_the_architecture_page_has_a_layout_naming_every_top_level_folder():
    layout = _layout_block((DOCS / "contributing" / "architecture.md").read_text())
    named = {line.split()[0].rstrip("/") for line in layout if not line.startswith(" ")}
    assert TOP_LEVEL <= named


def _code_files() -> list[Path]:
    files = [ROOT / "Makefile", *ROOT.glob("*.py"), *ROOT.glob("*.toml")]
    for folder in TOP_LEVEL - {"docs"}:
        files += [p for p in (ROOT / folder).rglob("*") if p.suffix in {".py", ".yml", ".yaml", ".toml"}
                  and "fixtures" not in p.parts and "template" not in p.parts]
    return files


def test_every_docs_page_the_code_names_exists():
    named = set()
    for path in _code_files():
        text = path.read_text(errors="replace")
        named |= {(path.relative_to(ROOT), ref) for ref in _DOC_REFERENCE.findall(text)}
        named |= {(path.relative_to(ROOT), "docs/" + "/".join(re.findall(r'"([\w.-]+)"', joined)))
                  for joined in _DOC_JOINED.findall(text)}
    assert sorted(f"{path}: {ref}" for path, ref in named if not (ROOT / ref).exists()) == []


def test_a_moved_path_is_reported():
    text = "`tests/conftest.py` `tests/nowhere.py` `tests/*/__init__.py` `envs/<env>/x` `tests.conftest`"
    assert missing(named_paths(text)) == ["tests/nowhere.py"]
