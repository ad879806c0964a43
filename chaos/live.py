"""What a person watching a run sees: a live panel on a terminal, a plain line every few seconds in
CI logs (no control characters). Fed by the runner's status snapshots; renders only."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from rich.console import Console
from rich.live import Live
from rich.table import Table
from rich.text import Text

PLAIN_EVERY = 5.0


@dataclass(frozen=True)
class Status:
    """One snapshot of a run in progress (built by the runner, pure data)."""

    elapsed: float
    total: float
    phase: str | None
    phase_left: float
    active_faults: list[str]
    throughput: float  # requests/s over the live window
    error_rate: float
    p99_ms: float
    hypotheses: list[tuple[str, str]] = field(default_factory=list)  # (label, "ok" | "over" | "-")


def plain_line(status: Status) -> str:
    faults = ", ".join(status.active_faults) or "none"
    states = " ".join(f"{label}={state}" for label, state in status.hypotheses)
    return (f"  load {status.elapsed:5.1f}s of {status.total:.0f}s  phase {status.phase or '-'} ({status.phase_left:.0f}s left)  "
            f"faults: {faults}  {status.throughput:.0f} req/s  errors {status.error_rate:.1%}  "
            f"p99 {status.p99_ms:.0f} ms" + (f"  so far: {states}" if states else ""))


def panel(status: Status) -> Table:
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold")
    table.add_column()
    table.add_row("time", f"{status.elapsed:.1f}s of {status.total:.0f}s")
    table.add_row("phase", f"{status.phase or '-'}  ({status.phase_left:.0f}s left)")
    table.add_row("faults", Text(", ".join(status.active_faults) or "none"))  # names are the user's: not markup
    table.add_row("load", f"{status.throughput:.0f} req/s   errors {status.error_rate:.2%}   p99 {status.p99_ms:.0f} ms")
    for label, state in status.hypotheses:
        style = {"ok": "green", "over": "red"}.get(state, "dim")
        table.add_row("", Text.assemble((f"{state:>4}", style), f" {label} (so far)"))
    return table


class LiveView:
    """Context manager: ``with LiveView(console) as view: runner = Runner(plan, on_status=view.update)``.
    Subclasses show other snapshots through their own ``render_panel`` and ``render_line``, and may print a
    plain line early where ``_moved_on`` says the snapshot has changed in a way worth a line of its own."""

    render_panel = staticmethod(panel)
    render_line = staticmethod(plain_line)

    def __init__(self, console: Console):
        self.console = console
        self._live: Live | None = None
        self._last_plain = 0.0

    def __enter__(self) -> "LiveView":
        if self.console.is_terminal:
            self._live = Live(console=self.console, refresh_per_second=4, transient=True)
            self._live.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        if self._live is not None:
            self._live.__exit__(*exc)

    def update(self, status) -> None:
        if self._live is not None:
            self._live.update(self.render_panel(status))
            return
        now = time.monotonic()
        moved_on = self._moved_on(status)  # always asked: it remembers what it saw
        if moved_on or now - self._last_plain >= PLAIN_EVERY:
            self._last_plain = now
            self.console.print(self.render_line(status), markup=False, highlight=False)

    def _moved_on(self, status) -> bool:
        """A run's snapshots only tick on: a plain line every PLAIN_EVERY seconds is enough."""
        return False

    def message(self, text: str) -> None:
        self.console.print(text, markup=False, highlight=False)
