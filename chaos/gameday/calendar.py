"""A game day's schedule as an iCalendar file (RFC 5545). Pure: plan in, bytes out.

An ``at`` plan is one event. A cron rule is one event with an RRULE where an RRULE says exactly the same
(checked against the cron rule's own times), with an EXDATE for every occurrence a blackout window
cancels; where no RRULE can (cron's day-of-month OR day-of-week, ``L``, ``#``), it is one event per
occurrence, up to ``until`` or a fixed number. Times carry the plan's time zone (with its VTIMEZONE), so
a calendar shows 10:00 on both sides of a daylight-saving change. Each description holds the agenda.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta, timezone

import icalendar

from chaos import __version__
from chaos.gameday import schedule
from chaos.gameday.agenda import Agenda, lines, span
from chaos.gameday.model import LoadedGameDay

UTC = timezone.utc
EXDATE_HORIZON_DAYS = 3 * 366  # blackout exceptions are listed this far ahead of the series' start


def calendar(day: LoadedGameDay, agenda: Agenda, now: datetime, events: int = schedule.DEFAULT_CALENDAR_EVENTS,
             ) -> bytes:
    rule = day.rule()
    if rule is None:
        raise ValueError("the plan has no schedule: nothing to put in a calendar")
    cal = icalendar.Calendar()
    cal.add("prodid", f"-//chaos {__version__}//game day//EN")
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", "PUBLISH")
    cal.add("x-wr-calname", f"Game day: {day.spec.title}")
    length = timedelta(seconds=max(agenda.total, 60.0))
    stamp = now.astimezone(UTC).replace(microsecond=0)
    if rule.at is not None:
        # a bare offset is no time zone a calendar knows: such a start is written in UTC
        start = rule.at if getattr(rule.at.tzinfo, "key", None) else rule.at.astimezone(UTC)
        cal.add_component(_event(day, agenda, start, length, stamp, uid_key=start.isoformat(), absolute=True))
    else:
        after = (rule.not_before - timedelta(microseconds=1)) if rule.not_before else now
        first = next(iter(schedule.rule_times(rule, after)), None)
        if first is None:
            raise ValueError("the cron rule has no time left before its until")
        parts = schedule.rrule_for(rule, first)
        if parts is not None:
            event = _event(day, agenda, first, length, stamp, uid_key=f"{rule.cron}|{rule.timezone}", absolute=False)
            event.add("rrule", parts)
            horizon = rule.until or first + timedelta(days=EXDATE_HORIZON_DAYS)
            last_blackout = max((b.end for b in rule.blackouts), default=first)
            horizon = min(horizon, last_blackout)
            cancelled = [o.start for o in _occurrences_until(rule, first, length, horizon) if not o.runs]
            for moment in cancelled:
                event.add("exdate", moment)
            cal.add_component(event)
        else:
            chosen = [o for o in schedule.occurrences(rule, first - timedelta(microseconds=1), length,
                                                      10_000 if rule.until else events * 4) if o.runs]
            for occurrence in chosen[: None if rule.until else events]:
                cal.add_component(_event(day, agenda, occurrence.start, length, stamp,
                                         uid_key=occurrence.start.isoformat(), absolute=True))
    cal.add_missing_timezones()
    return cal.to_ical()


def _occurrences_until(rule: schedule.Rule, first: datetime, length: timedelta, horizon: datetime):
    for start in schedule.rule_times(rule, first - timedelta(microseconds=1)):
        if start > horizon:
            return
        end = start + length
        yield schedule.Occurrence(start, end, next((b for b in rule.blackouts if b.overlaps(start, end)), None))


def _event(day: LoadedGameDay, agenda: Agenda, start: datetime, length: timedelta, stamp: datetime, uid_key: str,
           absolute: bool) -> icalendar.Event:
    spec = day.spec
    event = icalendar.Event()
    digest = hashlib.sha256(f"{day.name}|{uid_key}".encode()).hexdigest()[:16]
    event.add("uid", f"{day.name}-{digest}@chaos.gameday")
    event.add("dtstamp", stamp)
    event.add("dtstart", start)
    event.add("dtend", start + length)
    event.add("summary", f"Game day: {spec.title}")
    rehearsal = f"Rehearse first: chaos gameday run {day.source.file} --rehearse --now"
    text = [spec.description.strip()] if spec.description.strip() else []
    text += [f"Owners: {', '.join(spec.owners)}", f"Steps: {len(day.steps)} · stop_on: {spec.stop_on} · "
             f"planned ≈{span(agenda.total)}", "", "Agenda:"]
    text += lines(day, agenda, start if absolute else None)
    text += ["", f"Run: chaos gameday run {day.source.file}", rehearsal,
             "Stop (from any terminal): chaos gameday stop"]
    event.add("description", "\n".join(text))
    event.add("categories", ["game day", "chaos engineering"])
    event.add("status", "CONFIRMED")
    return event
