"""The access evaluator against AWS's documented policy evaluation logic and its examples.

IAM User Guide: "Policy evaluation for requests within a single account" (the carlossalazar
example), "Cross-account policy evaluation logic", "IAM JSON policy elements: Condition
operators"; AWS KMS Developer Guide: "Key policies" (the key policy must allow; the root
statement delegates to IAM).
"""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from policy.access.evaluator import (IDENTITY_POLICY, KEY_POLICY, RESOURCE_POLICY, TRUST_POLICY, Policy,
                                     Principal, Request, UnsupportedPolicy, evaluate)

A, B = "111122223333", "444455556666"
ROLE_A = Principal(account=A, arn=f"arn:aws:iam::{A}:role/app")
ROLE_B = Principal(account=B, arn=f"arn:aws:iam::{B}:role/app")


def identity(*statements):
    return Policy("identity policy", IDENTITY_POLICY, {"Version": "2012-10-17", "Statement": list(statements)})


def resource_policy(*statements, kind=RESOURCE_POLICY):
    return Policy(kind, kind, {"Version": "2012-10-17", "Statement": list(statements)})


def allow(action, resource="*", **extra):
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def request(principal, action, resource, account=A, **context):
    return Request(principal, action, resource, account, context)


# -- within one account ----------------------------------------------------------------------

CARLOS = Principal(account=A, arn=f"arn:aws:iam::{A}:user/carlossalazar")
CARLOS_POLICY = identity(
    {"Sid": "AllowS3ListRead", "Effect": "Allow", "Action": ["s3:GetBucketLocation", "s3:ListAllMyBuckets"],
     "Resource": "arn:aws:s3:::*"},
    {"Sid": "AllowS3Self", "Effect": "Allow", "Action": "s3:*",
     "Resource": ["arn:aws:s3:::amzn-s3-demo-bucket-carlossalazar/*", "arn:aws:s3:::amzn-s3-demo-bucket-carlossalazar"]},
    {"Sid": "DenyS3Logs", "Effect": "Deny", "Action": "s3:*", "Resource": "arn:aws:s3:::*log*"},
)
LOGS_BUCKET_POLICY = resource_policy(
    {"Sid": "AllowCarlos", "Effect": "Allow", "Principal": {"AWS": CARLOS.arn}, "Action": "s3:*",
     "Resource": "arn:aws:s3:::amzn-s3-demo-bucket-carlossalazar-logs/*"})


def test_carlos_saves_to_his_own_bucket_on_his_identity_policy_alone():
    decision = evaluate(request(CARLOS, "s3:PutObject", "arn:aws:s3:::amzn-s3-demo-bucket-carlossalazar/f.txt"),
                        [CARLOS_POLICY], None)
    assert decision.allowed and "AllowS3Self" in decision.reasons[0]


def test_carlos_is_denied_the_logs_bucket_by_his_explicit_deny_even_though_its_policy_allows_him():
    decision = evaluate(request(CARLOS, "s3:PutObject", "arn:aws:s3:::amzn-s3-demo-bucket-carlossalazar-logs/f"),
                        [CARLOS_POLICY], LOGS_BUCKET_POLICY)
    assert not decision.allowed and decision.reasons == ("explicit deny in identity policy (DenyS3Logs)",)


def test_same_account_either_side_allows():
    bucket = "arn:aws:s3:::b/o"
    grant = resource_policy({"Effect": "Allow", "Principal": {"AWS": ROLE_A.arn}, "Action": "s3:GetObject",
                             "Resource": "arn:aws:s3:::b/*"})
    assert evaluate(request(ROLE_A, "s3:GetObject", bucket), [identity(allow("s3:GetObject"))], None).allowed
    assert evaluate(request(ROLE_A, "s3:GetObject", bucket), [], grant).allowed
    assert not evaluate(request(ROLE_A, "s3:GetObject", bucket), [], None).allowed


def test_same_account_resource_policy_naming_only_the_account_delegates_to_iam():
    grant = resource_policy({"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{A}:root"},
                             "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*"})
    assert not evaluate(request(ROLE_A, "s3:GetObject", "arn:aws:s3:::b/o"), [], grant).allowed
    assert evaluate(request(ROLE_A, "s3:GetObject", "arn:aws:s3:::b/o"),
                    [identity(allow("s3:GetObject", "arn:aws:s3:::b/*"))], grant).allowed


# -- across accounts -------------------------------------------------------------------------

def test_cross_account_needs_both_the_identity_and_the_resource_policy():
    grant = resource_policy({"Effect": "Allow", "Principal": {"AWS": B}, "Action": "s3:GetObject",
                             "Resource": "arn:aws:s3:::b/*"})
    needs = identity(allow("s3:GetObject", "arn:aws:s3:::b/*"))
    req = request(ROLE_B, "s3:GetObject", "arn:aws:s3:::b/o", account=A)
    assert evaluate(req, [needs], grant).allowed
    only_identity = evaluate(req, [needs], None)
    assert not only_identity.allowed and "no resource policy" in only_identity.reasons[0]
    only_resource = evaluate(req, [], grant)
    assert not only_resource.allowed and "identity policy" in only_resource.reasons[0]


