"""Offline plan time and peak memory by stack size, beside the floor any program of that stack pays.

For each size, a fresh interpreter plans the staging (or --stack) stack with generated services
and three regions in `environment.clusters`, through `config_overrides`; the child reports the
plan's wall time, the resource count and its peak RSS (ru_maxrss), so sizes never share a heap.

The floor: another fresh interpreter imports pulumi_aws and pulumi_kubernetes and registers the
very resources of that plan (same types, names, parents and input values, in registration order)
as bare `pulumi.CustomResource`/`ComponentResource`/`ProviderResource` objects under Pulumi's stock
`MockMonitor` with trivial mocks. Both are timed as whole processes (start-up and imports
included), each the median of --repeat runs; the ratio is plan / floor. The plan pauses Python's
garbage collector while it runs (offline/plan.py); the floor is also shown paused from its start
(floor-gc, ratio-gc), the same trick applied to the bare SDK, and importing the typed modules
the plan's resources come from (floor-typed, ratio-typed), which no program using them avoids.

    .venv/bin/python bench/plan.py [--stack staging] [--sizes 1,10,50,200] [--regions 3] [--repeat 3]

Targets: plan within 1.5x of the floor at 50 and 200 services, within 2x at 1 service.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
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
    # Trigger paths are a building stack's (a promote stack's services have none).
    builds = config[f"{PROJECT}:source"]["kind"] == "build"
    generated = [{"name": f"svc{i:03d}", **({"paths": [f"services/svc{i:03d}/**", "libs/**"]} if builds else {})}
                 for i in range(services)]
    return {f"{PROJECT}:environment": environment, f"{PROJECT}:services": generated}


def measure(stack: str, services: int, regions: int, dump: str | None = None) -> dict:
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
    plan = offline_plan.run_plan(stack, config, REPO_ROOT, exiting=True)  # as the CLI runs it
    finished, cpu = time.perf_counter(), time.process_time() - cpu_started
    if dump:
        Path(dump).write_text(json.dumps([
            {"type": r.type, "name": r.name, "parent": r.parent, "urn": r.urn, "custom": r.custom,
             "inputs": r.inputs} for r in plan.resources]))
        # The typed SDK modules the program's resources and invokes came from (for floor-typed).
        Path(dump + ".modules").write_text(json.dumps(sorted(
            name for name in sys.modules if name.split(".")[0] in ("pulumi_aws", "pulumi_kubernetes"))))
    return {
        "services": services, "regions": regions, "resources": len(plan.resources),
        "import_s": imported - started, "plan_s": finished - plan_started, "policy_s": policy_seconds,
        "cpu_s": cpu, "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,  # KiB on Linux
    }


def floor(stack: str, dump: str, collector_paused: bool = False, typed_imports: bool = False) -> dict:
    """Runs in the child: the plan's resources registered bare under the stock MockMonitor.

    `collector_paused`: with the garbage collector paused from the start, as the plan pauses it
    while it runs; what the floor would cost a program that does the same. `typed_imports`: also
    importing the typed modules (pulumi_aws.s3, pulumi_kubernetes.core.v1, ...) the plan's
    resources come from, which a program writing `aws.s3.Bucket(...)` cannot avoid."""
    if collector_paused:
        import gc

        gc.disable()
    import importlib

    import pulumi
    import pulumi_aws  # noqa: F401  (what any program of this stack imports)
    import pulumi_kubernetes  # noqa: F401

    if typed_imports:
        for module in json.loads(Path(dump + ".modules").read_text()):
            importlib.import_module(module)
    from pulumi.runtime.stack import run_pulumi_func
    from pulumi.runtime.sync_await import _sync_await

    class TrivialMocks(pulumi.runtime.Mocks):
        registered = 0

        def new_resource(self, args):
            TrivialMocks.registered += 1
            return [f"{args.name}-id", args.inputs]

        def call(self, args):
            return {}

    resources = json.loads(Path(dump).read_text())
    pulumi.runtime.set_mocks(TrivialMocks(), project=PROJECT, stack=stack, preview=False)

    def program() -> None:
        registered: dict[str, pulumi.Resource] = {}
        for r in resources:
            if r["type"] == "pulumi:pulumi:Stack":
                continue
            opts = pulumi.ResourceOptions(parent=registered.get(r["parent"]))
            if r["type"].startswith("pulumi:providers:"):
                resource_ = pulumi.ProviderResource(r["type"].split(":")[-1], r["name"], r["inputs"], opts)
            elif r["custom"]:
                resource_ = pulumi.CustomResource(r["type"], r["name"], r["inputs"], opts)
            else:
                resource_ = pulumi.ComponentResource(r["type"], r["name"], None, opts)
            registered[r["urn"]] = resource_

    _sync_await(run_pulumi_func(program))
    # Every registration reaches the stock monitor's mocks, the root stack's included.
    if TrivialMocks.registered != len(resources):
        raise SystemExit(f"the floor registered {TrivialMocks.registered} resources, the plan has {len(resources)}")
    return {"resources": len(resources)}


def _whole_process(argv: list[str]) -> tuple[float, dict]:
    started = time.perf_counter()
    child = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=1800)
    elapsed = time.perf_counter() - started
    if child.returncode != 0:
        raise RuntimeError(child.stderr)
    return elapsed, json.loads(child.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stack", default="staging")
    parser.add_argument("--sizes", default="1,10,50,200", help="comma-separated service counts")
    parser.add_argument("--regions", type=int, default=3, choices=range(1, len(REGIONS) + 1))
    parser.add_argument("--repeat", type=int, default=3, help="runs per size; the table shows medians")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--dump", help=argparse.SUPPRESS)
    parser.add_argument("--floor", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--collector-paused", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--typed-imports", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.floor:
        print(json.dumps(floor(args.stack, args.dump, args.collector_paused, args.typed_imports)))
        return 0
    if args.child is not None:
        print(json.dumps(measure(args.stack, args.child, args.regions, args.dump)))
        return 0

    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"offline plan of stack {args.stack!r}, {args.regions} regions, fresh interpreters, "
          f"median of {args.repeat}; load average at start {load} on {os.cpu_count()} CPUs")
    # process s: whole-process wall time of the plan (start-up, imports, program, policy pack);
    # floor s: the same for the bare registration of its resources; ratio = process / floor.
    # floor-gc s: the floor with the garbage collector paused, as the plan runs; ratio-gc likewise.
    # floor-typed s: the floor importing the typed SDK modules of the plan's resources too.
    # plan s: run_plan alone; policy s: the pack's share; cpu s: run_plan's CPU time.
    header = (f"{'services':>8} {'resources':>9} {'process s':>9} {'floor s':>7} {'ratio':>5} "
              f"{'floor-gc s':>10} {'ratio-gc':>8} {'floor-typed s':>13} {'ratio-typed':>11} "
              f"{'import s':>8} {'plan s':>7} {'policy s':>8} {'cpu s':>6} {'peak MiB':>8}")
    print(header)
    print("-" * len(header))
    me = [sys.executable, __file__, "--stack", args.stack, "--regions", str(args.regions)]
    with tempfile.TemporaryDirectory() as scratch:
        for size in (int(s) for s in args.sizes.split(",")):
            dump = str(Path(scratch) / f"plan-{size}.json")
            try:
                plans = [_whole_process(me + ["--child", str(size), "--dump", dump]) for _ in range(args.repeat)]
                # The floor, then floor-gc and floor-typed: each the median of its runs.
                floor_s, floor_gc_s, floor_typed_s = (
                    statistics.median(_whole_process(me + ["--floor", *flags, "--dump", dump])[0]
                                      for _ in range(args.repeat))
                    for flags in ([], ["--collector-paused"], ["--typed-imports"]))
            except RuntimeError as error:
                print(f"{size:>8} failed:\n{error}", file=sys.stderr)
                return 1
            process_s = statistics.median(t for t, _ in plans)
            row = {key: statistics.median(r[key] for _, r in plans)
                   for key in ("import_s", "plan_s", "policy_s", "cpu_s", "peak_mib")}
            resources = plans[0][1]["resources"]
            print(f"{size:>8} {resources:>9} {process_s:>9.2f} {floor_s:>7.2f} {process_s / floor_s:>5.2f} "
                  f"{floor_gc_s:>10.2f} {process_s / floor_gc_s:>8.2f} "
                  f"{floor_typed_s:>13.2f} {process_s / floor_typed_s:>11.2f} "
                  f"{row['import_s']:>8.2f} {row['plan_s']:>7.2f} {row['policy_s']:>8.2f} {row['cpu_s']:>6.2f} "
                  f"{row['peak_mib']:>8.0f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
