"""dora on the generated history of tests/gitops/histories.py, whose figures are worked out by hand
here from the commit list (window 2024-03-04 to 2024-03-18, two weeks):

api    promotions v1 (lead 2 h), v2 (0.5 h, reverted after 1.5 h), v3 (4 h, override of a freeze),
       v4 (no valid source time; reverted 96 h later, after the window) -> 4, 2 failed.
web    w1 (24 h), w2 (24 h to the merge of its pull request; blocked later), w3 (2 h, reverted):
       w2 and w3 are one outage, from w2's merge 03-11 10:00 to the revert 03-12 20:00 = 34 h -> 3, 2 failed.
worker k1 (1 h), blocked, never restored -> 1, 1 failed, 1 open.
"""

from __future__ import annotations

import itertools
import json
import xml.etree.ElementTree as ET

import pytest

from gitops.cli import main
from gitops.governance.dora import compute
from gitops.governance.history import Change
from tests.gitops.histories import at, known_history, write_history

_numbers = itertools.count()
WINDOW = ["--since", "2024-03-04", "--until", "2024-03-18"]


@pytest.fixture
def known_url(git_server):
    name = f"acme/dora-{next(_numbers)}"
    write_history(git_server.root / f"{name}.git", known_history()[0])
    return git_server.url(name)


def _dora(capsys, url, token_env, *extra):
    code = main(["dora", "--repo", url, "--token-env", token_env, "--env", "prod", *extra])
    out, err = capsys.readouterr()
    assert code == 0, err
    return out


def test_figures_per_service_and_overall(known_url, token_env, capsys):
    report = json.loads(_dora(capsys, known_url, token_env, *WINDOW, "--output", "json"))
    assert (report["since"], report["until"]) == ("2024-03-04T00:00:00Z", "2024-03-18T00:00:00Z")
    api, web, worker = (report["services"][s] for s in ("api", "web", "worker"))
    assert api == {"deployments": 4, "deployments_per_week": 2.0,
                   "lead_time_median_h": 2.0, "lead_time_p90_h": 4.0, "lead_time_samples": 3,
                   "failed_deployments": 2, "change_failure_rate": 0.5,
                   "restores": 2, "time_to_restore_median_h": (1.5 + 96) / 2, "open_failures": 0}
    assert web == {"deployments": 3, "deployments_per_week": 1.5,
                   "lead_time_median_h": 24.0, "lead_time_p90_h": 24.0, "lead_time_samples": 3,
                   "failed_deployments": 2, "change_failure_rate": round(2 / 3, 4),
                   "restores": 1, "time_to_restore_median_h": 34.0, "open_failures": 0}
    assert worker == {"deployments": 1, "deployments_per_week": 0.5,
                      "lead_time_median_h": 1.0, "lead_time_p90_h": 1.0, "lead_time_samples": 1,
                      "failed_deployments": 1, "change_failure_rate": 1.0,
                      "restores": 0, "time_to_restore_median_h": None, "open_failures": 1}
    # Lead times 0.5 1 2 2 4 24 24: median the 4th, p90 the 7th (nearest rank ceil(0.9 * 7)).
    assert report["overall"] == {"deployments": 8, "deployments_per_week": 4.0,
                                 "lead_time_median_h": 2.0, "lead_time_p90_h": 24.0, "lead_time_samples": 7,
                                 "failed_deployments": 5, "change_failure_rate": 0.625,
                                 "restores": 3, "time_to_restore_median_h": 34.0, "open_failures": 1}
    # Week 1: v1 w1 v2 v3 (leads 2 24 0.5 4 -> median 3); week 2: w2 w3 v4 k1 (24 2 - 1 -> 2).
    assert report["weeks"] == [{"start": "2024-03-04", "deployments": 4, "lead_time_median_h": 3.0},
                               {"start": "2024-03-11", "deployments": 4, "lead_time_median_h": 2.0}]


