"""IAM: least privilege in every policy document the stack registers.

Documents live in roles (trust and inline policies), role policies, and resource policies (bucket,
topic, repository, key); see `documents.py`. Which actions can be scoped to a resource comes from
parliament's IAM action database (`parliament.iam_definition`, generated from the AWS Service
Authorization Reference), the same data its `RESOURCE_STAR` finding uses.
"""

from __future__ import annotations

import fnmatch
import functools
import json
import warnings
from collections.abc import Mapping
from typing import Any, Iterator

with warnings.catch_warnings():
    # parliament 1.6 imports pkg_resources (deprecated); setuptools<82 is pinned for it.
    warnings.simplefilter("ignore", UserWarning)
    import parliament
    from parliament.statement import get_privilege_info

from . import parliament_lint
from .base import Finding, label, resource_policy
from .documents import (
    DOCUMENT_TYPES, IDENTITY, KEY, REPOSITORY, ROLE, TRUST, Document, allows, condition_keys, documents,
    grants, names_everyone, principals, sid, values,
)

ROLE_ATTACHMENT_TYPES = ("aws:iam/rolePolicyAttachment:RolePolicyAttachment",
                         "aws:iam/policyAttachment:PolicyAttachment")
PARLIAMENT_SEVERITIES = ("MEDIUM", "HIGH", "CRITICAL")


def _is_full_wildcard(action: str) -> bool:
    return action == "*" or (action.endswith(":*") and action.count(":") == 1)


def check_no_wildcard_action(resource_type: str, props: Mapping[str, Any], urn: str, name: str) -> Iterator[Finding]:
    for document in documents(resource_type, props):
        for index, statement in enumerate(document.statements()):
            if not allows(statement):
                continue
            if "NotAction" in statement:
                yield Finding(
                    f"{label(resource_type, name)}: {document.kind} ({document.where}) {sid(statement, index)} "
                    f"allows NotAction {values(statement['NotAction'])}, i.e. every other action of every service",
                    "list the actions the principal needs in Action instead of excluding some with NotAction")
            wild = sorted(a for a in values(statement.get("Action")) if _is_full_wildcard(a))
            if wild:
                yield Finding(
                    f"{label(resource_type, name)}: {document.kind} ({document.where}) {sid(statement, index)} "
                    f"allows wildcard action(s) {wild}",
                    "name the individual actions needed (e.g. \"s3:GetObject\"), never \"*\" or \"<service>:*\"")


def _expand(action: str) -> list[str] | None:
    """Concrete actions an action glob names, from parliament's database; None if none are known."""
    service, _, pattern = action.partition(":")
    for info in parliament.iam_definition:
        if info["prefix"] == service.lower():
            matched = [f"{info['prefix']}:{p['privilege']}" for p in info["privileges"]
                       if fnmatch.fnmatch(p["privilege"].lower(), pattern.lower())]
            return matched or None
    return None


def _restrictable(action: str) -> bool:
    service, _, name = action.partition(":")
    info = get_privilege_info(service, name)
    return any(kind["resource_type"] for kind in info["resource_types"])


def check_resource_wildcard(resource_type: str, props: Mapping[str, Any], urn: str, name: str) -> Iterator[Finding]:
    for document in documents(resource_type, props):
        if document.kind != IDENTITY:
            continue
        for index, statement in enumerate(document.statements()):
            if not allows(statement):
                continue
            where = f"{label(resource_type, name)}: {document.kind} ({document.where}) {sid(statement, index)}"
            if "NotResource" in statement:
                yield Finding(f"{where} uses NotResource, i.e. every other resource",
                              "list the resource ARNs the actions apply to in Resource")
                continue
            if "*" not in values(statement.get("Resource")):
                continue
            restrictable, unknown = [], []
            # Full wildcards are iam-no-wildcard-action's finding.
            for action in (a for a in values(statement.get("Action")) if not _is_full_wildcard(a)):
                expanded = _expand(action)
                if expanded is None:
                    unknown.append(action)
                else:
                    restrictable += [a for a in expanded if _restrictable(a)]
            if restrictable:
                yield Finding(
                    f"{where} allows Resource \"*\" for actions that support resource-level permissions: "
                    f"{sorted(set(restrictable))}",
                    "give those actions the ARNs they act on; keep \"*\" only in a statement whose actions "
                    "support no resource type (e.g. ecr:GetAuthorizationToken)")
            if unknown:
                yield Finding(
                    f"{where} allows Resource \"*\" for action(s) unknown to the IAM action database: {unknown}",
                    "fix the action name's spelling, or scope the statement to the ARNs it acts on")


def check_pass_role(resource_type: str, props: Mapping[str, Any], urn: str, name: str) -> Iterator[Finding]:
    for document in documents(resource_type, props):
        if document.kind != IDENTITY:
            continue
        for index, statement in enumerate(document.statements()):
            if not grants(statement, "iam:PassRole"):
                continue
            where = f"{label(resource_type, name)}: {document.kind} ({document.where}) {sid(statement, index)}"
            resources = values(statement.get("Resource"))
            unnamed = [r for r in resources if "*" in r or ":role/" not in r]
            if "NotResource" in statement or not resources or unnamed:
                yield Finding(
                    f"{where} allows iam:PassRole on {unnamed or 'every role'}, not on named roles",
                    "list the exact role ARNs (no wildcards) that may be passed")
            if "iam:passedtoservice" not in condition_keys(statement):
                yield Finding(
                    f"{where} allows iam:PassRole without an iam:PassedToService condition",
                    "add \"Condition\": {\"StringEquals\": {\"iam:PassedToService\": \"<service>.amazonaws.com\"}}")


