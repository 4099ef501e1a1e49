"""Argo CD and Argo Rollouts on the sandbox's clusters: each runs what the GitOps repository holds.

At every read of a service's Application, the cluster has synced the head of the branch and runs
the image that `envs/<env>/<service>/values.yaml` names there: a Healthy Rollout with two ready
pods on the digest, built with the same helpers as the verify tests' clusters (`sandbox.kube_api`).
One digest stands for a broken build: its canary analysis fails and the Rollout aborts, as Argo
Rollouts does when a step's AnalysisRun fails, so verify fails at once and revert has work to do.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from sandbox import git_http
from sandbox.kube_api import Moment, application, pods_of, rollout

# The image the sandbox's clusters cannot run ("bad0" x 16: easy to spot in a flow).
BROKEN_DIGEST = "sha256:" + "bad0" * 16
ABORTED = ('RolloutAborted: Rollout aborted update to revision 2: Metric "success-rate" assessed Failed '
           "due to failed (1) > failureLimit (0)")
REPLICAS = 2


def running(bare: Path, repo_url: str, env: str, service: str, branch: str = "main") -> Moment:
    """What the cluster of `env` shows for `service` now."""
    head = git_http.ref_sha(bare, f"refs/heads/{branch}")
    values = yaml.safe_load(git_http.file_at(bare, f"envs/{env}/{service}/values.yaml", head or branch) or b"")
    image = values.get("image") if isinstance(values, dict) and isinstance(values.get("image"), dict) else {}
    digest, repository = str(image.get("digest") or ""), str(image.get("repository") or service)
    if digest == BROKEN_DIGEST:
        app = application(revision=head, repo_url=repo_url, name=service, workload="Rollout", health="Degraded",
                          message=ABORTED)
        return Moment.running(app, rollout_obj=rollout(phase="Degraded", name=service, aborted=True, message=ABORTED))
    app = application(revision=head, repo_url=repo_url, name=service, workload="Rollout")
    return Moment.running(app, pods_of("Rollout", service, [digest] * REPLICAS, repository=repository),
                          rollout_obj=rollout(phase="Healthy", name=service))
