"""Every relative link of the README and the docs leads somewhere: the file exists, and an anchor
names a heading of the page it points into."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote

import pytest

from tests.docs.pages import ROOT, anchor, anchors, links, pages


def broken_links(path: Path) -> list[str]:
    broken = []
    for line, target in links(path):
        if target.startswith(("http://", "https://", "mailto:")):
            continue
        file_part, _, fragment = target.partition("#")
        destination = (path.parent / unquote(file_part)).resolve() if file_part else path
        where = f"{path.relative_to(ROOT)}:{line}: {target}"
        if not destination.exists():
            broken.append(f"{where}: no such file")
        elif ROOT not in destination.parents and destination != ROOT:
            broken.append(f"{where}: outside the repository")
        elif fragment and destination.suffix == ".md" and fragment not in anchors(destination):
            broken.append(f"{where}: no heading with that anchor in {destination.relative_to(ROOT)}")
    return broken


@pytest.mark.parametrize("page", pages(), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves(page):
    assert broken_links(page) == []


def test_a_link_to_a_missing_file_or_heading_is_reported(tmp_path, monkeypatch):
    monkeypatch.setattr("tests.docs.test_links.ROOT", tmp_path)
    (tmp_path / "there.md").write_text("# A heading, with `code`\n")
    page = tmp_path / "page.md"
    page.write_text("[ok](there.md#a-heading-with-code) [gone](missing.md) [bad](there.md#nope)\n"
                    "`[in code](missing.md)`\n```\n[in a block](missing.md)\n```\n")
    assert broken_links(page) == [f"page.md:1: missing.md: no such file",
                                  f"page.md:1: there.md#nope: no heading with that anchor in there.md"]


def test_anchors_follow_githubs_rule():
    assert anchor("`--pipelines`") == "--pipelines"
    assert anchor("Argo CD (`delivery-pipeline:argocd`, optional)") == "argo-cd-delivery-pipelineargocd-optional"
    assert anchor("The GitOps repository's guard rails") == "the-gitops-repositorys-guard-rails"
