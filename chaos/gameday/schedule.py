"""When a game day runs: one ``at`` time, or a cron rule read in a time zone, minus blackout windows. Pure.

Cron rules are matched on the local wall clock of their time zone, with the rules RFC 5545 gives
recurrences, so that an RRULE in a calendar says exactly the same: a local time that does not exist
(the clock springs forward) is moved on by the gap, and a local time that happens twice (the clock falls
back) is taken once, the first time. ``0 10 * * 2`` in Europe/Berlin is 10:00 local every Tuesday, 09:00
UTC in summer and 10:00 UTC in winter.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from croniter import CroniterBadDateError, croniter
from dateutil import rrule as dateutil_rrule

UTC = timezone.utc
LATE_START_GRACE = timedelta(minutes=5)  # a start a little in the past still counts (the host was busy)
NEVER_FIRES_SEARCH_FROM = datetime(2000, 1, 1)  # a leap year ahead: 29 February counts as a day that comes
RRULE_CHECK = 400  # occurrences an RRULE must reproduce exactly before a calendar uses it
WEEKDAYS = ("SU", "MO", "TU", "WE", "TH", "FR", "SA")  # cron numbers days from Sunday = 0 (7 too)
DEFAULT_CALENDAR_EVENTS = 12  # explicit events written for an open-ended rule that no RRULE expresses


@dataclass(frozen=True)
class Blackout:
    start: datetime  # aware
    end: datetime
    reason: str = ""

    def overlaps(self, start: datetime, end: datetime) -> bool:
        return start < self.end and self.start < end


@dataclass(frozen=True)
class Rule:
    """A schedule as data: exactly one of ``at`` and ``cron``; times are aware."""

    timezone: str
    at: datetime | None = None
    cron: str | None = None
    not_before: datetime | None = None  # a cron rule's first possible time (a calendar's DTSTART)
    until: datetime | None = None  # its last possible time
    blackouts: tuple[Blackout, ...] = field(default_factory=tuple)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


@dataclass(frozen=True)
class Occurrence:
    start: datetime
    end: datetime
    blackout: Blackout | None = None  # the window it falls into: it does not run

    @property
    def runs(self) -> bool:
        return self.blackout is None


def as_aware(value: datetime | date, zone: ZoneInfo, end_of_day: bool = False) -> datetime:
    """A datetime in ``zone`` from what a plan may hold: an aware or naive datetime, or a date."""
    if not isinstance(value, datetime):
        value = datetime.combine(value, time.max if end_of_day else time.min)
    if value.tzinfo is None:
        return wall_time(value, zone)
    return value.astimezone(zone)


def wall_time(naive: datetime, zone: ZoneInfo) -> datetime:
    """A local wall-clock time made aware by RFC 5545's rule: a time in a gap moves on by the gap, an
    ambiguous one is the first of the two."""
    return naive.replace(tzinfo=zone, fold=0).astimezone(UTC).astimezone(zone)


def cron_problem(expression: str) -> str | None:
    fields = expression.split()
    if len(fields) != 5:
        return f"{expression!r} is not a cron rule of 5 fields (minute hour day-of-month month day-of-week)"
    if not croniter.is_valid(expression):
        return f"{expression!r} is not a valid cron rule (e.g. '0 10 * * 2' is 10:00 every Tuesday)"
    try:  # a day that no month has (30 February): a day waiting for it would wait for ever
        croniter(expression, NEVER_FIRES_SEARCH_FROM).get_next(datetime)
    except CroniterBadDateError:
        return f"{expression!r} never fires: no date matches its day-of-month and month"
    return None


def cron_times(expression: str, zone: ZoneInfo, after: datetime) -> Iterator[datetime]:
    """The rule's times strictly after ``after``, in order, aware in ``zone``."""
    local_after = after.astimezone(zone).replace(tzinfo=None)
    matches = croniter(expression, local_after)  # naive: croniter steps the wall clock's own fields
    last = after
    while True:
        moment = wall_time(matches.get_next(datetime), zone)
        if moment > last:  # a time moved on by a gap may land on or before the next match: taken once
            last = moment
            yield moment


