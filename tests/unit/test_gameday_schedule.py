"""Schedules and calendars: cron rules on the local wall clock across daylight-saving changes, blackouts,
and .ics files read back with the icalendar library, their recurrences expanded independently."""

from __future__ import annotations

import textwrap
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import icalendar
import pytest
from click.testing import CliRunner
from dateutil import rrule

from chaos.cli import main
from chaos.gameday import schedule
from chaos.gameday.agenda import make_agenda
from chaos.gameday.calendar import calendar
from chaos.gameday.model import load_gameday

UTC = timezone.utc
BERLIN = ZoneInfo("Europe/Berlin")
REPO = Path(__file__).resolve().parents[2]
HOUR = timedelta(hours=1)


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_cron_keeps_local_time_across_spring_and_autumn_changes():
    rule = schedule.Rule("Europe/Berlin", cron="0 10 * * 2")
    spring = [o.start.astimezone(UTC) for o in schedule.occurrences(rule, utc(2026, 3, 15), HOUR, 4)]
    assert spring == [utc(2026, 3, 17, 9), utc(2026, 3, 24, 9), utc(2026, 3, 31, 8), utc(2026, 4, 7, 8)]
    assert all(s.astimezone(BERLIN).hour == 10 for s in spring)
    autumn = [o.start.astimezone(UTC) for o in schedule.occurrences(rule, utc(2026, 10, 15), HOUR, 3)]
    assert autumn == [utc(2026, 10, 20, 8), utc(2026, 10, 27, 9), utc(2026, 11, 3, 9)]


def test_a_time_in_the_spring_gap_moves_on_and_a_doubled_time_counts_once():
    rule = schedule.Rule("Europe/Berlin", cron="30 2 * * *")
    spring = [o.start.astimezone(UTC) for o in schedule.occurrences(rule, utc(2026, 3, 27, 12), HOUR, 3)]
    assert spring == [utc(2026, 3, 28, 1, 30), utc(2026, 3, 29, 1, 30), utc(2026, 3, 30, 0, 30)]
    assert spring[1].astimezone(BERLIN).strftime("%H:%M %Z") == "03:30 CEST", "02:30 does not exist that day"
    # in UTC: a local time in a fold compares unequal to any other zone's (PEP 495)
    autumn = [o.start.astimezone(UTC) for o in schedule.occurrences(rule, utc(2026, 10, 24, 12), HOUR, 3)]
    assert autumn == [utc(2026, 10, 25, 0, 30), utc(2026, 10, 26, 1, 30), utc(2026, 10, 27, 1, 30)]


def test_blackouts_skip_occurrences_and_the_next_start_avoids_them():
    freeze = schedule.Blackout(datetime(2026, 12, 21, tzinfo=BERLIN), datetime(2027, 1, 5, tzinfo=BERLIN), "holidays")
    rule = schedule.Rule("Europe/Berlin", cron="0 10 * * 2", blackouts=(freeze,))
    listed = schedule.occurrences(rule, utc(2026, 12, 14), HOUR, 4)
    assert [o.runs for o in listed] == [True, False, False, True]
    assert listed[1].blackout is freeze
    nxt = schedule.next_start(rule, utc(2026, 12, 16), HOUR)
    assert nxt.start == utc(2027, 1, 5, 9)
    # a day that would run into a window is skipped too, not just one that starts inside it
    long_day = schedule.occurrences(rule, utc(2026, 12, 14), timedelta(days=6), 1)
    assert not long_day[0].runs


def test_an_at_start_is_honoured_a_little_late_but_not_long_after():
    rule = schedule.Rule("UTC", at=utc(2026, 12, 8, 9))
    assert schedule.next_start(rule, utc(2026, 12, 8, 8), HOUR).start == utc(2026, 12, 8, 9)
    assert schedule.next_start(rule, utc(2026, 12, 8, 9, 2), HOUR).start == utc(2026, 12, 8, 9)
    assert schedule.next_start(rule, utc(2026, 12, 8, 10), HOUR) is None


