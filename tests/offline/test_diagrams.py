"""The pipeline images `make plan --diagram-dir` draws, and the copies the README shows."""

import os
import xml.etree.ElementTree as ET

import pytest

from offline import render
from tests.conftest import REPO_ROOT, cached_plan

DOCS = REPO_ROOT / "docs" / "diagrams"
SVG = "{http://www.w3.org/2000/svg}"


def pipeline(stack: str, name: str):
    plan = cached_plan(stack)
    return next(p for p in render.pipelines(plan) if p.inputs["name"] == name)


def texts(svg: str) -> list[str]:
    root = ET.fromstring(svg)
    return ["".join(t.itertext()) for t in root.iter(f"{SVG}text")]


def test_image_shows_every_stage_and_action_with_parallel_groups():
    staging = pipeline("staging", "shop-api-staging")
    svg = render.pipeline_svg(staging)
    shown = texts(svg)
    for stage in staging.inputs["stages"]:
        assert stage["name"] in shown
        for action in stage["actions"]:
            assert any(text.startswith(action["name"]) for text in shown), action["name"]
    assert "runOrder 1 (parallel)" in shown  # BuildImage and UnitTest
    assert any("filePaths: services/api/**, libs/**" in text for text in shown)


def test_image_marks_the_cross_region_action():
    svg = render.pipeline_svg(pipeline("prod", "shop-api-prod-verify"))
    root = ET.fromstring(svg)
    highlighted = [r for r in root.iter(f"{SVG}rect") if r.get("fill") == "#fff4e0"]
    assert len(highlighted) == 1
    assert any(t.startswith("Verify-eu-west-1") and "region: eu-west-1" in t for t in texts(svg))


def test_diagram_dir_gets_mermaid_and_svg_per_pipeline(tmp_path):
    written = render.write_diagrams(cached_plan("prod"), tmp_path)
    assert sorted(p.name for p in written) == sorted(
        f"shop-{s}-prod{kind}.{ext}" for s in ("api", "web", "worker") for kind in ("", "-verify")
        for ext in ("mmd", "svg"))


@pytest.mark.parametrize("stack, name", [("staging", "shop-api-staging"), ("prod", "shop-api-prod"),
                                         ("prod", "shop-api-prod-verify")])
def test_readme_images_are_what_the_plan_draws(stack, name):
    """docs/diagrams/ holds the README's images; UPDATE_SNAPSHOTS=1 redraws them after a change."""
    current = render.pipeline_svg(pipeline(stack, name))
    path = DOCS / f"{name}.svg"
    if os.environ.get("UPDATE_SNAPSHOTS") == "1":
        path.write_text(current)
    assert path.read_text() == current, "pipeline changed: redraw with UPDATE_SNAPSHOTS=1 make test"


GATES = {"delivery-pipeline:promotion": {
    "mode": "pull-request", "windows": {"cron": "* * 9-16 ? * MON-THU *", "timeZone": "Europe/Berlin"},
    "blockingAlarms": ["shop-prod-health"], "bakeMinutes": 30}}


def gated_pipeline(name: str):
    return next(p for p in render.pipelines(cached_plan("prod", GATES)) if p.inputs["name"] == name)


def test_the_diagrams_and_the_tree_show_the_release_gates():
    promote = gated_pipeline("shop-api-prod")
    mermaid = render.pipeline_diagram(promote)
    # The entry condition is a node of the Promote stage, before its actions.
    assert ('S3E{{"entry: all pass, else fail<br/>window * * 9-16 ? * MON-THU * Europe/Berlin, waits for it'
            '<br/>alarm shop-prod-health not in ALARM"}}') in mermaid
    assert "S3E --> S3R1" in mermaid
    shown = " ".join(texts(render.pipeline_svg(promote)))
    assert "entry: all pass, else fail" in shown and "shop-prod-health" in shown and "Europe/Berlin" in shown
    verify = gated_pipeline("shop-api-prod-verify")
    assert 'S1K{{"on success: all pass, else fail<br/>alarm shop-prod-health not in ALARM for 30m"}}' in \
        render.pipeline_diagram(verify)
    assert "S1R1 --> S1K" in render.pipeline_diagram(verify)
    tree = render.tree_lines(cached_plan("prod", GATES))
    assert ("      gate Verify on success: all pass, else fail: alarm shop-prod-health not in ALARM for 30m"
            in tree)


def test_an_ungated_pipeline_draws_no_condition():
    plain = pipeline("staging", "shop-api-staging")
    assert "{{" not in render.pipeline_diagram(plain)
    assert not render.gate_lines(plain)
