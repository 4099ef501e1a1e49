"""verify computes the health of a Deployment, StatefulSet or Rollout as Argo CD does (Argo CD 3
keeps it out of the Application): checked against Argo CD's own fixtures, vendored unchanged in
fixtures/argo-cd-v3.4.4 (see its ORIGIN.md)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from gitops.verification.health import (Health, deployment_health, pause_seconds, rollout_health,
                                        statefulset_health)

FIXTURES = Path(__file__).parent / "fixtures" / "argo-cd-v3.4.4"
ROLLOUT_CASES = yaml.safe_load((FIXTURES / "rollout" / "health_test.yaml").read_text())["tests"]


def load(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


@pytest.mark.parametrize("case", ROLLOUT_CASES, ids=[c["inputPath"] for c in ROLLOUT_CASES])
def test_rollout_health_is_argo_cds(case: dict) -> None:
    expected = case["healthStatus"]
    assert rollout_health(load(FIXTURES / "rollout" / case["inputPath"])) == Health(
        expected["status"], expected.get("message", ""))


def test_every_rollout_fixture_is_a_case() -> None:
    files = {str(p.relative_to(FIXTURES / "rollout"))
             for p in (FIXTURES / "rollout" / "testdata").rglob("*.yaml")}
    assert files == {case["inputPath"] for case in ROLLOUT_CASES}


# gitops-engine's pkg/health/health_test.go states the status; the messages are its Go code's.
@pytest.mark.parametrize("name,health", [
    ("nginx", Health("Healthy", "")),
    ("deployment-progressing", Health(
        "Progressing", "Waiting for rollout to finish: 1 old replicas are pending termination...")),
    ("deployment-suspended", Health("Suspended", "Deployment is paused")),
    ("deployment-degraded", Health("Degraded",
                                   'Deployment "guestbook-ui" exceeded its progress deadline')),
])
def test_deployment_health_is_gitops_engines(name: str, health: Health) -> None:
    assert deployment_health(load(FIXTURES / "gitops-engine-health" / f"{name}.yaml")) == health


@pytest.mark.parametrize("name", ["statefulset", "statefulset-ondelete"])
def test_statefulset_health_is_gitops_engines(name: str) -> None:
    assert statefulset_health(load(FIXTURES / "gitops-engine-health" / f"{name}.yaml")) == \
        Health("Healthy", "statefulset has 1 ready pods")


def test_a_statefulset_rolling_update_waits_for_its_update_revision() -> None:
    sts = {"metadata": {"generation": 2},
           "spec": {"replicas": 2, "updateStrategy": {"type": "RollingUpdate"}},
           "status": {"observedGeneration": 2, "readyReplicas": 2, "updatedReplicas": 1,
                      "currentReplicas": 1, "currentRevision": "db-1", "updateRevision": "db-2"}}
    assert statefulset_health(sts) == Health(
        "Progressing", "waiting for statefulset rolling update to complete 1 pods at revision db-2...")
    sts["status"].update(currentRevision="db-2", currentReplicas=2, updatedReplicas=2)
    assert statefulset_health(sts) == Health(
        "Healthy", "statefulset rolling update complete 2 pods at revision db-2...")


@pytest.mark.parametrize("duration,seconds", [
    (45, 45), ("90", 90), ("30s", 30), ("2m", 120), ("1h30m", 5400), ("1.5h", 5400),
    ("abc", None), ("", None), (True, None), ({"m": 1}, None)])
def test_pause_durations_read_as_argo_rollouts_reads_them(duration, seconds) -> None:
    assert pause_seconds(duration) == seconds
