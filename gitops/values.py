"""Reading and editing the image of a values file (`envs/<env>/<service>/values.yaml`).

An edit changes the `image.tag` / `image.digest` scalars and not one byte more: comments,
quoting, key order, indentation, document markers, anchors, the trailing newline and CRLF line
endings all stay. ruamel.yaml's round-trip dumper cannot promise that (it rewrites CRLF, `...`,
odd indentation and the final newline), so, like pre-commit's autoupdate, the file is parsed with
ruamel to find the exact source span of each scalar, and only those spans are replaced. The result
is then verified: it must parse to the same node tree with only the two scalars changed, and only
the lines holding them may differ. Anything this cannot do safely fails closed with a ValuesError.
"""

from __future__ import annotations

import bisect
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import yaml as pyyaml
from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from gitops.errors import UsageError, ValuesError

# OCI distribution spec: a tag is at most 128 characters of [A-Za-z0-9_.-], not starting with . or -
_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,127}")
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
_STR_TAG = "tag:yaml.org,2002:str"
_NULL_TAG = "tag:yaml.org,2002:null"
# Anchor (&a) and tag (!!str) properties written before a scalar belong to its source span.
_PROPERTIES = re.compile(r"(?:[&!]\S*\s+)*")


@dataclass(frozen=True)
class ImageRef:
    repository: str | None
    tag: str | None
    digest: str | None


def validate_tag(tag: str) -> None:
    if not _TAG.fullmatch(tag):
        raise UsageError(f"{tag!r} is not a valid image tag: use 1 to 128 characters of "
                         "A-Z a-z 0-9 _ . -, not starting with . or -")


def validate_digest(digest: str) -> None:
    if not _DIGEST.fullmatch(digest):
        raise UsageError(f"{digest!r} is not a valid image digest: expected sha256: followed by "
                         "64 lowercase hex digits")


def deployable(image: ImageRef, where: str) -> ImageRef:
    """`image` when it names something to deploy (a valid tag, and a valid digest if any);
    otherwise a ValuesError naming the file `where`."""
    if image.tag is None:
        raise ValuesError(f"{where} has no image.tag")
    if not _TAG.fullmatch(image.tag):
        raise ValuesError(f"{where}: image.tag {image.tag!r} is not a valid image tag")
    if image.digest is not None and not _DIGEST.fullmatch(image.digest):
        raise ValuesError(f"{where}: image.digest {image.digest!r} is not sha256: followed by 64 "
                          "lowercase hex digits")
    return image


def read_image(path: Path) -> ImageRef:
    """The image of the values file at `path`."""
    return parse_image(read_text(path), str(path))


def read_text(path: Path) -> str:
    """The file's text exactly as stored (no newline translation)."""
    try:
        return path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise ValuesError(f"values file {path} does not exist") from None
    except UnicodeDecodeError as e:
        raise ValuesError(f"values file {path} is not UTF-8 ({e.reason} at byte {e.start})") from None


def parse_image(text: str, where: str) -> ImageRef:
    """The image in `text` (a values file's content; `where` names it in errors)."""
    doc = _Document(text, where)
    return ImageRef(*(_scalar_text(doc.image_field(key)) for key in ("repository", "tag", "digest")))


def set_image(text: str, tag: str, digest: str | None, where: str = "values file") -> str:
    """`text` with `image.tag` set to `tag` and `image.digest` to `digest`.

    A digest left None clears an existing digest when the tag changes, since it would pin the old
    image. Raises ValuesError when the file cannot be edited without touching anything else."""
    validate_tag(tag)
    if digest is not None:
        validate_digest(digest)
    doc = _Document(text, where)
    tag_node = doc.image_field("tag")
    if tag_node is None:
        raise ValuesError(f"{where} has no image.tag; add `tag:` under `image:`")
    digest_node = doc.image_field("digest")
    if digest is not None and digest_node is None:
        raise ValuesError(f'{where} has no image.digest; add `digest: ""` under `image:`')
    wanted = {"tag": tag}
    if digest_node is not None and (digest is not None or _scalar_text(tag_node) != tag):
        wanted["digest"] = digest or ""
    changes = {key: value for key, value in wanted.items()
               if _scalar_text(doc.image_field(key)) != (value or None)}
    edits = [doc.replacement(key, value) for key, value in changes.items()]
    new_text = text
    for start, end, replacement in sorted(edits, reverse=True):
        new_text = new_text[:start] + replacement + new_text[end:]
    _verify(doc, new_text, changes, [start for start, _, _ in edits], where)
    return new_text


