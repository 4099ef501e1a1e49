"""YAML files the tool does not trust, read with bounded work and as Helm reads them.

Every YAML file the CLI reads (a values file, a chart's `values.yaml`, a freeze file, a block list)
goes through `compose`:

1. its size is at most MAX_BYTES;
2. libyaml streams its events (no tree, no recursion) to refuse syntax errors, nesting deeper
   than MAX_DEPTH and explicit tags Helm would refuse (`!!int abc`), before the recursive
   composer sees the file;
3. ruamel.yaml composes the node tree, where an alias is the anchored node itself, not a copy;
4. one pass over that graph refuses recursive aliases, more than MAX_NODES nodes once aliases are
   expanded (a few hundred bytes of nested aliases can stand for billions of nodes), and duplicate
   keys.

Each step is linear in the file's size, so the whole read is; everything after it may walk the
expanded tree, which the limits bound. A refusal is a ValuesError naming the file, line and limit.

`effective_items` and `to_python` read a mapping as go-yaml v2 does: a merge key (`<<: *x`) sets
every key of the merged mappings, overriding keys written before it, and keys after it win. `load`
reads the files only the tool reads (the freeze file, the block lists) as YAML 1.2, as ruamel.yaml
writes them.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import yaml as pyyaml
from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from gitops.yaml import goyaml
from gitops.errors import ValuesError
from gitops.yaml.errors import format_at, format_yaml_error

MAX_BYTES = 512 * 1024     # a values file of a few hundred services' settings is under 50 KiB
MAX_DEPTH = 64             # nested mappings and sequences; Helm values rarely pass 10
MAX_NODES = 100_000        # nodes of the document once every alias is expanded

_DEPTH_PROBLEM = f"nesting deeper than {MAX_DEPTH} levels (MAX_DEPTH); flatten the values"
_YAML_ORG = "tag:yaml.org,2002:"
_MERGE_TAG = _YAML_ORG + "merge"
# Anchor (&a) and tag (!!str) properties written before a node: the start of its source span.
_PROPERTIES = re.compile(r"(?:[&!]\S*\s+)*")
# Explicit tags go-yaml v2 accepts on any scalar (it reads !!binary as base64), and those it checks
# against what it resolves the scalar to.
_ANY_SCALAR_TAGS = {_YAML_ORG + "str", _YAML_ORG + "binary", _MERGE_TAG}
_CHECKED_SCALAR_TAGS = {_YAML_ORG + kind: kind for kind in
                        (goyaml.BOOL, goyaml.NULL, goyaml.INT, goyaml.FLOAT, goyaml.TIMESTAMP)}


def check_size(size: int, where: str) -> None:
    if size > MAX_BYTES:
        raise ValuesError(f"{where} is {size:,} bytes, over the limit of {MAX_BYTES:,} bytes "
                          "(MAX_BYTES); files this large are not read")


def compose(text: str, where: str) -> list[Node]:
    """The documents of `text` (the content of `where`) as ruamel node graphs, within the limits."""
    check_size(len(text.encode("utf-8", "surrogatepass")), where)
    _scan(text, where)
    try:
        documents = list(YAML(typ="rt").compose_all(text))
    except YAMLError as e:
        raise ValuesError(format_yaml_error(where, text, e)) from None
    for document in documents:
        _check_graph(document, text, where)
    return documents


def load(text: str, where: str) -> Any:
    """The data of `text` (the content of `where`, a file Helm never reads) within the limits of
    `compose`, constructed as YAML 1.2 (`on` and `no` stay the strings ruamel.yaml wrote); None
    when the file holds no document."""
    documents = compose(text, where)
    if len(documents) > 1:
        mark = documents[1].start_mark
        raise ValuesError(format_at(where, text, mark.line, mark.column,
                                    "a second YAML document; the file holds one"))
    if not documents:
        return None
    # The bounded graph, not the text again: aliases stay shared, so this is linear too.
    return YAML(typ="safe", pure=True).constructor.construct_document(documents[0])


def effective_items(mapping: MappingNode) -> dict[str, tuple[Node, Node, bool]]:
    """key -> (key node, value node, written in `mapping` itself) as go-yaml v2 builds the mapping:
    pairs in order, a merge key setting the keys of what it merges (earlier mappings of a merged
    sequence win among themselves), a later key replacing an earlier one."""
    items: dict[str, tuple[Node, Node, bool]] = {}
    for key_node, value_node in mapping.value:
        if is_merge_key(key_node):
            merged = value_node.value if isinstance(value_node, SequenceNode) else [value_node]
            for source in reversed(merged):
                if isinstance(source, MappingNode):
                    items.update({key: (k, v, False)
                                  for key, (k, v, _) in effective_items(source).items()})
        elif isinstance(key_node, ScalarNode):
            items[key_node.value] = (key_node, value_node, True)
    return items


def is_merge_key(node: Node) -> bool:
    return isinstance(node, ScalarNode) and node.value == "<<" and node.style is None


def to_python(node: Node, text: str) -> Any:
    """The value Helm reads from `node` (composed from `text`): scalars resolved by go-yaml v2's
    rules, merge keys applied in its order, aliases shared (the graph was bounded by `compose`)."""
    memo: dict[int, Any] = {}

    def build(n: Node) -> Any:
        if id(n) in memo:
            return memo[id(n)]
        if isinstance(n, ScalarNode):
            value = scalar_value(n, text)
        elif isinstance(n, SequenceNode):
            value = [build(item) for item in n.value]
        else:
            value = {key: build(v) for key, (_, v, _) in effective_items(n).items()}
        memo[id(n)] = value
        return value

    return build(node)


def scalar_value(node: ScalarNode, text: str) -> Any:
    """A scalar as go-yaml v2 gives it to Helm (a timestamp stays its text)."""
    tag = explicit_tag(node, text)
    if tag == _YAML_ORG + "binary":
        return base64.b64decode("".join(node.value.split())).decode("utf-8", "replace")
    if tag == _YAML_ORG + "str" or (tag is None and node.style is not None):
        return node.value
    kind, value = goyaml.resolve_plain(node.value)
    return value


def explicit_tag(node: Node, text: str) -> str | None:
    """The tag written on `node` (`!!str 1`), expanded like ruamel expands it; None when none is.
    The node's source span starts with its properties (anchor, tag), whatever their order."""
    head = text[node.start_mark.index:node.end_mark.index]
    for prop in _PROPERTIES.match(head).group(0).split():
        if prop.startswith("!"):
            return str(node.tag)
    return None


