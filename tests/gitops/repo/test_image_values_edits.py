"""values.set_image on a corpus of tricky files: only image.tag/digest change, byte for byte."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml as pyyaml
from hypothesis import given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML

from gitops.repo import values
from gitops.errors import UsageError, ValuesError
from gitops.repo.values import ImageRef, parse_image, read_image, set_image

D1 = "sha256:" + "1" * 64
D2 = "sha256:" + "2" * 64

# (name, before, tag, digest, exact expected result)
EDITS = [
    ("comments and double quotes",
     "# top comment\nimage:  # the image\n  repository: r  # repo\n"
     "  tag: \"1.0.0\"   # set by CI\n  digest: \"\"\n# trailing comment\n",
     "1.0.1", D1,
     "# top comment\nimage:  # the image\n  repository: r  # repo\n"
     f"  tag: \"1.0.1\"   # set by CI\n  digest: \"{D1}\"\n# trailing comment\n"),
    ("single quotes stay single", "image:\n  tag: '1.2'\n", "1.3", None, "image:\n  tag: '1.3'\n"),
    ("plain number-like tag gets quoted", "image:\n  tag: abc\n", "0123", None,
     "image:\n  tag: \"0123\"\n"),
    ("plain float-like tag gets quoted", "image:\n  tag: v1\n", "1.2", None,
     "image:\n  tag: \"1.2\"\n"),
    ("YAML 1.1 boolean gets quoted", "image:\n  tag: v1\n", "yes", None,
     "image:\n  tag: \"yes\"\n"),
    ("plain stays plain when it reads as a string", "image:\n  tag: 1.2.3\n", "1.2.4", None,
     "image:\n  tag: 1.2.4\n"),
    ("number-like plain tag replaced", "image:\n  tag: 0123\n", "v2", None, "image:\n  tag: v2\n"),
    ("flow mapping", "image: {repository: r, tag: x, digest: \"\"}\nreplicas: 1\n", "v2", D1,
     f"image: {{repository: r, tag: v2, digest: \"{D1}\"}}\nreplicas: 1\n"),
    ("flow mapping, plain digest needs quotes", "image: {tag: x, digest: d}\n", "v2", D1,
     f"image: {{tag: v2, digest: \"{D1}\"}}\n"),
    ("CRLF line endings", "a: 1\r\nimage:\r\n  tag: \"1\"\r\n  digest: \"\"\r\nb: 2\r\n", "2", D1,
     f"a: 1\r\nimage:\r\n  tag: \"2\"\r\n  digest: \"{D1}\"\r\nb: 2\r\n"),
    ("no trailing newline", "image:\n  tag: a", "b", None, "image:\n  tag: b"),
    ("document markers", "---\nimage:\n  tag: a\n...\n", "b", None, "---\nimage:\n  tag: b\n...\n"),
    ("odd indentation", "image:\n   repository: r\n   tag:    \"a\"\n   digest:   ''\n", "b", D1,
     f"image:\n   repository: r\n   tag:    \"b\"\n   digest:   '{D1}'\n"),
    ("one-space indentation", "image:\n tag: a\nx:\n - 1\n", "b", None,
     "image:\n tag: b\nx:\n - 1\n"),
    ("anchors and aliases elsewhere",
     "defaults: &d\n  pullPolicy: IfNotPresent\nimage:\n  <<: *d\n  tag: a # here\n"
     "sidecar: *d\nlist: [&x 1, *x]\n", "b", None,
     "defaults: &d\n  pullPolicy: IfNotPresent\nimage:\n  <<: *d\n  tag: b # here\n"
     "sidecar: *d\nlist: [&x 1, *x]\n"),
    ("unused anchor on the tag kept", "image:\n  tag: &t a\n", "b", None, "image:\n  tag: &t b\n"),
    ("explicit !!str tag kept", "image:\n  tag: !!str 0123\n", "0124", None,
     "image:\n  tag: !!str \"0124\"\n"),
    ("empty digest gets a value", "image:\n  tag: a\n  digest:\nz: 1\n", "b", D1,
     f"image:\n  tag: a\n  digest: {D1}\nz: 1\n".replace("tag: a", "tag: b")),
    ("null digest replaced", "image:\n  tag: a\n  digest: ~  # none\n", "b", D1,
     f"image:\n  tag: b\n  digest: {D1}  # none\n"),
    ("stale digest cleared when the tag moves without one",
     f"image:\n  tag: a\n  digest: \"{D1}\"\n", "b", None, "image:\n  tag: b\n  digest: \"\"\n"),
    ("digest only changes", f"image:\n  tag: a\n  digest: '{D1}'\n", "a", D2,
     f"image:\n  tag: a\n  digest: '{D2}'\n"),
    ("nested image keys elsewhere untouched",
     "sidecar:\n  image:\n    tag: a\nimage:\n  tag: a\n", "b", None,
     "sidecar:\n  image:\n    tag: a\nimage:\n  tag: b\n"),
    ("unicode comments", "# équipe 🚀\nimage:\n  tag: a  # ünïcode\n", "b", None,
     "# équipe 🚀\nimage:\n  tag: b  # ünïcode\n"),
    ("image key last, blank lines and tabs in comments",
     "x: 1\n\n\n#\tnote\nimage:\n\n  tag: a\n", "b", None, "x: 1\n\n\n#\tnote\nimage:\n\n  tag: b\n"),
]


@pytest.mark.parametrize("name,before,tag,digest,expected", EDITS, ids=[e[0] for e in EDITS])
def test_edit_changes_only_the_image_scalars(name, before, tag, digest, expected):
    after = set_image(before, tag, digest)
    assert after == expected
    image = parse_image(after, "f")
    assert image.tag == tag
    # Helm's YAML 1.1 reader and ruamel's 1.2 both see the tag as that exact string.
    assert pyyaml.safe_load(after)["image"]["tag"] == tag
    assert YAML(typ="safe").load(after)["image"]["tag"] == tag


def test_same_tag_and_digest_returns_the_text_unchanged():
    text = f"image:\n  tag: 'a'\n  digest: {D1}\n"
    assert set_image(text, "a", D1) == text
    assert set_image(text, "a", None) == text  # no digest given: the existing one stays


# (name, text, what the error must say)
REFUSED = [
    ("several documents", "image:\n  tag: a\n---\nimage:\n  tag: b\n", "2 YAML documents"),
    ("malformed YAML", "image:\n  tag: [a\n", "values.yaml:3:1: did not find expected ',' or ']'"),
    ("duplicate key", "image:\n  tag: a\n  tag: b\n", 'values.yaml:3:3: duplicate key "tag"'),
    ("list root", "- image: x\n", "top level is not a mapping"),
    ("scalar root", "just text\n", "top level is not a mapping"),
    ("empty file", "", "0 YAML documents"),
    ("no image key", "replicas: 1\n", "no top-level `image:`"),
    ("image is a string", "image: nginx:1.2\n", "`image` is not a mapping"),
    ("no tag", "image:\n  repository: r\n", "no image.tag"),
    ("tag is a mapping", "image:\n  tag: {a: 1}\n", "image.tag is not a scalar"),
    ("block scalar tag", "image:\n  tag: |\n    a\n", "block scalar"),
    ("multi-line tag", "image:\n  tag: \"a\n    b\"\n", "spans several lines"),
    ("tag is an alias", "base: &t a\nimage:\n  tag: *t\n", "anchor and alias"),
    ("tag anchored and aliased", "image:\n  tag: &t a\nother: *t\n", "anchor and alias"),
    ("image is an alias", "base: &i\n  tag: a\nimage: *i\n", "anchor and alias"),
]


@pytest.mark.parametrize("name,text,message", REFUSED, ids=[r[0] for r in REFUSED])
def test_unsafe_files_fail_closed(name, text, message):
    with pytest.raises(ValuesError, match=message):
        set_image(text, "b", None, "envs/x/y/values.yaml")


def test_digest_needs_a_digest_key():
    with pytest.raises(ValuesError, match="no image.digest"):
        set_image("image:\n  tag: a\n", "b", D1)


@pytest.mark.parametrize("tag", ["", ".hidden", "-x", "a" * 129, "a/b", "a:b", "tag with space",
                                 "ünï", "a\nb"])
def test_invalid_tags_are_usage_errors(tag):
    with pytest.raises(UsageError, match="not a valid image tag"):
        set_image("image:\n  tag: a\n", tag, None)


@pytest.mark.parametrize("digest", ["sha256:" + "A" * 64, "sha256:" + "a" * 63, "sha512:" + "a" * 64,
                                    "a" * 64, "sha256:" + "g" * 64])
def test_invalid_digests_are_usage_errors(digest):
    with pytest.raises(UsageError, match="not a valid image digest"):
        set_image("image:\n  tag: a\n  digest: ''\n", "b", digest)


def test_verification_rejects_an_edit_that_touches_anything_else():
    doc = values._Document("image:\n  tag: a\nother: 1\n", "f")
    with pytest.raises(ValuesError, match="more than image.tag"):
        values._verify(doc, "image:\n  tag: b\nother: 2\n", {"tag": "b"}, [(15, 16, "b")], "f")
    with pytest.raises(ValuesError, match="lines other than"):
        values._verify(doc, "image:\n  tag: b\nother:   1\n", {"tag": "b"}, [(15, 16, "b")], "f")


def test_read_image(tmp_path: Path):
    path = tmp_path / "values.yaml"
    path.write_bytes(f"image:\r\n  repository: r\r\n  tag: '0123'\r\n  digest: {D1}\r\n".encode())
    assert read_image(path) == ImageRef("r", "0123", D1)
    # Unquoted, Helm reads 0123 as the octal integer 83, and a template prints "83".
    path.write_bytes(b"image:\n  tag: 0123\n")
    assert read_image(path) == ImageRef(None, "83", None)
    path.write_bytes(b"image:\n  tag: \xff\n")
    with pytest.raises(ValuesError, match="not UTF-8"):
        read_image(path)
    with pytest.raises(ValuesError, match="does not exist"):
        read_image(tmp_path / "missing.yaml")


_tags = st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,20}", fullmatch=True)


@settings(max_examples=150, deadline=None)
@given(old=_tags, new=_tags, quote=st.sampled_from(["", "'", '"']), crlf=st.booleans(),
       indent=st.integers(1, 4))
def test_any_valid_tag_round_trips_and_only_its_line_changes(old, new, quote, crlf, indent):
    pad = " " * indent
    nl = "\r\n" if crlf else "\n"
    old_scalar = f"{quote}{old}{quote}" if quote else f"'{old}'"
    before = nl.join(["# c", "image:", f"{pad}repository: r", f"{pad}tag: {old_scalar}  # t",
                      "other: [1, 2]", ""])
    after = set_image(before, new, None)
    assert parse_image(after, "f").tag == new
    assert pyyaml.safe_load(after)["image"]["tag"] == new
    before_lines, after_lines = before.split(nl), after.split(nl)
    assert len(before_lines) == len(after_lines)
    assert [i for i, (a, b) in enumerate(zip(before_lines, after_lines)) if a != b] in ([], [3])
