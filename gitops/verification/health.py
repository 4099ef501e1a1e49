"""The health of the workloads verify checks, computed from the objects the way Argo CD does.

Argo CD 3 no longer writes a resource's health into the Application (`status.resources[].health`
is only there with `controller.resource.health.persist: true`) nor a message into
`status.health`: verify reads the Deployment, StatefulSet or Rollout itself and computes its health
with the same rules Argo CD v3.4.4 applies (what the argo-cd chart pinned in
components/argocd_settings.py ships):

* Deployment and StatefulSet: gitops-engine's `pkg/health/health_deployment.go` and
  `health_statefulset.go` (vendored into argoproj/argo-cd under `gitops-engine/`);
* Rollout: `resource_customizations/argoproj.io/Rollout/health.lua`.

tests/gitops/verification/test_workload_health_agrees_with_argo_cd.py runs them against those
files' own fixtures. A health is (status, message), the status Healthy, Progressing, Suspended or
Degraded. Rollouts are read as Argo CD reads every version; verify itself needs Argo Rollouts v1.0
or later (`status.currentPodHash`, `status.phase`).
"""

from __future__ import annotations

import re
from typing import Any, NamedTuple


class Health(NamedTuple):
    status: str
    message: str


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _int(value: Any, default: int = 0) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def _condition(status: dict[str, Any], kind: str) -> dict[str, Any] | None:
    for condition in _list(status.get("conditions")):
        if isinstance(condition, dict) and condition.get("type") == kind:
            return condition
    return None


def deployment_health(obj: dict[str, Any]) -> Health:
    spec, status = _dict(obj.get("spec")), _dict(obj.get("status"))
    name = _dict(obj.get("metadata")).get("name", "")
    if spec.get("paused"):
        return Health("Suspended", "Deployment is paused")
    if _int(_dict(obj.get("metadata")).get("generation")) > _int(status.get("observedGeneration")):
        return Health("Progressing", "Waiting for rollout to finish: observed deployment "
                                     "generation less than desired generation")
    progressing = _condition(status, "Progressing")
    replicas, updated = spec.get("replicas"), _int(status.get("updatedReplicas"))
    if progressing is not None and progressing.get("reason") == "ProgressDeadlineExceeded":
        return Health("Degraded", f'Deployment "{name}" exceeded its progress deadline')
    if isinstance(replicas, int) and updated < replicas:
        return Health("Progressing", f"Waiting for rollout to finish: {updated} out of {replicas} "
                                     "new replicas have been updated...")
    if _int(status.get("replicas")) > updated:
        return Health("Progressing", f"Waiting for rollout to finish: "
                                     f"{_int(status.get('replicas')) - updated} old replicas are "
                                     "pending termination...")
    available = _int(status.get("availableReplicas"))
    if available < updated:
        return Health("Progressing", f"Waiting for rollout to finish: {available} of {updated} "
                                     "updated replicas are available...")
    return Health("Healthy", "")


def statefulset_health(obj: dict[str, Any]) -> Health:
    spec, status = _dict(obj.get("spec")), _dict(obj.get("status"))
    observed = _int(status.get("observedGeneration"))
    if observed == 0 or _int(_dict(obj.get("metadata")).get("generation")) > observed:
        return Health("Progressing", "Waiting for statefulset spec update to be observed...")
    replicas, ready = spec.get("replicas"), _int(status.get("readyReplicas"))
    if isinstance(replicas, int) and ready < replicas:
        return Health("Progressing", f"Waiting for {replicas - ready} pods to be ready...")
    strategy = _dict(spec.get("updateStrategy"))
    updated = _int(status.get("updatedReplicas"))
    if strategy.get("type") == "RollingUpdate" and isinstance(strategy.get("rollingUpdate"), dict):
        partition = strategy["rollingUpdate"].get("partition")
        if isinstance(replicas, int) and isinstance(partition, int) and updated < replicas - partition:
            return Health("Progressing", f"Waiting for partitioned roll out to finish: {updated} "
                                         f"out of {replicas - partition} new pods have been "
                                         "updated...")
        return Health("Healthy", f"partitioned roll out complete: {updated} new pods have been "
                                 "updated...")
    if strategy.get("type") == "OnDelete":
        return Health("Healthy", f"statefulset has {ready} ready pods")
    if status.get("updateRevision") != status.get("currentRevision"):
        return Health("Progressing", f"waiting for statefulset rolling update to complete "
                                     f"{updated} pods at revision {status.get('updateRevision')}...")
    return Health("Healthy", f"statefulset rolling update complete "
                             f"{_int(status.get('currentReplicas'))} pods at revision "
                             f"{status.get('currentRevision')}...")


