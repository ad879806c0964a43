"""What the people watching a game day see: on a terminal a live panel (the day's step, what it is doing,
time left, and the step's own live panel: phase, faults, error rate, p99, hypotheses so far); in a CI log a
plain line every few seconds and at every change, with no control characters. Renders only."""

from __future__ import annotations

from dataclasses import dataclass, replace

from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from chaos import live
from chaos.gameday.agenda import span
from chaos.live import Status


@dataclass(frozen=True)
class DayStatus:
    title: str
    activity: str  # waiting | system | step | pause | teardown
    steps: int
    step: int | None = None
    step_title: str | None = None
    day_left_s: float | None = None
    detail: str = ""  # e.g. "starts 2026-12-08 10:00 CET"
    rehearse: bool = False
    run: Status | None = None  # the step's own snapshot while its load runs


ACTIVITY = {"waiting": "waiting for the start", "system": "starting the system", "step": "step",
            "pause": "pause", "teardown": "taking the system down"}


def headline(status: DayStatus) -> str:
    what = ACTIVITY.get(status.activity, status.activity)
    if status.step is not None:
        what = f"step {status.step}/{status.steps} {status.step_title}" + (
            "" if status.activity == "step" else f" · {ACTIVITY.get(status.activity, status.activity)}")
    left = f" · day ≈{span(status.day_left_s)} left" if status.day_left_s is not None else ""
    detail = f" · {status.detail}" if status.detail else ""
    return f"{'REHEARSAL · ' if status.rehearse else ''}{what}{left}{detail}"


def plain_line(status: DayStatus) -> str:
    text = f"[{headline(status)}]"
    if status.run is not None:
        text += " " + live.plain_line(status.run)
    return text


def panel(status: DayStatus):
    head = Table.grid(padding=(0, 2))
    head.add_column(style="bold")
    head.add_column()
    head.add_row("game day", Text(status.title + ("  (rehearsal: no fault is injected)" if status.rehearse else "")))
    head.add_row("now", Text(headline(status)))
    if status.run is None:
        return head
    return Group(head, live.panel(status.run))


class DayView(live.LiveView):
    """``with DayView(console) as view:`` then ``view.update(DayStatus)`` and ``view.message(text)``; in a CI
    log a plain line at every change of what the day does, too."""

    render_panel = staticmethod(panel)
    render_line = staticmethod(plain_line)

    def __init__(self, console: Console):
        super().__init__(console)
        self._last_headline: str | None = None
        self.current: DayStatus | None = None

    def update(self, status: DayStatus) -> None:
        self.current = status
        super().update(status)

    def _moved_on(self, status: DayStatus) -> bool:
        doing = headline(replace(status, day_left_s=None, detail=""))  # without what changes every tick
        changed, self._last_headline = doing != self._last_headline, doing
        return changed
