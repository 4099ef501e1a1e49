"""docs/operations/quotas.md says what the quota model does: its table is `policy.quotas.limits`,
row for row, and how many services fit (there and in the README) is what the plans of one and two
services give."""

from __future__ import annotations

from bench.plan import overrides
from offline.plan import run_plan
from policy.quotas.limits import LIMITS
from policy.quotas.usage import services_that_fit, to_json
from tests.docs.pages import DOCS, ROOT

PAGE = DOCS / "operations" / "quotas.md"


def row(limit) -> str:
    maximum = f"{limit.maximum:,}" if limit.maximum else ("none documented" if limit.adjustable else "—")
    value = f"{limit.value:,}" + (f" {limit.unit}" if limit.unit else "")
    return f"| `{limit.id}` | {limit.name} | {limit.scope} | {value} | {limit.kind} | {maximum} | {limit.code or '—'} |"


def test_the_table_is_the_models_limits():
    rows = [line for line in PAGE.read_text().splitlines() if line.startswith("| `")]
    assert rows == [row(limit) for limit in LIMITS]


def both_stacks(services: int):
    """The prod plan's verdicts with the staging plan's counts added, every service in 3 regions."""
    staging = run_plan("staging", overrides("staging", services, 3))
    prod = run_plan("prod", overrides("prod", services, 3), other_plans={"staging": to_json(staging.quotas)})
    return prod.quotas


def test_how_many_services_fit_is_what_the_plans_give():
    one, two = both_stacks(1), both_stacks(2)
    default, increased = (services_that_fit(one, two, increased=flag) for flag in (False, True))

    def per_service(limit_id: str) -> int:
        [a], [b] = ([r for r in results if r.limit.id == limit_id and r.account == "111111111111"
                     and r.region in (None, "us-east-1")] for results in (one, two))
        return b.total - a.total

    pipelines = per_service("codepipeline-pipelines")
    for page in (PAGE, ROOT / "README.md"):
        check_fit(" ".join(page.read_text().split()), default, increased, per_service(default.limit.id), pipelines)


def check_fit(text: str, default, increased, roles: int, pipelines: int) -> None:
    assert (f"with the **default** quotas, **{default.services} services** fit (the first quota they reach is "
            f"{default.limit.name}: {roles} roles per service)") in text
    assert (f"up to the documented maxima, **{increased.services} services** fit ({increased.limit.name} at its "
            f"maximum of {increased.limit.maximum:,})") in text
    assert f"pipelines per Region ({pipelines} per service) pass their default of 1,000 at " \
           f"{1000 // pipelines + 1} services and have no documented maximum" in text
