"""The template chart rendered by Helm itself (Helm v4's Go SDK through helm-python-sdk, offline):
a Deployment by default, an Argo Rollouts Rollout for canary or blue/green, chosen in values and
refused by the schema when malformed.

Built-in kinds are validated against the Kubernetes schemas (kubernetes-validate, strict). A
Rollout is a custom resource those schemas do not know: its strategy is checked against the part of
the Argo Rollouts CRD schema (v1.7, argoproj.io/v1alpha1) the chart writes, with unknown fields
refused as the API server's structural-schema pruning would drop them, and its pod template by
validating it as a Deployment's, which is the same PodTemplateSpec type.
"""

from __future__ import annotations

import copy
from pathlib import Path

import helm_python as helm
import kubernetes_validate
import pytest
import yaml
from jsonschema import Draft7Validator

from gitops.repo.schema import coalesce

CHART = Path(__file__).resolve().parents[3] / "gitops" / "repo" / "template" / "charts" / "sample"
KUBERNETES = "1.33"
CANARY = {"strategy": {"type": "canary"}}
BLUE_GREEN = {"strategy": {"type": "blueGreen", "blueGreen": {"autoPromotionEnabled": True,
                                                              "autoPromotionSeconds": 600}}}
ANALYSIS = {"templates": [{"templateName": "success-rate"}], "startingStep": 1,
            "args": [{"name": "service", "value": "api"}]}

_INT_OR_STRING = {"anyOf": [{"type": "integer"}, {"type": "string"}]}
ROLLOUT_SPEC = {
    "type": "object",
    "required": ["selector", "template", "strategy"],
    "additionalProperties": False,
    "properties": {
        "replicas": {"type": "integer", "minimum": 0},
        "revisionHistoryLimit": {"type": "integer"},
        "selector": {"type": "object", "required": ["matchLabels"],
                     "properties": {"matchLabels": {"type": "object"}}},
        "template": {"type": "object"},
        "strategy": {
            "type": "object", "additionalProperties": False, "minProperties": 1, "maxProperties": 1,
            "properties": {
                "canary": {"type": "object", "additionalProperties": False, "properties": {
                    "steps": {"type": "array", "items": {
                        "type": "object", "additionalProperties": False, "properties": {
                            "setWeight": {"type": "integer", "minimum": 0, "maximum": 100},
                            "pause": {"type": "object", "additionalProperties": False,
                                      "properties": {"duration": _INT_OR_STRING}}}}},
                    "analysis": {"type": "object", "additionalProperties": False,
                                 "required": ["templates"], "properties": {
                                     "templates": {"type": "array", "items": {
                                         "type": "object", "required": ["templateName"]}},
                                     "startingStep": {"type": "integer"},
                                     "args": {"type": "array", "items": {
                                         "type": "object", "required": ["name"]}}}}}},
                "blueGreen": {"type": "object", "additionalProperties": False,
                              "required": ["activeService"], "properties": {
                                  "activeService": {"type": "string"},
                                  "previewService": {"type": "string"},
                                  "autoPromotionEnabled": {"type": "boolean"},
                                  "autoPromotionSeconds": {"type": "integer"},
                                  "scaleDownDelaySeconds": {"type": "integer"}}}}}},
}


def render(values: dict) -> list[dict]:
    with helm.Chart.load(CHART) as chart:
        manifests = chart.render(values, name="api", namespace="shop")
    return [doc for text in manifests.values() for doc in yaml.safe_load_all(text) if doc]


def by_kind(docs: list[dict]) -> dict[str, list[dict]]:
    kinds: dict[str, list[dict]] = {}
    for doc in docs:
        kinds.setdefault(doc["kind"], []).append(doc)
    return kinds


def check_rollout(rollout: dict) -> None:
    assert rollout["apiVersion"] == "argoproj.io/v1alpha1"
    errors = [e.message for e in Draft7Validator(ROLLOUT_SPEC).iter_errors(rollout["spec"])]
    assert errors == []
    # the pod template is a PodTemplateSpec: validate it where Kubernetes knows the type
    as_deployment = {"apiVersion": "apps/v1", "kind": "Deployment",
                     "metadata": copy.deepcopy(rollout["metadata"]),
                     "spec": {k: rollout["spec"][k] for k in ("replicas", "selector", "template")}}
    kubernetes_validate.validate(as_deployment, KUBERNETES, strict=True)
    labels = rollout["spec"]["template"]["metadata"]["labels"]
    assert rollout["spec"]["selector"]["matchLabels"].items() <= labels.items()


