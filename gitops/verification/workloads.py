"""The Deployments, StatefulSets and Rollouts of an Application, as verify reads them on the cluster:
their health (computed as Argo CD does, gitops/verification/health.py), how many pods they want,
which of their pods run the current pod template, and how a pause of theirs ends.

Which pods are current, per kind (what each controller writes):

* Deployment: pods of the ReplicaSet it controls whose `deployment.kubernetes.io/revision`
  annotation is the Deployment's own;
* Rollout: pods of the ReplicaSets it controls whose `rollouts-pod-template-hash` label is its
  `status.currentPodHash`. So the previous ReplicaSet a blue/green Rollout keeps for
  `scaleDownDelaySeconds` after the switch (annotated `scale-down-deadline`) is never counted;
* StatefulSet: pods it controls whose `controller-revision-hash` label is its
  `status.updateRevision`.

"Controls" is an ownerReference with `controller: true`, the owner's kind and name, and its uid
when both sides carry one: pods of a workload of the same name elsewhere, or of an earlier object
of that name, are not this workload's.

Objects come from an API server verify does not trust to be well formed: a field of the wrong type
is an error naming the object and the field (`object_at`, `list_at`), never a traceback.
"""

from __future__ import annotations

import datetime
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from gitops.errors import GitopsError
from gitops.verification.health import (Health, deployment_health, pause_seconds, rollout_health,
                                        statefulset_health)

if TYPE_CHECKING:
    from gitops.clients.kube import KubeClient

DEPLOYMENT_REVISION = "deployment.kubernetes.io/revision"
ROLLOUT_HASH_LABEL = "rollouts-pod-template-hash"
STATEFULSET_REVISION_LABEL = "controller-revision-hash"

# kind -> (API group, how Argo CD computes its health)
KINDS: dict[str, tuple[str, Callable[[dict[str, Any]], Health]]] = {
    "Deployment": ("apps", deployment_health),
    "StatefulSet": ("apps", statefulset_health),
    "Rollout": ("argoproj.io", rollout_health),
}


def object_at(parent: dict[str, Any], key: str, where: str) -> dict[str, Any]:
    """`parent[key]`, an object ({} when absent or null); any other type is an error."""
    value = parent.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _shape_error(where, key, value, "an object")
    return value


def list_at(parent: dict[str, Any], key: str, where: str) -> list[Any]:
    """`parent[key]`, a list ([] when absent or null); any other type is an error."""
    value = parent.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise _shape_error(where, key, value, "a list")
    return value


def name_of(obj: dict[str, Any], kind: str, namespace: str) -> str:
    name = path(obj, "metadata", "name")
    if not isinstance(name, str) or not name:
        raise GitopsError(f"the API server listed a {kind} without a name in namespace "
                          f"{namespace}; is the endpoint the cluster's API server?")
    return name


def _shape_error(where: str, key: str, value: Any, expected: str) -> GitopsError:
    kind = {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}.get(
        type(value), "a number" if isinstance(value, (int, float)) else type(value).__name__)
    return GitopsError(f"{where}: {key} is {kind}, not {expected}; the object does not have the "
                       "shape Kubernetes gives it")


def path(obj: Any, *keys: str) -> Any:
    """obj[k1][k2]…, or None where a step is missing or not an object: for the many pods and
    ReplicaSets of a namespace, a malformed one is simply not this workload's."""
    for key in keys:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(key)
    return obj


def timestamp(text: Any) -> float | None:
    """Epoch seconds of an RFC 3339 time as Kubernetes writes it; None when it is not one."""
    if not isinstance(text, str) or not text:
        return None
    try:
        return datetime.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


@dataclass(frozen=True)
class WorkloadRef:
    """A Deployment, StatefulSet or Rollout among an Application's resources, where it runs."""

    kind: str
    name: str
    namespace: str

    def __str__(self) -> str:
        return f"{self.kind} {self.name}"