def test_one_service_and_a_window_that_ends_before_the_revert(known_url, token_env, capsys):
    # Window ending 03-15 12:00: v4 landed inside and is failed (its revert lands 03-19, still read).
    report = json.loads(_dora(capsys, known_url, token_env, "--service", "api", "--since",
                              "2024-03-11", "--until", "2024-03-15T12:00", "--output", "json"))
    assert list(report["services"]) == ["api"]
    assert report["overall"]["deployments"] == 1 and report["overall"]["failed_deployments"] == 1
    assert report["overall"]["time_to_restore_median_h"] == 96.0


def test_table_and_svg_chart(known_url, token_env, capsys, tmp_path):
    chart = tmp_path / "dora.svg"
    out = _dora(capsys, known_url, token_env, *WINDOW, "--svg", str(chart))
    lines = out.splitlines()
    assert lines[0] == "prod, 2024-03-04T00:00:00Z to 2024-03-18T00:00:00Z"
    assert lines[2].split() == ["api", "4", "2", "2.0h", "4.0h", "50.0%", "(2)", "2.0d", "0"]
    assert lines[-2].split() == ["overall", "8", "4", "2.0h", "24.0h", "62.5%", "(5)", "34.0h", "1"]
    svg = ET.fromstring(chart.read_text())
    ns = {"svg": "http://www.w3.org/2000/svg"}
    bars = svg.findall(".//svg:rect[@class='deployments']", ns)
    assert [bar.find("svg:title", ns).text for bar in bars] == [
        "week of 2024-03-04: 4 deployments", "week of 2024-03-11: 4 deployments"]
    # Both weeks had 4 deployments: two bars of the same, full (axis maximum 5 -> 4/5) height.
    heights = {float(bar.get("height")) for bar in bars}
    assert len(heights) == 1 and heights.pop() == pytest.approx((320 - 40 - 56) * 4 / 5, abs=0.1)
    points = svg.findall(".//svg:circle[@class='lead-time']", ns)
    assert [float(p.get("cy")) for p in points] == pytest.approx(
        [(320 - 56) - (320 - 40 - 56) * 3 / 5, (320 - 56) - (320 - 40 - 56) * 2 / 5], abs=0.1)


def _change(when: str, action: str, service: str, tag: str, **extra) -> Change:
    return Change(commit=f"{action}-{tag}-{when}", landed_at=at(when), author="a", subject="s",
                  action=action, env="prod", service=service, tag=tag, digest=f"sha256:{tag}", **extra)


def test_a_block_of_a_digest_promoted_again_after_an_unblock_fails_only_the_earlier_one():
    changes = [_change("2024-03-04T10:00:00", "promote", "api", "a1"),
               _change("2024-03-04T11:00:00", "promote", "api", "a2"),
               _change("2024-03-05T10:00:00", "block", "api", "a1"),
               _change("2024-03-06T10:00:00", "promote", "api", "a1")]
    report = compute("prod", changes, at("2024-03-04T00:00:00"), at("2024-03-11T00:00:00"))
    # a1 (first) failed; it was live one hour until a2, a good promotion, replaced it.
    assert report.overall.failed_deployments == 1 and report.overall.deployments == 3
    assert report.overall.time_to_restore_median_h == 1.0


def test_an_empty_window_has_no_rates():
    report = compute("prod", [], at("2024-03-04T00:00:00"), at("2024-03-18T00:00:00"))
    assert report.overall.deployments == 0 and report.overall.change_failure_rate is None
    assert report.services == {} and [w.deployments for w in report.weeks] == [0, 0]


@pytest.mark.parametrize(("where", "reason"), [("missing/dora.svg", "No such file or directory"),
                                                (".", "Is a directory")])
def test_an_svg_path_that_cannot_be_written_is_a_one_line_error(known_url, token_env, capsys, tmp_path,
                                                                  where, reason):
    target = tmp_path / where
    code = main(["dora", "--repo", known_url, "--token-env", token_env, "--env", "prod", *WINDOW,
                 "--svg", str(target)])
    err = capsys.readouterr().err
    assert code == 1
    assert err == f"error: cannot write --svg {target}: {reason}\n"
    assert [p.name for p in tmp_path.iterdir()] == []     # nothing half written beside it
