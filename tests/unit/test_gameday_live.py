"""What people watching a game day see: a plain line in a CI log (no control characters), a panel on a TTY."""

from __future__ import annotations

import io

from rich.console import Console

from chaos.gameday.live import DayStatus, DayView, panel, plain_line
from chaos.live import Status

RUN = Status(elapsed=12.0, total=40.0, phase="fault", phase_left=8.0, active_faults=["slow redis (rehearsed)"],
             throughput=55.0, error_rate=0.012, p99_ms=420.0, hypotheses=[("fast: latency.p99", "ok")])


def test_the_plain_line_says_step_phase_time_left_faults_errors_p99_and_hypotheses():
    line = plain_line(DayStatus("Q4", "step", 3, step=2, step_title="slow redis", day_left_s=95, run=RUN,
                                rehearse=True))
    for text in ("REHEARSAL", "step 2/3 slow redis", "day ≈1m 35s left", "phase fault (8s left)",
                 "faults: slow redis (rehearsed)", "errors 1.2%", "p99 420 ms", "fast: latency.p99=ok"):
        assert text in line, text
    assert plain_line(DayStatus("Q4", "waiting", 3, detail="starts 2026-12-08 10:00 CET")).startswith(
        "[waiting for the start · starts 2026-12-08 10:00 CET]")


def test_a_ci_log_gets_plain_lines_at_each_change_and_no_control_characters():
    out = io.StringIO()
    console = Console(file=out, force_terminal=False, width=200)
    with DayView(console) as view:
        view.update(DayStatus("Q4", "system", 3))
        view.update(DayStatus("Q4", "system", 3))  # no change, within a few seconds: not repeated
        view.update(DayStatus("Q4", "step", 3, step=1, step_title="slow redis", run=RUN))
        view.message("[notify] step 1/3 slow redis: HELD")
    text = out.getvalue()
    assert text.count("starting the system") == 1 and "step 1/3 slow redis" in text and "[notify]" in text
    assert "\x1b" not in text and "\r" not in text


def test_a_terminal_gets_a_panel_with_the_step_inside():
    console = Console(file=io.StringIO(), force_terminal=True, width=120)
    console.print(panel(DayStatus("Q4", "step", 3, step=1, step_title="slow redis", run=RUN)))
    text = console.file.getvalue()
    assert "game day" in text and "slow redis" in text and "p99 420 ms" in text