def rule_times(rule: Rule, after: datetime) -> Iterator[datetime]:
    """Every scheduled start after ``after`` (blacked-out ones included), within ``not_before`` and ``until``."""
    if rule.at is not None:
        if rule.at > after:
            yield rule.at
        return
    if rule.not_before is not None and rule.not_before > after:
        after = rule.not_before - timedelta(microseconds=1)
    for moment in cron_times(rule.cron, rule.zone, after):
        if rule.until is not None and moment > rule.until:
            return
        yield moment


def occurrences(rule: Rule, after: datetime, length: timedelta, limit: int) -> list[Occurrence]:
    """Up to ``limit`` scheduled occurrences after ``after``, each with the blackout it falls into."""
    result = []
    for start in rule_times(rule, after):
        if len(result) >= limit:
            break
        end = start + length
        hit = next((b for b in rule.blackouts if b.overlaps(start, end)), None)
        result.append(Occurrence(start, end, hit))
    return result


def next_start(rule: Rule, now: datetime, length: timedelta, search: int = 1000) -> Occurrence | None:
    """The occurrence a `gameday run` waits for: the first that is not blacked out, starting no earlier than
    ``now`` less a short grace (a start missed by minutes still runs; one missed by more waits for the next)."""
    for occurrence in occurrences(rule, now - LATE_START_GRACE, length, search):
        if occurrence.runs:
            return occurrence
    return None


# ---- RRULE -----------------------------------------------------------------------------------


def rrule_for(rule: Rule, dtstart: datetime) -> dict | None:
    """The RRULE (as icalendar wants it: {"FREQ": "WEEKLY", ...}) that yields exactly the cron rule's times
    from ``dtstart`` on, or None where no RRULE can (cron's day-of-month OR day-of-week, ``L``, ``#``, ``W``).
    The translation is checked: its first times must equal the cron rule's."""
    parts = _rrule_parts(rule.cron)
    if parts is None:
        return None
    # compared in UTC: a local time in a fold never equals a time of another zone (PEP 495)
    expected = [dtstart] + [t for t, _ in zip(cron_times(rule.cron, rule.zone, dtstart), range(RRULE_CHECK - 1))]
    if [t.astimezone(UTC) for t in expand_rrule(parts, dtstart, RRULE_CHECK)] != [t.astimezone(UTC) for t in expected]:
        return None
    if rule.until is not None:
        parts["UNTIL"] = rule.until.astimezone(UTC)  # RFC 5545: in UTC when DTSTART has a TZID
    return parts


def _rrule_parts(cron: str) -> dict | None:
    matcher = croniter(cron)
    if getattr(matcher, "nth_weekday_of_month", None):
        return None
    minutes, hours, days, months, weekdays = matcher.expanded[:5]
    for values in (minutes, hours, days, months, weekdays):
        if values != ["*"] and not all(isinstance(v, int) for v in values):
            return None  # L, W and friends
    if days != ["*"] and weekdays != ["*"]:
        return None  # cron runs when either matches; an RRULE's parts must all match
    parts: dict = {"FREQ": "WEEKLY" if weekdays != ["*"] and days == ["*"] and months == ["*"] else "DAILY"}
    if months != ["*"]:
        parts["BYMONTH"] = sorted(months)
    if days != ["*"]:
        parts["BYMONTHDAY"] = sorted(days)
    if weekdays != ["*"]:
        parts["BYDAY"] = [WEEKDAYS[d % 7] for d in sorted({d % 7 for d in weekdays})]
    parts["BYHOUR"] = list(range(24)) if hours == ["*"] else sorted(hours)
    parts["BYMINUTE"] = list(range(60)) if minutes == ["*"] else sorted(minutes)
    return parts


def expand_rrule(parts: dict, dtstart: datetime, limit: int) -> list[datetime]:
    """RFC 5545 expansion of an RRULE from ``dtstart`` (local times of its zone, gaps moved on by the gap)."""
    text = ";".join(f"{key}={_rrule_value(value)}" for key, value in parts.items())
    local_start = dtstart.replace(tzinfo=None)
    rule = dateutil_rrule.rrulestr(text, dtstart=local_start, ignoretz=True)
    zone = dtstart.tzinfo
    times = []
    for naive in rule:
        if len(times) >= limit:
            break
        moment = wall_time(naive, zone)
        if not times or moment > times[-1]:
            times.append(moment)
    return times


def _rrule_value(value) -> str:
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    return str(value)
