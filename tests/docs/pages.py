"""Reading the project's Markdown: which pages there are, their links, headings' anchors and the
fenced blocks a marker comment names. Shared by the tests that keep the docs honest."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"

_FENCE = re.compile(r"^(`{3,}|~{3,})")
_LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
_INLINE_CODE = re.compile(r"`+[^`]*`+")
_MARKER = re.compile(r"^<!--\s*([a-z-]+):\s*(.*?)\s*-->$")


def pages() -> list[Path]:
    """README.md and every Markdown page under docs/."""
    return [ROOT / "README.md", *sorted(DOCS.rglob("*.md"))]


def prose_lines(path: Path) -> list[tuple[int, str]]:
    """(line number, line) outside fenced code blocks."""
    lines, fence = [], None
    for number, line in enumerate(path.read_text().splitlines(), 1):
        opening = _FENCE.match(line.strip())
        if fence is None and opening:
            fence = opening.group(1)[0]
        elif fence is not None and line.strip().startswith(fence * 3):
            fence = None
        elif fence is None:
            lines.append((number, line))
    return lines


def links(path: Path) -> list[tuple[int, str]]:
    """(line number, target) of every Markdown link and image outside code."""
    found = []
    for number, line in prose_lines(path):
        for match in _LINK.finditer(_INLINE_CODE.sub("", line)):
            found.append((number, match.group(1)))
    return found


def anchor(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation other than `-` and `_` dropped,
    each space a `-`."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    seen: dict[str, int] = {}
    result = set()
    for _, line in prose_lines(path):
        match = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if not match:
            continue
        base = anchor(match.group(1))
        count = seen.get(base, 0)
        seen[base] = count + 1
        result.add(base if count == 0 else f"{base}-{count}")
    return result


@dataclass(frozen=True)
class MarkedBlock:
    """A fenced block right after a `<!-- kind: argument -->` comment."""

    path: Path
    line: int  # of the marker
    kind: str
    argument: str
    lines: tuple[str, ...]

    def where(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"


def marked_blocks(kind: str) -> list[MarkedBlock]:
    blocks = []
    for path in pages():
        text = path.read_text().splitlines()
        for index, line in enumerate(text):
            match = _MARKER.match(line.strip())
            if not match or match.group(1) != kind:
                continue
            opening = text[index + 1] if index + 1 < len(text) else ""
            if not _FENCE.match(opening):
                raise AssertionError(f"{path.relative_to(ROOT)}:{index + 1}: the marker {kind} must be "
                                     "followed by a fenced block")
            end = next(i for i in range(index + 2, len(text)) if text[i].startswith(opening[:3]))
            blocks.append(MarkedBlock(path, index + 1, kind, match.group(2), tuple(text[index + 2:end])))
    return blocks


SKIPPED = "…"


def excerpt_mismatch(excerpt: tuple[str, ...], output: list[str]) -> str | None:
    """None when `excerpt` is `output` shortened: a line that is only `…` stands for any number of
    skipped lines, a `…` within a line for any text; every other line must follow the one before it
    directly. Otherwise the first excerpt line that does not match, and why."""
    def same(wanted: str, line: str) -> bool:
        pattern = ".*".join(re.escape(part) for part in wanted.split(SKIPPED))
        return re.fullmatch(pattern, line) is not None

    position, gap = 0, True
    for wanted in excerpt:
        if wanted.strip() == SKIPPED:
            gap = True
            continue
        if gap:
            candidates = range(position, len(output))
        else:
            candidates = range(position, min(position + 1, len(output)))
        found = next((i for i in candidates if same(wanted, output[i])), None)
        if found is None:
            if gap:
                after = f"after {output[position - 1]!r}" if position else "anywhere"
                return f"{wanted!r} is not in the output {after}"
            there = output[position] if position < len(output) else "nothing"
            return f"{wanted!r} is not the next line of the output, which is {there!r}"
        position, gap = found + 1, False
    return None
