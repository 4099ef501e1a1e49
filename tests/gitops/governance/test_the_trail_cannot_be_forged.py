"""history and dora under hostile commits: copied trailers do not relocate a change, commit dates
do not reorder or hide the branch's history, and bytes or dates git accepts never end in a
traceback. Each history is written with git fast-import and served by the smart-HTTP git server."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime

import pytest

from gitops.cli import main
from gitops.governance import history
from tests.gitops.histories import Commit, at, message, write_history

_numbers = itertools.count()
DIGEST = "sha256:" + "c" * 64


def _promote(when, env: str, service: str, tag: str, **files: str) -> Commit:
    return Commit(when, message(f"promote({env}/{service}): → {tag}", Delivery_Action="promote",
                                Delivery_Service=service, Delivery_Environment=env, Image_Tag=tag,
                                Image_Digest=DIGEST),
                  files or {f"envs/{env}/{service}/values.yaml": f"image:\n  tag: {tag}\n"})


def _seed() -> Commit:
    return Commit(at("2025-11-01T10:00:00"), "seed\n",
                  {f"envs/{env}/{service}/values.yaml": "image:\n  tag: v0\n"
                   for env in ("staging", "prod") for service in ("api", "web")})


@pytest.fixture
def serve(git_server):
    def serve(commits: list[Commit]) -> tuple[str, dict[int, str]]:
        name = f"acme/forged-{next(_numbers)}"
        shas = write_history(git_server.root / f"{name}.git", commits)
        return git_server.url(name), shas
    return serve


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _json(capsys, url, token_env, command, *extra) -> object:
    code, out, err = _run(capsys, command, "--repo", url, "--token-env", token_env, "--env", "prod",
                          "--output", "json", *extra)
    assert code == 0 and "Traceback" not in err, err
    return json.loads(out)


def test_copied_trailers_do_not_turn_a_hand_edit_into_another_promotion(serve, token_env, capsys):
    forged = _promote(at("2025-12-01T10:00:00"), "staging", "web", "w9",
                      **{"envs/prod/api/values.yaml": "image:\n  tag: evil\n"})
    url, shas = serve([_seed(), forged])
    rows = _json(capsys, url, token_env, "history")
    row = next(r for r in rows if r["commit"] == shas[id(forged)])
    assert (row["action"], row["env"], row["service"], row["claimed"]) == (
        "manual", "prod", "api", "promote staging/web")
    assert row["tag"] is None and row["digest"] is None
    report = _json(capsys, url, token_env, "dora", "--since", "2025-11-01", "--until", "2025-12-31")
    assert report["overall"]["deployments"] == 0 and report["services"] == {}


def test_a_promotion_that_also_edits_another_service_lists_that_edit_as_manual(serve, token_env, capsys):
    smuggled = _promote(at("2025-12-01T10:00:00"), "prod", "api", "v1",
                        **{"envs/prod/api/values.yaml": "image:\n  tag: v1\n",
                           "envs/prod/web/values.yaml": "image:\n  tag: evil\n"})
    url, shas = serve([_seed(), smuggled])
    rows = [r for r in _json(capsys, url, token_env, "history") if r["commit"] == shas[id(smuggled)]]
    assert [(r["action"], r["service"], r["claimed"]) for r in rows] == [
        ("promote", "api", None), ("manual", "web", "promote prod/api")]


def test_a_freeze_claim_on_a_values_file_is_a_manual_change(serve, token_env, capsys):
    fake_freeze = Commit(at("2025-12-01T10:00:00"), message(
        "freeze(prod)", Delivery_Action="freeze", Delivery_Environment="prod", Reason="x"),
        {"envs/prod/api/values.yaml": "image:\n  tag: evil\n"})
    url, shas = serve([_seed(), fake_freeze])
    row = _json(capsys, url, token_env, "history")[-1]
    assert (row["action"], row["service"], row["claimed"]) == ("manual", "api", "freeze prod")


@pytest.mark.parametrize("when", ["946684800 +0000",      # 2000-01-01: back-dated
                                  "4102444800 +0000"])    # 2100-01-01: future-dated
def test_one_commit_dated_out_of_order_on_top_hides_nothing(serve, token_env, capsys, when):
    promotions = [_promote(at(f"2025-12-0{day}T10:00:00"), "prod", "api", f"v{day}") for day in (1, 2, 3)]
    liar = Commit(when, "hand edit\n", {"envs/prod/web/values.yaml": "image:\n  tag: x\n"})
    url, shas = serve([_seed(), *promotions, liar])
    rows = _json(capsys, url, token_env, "history", "--since", "2025-12-01", "--until", "2025-12-31")
    assert [r["tag"] for r in rows if r["action"] == "promote"] == ["v1", "v2", "v3"]
    last = rows[-1]
    assert last["commit"] == shas[id(liar)] and last["date_adjusted"] is True
    assert last["landed_at"] == "2025-12-03T10:00:00Z"     # the change before it
    assert last["committed_at"] == ("2000-01-01T00:00:00Z" if when.startswith("946") else "2100-01-01T00:00:00Z")
    report = _json(capsys, url, token_env, "dora", "--since", "2025-12-01", "--until", "2025-12-31")
    assert report["services"]["api"]["deployments"] == 3


def test_a_back_dated_commit_in_the_middle_does_not_pull_earlier_changes_out_of_the_window(
        serve, token_env, capsys):
    commits = [_seed(), _promote(at("2025-12-01T10:00:00"), "prod", "api", "v1"),
               Commit("946684800 +0000", "hand edit\n", {"envs/prod/web/values.yaml": "x: 1\n"}),
               _promote(at("2025-12-02T10:00:00"), "prod", "api", "v2")]
    url, _ = serve(commits)
    rows = _json(capsys, url, token_env, "history", "--since", "2025-12-01")
    assert [(r["action"], r["tag"], r["landed_at"]) for r in rows] == [
        ("promote", "v1", "2025-12-01T10:00:00Z"), ("manual", None, "2025-12-01T10:00:00Z"),
        ("promote", "v2", "2025-12-02T10:00:00Z")]


def test_landing_times_follow_the_earliest_longest_run_of_dates():
    day = lambda d: datetime(2025, 12, d, tzinfo=UTC)  # noqa: E731
    now = day(30)
    assert history.landing_times([day(1), day(5), day(2), day(3)], now) == [
        (day(1), False), (day(1), True), (day(2), False), (day(3), False)]
    # Equally long runs: the earlier one is trusted, the later date adjusted.
    assert history.landing_times([day(1), day(3), day(2)], now) == [
        (day(1), False), (day(3), False), (day(3), True)]
    # Unknown times and times after now land with the change before them, or the first trusted.
    assert history.landing_times([None, day(4), datetime(2999, 1, 1, tzinfo=UTC)], now) == [
        (day(4), True), (day(4), False), (day(4), True)]
    assert history.landing_times([None], now) == [(datetime.min.replace(tzinfo=UTC), True)]


@pytest.mark.parametrize("commit", [
    Commit(at("2025-12-01T10:00:00"), b"caf\xe9 \xff\n\nDelivery-Action: promote\nDelivery-Service: api\n"
                                      b"Delivery-Environment: prod\nImage-Tag: v1\n",
           {"envs/prod/api/values.yaml": "image:\n  tag: v1\n"}),
    Commit(at("2025-12-01T10:00:00"), "by hand\n", {"envs/prod/api/values.yaml": "x: 1\n"},
           author=b"Jos\xe9 <j@example.invalid>"),
], ids=["message", "author"])
def test_non_utf8_messages_and_authors_are_read(serve, token_env, capsys, commit):
    url, _ = serve([_seed(), commit])
    for output in ("json", "csv", "text"):
        code, out, err = _run(capsys, "history", "--repo", url, "--token-env", token_env,
                              "--env", "prod", "--output", output)
        assert code == 0 and "Traceback" not in err, err
    row = _json(capsys, url, token_env, "history")[-1]
    assert "\ufffd" in row["subject"] + row["author"]     # the bytes git could not give as UTF-8
    assert row["service"] == "api"


@pytest.mark.parametrize("date", ["253402300799 -1200",    # 9999-12-31T11:59:59-12:00
                                  "253402343999 -1200",    # past 9999-12-31T23:59:59Z: no datetime
                                  "-62135596800 +1400"])   # 0001-01-01: git prints no time
def test_commit_dates_at_the_ends_of_the_calendar(serve, token_env, capsys, date):
    url, shas = serve([_seed(), Commit(date, "by hand\n", {"envs/prod/api/values.yaml": "x: 1\n"})])
    for command in ("history", "dora"):
        code, out, err = _run(capsys, command, "--repo", url, "--token-env", token_env,
                              "--env", "prod", "--output", "json")
        assert code == 0 and "Traceback" not in err, err
    row = _json(capsys, url, token_env, "history")[-1]
    assert row["date_adjusted"] is True and row["landed_at"] == "2025-11-01T10:00:00Z"


@pytest.mark.parametrize("source_time", ["9999-12-31T23:59:59-12:00", "0001-01-01T00:00:00+14:00"])
def test_a_source_commit_time_outside_utc_s_calendar_is_no_source_time(serve, token_env, capsys,
                                                                       source_time):
    promotion = Commit(at("2025-12-01T10:00:00"), message(
        "promote", Delivery_Action="promote", Delivery_Service="api", Delivery_Environment="prod",
        Image_Tag="v1", Source_Commit="a" * 40, Source_Commit_Time=source_time),
        {"envs/prod/api/values.yaml": "image:\n  tag: v1\n"})
    url, _ = serve([_seed(), promotion])
    assert _json(capsys, url, token_env, "history")[-1]["source_time"] is None
    report = _json(capsys, url, token_env, "dora", "--since", "2025-11-01", "--until", "2025-12-31")
    assert report["services"]["api"]["lead_time_samples"] == 0


@pytest.mark.parametrize("window", [["--since", "0001-01-01T00:00:00+14:00"],
                                    ["--until", "9999-12-31T23:59:59-12:00"],
                                    ["--since", "0001-01-01", "--until", "9999-12-31T23:59:59"]])
def test_a_window_at_the_ends_of_the_calendar(serve, token_env, capsys, window):
    url, _ = serve([_seed(), _promote(at("2025-12-01T10:00:00"), "prod", "api", "v1")])
    rows = _json(capsys, url, token_env, "history", *window)
    assert [r["tag"] for r in rows if r["action"] == "promote"] == ["v1"]


def test_a_dora_window_of_centuries_is_a_one_line_error(serve, token_env, capsys):
    url, _ = serve([_seed()])
    code, out, err = _run(capsys, "dora", "--repo", url, "--token-env", token_env, "--env", "prod",
                          "--since", "0001-01-01")
    assert code == 2 and err.count("\n") == 1
    assert err.startswith("error: --since '0001-01-01' is more than 100 years before --until")


@pytest.mark.parametrize("command", ["history", "dora"])
def test_an_environment_that_does_not_exist_is_warned_about(serve, token_env, capsys, command):
    url, _ = serve([_seed()])
    code, out, err = _run(capsys, command, "--repo", url, "--token-env", token_env, "--env", "prodd")
    assert code == 0
    assert err == ("warning: envs/prodd does not exist on main (environments: prod, staging)\n")
