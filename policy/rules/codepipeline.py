"""CodePipeline: V2 pipelines whose every artifact store is encrypted with a customer-managed key."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Iterator

from .base import Finding, is_aws_managed_key, items, label, mapping, resource_policy

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

POLICIES = [CODEPIPELINE_ARTIFACT_CMK, CODEPIPELINE_V2]