def check_trust_policy(resource_type: str, props: Mapping[str, Any], urn: str, name: str) -> Iterator[Finding]:
    for document in documents(resource_type, props):
        if document.kind != TRUST:
            continue
        statements = document.statements()
        for index, statement in enumerate(statements):
            if not allows(statement):
                continue
            where = f"{label(resource_type, name)}: trust policy {sid(statement, index)}"
            if names_everyone(statement):
                yield Finding(f"{where} lets any principal (\"*\" or NotPrincipal) assume the role",
                              "name the trusted principals: a service (\"Service\": \"codebuild.amazonaws.com\") "
                              "or role/account ARNs")
            elif not any(principals(statement)):
                yield Finding(f"{where} names no principal", "name the principal trusted to assume the role")


def check_no_administrator_access(resource_type: str, props: Mapping[str, Any], urn: str,
                                  name: str) -> Iterator[Finding]:
    if resource_type == ROLE:
        attached = [arn for arn in values(props.get("managedPolicyArns")) if _is_admin(arn)]
    else:
        attached = [props["policyArn"]] if _is_admin(props.get("policyArn")) else []
    for arn in attached:
        yield Finding(f"{label(resource_type, name)} attaches {arn}",
                      "attach a policy scoped to what the role does instead of AdministratorAccess")


def _is_admin(arn: Any) -> bool:
    return isinstance(arn, str) and arn.rsplit("/", 1)[-1] == "AdministratorAccess" and ":policy/" in arn


def _ignored(document: Document, finding: Any) -> bool:
    """Parliament findings that are AWS semantics for a kind of document, not defects."""
    if document.kind == KEY and finding.issue == "RESOURCE_STAR":
        # In a key policy "Resource": "*" means this key (AWS KMS developer guide, key policies).
        return True
    if document.kind == IDENTITY and finding.issue == "RESOURCE_STAR":
        # Reported, with the offending actions, by iam-resource-wildcard.
        return True
    if (document.kind in (TRUST, REPOSITORY) and finding.issue == "MALFORMED"
            and "neither Resource nor NotResource" in str(finding.detail)):
        # Trust policies and ECR repository policies have no Resource element by design.
        return True
    return False


@functools.lru_cache(maxsize=4096)
def _parliament_findings(text: str) -> tuple[Any, ...]:
    """Parliament's findings for one document text, enhanced. Memoized: a stack repeats many
    documents (every CodeBuild role trusts the same service), and each costs milliseconds."""
    analyzed = parliament_lint.analyze(text)
    for finding in analyzed.findings:
        parliament.enhance_finding(finding)
    return tuple(analyzed.findings)


def check_parliament(resource_type: str, props: Mapping[str, Any], urn: str, name: str) -> Iterator[Finding]:
    for document in documents(resource_type, props):
        for finding in _parliament_findings(document.text):
            if finding.severity not in PARLIAMENT_SEVERITIES or _ignored(document, finding):
                continue
            detail = finding.detail if isinstance(finding.detail, str) else json.dumps(finding.detail, default=str)
            yield Finding(
                f"{label(resource_type, name)}: {document.kind} ({document.where}) has parliament finding "
                f"{finding.issue} ({finding.severity}): {finding.title}: {detail}",
                "correct the document so `parliament` reports nothing at MEDIUM or above "
                "(https://github.com/duo-labs/parliament lists each finding)")


IAM_NO_WILDCARD_ACTION = resource_policy(
    "iam-no-wildcard-action",
    "Allow statements name actions: no \"*\", no \"<service>:*\", no Allow+NotAction, in any policy document. "
    "Mirrors Checkov CKV_AWS_63, Trivy AVD-AWS-0057, cfn-nag F2/F3/F4/F15/W15.",
    DOCUMENT_TYPES, check_no_wildcard_action)

IAM_RESOURCE_WILDCARD = resource_policy(
    "iam-resource-wildcard",
    "Identity policies use Resource \"*\" only for actions that support no resource type (per parliament's IAM "
    "action database), never NotResource. Mirrors Checkov CKV_AWS_355, cfn-nag W11/W12/W21.",
    DOCUMENT_TYPES, check_resource_wildcard)

IAM_PASS_ROLE = resource_policy(
    "iam-pass-role-scoped",
    "iam:PassRole only on named role ARNs and only with an iam:PassedToService condition. "
    "Mirrors Trivy AVD-AWS-0342, cfn-nag F38/F39.",
    DOCUMENT_TYPES, check_pass_role)

IAM_TRUST_POLICY = resource_policy(
    "iam-trust-named-principals",
    "Role trust policies name the principals that may assume the role: never \"*\", never Allow+NotPrincipal. "
    "Mirrors Checkov CKV_AWS_60, cfn-nag F6.",
    (ROLE,), check_trust_policy)

IAM_NO_ADMINISTRATOR_ACCESS = resource_policy(
    "iam-no-administrator-access",
    "No role gets the AWS managed AdministratorAccess policy (managedPolicyArns or a policy attachment). "
    "Mirrors Checkov CKV_AWS_274, cfn-nag W43.",
    (ROLE, *ROLE_ATTACHMENT_TYPES), check_no_administrator_access)

IAM_PARLIAMENT = resource_policy(
    "iam-parliament",
    "Every policy document is free of parliament findings at MEDIUM or above (malformed documents, unknown "
    "principals, mismatched condition types, privilege escalation, …). Mirrors parliament (duo-labs) itself.",
    DOCUMENT_TYPES, check_parliament)

POLICIES = [IAM_NO_WILDCARD_ACTION, IAM_RESOURCE_WILDCARD, IAM_PASS_ROLE, IAM_TRUST_POLICY,
            IAM_NO_ADMINISTRATOR_ACCESS, IAM_PARLIAMENT]
