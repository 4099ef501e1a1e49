"""Release windows in CodePipeline's DeploymentWindow syntax: when they are open, when they open next."""

from datetime import UTC, datetime

import pytest

from gitops.governance.release_windows import LONGEST_WAIT_MINUTES, WindowError, parse

# Monday to Thursday, 09:00-16:59 Berlin time.
WORKDAYS = parse("* * 9-16 ? * MON-THU *", "Europe/Berlin")


def test_a_friday_evening_promotion_waits_for_mondays_window():
    friday_evening = datetime(2026, 12, 4, 18, 30, tzinfo=UTC)
    assert not WORKDAYS.is_open(friday_evening)
    opening = WORKDAYS.next_opening(friday_evening)
    assert opening.isoformat() == "2026-12-07T09:00:00+01:00"
    assert WORKDAYS.describe(friday_evening) == "closed, opens Mon 2026-12-07 09:00 CET"


def test_inside_the_window_it_says_when_it_closes():
    monday = datetime(2026, 12, 7, 10, 15, tzinfo=UTC)
    assert WORKDAYS.is_open(monday)
    assert WORKDAYS.describe(monday) == "open until Mon 2026-12-07 17:00 CET"


def test_the_window_follows_the_zones_wall_clock_across_daylight_saving():
    # 09:00 in Berlin is 07:00 UTC in summer and 08:00 UTC in winter.
    assert WORKDAYS.is_open(datetime(2026, 7, 6, 7, 0, tzinfo=UTC))
    assert not WORKDAYS.is_open(datetime(2026, 12, 7, 7, 0, tzinfo=UTC))


def test_lists_steps_names_and_day_of_month():
    window = parse("* 0/30 22-23 1,15 JAN,JUL ? *", "UTC")
    assert window.minutes == frozenset(range(0, 60, 30))
    assert window.is_open(datetime(2027, 1, 15, 22, 30, tzinfo=UTC))
    assert not window.is_open(datetime(2027, 1, 15, 22, 31, tzinfo=UTC))
    assert not window.is_open(datetime(2027, 2, 15, 22, 30, tzinfo=UTC))


def test_a_window_that_does_not_open_within_the_longest_wait_has_no_next_opening():
    window = parse("* * * 1 JAN ? *", "UTC")
    assert window.next_opening(datetime(2026, 3, 1, tzinfo=UTC)) is None
    assert window.describe(datetime(2026, 3, 1, tzinfo=UTC)) == f"closed for more than {LONGEST_WAIT_MINUTES // 1440} days"


@pytest.mark.parametrize("cron, zone, fragment", [
    ("* 9-17 ? * MON", "UTC", "5 fields"),
    ("0 * 9-17 ? * MON *", "UTC", "seconds"),
    ("* * 17-9 ? * MON *", "UTC", "runs backwards"),
    ("* * 9-17 ? * FUNDAY *", "UTC", "not a number or a name"),
    ("* * 9-17 ? * 2#1 *", "UTC", "L, W and #"),
    ("* * 9-17 ? * MON *", "CEST", "IANA time zone"),
    ("* " * 200, "UTC", "at most 256"),
])
def test_bad_windows_are_refused_with_the_part_that_is_wrong(cron, zone, fragment):
    with pytest.raises(WindowError) as caught:
        parse(cron, zone)
    assert fragment in str(caught.value)
