"""CodePipeline: V2 pipelines whose every artifact store is encrypted with a customer-managed key, and
whose promoting stages carry the stack's release gates."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Iterator

from .base import Finding, dig, is_aws_managed_key, items, label, mapping, resource_policy

PIPELINE_TYPE = "aws:codepipeline/pipeline:Pipeline"


def check_artifact_store_key(resource_type: str, props: Mapping[str, Any], urn: str, name: str) -> Iterator[Finding]:
    stores = [mapping(s) for s in items(props.get("artifactStores"))]
    if not stores:
        yield Finding(f"{label(resource_type, name)} declares no artifact store",
                      "give the pipeline artifact_stores, each with an encryption_key")
    for store in stores:
        key = mapping(store.get("encryptionKey"))
        where = f"{label(resource_type, name)}: artifact store {store.get('location')!r} ({store.get('region') or 'home region'})"
        key_id = key.get("id")
        if key.get("type") != "KMS" or not isinstance(key_id, str) or not key_id:
            yield Finding(f"{where} has no KMS encryption key (S3's AWS-managed key would be used)",
                          "set encryption_key={\"type\": \"KMS\", \"id\": <customer-managed key ARN>}")
        elif is_aws_managed_key(key_id):
            yield Finding(f"{where} is encrypted with the AWS-managed key {key_id}",
                          "use a customer-managed key ARN: cross-account roles cannot be granted an AWS-managed key")


def check_pipeline_type(resource_type: str, props: Mapping[str, Any], urn: str, name: str) -> Iterator[Finding]:
    if props.get("pipelineType") != "V2":
        yield Finding(f"{label(resource_type, name)} is a {props.get('pipelineType') or 'V1 (default)'} pipeline",
                      "set pipeline_type=\"V2\" (triggers with file-path filters, variables, execution modes)")


CODEPIPELINE_ARTIFACT_CMK = resource_policy(
    "codepipeline-artifact-customer-key",
    "Every artifact store is encrypted with a customer-managed KMS key (type KMS, not alias/aws/s3). Mirrors "
    "Checkov CKV_AWS_219.",
    (PIPELINE_TYPE,), check_artifact_store_key)

CODEPIPELINE_V2 = resource_policy(
    "codepipeline-v2",
    "Pipelines are pipelineType V2. No public rule; the program's baseline (V2 triggers filter on branch and "
    "file paths, which the delivery design relies on).",
    (PIPELINE_TYPE,), check_pipeline_type)

# The tag components/release_gates.py puts on the pipelines of a stack with release gates:
# `window`, `alarms=<n>`, `bake=<minutes>`, the gates the stack's settings ask for.
GATES_TAG = "delivery:release-gates"
PROMOTE_STAGE, VERIFY_STAGE = "Promote", "Verify"


def _rules(stage: Mapping[str, Any], kind: str, provider: str) -> list[Mapping[str, Any]]:
    return [mapping(rule) for rule in items(dig(mapping(stage), kind, "condition", "rules"))
            if dig(mapping(rule), "ruleTypeId", "provider") == provider]


def check_release_gates(resource_type: str, props: Mapping[str, Any], urn: str, name: str) -> Iterator[Finding]:
    asked = dict(part.partition("=")[::2] for part in str(mapping(props.get("tags")).get(GATES_TAG) or "").split())
    for stage in (mapping(s) for s in items(props.get("stages"))):
        where = f"{label(resource_type, name)}: stage {stage.get('name')}"
        if stage.get("name") == PROMOTE_STAGE:
            if "window" in asked and not _rules(stage, "beforeEntry", "DeploymentWindow"):
                yield Finding(f"{where} has no release window, which the stack's settings ask for",
                              "give the stage the entry condition components/release_gates.py builds")
            alarms = len(_rules(stage, "beforeEntry", "CloudWatchAlarm"))
            if "alarms" in asked and str(alarms) != asked["alarms"]:
                yield Finding(f"{where} checks {alarms} alarms on entry, the stack's settings name {asked['alarms']}",
                              "give the stage one CloudWatchAlarm entry rule per blocking alarm")
        if stage.get("name") == VERIFY_STAGE and "bake" in asked:
            baking = [r for r in _rules(stage, "onSuccess", "CloudWatchAlarm")
                      if str(mapping(r.get("configuration")).get("WaitTime")) == asked["bake"]]
            if not baking or str(len(baking)) != asked.get("alarms"):
                yield Finding(f"{where} does not bake {asked['bake']} minutes watching every blocking alarm",
                              "give the stage the on-success condition components/release_gates.py builds")


CODEPIPELINE_RELEASE_GATES = resource_policy(
    "codepipeline-release-gates",
    "In a stack with release windows or blocking alarms, every promoting stage (Promote) has them as its entry "
    "condition, and with a bake every Verify stage holds its success for it. No public rule; the program's "
    "baseline (a gate on some pipelines only is no gate).",
    (PIPELINE_TYPE,), check_release_gates)

POLICIES = [CODEPIPELINE_ARTIFACT_CMK, CODEPIPELINE_V2, CODEPIPELINE_RELEASE_GATES]
