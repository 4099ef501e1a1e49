"""Offline plan time and peak memory by stack size.

For each size, a fresh interpreter plans the staging (or --stack) stack with generated services
and three regions in `environment.clusters`, through `config_overrides`; the child reports the
plan's wall time, the resource count and its peak RSS (ru_maxrss), so sizes never share a heap.

    .venv/bin/python bench/plan.py [--stack staging] [--sizes 1,10,50,200] [--regions 3]

Goal: 50 services x 3 regions under 10 s.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

# Regions of the aws partition, in the order sizes take them; cluster names are made up.
REGIONS = ("us-east-1", "eu-west-1", "ap-southeast-2", "us-west-2", "eu-central-1")
PROJECT = "delivery-pipeline"


def overrides(stack: str, services: int, regions: int) -> dict:
    from offline.plan import load_stack_config

    config = load_stack_config(REPO_ROOT, stack).values
    environment = dict(config[f"{PROJECT}:environment"])
    home = config[f"{PROJECT}:tooling"]["region"]
    chosen = [home] + [r for r in REGIONS if r != home][: regions - 1]
    environment["clusters"] = {region: f"{environment['name']}-{region}" for region in chosen}
    generated = [{"name": f"svc{i:03d}", "paths": [f"services/svc{i:03d}/**", "libs/**"]} for i in range(services)]
    return {f"{PROJECT}:environment": environment, f"{PROJECT}:services": generated}


def measure(stack: str, services: int, regions: int) -> dict:
    """Runs in the child: one plan, its time and the process's peak memory."""
    started = time.perf_counter()
    from offline import plan as offline_plan  # imports (pulumi, pulumi_aws) are part of what a user waits for
    imported = time.perf_counter()
    config = overrides(stack, services, regions)

    # The policy pack runs inside run_plan; time it apart so the table shows whose cost is whose.
    policy_seconds = 0.0
    evaluate = offline_plan._evaluate_policies

    def timed_evaluate(plan, project_dir):
        nonlocal policy_seconds
        policy_started = time.perf_counter()
        evaluate(plan, project_dir)
        policy_seconds = time.perf_counter() - policy_started

    offline_plan._evaluate_policies = timed_evaluate
    cpu_started, plan_started = time.process_time(), time.perf_counter()
    plan = offline_plan.run_plan(stack, config, REPO_ROOT)
    finished, cpu = time.perf_counter(), time.process_time() - cpu_started
    return {
        "services": services, "regions": regions, "resources": len(plan.resources),
        "import_s": imported - started, "plan_s": finished - plan_started, "policy_s": policy_seconds,
        "cpu_s": cpu, "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,  # KiB on Linux
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stack", default="staging")
    parser.add_argument("--sizes", default="1,10,50,200", help="comma-separated service counts")
    parser.add_argument("--regions", type=int, default=3, choices=range(1, len(REGIONS) + 1))
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child is not None:
        print(json.dumps(measure(args.stack, args.child, args.regions)))
        return 0

    print(f"offline plan of stack {args.stack!r}, {args.regions} regions, one fresh interpreter per size")
    # plan s: run_plan wall time (program under mocks + policy pack); policy s: the pack's share;
    # cpu s: run_plan's CPU time, steadier than wall time on a shared machine.
    header = (f"{'services':>8} {'regions':>7} {'resources':>9} {'import s':>8} {'plan s':>7} {'policy s':>8} "
              f"{'cpu s':>6} {'peak MiB':>8} {'ms/resource':>11}")
    print(header)
    print("-" * len(header))
    for size in (int(s) for s in args.sizes.split(",")):
        child = subprocess.run(
            [sys.executable, __file__, "--stack", args.stack, "--regions", str(args.regions), "--child", str(size)],
            capture_output=True, text=True, check=False, timeout=1800)
        if child.returncode != 0:
            print(f"{size:>8} failed:\n{child.stderr}", file=sys.stderr)
            return 1
        row = json.loads(child.stdout.strip().splitlines()[-1])
        per = 1000 * row["plan_s"] / max(row["resources"], 1)
        print(f"{row['services']:>8} {row['regions']:>7} {row['resources']:>9} {row['import_s']:>8.2f} "
              f"{row['plan_s']:>7.2f} {row['policy_s']:>8.2f} {row['cpu_s']:>6.2f} {row['peak_mib']:>8.0f} "
              f"{per:>11.2f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
