"""`python -m gitops verify`: prove that one cluster runs a GitOps revision, and say so on the commit.

Argo CD is read through the Kubernetes API of the EKS cluster, not through the Argo CD API (no
public Argo CD server, no Argo CD token; access is IAM through the deployment role's EKS access
entry; see gitops/kube.py for the exact grants).

"Verified" means, at one poll, all of:

* the Application's sync revision is the revision, or a later commit that contains it and keeps the
  service's files (`envs/<env>/<svc>/`, `charts/<svc>/`) as they are at the revision; a later commit
  that changed them supersedes the revision (exit 12: its own verification decides);
* its last sync operation Succeeded, applied that content, and finished after the revision was
  committed; no operation is running; and the health was computed after that operation finished
  (`reconciledAt` ≥ `finishedAt`), so a Healthy from before the new revision never counts;
* health Healthy, and so is each Deployment, StatefulSet and Rollout of the Application, computed
  from the object as Argo CD computes it (gitops/verification/health.py; Argo CD 3 keeps it out of
  the Application); a paused workload (Argo CD's `Suspended`) is not success;
* each of those that runs the promoted repository has its `spec.replicas` pods of its current
  version Ready (gitops/verification/workloads.py), every one on the promoted digest (the
  container's `imageID`, not its tag); zero replicas is a success that says so.

A pause the Argo Rollouts controller ends by itself (a timed canary step, blue/green
`autoPromotionSeconds`) is waited out, or fails at once when it would end after the deadline; one
only a person ends waits up to `--pause-timeout`, or is promoted with `--promote-paused`. An
aborted Rollout fails at once with its message; Degraded or a wrong digest that lasts
DEGRADED_GRACE_S fails. The run ends by `--timeout` whatever the API server does (`wait`). The
revision's promoted image is read from the GitOps repository at the revision (chart defaults, then
the env values file, then the region's), in a bare clone without file contents. When the revision
is the merge commit of a promotion pull request, the image it sets must be the one the pull
request's block says was approved.

The result is reported on the revision (gitops/verification/report.py): commit status
`delivery/<env>/<region>` and a Deployment to `<env>-<region>`, linking to `--details-url`; every
way the run ends, a bug or a stop signal included, ends both (`_Outcome`).
"""

from __future__ import annotations

import datetime
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gitops.clients.git import check_commit_sha
from gitops.governance import trailers
from gitops.repo import layout
from gitops.yaml import document
from gitops.verification.workloads import (KINDS, Workload, WorkloadRef, image_of, list_at,
                                           object_at, path, timestamp)
from gitops.errors import (
    EndpointUnreachable,
    GitopsError,
    UsageError,
    ValuesError,
    VerifyDegraded,
    VerifySuperseded,
    VerifyTimeout,
)

if TYPE_CHECKING:
    from gitops.clients.revisions import HistoryClient
    from gitops.clients.kube import KubeClient

POLL_S = 10.0
# A rollout can pass through Degraded (a pod failing its first probe, an HPA catching up), and the
# pods listed can lag the workload's status by a moment: fail only when either lasts this long.
DEGRADED_GRACE_S = 120.0
# After a timed pause ends, the Argo Rollouts controller resumes the Rollout and Argo CD computes
# its health again: a pause that outlasts its duration by this much is stuck.
PAUSE_SLACK_S = 60.0
# What a check that has not returned may still take once the run's deadline has passed (one
# request's read timeout): then the run ends without it.
CHECK_OVERRUN_S = 15.0
# Consecutive failed requests (connection refused, timeout, 5xx, 429) before giving up.
UNREACHABLE_ATTEMPTS = 5
DEFAULT_TIMEOUT = "30m"
DEFAULT_PAUSE_TIMEOUT = "10m"
# The longest bake a stack's settings accept (promotion.bakeMinutes): a day; longer is a soak.
MAX_BAKE_MINUTES = 1440

_FAILED_PHASES = {"Failed", "Error"}

Clock = Callable[[], float]
Sleep = Callable[[float], None]


