"""The figures the docs quote that the program produces are the real plans': every fenced block
marked `<!-- plan-output: <stack> -->` is what `make plan STACK=<stack> DIAGRAMS=0` prints,
shortened with `…`; the access failure example is what the plan prints for the weakening its
marker names; the plan JSON example has the real document's keys. A count in the plan's own words
("N resources (M components)", "access: N required paths …") anywhere else fails, so no figure
escapes the check."""

from __future__ import annotations

import dataclasses
import io
import json
import re

import pytest
from rich.console import Console

from offline import render
from policy.access.planned import evaluate_paths, summary
from policy.quotas.usage import summary as quota_summary
from tests.docs.pages import ROOT, excerpt_mismatch, marked_blocks, pages

PLAN_FIGURE = re.compile(r"\d[\d,]* resources \(\d+ components\)|access: \d+ required paths|quotas: \d+ checked")


def printed(plan) -> list[str]:
    """What `make plan DIAGRAMS=0` prints for the plan: the tree, outputs, counts and violations,
    then the access paths."""
    out = io.StringIO()
    render.print_plan(plan, Console(file=out, highlight=False, soft_wrap=True), diagrams=False)
    return out.getvalue().splitlines() + summary(plan.access) + quota_summary(plan.quotas, plan.stack)


PLAN_OUTPUTS = marked_blocks("plan-output")


@pytest.mark.parametrize("block", PLAN_OUTPUTS, ids=lambda b: b.where())
def test_quoted_plan_output_is_what_the_plan_prints(block, request):
    # The marker names the stack; its plan is the session's (tests/conftest.py's fixture of that name).
    mismatch = excerpt_mismatch(block.lines, printed(request.getfixturevalue(block.argument)))
    assert mismatch is None, f"{block.where()}: {mismatch}"


def test_the_docs_quote_the_excerpt_and_the_access_counts_of_both_stacks():
    quoted = {(block.argument, line) for block in PLAN_OUTPUTS for line in block.lines}
    for stack in ("staging", "prod"):
        assert any(s == stack and line.startswith("access: ") for s, line in quoted), stack
    assert any(s == "prod" and " resources (" in line for s, line in quoted)


def test_the_access_failure_example_is_what_the_plan_prints_for_that_weakening(request):
    [block] = marked_blocks("access-failure-example")
    stack, key_name, sid, operator, condition_key = block.argument.split()
    plan = request.getfixturevalue(stack)
    key = next(r for r in plan.resources if r.type == "aws:kms/key:Key" and r.name == key_name)
    policy = json.loads(key.inputs["policy"])
    statement = next(s for s in policy["Statement"] if s.get("Sid") == sid)
    statement["Condition"] = {operator: {condition_key: key.account}}
    weakened = dataclasses.replace(key, inputs={**key.inputs, "policy": json.dumps(policy)})
    resources = [weakened if r is key else r for r in plan.resources]
    lines = summary(evaluate_paths(resources, [result.path for result in plan.access]))
    assert excerpt_mismatch(block.lines, lines) is None, excerpt_mismatch(block.lines, lines)


def test_the_plan_json_example_has_the_real_documents_keys(request):
    [block] = marked_blocks("plan-json-example")
    example = json.loads("\n".join(block.lines))
    real = request.getfixturevalue(block.argument).to_json()
    assert example.keys() == real.keys()
    for key in ("resources", "access"):
        assert example[key][0].keys() == real[key][0].keys(), key
    assert example["quotas"].keys() == real["quotas"].keys()
    assert example["quotas"]["results"][0].keys() == real["quotas"]["results"][0].keys()


def _unchecked_figures() -> list[str]:
    checked = {(block.path, block.line + offset) for block in PLAN_OUTPUTS + marked_blocks("access-failure-example")
               for offset in range(1, len(block.lines) + 2)}
    found = []
    for page in pages():
        for number, line in enumerate(page.read_text().splitlines(), 1):
            if PLAN_FIGURE.search(line) and (page, number) not in checked:
                found.append(f"{page.relative_to(ROOT)}:{number}: {line.strip()}")
    return found


def test_no_plan_figure_is_quoted_outside_a_checked_block():
    assert _unchecked_figures() == []


def test_the_excerpt_reader_finds_a_changed_count_and_a_missing_line():
    output = ["tree", "  a", "  b", "180 resources (21 components) in p/prod", "access: 1 required paths"]
    assert excerpt_mismatch(("tree", "…", "  b", "180 resources (21 components) in p/…"), output) is None
    assert excerpt_mismatch(("tree", "  b"), output) is not None  # a skipped line needs its "…"
    assert excerpt_mismatch(("…", "133 resources (16 components) in p/prod"), output) is not None
