"""The GitOps repository template: a real Helm chart and values files that pass its schema.

There is no Helm binary here, so this checks what decides whether Argo CD can render the chart:
Chart.yaml, the schema, every values layer against it, the Go-template block structure, and that
every ``.Values.x.y`` a template reads exists in the chart's defaults.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from jsonschema import Draft7Validator
from ruamel.yaml import YAML

from gitops.repo.layout import application_source
from gitops.repo.schema import validate_stack

TEMPLATE = Path(__file__).resolve().parents[3] / "gitops" / "repo" / "template"
CHART = TEMPLATE / "charts" / "sample"
SEMVER = re.compile(r"^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$")
ACTION = re.compile(r"{{-?\s*(.*?)\s*-?}}", re.S)
VALUES_REF = re.compile(r"\.Values((?:\.[A-Za-z_][A-Za-z0-9_]*)+)")


def load_yaml(path: Path):
    return YAML(typ="safe", pure=True).load(path.read_text(encoding="utf-8"))


def template_files() -> list[Path]:
    return sorted((CHART / "templates").iterdir())


def test_chart_yaml_declares_a_helm3_application_chart() -> None:
    chart = load_yaml(CHART / "Chart.yaml")
    assert chart["apiVersion"] == "v2"
    assert chart["name"] == CHART.name  # Helm requires the name to match the directory
    assert chart["type"] == "application"
    assert SEMVER.match(chart["version"]), chart["version"]
    assert isinstance(chart["appVersion"], str) and chart["appVersion"]


def test_schema_is_valid_draft07_and_requires_the_image() -> None:
    schema = json.loads((CHART / "values.schema.json").read_text())
    Draft7Validator.check_schema(schema)
    assert schema["$schema"] == "http://json-schema.org/draft-07/schema#"
    assert {"image", "replicaCount"} <= set(schema["required"])
    assert set(schema["properties"]["image"]["required"]) == {"repository", "tag", "digest"}


def test_chart_defaults_validate_alone_as_helm_lint_would() -> None:
    validate_stack(TEMPLATE, "sample", [])


def env_service_dirs() -> list[Path]:
    return sorted(p for p in (TEMPLATE / "envs").glob("*/*") if p.is_dir())


def test_template_has_the_documented_env_files() -> None:
    files = sorted(str(p.relative_to(TEMPLATE)) for p in (TEMPLATE / "envs").rglob("*") if p.is_file())
    assert files == [
        "envs/prod/sample/values-eu-west-1.yaml",
        "envs/prod/sample/values.yaml",
        "envs/staging/sample/values.yaml",
    ]


@pytest.mark.parametrize(
    "env,region", [("staging", "us-east-1"), ("prod", "us-east-1"), ("prod", "eu-west-1")]
)
def test_each_rendered_region_validates(env: str, region: str) -> None:
    source = application_source(env, region, "sample")
    files = source.present_value_files(TEMPLATE)
    assert files[0] == f"envs/{env}/sample/values.yaml"
    validate_stack(TEMPLATE, "sample", files)


def test_region_overrides_never_set_the_image() -> None:
    # promote edits only envs/<env>/<svc>/values.yaml; an image in a region file would pin that
    # region and silently stop every promotion from reaching it.
    regional = sorted((TEMPLATE / "envs").rglob("values-*.yaml"))
    assert regional
    for path in regional:
        assert "image" not in (load_yaml(path) or {}), path


def test_env_values_carry_the_keys_promote_edits() -> None:
    for directory in env_service_dirs():
        image = load_yaml(directory / "values.yaml")["image"]
        assert set(image) >= {"repository", "tag", "digest"}, directory


def values_paths(data, prefix=()) -> set[tuple[str, ...]]:
    paths = set()
    if isinstance(data, dict):
        for key, value in data.items():
            paths.add(prefix + (key,))
            paths |= values_paths(value, prefix + (key,))
    return paths


def test_every_values_reference_in_templates_exists_in_chart_defaults() -> None:
    defaults = values_paths(load_yaml(CHART / "values.yaml"))
    references = set()
    for path in template_files():
        for match in VALUES_REF.finditer(path.read_text()):
            references.add(tuple(match.group(1).strip(".").split(".")))
    # the chart reads the image, replicas, ports, resources: a regexp that found nothing is broken
    assert {("image", "repository"), ("image", "tag"), ("image", "digest"), ("replicaCount",)} <= references
    assert sorted(references - defaults) == []


def test_go_template_blocks_balance_and_includes_are_defined() -> None:
    defined: set[str] = set()
    included: set[str] = set()
    for path in template_files():
        depth = 0
        for action in ACTION.findall(path.read_text()):
            if action.startswith("/*"):
                continue
            keyword = action.split(maxsplit=1)[0] if action else ""
            if keyword in {"if", "range", "with", "define", "block"}:
                depth += 1
            elif keyword == "end":
                depth -= 1
                assert depth >= 0, f"{path.name}: 'end' without an open block"
            defined |= set(re.findall(r'^define "([^"]+)"', action))
            included |= set(re.findall(r'(?:include|template) "([^"]+)"', action))
        assert depth == 0, f"{path.name}: {depth} block(s) never closed"
        if path.suffix == ".yaml":
            assert "{{" in path.read_text()  # a manifest template, not a static file
    assert included and included <= defined, included - defined


def test_manifest_templates_name_the_expected_kinds() -> None:
    kinds = {p.name: re.search(r"^kind: (\w+)$", p.read_text(), re.M) for p in template_files()}
    assert kinds["deployment.yaml"].group(1) == "Deployment"
    assert kinds["rollout.yaml"].group(1) == "Rollout"
    assert kinds["service.yaml"].group(1) == "Service"
    assert kinds["service-preview.yaml"].group(1) == "Service"


def test_each_workload_template_renders_for_exactly_one_strategy() -> None:
    # A Deployment and a Rollout with the same selector would fight over the pods.
    guards = {p.name: p.read_text().splitlines()[0] for p in template_files()
              if p.name in ("deployment.yaml", "rollout.yaml", "service-preview.yaml")}
    assert guards == {
        "deployment.yaml": '{{- if eq .Values.strategy.type "rolling" }}',
        "rollout.yaml": '{{- if ne .Values.strategy.type "rolling" }}',
        "service-preview.yaml": '{{- if eq .Values.strategy.type "blueGreen" }}'}
    schema = json.loads((CHART / "values.schema.json").read_text())
    assert schema["properties"]["strategy"]["properties"]["type"]["enum"] == [
        "rolling", "canary", "blueGreen"]


def test_template_readme_describes_the_layout() -> None:
    readme = (TEMPLATE / "README.md").read_text()
    for needle in ("charts/<service>", "envs/<env>/<service>/values.yaml", "values-<region>.yaml"):
        assert needle in readme


# --- pauses fit the Verify action ----------------------------------------------------------------

def verify_timeout_s() -> int:
    """The --timeout the pipeline's Verify action gives `gitops verify` (buildspecs/verify.yml)."""
    buildspec = (Path(__file__).resolve().parents[3] / "buildspecs" / "verify.yml").read_text()
    [minutes] = re.findall(r"--timeout (\d+)m\b", buildspec)
    return int(minutes) * 60


