"""Which run dirs this harness can read: the files a run dir needs and the versions it understands.

Checked before anything is rendered or compared (``chaos report``, ``chaos compare``, ``chaos
run --baseline``, every ``analysis.load_run``), so a run dir this harness cannot read gets one
clear line and nothing in it is rewritten.

Files
    ``plan.json`` and ``journal.jsonl`` must be there: without them there is no run to report.
    ``samples.parquet`` may be missing (a harness killed before it converted its samples): the
    report then renders with no requests, every check inconclusive, and says so.

Versions
    A run dir's format version is the ``v`` of its journal events (``journal.SCHEMA_VERSION``).
    ``plan.json`` and ``samples.parquet`` are written by the same harness in the same run and
    change version with the journal: a change to any of the three that an older reader would
    misread bumps ``v``.  (``summary.json``, ``junit.xml`` and the reports are outputs: they are
    rendered again from these three, in the format of the harness that renders them.)

Compatibility rule
    * ``v`` equal to ``CURRENT``: read as it is.
    * ``v`` older, with a migration for each step (``MIGRATIONS[n]`` turns an event of version
      n into one of version n + 1): every event is upgraded to ``CURRENT`` when it is read.
    * ``v`` newer than ``CURRENT``: refused, naming the version and the harness that wrote it.
    * older than the oldest migration, not a whole number, or missing: refused.
    Version 1 is the first: no migration exists yet.  A journal whose events carry several
    versions (``chaos clean`` of a newer harness appended to it) is read only if every one is.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

from chaos import __version__
from chaos.journal import SCHEMA_VERSION, parse_journal, read_journal_lines

CURRENT = SCHEMA_VERSION
# version n -> a function turning an event of version n into one of version n + 1 (pure, returns a new dict)
MIGRATIONS: dict[int, Callable[[dict], dict]] = {}
REQUIRED = ("plan.json", "journal.jsonl")
JOURNAL = "journal.jsonl"
SAMPLES_PARQUET = "samples.parquet"  # may be missing: its requests are then read from SAMPLES_CSV, if there
SAMPLES_CSV = "samples.csv"  # streamed by Locust during the run; turned into SAMPLES_PARQUET at its end
PROBES_PARQUET = "probes.parquet"
MISSING = object()  # an event with no "v"


class RunDirError(ValueError):
    """The run dir is missing a file analysis needs, a file cannot be read, or its version is not readable."""

    exit_code = 2


def readable_versions(current: int = CURRENT, migrations=None) -> list[int]:
    migrations = MIGRATIONS if migrations is None else migrations
    oldest = current
    while oldest - 1 in migrations:
        oldest -= 1
    return list(range(oldest, current + 1))


def versions_text(versions: list[int]) -> str:
    return f"version {versions[0]}" if len(versions) == 1 else f"versions {versions[0]} to {versions[-1]}"


def missing_files(run_dir: Path) -> list[str]:
    return [name for name in REQUIRED if not (run_dir / name).is_file()]


def gaps(run_dir: Path) -> list[str]:
    """What a run dir lacks that a finished run has, one line each (a run killed before its end): the
    report renders from what is there."""
    run_dir = Path(run_dir)
    lines = []
    if not (run_dir / SAMPLES_PARQUET).is_file():
        lines.append(f"{run_dir / SAMPLES_PARQUET} not found: " +
                     (f"requests read from {SAMPLES_CSV} (the run did not finish)"
                      if (run_dir / SAMPLES_CSV).is_file() else "rendered with no requests"))
    events, _ = parse_journal((run_dir / JOURNAL).read_text(encoding="utf-8", errors="replace"))
    if not any(e.get("event") == "run_ended" for e in events):
        run_id = next((e.get("run_id") for e in events if e.get("event") == "run_started"), None) or run_dir.name
        lines.append(f"{run_dir / JOURNAL}: no run_ended: the harness stopped before the end of the run "
                     f"(killed?); `chaos clean --run {run_id}` reverts the faults it left")
    if _plans_probes(run_dir) and not (run_dir / PROBES_PARQUET).is_file():
        lines.append(f"{run_dir / PROBES_PARQUET} not found: the probes' checks are inconclusive")
    return lines


def _plans_probes(run_dir: Path) -> bool:
    try:
        plan = json.loads((run_dir / "plan.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False  # already said by the reader
    return isinstance(plan, dict) and bool(plan.get("probes"))


def missing_text(run_dir: Path, missing: list[str]) -> str:
    return f"{run_dir}: {' and '.join(missing)} not found (is it a chaos run dir?)"


def journal_versions(events: list[dict]) -> list:
    """Every distinct ``v`` in the journal, in order of first appearance (``MISSING`` for none)."""
    found: list = []
    for event in events:
        version = event.get("v", MISSING)
        if not any(type(v) is type(version) and v == version for v in found):  # 1, 1.0 and True differ here
            found.append(version)
    return found


def _is_version(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def version_problem(versions: list, writer: str | None, readable: list[int]) -> str | None:
    """Why a journal with these versions cannot be read (one line, no path), else None."""
    reads = f"this harness (chaos {__version__}) reads {versions_text(readable)}"
    by = f", written by chaos {writer}" if writer else ""
    for version in versions:
        if version is MISSING:
            return f"an event without a schema version (field \"v\"){by}; {reads}"
        if not _is_version(version):
            return f"schema version {json.dumps(version)} is not a version number{by}; {reads}"
    for version in sorted(versions):
        if version > readable[-1]:
            return f"schema version {version}{by}: newer than this harness; {reads}: use a newer chaos"
        if version < readable[0]:
            return f"schema version {version}{by}: older than this harness reads; {reads}"
    return None


def upgrade_events(events: list[dict], current: int = CURRENT, migrations=None) -> list[dict]:
    """Each event brought to ``current`` through the migrations, step by step (pure)."""
    migrations = MIGRATIONS if migrations is None else migrations
    upgraded = []
    for event in events:
        while _is_version(event.get("v")) and event["v"] < current:
            event = {**migrations[event["v"]](event), "v": event["v"] + 1}
        upgraded.append(event)
    return upgraded


def writer_of(events: list[dict]) -> str | None:
    started = next((e for e in events if e.get("event") == "run_started"), {})
    version = started.get("harness_version")
    return str(version) if version else None


def check_events(path: Path, events: list[dict], readable: list[int] | None = None) -> None:
    problem = version_problem(journal_versions(events), writer_of(events), readable or readable_versions())
    if problem:
        raise RunDirError(f"{path}: {problem}")


def check_run_dir(run_dir: str | Path) -> None:
    """Raise ``RunDirError`` (one line) if this harness cannot read the run dir; write nothing."""
    run_dir = Path(run_dir)
    missing = missing_files(run_dir)
    if missing:
        raise RunDirError(missing_text(run_dir, missing))
    path = run_dir / JOURNAL
    events, _ = read_journal_lines(path)
    check_events(path, events)


__all__ = ["CURRENT", "MIGRATIONS", "RunDirError", "check_run_dir", "readable_versions", "upgrade_events",
           "version_problem"]