def _lua_number(value: Any) -> float | None:
    """Lua's tonumber on a JSON value: numbers and numeric strings; anything else is nil."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return value
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return None
    return None


def rollout_health(obj: dict[str, Any]) -> Health:
    meta, spec = _dict(obj.get("metadata")), _dict(obj.get("spec"))
    status = obj.get("status")
    if not _generation_observed(meta, status) or not _workload_generation_observed(
            meta, spec, _dict(status)):
        return Health("Progressing", "Waiting for rollout spec update to be observed")
    status = _dict(status)
    # Argo Rollouts v1.0 and later record a phase and message Argo CD surfaces as they are.
    if status.get("phase") is not None:
        phase = "Suspended" if status["phase"] == "Paused" else str(status["phase"])
        return Health(phase, str(status.get("message") or ""))
    for condition in _list(status.get("conditions")):
        if not isinstance(condition, dict):
            continue
        if condition.get("type") == "InvalidSpec" or (
                condition.get("type") == "Progressing" and condition.get("reason") in (
                    "RolloutAborted", "ProgressDeadlineExceeded")):
            return Health("Degraded", str(condition.get("message") or ""))
    if status.get("pauseConditions") or spec.get("paused"):
        return Health("Suspended", "Rollout is paused")
    if status.get("currentPodHash") is None:
        return Health("Progressing", "Waiting for rollout to finish: status has not been "
                                     "reconciled.")
    desired = _int(spec.get("replicas"), 1)
    replicas, updated = _int(status.get("replicas")), _int(status.get("updatedReplicas"))
    if updated < desired:
        return Health("Progressing", "Waiting for roll out to finish: More replicas need to be "
                                     "updated")
    if _int(status.get("availableReplicas")) < updated:
        return Health("Progressing", "Waiting for roll out to finish: updated replicas are still "
                                     "becoming available")
    # Argo Rollouts v0.8 moved status.canary.stableRS to status.stableRS.
    stable = status.get("stableRS") or _dict(status.get("canary")).get("stableRS") or ""
    strategy = _dict(spec.get("strategy"))
    if strategy.get("blueGreen") is not None:
        if _dict(status.get("blueGreen")).get("activeSelector") != status["currentPodHash"]:
            return Health("Progressing", "active service cutover pending")
        if stable and stable != status["currentPodHash"]:
            return Health("Progressing", "waiting for analysis to complete")
    elif strategy.get("canary") is not None:
        if replicas > updated:
            return Health("Progressing", "Waiting for roll out to finish: old replicas are "
                                         "pending termination")
        if not stable or stable != status["currentPodHash"]:
            return Health("Progressing", "Waiting for rollout to finish steps")
    return Health("Healthy", "")


def _generation_observed(meta: dict[str, Any], status: Any) -> bool:
    """Whether the controller has seen the current spec. Rollouts before v0.10 wrote a hash in
    observedGeneration: anything that is no number, or a number above the generation, is one."""
    if status is None:
        return False
    observed = _lua_number(_dict(status).get("observedGeneration"))
    generation = _lua_number(meta.get("generation"))
    if observed is None or generation is None or observed > generation:
        return True
    return observed == generation


def _workload_generation_observed(meta: dict[str, Any], spec: dict[str, Any],
                                  status: dict[str, Any]) -> bool:
    """Rollouts v1.1+ referencing a Deployment's template (workloadRef) also record which
    generation of it they have seen."""
    annotations = meta.get("annotations")
    if spec.get("workloadRef") is None or not isinstance(annotations, dict):
        return True
    return _lua_number(annotations.get("rollout.argoproj.io/workload-generation")) == \
        _lua_number(status.get("workloadObservedGeneration"))


_GO_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_GO_DURATION = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")


def pause_seconds(duration: Any) -> int | None:
    """Seconds of a canary pause step's `duration` as Argo Rollouts reads it (RolloutPause.
    DurationSeconds): an integer, a string of one, or a Go duration ("2m", "1h30m"); None when
    it is none of those (the controller then treats the pause as invalid)."""
    if isinstance(duration, bool):
        return None
    if isinstance(duration, int):
        return duration
    if not isinstance(duration, str):
        return None
    if re.fullmatch(r"[+-]?\d+", duration):
        return int(duration)
    text = duration.lstrip("+")
    if not text or _GO_DURATION.sub("", text) != "":
        return None
    return int(sum(float(n) * _GO_UNITS[u] for n, u in _GO_DURATION.findall(text)))
