"""A stand-in for chaos.runner.Runner in pytester runs: no Docker, a synthetic run dir (fakerun) judged
and rendered by the real analysis and reports. Installed by a pytester conftest (so it also reaches
pytest-xdist workers); the experiment's name picks the story:

- names with ``aborted``: the abort guard fires 5 s into the fault phase;
- names with ``broken``: the system cannot start (an environment error, no summary);
- anything else: a normal run: 40 ms requests, +300 ms while the fault is active.

Each run appends its experiment name to the file named by ``CHAOS_FAKE_RUNS`` (when set), so
tests can count runs across processes.
"""

from __future__ import annotations

import os

from support.fakerun import make_run

from chaos.runner import RunResult


class FakeRunner:
    def __init__(self, plan, on_progress=None):
        self.plan = plan
        self.run_dir = plan.run_dir
        self.on_progress = on_progress or (lambda message: None)

    def run(self) -> RunResult:
        from chaos import analysis, report

        log = os.environ.get("CHAOS_FAKE_RUNS")
        if log:
            with open(log, "a") as handle:
                handle.write(self.plan.experiment + "\n")
        self.on_progress("starting the system (fake)")
        if "broken" in self.plan.experiment:
            self.run_dir.mkdir(parents=True)
            return RunResult(self.run_dir, "error", 4, error="docker engine unreachable (FileNotFoundError)")
        phases = tuple((name, length) for name, length in self.plan.phases.items() if length > 0)
        make_run(self.run_dir, seed=self.plan.seed, phases=phases, steady_state=[h.to_json() for h in self.plan.steady_state],
                 experiment=self.plan.experiment, run_id=self.plan.run_id,
                 abort_after_s=5.0 if "aborted" in self.plan.experiment else None)
        reports = report.render_all(self.run_dir, formats=("html", "json"))
        summary = analysis.analyse(analysis.load_run(self.run_dir), seed=self.plan.seed)
        return RunResult(self.run_dir, "aborted" if summary["verdict"] == "aborted" else "completed",
                         analysis.exit_code(summary), summary=summary, reports=reports)


def install(config) -> None:
    """Swap the runner for the fake for this pytest session (undone at unconfigure)."""
    import pytest

    patch = pytest.MonkeyPatch()
    patch.setattr("chaos.runner.Runner", FakeRunner)
    config.add_cleanup(patch.undo)
