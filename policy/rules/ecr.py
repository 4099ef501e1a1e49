"""ECR: immutable tags (a tag is a commit sha, forever), scan on push, KMS encryption, no public policy.

Repository creation templates are held to the same tags, encryption and policy rules: the
repositories ECR creates from them (replicas in other regions) hold the same images. Scanning is
not a template setting (replicas follow the registry's scanning configuration).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Iterator

from .base import Finding, dig, items, label, mapping, resource_policy
from .documents import REPOSITORY, allows, documents, names_everyone, sid

REPOSITORY_TYPE = "aws:ecr/repository:Repository"
REPOSITORY_POLICY_TYPE = "aws:ecr/repositoryPolicy:RepositoryPolicy"
TEMPLATE_TYPE = "aws:ecr/repositoryCreationTemplate:RepositoryCreationTemplate"


def check_immutable_tags(resource_type: str, props: Mapping[str, Any], urn: str, name: str) -> Iterator[Finding]:
    mutability = props.get("imageTagMutability")
    if mutability != "IMMUTABLE":
        yield Finding(f"{label(resource_type, name)} has image tag mutability {mutability or 'MUTABLE (default)'}",
                      "set image_tag_mutability=\"IMMUTABLE\"")


def check_scan_on_push(resource_type: str, props: Mapping[str, Any], urn: str, name: str) -> Iterator[Finding]:
    if dig(props, "imageScanningConfiguration", "scanOnPush") is not True:
        yield Finding(f"{label(resource_type, name)} does not scan images on push",
                      "set image_scanning_configuration={\"scan_on_push\": True}")


def check_kms(resource_type: str, props: Mapping[str, Any], urn: str, name: str) -> Iterator[Finding]:
    types = [mapping(c).get("encryptionType") for c in items(props.get("encryptionConfigurations"))]
    if "KMS" not in types:
        fix = "set encryption_configurations=[{\"encryption_type\": \"KMS\", \"kms_key\": <key ARN>}]"
        if resource_type == TEMPLATE_TYPE:
            fix += (" with a key in the template's region, and custom_role_arn = a role ECR assumes to create "
                    "repositories with that key")
        yield Finding(f"{label(resource_type, name)} is encrypted with {types or ['AES256 (default)']}, not KMS", fix)


def check_policy_not_public(resource_type: str, props: Mapping[str, Any], urn: str, name: str) -> Iterator[Finding]:
    for document in documents(resource_type, props):
        if document.kind != REPOSITORY:
            continue
        for index, statement in enumerate(document.statements()):
            if allows(statement) and names_everyone(statement):
                yield Finding(f"{label(resource_type, name)}: {sid(statement, index)} allows any principal",
                              "name the pulling accounts or roles (e.g. arn:aws:iam::<account>:root) instead of \"*\"")


ECR_IMMUTABLE_TAGS = resource_policy(
    "ecr-immutable-tags",
    "Repositories and repository creation templates have immutable image tags. Mirrors Checkov CKV_AWS_51, "
    "Trivy AVD-AWS-0031.",
    (REPOSITORY_TYPE, TEMPLATE_TYPE), check_immutable_tags)

ECR_SCAN_ON_PUSH = resource_policy(
    "ecr-scan-on-push",
    "Repositories scan images on push. Mirrors Checkov CKV_AWS_163, Trivy AVD-AWS-0030, cfn-nag W79.",
    (REPOSITORY_TYPE,), check_scan_on_push)

ECR_KMS = resource_policy(
    "ecr-kms-encryption",
    "Repositories and repository creation templates (replicas) are encrypted with KMS. Mirrors Checkov "
    "CKV_AWS_136, Trivy AVD-AWS-0033.",
    (REPOSITORY_TYPE, TEMPLATE_TYPE), check_kms)

ECR_POLICY_NOT_PUBLIC = resource_policy(
    "ecr-policy-not-public",
    "Repository policies (and creation templates' repository policies) never allow principal \"*\". Mirrors "
    "Checkov CKV_AWS_32, Trivy AVD-AWS-0032.",
    (REPOSITORY_POLICY_TYPE, TEMPLATE_TYPE), check_policy_not_public)

POLICIES = [ECR_IMMUTABLE_TAGS, ECR_SCAN_ON_PUSH, ECR_KMS, ECR_POLICY_NOT_PUBLIC]
