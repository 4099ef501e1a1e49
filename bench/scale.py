"""The envelope: both stacks planned at 1 to 300 services, into one tooling account, against AWS's quotas.

For each size, a fresh interpreter plans the staging stack with generated services and three regions
in `environment.clusters` (bench/plan.py's `overrides`) and writes its quota counts; another plans
prod with staging's counts added (`other_plans`, what `--with-plan` does), so the verdicts are
those of both stacks in the one account. Each child reports its resources, IAM roles, pipelines and
CodeBuild projects in the tooling account, run_plan's wall time and the process's peak RSS.

    .venv/bin/python bench/scale.py [--sizes 1,10,60,150,300] [--regions 3]

Targets: at 300 services no hard limit passed and every adjustable quota within its documented
maximum, the plan naming the increases to request; at least 60 services within every default.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from bench.plan import _whole_process, overrides  # noqa: E402

TOOLING_ACCOUNT = "111111111111"
COUNTED = {"roles": "aws:iam/role:Role", "pipelines": "aws:codepipeline/pipeline:Pipeline",
           "projects": "aws:codebuild/project:Project"}


def measure(stack: str, services: int, regions: int, quotas_out: str, other: str | None) -> dict:
    """Runs in the child: one plan, its counts, its quota verdicts written to `quotas_out`."""
    from offline.plan import run_plan
    from policy.quotas.usage import BREACH, REQUEST, tightest, to_json

    others = {"staging": json.loads(Path(other).read_text())} if other else {}
    started = time.perf_counter()
    plan = run_plan(stack, overrides(stack, services, regions), REPO_ROOT, exiting=True, other_plans=others)
    seconds = time.perf_counter() - started
    Path(quotas_out).write_text(json.dumps(to_json(plan.quotas)))
    in_tooling = Counter(r.type for r in plan.resources if r.account == TOOLING_ACCOUNT)
    worst = tightest(plan.quotas)
    return {
        "resources": len(plan.resources), **{key: in_tooling[type_] for key, type_ in COUNTED.items()},
        "plan_s": seconds, "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "tightest": f"{worst.limit.id} {worst.total:,}/{worst.limit.value:,}",
        "requests": [f"{r.limit.code or r.limit.id} >= {r.total:,}" for r in plan.quotas if r.status == REQUEST],
        "breaches": [f"{r.limit.id} {r.where} {r.total:,}/{r.limit.value:,}" for r in plan.quotas
                     if r.status == BREACH],
        "access_failed": sum(1 for r in plan.access or [] if not r.ok),
        "violations": sum(1 for v in plan.violations if getattr(v, "mandatory", False)),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1,10,60,150,300", help="comma-separated service counts")
    parser.add_argument("--regions", type=int, default=3)
    parser.add_argument("--child", nargs=2, metavar=("STACK", "SERVICES"), help=argparse.SUPPRESS)
    parser.add_argument("--quotas-out", help=argparse.SUPPRESS)
    parser.add_argument("--with-quotas", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        stack, services = args.child
        print(json.dumps(measure(stack, int(services), args.regions, args.quotas_out, args.with_quotas)))
        return 0

    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"staging + prod in one tooling account, {args.regions} regions, fresh interpreters; "
          f"load average at start {load} on {os.cpu_count()} CPUs")
    # resources: both plans; roles, pipelines, projects: the tooling account's, both stacks;
    # tightest: against the quota in force (default), both stacks' counts; plan s and peak MiB:
    # staging / prod, run_plan's wall time and each process's peak RSS.
    header = (f"{'services':>8} {'resources':>9} {'roles':>6} {'pipelines':>9} {'projects':>8}  "
              f"{'tightest (both stacks)':<34} {'plan s':>13} {'peak MiB':>11}  increases to request / breaches")
    print(header)
    print("-" * len(header))
    me = [sys.executable, __file__, "--regions", str(args.regions)]
    with tempfile.TemporaryDirectory() as scratch:
        for size in (int(s) for s in args.sizes.split(",")):
            staging_quotas, prod_quotas = (str(Path(scratch) / f"{stack}-{size}.json") for stack in ("staging", "prod"))
            try:
                _, staging = _whole_process(me + ["--child", "staging", str(size), "--quotas-out", staging_quotas])
                _, prod = _whole_process(me + ["--child", "prod", str(size), "--quotas-out", prod_quotas,
                                               "--with-quotas", staging_quotas])
            except RuntimeError as error:
                print(f"{size:>8} failed:\n{error}", file=sys.stderr)
                return 1
            both = {key: staging[key] + prod[key] for key in ("resources", *COUNTED)}
            notes = "; ".join(prod["requests"] + [f"BREACH {b}" for b in prod["breaches"]]) or "none"
            if prod["access_failed"] or prod["violations"] or staging["access_failed"] or staging["violations"]:
                notes += " (access paths or policies failed)"
            print(f"{size:>8} {both['resources']:>9,} {both['roles']:>6,} {both['pipelines']:>9,} "
                  f"{both['projects']:>8,}  {prod['tightest']:<34} "
                  f"{staging['plan_s']:>6.1f}/{prod['plan_s']:<6.1f} {staging['peak_mib']:>5.0f}/{prod['peak_mib']:<5.0f}"
                  f"  {notes}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
