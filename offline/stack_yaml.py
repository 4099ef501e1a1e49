"""Reading Pulumi's YAML files (`Pulumi.yaml`, `Pulumi.<stack>.yaml`) strictly.

PyYAML keeps the last of two equal keys without a word; the Pulumi CLI refuses such a file, and so
does `load`: every duplicated key, at any depth, is reported with both lines. A syntax error is
shown as `file:line:column: problem`, then the offending line and a caret under the column, and
nothing of the parser's internals. A stack file is small: past `MAX_BYTES`, `MAX_DEPTH` levels of
nesting or `MAX_NODES` values once aliases are expanded, it is refused before any work grows with it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

# Generous for a config file (the example stacks are 2 KB, 60 levels shallower and 300 values).
MAX_BYTES = 1024 * 1024
MAX_DEPTH = 64
MAX_NODES = 100_000


class StackYamlError(ValueError):
    """The file is not YAML the tool accepts. The message starts `file:line:column: problem`."""


def _shown(path: Path) -> str:
    """The path as the user would type it: relative to the current directory when under it."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def _located(path: Path, mark: Any, problem: str, text: str) -> str:
    """`file:line:column: problem`, the line of `mark` and a caret under its column."""
    lines = text.splitlines()
    where = f"{_shown(path)}:{mark.line + 1}:{mark.column + 1}: {problem}"
    if mark.line >= len(lines):
        return where
    # Control characters (an escape sequence, a bell) are shown as '?', never sent to the terminal.
    line = "".join(char if char == "\t" or char.isprintable() else "?" for char in lines[mark.line])
    # Keep the line's tabs in the caret's indent so the caret sits under the column in a terminal.
    indent = "".join(char if char == "\t" else " " for char in line[:mark.column])
    return f"{where}\n  {line}\n  {indent}^"


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that records duplicate keys and bounds nesting and alias expansion."""

    def __init__(self, stream: str):
        super().__init__(stream)
        self.duplicates: list[tuple[Any, Any, Any]] = []  # (key, first key node, second key node)
        self._depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        self._depth += 1
        if self._depth > MAX_DEPTH:
            raise yaml.MarkedYAMLError(problem=f"nested deeper than {MAX_DEPTH} levels, the limit for a stack file",
                                       problem_mark=self.peek_event().start_mark)
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_document(self, node: Any) -> Any:
        _check_expanded_size(node)
        return super().construct_document(node)

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        seen: dict[Any, Any] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":  # `<<: *defaults` merges; explicit keys override it
                continue
            key = self.construct_object(key_node, deep=True)
            try:
                first = seen.setdefault(key, key_node)
            except TypeError:  # an unhashable key: the constructor below reports it
                continue
            if first is not key_node:
                self.duplicates.append((key, first, key_node))
        return super().construct_mapping(node, deep=deep)


def _check_expanded_size(root: Any) -> None:
    """Refuse a document whose values, with every alias expanded, exceed MAX_NODES ("billion
    laughs": each alias is one node in the file and a whole subtree to everything that walks it)."""
    sizes: dict[int, int] = {}

    def size(node: Any) -> int:
        known = sizes.get(id(node))
        if known is not None:
            return known
        sizes[id(node)] = 1  # a recursive alias counts once; the constructor handles recursion
        children = node.value if isinstance(node.value, list) else []
        total = 1
        for child in children:
            total += sum(size(part) for part in child) if isinstance(child, tuple) else size(child)
            if total > MAX_NODES:
                raise yaml.MarkedYAMLError(
                    problem=f"more than {MAX_NODES} values once its aliases are expanded, the limit for a stack file",
                    problem_mark=node.start_mark)
        sizes[id(node)] = total
        return total

    size(root)


class _Position:
    """A line and column (0-based, as yaml.Mark has them) of an error PyYAML reports by offset."""

    def __init__(self, text: str, offset: int):
        self.line = text.count("\n", 0, offset)
        self.column = offset - (text.rfind("\n", 0, offset) + 1)


def load(path: Path) -> Any:
    """The document of `path`, or StackYamlError naming every problem with its line."""
    size = path.stat().st_size
    if size > MAX_BYTES:
        raise StackYamlError(f"{_shown(path)}: {size} bytes, more than the {MAX_BYTES} a stack file may have")
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        text, valid = raw.decode("utf-8", errors="replace"), raw[:error.start].decode("utf-8")
        raise StackYamlError(_located(path, _Position(text, len(valid)), "not UTF-8: save the file as UTF-8",
                                      text)) from None
    loader = None
    try:
        loader = _StrictLoader(text)
        data = loader.get_single_data()
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark
        if mark is None or (error.context_mark and mark.line >= len(text.splitlines())):
            mark = error.context_mark  # "unexpected end of stream": where the unclosed thing starts
        problem = error.problem or error.context or "not valid YAML"
        if error.problem and error.context:
            # The context says what the parser was inside ("while scanning a quoted scalar"), and
            # where that started: often the real mistake is there.
            started = f" at line {error.context_mark.line + 1}" if error.context_mark else ""
            problem = f"{error.problem} ({error.context}{started})"
        if mark is None:
            raise StackYamlError(f"{_shown(path)}: {problem}") from None
        raise StackYamlError(_located(path, mark, problem, text)) from None
    except yaml.reader.ReaderError as error:
        problem = f"unacceptable character #x{error.character:04x}: {error.reason}"
        raise StackYamlError(_located(path, _Position(text, error.position), problem, text)) from None
    finally:
        if loader is not None:
            loader.dispose()
    if loader.duplicates:
        raise StackYamlError("\n".join(
            f"{_shown(path)}:{second.start_mark.line + 1}:{second.start_mark.column + 1}: duplicate key "
            f"{key!r}, first set at line {first.start_mark.line + 1}: keep one"
            for key, first, second in sorted(loader.duplicates, key=lambda d: d[2].start_mark.index)))
    return data
