"""What Helm itself reads: libhelm (Helm's Go code, from helm-python-sdk) parses the values files
and renders the templates that promote's edits feed, offline.

The candidates come from go-yaml v2's resolver rules (gitops.yaml.goyaml), not from a list of examples:
every exact spelling of its table, and scalars generated from the alphabets its rules look at
(signs, digits, base prefixes, underscores, dots, exponents, colons, dashes)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml as pyyaml
from hypothesis import given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML

from gitops.yaml import goyaml
from gitops.repo.values import parse_image, set_image

helm_chart = pytest.importorskip("helm_python.chart")

# Every spelling go-yaml v2 resolves by table, and forms each of its numeric rules accepts.
TABLE = sorted(word for word in goyaml._EXACT if word)
RULE_FORMS = [
    "0", "00", "07", "08", "017", "0o17", "0O17", "0x1F", "0X1f", "0b101", "0B1", "-0b11", "+0x1F",
    "1_000", "1__0", "_1", "1_", "0x_1F", "9223372036854775807", "9223372036854775808",
    "18446744073709551615", "18446744073709551616", "-9223372036854775809", "0x10000000000000000",
    "1.10", "1.", ".5", "-.5", "+1.5e3", "1e3", "1E-3", "1e400", ".5e999", "1_0.5", "1.2.3", "1e",
    "1:20", "1:2:3", "190:20:30", "2001-12-14", "2001-1-2", "2001-13-01", "2001-02-30",
    "20011214", "1-2-3", "v1.2", "1.2-rc1", "1e3-x", "0xg", "0o8", "0b2", "~x", "yes1", "on_",
    "yEs", "nO", "tRUE", "oN", ".Nan", ".iNf", "+.Inf", "-.NAN", "Null", "nULL", "YN", "ny",
]
# Tags as OCI spells them, from the characters the resolver rules care about.
_TAG_CHARS = "0123456789._-eExXoObByYnNtTfF"


def _helm_reads(yaml_text: str) -> object:
    """The value of key `v` in `yaml_text` as Helm's values reader returns it."""
    return helm_chart.values_from_yaml(yaml_text)["v"]


def test_the_resolver_table_agrees_with_helm_on_every_spelling_and_rule_form() -> None:
    for text in [*TABLE, *RULE_FORMS]:
        kind, value = goyaml.resolve_plain(text)
        try:
            helm = _helm_reads(f"v: {text}\n")
        except Exception:  # Helm's JSON step refuses infinities and NaN: not a string either
            assert kind == goyaml.FLOAT, text
            continue
        assert (isinstance(helm, str) and helm == text) == (kind in (goyaml.STR, goyaml.TIMESTAMP)), \
            (text, kind, helm)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=_TAG_CHARS, min_size=1, max_size=10).filter(lambda t: t[0] not in ".-"))
def test_the_resolver_agrees_with_helm_on_generated_scalars(text: str) -> None:
    kind, _ = goyaml.resolve_plain(text)
    try:
        helm = _helm_reads(f"v: {text}\n")
    except Exception:
        assert kind == goyaml.FLOAT
        return
    assert (helm == text) == (kind in (goyaml.STR, goyaml.TIMESTAMP)), (text, kind, helm)


def _render(tmp_path: Path, values: str) -> str:
    """What Helm renders for `{{ .Values.image.tag }}` with `values` as the chart's values.yaml."""
    chart = tmp_path / "chart"
    (chart / "templates").mkdir(parents=True, exist_ok=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: probe\nversion: 0.1.0\n")
    (chart / "templates" / "cm.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: probe}\ndata:\n"
        "  tag: {{ .Values.image.tag | toString | quote }}\n")
    (chart / "values.yaml").write_text(values)
    with helm_chart.Chart.load(chart) as loaded:
        manifest = loaded.render(name="probe", namespace="default")["probe/templates/cm.yaml"]
    return json.loads(manifest.split("tag: ", 1)[1].strip())


@pytest.mark.parametrize("written", ["1.10", "0123", "0x1F", "1e3", "1000000", "123456789",
                                     "1_000", "yes", "y", "off", "0.000012", "5", "1.5e-7"])
def test_what_the_tool_reads_is_what_helm_renders(tmp_path: Path, written: str) -> None:
    values = f"image:\n  repository: r\n  tag: {written}\n"
    assert parse_image(values, "values.yaml").tag == _render(tmp_path, values)


@settings(max_examples=120, deadline=None)
@given(tag=st.from_regex(r"[0-9yYnNoOtTfF_][0-9._eExXoObB_-]{0,8}", fullmatch=True),
       style=st.sampled_from(["plain", "'", '"']))
def test_every_tag_promote_writes_reads_back_as_that_string_in_every_reader(tag: str, style: str) -> None:
    old = {"plain": "v0", "'": "'v0'", '"': '"v0"'}[style]
    after = set_image(f"image:\n  repository: r\n  tag: {old}\n", tag, None)
    assert _helm_reads(after.replace("image:\n  repository: r\n  tag:", "v:")) == tag
    assert pyyaml.safe_load(after)["image"]["tag"] == tag          # YAML 1.1
    assert YAML(typ="safe").load(after)["image"]["tag"] == tag     # YAML 1.2


def test_a_digest_through_a_merge_key_is_cleared_for_helm(tmp_path: Path) -> None:
    digest = "sha256:" + "1" * 64
    before = (f"defaults: &defaults\n  repository: r\n  digest: {digest}\n"
              "image:\n  <<: *defaults  # shared settings\n  tag: \"1.0\"\n")
    after = set_image(before, "2.0", None)
    assert after == before.replace("# shared settings\n", '# shared settings\n  digest: ""\n') \
        .replace('"1.0"', '"2.0"')
    helm = helm_chart.values_from_yaml(after)
    assert helm["image"] == {"repository": "r", "tag": "2.0", "digest": ""}
    assert helm["defaults"]["digest"] == digest  # the anchored mapping is untouched


def test_a_tag_written_before_a_merge_key_that_overrides_it_is_refused() -> None:
    # go-yaml v2 lets the merge override the key written before it: Helm reads the merged tag.
    before = "base: &b {tag: '1.0'}\nimage:\n  tag: '9.9'\n  <<: *b\n"
    assert helm_chart.values_from_yaml(before)["image"]["tag"] == "1.0"
    assert parse_image(before, "f").tag == "1.0"
    with pytest.raises(Exception, match="overrides the `tag:` written before it"):
        set_image(before, "2.0", None)


def test_a_tag_helm_reads_as_a_number_is_rewritten_even_with_the_same_text(tmp_path: Path) -> None:
    before = "image:\n  repository: r\n  tag: 1.10\n"
    assert _render(tmp_path, before) == "1.1"
    after = set_image(before, "1.10", None)
    assert after == 'image:\n  repository: r\n  tag: "1.10"\n'
    assert _render(tmp_path, after) == "1.10"


@pytest.mark.parametrize("text,needle", [
    ("v: !!int abc\n", "cannot decode"),
    ("v: !!float x\n", "cannot decode"),
    ("v: !!bool maybe\n", "cannot decode"),
])
def test_tags_helm_refuses_are_refused_by_the_tool_too(text: str, needle: str) -> None:
    from gitops.errors import ValuesError
    from gitops.yaml.document import compose

    with pytest.raises(Exception, match=needle):
        helm_chart.values_from_yaml(text)
    with pytest.raises(ValuesError, match="Helm cannot read"):
        compose(text, "f")
