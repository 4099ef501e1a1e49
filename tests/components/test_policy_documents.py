"""components.iam.document: a known document is a plain string, one holding Outputs an Output."""

from __future__ import annotations

import json

import pulumi
import pytest

from components.iam import document, service_trust, statement


class _Mocks(pulumi.runtime.Mocks):
    def new_resource(self, args):
        return f"{args.name}-id", args.inputs

    def call(self, args):
        return {}


@pytest.fixture(autouse=True)
def mocks():
    pulumi.runtime.set_mocks(_Mocks(), project="delivery-pipeline", stack="test", preview=False)

STATEMENTS = [statement("Read", ["s3:GetObject"], "arn:aws:s3:::bucket/*"),
              statement("Use", ["kms:Decrypt"], ["arn:aws:kms:us-east-1:111111111111:key/k"],
                        condition={"StringEquals": {"kms:ViaService": "s3.us-east-1.amazonaws.com"}})]


def test_a_document_known_at_program_time_is_a_plain_string():
    text = document(STATEMENTS)
    assert isinstance(text, str)
    assert json.loads(text) == {"Version": "2012-10-17", "Statement": STATEMENTS}
    assert isinstance(service_trust("codebuild.amazonaws.com", "111111111111"), str)


@pulumi.runtime.test
def test_a_document_holding_outputs_is_an_output_of_the_same_text():
    with_outputs = [statement("Read", ["s3:GetObject"], pulumi.Output.concat(pulumi.Output.from_input("arn:aws:s3:::bucket"), "/*")),
                    statement("Use", ["kms:Decrypt"], [pulumi.Output.from_input("arn:aws:kms:us-east-1:111111111111:key/k")],
                              condition={"StringEquals": {"kms:ViaService": pulumi.Output.from_input("s3.us-east-1.amazonaws.com")}})]
    text = document(with_outputs)
    assert isinstance(text, pulumi.Output)
    return text.apply(lambda resolved: _equal(resolved, document(STATEMENTS)))


def _equal(resolved: str, expected: str) -> None:
    assert resolved == expected
