"""A pause the Argo Rollouts controller ends by itself (a canary step's `pause.duration`, a
blue/green `autoPromotionSeconds`) is waited out whatever --pause-timeout says, as long as the run's
--timeout allows; one that cannot end within the run fails at once instead of burning it; a pause
only a person ends waits --pause-timeout."""

from __future__ import annotations

import pytest

from gitops.errors import VerifyTimeout
from sandbox.kube_api import Moment, application, pods_of, rollout
from tests.gitops.conftest import DIGEST_A, DIGEST_B
from tests.gitops.verification.verify_env import FakeTime, check, promote


def canary(duration: str) -> dict:
    return {"canary": {"steps": [{"setWeight": 20}, {"pause": {"duration": duration}}]}}


BLUE_GREEN_AFTER_15M = {"blueGreen": {"activeService": "api", "previewService": "api-preview",
                                      "autoPromotionEnabled": True, "autoPromotionSeconds": 900}}


def moment(rev: str, phase: str, **rollout_kw) -> Moment:
    health = {"Paused": "Suspended"}.get(phase, phase)
    return Moment.running(application(revision=rev, health=health, workload="Rollout"),
                          pods_of("Rollout", "api", [DIGEST_B, DIGEST_B], replica_set="api-7c9d5b"),
                          pods_of("Rollout", "api", [DIGEST_A], replica_set="api-5f6a4c"),
                          rollout_obj=rollout(phase=phase, **rollout_kw))


@pytest.mark.parametrize("strategy,reason", [(canary("15m"), "CanaryPauseStep"),
                                             (BLUE_GREEN_AFTER_15M, "BlueGreenPause")])
def test_a_pause_longer_than_the_pause_timeout_is_waited_out(cluster, repo, strategy,
                                                             reason) -> None:
    rev = promote(repo)
    paused = moment(rev, "Paused", paused=True, step=1, strategy=strategy, pause_reason=reason)
    cluster.kube.script("argocd", "api", [paused] * 91 + [moment(rev, "Healthy", step=2,
                                                                 strategy=strategy)])
    time = FakeTime()
    result = check(cluster, repo, rev, "--pause-timeout", "10m", time=time)
    assert result.rollout == "Healthy" and sum(time.sleeps) == 910.0
    assert cluster.kube.patches == []  # the controller ended it, nobody promoted it


def test_a_pause_that_ends_after_the_runs_timeout_fails_at_once(cluster, repo) -> None:
    rev = promote(repo)
    cluster.kube.script("argocd", "api", [moment(rev, "Paused", paused=True, step=1,
                                                 strategy=canary("40m"))])
    time = FakeTime()
    with pytest.raises(VerifyTimeout, match=r"Rollout api paused at step 1 \(pause 40m\) ends in "
                                            r"2\d\d\d s, after this run's --timeout"):
        check(cluster, repo, rev, "--timeout", "30m", time=time)
    assert time.sleeps == []


def test_a_timed_pause_the_controller_never_ends_fails_after_it(cluster, repo) -> None:
    rev = promote(repo)
    cluster.kube.script("argocd", "api", [moment(rev, "Paused", paused=True, step=1,
                                                 strategy=canary("2m"))])
    time = FakeTime()
    with pytest.raises(VerifyTimeout, match="is still paused over 60 s after it should have ended; is "
                                            "the Argo Rollouts controller running"):
        check(cluster, repo, rev, time=time)
    assert 180.0 <= sum(time.sleeps) <= 190.0


def test_blue_green_without_auto_promotion_waits_for_someone(cluster, repo) -> None:
    rev = promote(repo)
    # autoPromotionSeconds is ignored by Argo Rollouts when autoPromotionEnabled is false.
    strategy = {"blueGreen": {"activeService": "api", "autoPromotionEnabled": False,
                              "autoPromotionSeconds": 60}}
    cluster.kube.script("argocd", "api", [moment(rev, "Paused", paused=True, strategy=strategy,
                                                 pause_reason="BlueGreenPause")])
    with pytest.raises(VerifyTimeout, match=r"paused before switching to the new version \(until "
                                            r"promoted\) for 300 s; promote it"):
        check(cluster, repo, rev, "--pause-timeout", "5m")