@dataclass(frozen=True)
class Pause:
    """Why a workload is paused and how the pause ends."""

    what: str                  # e.g. "Rollout api paused at step 1 (pause 2m)"
    seconds: int | None        # the controller resumes it by itself after this long; None: never
    started_at: float | None   # epoch seconds, when the controller recorded it
    promotable: bool           # --promote-paused can end it (clearing the pause conditions)
    hint: str                  # what a person does to end it


@dataclass(frozen=True)
class Workload:
    ref: WorkloadRef
    obj: dict[str, Any]
    health: Health

    @classmethod
    def read(cls, kube: KubeClient, ref: WorkloadRef) -> Workload | None:
        """The workload as it is now, or None when it does not exist (yet)."""
        obj = kube.get_workload(ref.kind, ref.namespace, ref.name)
        if obj is None:
            return None
        where = f"{ref} in namespace {ref.namespace}"
        for key in ("metadata", "spec", "status"):
            object_at(obj, key, where)
        return cls(ref, obj, KINDS[ref.kind][1](obj))

    @property
    def _spec(self) -> dict[str, Any]:
        return self.obj.get("spec") or {}

    @property
    def _status(self) -> dict[str, Any]:
        return self.obj.get("status") or {}

    @property
    def _uid(self) -> Any:
        return path(self.obj, "metadata", "uid")

    @property
    def desired(self) -> int:
        """spec.replicas; 1 when unset, as the API server defaults it."""
        replicas = self._spec.get("replicas")
        return replicas if isinstance(replicas, int) and replicas >= 0 else 1

    @property
    def phase(self) -> str | None:
        """A Rollout's status.phase (Argo Rollouts v1.0+); None for other kinds."""
        phase = self._status.get("phase") if self.ref.kind == "Rollout" else None
        return phase if isinstance(phase, str) else None

    @property
    def aborted(self) -> bool:
        return self.ref.kind == "Rollout" and bool(self._status.get("abort"))

    @property
    def message(self) -> str:
        return self.health.message or str(self._status.get("message") or "") or "no message"

    def runs(self, repository: str | None) -> bool:
        """Whether its pod template has a container of `repository` (any, when None)."""
        where = f"{self.ref} in namespace {self.ref.namespace}"
        template = object_at(object_at(self._spec, "template", where), "spec", where)
        return any(isinstance(c, dict) and image_of(c.get("image"), repository)
                   for c in list_at(template, "containers", where))

    def current_pods(self, kube: KubeClient) -> list[dict[str, Any]]:
        """Its pods of the current pod template, Ready and not being deleted."""
        namespace = self.ref.namespace
        if self.ref.kind == "StatefulSet":
            revision = self._status.get("updateRevision")
            owners = {self.ref.name: self._uid}
            pods = [pod for pod in kube.list_pods(namespace)
                    if _controlled_by(pod, "StatefulSet", owners)
                    and path(pod, "metadata", "labels", STATEFULSET_REVISION_LABEL) == revision]
        else:
            owners = {name_of(rs, "ReplicaSet", namespace): path(rs, "metadata", "uid")
                      for rs in kube.list_replica_sets(namespace)
                      if _controlled_by(rs, self.ref.kind, {self.ref.name: self._uid})
                      and self._is_current(rs)}
            pods = [pod for pod in kube.list_pods(namespace)
                    if owners and _controlled_by(pod, "ReplicaSet", owners)]
        return [pod for pod in pods if _ready(pod) and not path(pod, "metadata",
                                                                  "deletionTimestamp")]

    def _is_current(self, replica_set: dict[str, Any]) -> bool:
        if self.ref.kind == "Rollout":
            current = self._status.get("currentPodHash")
            return current is not None and path(
                replica_set, "metadata", "labels", ROLLOUT_HASH_LABEL) == current
        revision = path(self.obj, "metadata", "annotations", DEPLOYMENT_REVISION)
        return revision is not None and path(
            replica_set, "metadata", "annotations", DEPLOYMENT_REVISION) == revision

    def pause(self) -> Pause:
        """How this Suspended workload's pause ends."""
        name, namespace = self.ref.name, self.ref.namespace
        if self.ref.kind != "Rollout":
            return Pause(f"{self.ref} is paused (spec.paused)", None, None, promotable=False,
                         hint=f"resume it (kubectl rollout resume {self.ref.kind.lower()}/{name} "
                              f"-n {namespace}); --promote-paused only promotes Rollouts")
        promote = (f"promote it (kubectl argo rollouts promote {name} -n {namespace}), or verify "
                   "with --promote-paused or a longer --pause-timeout")
        if self._spec.get("paused"):
            return Pause(f"Rollout {name} is paused (spec.paused)", None, None, promotable=False,
                         hint=f"resume it (kubectl argo rollouts resume {name} -n {namespace})")
        where = f"Rollout {name} in namespace {namespace}"
        conditions = [c for c in list_at(self._status, "pauseConditions", where)
                      if isinstance(c, dict)]
        condition = conditions[0] if conditions else {}
        started = timestamp(condition.get("startTime"))
        reason = condition.get("reason")
        strategy = object_at(self._spec, "strategy", where)
        if reason == "CanaryPauseStep":
            step = self._status.get("currentStepIndex")
            steps = list_at(object_at(strategy, "canary", where), "steps", where)
            current = steps[step] if isinstance(step, int) and 0 <= step < len(steps) else {}
            pause = current.get("pause") if isinstance(current, dict) else None
            duration = pause.get("duration") if isinstance(pause, dict) else None
            seconds = pause_seconds(duration) if duration is not None else None
            return Pause(f"Rollout {name} paused at step {step}"
                         + (f" (pause {duration})" if seconds is not None else " (until promoted)"),
                         seconds, started, promotable=True, hint=promote)
        if reason == "BlueGreenPause":
            blue_green = object_at(strategy, "blueGreen", where)
            # Argo Rollouts ignores autoPromotionSeconds when autoPromotionEnabled is false.
            automatic = blue_green.get("autoPromotionEnabled", True) is not False
            seconds = blue_green.get("autoPromotionSeconds") if automatic else None
            seconds = seconds if isinstance(seconds, int) and seconds > 0 else None
            return Pause(f"Rollout {name} paused before switching to the new version"
                         + (f" (autoPromotionSeconds {seconds})" if seconds else
                            " (until promoted)"), seconds, started, promotable=True, hint=promote)
        return Pause(f"Rollout {name} paused ({reason or self.message})", None, started,
                     promotable=True, hint=promote)

    def left_in_pause(self, pause: Pause) -> float | None:
        """Seconds until the controller ends `pause` by itself (0: overdue); None: it never does."""
        if pause.seconds is None:
            return None
        if pause.started_at is None:
            return float(pause.seconds)
        return max(0.0, pause.started_at + pause.seconds - time.time())


def image_of(image: Any, repository: str | None) -> bool:
    """Whether a container's `image` is of `repository` (by tag or digest); any, when None."""
    return isinstance(image, str) and (
        repository is None or re.match(rf"^{re.escape(repository)}[:@]", image) is not None)


def _controlled_by(obj: dict[str, Any], kind: str, owners: dict[str, Any]) -> bool:
    """Whether `obj`'s controller is the `kind` named in `owners` (name -> uid, None: unknown)."""
    references = path(obj, "metadata", "ownerReferences")
    for ref in references if isinstance(references, list) else []:
        if not isinstance(ref, dict) or ref.get("kind") != kind or ref.get("controller") is not True:
            continue
        name = ref.get("name")
        if name in owners and (owners[name] is None or ref.get("uid") is None
                               or ref.get("uid") == owners[name]):
            return True
    return False


def _ready(pod: dict[str, Any]) -> bool:
    conditions = path(pod, "status", "conditions")
    return any(isinstance(c, dict) and c.get("type") == "Ready" and c.get("status") == "True"
               for c in (conditions if isinstance(conditions, list) else []))
