"""``chaos ab``: one experiment with two sets of ``${VAR}`` values, A (the baseline) and B (the candidate), run in
rounds, each run a normal run of the Runner (its own run dir, reverts and cleanup), then judged on paired rounds
(``chaos.compare.interleaved``). Two designs:

- side by side (the default): in each round both systems are up at once, each run in its own process with half
  the load, and their timelines start at one instant (``chaos.start_gate``): every phase and fault falls on the
  same moments on both sides, so what the machine does at that moment hits both;
- interleaved: one run after the other, in the order A B, B A, A B, ...

Layout: ``<report-dir>/<experiment>-ab-<id>/`` holds ``ab.json`` (the rounds so far, rewritten after each run)
and ``compare.html``/``.md``/``.json``; each run's dir is ``a/<experiment>/<run id>/`` or ``b/...``.

Exit: 0 no regression (no change or better), 1 B worse, 5 inconclusive, 3 a round aborted, 4 a round failed
(environment), 130/143 stopped by SIGINT/SIGTERM (the running round's run reverts as always; what was done is
judged and written)."""

from __future__ import annotations

import json
import multiprocessing
import os
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from chaos.atomic import written_atomically
from chaos.compare.interleaved import round_record, run_record
from chaos.compare.paired import round_order
from chaos.plan import Plan, make_plan, new_run_id
from chaos.signals import EXIT_INTERRUPTED, Interrupted, StopSignals
from chaos.start_gate import StartGate, cancel, open_when_ready

SIDE_BY_SIDE, INTERLEAVED = "side-by-side", "interleaved"
DESIGNS = (SIDE_BY_SIDE, INTERLEAVED)

EXIT_BY_VERDICT = {"worse": 1, "inconclusive": 5, "no change": 0, "better": 0}
EXIT_BY_OUTCOME = {"aborted": 3, "error": 4}
EXIT_SIGNAL = {code: signum for signum, code in EXIT_INTERRUPTED.items()}


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
                 on_progress: Callable[[str], None] = lambda message: None, labels: tuple[str, str] = ("A", "B"),
                 design: str = INTERLEAVED, sources: dict | None = None):
        """``sources``: side -> (experiment file, its ${VAR} values), from which a side-by-side run's own process
        loads the experiment again (the same, validated, load)."""
        if design == SIDE_BY_SIDE and not sources:
            raise ValueError("side by side needs each side's file and values")
        self.design = design
        self.sources = sources or {}
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
        if self.design == SIDE_BY_SIDE:
            return self._side_by_side(index)
        order = round_order(index)
        record = round_record(index, order)
        self.rounds.append(record)
        for side in order:
            self.on_progress(f"round {index + 1}/{self.rounds_wanted}: {side.upper()}")
            plan = self._plan(side, index)
            runner, result = self._run(plan)
            record[side] = run_record(result.run_dir, plan.run_id, result.outcome, result.exit_code)
            self._write_rounds()
            signum = EXIT_SIGNAL.get(result.exit_code) if result.outcome == "interrupted" else runner.late_signal
            if signum:
                return f"stopped by signal {signum} in round {index + 1} ({side.upper()})", EXIT_INTERRUPTED[signum]
            if result.outcome != "completed":
                why = result.error or result.outcome
                return (f"round {index + 1} ({side.upper()}) {result.outcome}: {why}",
                        EXIT_BY_OUTCOME.get(result.outcome, 4))
        return None, None

    def _side_by_side(self, index: int) -> tuple[str | None, int | None]:
        record = round_record(index, ("a|b",))  # runs that ran at once are joined by "|"
        self.rounds.append(record)
        gate = self.ab_dir / "gates" / f"round-{index + 1}"
        gate.mkdir(parents=True)
        requests = {side: SideRequest(side, *self.sources[side], seed=self.seed + index, run_id=new_run_id(),
                                      experiment=self.experiment, report_dir=str(self.ab_dir / side),
                                      gate_dir=str(gate))
                    for side in ("a", "b")}
        self.on_progress(f"round {index + 1}/{self.rounds_wanted}: A and B side by side, half the load each")
        processes: dict[str, multiprocessing.Process] = {}
        signum = self._await_sides(gate, requests, processes)
        for side, request in requests.items():
            process = processes.get(side)
            record[side] = request.outcome(process.exitcode if process else None)
        self._write_rounds()
        signum = signum or next((EXIT_SIGNAL[record[s]["exit_code"]] for s in ("a", "b")
                                 if record[s]["outcome"] == "interrupted" and record[s]["exit_code"] in EXIT_SIGNAL),
                                None)
        if signum:
            return f"stopped by signal {signum} in round {index + 1}", EXIT_INTERRUPTED[signum]
        for side in ("a", "b"):
            run = record[side]
            if run["outcome"] != "completed":
                return (f"round {index + 1} ({side.upper()}) {run['outcome']}: {run.get('error') or run['outcome']}",
                        EXIT_BY_OUTCOME.get(run["outcome"], 4))
        return None, None

    def _await_sides(self, gate: Path, requests: dict, processes: dict) -> int | None:
        """Starts both runs' processes, opens the gate when both are ready and waits for both to end. A signal to
        ``chaos ab`` goes on to both runs (each in its own process group: a Ctrl-C in the terminal reaches them
        through here only, once); each reverts as every run does. Returns the signal, if one came."""
        def gone() -> str | None:
            ended = [side for side, process in processes.items() if not process.is_alive()]
            return f"{ended[0].upper()}'s run ended before its timeline began (see its run dir)" if ended else None

        try:
            for side, request in requests.items():
                processes[side] = _spawn(request)
            open_when_ready(gate, list(requests), gone)
            while any(process.is_alive() for process in processes.values()):
                time.sleep(0.1)
            return None
        except Interrupted as exc:
            self._signals.cleaning_up()  # from here on, a second signal must not cut the runs' reverts short
            cancel(gate, f"stopped by signal {exc.signum}")
            for process in processes.values():
                if process.is_alive():
                    os.kill(process.pid, exc.signum)
            for process in processes.values():
                process.join()
            return exc.signum
        finally:
            cancel(gate, "chaos ab stopped waiting")  # a run still at the gate must not wait on its own

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
        document = {"schema": "chaos.ab-rounds/1", "experiment": self.experiment, "design": self.design,
                    "seed": self.seed,
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
                                   dirs=(str(self.ab_dir / "a"), str(self.ab_dir / "b")), design=self.design)
        if stopped:
            comparison["pairing"]["stopped"] = stopped
        result.comparison = comparison
        result.reports = write_comparison(comparison, self.ab_dir)
        if code is None:
            result.exit_code = EXIT_BY_VERDICT[comparison["verdict"]]
        return result