def _scan(text: str, where: str) -> None:
    """Stream libyaml's events to refuse syntax errors, deep nesting and tags Helm refuses, before
    the recursive composer sees the text. (libyaml scans a flow collection to its end before its
    first event, within its own nesting limit, so `[[[…` of any depth costs linear time.)"""
    depth = 0
    try:
        for event in pyyaml.parse(text, Loader=pyyaml.CSafeLoader):
            if isinstance(event, pyyaml.CollectionStartEvent):
                depth += 1
                if depth > MAX_DEPTH:
                    raise ValuesError(format_at(
                        where, text, event.start_mark.line, event.start_mark.column,
                        _DEPTH_PROBLEM))
            elif isinstance(event, pyyaml.CollectionEndEvent):
                depth -= 1
            elif isinstance(event, pyyaml.ScalarEvent) and event.tag not in (None, "!"):
                problem = _tag_problem(event.tag, event.value, event.style)
                if problem:
                    raise ValuesError(format_at(where, text, event.start_mark.line,
                                                event.start_mark.column, problem))
    except pyyaml.MarkedYAMLError as e:
        if "nesting depth" in (e.problem or ""):  # libyaml's own limit, far past ours
            raise ValuesError(format_at(where, text, e.problem_mark.line, e.problem_mark.column,
                                        _DEPTH_PROBLEM)) from None
        raise ValuesError(format_yaml_error(where, text, e)) from None
    except pyyaml.YAMLError as e:
        raise ValuesError(f"{where}: {' '.join(str(e).split())}") from None


