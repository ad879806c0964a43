"""``chaos ab``: one experiment with two sets of ``${VAR}`` values, A (the baseline) and B (the candidate), run in
interleaved rounds (A B, B A, A B, ...), each run a normal run of the Runner (its own run dir, reverts and
cleanup), then judged on paired rounds (``chaos.compare.interleaved``).

Layout: ``<report-dir>/<experiment>-ab-<id>/`` holds ``ab.json`` (the rounds so far, rewritten after each run)
and ``compare.html``/``.md``/``.json``; each run's dir is ``a/<experiment>/<run id>/`` or ``b/...``.

Exit: 0 no regression (no change or better), 1 B worse, 5 inconclusive, 3 a round aborted, 4 a round failed
(environment), 130/143 stopped by SIGINT/SIGTERM (the running round's run reverts as always; what was done is
judged and written)."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from chaos.atomic import written_atomically
from chaos.compare.interleaved import round_record, run_record
from chaos.compare.paired import round_order
from chaos.plan import Plan, make_plan, new_run_id
from chaos.signals import EXIT_INTERRUPTED, Interrupted, StopSignals

EXIT_BY_VERDICT = {"worse": 1, "inconclusive": 5, "no change": 0, "better": 0}
EXIT_BY_OUTCOME = {"aborted": 3, "error": 4}


@dataclass
class AbResult:
    ab_dir: Path
    exit_code: int
    rounds: list[dict]
    comparison: dict | None = None
    stopped: str | None = None  # why the rounds stopped early
    reports: dict = field(default_factory=dict)


class AbRun:
    """``loaded``: side -> the experiment loaded with that side's values (both validated before this starts)."""

    def __init__(self, loaded: dict, rounds: int, report_dir: str | None, seed: int | None, settings,
                 on_progress: Callable[[str], None] = lambda message: None, labels: tuple[str, str] = ("A", "B")):
        self.loaded = loaded
        self.labels = labels
        self.rounds_wanted = rounds
        self.seed = seed if seed is not None else random.SystemRandom().randrange(2**31)
        self.settings = settings
        self.on_progress = on_progress
        first = make_plan(loaded["a"], seed=self.seed)
        self.experiment = first.experiment
        base = Path(report_dir).resolve() if report_dir else Path(first.report.dir)
        self.ab_dir = base / f"{self.experiment}-ab-{new_run_id()}"
        self.rounds: list[dict] = []
        self.secrets = sorted(set(first.secret_values) | set(make_plan(loaded["b"], seed=self.seed).secret_values))
        self._signals = StopSignals()

    def run(self) -> AbResult:
        self.ab_dir.mkdir(parents=True, exist_ok=False)
        stopped, code = None, None
        self._signals.install()
        try:
            for index in range(self.rounds_wanted):
                stopped, code = self._round(index)
                if stopped:
                    break
        except Interrupted as exc:  # between runs, or before a run's own handlers were in place
            stopped, code = f"stopped by signal {exc.signum}", EXIT_INTERRUPTED[exc.signum]
        finally:
            self._signals.cleaning_up()
        try:
            return self._finish(stopped, code)
        finally:
            self._signals.restore()

    def _round(self, index: int) -> tuple[str | None, int | None]:
        order = round_order(index)
        record = round_record(index, order)
        self.rounds.append(record)
        for side in order:
            self.on_progress(f"round {index + 1}/{self.rounds_wanted}: {side.upper()}")
            plan = self._plan(side, index)
            runner, result = self._run(plan)
            record[side] = run_record(result.run_dir, plan.run_id, result.outcome, result.exit_code)
            self._write_rounds()
            signum = next((s for s, c in EXIT_INTERRUPTED.items() if c == result.exit_code), None) \
                if result.outcome == "interrupted" else runner.late_signal
            if signum:
                return f"stopped by signal {signum} in round {index + 1} ({side.upper()})", EXIT_INTERRUPTED[signum]
            if result.outcome != "completed":
                why = result.error or result.outcome
                return (f"round {index + 1} ({side.upper()}) {result.outcome}: {why}",
                        EXIT_BY_OUTCOME.get(result.outcome, 4))
        return None, None

    def _plan(self, side: str, index: int) -> Plan:
        # the same seed for both runs of a round: a fault that picks a container at random picks alike
        plan = make_plan(self.loaded[side], seed=self.seed + index)
        plan.with_report_dir(self.ab_dir / side)
        return plan

    def _run(self, plan: Plan):
        from chaos.runner import Runner
        from chaos.secrets import scrub

        runner = Runner(plan, on_progress=lambda m: self.on_progress(scrub(f"  {m}", plan.secret_values)))
        return runner, runner.run()

    def _write_rounds(self) -> None:
        document = {"schema": "chaos.ab-rounds/1", "experiment": self.experiment, "seed": self.seed,
                    "rounds_wanted": self.rounds_wanted, "rounds": self.rounds}
        with written_atomically(self.ab_dir / "ab.json") as partial:
            partial.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")

    def _finish(self, stopped: str | None, code: int | None) -> AbResult:
        from chaos.compare.interleaved import ab_comparison
        from chaos.report import write_comparison

        self._write_rounds()
        result = AbResult(self.ab_dir, code if code is not None else 5, self.rounds, stopped=stopped)
        judged = [r for r in self.rounds if all(r.get(s) and r[s]["outcome"] == "completed" for s in ("a", "b"))]
        if not judged:
            return result
        comparison = ab_comparison(self.experiment, self.rounds, self.settings, labels=self.labels,
                                   dirs=(str(self.ab_dir / "a"), str(self.ab_dir / "b")))
        if stopped:
            comparison["pairing"]["stopped"] = stopped
        result.comparison = comparison
        result.reports = write_comparison(comparison, self.ab_dir)
        if code is None:
            result.exit_code = EXIT_BY_VERDICT[comparison["verdict"]]
        return result