# --- what Argo CD and Argo Rollouts report --------------------------------------------------------

@dataclass(frozen=True)
class AppState:
    """The parts of an Application's status that decide whether a deployment is done."""

    found: bool
    sync: str | None = None                # status.sync.status: Synced | OutOfSync | Unknown
    revision: str | None = None            # status.sync.revision: the commit last compared/synced
    health: str | None = None              # status.health.status: Healthy | Progressing | Suspended …
    phase: str | None = None               # status.operationState.phase: Running | Succeeded | Failed …
    operation_revision: str | None = None  # the revision that operation synced
    finished_at: float | None = None       # status.operationState.finishedAt, epoch seconds
    reconciled_at: float | None = None     # status.reconciledAt: when health was last computed
    pending_operation: bool = False        # .operation set: a sync is requested, not started
    operation_message: str | None = None   # status.operationState.message
    condition: str | None = None           # an error condition, e.g. ComparisonError: <why>
    workloads: tuple[WorkloadRef, ...] = ()  # its Deployments, StatefulSets and Rollouts
    # "<kind> <name>: <message>" of each Degraded resource, when Argo CD persists resource health
    # in the Application (Argo CD 3 does not by default: then verify reads the workloads).
    degraded_resources: tuple[str, ...] = ()

    @classmethod
    def from_application(cls, app: dict[str, Any], name: str) -> AppState:
        where = f"Application {name}"
        status = object_at(app, "status", where)
        sync = object_at(status, "sync", where)
        health = object_at(status, "health", where)
        operation = object_at(status, "operationState", where)
        operation_revision = path(operation, "syncResult", "revision") or path(
            operation, "operation", "sync", "revision")
        # Argo CD reports a chart it cannot render (values breaking the schema, a missing value
        # file) as a ComparisonError condition with sync status Unknown: worth showing.
        errors = [c for c in list_at(status, "conditions", where)
                  if isinstance(c, dict) and str(c.get("type", "")).endswith("Error")]
        destination = path(app, "spec", "destination", "namespace")
        workloads, degraded = [], []
        for resource in list_at(status, "resources", where):
            if not isinstance(resource, dict):
                raise GitopsError(f"{where}: status.resources holds a {type(resource).__name__}, "
                                  "not an object; the object does not have the shape Argo CD "
                                  "gives it")
            kind, resource_name = resource.get("kind"), resource.get("name")
            if kind in KINDS and resource.get("group") == KINDS[kind][0] and resource_name:
                namespace = resource.get("namespace") or destination
                if not namespace:
                    raise GitopsError(f"{where}: {kind} {resource_name} has no namespace and the "
                                      "Application names no destination namespace")
                workloads.append(WorkloadRef(kind, str(resource_name), str(namespace)))
            if path(resource, "health", "status") == "Degraded":
                degraded.append(f"{kind} {resource_name}: "
                                f"{path(resource, 'health', 'message') or 'no message'}")
        return cls(
            found=True,
            sync=sync.get("status"),
            revision=sync.get("revision") if isinstance(sync.get("revision"), str) else None,
            health=health.get("status"),
            phase=operation.get("phase"),
            operation_revision=operation_revision if isinstance(operation_revision, str) else None,
            finished_at=timestamp(operation.get("finishedAt")),
            reconciled_at=timestamp(status.get("reconciledAt")),
            pending_operation=bool(app.get("operation")),
            operation_message=operation.get("message"),
            condition=f"{errors[0]['type']}: {errors[0].get('message', '')}" if errors else None,
            workloads=tuple(workloads),
            degraded_resources=tuple(degraded),
        )

    def describe(self) -> str:
        if not self.found:
            return "Application not found (yet)"
        text = f"sync {self.sync or 'Unknown'} at {(self.revision or 'no revision')[:12]}, " \
               f"health {self.health or 'Unknown'}"
        if self.phase and self.phase != "Succeeded":
            text += f", operation {self.phase}"
        if self.condition:
            text += f", {self.condition}"
        return text


# --- the promoted revision, from the GitOps repository --------------------------------------------