def test_until_and_from_bound_a_cron_rule():
    rule = schedule.Rule("Europe/Berlin", cron="0 10 * * 2", not_before=datetime(2026, 10, 1, tzinfo=BERLIN),
                         until=datetime(2026, 10, 31, 23, 59, tzinfo=BERLIN))
    starts = [o.start.date().isoformat() for o in schedule.occurrences(rule, utc(2026, 1, 1), HOUR, 99)]
    assert starts == ["2026-10-06", "2026-10-13", "2026-10-20", "2026-10-27"]


@pytest.mark.parametrize("cron,expected", [
    ("0 10 * * 2", {"FREQ": "WEEKLY", "BYDAY": ["TU"], "BYHOUR": [10], "BYMINUTE": [0]}),
    ("*/20 9-10 * 1,6 *", {"FREQ": "DAILY", "BYMONTH": [1, 6], "BYHOUR": [9, 10], "BYMINUTE": [0, 20, 40]}),
    ("0 9 1,15 * *", {"FREQ": "DAILY", "BYMONTHDAY": [1, 15], "BYHOUR": [9], "BYMINUTE": [0]}),
    ("30 2 * * *", {"FREQ": "DAILY", "BYHOUR": [2], "BYMINUTE": [30]}),
    ("0 10 * * 0,7", {"FREQ": "WEEKLY", "BYDAY": ["SU"], "BYHOUR": [10], "BYMINUTE": [0]}),
])
def test_cron_rules_that_an_rrule_expresses_exactly(cron, expected):
    rule = schedule.Rule("Europe/Berlin", cron=cron)
    first = next(schedule.rule_times(rule, utc(2026, 1, 1)))
    assert schedule.rrule_for(rule, first) == expected


@pytest.mark.parametrize("cron", ["0 10 1 * 1", "0 10 L * *", "0 10 * * 1#2"])
def test_cron_rules_no_rrule_can_express(cron):
    rule = schedule.Rule("UTC", cron=cron)
    first = next(schedule.rule_times(rule, utc(2026, 1, 1)))
    assert schedule.rrule_for(rule, first) is None


PLAN = """\
title: Calendar day
owners: [sre@example.invalid]
system:
  targets:
    compose: {repo}/targets/shop/compose.yaml
steps:
  - experiment: {repo}/experiments/shop-redis-latency.yaml
    runbook: watch p99
schedule:
{schedule}
"""


def day_with(tmp_path: Path, schedule_text: str):
    path = tmp_path / "day.yaml"
    path.write_text(PLAN.format(repo=REPO, schedule=textwrap.indent(textwrap.dedent(schedule_text), "  ")))
    return load_gameday(path)


def expand(event: icalendar.Event, limit: int) -> list[datetime]:
    """Expand an event's RRULE with dateutil from the file's own DTSTART, minus its EXDATEs (independent
    of chaos' own expansion)."""
    start = event.decoded("dtstart")
    text = event["rrule"].to_ical().decode()
    naive = rrule.rrulestr(text.replace(_until(text), "") if "UNTIL" in text else text,
                           dtstart=start.replace(tzinfo=None))
    excluded = set()
    exdates = event.get("exdate") or []
    for group in exdates if isinstance(exdates, list) else [exdates]:
        excluded |= {d.dt.astimezone(UTC) for d in group.dts}
    times = []
    for moment in naive:
        aware = moment.replace(tzinfo=start.tzinfo).astimezone(UTC)  # a wall-clock time in the event's zone
        if aware not in excluded:
            times.append(aware)
        if len(times) >= limit:
            break
    return times


def _until(text: str) -> str:
    part = next(p for p in text.split(";") if p.startswith("UNTIL="))
    return f";{part}" if not text.startswith(part) else f"{part};"