def test_cross_account_role_assumption_needs_identity_and_trust():
    trust = resource_policy({"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{B}:root"},
                             "Action": "sts:AssumeRole",
                             "Condition": {"ArnLike": {"aws:PrincipalArn": f"arn:aws:iam::{B}:role/app*"}}},
                            kind=TRUST_POLICY)
    role = f"arn:aws:iam::{A}:role/deploy"
    assert evaluate(request(ROLE_B, "sts:AssumeRole", role), [identity(allow("sts:AssumeRole", role))], trust).allowed
    other = Principal(account=B, arn=f"arn:aws:iam::{B}:role/build")
    denied = evaluate(request(other, "sts:AssumeRole", role), [identity(allow("sts:AssumeRole", role))], trust)
    assert not denied.allowed and "aws:PrincipalArn" in denied.reasons[0]


# -- policies that must allow ------------------------------------------------------------------

KEY = f"arn:aws:kms:us-east-1:{A}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
DEFAULT_KEY_POLICY = resource_policy({"Sid": "Enable IAM User Permissions", "Effect": "Allow",
                                      "Principal": {"AWS": f"arn:aws:iam::{A}:root"}, "Action": "kms:*",
                                      "Resource": "*"}, kind=KEY_POLICY)


def test_the_default_key_policy_lets_iam_policies_grant_use_of_the_key():
    assert evaluate(request(ROLE_A, "kms:Decrypt", KEY), [identity(allow("kms:Decrypt", KEY))], DEFAULT_KEY_POLICY).allowed
    assert not evaluate(request(ROLE_A, "kms:Decrypt", KEY), [], DEFAULT_KEY_POLICY).allowed


def test_no_identity_policy_grants_a_key_its_key_policy_does_not_allow():
    admin_only = resource_policy({"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{A}:root"},
                                  "Action": ["kms:DescribeKey", "kms:PutKeyPolicy"], "Resource": "*"}, kind=KEY_POLICY)
    decision = evaluate(request(ROLE_A, "kms:GenerateDataKey", KEY), [identity(allow("kms:*"))], admin_only)
    assert not decision.allowed and "has no statement allowing" in decision.reasons[-1]


def test_a_key_policy_naming_the_role_is_enough_in_its_own_account():
    names_role = resource_policy({"Effect": "Allow", "Principal": {"AWS": ROLE_A.arn}, "Action": "kms:Decrypt",
                                  "Resource": "*"}, kind=KEY_POLICY)
    assert evaluate(request(ROLE_A, "kms:Decrypt", KEY), [], names_role).allowed


def test_a_same_account_trust_policy_must_allow():
    trust = resource_policy({"Effect": "Allow", "Principal": {"Service": "codebuild.amazonaws.com"},
                             "Action": "sts:AssumeRole"}, kind=TRUST_POLICY)
    role = f"arn:aws:iam::{A}:role/target"
    assert not evaluate(request(ROLE_A, "sts:AssumeRole", role), [identity(allow("sts:AssumeRole"))], trust).allowed
    assert evaluate(request(Principal(service="codebuild.amazonaws.com"), "sts:AssumeRole", role), [], trust).allowed


# -- service principals ----------------------------------------------------------------------

TOPIC = f"arn:aws:sns:us-east-1:{A}:alerts"
RULE = f"arn:aws:events:us-east-1:{A}:rule/failed"
TOPIC_POLICY = resource_policy({"Sid": "Rules", "Effect": "Allow", "Principal": {"Service": "events.amazonaws.com"},
                                "Action": "sns:Publish", "Resource": TOPIC,
                                "Condition": {"ArnEquals": {"aws:SourceArn": [RULE]}}})
EVENTS = Principal(service="events.amazonaws.com")


def test_a_service_is_allowed_only_by_a_resource_policy_naming_it_with_its_conditions():
    assert evaluate(request(EVENTS, "sns:Publish", TOPIC, **{"aws:SourceArn": RULE}), [], TOPIC_POLICY).allowed
    other_rule = evaluate(request(EVENTS, "sns:Publish", TOPIC, **{"aws:SourceArn": RULE + "x"}), [], TOPIC_POLICY)
    assert not other_rule.allowed and "ArnEquals" in other_rule.reasons[0]
    assert not evaluate(request(EVENTS, "sns:Publish", TOPIC, **{"aws:SourceArn": RULE}), [], None).allowed
    s3 = Principal(service="s3.amazonaws.com")
    assert not evaluate(request(s3, "sns:Publish", TOPIC, **{"aws:SourceArn": RULE}), [], TOPIC_POLICY).allowed


# -- condition operators ----------------------------------------------------------------------

def _holds(condition, **context):
    policy = identity(allow("s3:PutObject", Condition=condition))
    return evaluate(request(ROLE_A, "s3:PutObject", "arn:aws:s3:::b/o", **context), [policy], None).allowed


