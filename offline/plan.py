"""The offline plan: the real Pulumi program run in-process under Pulumi's mock runtime.

`run_plan` reads `Pulumi.<stack>.yaml` and hands its config to the program exactly as `pulumi up`
would (keys `<project>:<key>`, structured values JSON-encoded), runs `__main__.py`, and records
every resource the program registers: its URN in the real engine's form, parent, provider, where it
lands (account, region), inputs as registered and the mocked outputs. Secret values never leave the
monitor: inputs and outputs hold "[secret]" in their place.

    python -m offline.plan --stack staging [--summary | --no-diagrams] [--json FILE] [--diagram-dir DIR]
                           [--with-plan OTHER.json ...]

Exit codes: 0 planned; 1 the program failed (traceback); 2 invalid settings (`error: <message>`,
one line per error) or stack file (`error: <file>:<line>:<column>: <problem>`), or a `--with-plan`
file that is no plan of another stack; 3 a mandatory policy was violated, an access path failed (a
required request denied or a forbidden one allowed by the planned policies), or an AWS limit the
quota model knows is passed (a hard limit, or an adjustable one past its documented maximum).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import functools
import gc
import hashlib
import importlib
import importlib.util
import json
import logging
import math
import os
import runpy
import sys
import threading
import traceback
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Mapping

from google.protobuf import struct_pb2
from pulumi.runtime import rpc, set_all_config, set_mocks, settings
from pulumi.runtime.mocks import MockMonitor
from pulumi.runtime.proto import resource_pb2
from pulumi.runtime.stack import massage, run_pulumi_func
from pulumi.runtime.sync_await import _ensure_event_loop, _sync_await

from offline import stack_yaml
from offline.mocks import NO_HOOKS, OfflineMocks, PlanHooks, PlanResourceArgs
from offline.model import Plan, PlannedResource

REPO_ROOT = Path(__file__).resolve().parent.parent
STACK_TYPE = "pulumi:pulumi:Stack"
SECRET = "[secret]"
UNKNOWN = "[unknown]"
# Stand-in for `secure:` config values: the offline plan has no key to decrypt them.
SECURE_PLACEHOLDER = "offline-plan-secure-value"
log = logging.getLogger("offline.plan")


class StackConfigError(ValueError):
    """The stack's project or config file is missing or unreadable. The message says which and why."""


# ----------------------------------------------------------------------------------------------
# Wire values: protobuf structs to plain values, secrets kept as markers


class _Secret:
    """A secret value inside the monitor. Mocks see the plain value; the plan only "[secret]"."""

    __slots__ = ("value",)

    def __init__(self, value: Any):
        self.value = value


class _Decoder:
    """A protobuf Struct to plain values, with secrets as `_Secret`, resource references as URNs
    and unknowns as "[unknown]", read straight off the message (`json_format.MessageToDict`'s
    generic walk was most of the monitor's cost). `secret` tells whether a `_Secret` was made:
    values without one need no redacted or plain copies."""

    __slots__ = ("secret",)

    def __init__(self) -> None:
        self.secret = False

    def struct(self, struct: struct_pb2.Struct) -> Any:
        return self._fields(struct.fields)

    def _value(self, value: struct_pb2.Value) -> Any:
        kind = value.WhichOneof("kind")
        if kind == "string_value":
            text = value.string_value
            return UNKNOWN if text == rpc.UNKNOWN else text
        if kind == "struct_value":
            return self._fields(value.struct_value.fields)
        if kind == "list_value":
            return [self._value(item) for item in value.list_value.values]
        if kind == "number_value":
            number = value.number_value
            if math.isinf(number) or math.isnan(number):
                raise ValueError(f"Fail to serialize {number} for Value.number_value, which would parse as string_value")
            # Protobuf numbers are doubles; the engine shows integral ones as integers.
            return int(number) if number.is_integer() else number
        if kind == "bool_value":
            return value.bool_value
        return None

    def _fields(self, fields: Any) -> Any:
        signature = self._value(fields[rpc._special_sig_key]) if rpc._special_sig_key in fields else None
        if signature == rpc._special_secret_sig:
            self.secret = True
            return _Secret(self._value(fields["value"]) if "value" in fields else None)
        if signature == rpc._special_resource_sig:
            return self._value(fields["urn"]) if "urn" in fields else None
        if signature == rpc._special_output_value_sig:
            inner = self._value(fields["value"]) if "value" in fields else UNKNOWN
            if "secret" in fields and _truthy(fields["secret"]):
                self.secret = True
                return _Secret(inner)
            return inner
        if signature in (rpc._special_asset_sig, rpc._special_archive_sig):
            return {key: self._value(item) for key, item in fields.items() if key != rpc._special_sig_key}
        # Struct fields have no order on the wire; sorted keys make the JSON byte-for-byte stable.
        return {key: self._value(fields[key]) for key in sorted(fields)}


