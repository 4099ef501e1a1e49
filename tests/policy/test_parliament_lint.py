"""policy.rules.parliament_lint gives parliament's own findings, only faster.

Findings are compared whole (issue, detail, severity-relevant fields, location) except a location's
line and column, which the policy pack never reports and the fast path does not track.
"""

from __future__ import annotations

import json

import parliament
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from policy.rules import parliament_lint
from policy.rules.documents import documents
from tests.conftest import cached_plan

POSITION = ("line", "column", "lineno")


def _findings(policy) -> list[tuple[str, str, str]]:
    return [(f.issue, json.dumps(f.detail, default=str, sort_keys=True),
             json.dumps({k: v for k, v in f.location.items() if k not in POSITION}, default=str, sort_keys=True))
            for f in policy.findings]


def _same_as_parliament(text: str) -> None:
    assert _findings(parliament_lint.analyze(text)) == _findings(parliament.analyze_policy_string(text)), text


def test_every_document_of_both_stacks_gets_parliaments_findings():
    texts = {document.text for stack in ("staging", "prod") for resource in cached_plan(stack).resources
             for document in documents(resource.type, resource.inputs)}
    assert len(texts) > 40
    for text in sorted(texts):
        _same_as_parliament(text)


@pytest.mark.parametrize("text", [
    '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*",}]}',
    '{"Version": "2012-10-17", // a comment\n "Statement": []}',
    '{Version: "2012-10-17", "Statement": []}',
    '{"Version": "2012-10-17", "Version": "2008-10-17", "Statement": []}',
    '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": NaN}]}',
    '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": 1e400}]}',
    '[{"Effect": "Allow"}]',
    '"just a string"',
    'not json at all',
    '',
    '{"Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}], "Extra": 1}',
    '{"Version": "2012-10-17"}',
    '{"Version": "2012-10-17", "Statement": {"Effect": "Deny", "NotAction": "s3:*", "NotResource": "*"}}',
    '{"Version": "2012-10-17", "Statement": [{"Sid": "A", "Effect": "Allow", "Action": "s3:NoSuchAction", '
    '"Resource": "*"}, {"Sid": "A", "Effect": "Allow", "Action": "nosuchservice:Get", "Resource": "*"}]}',
    '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["s3:GetObject"], '
    '"Resource": ["arn:aws:s3:::bucket/\\u00e9\\/x"], "Condition": {"Bool": {"aws:SecureTransport": true}}}]}',
], ids=["trailing-comma", "comment", "unquoted-key", "duplicate-key", "nan", "huge-number", "array", "string",
        "not-json", "empty", "unknown-element", "no-statement", "not-action", "unknown-actions", "escapes"])
def test_malformed_and_unusual_documents_get_parliaments_findings(text):
    _same_as_parliament(text)


ACTIONS = ["s3:GetObject", "s3:PutObject", "s3:*", "s3:Get*", "s3:ListBucket", "kms:Decrypt", "kms:*",
           "iam:PassRole", "iam:*", "sts:AssumeRole", "codebuild:StartBuild", "ecr:PutImage", "logs:PutLogEvents",
           "sns:Publish", "*", "secretsmanager:GetSecretValue", "ec2:RunInstances", "s3:PutBucketPolicy"]
RESOURCES = ["*", "arn:aws:s3:::bucket", "arn:aws:s3:::bucket/*", "arn:aws:kms:us-east-1:111111111111:key/k",
             "arn:aws:iam::111111111111:role/x", "arn:aws:logs:us-east-1:111111111111:log-group:g:*",
             "arn:aws:sns:us-east-1:111111111111:topic", "arn:aws:iam::111111111111:u*", "not-an-arn"]
CONDITIONS = [{}, {"Bool": {"aws:SecureTransport": "true"}}, {"StringEquals": {"kms:ViaService": "s3.x"}},
              {"StringLike": {"aws:PrincipalArn": "arn:aws:iam::*:role/x"}}]
statements = st.fixed_dictionaries(
    {"Effect": st.sampled_from(["Allow", "Deny"]),
     "Action": st.lists(st.sampled_from(ACTIONS), min_size=1, max_size=4),
     "Resource": st.one_of(st.sampled_from(RESOURCES), st.lists(st.sampled_from(RESOURCES), min_size=1, max_size=3))},
    optional={"Sid": st.sampled_from(["A", "B"]), "Condition": st.sampled_from(CONDITIONS),
              "Principal": st.sampled_from(["*", {"AWS": "arn:aws:iam::111111111111:root"},
                                            {"Service": "codebuild.amazonaws.com"}])})


@settings(max_examples=150, deadline=None)
@given(st.lists(statements, min_size=1, max_size=4), st.booleans())
def test_generated_documents_get_parliaments_findings(statement_list, indent):
    _same_as_parliament(json.dumps({"Version": "2012-10-17", "Statement": statement_list}, indent=2 if indent else None))


def test_the_memoized_lookups_are_in_place_and_answer_as_parliament_does():
    lookup = parliament.statement.get_privilege_info
    assert lookup.__wrapped__("s3", "GetObject") is lookup("s3", "GetObject")
    with pytest.raises(parliament.UnknownActionException):
        lookup("s3", "NoSuchAction")
    for module in (parliament, parliament.statement):
        assert module.is_arn_match("object", "arn:*:s3:::*/*", "arn:aws:s3:::bucket/key")
        assert hasattr(module.is_arn_match, "cache_info") and hasattr(module.is_arn_strictly_valid, "cache_info")