class _Document:
    """One values file composed by ruamel, with its `image` mapping located."""

    def __init__(self, text: str, where: str) -> None:
        self.text, self.where = text, where
        try:
            docs = list(YAML(typ="rt").compose_all(text))
            # Composing does not construct; loading catches duplicate keys and bad tags too.
            list(YAML(typ="rt").load_all(text))
        except YAMLError as e:
            raise ValuesError(f"{where} is not valid YAML: {_one_line(e)}; fix the file") from None
        if len(docs) != 1:
            raise ValuesError(f"{where} holds {len(docs)} YAML documents; promote edits a file of "
                              "exactly one document")
        self.root = docs[0]
        if not isinstance(self.root, MappingNode):
            raise ValuesError(f"{where}: the top level is not a mapping; expected `image:` at the top")
        self.image = _lookup(self.root, "image")
        if self.image is None:
            raise ValuesError(f"{where} has no top-level `image:` key")
        if not isinstance(self.image, MappingNode):
            raise ValuesError(f"{where}: `image` is not a mapping of repository/tag/digest")
        self._refs = _reference_counts(self.root)

    def image_field(self, key: str) -> Node | None:
        return _lookup(self.image, key)

    def replacement(self, key: str, value: str) -> tuple[int, int, str]:
        """(start, end, text): the edit of the source that sets `image.<key>` to `value`."""
        node = self.image_field(key)
        what = f"{self.where}: image.{key}"
        if not isinstance(node, ScalarNode):
            raise ValuesError(f"{what} is not a scalar")
        if self._refs[id(self.image)] > 1 or self._refs[id(node)] > 1:
            raise ValuesError(f"{what} is shared through a YAML anchor and alias; editing it "
                              "would change the other uses too. Write the value out in place")
        if node.style in ("|", ">"):
            raise ValuesError(f"{what} is a block scalar; write it on one line")
        start, end = node.start_mark.index, node.end_mark.index
        source = self.text[start:end]
        if "\n" in source or "\r" in source:
            raise ValuesError(f"{what} spans several lines; write it on one line")
        rendered = _render(value, node.style, bool(self.image.flow_style))
        if start == end:
            # An empty value (`digest:`) has no span of its own: write after the key's colon.
            colon = self._colon_after(self._key_node(key))
            return colon + 1, colon + 1, " " + rendered
        prefix = _PROPERTIES.match(source).group(0)
        return start + len(prefix), end, rendered

    def _key_node(self, key: str) -> Node:
        return next(k for k, _ in self.image.value if isinstance(k, ScalarNode) and k.value == key)

    def _colon_after(self, key_node: Node) -> int:
        index = key_node.end_mark.index
        while index < len(self.text) and self.text[index] in " \t":
            index += 1
        if index >= len(self.text) or self.text[index] != ":":
            raise ValuesError(f"{self.where}: cannot locate the value of image.{key_node.value}; "
                              "write it as `key: value`")
        return index


def _lookup(mapping: MappingNode, key: str) -> Node | None:
    for key_node, value_node in mapping.value:
        if isinstance(key_node, ScalarNode) and key_node.value == key:
            return value_node
    return None


def _scalar_text(node: Node | None) -> str | None:
    """A scalar as written (so a tag `0123` stays "0123"); None for absent, null or empty."""
    if not isinstance(node, ScalarNode) or str(node.tag) == _NULL_TAG or node.value == "":
        return None
    return node.value


def _render(value: str, style: str | None, in_flow: bool) -> str:
    """`value` as a YAML scalar that reads back as that string, in the original quoting style."""
    if style == "'":
        return f"'{value}'"
    if style == '"':
        return f'"{value}"'
    if value and _plain_reads_as_string(value) and not (in_flow and ":" in value):
        return value
    return f'"{value}"'


def _plain_reads_as_string(value: str) -> bool:
    # Helm reads values with a YAML 1.1 parser (0123 is octal, yes is a bool); ruamel is YAML 1.2.
    # Leave a scalar unquoted only when both read it as the same string.
    return pyyaml.safe_load(value) == value and YAML(typ="safe").load(value) == value


def _reference_counts(root: Node) -> Counter[int]:
    """How many places in the document refer to each node (more than one means an alias)."""
    counts: Counter[int] = Counter()
    stack = [root]
    while stack:
        node = stack.pop()
        counts[id(node)] += 1
        if counts[id(node)] > 1:
            continue
        if isinstance(node, MappingNode):
            stack.extend(n for pair in node.value for n in pair)
        elif isinstance(node, SequenceNode):
            stack.extend(node.value)
    return counts


def _events(node: Node, path: tuple[str, ...] = (), seen: frozenset[int] = frozenset()
            ) -> Iterator[tuple[tuple[str, ...], str, str, str | None]]:
    """The node tree in document order as (path, kind, tag, scalar value) rows."""
    if id(node) in seen:  # a recursive alias: its content was listed where the anchor is
        yield path, "alias", str(node.tag), None
        return
    seen = seen | {id(node)}
    if isinstance(node, ScalarNode):
        yield path, "scalar", str(node.tag), node.value
    elif isinstance(node, MappingNode):
        yield path, "mapping", str(node.tag), None
        for key_node, value_node in node.value:
            yield from _events(key_node, (*path, "<key>"), seen)
            yield from _events(value_node, (*path, str(key_node.value)), seen)
    else:
        yield path, "sequence", str(node.tag), None
        for i, item in enumerate(node.value):
            yield from _events(item, (*path, str(i)), seen)


def _verify(before: _Document, new_text: str, changed: dict[str, str], edit_starts: list[int],
            where: str) -> None:
    """Fail closed unless `new_text` is `before` with exactly the `changed` image scalars."""
    after = _Document(new_text, where)
    expected = [(path, kind, _STR_TAG, changed[path[1]])
                if len(path) == 2 and path[0] == "image" and path[1] in changed else
                (path, kind, tag, value)
                for path, kind, tag, value in _events(before.root)]
    if list(_events(after.root)) != expected:
        raise ValuesError(f"{where}: the edit would change more than image.tag/image.digest "
                          "(unexpected YAML structure); edit this file by hand")
    old_lines, new_lines = before.text.splitlines(True), new_text.splitlines(True)
    line_starts = [0]
    for line in old_lines:
        line_starts.append(line_starts[-1] + len(line))
    edited_lines = {bisect.bisect_right(line_starts, start) - 1 for start in edit_starts}
    if len(old_lines) != len(new_lines) or any(
            old != new and i not in edited_lines
            for i, (old, new) in enumerate(zip(old_lines, new_lines))):
        raise ValuesError(f"{where}: the edit would change lines other than image.tag/"
                          "image.digest; edit this file by hand")


def _one_line(error: YAMLError) -> str:
    return " ".join(str(error).split())
