"""A start gate for runs that share one timeline (``chaos ab`` side by side): each run, once its system is up
and its load has started, says it is ready and waits; the gate opens when every run is ready, with one instant
at which all their timelines start, so that their phases and faults fall on the same moments.

The runs are separate processes (each a normal run with its own signal handling and reverts); they meet through
small files in one directory, each written whole by rename. The instant is on CLOCK_MONOTONIC, one clock for
every process on the machine."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from chaos.atomic import written_atomically
from chaos.errors import EnvironmentProblem

GATE_WAIT = 300.0  # how long a ready run waits for the others: another system's bring-up, its images' builds
OPEN_AHEAD = 0.25  # the opening instant lies this far ahead, so that every run reads it before it comes
POLL = 0.02
GO_FILE = "go"
CANCELLED = "cancelled:"


class GateClosed(EnvironmentProblem):
    """The gate was cancelled (another run could not start) or did not open in time."""


def _write(path: Path, text: str) -> None:
    with written_atomically(path) as partial:
        partial.write_text(text, encoding="utf-8")


@dataclass(frozen=True)
class StartGate:
    """One run's side of the gate: ``wait()`` says this run is ready and returns the shared start instant."""

    directory: Path
    name: str

    def wait(self, timeout: float = GATE_WAIT) -> float:
        _write(self.directory / f"{self.name}.ready", f"{time.monotonic()!r}\n")
        deadline = time.monotonic() + timeout
        go = self.directory / GO_FILE
        while time.monotonic() < deadline:
            if go.is_file():
                text = go.read_text(encoding="utf-8").strip()
                if text.startswith(CANCELLED):
                    raise GateClosed(f"the start gate was cancelled: {text[len(CANCELLED):].strip()}")
                return float(text)
            time.sleep(POLL)
        raise GateClosed(f"the other side(s) of the start gate were not ready within {timeout:.0f} s")


def open_when_ready(directory: Path, names: list[str], gone: Callable[[], str | None],
                    timeout: float = GATE_WAIT) -> float | None:
    """Waits until every named run is ready, then opens the gate and returns the start instant. ``gone()`` says
    why a run can no longer come (it ended); then, or after ``timeout``, the gate is cancelled (the runs still
    waiting end as environment errors, reverting as always) and None is returned."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all((directory / f"{name}.ready").is_file() for name in names):
            start = time.monotonic() + OPEN_AHEAD
            _write(directory / GO_FILE, f"{start!r}\n")
            return start
        why = gone()
        if why:
            cancel(directory, why)
            return None
        time.sleep(POLL)
    cancel(directory, f"not every run was ready within {timeout:.0f} s")
    return None


def cancel(directory: Path, why: str) -> None:
    if not (directory / GO_FILE).is_file():
        _write(directory / GO_FILE, f"{CANCELLED} {why}\n")