def test_the_default_is_a_deployment_and_a_service_valid_for_kubernetes() -> None:
    kinds = by_kind(render({}))
    assert sorted(kinds) == ["Deployment", "Service"]
    for doc in kinds["Deployment"] + kinds["Service"]:
        kubernetes_validate.validate(doc, KUBERNETES, strict=True)


def test_canary_renders_a_rollout_with_the_steps_of_the_values() -> None:
    steps = [{"setWeight": 10}, {"pause": {}}, {"setWeight": 60}, {"pause": {"duration": "3m"}}]
    kinds = by_kind(render({"strategy": {"type": "canary", "canary": {"steps": steps}}}))
    assert sorted(kinds) == ["Rollout", "Service"]  # no Deployment beside it
    [rollout] = kinds["Rollout"]
    check_rollout(rollout)
    assert rollout["spec"]["strategy"] == {"canary": {"steps": steps}}
    image = rollout["spec"]["template"]["spec"]["containers"][0]["image"]
    assert image == "sample:0.1.0"


def test_canary_defaults_and_optional_analysis() -> None:
    [plain] = by_kind(render(CANARY))["Rollout"]
    check_rollout(plain)
    assert [list(s) for s in plain["spec"]["strategy"]["canary"]["steps"]] == [
        ["setWeight"], ["pause"], ["setWeight"], ["pause"]]
    assert "analysis" not in plain["spec"]["strategy"]["canary"]
    [analysed] = by_kind(render(coalesce(CANARY, {"strategy": {"canary": {"analysis": ANALYSIS}}}))
                         )["Rollout"]
    check_rollout(analysed)
    assert analysed["spec"]["strategy"]["canary"]["analysis"] == ANALYSIS


def test_blue_green_renders_a_rollout_between_the_service_and_its_preview() -> None:
    kinds = by_kind(render(BLUE_GREEN))
    [rollout] = kinds["Rollout"]
    check_rollout(rollout)
    blue_green = rollout["spec"]["strategy"]["blueGreen"]
    assert blue_green == {"activeService": "api-sample", "previewService": "api-sample-preview",
                          "autoPromotionEnabled": True, "autoPromotionSeconds": 600,
                          "scaleDownDelaySeconds": 30}
    services = {s["metadata"]["name"]: s for s in kinds["Service"]}
    assert set(services) == {blue_green["activeService"], blue_green["previewService"]}
    for service in services.values():
        kubernetes_validate.validate(service, KUBERNETES, strict=True)
        assert service["spec"]["selector"].items() <= \
            rollout["spec"]["template"]["metadata"]["labels"].items()


def test_auto_promotion_seconds_zero_means_not_set() -> None:
    [rollout] = by_kind(render({"strategy": {"type": "blueGreen"}}))["Rollout"]
    assert "autoPromotionSeconds" not in rollout["spec"]["strategy"]["blueGreen"]
    assert rollout["spec"]["strategy"]["blueGreen"]["autoPromotionEnabled"] is True


def test_the_preview_name_fits_a_dns_label_for_long_service_names() -> None:
    with helm.Chart.load(CHART) as chart:
        manifests = chart.render(BLUE_GREEN, name="a" * 60, namespace="shop")
    names = [doc["metadata"]["name"] for text in manifests.values()
             for doc in yaml.safe_load_all(text) if doc and doc["kind"] == "Service"]
    assert len(names) == 2 and len(set(names)) == 2 and all(len(n) <= 63 for n in names)


@pytest.mark.parametrize("values,rule", [
    ({"strategy": {"type": "recreate"}}, "strategy.type"),
    ({"strategy": {"type": "canary", "canary": {"steps": []}}}, "steps"),
    ({"strategy": {"type": "canary", "canary": {"steps": [{"setWeight": 120}]}}}, "setWeight"),
    ({"strategy": {"type": "canary", "canary": {"steps": [{"pause": {"duration": "soon"}}]}}},
     "duration"),
    ({"strategy": {"type": "canary", "canary": {"steps": [{"setWeight": 5, "pause": {}}]}}},
     "steps"),
    ({"strategy": {"type": "canary", "canary": {"analysis": {"startingStep": 1}}}}, "analysis"),
    ({"strategy": {"type": "blueGreen", "blueGreen": {"autoPromote": True}}}, "blueGreen"),
])
def test_helm_refuses_a_malformed_strategy_with_the_schema(values: dict, rule: str) -> None:
    with helm.Chart.load(CHART) as chart, pytest.raises(helm.HelmError) as caught:
        chart.render(values, name="api", namespace="shop")
    assert rule.split(".")[-1] in str(caught.value), caught.value