RESULT_FILE = "{side}.result.json"


@dataclass(frozen=True)
class SideRequest:
    """What a side-by-side run's process needs (it loads the experiment itself: nothing unpicklable crosses)."""
    side: str
    file: str
    values: dict
    seed: int
    run_id: str
    experiment: str
    report_dir: str
    gate_dir: str

    def outcome(self, exit_code: int | None) -> dict:
        """The run's record from the file its process wrote, or, if it wrote none, how the process ended."""
        written = Path(self.gate_dir) / RESULT_FILE.format(side=self.side)
        if written.is_file():
            return json.loads(written.read_text(encoding="utf-8"))
        run_dir = Path(self.report_dir) / self.experiment / self.run_id
        return {**run_record(run_dir, self.run_id, "error", 4),
                "error": f"its process ended with code {exit_code} before it wrote an outcome"}


def _spawn(request: SideRequest) -> multiprocessing.Process:
    # spawn, not fork: a fresh interpreter, no threads or handlers of this one carried over
    process = multiprocessing.get_context("spawn").Process(target=run_side, args=(request,),
                                                            name=f"chaos-ab-{request.side}")
    process.start()
    return process


def run_side(request: SideRequest) -> None:
    """A side-by-side run, in its own process: a normal run with half the load and the round's start gate."""
    os.setpgrp()  # signals come through chaos ab (once), not from the terminal as well
    from chaos.runner import Runner
    from chaos.secrets import scrub
    from chaos.spec import load_experiment

    plan = make_plan(load_experiment(request.file, request.values), run_id=request.run_id, seed=request.seed)
    plan.with_report_dir(request.report_dir)
    plan.load = plan.load.share(2)
    label = request.side.upper()
    runner = Runner(plan, on_progress=lambda m: print(scrub(f"  {label}: {m}", plan.secret_values), flush=True),
                    start_gate=StartGate(Path(request.gate_dir), request.side))
    result = runner.run()
    record = {**run_record(result.run_dir, plan.run_id, result.outcome, result.exit_code), "error": result.error}
    with written_atomically(Path(request.gate_dir) / RESULT_FILE.format(side=request.side)) as partial:
        partial.write_text(json.dumps(record) + "\n", encoding="utf-8")