def test_calendar_rrule_has_the_right_occurrences_across_dst_and_blackouts(tmp_path):
    day = day_with(tmp_path, """\
        cron: "0 10 * * 2"
        timezone: Europe/Berlin
        from: 2026-03-01
        blackouts:
          - {from: 2026-03-30T00:00:00+02:00, until: 2026-04-01T00:00:00+02:00, reason: release week}
          - {from: 2026-10-26, until: 2026-10-29, reason: offsite}
        """)
    data = calendar(day, make_agenda(day), utc(2026, 2, 1))
    parsed = icalendar.Calendar.from_ical(data)
    events = list(parsed.walk("VEVENT"))
    assert len(events) == 1, "a cron rule an RRULE expresses is one recurring event"
    event = events[0]
    assert event.decoded("dtstart") == datetime(2026, 3, 3, 10, tzinfo=BERLIN)
    assert str(event["dtstart"].params["TZID"]) == "Europe/Berlin"
    assert [tz["TZID"] for tz in parsed.walk("VTIMEZONE")] == ["Europe/Berlin"]
    times = expand(event, 40)
    # March: 10:00 CET = 09:00 UTC; from 29 March CEST: 08:00 UTC; 31 March is blacked out
    assert times[:5] == [utc(2026, 3, 3, 9), utc(2026, 3, 10, 9), utc(2026, 3, 17, 9), utc(2026, 3, 24, 9),
                         utc(2026, 4, 7, 8)]
    autumn = [t for t in times if utc(2026, 10, 12) < t < utc(2026, 11, 12)]
    assert autumn == [utc(2026, 10, 13, 8), utc(2026, 10, 20, 8), utc(2026, 11, 3, 9), utc(2026, 11, 10, 9)]
    assert all(t.astimezone(BERLIN).hour == 10 for t in times)
    ours = [o.start.astimezone(UTC) for o in schedule.occurrences(day.rule(), utc(2026, 2, 1), HOUR, 60) if o.runs][:40]
    assert times == ours, "the calendar and `gameday run` agree on every start"
    end = event.decoded("dtend") - event.decoded("dtstart")
    assert end == timedelta(seconds=round(make_agenda(day).total))
    description = str(event["description"])
    assert "step 1: shop-redis-latency-v1" in description and "runbook: watch p99" in description
    assert event["uid"].endswith("@chaos.gameday") and event.get("dtstamp")


def test_calendar_until_bounds_the_rrule(tmp_path):
    day = day_with(tmp_path, """\
        cron: "0 10 * * 2"
        timezone: Europe/Berlin
        from: 2026-10-01
        until: 2026-11-03
        """)
    event = next(iter(icalendar.Calendar.from_ical(calendar(day, make_agenda(day), utc(2026, 9, 1))).walk("VEVENT")))
    starts = list(rrule.rrulestr(event["rrule"].to_ical().decode(), dtstart=event.decoded("dtstart")))
    assert [s.date().isoformat() for s in starts] == ["2026-10-06", "2026-10-13", "2026-10-20", "2026-10-27",
                                                      "2026-11-03"]


def test_calendar_without_an_rrule_lists_each_occurrence(tmp_path):
    day = day_with(tmp_path, """\
        cron: "0 10 1 * 1"
        timezone: Europe/Berlin
        """)
    parsed = icalendar.Calendar.from_ical(calendar(day, make_agenda(day), utc(2026, 3, 1), events=6))
    events = list(parsed.walk("VEVENT"))
    assert len(events) == 6 and not any("rrule" in e for e in events)
    starts = [e.decoded("dtstart") for e in events]
    ours = [o.start for o in schedule.occurrences(day.rule(), utc(2026, 3, 1), HOUR, 6)]
    assert starts == ours
    assert all(s.hour == 10 and (s.day == 1 or s.weekday() == 0) for s in starts), "cron: day 1 OR Monday"
    assert len({e["uid"] for e in events}) == 6


def test_calendar_for_one_start_and_the_command(tmp_path):
    day = day_with(tmp_path, "at: 2026-12-08T10:00:00+01:00\n")
    event = next(iter(icalendar.Calendar.from_ical(calendar(day, make_agenda(day), utc(2026, 12, 1))).walk("VEVENT")))
    assert event.decoded("dtstart") == utc(2026, 12, 8, 9)
    assert "2026-12-08 09:00:00 UTC  start the system" in str(event["description"])

    out = tmp_path / "day.ics"
    result = CliRunner().invoke(main, ["gameday", "calendar", str(tmp_path / "day.yaml"), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert icalendar.Calendar.from_ical(out.read_bytes()).walk("VEVENT")
