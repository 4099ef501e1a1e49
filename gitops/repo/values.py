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
from dataclasses import dataclass
from pathlib import Path

import yaml as pyyaml
from ruamel.yaml import YAML
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from gitops.repo import files
from gitops.yaml import document, goyaml
from gitops.errors import UsageError, ValuesError

# OCI distribution spec: a tag is at most 128 characters of [A-Za-z0-9_.-], not starting with . or -
_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,127}")
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
_STR_TAG = "tag:yaml.org,2002:str"
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


def read_image(path: Path, name: str | None = None) -> ImageRef:
    """The image of the values file at `path` (`name` names it in errors)."""
    name = name or str(path)
    return parse_image(read_text(path, name), name)


def read_text(path: Path, name: str | None = None) -> str:
    """The file's text exactly as stored (no newline translation); a symlink, a directory, a FIFO,
    a file over the size limit or not UTF-8 is refused (gitops.repo.files)."""
    return files.read_text(path, name or f"values file {path}")


def parse_image(text: str, where: str) -> ImageRef:
    """The image in `text` (a values file's content; `where` names it in errors) as Helm reads it:
    through merge keys, and `tag: 1.10` as the number 1.1 a template prints."""
    doc = _Document(text, where)
    return ImageRef(*(doc.helm_text(key) for key in ("repository", "tag", "digest")))


def set_image(text: str, tag: str, digest: str | None, where: str = "values file") -> str:
    """`text` with `image.tag` set to `tag` and `image.digest` to `digest`, as Helm reads them.

    A digest left None clears an existing digest when the tag changes, since it would pin the old
    image; a digest that reaches `image` through a merge key is cleared by writing `digest: ""` on
    a line of its own after that key. A value Helm would read as something else than the string
    asked for (`tag: 1.10` is the number 1.1) is rewritten even when its text is the same. Raises
    ValuesError when the file cannot be edited without touching anything else."""
    validate_tag(tag)
    if digest is not None:
        validate_digest(digest)
    doc = _Document(text, where)
    if doc.field("tag") is None:
        raise ValuesError(f"{where} has no image.tag; add `tag:` under `image:`")
    if digest is not None and doc.field("digest") is None:
        raise ValuesError(f'{where} has no image.digest; add `digest: ""` under `image:`')
    wanted = {"tag": tag}
    if doc.field("digest") is not None and (digest is not None or doc.helm_text("tag") != tag):
        wanted["digest"] = digest or ""
    changes = {key: value for key, value in wanted.items()
               if doc.helm_text(key) != (value or None) or not doc.reads_exactly(key)}
    edits = [doc.edit(key, value) for key, value in changes.items()]
    new_text = text
    for start, end, replacement in sorted(edits, reverse=True):
        new_text = new_text[:start] + replacement + new_text[end:]
    _verify(doc, new_text, changes, edits, where)
    return new_text


class _Document:
    """One values file composed within the limits of gitops.yaml.document, with its `image` located."""

    def __init__(self, text: str, where: str) -> None:
        self.text, self.where = text, where
        docs = document.compose(text, where)
        if len(docs) != 1:
            raise ValuesError(f"{where} holds {len(docs)} YAML documents; promote edits a file of "
                              "exactly one document")
        self.root = docs[0]
        if not isinstance(self.root, MappingNode):
            raise ValuesError(f"{where}: the top level is not a mapping; expected `image:` at the top")
        image = document.effective_items(self.root).get("image")
        if image is None:
            raise ValuesError(f"{where} has no top-level `image:` key")
        self.image = image[1]
        if not isinstance(self.image, MappingNode):
            raise ValuesError(f"{where}: `image` is not a mapping of repository/tag/digest")
        self.fields = document.effective_items(self.image)
        self._refs = _reference_counts(self.root)

    def field(self, key: str) -> Node | None:
        """The node Helm takes `image.<key>` from (through a merge key if it comes from one)."""
        item = self.fields.get(key)
        return item[1] if item else None

    def helm_text(self, key: str) -> str | None:
        """What a template prints for `image.<key>`; None when absent, null or empty."""
        node = self.field(key)
        if not isinstance(node, ScalarNode):
            return None
        tag = document.explicit_tag(node, self.text)
        if tag == _STR_TAG or (tag is None and node.style is not None):
            return node.value or None
        if tag is not None:
            raise ValuesError(f"{self.where}: image.{key} carries the tag {tag!r}; write it as a "
                              "plain or quoted string")
        return goyaml.template_text(*goyaml.resolve_plain(node.value)) or None

    def reads_exactly(self, key: str) -> bool:
        """True when every YAML reader (Helm's, YAML 1.1, YAML 1.2) reads `image.<key>` as the
        string written, so leaving it as it is leaves nothing to chance."""
        node = self.field(key)
        if not isinstance(node, ScalarNode) or node.style is not None:
            return True
        return (document.explicit_tag(node, self.text) == _STR_TAG or node.value == ""
                or _plain_reads_as_string(node.value))

    def edit(self, key: str, value: str) -> tuple[int, int, str]:
        """(start, end, text): the edit of the source that sets `image.<key>` to `value`."""
        key_node, node, own = self.fields[key]
        what = f"{self.where}: image.{key}"
        if not own:
            return self._insertion_after_merge(key, value)
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
            colon = self._colon_after(key_node)
            return colon + 1, colon + 1, " " + rendered
        prefix = _PROPERTIES.match(source).group(0)
        return start + len(prefix), end, rendered

    def _insertion_after_merge(self, key: str, value: str) -> tuple[int, int, str]:
        """A `key: "value"` line right after the image's merge key: Helm's reader lets a later key
        win over merged ones, and YAML's merge rule lets any own key win, so both read the new
        value while the anchored mapping stays as it is."""
        what = f"{self.where}: image.{key}"
        merge_key = next(k for k, _ in self.image.value if document.is_merge_key(k))
        if self.image.flow_style or any(k.value == key for k, _ in self.image.value
                                        if isinstance(k, ScalarNode)):
            raise ValuesError(
                f"{what} comes through the merge key `<<` (line {merge_key.start_mark.line + 1}), "
                f"which overrides the `{key}:` written before it in Helm; write `{key}:` once, "
                "after the merge key")
        line_start = self.text.rfind("\n", 0, merge_key.start_mark.index) + 1
        indent = self.text[line_start:merge_key.start_mark.index]
        line_end = self._line_end(merge_key.end_mark.index)
        rest = self.text[self._colon_after(merge_key) + 1:line_end].split("#", 1)[0].strip()
        if indent.strip(" ") or not rest:
            raise ValuesError(f"{what} comes through the merge key `<<` on line "
                              f"{merge_key.start_mark.line + 1}; write the merge key and its "
                              f"aliases on one line of its own, or set `{key}:` after it by hand")
        newline = "\r\n" if self.text[line_end:line_end + 2] == "\r\n" else "\n"
        return line_end, line_end, f'{newline}{indent}{key}: "{value}"'

    def _line_end(self, index: int) -> int:
        ends = [i for i in (self.text.find("\r\n", index), self.text.find("\n", index)) if i >= 0]
        return min(ends) if ends else len(self.text)

    def _colon_after(self, key_node: Node) -> int:
        index = key_node.end_mark.index
        while index < len(self.text) and self.text[index] in " \t":
            index += 1
        if index >= len(self.text) or self.text[index] != ":":
            raise ValuesError(f"{self.where}: cannot locate the value of image.{key_node.value}; "
                              "write it as `key: value`")
        return index


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
    """True when Helm's go-yaml v2, YAML 1.1 (PyYAML) and YAML 1.2 (ruamel) all read the plain
    scalar `value` as that same string; anything else is written quoted."""
    return (goyaml.reads_as_string(value) and pyyaml.safe_load(value) == value
            and YAML(typ="safe").load(value) == value)


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


