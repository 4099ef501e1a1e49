"""KMS: customer-managed keys rotate and carry an explicit key policy that names its principals.

A key policy Allow statement with principal "*" is a violation even with a condition: the
program's keys name the account root and narrow by `aws:PrincipalArn`, so a `*` principal is never
needed, and a condition on it is one typo away from opening the key to every AWS account.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Iterator

from .base import Finding, label, resource_policy
from .documents import KEY, allows, documents, names_everyone, sid

KEY_TYPE = "aws:kms/key:Key"
# AWS KMS rotates only symmetric encryption keys; asymmetric and HMAC keys cannot rotate.
ROTATABLE_SPECS = (None, "SYMMETRIC_DEFAULT")


def check_rotation(resource_type: str, props: Mapping[str, Any], urn: str, name: str) -> Iterator[Finding]:
    spec = props.get("customerMasterKeySpec") or props.get("keySpec")
    if spec in ROTATABLE_SPECS and props.get("enableKeyRotation") is not True:
        yield Finding(f"{label(resource_type, name)} does not rotate its key material",
                      "set enable_key_rotation=True on the aws.kms.Key")


def check_key_policy(resource_type: str, props: Mapping[str, Any], urn: str, name: str) -> Iterator[Finding]:
    key_policies = [d for d in documents(resource_type, props) if d.kind == KEY]
    if not key_policies:
        yield Finding(f"{label(resource_type, name)} has no explicit key policy (AWS would apply its default, "
                      "which lets every IAM policy of the account use the key)",
                      "set policy= to a key policy naming the administrators and the roles that use the key")
    for document in key_policies:
        for index, statement in enumerate(document.statements()):
            if allows(statement) and names_everyone(statement):
                yield Finding(f"{label(resource_type, name)}: key policy {sid(statement, index)} allows principal "
                              "\"*\"",
                              "name the principals (account root narrowed with aws:PrincipalArn, or role ARNs)")


KMS_ROTATION = resource_policy(
    "kms-key-rotation",
    "Symmetric customer-managed keys rotate their key material. Mirrors Checkov CKV_AWS_7, Trivy AVD-AWS-0065, "
    "cfn-nag F19.",
    (KEY_TYPE,), check_rotation)

KMS_KEY_POLICY = resource_policy(
    "kms-key-policy",
    "Every key has an explicit key policy and no Allow statement with principal \"*\" (condition or not). "
    "Mirrors Checkov CKV2_AWS_64 and CKV_AWS_33, cfn-nag F76.",
    (KEY_TYPE,), check_key_policy)

POLICIES = [KMS_ROTATION, KMS_KEY_POLICY]
