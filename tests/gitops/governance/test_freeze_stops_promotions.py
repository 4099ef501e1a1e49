"""Freezes: the freeze file and its windows (in the file's time zone, across DST changes), the
freeze/unfreeze commits, promote refusing during a freeze and the audited override, against the
real smart-HTTP git server."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from gitops.governance import trailers
from gitops.yaml import document
from gitops.cli import main
from gitops.errors import FrozenError, UsageError, ValuesError
from gitops.governance.freeze import FreezeRequest, freeze
from gitops.governance.freeze_file import Freeze, parse_freeze_file, render_freezes
from gitops.governance.times import parse_time
from gitops.clients.git import GitClient, GitRunner, Identity
from gitops.promotion.promote import DEFAULT_AUTHOR, PromoteRequest, promote
from tests.gitops.conftest import values_yaml
from tests.gitops.promotion.test_promote_by_commit_and_pull_request import _RacingClient

BERLIN = ZoneInfo("Europe/Berlin")
FREEZE_FILE = "envs/prod/freeze.yaml"
WEEKEND = ("timezone: Europe/Berlin\nwindows:\n  - start: Fri 16:00\n    end: Mon 08:00\n"
           "    reason: no prod promotions over the weekend\n")


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


# --- Windows: wall-clock time of the file's zone -------------------------------------------------

@pytest.mark.parametrize("instant, frozen_until", [
    ("2024-03-29T14:59:00", None),                          # Fri 15:59 CET: not yet
    ("2024-03-29T15:00:00", "2024-04-01T08:00:00+02:00"),   # Fri 16:00 CET
    # Clocks go forward on Sun 31 March: Mon 08:00 is 06:00 UTC, not 07:00.
    ("2024-04-01T05:59:00", "2024-04-01T08:00:00+02:00"),
    ("2024-04-01T06:00:00", None),
    ("2024-04-01T06:30:00", None),                          # 08:30 CEST (07:30 if read as CET)
    # Clocks go back on Sun 27 October: Mon 08:00 is 07:00 UTC, not 06:00.
    ("2024-10-28T06:30:00", "2024-10-28T08:00:00+01:00"),   # 07:30 CET (08:30 if read as CEST)
    ("2024-10-28T07:00:00", None),
    ("2024-10-25T14:00:00", "2024-10-28T08:00:00+01:00"),   # Fri 16:00 CEST: the window opens
    ("2024-10-23T12:00:00", None),                          # Wednesday
])
def test_weekend_window_follows_the_berlin_wall_clock(instant, frozen_until):
    active = parse_freeze_file(WEEKEND, FREEZE_FILE).active("prod", "api", utc(instant))
    if frozen_until is None:
        assert active == []
    else:
        assert [(a.kind, a.scope, a.ends_at.isoformat()) for a in active] == [
            ("window", "prod", frozen_until)]
        # The end is a real instant: 08:00 on that day's clock, whatever the offset.
        assert active[0].ends_at.astimezone(BERLIN).strftime("%a %H:%M") == "Mon 08:00"


def test_window_within_a_day_and_for_some_services_only():
    text = ("timezone: America/New_York\nwindows:\n  - start: Wed 09:00\n    end: wednesday 11:30\n"
            "    reason: release train\n    services: [web]\n")
    file = parse_freeze_file(text, FREEZE_FILE)
    wednesday_ten = utc("2024-07-10T14:00:00")   # 10:00 EDT
    assert file.active("prod", "api", wednesday_ten) == []
    assert [a.ends_at for a in file.active("prod", "web", wednesday_ten)] == [utc("2024-07-10T15:30:00")]
    assert file.active("prod", "web", utc("2024-07-10T15:30:00")) == []


@pytest.mark.parametrize("text, message", [
    ("timezone: Mars/Olympus\n", "timezone 'Mars/Olympus' is not a known IANA time zone"),
    ("windows:\n  - {start: Fri 16:00, end: Fri 16:00, reason: x}\n", "start and end are the same time"),
    ("windows:\n  - {start: Friday, end: Mon 08:00, reason: x}\n", "start 'Friday' is not a weekday and a time"),
    ("windows:\n  - {start: Fri 25:00, end: Mon 08:00, reason: x}\n", "is not a weekday and a time"),
    ("freezes:\n  - {until: soon, reason: x, by: a, since: '2024-01-01T00:00:00Z'}\n", "until must be an ISO 8601 time"),
    ("freezes:\n  - {service: ../x, until: '2030-01-01T00:00:00Z', reason: x, by: a, since: '2024-01-01T00:00:00Z'}\n",
     "service '../x' is not a service name"),
    # The one name rule of every command (a DNS-1123 label): no promotion could name this service.
    ("freezes:\n  - {service: Api_1, until: '2030-01-01T00:00:00Z', reason: x, by: a, since: '2024-01-01T00:00:00Z'}\n",
     "service 'Api_1' is not a service name"),
    ("windows:\n  - {start: Fri 16:00, end: Mon 08:00, reason: x, services: [Api]}\n",
     "services must be a non-empty list of service names"),
    ("freezes: {a: 1}\n", "freezes must be a list of mappings"),
    ("freeze: []\n", "unknown key 'freeze'"),
    ("- a\n", "the top level must be a mapping"),
    ("windows: [\n", ":2:1: did not find expected node content"),
    ("windows:\n" + "  - {start: Fri 16:00, end: Mon 08:00, reason: x}\n" * 101, "more than 100 windows"),
    ("# " + "x" * document.MAX_BYTES + "\n", "over the limit of 524,288 bytes (MAX_BYTES)"),
])
def test_a_broken_freeze_file_is_refused_naming_the_problem(text, message):
    with pytest.raises(ValuesError, match=message.replace("(", r"\(").replace(")", r"\)")) as e:
        parse_freeze_file(text, FREEZE_FILE)
    assert str(e.value).startswith(FREEZE_FILE)


def test_naive_times_are_in_the_files_zone_and_durations_count_from_now():
    now = utc("2024-03-29T12:00:00")
    assert parse_time("2024-12-27 08:00", now=now, zone=BERLIN, flag="--until") == utc("2024-12-27T07:00:00")
    assert parse_time("2024-12-27T08:00Z", now=now, zone=BERLIN, flag="--until") == utc("2024-12-27T08:00:00")
    assert parse_time("3d", now=now, zone=BERLIN, flag="--until") == now + timedelta(days=3)
    assert parse_time("2w", now=now, zone=BERLIN, flag="--since", past=True) == now - timedelta(weeks=2)
    with pytest.raises(UsageError, match="--until 'tomorrow' is not a time"):
        parse_time("tomorrow", now=now, zone=BERLIN, flag="--until")


def test_rendering_keeps_hand_written_windows_and_comments():
    text = "# reviewed by the release managers\n" + WEEKEND
    file = parse_freeze_file(text, FREEZE_FILE)
    entry = file.windows[0]
    rendered = render_freezes(text, [Freeze("api", utc("2024-12-27T07:00:00"), "year end", "Jane <j@x>",
                                            utc("2024-12-20T16:00:00"))], file.zone)
    assert rendered.startswith("# reviewed by the release managers\ntimezone: Europe/Berlin\nwindows:\n")
    again = parse_freeze_file(rendered, FREEZE_FILE)
    assert again.windows == (entry,)
    assert [(f.service, f.until, f.reason) for f in again.freezes] == [("api", utc("2024-12-27T07:00:00"), "year end")]
    assert 'until: "2024-12-27T08:00:00+01:00"' in rendered   # written in the file's zone


# --- freeze / unfreeze and promote, against the git server ---------------------------------------

def _cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _freeze(capsys, repo, token_env, *extra: str, action: str = "freeze") -> tuple[int, str, str]:
    return _cli(capsys, action, "--repo", repo.url, "--token-env", token_env, "--env", "prod", *extra)


def _promote(capsys, repo, token_env, *extra: str) -> tuple[int, str, str]:
    return _cli(capsys, "promote", "--repo", repo.url, "--token-env", token_env, "--env", "prod",
                "--service", "api", "--tag", "2.0.0", *extra)


def test_freeze_commits_the_file_with_trailers_and_promote_refuses(gitops_repo, token_env, capsys):
    code, out, err = _freeze(capsys, gitops_repo, token_env, "--until", "2099-12-27T08:00+01:00",
                             "--reason", "year-end freeze", "--author", "Jane Doe <jane@example.com>",
                             "--output", "json")
    assert code == 0, err
    result = json.loads(out)
    head = gitops_repo.refs()["refs/heads/main"]
    assert result == {"action": "freeze", "scope": "prod", "commit": head,
                      "until": "2099-12-27T07:00:00+00:00", "timezone": "UTC",
                      "services": ["api", "web", "worker"], "still_frozen": [], "still_frozen_by": [],
                      "attempts": 1,
                      "transitions": [], "notes": []}
    message = gitops_repo.show("%B")
    assert message.startswith("freeze(prod): until 2099-12-27T07:00:00+00:00\n\nyear-end freeze\n")
    assert trailers.parse(message) == {"Delivery-Action": "freeze", "Delivery-Environment": "prod",
                                       "Reason": "year-end freeze"}
    assert gitops_repo.show("%an <%ae>") == "Jane Doe <jane@example.com>\n"
    stored = parse_freeze_file(gitops_repo.file(FREEZE_FILE).decode(), FREEZE_FILE)
    assert [(f.service, f.until, f.by) for f in stored.freezes] == [
        (None, utc("2099-12-27T07:00:00"), "Jane Doe <jane@example.com>")]

    code, out, err = _promote(capsys, gitops_repo, token_env)
    assert code == 15 and out == ""
    assert err == ("error: prod/api is frozen: freeze of prod until 2099-12-27 07:00 UTC: year-end "
                   "freeze (by Jane Doe <jane@example.com>). Promote after that, or in an emergency "
                   "with --override-freeze --reason \"…\" (recorded in the commit)\n")
    assert gitops_repo.refs()["refs/heads/main"] == head


def test_override_is_recorded_in_the_trailers(gitops_repo, token_env, capsys):
    assert _freeze(capsys, gitops_repo, token_env, "--service", "api", "--until", "2099-01-01",
                   "--reason", "migration")[0] == 0
    # Other services are not frozen.
    assert _cli(capsys, "promote", "--repo", gitops_repo.url, "--token-env", token_env, "--env",
                "prod", "--service", "web", "--tag", "3.0.0")[0] == 0
    code, out, err = _promote(capsys, gitops_repo, token_env, "--override-freeze", "--reason",
                              "hotfix for INC-42", "--source-commit", "0123abcd")
    assert code == 0, err
    message = gitops_repo.show("%B")
    assert message.startswith("promote(prod/api): 1.0.0 → 2.0.0")
    found = trailers.parse(message)
    assert found["Override-Freeze"] == "true" and found["Reason"] == "hotfix for INC-42"
    assert found["Source-Commit"] == "0123abcd"


@pytest.mark.parametrize("extra, message", [
    (["--override-freeze"], "--override-freeze needs --reason"),
    (["--reason", "why"], "--reason goes with --override-freeze"),
    (["--override-freeze", "--reason", "two\nlines"], "must be one line"),
])
def test_override_arguments_go_together(gitops_repo, token_env, capsys, extra, message):
    code, _, err = _promote(capsys, gitops_repo, token_env, *extra)
    assert code == 2 and message in err and err.count("\n") == 1


def test_overriding_when_nothing_is_frozen_is_refused(gitops_repo, token_env, capsys):
    refs = gitops_repo.refs()
    code, _, err = _promote(capsys, gitops_repo, token_env, "--override-freeze", "--reason", "x")
    assert code == 2 and "prod/api is not frozen" in err
    assert gitops_repo.refs() == refs


def test_expired_freezes_do_not_block_and_are_dropped_on_the_next_write(gitops_repo, token_env, capsys):
    gitops_repo.commit({FREEZE_FILE: (
        "freezes:\n  - until: \"2020-01-02T00:00:00+00:00\"\n    reason: old\n    by: a\n"
        "    since: \"2020-01-01T00:00:00+00:00\"\n")}, "an old freeze")
    assert _promote(capsys, gitops_repo, token_env)[0] == 0
    assert _freeze(capsys, gitops_repo, token_env, "--service", "web", "--until", "8h",
                   "--reason", "load test")[0] == 0
    stored = parse_freeze_file(gitops_repo.file(FREEZE_FILE).decode(), FREEZE_FILE)
    assert [f.reason for f in stored.freezes] == ["load test"]


def test_a_window_blocks_promote(gitops_repo, token_env, capsys):
    now = datetime.now(BERLIN)
    start, end = now - timedelta(hours=1), now + timedelta(hours=2)
    gitops_repo.commit({FREEZE_FILE: (
        f"timezone: Europe/Berlin\nwindows:\n  - start: {start:%a %H:%M}\n    end: {end:%a %H:%M}\n"
        "    reason: maintenance window\n")}, "a window now")
    code, _, err = _promote(capsys, gitops_repo, token_env)
    assert code == 15 and "window of prod until" in err and "maintenance window" in err


def test_unfreeze_ends_exactly_that_scope(gitops_repo, token_env, capsys):
    assert _freeze(capsys, gitops_repo, token_env, "--until", "2099-01-01", "--reason", "env")[0] == 0
    assert _freeze(capsys, gitops_repo, token_env, "--service", "api", "--until", "2099-01-01",
                   "--reason", "api")[0] == 0
    code, out, _ = _freeze(capsys, gitops_repo, token_env, "--service", "api", "--reason", "done",
                           "--output", "json", action="unfreeze")
    assert code == 0
    result = json.loads(out)
    assert result["commit"] == gitops_repo.refs()["refs/heads/main"]
    assert (result["still_frozen"], result["still_frozen_by"]) == (["api"], ["prod"])
    assert trailers.parse(gitops_repo.show("%B")) == {
        "Delivery-Action": "unfreeze", "Delivery-Service": "api", "Delivery-Environment": "prod",
        "Reason": "done"}
    assert _promote(capsys, gitops_repo, token_env)[0] == 15
    code, out, _ = _freeze(capsys, gitops_repo, token_env, "--reason", "done", action="unfreeze")
    assert code == 0 and out.startswith("prod unfrozen: committed as ")
    assert _promote(capsys, gitops_repo, token_env)[0] == 0
    refs = gitops_repo.refs()
    code, out, _ = _freeze(capsys, gitops_repo, token_env, "--reason", "again", action="unfreeze")
    assert (code, out) == (0, "no-op: prod has no freeze to end\n") and gitops_repo.refs() == refs


def test_freezing_again_with_the_same_end_and_reason_is_a_noop(gitops_repo, token_env, capsys):
    args = ("--until", "2099-01-01T00:00Z", "--reason", "same")
    assert _freeze(capsys, gitops_repo, token_env, *args)[0] == 0
    refs = gitops_repo.refs()
    code, out, _ = _freeze(capsys, gitops_repo, token_env, *args)
    assert code == 0 and out.startswith("no-op: prod is already frozen until 2099-01-01T00:00:00+00:00")
    assert gitops_repo.refs() == refs


@pytest.mark.parametrize("extra, message", [
    (["--until", "2001-01-01", "--reason", "x"], "--until '2001-01-01' is in the past"),
    (["--until", "1d", "--reason", " "], "--reason is required"),
    (["--until", "1d", "--reason", "x", "--service", "nope"], "envs/prod/nope does not exist"),
    (["--until", "1d", "--reason", "x", "--pipelines"], "--pipelines needs --app"),
    (["--until", "1d", "--reason", "x", "--app", "shop"], "--app and --region go with --pipelines"),
])
def test_bad_freezes_change_nothing(gitops_repo, token_env, capsys, extra, message):
    refs = gitops_repo.refs()
    code, _, err = _freeze(capsys, gitops_repo, token_env, *extra)
    assert code in (2, 3) and message in err and err.count("\n") == 1
    assert gitops_repo.refs() == refs


def test_a_symlinked_or_broken_freeze_file_fails_promote_closed(gitops_repo, token_env, capsys):
    gitops_repo.commit({}, "symlink", symlinks={FREEZE_FILE: "../../etc/passwd"})
    code, _, err = _promote(capsys, gitops_repo, token_env)
    assert code == 3 and "envs/prod/freeze.yaml is a symlink" in err
    gitops_repo.commit({FREEZE_FILE: "freezes: [\n"}, "broken")
    code, _, err = _promote(capsys, gitops_repo, token_env)
    assert code == 3 and "envs/prod/freeze.yaml:2:1: did not find expected node content" in err


def _freeze_request(repo, **kw) -> FreezeRequest:
    return FreezeRequest(repo_url=repo.url, env="prod", service=kw.pop("service", None),
                         reason=kw.pop("reason", "freeze"), author=kw.pop("author", DEFAULT_AUTHOR),
                         max_attempts=kw.pop("max_attempts", 5), **kw)


def test_a_freeze_landing_while_promote_retries_stops_the_promotion(gitops_repo):
    """Interleaving: the freeze lands between promote's check and its push; promote's push is
    rejected, it integrates the new head, checks again and refuses. Nothing of it lands."""
    freeze_text = render_freezes(None, [Freeze(
        None, datetime.now(UTC) + timedelta(days=1), "raced in", "a <a@b>", datetime.now(UTC))], UTC)
    git = _RacingClient(gitops_repo, 1, lambda n: ({FREEZE_FILE: freeze_text}, "freeze lands"))
    with pytest.raises(FrozenError, match="raced in"):
        promote(PromoteRequest(repo_url=gitops_repo.url, env="prod", service="api", tag="2.0.0"),
                git, sleep=lambda s: None)
    assert gitops_repo.log()[0].endswith("freeze lands")
    assert gitops_repo.file("envs/prod/api/values.yaml") == values_yaml(
        "api", "1.0.0", "sha256:" + "a" * 64).encode()


def test_freeze_retries_when_a_promotion_lands_first(gitops_repo):
    other = "envs/prod/web/values.yaml"
    git = _RacingClient(gitops_repo, 2, lambda n: ({other: values_yaml("web", f"4.{n}")}, f"promotion {n}"))
    delays: list[float] = []
    result = freeze(_freeze_request(gitops_repo, until="1d"), git, sleep=delays.append)
    assert result.attempts == 3 and len(delays) == 2
    assert [line.split(" ", 1)[1] for line in gitops_repo.log()[:3]] == [
        "freeze(prod): until " + result.until, "promotion 2", "promotion 1"]
    assert gitops_repo.file(other) == values_yaml("web", "4.2").encode()


def test_two_freezes_of_different_services_both_land(gitops_repo, git_token):
    """Interleaving: a freeze of web lands right before the freeze of api pushes; api's is
    recomputed on the new head, so the file ends with both."""
    class FreezeFirst(GitClient):
        pushed = False

        def push(self, workdir, branch, *, expected):
            if not self.pushed:
                self.pushed = True
                freeze(_freeze_request(gitops_repo, service="web", until="2d", reason="web"),
                       GitClient(GitRunner(git_token)))
            return super().push(workdir, branch, expected=expected)

    freeze(_freeze_request(gitops_repo, service="api", until="1d", reason="api"),
           FreezeFirst(GitRunner(git_token)), sleep=lambda s: None)
    stored = parse_freeze_file(gitops_repo.file(FREEZE_FILE).decode(), FREEZE_FILE)
    assert sorted((f.service, f.reason) for f in stored.freezes) == [("api", "api"), ("web", "web")]


def test_the_author_is_who_froze(gitops_repo, git_token):
    result = freeze(_freeze_request(gitops_repo, until="1d", author=Identity("Ops", "ops@example.com")),
                    GitClient(GitRunner(git_token)))
    assert result.commit == gitops_repo.refs()["refs/heads/main"]
    stored = parse_freeze_file(gitops_repo.file(FREEZE_FILE).decode(), FREEZE_FILE)
    assert stored.freezes[0].by == "Ops <ops@example.com>"



def test_the_same_freeze_twice_within_a_second_is_a_noop(gitops_repo):
    now = datetime(2026, 12, 6, 10, 0, 0, 250000, tzinfo=UTC)
    first = freeze(_freeze_request(gitops_repo, until="8h"), GitClient(GitRunner(gitops_repo.token)), now=now)
    again = freeze(_freeze_request(gitops_repo, until="8h"), GitClient(GitRunner(gitops_repo.token)),
                   now=now.replace(microsecond=750000))
    assert first.commit and again.commit is None and again.until == first.until


def test_unfreezing_the_environment_names_the_service_freeze_that_remains(gitops_repo, token_env, capsys):
    assert _freeze(capsys, gitops_repo, token_env, "--until", "2099-01-01", "--reason", "env")[0] == 0
    assert _freeze(capsys, gitops_repo, token_env, "--service", "api", "--until", "2099-01-01",
                   "--reason", "migration")[0] == 0
    code, out, _ = _freeze(capsys, gitops_repo, token_env, "--reason", "done", action="unfreeze")
    assert code == 0
    assert out.rstrip().endswith("; api still frozen by the freeze of prod/api")
    assert "environment-wide" not in out


# Europe/Berlin falls back on 2026-10-25 at 03:00 CEST to 02:00 CET: 02:00-03:00 happens twice.
SECOND_0220 = datetime(2026, 10, 25, 1, 20, tzinfo=UTC)      # 02:20 CET, the second time round


def test_a_window_ending_in_the_repeated_hour_ends_after_now():
    file = parse_freeze_file("timezone: Europe/Berlin\nwindows:\n  - start: Sun 01:00\n"
                             "    end: Sun 02:30\n    reason: r\n", "f")
    (active,) = file.active("prod", "api", SECOND_0220)
    assert active.ends_at.isoformat() == "2026-10-25T02:30:00+01:00"
    assert active.ends_at > SECOND_0220


def test_an_end_given_in_the_repeated_hour_is_the_one_still_to_come():
    until = parse_time("2026-10-25 02:45", now=SECOND_0220, zone=BERLIN, flag="--until")
    assert until == datetime(2026, 10, 25, 1, 45, tzinfo=UTC)                 # 02:45 CET
    before = datetime(2026, 10, 24, 23, 0, tzinfo=UTC)                         # 01:00 CEST
    assert parse_time("2026-10-25 02:45", now=before, zone=BERLIN, flag="--until") == \
        datetime(2026, 10, 25, 0, 45, tzinfo=UTC)                              # 02:45 CEST, the first