def longest_pause_s(duration_pattern: str) -> int:
    """The longest pause duration the pattern accepts, as Argo Rollouts reads it."""
    from gitops.verification.health import pause_seconds

    candidates = [f"{n}{unit}" for n in range(0, 3601) for unit in ("", "s", "m", "h")]
    return max(pause_seconds(c) for c in candidates if re.fullmatch(duration_pattern, c))


def test_every_valid_release_pauses_less_than_the_verify_action_waits() -> None:
    schema = json.loads((CHART / "values.schema.json").read_text())
    strategy = schema["properties"]["strategy"]["properties"]
    steps = strategy["canary"]["properties"]["steps"]["maxItems"]
    pause = longest_pause_s(schema["definitions"]["canaryStep"]["properties"]["pause"][
        "properties"]["duration"]["pattern"])
    auto_promotion = strategy["blueGreen"]["properties"]["autoPromotionSeconds"]["maximum"]
    # Pods need minutes to start after Argo CD syncs: every pause together leaves five of them.
    budget = verify_timeout_s() - 300
    assert (steps * pause, auto_promotion) == (1440, 1200)
    assert steps * pause <= budget and auto_promotion <= budget


@pytest.mark.parametrize("strategy,rule", [
    ({"type": "canary", "canary": {"steps": [{"pause": {"duration": "40m"}}]}}, "pattern"),
    ({"type": "canary", "canary": {"steps": [{"pause": {"duration": "1h"}}]}}, "pattern"),
    ({"type": "canary", "canary": {"steps": [{"setWeight": 10}] * 9}}, "maxItems"),
    ({"type": "blueGreen", "blueGreen": {"autoPromotionEnabled": True, "autoPromotionSeconds": 3600,
                                         "scaleDownDelaySeconds": 30}}, "maximum"),
    ({"type": "blueGreen", "blueGreen": {"autoPromotionEnabled": False, "autoPromotionSeconds": 600,
                                         "scaleDownDelaySeconds": 30}}, "const"),
])
def test_a_pause_longer_than_verify_waits_is_refused_before_promotion(strategy, rule) -> None:
    defaults = YAML(typ="safe").load((CHART / "values.yaml").read_text())
    validator = Draft7Validator(json.loads((CHART / "values.schema.json").read_text()))
    errors = list(validator.iter_errors({**defaults, "strategy": strategy}))
    assert [e.validator for e in errors] == [rule]
