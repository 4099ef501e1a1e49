"""SNS: topics encrypted with a customer-managed key; topic policies never open a topic to everyone.

A topic policy may name principal "*" only with a condition that narrows who can act to this
account, organization or source resource (the AWS pattern for service publishers such as
EventBridge or CodeStar Notifications).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Iterator

from .base import Finding, is_aws_managed_key, label, resource_policy
from .documents import TOPIC, allows, condition_keys, documents, names_everyone, sid

TOPIC_TYPE = "aws:sns/topic:Topic"
TOPIC_POLICY_TYPE = "aws:sns/topicPolicy:TopicPolicy"
NARROWING_KEYS = frozenset({"aws:sourcearn", "aws:sourceaccount", "aws:sourceowner", "aws:sourceorgid",
                            "aws:principalaccount", "aws:principalorgid", "aws:principalarn"})


def check_topic_key(resource_type: str, props: Mapping[str, Any], urn: str, name: str) -> Iterator[Finding]:
    key = props.get("kmsMasterKeyId")
    if not isinstance(key, str) or not key or is_aws_managed_key(key):
        yield Finding(f"{label(resource_type, name)} is encrypted with {key or 'no key'}, not a customer-managed key",
                      "set kms_master_key_id to a customer-managed aws.kms.Key ARN whose policy lets the "
                      "publishing services use it")


def check_topic_policy(resource_type: str, props: Mapping[str, Any], urn: str, name: str) -> Iterator[Finding]:
    for document in documents(resource_type, props):
        if document.kind != TOPIC:
            continue
        for index, statement in enumerate(document.statements()):
            if not allows(statement):
                continue
            where = f"{label(resource_type, name)}: {sid(statement, index)}"
            if "NotPrincipal" in statement:
                yield Finding(f"{where} uses Allow with NotPrincipal (everyone but a few)",
                              "name the principals in Principal")
            elif names_everyone(statement) and not condition_keys(statement) & NARROWING_KEYS:
                yield Finding(f"{where} allows principal \"*\" without a condition narrowing it to an account, "
                              "organization or source resource",
                              "add a condition on one of " + ", ".join(sorted(NARROWING_KEYS))
                              + " (e.g. aws:SourceAccount = this account) or name the principal")


SNS_TOPIC_CMK = resource_policy(
    "sns-topic-customer-key",
    "Topics are encrypted with a customer-managed KMS key (not alias/aws/sns). Mirrors Checkov CKV_AWS_26, "
    "Trivy AVD-AWS-0095/0136, cfn-nag W47.",
    (TOPIC_TYPE,), check_topic_key)

SNS_TOPIC_POLICY = resource_policy(
    "sns-topic-policy-principals",
    "Topic policies allow principal \"*\" only with a condition narrowing it to an account, organization or "
    "source; never Allow+NotPrincipal. Mirrors Checkov CKV_AWS_169, cfn-nag F18/F8.",
    (TOPIC_POLICY_TYPE,), check_topic_policy)

POLICIES = [SNS_TOPIC_CMK, SNS_TOPIC_POLICY]