def test_a_missing_key_fails_positive_operators_and_satisfies_negated_ones():
    assert not _holds({"StringEquals": {"s3:x-amz-server-side-encryption": "aws:kms"}})
    assert _holds({"StringNotEquals": {"s3:x-amz-server-side-encryption": "aws:kms"}})
    assert not _holds({"Bool": {"aws:SecureTransport": "false"}})
    assert _holds({"ArnNotLike": {"aws:SourceArn": "arn:aws:s3:::x"}})


def test_if_exists_holds_when_the_key_is_missing_and_checks_it_when_present():
    condition = {"StringEqualsIfExists": {"aws:SourceAccount": A}}
    assert _holds(condition)
    assert _holds(condition, **{"aws:SourceAccount": A})
    assert not _holds(condition, **{"aws:SourceAccount": B})


def test_set_qualifiers():
    any_value = {"ForAnyValue:StringEquals": {"aws:TagKeys": ["team", "env"]}}
    all_values = {"ForAllValues:StringEquals": {"aws:TagKeys": ["team", "env"]}}
    assert not _holds(any_value)  # missing key: no value matches
    assert _holds(all_values)  # missing key: vacuously every value matches
    assert _holds(any_value, **{"aws:TagKeys": ["cost", "env"]})
    assert not _holds(all_values, **{"aws:TagKeys": ["cost", "env"]})
    assert _holds(all_values, **{"aws:TagKeys": ["env"]})


def test_null_bool_and_like():
    assert _holds({"Null": {"aws:TokenIssueTime": "true"}})
    assert not _holds({"Null": {"aws:TokenIssueTime": "false"}})
    assert _holds({"Bool": {"aws:SecureTransport": "true"}}, **{"aws:SecureTransport": "true"})
    assert _holds({"StringLike": {"kms:EncryptionContext:aws:logs:arn": "arn:aws:logs:*:log-group:/aws/codebuild/*"}},
                  **{"kms:EncryptionContext:aws:logs:arn": f"arn:aws:logs:us-east-1:{A}:log-group:/aws/codebuild/x"})
    assert not _holds({"StringLike": {"aws:PrincipalTag/team": "Ops*"}}, **{"aws:PrincipalTag/team": "ops1"})


def test_arn_like_matches_each_of_the_six_parts_on_its_own():
    pattern = f"arn:aws:iam::{A}:role/delivery/shop/staging/*"
    assert _holds({"ArnLike": {"aws:PrincipalArn": pattern}}, **{"aws:PrincipalArn": pattern[:-1] + "x-role"})
    assert not _holds({"ArnLike": {"aws:PrincipalArn": pattern}},
                      **{"aws:PrincipalArn": f"arn:aws:iam::{A}:role/delivery/shop/prod/x"})
    # A part's wildcard never spans the colon into the next part.
    assert not _holds({"ArnLike": {"aws:SourceArn": "arn:aws:*"}}, **{"aws:SourceArn": "arn:aws:s3:::b"})
    assert _holds({"ArnLike": {"aws:SourceArn": "arn:aws:*:*:*:*"}}, **{"aws:SourceArn": "arn:aws:s3:::b"})


def test_condition_keys_are_case_insensitive_and_actions_too():
    policy = identity(allow("S3:putobject", Condition={"Bool": {"AWS:SecureTransport": "true"}}))
    assert evaluate(request(ROLE_A, "s3:PutObject", "arn:aws:s3:::b/o", **{"aws:securetransport": "true"}),
                    [policy], None).allowed


def test_not_action_and_not_resource():
    policy = identity({"Effect": "Allow", "NotAction": "s3:DeleteObject", "NotResource": "arn:aws:s3:::secret/*"})
    assert evaluate(request(ROLE_A, "s3:GetObject", "arn:aws:s3:::b/o"), [policy], None).allowed
    assert not evaluate(request(ROLE_A, "s3:DeleteObject", "arn:aws:s3:::b/o"), [policy], None).allowed
    assert not evaluate(request(ROLE_A, "s3:GetObject", "arn:aws:s3:::secret/o"), [policy], None).allowed


def test_an_operator_it_does_not_model_is_an_error_not_a_guess():
    with pytest.raises(UnsupportedPolicy, match="NumericLessThan"):
        _holds({"NumericLessThan": {"s3:max-keys": "10"}})


def test_a_hostile_document_is_refused():
    huge = identity(*[allow("s3:GetObject")] * 501)
    with pytest.raises(UnsupportedPolicy, match="at most 500"):
        evaluate(request(ROLE_A, "s3:GetObject", "arn:aws:s3:::b/o"), [huge], None)


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet="abcAB:*?-kK\u212a\u00df", max_size=8), st.text(alphabet="abcAB:-kK\u212a\u00df", max_size=8),
       st.booleans())
def test_glob_shortcuts_answer_as_the_regex_does(pattern, value, ignore_case):
    from policy.access.evaluator import _glob, _glob_regex

    assert _glob(pattern, value, ignore_case) == (_glob_regex(pattern, ignore_case).fullmatch(value) is not None)
