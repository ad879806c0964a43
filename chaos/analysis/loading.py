"""Run dir -> ``Run``: the plan, the journal's events, the samples and the probe results, read and checked.

A run dir this harness cannot read raises ``RunDirError`` (one line, see ``chaos.rundir``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from chaos import rundir
from chaos.journal import read_journal_lines, unreadable_notes
from chaos.rundir import RunDirError

SAMPLE_COLUMNS = {
    "t_wall": "float64", "t_mono": "float64", "latency_ms": "float64", "name": "object",
    "method": "object", "status": "int32", "success": "bool", "bytes": "int64", "error": "object",
}


@dataclass
class Run:
    plan: dict
    events: list[dict]
    samples: pd.DataFrame
    run_dir: Path
    warnings: list[str] = field(default_factory=list)
    probes: pd.DataFrame | None = None  # probes.parquet, when the experiment has probes
    unreadable: list[str] = field(default_factory=list)  # "journal.jsonl:N: ...": lines it could not read


def load_run(run_dir: str | Path) -> Run:
    """Raises ``RunDirError`` (one line) for a run dir this harness cannot read (see ``chaos.rundir``)."""
    run_dir = Path(run_dir)
    missing = rundir.missing_files(run_dir)
    if missing:
        raise RunDirError(rundir.missing_text(run_dir, missing))
    events, unreadable = _read_journal(run_dir / "journal.jsonl")  # first: its version says how to read the rest
    plan = _read_plan(run_dir / "plan.json")
    samples, more = _read_samples(run_dir)
    probes = _read_probes(run_dir / rundir.PROBES_PARQUET)
    return Run(plan=plan, events=events, samples=samples, run_dir=run_dir, warnings=unreadable + more, probes=probes,
               unreadable=unreadable)


def _read_plan(path: Path) -> dict:
    try:
        plan = json.loads(path.read_bytes().decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise RunDirError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise RunDirError(f"{path}: invalid JSON at line {exc.lineno}: {exc.msg}") from None
    if not isinstance(plan, dict):
        raise RunDirError(f"{path}: a JSON {type(plan).__name__}, not the plan object a run writes")
    return plan


def _read_parquet(path: Path, needed: tuple[str, ...]) -> pd.DataFrame:
    """A Parquet file of the run dir with the columns analysis needs; RunDirError (one line) otherwise."""
    try:
        frame = pd.read_parquet(path)
    except Exception as exc:  # noqa: BLE001 - a damaged file raises pyarrow's own error types (ArrowInvalid, OSError)
        raise RunDirError(f"{path}: not a Parquet file this harness can read ({exc.__class__.__name__})") from None
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise RunDirError(f"{path}: missing column(s) {', '.join(missing)}")
    return frame


def _read_probes(path: Path) -> pd.DataFrame | None:
    """Probe results shaped as samples (one row per try, named by probe), so one judge serves both."""
    if not path.is_file():
        return None
    frame = _read_parquet(path, ("t_wall", "t_mono", "latency_ms", "probe", "success", "error"))
    return pd.DataFrame({"t_wall": frame["t_wall"], "t_mono": frame["t_mono"], "latency_ms": frame["latency_ms"],
                         "name": frame["probe"], "method": "PROBE", "status": 0, "success": frame["success"],
                         "bytes": 0, "error": frame["error"]})


def _read_journal(path: Path) -> tuple[list[dict], list[str]]:
    # a harness killed mid-write leaves a torn last line: the report renders without it, and says which it is
    parsed, unreadable = read_journal_lines(path)
    rundir.check_events(path, parsed)
    events = [e for e in rundir.upgrade_events(parsed) if "mono" in e]
    timeless = len(parsed) - len(events)
    events.sort(key=lambda e: (e.get("seq", 0), e["mono"]))
    warnings = unreadable_notes(path, unreadable)
    if timeless:
        warnings.append(f"{path.name}: skipped {timeless} event(s) with no time (\"mono\")")
    return events, warnings


def _read_samples(run_dir: Path) -> tuple[pd.DataFrame, list[str]]:
    path = run_dir / rundir.SAMPLES_PARQUET
    if path.is_file():
        frame, warnings = _read_parquet(path, ("t_mono", "latency_ms", "success")), []
    elif (run_dir / rundir.SAMPLES_CSV).is_file():  # a run killed before it turned its samples into Parquet
        from chaos.load import samples_table

        frame = samples_table(run_dir / rundir.SAMPLES_CSV).to_pandas()
        warnings = [f"{path.name} is missing: {len(frame)} request(s) read from {rundir.SAMPLES_CSV} "
                    "(the run did not finish)"]
    else:
        return empty_samples(), [f"{path.name} is missing: no requests to judge"]
    for column in SAMPLE_COLUMNS:
        if column not in frame.columns:
            frame[column] = empty_samples()[column].reindex(frame.index)
    frame = frame.sort_values("t_mono", kind="stable").reset_index(drop=True)
    return frame, warnings


def empty_samples() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=t) for c, t in SAMPLE_COLUMNS.items()})
