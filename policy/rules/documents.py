"""IAM policy documents inside resource props, and how to read their statements.

Documents are JSON strings (the program `json.dumps` them). Which prop of which resource type holds
one, and what kind of document it is, decides which rules apply: identity policies grant a role
permissions, a trust policy says who may assume a role, resource policies (bucket, topic,
repository, key) say who may use one resource.
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .base import items, mapping

IDENTITY = "identity"
TRUST = "trust"
BUCKET = "bucket policy"
TOPIC = "topic policy"
REPOSITORY = "repository policy"
KEY = "key policy"

ROLE = "aws:iam/role:Role"
# resource type -> (document kind, prop holding it)
_DOCUMENT_PROPS: dict[str, tuple[tuple[str, str], ...]] = {
    ROLE: ((TRUST, "assumeRolePolicy"),),
    "aws:iam/rolePolicy:RolePolicy": ((IDENTITY, "policy"),),
    "aws:iam/policy:Policy": ((IDENTITY, "policy"),),
    "aws:s3/bucketPolicy:BucketPolicy": ((BUCKET, "policy"),),
    "aws:sns/topicPolicy:TopicPolicy": ((TOPIC, "policy"),),
    "aws:ecr/repositoryPolicy:RepositoryPolicy": ((REPOSITORY, "policy"),),
    # The policy ECR gives every repository it creates from the template (replicas).
    "aws:ecr/repositoryCreationTemplate:RepositoryCreationTemplate": ((REPOSITORY, "repositoryPolicy"),),
    "aws:kms/key:Key": ((KEY, "policy"),),
}
DOCUMENT_TYPES = tuple(_DOCUMENT_PROPS)


@dataclass(frozen=True)
class Document:
    kind: str
    # Where in the props: "policy", "inlinePolicies[0].policy", …
    where: str
    text: str

    def parsed(self) -> Mapping[str, Any] | None:
        """The document, or None when it is not a JSON object (the parliament rule reports that)."""
        try:
            value = json.loads(self.text)
        except ValueError:
            return None
        return value if isinstance(value, dict) else None

    def statements(self) -> list[Mapping[str, Any]]:
        parsed = self.parsed()
        if parsed is None:
            return []
        statement = parsed.get("Statement")
        if isinstance(statement, dict):
            return [statement]
        return [s for s in items(statement) if isinstance(s, dict)]


def documents(resource_type: str, props: Mapping[str, Any]) -> list[Document]:
    found = [Document(kind, prop, props[prop])
             for kind, prop in _DOCUMENT_PROPS.get(resource_type, ())
             if isinstance(props.get(prop), str)]
    if resource_type == ROLE:
        for index, inline in enumerate(items(props.get("inlinePolicies"))):
            text = mapping(inline).get("policy")
            if isinstance(text, str) and text:
                found.append(Document(IDENTITY, f"inlinePolicies[{index}].policy", text))
    return found


def values(element: Any) -> list[str]:
    """An Action/Resource/Principal value: a string or a list of strings."""
    if isinstance(element, str):
        return [element]
    return [v for v in items(element) if isinstance(v, str)]


def allows(statement: Mapping[str, Any]) -> bool:
    return statement.get("Effect") == "Allow"


def sid(statement: Mapping[str, Any], index: int) -> str:
    return f"statement {statement['Sid']!r}" if isinstance(statement.get("Sid"), str) else f"statement #{index}"


def principals(statement: Mapping[str, Any]) -> list[str]:
    """Every principal a statement names ("*" stays "*"), from Principal or NotPrincipal."""
    element = statement.get("Principal", statement.get("NotPrincipal"))
    if isinstance(element, str):
        return [element]
    return [p for value in mapping(element).values() for p in values(value)]


def names_everyone(statement: Mapping[str, Any]) -> bool:
    """Principal "*" / {"AWS": "*"}, or an Allow with NotPrincipal (everyone but a few)."""
    if "NotPrincipal" in statement and allows(statement):
        return True
    return "*" in principals(statement)


def grants(statement: Mapping[str, Any], action: str) -> bool:
    """Whether an Allow statement's actions (globs, case-insensitive) include `action`."""
    if not allows(statement):
        return False
    if "NotAction" in statement:
        return not any(fnmatch.fnmatch(action.lower(), a.lower()) for a in values(statement["NotAction"]))
    return any(fnmatch.fnmatch(action.lower(), a.lower()) for a in values(statement.get("Action")))


def condition_keys(statement: Mapping[str, Any]) -> set[str]:
    """Lower-cased condition keys of a statement, whatever the operator."""
    return {key.lower() for block in mapping(statement.get("Condition")).values()
            for key in mapping(block)}