def _tag_problem(tag: str, value: str, style: str | None) -> str | None:
    """Why go-yaml v2 cannot read `value` with the explicit `tag`, or None."""
    if tag == _YAML_ORG + "binary":
        try:
            base64.b64decode("".join(value.split()), validate=True)
        except binascii.Error:
            return f"!!binary {value[:40]!r} is not base64"
        return None
    wanted = _CHECKED_SCALAR_TAGS.get(tag)
    if tag in _ANY_SCALAR_TAGS or not tag.startswith(_YAML_ORG):
        return None  # go-yaml ignores local tags (!foo)
    kind, _ = goyaml.resolve_plain(value)
    if wanted is None:
        return f"!!{tag.removeprefix(_YAML_ORG)} is not a tag Helm reads on a scalar"
    if kind == wanted or (wanted == goyaml.FLOAT and kind == goyaml.INT):
        return None
    return (f"Helm cannot read {value[:40]!r} as !!{wanted} (it is a {kind}); drop the tag or "
            "fix the value")


@dataclass
class _Frame:
    node: Node
    children: Iterator[Node]
    size: int = 1
    depth: int = 1


def _check_graph(root: Node, text: str, where: str) -> None:
    """Refuse recursive aliases, more than MAX_NODES expanded nodes, nesting past MAX_DEPTH once
    aliases are followed, and duplicate keys: one iterative pass, each node visited once."""
    done: dict[int, tuple[int, int]] = {}  # node id -> (expanded size, depth)
    on_path: set[int] = set()
    stack = [_Frame(root, _children(root, text, where))]
    on_path.add(id(root))
    while stack:
        frame = stack[-1]
        child = next(frame.children, None)
        if child is None:
            stack.pop()
            on_path.discard(id(frame.node))
            done[id(frame.node)] = (frame.size, frame.depth)
            if stack:
                _add(stack[-1], frame.size, frame.depth, text, where)
            continue
        if id(child) in on_path:
            mark = child.start_mark
            raise ValuesError(format_at(where, text, mark.line, mark.column,
                                        "a recursive alias (the anchored node contains itself)"))
        if id(child) in done:
            _add(frame, *done[id(child)], text, where)
            continue
        on_path.add(id(child))
        stack.append(_Frame(child, _children(child, text, where)))


def _add(parent: _Frame, size: int, depth: int, text: str, where: str) -> None:
    parent.size += size
    parent.depth = max(parent.depth, depth + 1)
    mark = parent.node.start_mark
    if parent.size > MAX_NODES:
        raise ValuesError(format_at(
            where, text, mark.line, mark.column,
            f"more than {MAX_NODES:,} nodes once aliases are expanded (MAX_NODES); "
            "an alias bomb, or values to split"))
    if parent.depth > MAX_DEPTH:
        raise ValuesError(format_at(where, text, mark.line, mark.column,
                                    f"nesting deeper than {MAX_DEPTH} levels through aliases "
                                    "(MAX_DEPTH)"))


def _children(node: Node, text: str, where: str) -> Iterator[Node]:
    if isinstance(node, SequenceNode):
        return iter(node.value)
    if isinstance(node, MappingNode):
        _check_duplicate_keys(node, text, where)
        return iter([n for pair in node.value for n in pair])
    return iter(())


def _check_duplicate_keys(mapping: MappingNode, text: str, where: str) -> None:
    seen: dict[str, Node] = {}
    for key_node, _ in mapping.value:
        if not isinstance(key_node, ScalarNode):
            continue
        first = seen.setdefault(key_node.value, key_node)
        if first is not key_node:
            mark = key_node.start_mark
            raise ValuesError(format_at(
                where, text, mark.line, mark.column,
                f'duplicate key "{key_node.value}" (first at line {first.start_mark.line + 1}); '
                "keep one"))