Row = tuple[tuple[str, ...], str, str, "str | None"]


def _events(node: Node) -> list[Row]:
    """The node tree in document order as (path, kind, tag, scalar value) rows; an alias's content
    is listed again where it is used (the document was bounded by document.MAX_NODES), a recursive
    one is refused by yamldoc."""
    rows: list[Row] = []
    stack: list[tuple[Node, tuple[str, ...]]] = [(node, ())]
    while stack:
        current, path = stack.pop()
        if isinstance(current, ScalarNode):
            rows.append((path, "scalar", str(current.tag), current.value))
        elif isinstance(current, MappingNode):
            rows.append((path, "mapping", str(current.tag), None))
            for key_node, value_node in reversed(current.value):
                stack.append((value_node, (*path, str(key_node.value))))
                stack.append((key_node, (*path, "<key>")))
        else:
            rows.append((path, "sequence", str(current.tag), None))
            stack.extend((item, (*path, str(i))) for i, item in reversed(list(enumerate(current.value))))
    return rows


def _verify(before: _Document, new_text: str, changed: dict[str, str],
            edits: list[tuple[int, int, str]], where: str) -> None:
    """Fail closed unless `new_text` is `before` with exactly the `changed` image scalars (edited
    in place, or one line inserted after the merge key), and Helm reads the values asked for."""
    after = _Document(new_text, where)
    expected: list[Row] = []
    inserted = [key for key in changed if not before.fields[key][2]]
    for path, kind, tag, value in _events(before.root):
        if len(path) == 2 and path[0] == "image" and path[1] in changed and kind == "scalar":
            value, tag = changed[path[1]], _STR_TAG
        expected.append((path, kind, tag, value))
    if inserted:
        # The new pairs follow everything the merge key's value lists.
        last_merge_row = max(i for i, (path, *_) in enumerate(expected) if path[:2] == ("image", "<<"))
        for key in reversed(inserted):
            expected[last_merge_row + 1:last_merge_row + 1] = [
                (("image", "<key>"), "scalar", _STR_TAG, key),
                (("image", key), "scalar", _STR_TAG, changed[key])]
    if _events(after.root) != expected or any(
            after.helm_text(key) != (value or None) for key, value in changed.items()):
        raise ValuesError(f"{where}: the edit would change more than image.tag/image.digest "
                          "(unexpected YAML structure); edit this file by hand")
    old_lines = before.text.splitlines(True)
    new_lines = new_text.splitlines(True)
    line_starts = [0]
    for line in old_lines:
        line_starts.append(line_starts[-1] + len(line))
    edited_lines = {bisect.bisect_right(line_starts, start) - 1 for start, _, _ in edits}
    added = sum(text.count("\n") for _, _, text in edits)
    kept = [line for i, line in enumerate(old_lines) if i not in edited_lines]
    if len(new_lines) != len(old_lines) + added or not _in_order(kept, new_lines):
        raise ValuesError(f"{where}: the edit would change lines other than image.tag/"
                          "image.digest; edit this file by hand")


def _in_order(kept: list[str], new_lines: list[str]) -> bool:
    """True when the lines not edited appear in `new_lines` in their order (a subsequence)."""
    remaining = iter(new_lines)
    return all(any(line == candidate for candidate in remaining) for line in kept)