@dataclass(frozen=True)
class PromotedImage:
    repository: str | None
    tag: str | None
    digest: str | None


class PromotedRevision:
    """The commit being verified: its full sha, commit time and promoted image, and how a revision
    Argo CD reports relates to it. Reads a bare clone with commits and trees but no blobs."""

    def __init__(self, git: HistoryClient, url: str, workdir: Path, revision: str, env: str,
                 region: str, service: str) -> None:
        self._git = git
        self._url = url
        self._dir = workdir / "gitops.git"
        git.clone_history(url, self._dir)
        self._ensure(revision, f"revision {revision} is not in {url}; check --revision")
        self.sha = git.resolve(self._dir, revision)
        self.committed_at = git.commit_time(self._dir, self.sha)
        self._paths = [layout.service_dir(env, service) + "/", layout.chart_dir(service) + "/"]
        self.image = self._image(layout.application_source(env, region, service))
        self._relations: dict[str, str] = {}

    def relation(self, revision: str) -> str:
        """"same" (this commit, or a later one keeping the service's files), "superseded" (a
        later one that changed them), or "other" (older, diverged or unrelated)."""
        if revision not in self._relations:
            self._ensure(revision, f"Argo CD reports revision {revision}, which is not in "
                                   f"{self._url}; give the Application's repository with --repo")
            full = self._git.resolve(self._dir, revision)
            if full == self.sha:
                answer = "same"
            elif self._git.is_ancestor(self._dir, self.sha, full):
                answer = "same" if self._git.same_paths(self._dir, self.sha, full, self._paths) \
                    else "superseded"
            else:
                answer = "other"
            self._relations[revision] = answer
        return self._relations[revision]

    def applied_by(self, revision: str) -> str | None:
        """How an operation at `revision` applied this commit's content: "this" (this commit or a
        later one keeping the files), "earlier" (an earlier commit with the same files: a no-op
        promotion), or None."""
        if self.relation(revision) == "same":
            return "this"
        full = self._git.resolve(self._dir, revision)
        if self._git.is_ancestor(self._dir, full, self.sha) and \
                self._git.same_paths(self._dir, full, self.sha, self._paths):
            return "earlier"
        return None

    def _image(self, source: layout.ApplicationSource) -> PromotedImage:
        from gitops.repo.schema import coalesce

        values: dict[str, Any] = {}
        for name in (layout.chart_values_file(source.application), *source.value_files):
            text = self._git.read_file(self._dir, self.sha, name)
            if text is not None:
                values = coalesce(values, _mapping(text, f"{name} at {self.sha[:12]}"))
        image = values.get("image") if isinstance(values.get("image"), dict) else {}
        return PromotedImage(*(str(image[key]) if image.get(key) else None
                               for key in ("repository", "tag", "digest")))

    def _ensure(self, sha: str, missing: str) -> None:
        if self._git.has_commit(self._dir, sha):
            return
        # Argo CD may have synced a commit pushed after the clone.
        self._git.fetch_branches(self._dir)
        if not self._git.has_commit(self._dir, sha):
            raise UsageError(missing)


def _mapping(text: str, where: str) -> dict[str, Any]:
    """The values file's data, read within the limits promote reads it with (gitops.yaml.document)."""
    data = document.load(text, where)
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ValuesError(f"{where} is not a mapping at the top")
    return data


# --- the running digest ---------------------------------------------------------------------------

def _pod_digest(pod: dict[str, Any], repository: str | None) -> str | None:
    """The digest the pod's container of `repository` runs (its imageID), None without one."""
    names = {c.get("name") for c in _items(path(pod, "spec", "containers"))
             if isinstance(c, dict) and image_of(c.get("image"), repository)}
    for status in _items(path(pod, "status", "containerStatuses")):
        image_id = path(status, "imageID")
        if isinstance(image_id, str) and path(status, "name") in names and "@sha256:" in image_id:
            return image_id[image_id.rindex("@") + 1:]
    return None