def _truthy(value: struct_pb2.Value) -> bool:
    """Whether the plain form of `value` is truthy (the SDK writes a bool here)."""
    kind = value.WhichOneof("kind")
    if kind == "struct_value":
        return len(value.struct_value.fields) > 0
    if kind == "list_value":
        return len(value.list_value.values) > 0
    return kind is not None and kind != "null_value" and bool(getattr(value, kind))


def _struct_to_python(struct: struct_pb2.Struct) -> dict[str, Any]:
    return _Decoder().struct(struct)


def _plain(value: Any) -> Any:
    if isinstance(value, _Secret):
        return _plain(value.value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _redacted(value: Any) -> Any:
    if isinstance(value, _Secret):
        return SECRET
    if isinstance(value, dict):
        return {k: _redacted(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_redacted(v) for v in value]
    return value


def _has_secret(value: Any) -> bool:
    if isinstance(value, _Secret):
        return True
    if isinstance(value, dict):
        return any(_has_secret(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_secret(v) for v in value)
    return False


def _to_wire(value: Any) -> Any:
    """Mock outputs back to what the SDK deserializes, secrets with the engine's secret signature."""
    if isinstance(value, _Secret):
        return rpc.wrap_rpc_secret(_to_wire(value.value))
    if isinstance(value, dict):
        return {k: _to_wire(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_to_wire(v) for v in value]
    return value


def _to_struct(values: dict[str, Any]) -> struct_pb2.Struct:
    # Mock answers are plain values: a direct Struct is what rpc.serialize_properties would build
    # (absent top-level properties are left out), without a trip through an event loop.
    struct = struct_pb2.Struct()
    struct.update({k: v for k, v in _to_wire(values).items() if v is not None})
    return struct


# ----------------------------------------------------------------------------------------------
# The monitor


class PlanMonitor(MockMonitor):
    """The mock resource monitor, recording every registration with real-engine URNs."""

    def __init__(self, mocks: OfflineMocks, project: str, stack: str):
        super().__init__(mocks)
        self.mocks: OfflineMocks = mocks
        self.project = project
        self.stack = stack
        self.planned: dict[str, PlannedResource] = {}
        self.component_outputs: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()

    def make_urn(self, parent: str, type_: str, name: str) -> str:
        # The real engine qualifies a child's type with its parent's whole type chain, except for
        # the root stack, which is never part of a chain.
        if parent:
            parent_type = parent.split("::")[2]
            if parent_type != STACK_TYPE:
                type_ = f"{parent_type}${type_}"
        return f"urn:pulumi:{self.stack}::{self.project}::{type_}::{name}"

    def RegisterResource(self, request: Any) -> Any:
        urn = self.make_urn(request.parent, request.type, request.name)
        if request.type == STACK_TYPE:
            return resource_pb2.RegisterResourceResponse(urn=urn)
        decoder = _Decoder()
        inputs = decoder.struct(request.object)
        custom = bool(request.custom)
        if not custom:
            # Components have no physical id and no provider-made outputs.
            self._record(urn, request, inputs, decoder.secret, None, {}, custom)
            return resource_pb2.RegisterResourceResponse(urn=urn)
        id_, state = self._new_resource(urn, request, inputs, decoder.secret, custom, request.importId)
        return resource_pb2.RegisterResourceResponse(urn=urn, id=id_, object=_to_struct(state))

    def ReadResource(self, request: Any) -> Any:
        # Reads (StackReference, `get` of existing resources) are recorded like registrations.
        urn = self.make_urn(request.parent, request.type, request.name)
        decoder = _Decoder()
        inputs = decoder.struct(request.properties)
        _, state = self._new_resource(urn, request, inputs, decoder.secret, True, request.id)
        return resource_pb2.ReadResourceResponse(urn=urn, properties=_to_struct(state))

    def RegisterResourceOutputs(self, request: Any) -> Any:
        if request.urn:
            with self._lock:
                self.component_outputs[request.urn] = _redacted(_struct_to_python(request.outputs))
        return super().RegisterResourceOutputs(request)

    def _new_resource(self, urn: str, request: Any, inputs: dict[str, Any], secret: bool, custom: bool,
                      resource_id: str) -> tuple[str, dict[str, Any]]:
        # `secret`: whether the inputs hold a `_Secret`; without one they are plain already.
        plain = _plain(inputs) if secret else inputs
        provider = request.provider or None
        placement = self.mocks.placements.of_resource(request.type, request.name, custom, plain, provider)
        args = PlanResourceArgs(urn=urn, placement=placement, typ=request.type, name=request.name,
                                inputs=plain, provider=provider, resource_id=resource_id, custom=custom)
        id_, state = self.mocks.new_resource(args)
        if secret:
            # An output echoing a secret input stays secret, as the engine keeps it.
            state = {k: inputs[k] if k in inputs and _has_secret(inputs[k]) and v == plain[k] else v
                     for k, v in state.items()}
        if request.type.startswith("pulumi:providers:"):
            self.mocks.placements.add_provider(f"{urn}::{id_}", placement)
        with self._lock:
            self.resources[urn] = MockMonitor.ResourceRegistration(urn, id_, _plain(state) if secret else state)
        self._record(urn, request, inputs, secret, id_, state, custom, placement.account, placement.region)
        return id_, state

    def _aliases(self, request: Any) -> tuple[str, ...]:
        """The URNs of the resource's aliases, as the engine resolves an alias spec: its name, type
        and parent where given, the resource's own otherwise."""
        urns = list(getattr(request, "aliasURNs", ()))
        for alias in getattr(request, "aliases", ()):
            if alias.urn:
                urns.append(alias.urn)
                continue
            spec = alias.spec
            parent = "" if spec.noParent else (spec.parentUrn or request.parent)
            urn = self.make_urn(parent, spec.type or request.type, spec.name or request.name)
            if spec.stack or spec.project:
                _, _, rest = urn.split("::", 2)
                urn = f"urn:pulumi:{spec.stack or self.stack}::{spec.project or self.project}::{rest}"
            urns.append(urn)
        return tuple(sorted(set(urns)))

    def _record(self, urn: str, request: Any, inputs: dict[str, Any], secret: bool, id_: str | None,
                outputs: dict[str, Any], custom: bool, account: str | None = None,
                region: str | None = None) -> None:
        parent = request.parent or None
        planned = PlannedResource(
            urn=urn, type=request.type, name=request.name, id=id_, parent=parent, account=account,
            region=region, inputs=_redacted(inputs) if secret else inputs,
            outputs=_redacted(outputs) if secret else outputs,
            custom=custom, provider=(request.provider.rsplit("::", 1)[0] if request.provider else None),
            dependencies=tuple(getattr(request, "dependencies", ())),
            aliases=self._aliases(request),
        )
        with self._lock:
            if urn in self.planned:
                raise ValueError(f"two resources have the URN {urn}: give them different names")
            self.planned[urn] = planned


# ----------------------------------------------------------------------------------------------
# Stack config


@dataclass(frozen=True)
class StackConfig:
    project: str
    values: dict[str, Any]  # full key -> decoded value (what the mocks read)
    engine: dict[str, str]  # full key -> the string the engine passes (structured values as JSON)
    secret_keys: list[str]


def _engine_value(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value)


def _without_secure(value: Any) -> tuple[Any, bool]:
    """Replace `secure:` values (encrypted with a key this machine does not have) by a placeholder."""
    if isinstance(value, dict):
        if set(value) == {"secure"}:
            return SECURE_PLACEHOLDER, True
        pairs = {k: _without_secure(v) for k, v in value.items()}
        return {k: v for k, (v, _) in pairs.items()}, any(s for _, s in pairs.values())
    if isinstance(value, list):
        items = [_without_secure(v) for v in value]
        return [v for v, _ in items], any(s for _, s in items)
    return value, False


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = stack_yaml.load(path)
    except stack_yaml.StackYamlError as error:
        raise StackConfigError(str(error)) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise StackConfigError(f"{path}: expected a mapping at the top level")
    return data


def load_stack_config(project_dir: Path, stack: str,
                      overrides: Mapping[str, Any] | None = None) -> StackConfig:
    """The config `pulumi up -s <stack>` would pass, with `overrides` (full keys) replacing values."""
    project_file = project_dir / "Pulumi.yaml"
    if not project_file.is_file():
        raise StackConfigError(f"no Pulumi.yaml in {project_dir}: point --project-dir at the project")
    project = _read_yaml(project_file).get("name")
    if not isinstance(project, str) or not project:
        raise StackConfigError(f"{project_file} has no project `name`")
    stack_file = project_dir / f"Pulumi.{stack}.yaml"
    if not stack_file.is_file():
        known = sorted(p.name[len("Pulumi."):-len(".yaml")] for p in project_dir.glob("Pulumi.*.yaml"))
        raise StackConfigError(f"no stack file {stack_file.name} in {project_dir} (stacks here: "
                               f"{', '.join(known) or 'none'})")
    raw = _read_yaml(stack_file).get("config") or {}
    if not isinstance(raw, dict):
        raise StackConfigError(f"{stack_file}: `config` must be a mapping of keys to values")
    # A key without a namespace belongs to the project, as the Pulumi CLI reads it.
    config: dict[str, Any] = {}
    spelled: dict[str, str] = {}
    for key, value in raw.items():
        full_key = key if ":" in str(key) else f"{project}:{key}"
        if full_key in config:
            raise StackConfigError(f"{stack_file.name}: {spelled[full_key]!r} and {key!r} are the same key "
                                   f"{full_key} (a key without a namespace is the project's): keep one")
        config[full_key], spelled[full_key] = value, str(key)
    config.update(overrides or {})
    values, engine, secret_keys = {}, {}, []
    for key, value in config.items():
        value, secure = _without_secure(value)
        values[key] = value
        engine[key] = _engine_value(value)
        if secure:
            secret_keys.append(key)
    return StackConfig(project=project, values=values, engine=engine, secret_keys=secret_keys)


# ----------------------------------------------------------------------------------------------
# Running


@contextmanager
def _in_project(project_dir: Path) -> Iterator[None]:
    # Pulumi runs a program from its project directory, with that directory importable. An empty
    # sys.path entry means "the current directory": pin it to the caller's, which the chdir changes.
    previous_cwd, previous_path = os.getcwd(), list(sys.path)
    sys.path[:] = [str(project_dir)] + [entry or previous_cwd for entry in sys.path]
    os.chdir(project_dir)
    try:
        yield
    finally:
        os.chdir(previous_cwd)
        sys.path[:] = previous_path


def _reset_runtime() -> None:
    # The Pulumi SDK keeps the root stack and pending outputs process-wide; a new plan starts clean.
    settings.ROOT.set(None)
    settings.SETTINGS.outputs.clear()


def _settle_pending_tasks(timeout: float = 10.0) -> None:
    """After a failed run, let the registrations still in flight finish (or cancel them).

    The SDK stops at the first error while other resource registrations still run on executor
    threads; left alone they would run into the next plan in this process.
    """
    loop = _ensure_event_loop()
    pending = [task for task in asyncio.all_tasks(loop) if not task.done()]
    if not pending:
        return
    _, unfinished = loop.run_until_complete(asyncio.wait(pending, timeout=timeout))
    for task in unfinished:
        task.cancel()
    loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))


@contextmanager
def _collector_paused(exiting: bool) -> Iterator[None]:
    """CPython's cyclic garbage collector paused while a plan runs.

    Nearly everything a plan allocates lives until it ends (resources, their Outputs and asyncio
    tasks, the recorded plan, the policy pack's arguments), and each full collection rescans all
    of it: measured at 50 services, collections took about half of the plan's CPU time.

    After the plan, a caller that goes on (a test, a library user) gets the collector back as it
    was, after one collection that frees the plan's cycles at a known point: deferred, it runs
    inside whatever the caller does next (seen under pytest: the run after a few plans failed in a
    later `ast.parse` with CPython 3.11's "AST constructor recursion depth mismatch", gh-106905).
    A caller about to exit (the CLI) leaves the collector paused and freezes what the plan made
    (`gc.freeze`): collecting it would cost about 2 s at 50 services for nothing, and CPython's
    own last collection at interpreter exit, which runs paused or not, would scan it all (measured:
    2.7 s of a 50-service plan's 17 s process) where a frozen heap leaves it nothing to scan.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if exiting:
            gc.freeze()
        elif enabled:
            gc.collect()
            gc.enable()


def _resolve_stack_outputs(stack: Any) -> dict[str, Any]:
    struct = _sync_await(rpc.serialize_properties(massage(stack.outputs, []), {}))
    return _redacted(_struct_to_python(struct))


def run_plan(stack: str, config_overrides: Mapping[str, Any] | None = None,
             project_dir: Path = REPO_ROOT, *, exiting: bool = False,
             other_plans: Mapping[str, Mapping[str, Any]] | None = None) -> Plan:
    """Run the program of `project_dir` for `stack` under mocks and return what it registered.

    `exiting`: the caller exits after this plan (the CLI), so the garbage collector stays paused
    (see `_collector_paused`). `other_plans`: stack -> the "quotas" of its plan's JSON, for stacks
    in the same accounts, whose counts the quotas add up.

    Raises the program's own exceptions (`components.settings.SettingsError` for bad settings)
    and `StackConfigError` for a missing or unreadable stack file.
    """
    project_dir = Path(project_dir).resolve()
    program = project_dir / "__main__.py"
    config = load_stack_config(project_dir, stack, config_overrides)
    if not program.is_file():
        raise StackConfigError(f"no __main__.py in {project_dir}: nothing to plan")

    _reset_runtime()
    # Config before the mocks' root stack exists and before any program module is imported.
    set_all_config(config.engine, config.secret_keys)
    with _in_project(project_dir), _collector_paused(exiting):
        mocks = OfflineMocks(config.project, config.values, plan_hooks(project_dir))
        monitor = PlanMonitor(mocks, config.project, stack)
        set_mocks(mocks, project=config.project, stack=stack, preview=False, monitor=monitor,
                  logger=log)
        root = settings.get_root_resource()
        try:
            _sync_await(run_pulumi_func(lambda: runpy.run_path(str(program), run_name="__main__")))
        except BaseException:
            _settle_pending_tasks()
            raise
        outputs = _resolve_stack_outputs(root)
        resources = [dataclasses.replace(r, outputs=monitor.component_outputs.get(r.urn, r.outputs))
                     if not r.custom else r for _, r in sorted(monitor.planned.items())]
        plan = Plan(project=config.project, stack=stack, resources=resources, outputs=outputs)
        _evaluate_policies(plan, project_dir)
        _evaluate_access(plan, mocks.hooks)
        _evaluate_quotas(plan, project_dir, other_plans or {})
    return plan


def _evaluate_policies(plan: Plan, project_dir: Path) -> None:
    # When the project has an offline policy entry point, `policy.offline.evaluate(resources)`
    # returns Violation records (policy, enforcement, urn, type, name, message, fix). They go into
    # `plan.violations` and the JSON's "violations"; the CLI prints them and exits 3 on any
    # mandatory one.
    if not (project_dir / "policy" / "offline.py").is_file():
        return
    module = importlib.import_module("policy.offline")
    if not Path(module.__file__ or "").resolve().is_relative_to(project_dir):
        raise StackConfigError(f"policy.offline is already imported from {module.__file__}, not from {project_dir}: "
                               "plan one project per process")
    evaluate = module.evaluate
    plan.violations = list(evaluate(plan.resources))
    plan.policy_ran = True


def _evaluate_access(plan: Plan, hooks: PlanHooks) -> None:
    # When the program declares its access paths (a hook, called while the stack's config is still
    # set), each is decided over the planned policies by `policy.access`; a required path denied or
    # a forbidden one allowed fails the plan (exit 3).
    if hooks.access_paths is None:
        return
    from policy.access.planned import evaluate_paths

    plan.access = evaluate_paths(plan.resources, hooks.access_paths())


def _evaluate_quotas(plan: Plan, project_dir: Path, other_plans: Mapping[str, Mapping[str, Any]]) -> None:
    # When the project models AWS's limits (`policy/quotas`), every count and size is measured on
    # the plan, other stacks' counts added; a hard limit passed fails the plan (exit 3).
    if not (project_dir / "policy" / "quotas").is_dir():
        return
    from policy.quotas.usage import evaluate

    plan.quotas = evaluate(plan.resources, list(other_plans.values()))
    plan.quotas_added = list(other_plans)


HOOKS_FILE = "plan_hooks.py"


@functools.cache
def plan_hooks(project_dir: Path) -> PlanHooks:
    """The `HOOKS` the project declares in plan_hooks.py (none: no StackReference answers, no
    settings errors). Imported from the project directory, under a name of its own per project."""
    path = Path(project_dir).resolve() / HOOKS_FILE
    if not path.is_file():
        return NO_HOOKS
    name = f"_plan_hooks_{hashlib.sha256(str(path).encode()).hexdigest()[:12]}"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    with _in_project(path.parent):
        spec.loader.exec_module(module)
    hooks = getattr(module, "HOOKS", None)
    if not isinstance(hooks, PlanHooks):
        raise StackConfigError(f"{path} must define HOOKS = offline.mocks.PlanHooks(...), not {hooks!r}")
    return hooks


# ----------------------------------------------------------------------------------------------
# Command line


def main(argv: list[str] | None = None) -> int:
    from offline import render

    parser = argparse.ArgumentParser(prog="python -m offline.plan", description=__doc__.split("\n\n")[0])
    parser.add_argument("--stack", required=True, help="stack name: reads Pulumi.<stack>.yaml")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the plan as JSON to FILE")
    parser.add_argument("--diagram-dir", type=Path, metavar="DIR",
                        help="also write one Mermaid file (<pipeline>.mmd) and one SVG per pipeline into DIR")
    shown = parser.add_mutually_exclusive_group()
    shown.add_argument("--summary", action="store_true",
                       help="print only the counts (by component, type, account, region) and the policy "
                            "violations: no tree, diagrams or outputs")
    shown.add_argument("--no-diagrams", action="store_true",
                       help="print everything but the pipelines' Mermaid diagrams")
    parser.add_argument("--project-dir", type=Path, default=REPO_ROOT,
                        help="the Pulumi project to plan (default: this repository)")
    parser.add_argument("--with-plan", type=Path, action="append", default=[], metavar="FILE",
                        help="the JSON plan (--json) of another stack in the same accounts: its counts add up "
                             "with this stack's against AWS's quotas (repeatable)")
    args = parser.parse_args(argv)
    logging.basicConfig(format="%(levelname)s: %(message)s", level=logging.WARNING)

    try:
        plan = run_plan(args.stack, project_dir=args.project_dir, exiting=True,
                        other_plans=_other_plans(args.with_plan, args.stack))
    except StackConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except Exception as error:  # noqa: BLE001 - sorted into settings errors and program failures
        if isinstance(error, plan_hooks(args.project_dir.resolve()).settings_errors):
            # A settings error may list several errors, one per line: each is an error of its own.
            print("\n".join(f"error: {line}" for line in str(error).splitlines()), file=sys.stderr)
            return 2
        traceback.print_exc()
        return 1

    render.print_plan(plan, summary=args.summary, diagrams=not args.no_diagrams)
    if args.diagram_dir:
        for path in render.write_diagrams(plan, args.diagram_dir):
            print(f"wrote {path}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(plan.to_json(), indent=2) + "\n")
        print(f"wrote {args.json}")
    access_failed = False
    if plan.access is not None:
        from policy.access.planned import summary

        print("\n".join(summary(plan.access)))
        access_failed = any(not result.ok for result in plan.access)
    quota_breached = False
    if plan.quotas is not None:
        from policy.quotas.usage import breaches, summary as quota_summary

        print("\n".join(quota_summary(plan.quotas, plan.stack, plan.quotas_added)))
        quota_breached = bool(breaches(plan.quotas))
    mandatory = [v for v in plan.violations if getattr(v, "enforcement", "") == "mandatory"]
    return 3 if mandatory or access_failed or quota_breached else 0


def _other_plans(files: list[Path], stack: str) -> dict[str, Mapping[str, Any]]:
    """stack -> its plan's "quotas", for each `--with-plan` file."""
    plans: dict[str, Mapping[str, Any]] = {}
    if not files:
        return plans
    from policy.quotas.usage import OtherPlanError, other_plan

    for file in files:
        try:
            other, quotas = other_plan(file.read_text(), str(file), stack)
        except (OSError, UnicodeDecodeError) as error:
            raise StackConfigError(f"cannot read --with-plan {file}: {getattr(error, 'strerror', None) or error}") from None
        except OtherPlanError as error:
            raise StackConfigError(str(error)) from None
        if other in plans:
            raise StackConfigError(f"--with-plan {file}: stack {other} is given twice; give each other stack once")
        plans[other] = quotas
    return plans


if __name__ == "__main__":
    sys.exit(main())