def _items(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


# --- one poll -------------------------------------------------------------------------------------

@dataclass
class _Progress:
    """What the wait remembers between polls."""

    bad_since: dict[str, float] = field(default_factory=dict)  # problem -> first seen
    paused_since: dict[str, float] = field(default_factory=dict)  # pause -> first seen
    pause_ends: dict[str, float] = field(default_factory=dict)  # timed pause -> when it must end
    promoted: set[str] = field(default_factory=set)  # pauses promoted with --promote-paused


@dataclass(frozen=True)
class Verified:
    state: AppState
    workloads: tuple[Workload, ...]       # the ones checked: they run the promoted repository
    pods: dict[str, str | None]           # ready pods of their current version -> digest

    @property
    def desired(self) -> int:
        return sum(workload.desired for workload in self.workloads)

    @property
    def rollout(self) -> str | None:
        return next((w.phase for w in self.workloads if w.ref.kind == "Rollout"), None)


class _Check:
    """One look at the cluster: Verified, or a reason to keep waiting (a string), or an error."""

    def __init__(self, req: VerifyRequest, kube: KubeClient, target: PromotedRevision,
                 clock: Clock, report: Callable[[AppState], None], where: str,
                 degraded_grace_s: float, deadline: float) -> None:
        self.req, self.kube, self.target = req, kube, target
        self.clock, self.report, self.where = clock, report, where
        self.grace_s = degraded_grace_s
        self.deadline = deadline
        self.progress = _Progress()
        self.application = layout.application_source(req.env, req.region, req.service).application

    def __call__(self) -> Verified | str:
        app = self.kube.get_application(self.req.namespace, self.application)
        state = AppState.from_application(app, self.application) if app is not None \
            else AppState(found=False)
        self.report(state)
        if not state.found:
            return state.describe()
        if state.phase in _FAILED_PHASES and (
                state.operation_revision is None or self.target.applied_by(state.operation_revision)):
            raise VerifyDegraded(f"{self.where}: sync of {state.operation_revision or self.target.sha} "
                                 f"{state.phase.lower()}: {state.operation_message or 'no message'}")
        if not state.revision:
            return state.describe()
        relation = self.target.relation(state.revision)
        if relation == "superseded":
            raise VerifySuperseded(
                f"{self.where}: Argo CD synced {state.revision[:12]}, a later commit that changed "
                f"the service's files, before {self.target.sha[:12]} could be seen running; the "
                "later promotion's verification decides")
        if relation == "other":
            return f"{state.describe()} (not yet {self.target.sha[:12]})"
        if state.sync != "Synced" or state.phase == "Running" or state.pending_operation:
            return state.describe()
        applied = state.operation_revision and self.target.applied_by(state.operation_revision)
        if state.phase != "Succeeded" or not applied:
            return f"{state.describe()}; the last sync operation did not apply this revision"
        if state.finished_at is None or (applied == "this" and
                                         state.finished_at < self.target.committed_at):
            return f"{state.describe()}; the last sync operation finished before the commit"
        if state.reconciled_at is None or state.reconciled_at < state.finished_at:
            return f"{state.describe()}; health not yet computed since the sync"
        if not state.workloads:
            return f"{state.describe()}; the Application has no Deployment, StatefulSet or Rollout"
        workloads = []
        for ref in state.workloads:
            workload = Workload.read(self.kube, ref)
            if workload is None:
                return f"{state.describe()}; {ref} not found in namespace {ref.namespace} (yet)"
            workloads.append(workload)
        return self._judge(state, workloads)

    def _judge(self, state: AppState, workloads: list[Workload]) -> Verified | str:
        """The Application applied the revision: are its workloads done, on the digest?"""
        for workload in workloads:
            if workload.aborted:
                raise VerifyDegraded(f"{self.where}: {workload.ref} aborted: {workload.message}")
        paused = [w for w in workloads if w.health.status == "Suspended"]
        if paused:
            return self._paused(state, paused[0])
        if state.health == "Suspended":
            return self._waiting_for_someone(state, "the Application is Suspended (one of its "
                                                    "resources is paused)",
                                             "see the Application's resources in Argo CD")
        degraded = [w for w in workloads if w.health.status == "Degraded"]
        if degraded or state.health == "Degraded":
            reason = f"{degraded[0].ref}: {degraded[0].message}" if degraded else (
                state.degraded_resources[0] if state.degraded_resources
                else "a resource of the Application is Degraded")
            return self._bad("degraded", f"Degraded at {state.revision[:12]}: {reason}; see the "
                                         "Application's resources in Argo CD")
        self.progress.bad_since.pop("degraded", None)
        busy = [w for w in workloads if w.health.status != "Healthy"]
        if state.health != "Healthy" or busy:
            return state.describe() + "".join(f"; {w.ref} {w.health.status}: {w.message}"
                                              for w in busy)
        repository = self.target.image.repository
        checked = [w for w in workloads if w.runs(repository)]
        if not checked:
            return (f"{state.describe()}; none of {', '.join(str(w.ref) for w in workloads)} runs "
                    f"{repository}: nothing to verify the image on")
        pods: dict[str, str | None] = {}
        for workload in checked:
            current = workload.current_pods(self.kube)
            if len(current) < workload.desired:
                return (f"{state.describe()}; {len(current)} of {workload.desired} pods of "
                        f"{workload.ref} ready at its current version")
            pods.update({str(path(pod, "metadata", "name")): _pod_digest(pod, repository)
                         for pod in current})
        wrong = {pod: digest for pod, digest in pods.items() if digest != self.target.image.digest}
        if self.target.image.digest and wrong:
            pod, digest = sorted(wrong.items())[0]
            return self._bad("digest", f"{len(wrong)} of {len(pods)} ready pods do not run the "
                             f"promoted {self.target.image.digest}: {pod} runs "
                             f"{digest or 'no container of ' + str(repository)}")
        return Verified(state, tuple(checked), pods)

    def _paused(self, state: AppState, workload: Workload) -> str:
        pause = workload.pause()
        if self.req.promote_paused and pause.promotable and pause.what not in self.progress.promoted:
            self.kube.promote_rollout(workload.ref.namespace, workload.ref.name)
            self.progress.promoted.add(pause.what)
            return f"{state.describe()}; {pause.what}: promoted"
        left = workload.left_in_pause(pause)
        if left is None:
            return self._waiting_for_someone(state, pause.what, pause.hint)
        # The controller ends this pause by itself: wait for it, if the run lasts long enough.
        now = self.clock()
        ends = self.progress.pause_ends.setdefault(pause.what, now + left + PAUSE_SLACK_S)
        if ends > self.deadline:
            raise VerifyTimeout(
                f"{self.where}: {pause.what} ends in {left:.0f} s, after this run's --timeout "
                f"({self.deadline - now:.0f} s left): it cannot be verified in time; bound the "
                "pauses (the chart's values.schema.json) to fit the Verify action's timeout")
        if now >= ends:
            raise VerifyTimeout(
                f"{self.where}: {pause.what} is still paused over {PAUSE_SLACK_S:.0f} s after it "
                "should have ended; is the Argo Rollouts controller running?")
        return f"{state.describe()}; {pause.what}, resuming by itself in {left:.0f} s"

    def _waiting_for_someone(self, state: AppState, what: str, hint: str) -> str:
        """A pause nothing ends by itself: wait --pause-timeout for someone to end it."""
        since = self.progress.paused_since.setdefault(what, self.clock())
        if self.clock() - since >= self.req.pause_timeout_s:
            raise VerifyTimeout(f"{self.where}: {what} for {self.clock() - since:.0f} s; {hint}")
        return f"{state.describe()}; {what}"

    def _bad(self, problem: str, text: str) -> str:
        since = self.progress.bad_since.setdefault(problem, self.clock())
        if self.clock() - since >= self.grace_s:
            raise VerifyDegraded(f"{self.where}: {text} (for {self.clock() - since:.0f} s)")
        return text


def wait(check: Callable[[], Verified | str], *, where: str, deadline: float, clock: Clock,
         sleep: Sleep, poll_s: float = POLL_S, unreachable_attempts: int = UNREACHABLE_ATTEMPTS
         ) -> Verified:
    """Poll `check` until it returns Verified; retry what the API server may fix, bounded. The
    run ends by `deadline` (+ CHECK_OVERRUN_S) whatever the API server does: each check runs in
    a thread of its own, abandoned if it has not returned by then."""
    from gitops.clients.kube import Unavailable

    failures = 0
    last, last_failure = "nothing read yet", ""
    while True:
        try:
            outcome = _within(check, deadline - clock() + CHECK_OVERRUN_S)
        except Unavailable as exc:
            failures += 1
            if failures >= unreachable_attempts:
                raise EndpointUnreachable(
                    f"{where}: the API server did not answer {failures} times in a row (last: "
                    f"{exc}); check the cluster endpoint is reachable from here (a private "
                    "endpoint needs the CodeBuild project in the cluster's VPC)") from None
            last_failure = str(exc)
        except _Overrun:
            raise EndpointUnreachable(
                f"{where}: the API server did not answer before the timeout (a request was still "
                f"running {CHECK_OVERRUN_S:.0f} s after it); last seen: {last}") from None
        else:
            failures = 0
            if isinstance(outcome, Verified):
                return outcome
            last = outcome
        now = clock()
        if now >= deadline:
            if failures:
                raise EndpointUnreachable(f"{where}: the API server did not answer before the "
                                          f"timeout (last: {last_failure})")
            raise VerifyTimeout(f"{where}: not verified before the timeout; last seen: {last}")
        sleep(min(poll_s * (2 ** (failures - 1)) if failures else poll_s, deadline - now))


class _Overrun(Exception):
    """A check did not return in the time the run had left."""


def _within(check: Callable[[], Verified | str], seconds: float) -> Verified | str:
    """check(), or _Overrun when it has not returned after `seconds` (it goes on, abandoned, in
    a daemon thread that cannot keep the process alive)."""
    outcome: list[Verified | str] = []
    failure: list[BaseException] = []

    def run() -> None:
        try:
            outcome.append(check())
        except BaseException as exc:  # handed to the waiting thread, which raises it
            failure.append(exc)

    worker = threading.Thread(target=run, name="verify-check", daemon=True)
    worker.start()
    worker.join(max(seconds, 0.0))
    if failure:
        raise failure[0]
    if not outcome:
        raise _Overrun()
    return outcome[0]


# --- the command ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class VerifyRequest:
    env: str
    region: str
    service: str
    cluster: str
    revision: str                       # the GitOps commit to verify (7 to 40 hex)
    repo_url: str                       # the GitOps repository
    role_arn: str | None = None         # role to assume for EKS (default: current credentials)
    namespace: str = "argocd"           # namespace of the Argo CD Applications
    timeout_s: float = 1800.0
    pause_timeout_s: float = 600.0      # how long a paused canary step may stay paused
    promote_paused: bool = False        # promote a paused canary step instead of waiting
    github_api_url: str | None = None
    details_url: str | None = None      # the link in the commit status and deployment
    # A bake follows (the stage's on-success condition): the commit status stays pending, saying so,
    # and the verification after the bake gives the proof (success). None: no bake.
    bake_minutes: int | None = None


@dataclass(frozen=True)
class Result:
    env: str
    region: str
    service: str
    cluster: str
    namespace: str
    application: str
    revision: str
    synced_revision: str | None
    sync: str | None
    health: str | None
    tag: str | None
    digest: str | None
    rollout: str | None                 # the Rollout's phase, when the service is a Rollout
    desired_replicas: int               # spec.replicas of the workloads checked; 0: scaled to zero
    ready_pods: int                     # their ready pods of the current version, all checked
    digest_checked: bool                # at least one pod's digest was compared
    reported: bool                      # commit status and deployment written
    elapsed_s: float
    notes: list[str]


def validate_request(req: VerifyRequest) -> None:
    for flag, name in (("--env", req.env), ("--service", req.service), ("--region", req.region)):
        layout.check_name(flag, name)
    check_commit_sha("--revision", req.revision)
    if req.timeout_s <= 0 or req.pause_timeout_s <= 0:
        raise UsageError("--timeout and --pause-timeout must be longer than 0 s")
    if req.bake_minutes is not None and not 1 <= req.bake_minutes <= MAX_BAKE_MINUTES:
        raise UsageError(f"--bake-minutes must be 1 to {MAX_BAKE_MINUTES}")


def verify(req: VerifyRequest, *, token: str | None = None, clock: Clock = time.monotonic,
           sleep: Sleep = time.sleep, http: Any = None,
           report: Callable[[AppState], None] = lambda state: None,
           note: Callable[[str], None] = lambda text: None,
           degraded_grace_s: float = DEGRADED_GRACE_S) -> Result:
    """Verify `req.revision` on one cluster and report the outcome on the commit. `clock` and
    `sleep` measure the waits (tests pass a fake clock); timestamps are compared as written."""
    validate_request(req)
    # Imported here: `--help` and usage errors never pay for boto3, requests or PyGithub.
    from gitops.clients.git import GitRunner
    from gitops.clients.revisions import HistoryClient
    from gitops.verification.report import GitHubRepository, status_context

    start = clock()
    deadline = start + req.timeout_s
    where = f"{req.service} on {req.cluster} ({req.env}, {req.region})"
    notes: list[str] = []

    def add_note(text: str) -> None:
        notes.append(text)
        note(text)

    with tempfile.TemporaryDirectory(prefix="gitops-verify-") as tmp:
        target = PromotedRevision(HistoryClient(GitRunner(token)), req.repo_url, Path(tmp),
                                  req.revision, req.env, req.region, req.service)
        if not target.image.digest:
            add_note(f"{target.sha[:12]} promotes no digest (pull by tag): the running digest "
                     "cannot be checked")
        forge = GitHubRepository.at(req.repo_url, req.github_api_url, token)
        if isinstance(forge, str):
            add_note(forge)
            forge = None
        image = f"{req.service} {target.image.tag or '(no tag)'}"
        outcome = _Outcome(forge, req, target.sha, status_context(req.env, req.region), image)
        outcome.start()
        try:
            if forge is not None:
                _check_approval(forge, target, req, where, add_note)
            verified = _wait_on_cluster(req, target, Path(tmp), where, deadline=deadline, clock=clock,
                                        sleep=sleep, http=http, report=report,
                                        degraded_grace_s=degraded_grace_s)
        except GitopsError as exc:
            # Only what proves the release bad is a failure; the rest says nothing about it.
            state = "failure" if isinstance(exc, (VerifyTimeout, VerifyDegraded)) else "error"
            outcome.end(state, f"{image}: {exc}".replace(where + ": ", ""))
            raise
        except BaseException as exc:  # a stop signal, or a bug: never leave the report pending
            outcome.end("error", f"{image}: verification stopped "
                                 f"({type(exc).__name__}{': ' + str(exc) if str(exc) else ''})")
            raise
        if not verified.desired:
            add_note(f"{', '.join(str(w.ref) for w in verified.workloads)} scaled to zero: no pod "
                     "runs the image, so no digest was checked")
        outcome.verified(f"{image}: verified, " + (
            f"{len(verified.pods)} ready pods" if verified.desired else
            "scaled to zero (no pod ran it)"))
    state = verified.state
    return Result(env=req.env, region=req.region, service=req.service, cluster=req.cluster,
                  namespace=req.namespace,
                  application=layout.application_source(req.env, req.region,
                                                        req.service).application,
                  revision=target.sha, synced_revision=state.revision, sync=state.sync,
                  health=state.health, tag=target.image.tag, digest=target.image.digest,
                  rollout=verified.rollout, desired_replicas=verified.desired,
                  ready_pods=len(verified.pods),
                  digest_checked=bool(target.image.digest) and bool(verified.pods),
                  reported=forge is not None, elapsed_s=round(clock() - start, 1), notes=notes)


def _wait_on_cluster(req: VerifyRequest, target: PromotedRevision, tmp: Path, where: str, *,
                     deadline: float, clock: Clock, sleep: Sleep, http: Any, report: Callable[[AppState], None],
                     degraded_grace_s: float) -> Verified:
    """Reach the cluster through EKS and poll until the revision is seen running (or fails)."""
    from gitops.clients.kube import EksAccess, KubeClient

    access = EksAccess(cluster=req.cluster, region=req.region, role_arn=req.role_arn, clock=clock)
    endpoint, ca = access.describe()
    ca_file = tmp / "cluster-ca.pem"
    ca_file.write_bytes(ca)
    # The last look, at the deadline, gets its requests answered too: they end with the overrun.
    kube = KubeClient(endpoint, token=access.token, ca_file=str(ca_file), http=http, clock=clock,
                      deadline=deadline + CHECK_OVERRUN_S)
    check = _Check(req, kube, target, clock, report, where, degraded_grace_s, deadline)
    return wait(check, where=where, deadline=deadline, clock=clock, sleep=sleep)


class _Outcome:
    """The commit status `delivery/<env>/<region>` and the GitHub Deployment of one verification:
    pending while it runs, then its end state on both. Nothing without a repository to write to."""

    def __init__(self, forge: Any, req: VerifyRequest, sha: str, context: str, image: str) -> None:
        self._forge, self._req, self._sha, self._context, self._image = forge, req, sha, context, image
        self._finish_deployment: Callable[[str, str, str | None], None] | None = None

    def start(self) -> None:
        if self._forge is None:
            return
        req = self._req
        self._forge.set_status(self._sha, self._context, "pending", f"{self._image}: verifying",
                               req.details_url)
        self._finish_deployment = self._forge.start_deployment(
            self._sha, f"{req.env}-{req.region}", req.service, f"{self._image}: verifying",
            production=req.env == "prod")

    def verified(self, text: str) -> None:
        """The one place a verification's success is reported: the `success` status is the
        proof later environments and `gitops revert` read (pending while a bake follows)."""
        self.end("success", text, bake_minutes=self._req.bake_minutes)

    def end(self, state: str, text: str, bake_minutes: int | None = None) -> None:
        """`state` is success, failure or error: the status's and the deployment's alike, except that
        a success followed by a bake leaves the status (the proof) pending until after the bake."""
        if self._forge is None:
            return
        status_state, status_text = state, text
        if state == "success" and bake_minutes:
            until = datetime.datetime.now(datetime.UTC) + datetime.timedelta(minutes=bake_minutes)
            status_state, status_text = "pending", f"{text}; baking until {until:%H:%M} UTC at least, proof after"
        self._forge.set_status(self._sha, self._context, status_state, status_text, self._req.details_url)
        assert self._finish_deployment is not None
        self._finish_deployment(state, text, self._req.details_url)


def _check_approval(forge: Any, target: PromotedRevision, req: VerifyRequest, where: str,
                    note: Callable[[str], None]) -> None:
    """A merged promotion pull request must have merged exactly the image it was approved with."""
    approved = forge.approved_image(target.sha)
    if approved is None:
        return
    wanted = (approved.values.get(trailers.TAG), approved.values.get(trailers.DIGEST))
    if wanted == (None, None):
        # A pull request written by hand: its reviewed diff is what merged; no claim to check.
        note(f"{target.sha[:12]} merges {approved.pull_request}, which has no promotion block: "
             "the approved image is not checked")
        return
    if (approved.values.get(trailers.SERVICE), approved.values.get(trailers.ENVIRONMENT)) != (
            req.service, req.env):
        return  # another service's or environment's promotion
    if wanted != (target.image.tag, target.image.digest):
        raise VerifyDegraded(
            f"{where}: {target.sha[:12]} merges {approved.pull_request} but sets "
            f"{target.image.tag} {target.image.digest}; the pull request approved "
            f"{wanted[0]} {wanted[1]}. Nobody reviewed what this commit deploys")
