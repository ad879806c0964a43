"""Executes a Plan: system up, links, load, the timeline of phases and faults, abort rules, and
always, whatever happens, revert every fault, stop the load and take the system down.

The runner is the only part that touches Docker, Toxiproxy or Locust.
"""

from __future__ import annotations

import json
import math
import os
import re
import signal
import subprocess
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import docker
import numpy as np

from chaos import __version__
from chaos.errors import ChaosError, EnvironmentProblem
from chaos import faults as fault_families
from chaos import ledger, metrics
from chaos.journal import Journal, read_journal_lines
from chaos.live import Status
from chaos.load import LoadProcess, SampleTail, csv_to_parquet
from chaos.hypotheses import HypothesisPlan
from chaos.plan import AbortRulePlan, Plan, Step, steps
from chaos.secrets import scrub_run_files
from chaos.signals import EXIT_INTERRUPTED, Interrupted, StopSignals
from chaos.start_gate import GATE_WAIT, StartGate
from chaos.probes import Prober
from chaos.rundir import PROBES_PARQUET, SAMPLES_CSV, SAMPLES_PARQUET
from chaos.system import ROLE, RUN, System, engine, host_facts

TICK = 0.05
ABORT_CHECK_EVERY = 0.5
# The live checks (tail, status, abort rules) take milliseconds to tens of them on a busy machine: when a
# step is due sooner than STEP_GUARD they wait until after it, so that they do not make a fault late; but
# never longer than MAX_CHECK_DELAY, however dense the steps.
STEP_GUARD = 0.05
MAX_CHECK_DELAY = 0.25
LIVE_WINDOW = 5.0  # seconds of requests behind the live throughput, error rate and p99
ABORT_MIN_REQUESTS = 5  # a stalled system completes few requests: demand few
MIN_FREE_BYTES = 64 << 10  # less, and the next flush of Locust's sample buffer (64 KiB) may fail


@dataclass
class RunResult:
    run_dir: Path
    outcome: str  # completed | aborted | error | interrupted
    exit_code: int
    summary: dict | None = None
    error: str | None = None
    reports: dict = field(default_factory=dict)


class Runner:
    def __init__(self, plan: Plan, on_progress=None, on_status=None, *, system: System | None = None,
                 rehearse: bool = False, keep_system: bool = False, start_gate: StartGate | None = None):
        """``system``: one already started (a game day's): used as it is, never taken down here. ``rehearse``:
        every fault is ledgered and journaled as rehearsed but never injected (wiring, load and probes run).
        ``keep_system``: however the run ends, faults are reverted and the load stopped as always, but the
        containers, networks, volumes and link proxies stay up for inspection (`chaos clean --run ID`).
        ``start_gate``: the timeline starts when the gate opens (runs side by side share their instants), not when
        this run's load has started."""
        self.plan = plan
        self.shared_system = system
        self.rehearse = rehearse
        self.keep_system = keep_system
        self.start_gate = start_gate
        self.late_signal: int | None = None  # a signal that arrived while tearing down (ignored, but told)
        self.run_dir = plan.run_dir
        self.on_progress = on_progress or (lambda message: None)
        self.on_status = on_status or (lambda status: None)
        self.prober: Prober | None = None
        self.journal: Journal | None = None
        self.system: System | None = None
        self.load: LoadProcess | None = None
        self.tail: SampleTail | None = None
        self.active: dict[str, fault_families.FaultAdapter] = {}
        self.faults: dict[str, fault_families.FaultAdapter] = {}
        self.lost_links: set[str] = set()  # links whose Toxiproxy container died during the run
        self.revert_errors: dict[str, str] = {}  # fault id -> why its last revert failed
        self._signals = StopSignals(on_ignored=self._on_late_signal)

    # ---- entry -----------------------------------------------------------------------------

    def run(self) -> RunResult:
        try:
            self.run_dir.mkdir(parents=True, exist_ok=False)
            link_latest(self.run_dir)
            (self.run_dir / "plan.json").write_text(json.dumps(self.plan.to_json(), indent=2) + "\n")
            self.journal = Journal(self.run_dir / "journal.jsonl", self.plan.secret_values)
        except OSError as exc:  # nothing started yet: nothing to revert or remove
            return RunResult(self.run_dir, "error", 4, error=_unwritable(exc, self.run_dir) + ": nothing was started")
        self._signals.install()
        outcome, error, interrupted_by = "completed", None, None
        try:
            ledger.register(self.plan.run_id, self.run_dir,  # how `chaos clean` finds this journal after SIGKILL
                            system_run_id=self.shared_system.plan.run_id if self.shared_system else None)
            client = engine()
            self.journal.append("run_started", run_id=self.plan.run_id, experiment=self.plan.experiment,
                                harness_version=__version__, git_rev=_git_revision(Path(self.plan.source_file)),
                                seed=self.plan.seed, host=host_facts(client))
            if self.shared_system is None:
                self.system = System(self.plan, client, on_event=self.journal.append)
                self._preflight()
                self.on_progress("starting the system")
                self.system.up()
                for name, proxy in self.system.proxies.items():  # for users' own Toxiproxy clients
                    self.on_progress(f"link {name}: {'http proxy control' if proxy.link.is_http else 'toxiproxy API'} "
                                     f"{proxy.api_url}")
            else:
                self.system = self.shared_system
                self.journal.append("system_shared", system_run_id=self.system.plan.run_id, rehearse=self.rehearse,
                                    containers=dict(self.system.containers))
            self._start_probes()
            self._start_load()
            outcome = self._drive_timeline()
        except Interrupted as exc:
            outcome, interrupted_by = "interrupted", exc.signum
            error = f"stopped by {signal.Signals(exc.signum).name}"
        except ChaosError as exc:
            outcome, error = "error", str(exc)
        except Exception as exc:  # noqa: BLE001 - recorded, reported, and the system still torn down
            outcome, error = "error", f"{exc.__class__.__name__}: {exc}"
            _save_traceback(self.run_dir)
        finally:
            self._signals.cleaning_up()
            self._teardown()
            if self.journal.failed and outcome != "error":  # it failed during the teardown
                outcome, error = "error", self._journal_lost()
            if self.active and not self.rehearse:  # a revert failed its retries: never a quiet success
                outcome, error = "error", self._still_active(error)
            self.journal.append("run_ended", outcome=outcome, error=error)
            self.journal.close()
            if not self.active:  # a fault that could not be reverted stays registered for `chaos clean`
                ledger.unregister(self.plan.run_id)
        try:
            return self._finish(outcome, error, interrupted_by)
        finally:  # only now: a second Ctrl-C while the reports are written must not cut them short either
            self._signals.restore()

    # ---- phases ----------------------------------------------------------------------------

    def _preflight(self) -> None:
        missing = self.system.build_missing()
        if missing:
            raise EnvironmentProblem(f"image(s) not found: {', '.join(missing)} (run `make setup`, or "
                                     f"`docker pull` them)")
        from chaos.faults.clock import refuse_unskewable

        refuse_unskewable(self.system)  # before anything starts: static, musl, Go or setuid programs

    def _start_probes(self) -> None:
        if self.plan.probes:
            self.prober = Prober(self.plan.probes, self.system)
            self.prober.start()
            self.journal.append("probes_started", probes=[probe.name for probe in self.plan.probes])

    def _start_load(self) -> None:
        load = self.plan.load
        gate_wait = GATE_WAIT if self.start_gate else 0.0  # Locust's bound covers the wait at the gate too
        self.load = LoadProcess(load, self.system.edge_url(self.plan.edge.name), self.plan.duration + 5.0 + gate_wait,
                                self.run_dir, self.plan.seed)
        self.tail = SampleTail(self.load.samples_csv, self.load.waiting_json)
        self.load.start()
        self.journal.append("load_started", users=load.users, spawn_rate=load.spawn_rate, model=load.model,
                            rate=load.rate, workers=load.workers, host=self.system.edge_url(self.plan.edge.name),
                            pid=self.load.process.pid)
        self.system.records_dir = self.run_dir / "faults"  # http faults write the requests they touched there
        for fault in self.plan.faults:
            self.faults[fault.id] = fault_families.build(fault, self.system)

    def _timeline_start(self) -> float:
        if self.start_gate is None:
            return self.load.started_mono
        self.on_progress("ready: waiting at the start gate for the other side")
        start = self.start_gate.wait()
        self.journal.append("start_gate_opened", waited_s=round(start - self.load.started_mono, 3))
        time.sleep(max(0.0, start - time.monotonic()))
        return start

    def _drive_timeline(self) -> str:
        t0 = self._timeline_start()
        pending = steps(self.plan)
        next_abort_check = t0
        while pending:
            now = time.monotonic()
            while pending and now - t0 >= pending[0].at:
                self._do(pending.pop(0))
            if now >= next_abort_check and not _step_due_soon(pending, t0, now, next_abort_check):
                next_abort_check = now + ABORT_CHECK_EVERY
                self.tail.poll()
                if self.journal.failed:
                    raise EnvironmentProblem(self._journal_lost())
                self._check_disk()
                self._check_links()  # before the abort rules: a cut link is the harness's fault, not the system's
                if not self.load.running():
                    raise EnvironmentProblem(f"the load generator stopped early (see {self.run_dir}/logs/locust.log)")
                self.on_status(self._status(now - t0, now))
                if self._in_warmup(now - t0):
                    continue
                broken = broken_abort_rule(self.plan.abort, self.tail, now, sent_since=t0 + self._warmup_end())
                if broken:
                    self._abort(broken)
                    return "aborted"
            if pending:
                time.sleep(min(TICK, max(0.0, t0 + pending[0].at - time.monotonic())))
        return "completed"

    def _journal_lost(self) -> str:
        return f"{self.journal.failure()}: the run stopped there"

    def _check_disk(self) -> None:
        """A run dir's disk that is full ends the run now: Locust's samples stop being written at once (they are
        lost), while the journal may go on filling its last page for minutes."""
        space = os.statvfs(self.run_dir)
        free = space.f_bavail * space.f_frsize
        if free < MIN_FREE_BYTES:
            raise EnvironmentProblem(f"the run dir's disk is full ({free} bytes free): {self.run_dir}: the run "
                                     "stopped there")

    def _check_links(self) -> None:
        """Every link's Toxiproxy container still runs: one that died (killed, out of memory, removed) cut its
        link, and took its toxics with it. The run cannot go on: an environment error, naming the link."""
        running = {c.id for c in self.system.client.containers.list(
            filters={"label": [f"{RUN}={self.system.plan.run_id}", f"{ROLE}=link"], "status": "running"})}
        lost = {name: proxy for name, proxy in self.system.proxies.items() if proxy.container_id not in running}
        if lost:
            self.lost_links |= set(lost)
            raise EnvironmentProblem("; ".join(f"link {name}: its Toxiproxy container "
                                               f"{_container_state(self.system.client, proxy.container_id)}: the "
                                               "link is cut and its faults went with it" for name, proxy in lost.items()))

    def _status(self, elapsed: float, now: float) -> Status:
        window = next((w for w in self.plan.timeline if w.start <= elapsed < w.end), None)
        answered, waits = self.tail.recent(LIVE_WINDOW, now), self.tail.waiting(now)
        shown = {name: metrics.live_value(name, *with_waiting(name, answered, waits), LIVE_WINDOW) or 0.0
                 for name in ("throughput", "error_rate", "latency.p99")}
        hypotheses = []
        if window is not None:
            so_far = min(elapsed - window.start, self.tail.keep_seconds)
            in_phase, phase_waits = self.tail.recent(so_far, now), self.tail.waiting(now, now - so_far)
            for hypothesis in self.plan.steady_state:
                if window.phase not in hypothesis.phases:
                    continue
                if hypothesis.probe:
                    probe_latencies, probe_ok = self.prober.recent(hypothesis.probe, now - so_far)
                    value = metrics.live_value(hypothesis.metric, probe_latencies, probe_ok, so_far)
                else:
                    requests = with_waiting(hypothesis.metric, in_phase, phase_waits)
                    value = metrics.live_value(hypothesis.metric, *requests, so_far)
                hypotheses.append((f"{hypothesis.name}: {hypothesis.metric}", _live_state(hypothesis, value)))
        return Status(elapsed=elapsed, total=self.plan.duration, phase=window.phase if window else None,
                      phase_left=(window.end - elapsed) if window else 0.0,
                      active_faults=[fault.plan.name + (" (rehearsed)" if self.rehearse else "")
                                     for fault in self.active.values()],
                      throughput=shown["throughput"], error_rate=shown["error_rate"], p99_ms=shown["latency.p99"],
                      hypotheses=hypotheses)

    def _warmup_end(self) -> float:
        """Seconds from load start at which the warmup ends: abort rules never judge a request sent before."""
        return max((w.end for w in self.plan.timeline if w.phase == "warmup"), default=0.0)

    def _in_warmup(self, elapsed: float) -> bool:
        return any(w.phase == "warmup" and w.start <= elapsed < w.end for w in self.plan.timeline)

    def _do(self, step: Step) -> None:
        if step.action == "phase_start":
            self.journal.append("phase_started", phase=step.subject)
            self.on_progress(f"phase {step.subject}")
        elif step.action == "phase_end":
            self.journal.append("phase_ended", phase=step.subject)
        elif step.action == "inject":
            self._inject(self.faults[step.subject])
        elif step.action == "revert":
            self._revert(step.subject, "scheduled")
        elif step.action == "update":
            self._update(step.subject, step.detail)

    def _inject(self, fault: fault_families.FaultAdapter) -> None:
        plan = fault.plan
        # Adapters that choose containers or read limits to restore do it now, so the ledger holds it.
        params = fault.prepare()
        self.journal.append("fault_ledgered", fault_id=plan.id, kind=plan.kind, family=plan.family,
                            target=plan.target, params=params, **({"rehearsed": True} if self.rehearse else {}))
        self.active[plan.id] = fault
        if self.rehearse:
            self.journal.append("fault_rehearsed", fault_id=plan.id)
            self.on_progress(f"rehearsed {plan.name} (not injected)")
            return
        fault.inject()
        in_effect = fault.in_effect_at
        self.journal.append("fault_injected", fault_id=plan.id,
                            **({"in_effect_mono": in_effect} if in_effect is not None else {}))
        self.on_progress(f"injected {plan.name}")

    def _update(self, fault_id: str, change: dict) -> None:
        fault = self.active.get(fault_id)
        if fault is None:
            return  # reverted early (abort): a ramp step must not bring it back
        if self.rehearse:
            return
        fault.update(change)
        self.journal.append("fault_updated", fault_id=fault_id, set=change)

    def _revert(self, fault_id: str, reason: str) -> None:
        fault = self.active.get(fault_id)
        if fault is None:
            return
        # e.g. {"not_healthy": [...]} when a restarted container stays unhealthy; a rehearsal injected nothing
        if self.rehearse:
            outcome = {"rehearsed": True}
        elif self.lost_links and fault.plan.link in self.lost_links:
            outcome = {"gone": "its link's Toxiproxy container died, and the toxics in it"}  # as `chaos clean` sees it
        else:
            self.journal.append("fault_reverting", fault_id=fault_id, reason=reason)
            outcome = fault.revert() or {}
        del self.active[fault_id]
        self.journal.append("fault_reverted", fault_id=fault_id, reason=reason, **outcome)
        self.on_progress(f"reverted {fault.plan.name} ({reason})")

    def _revert_all(self, reason: str) -> None:
        """Every active fault at once: families are independent (faults that could not be reverted
        independently, such as two container faults on one container, are refused at validation), and
        one slow revert, such as a container waiting to be healthy, must not hold up the others."""
        if self.system is not None and self.shared_system is None and reason == "teardown" and not self.keep_system:
            for fault in self.active.values():
                fault.wait_healthy = False  # the system is removed next: nobody waits on its health
        ids = list(reversed(list(self.active)))
        revert = lambda fault_id: self._attempt(lambda: self._revert(fault_id, reason), f"revert {fault_id}")  # noqa: E731
        if len(ids) <= 1:
            failures = {fault_id: revert(fault_id) for fault_id in ids}
        else:
            with ThreadPoolExecutor(max_workers=len(ids), thread_name_prefix="chaos-revert") as pool:
                failures = dict(zip(ids, pool.map(revert, ids)))
        self.revert_errors.update({fault_id: str(exc) for fault_id, exc in failures.items() if exc is not None})

    def _still_active(self, error: str | None) -> str:
        """One line: which faults are still injected, why, and the command that reverts them."""
        faults = ", ".join(f"{fault_id} ({fault.plan.kind} on {fault.plan.target})" + (
            f": {self.revert_errors[fault_id]}" if fault_id in self.revert_errors else "")
            for fault_id, fault in self.active.items())
        line = (f"fault still active after its revert failed: {faults}; revert it with "
                f"`chaos clean --run {self.plan.run_id}`")
        return f"{line} (the run had failed first: {error})" if error else line

    def _abort(self, broken: BrokenRule) -> None:
        rule = broken.rule
        self.journal.append("abort", rule=f"{rule.metric} > {rule.max} for {rule.for_}s",
                            metric=rule.metric, observed=broken.observed, threshold=rule.max)
        self.on_progress(f"ABORT: {rule.metric} {broken.observed:.3g} > {rule.max:.3g}")
        # Cleanup begins here: a Ctrl-C now would break out of the revert while its threads still run, and the
        # teardown would iterate the faults they are removing. Only the teardown follows an abort.
        self._signals.cleaning_up()
        self._revert_all("abort")

    # ---- teardown --------------------------------------------------------------------------

    def _teardown(self) -> None:
        """Revert, stop load, remove the system. Each step runs even if an earlier one failed."""
        self._revert_all("teardown")
        if self.load and self.load.process:
            self._attempt(self.load.stop, "stop load")
            self.journal.append("load_stopped")
        if self.prober:
            self._attempt(self.prober.stop, "stop probes")
            self._attempt(lambda: self.prober.write(self.run_dir / PROBES_PARQUET), "write probe results")
        if self.system and self.shared_system is None:
            if self.keep_system:
                self._keep_system()
            else:
                self._attempt(self.system.down, "remove system")

    def _keep_system(self) -> None:
        """Faults reverted, load stopped; what the run started stays for inspection until `chaos clean --run`."""
        for proxy in self.system.proxies.values():
            proxy.client.close()
        self.journal.append("system_kept", run_id=self.plan.run_id, containers=dict(self.system.containers),
                            remove_with=f"chaos clean --run {self.plan.run_id}")
        self.on_progress(f"system kept (faults reverted): remove it with `chaos clean --run {self.plan.run_id}`")

    def _attempt(self, action, what: str) -> Exception | None:
        """Up to three tries; returns the last failure (None when it succeeded)."""
        failure = None
        for attempt in range(3):
            try:
                action()
                return None
            except Exception as exc:  # noqa: BLE001 - teardown must go on; the failure is journaled
                failure = exc
                self.journal.append("teardown_error", step=what, attempt=attempt + 1, error=str(exc))
                time.sleep(0.5)
        return failure

    def _finish(self, outcome: str, error: str | None, interrupted_by: int | None) -> RunResult:
        try:
            return self._write_results(outcome, error, interrupted_by)
        except OSError as exc:  # a full disk: the teardown is done, the samples stay in samples.csv
            unwritten = (f"the reports could not be written ({_reason(exc)}): `chaos report {self.run_dir}` once "
                         "there is room")
            return RunResult(self.run_dir, "error", 4, error=f"{error}; {unwritten}" if error else unwritten)

    def _write_results(self, outcome: str, error: str | None, interrupted_by: int | None) -> RunResult:
        csv_path = self.run_dir / SAMPLES_CSV
        # its own journal: a line torn by a full disk must not cost the samples (`chaos report` names it)
        csv_to_parquet(csv_path, self.run_dir / SAMPLES_PARQUET, read_journal_lines(self.run_dir / "journal.jsonl")[0])
        csv_path.unlink(missing_ok=True)
        scrub_run_files(self.run_dir, self.plan.secret_values)  # Locust wrote these, not the journal
        from chaos import analysis, report  # imported late: pandas/matplotlib are slow to import

        if outcome == "error":
            return RunResult(self.run_dir, outcome, 4, error=error)
        reports = report.render_all(self.run_dir, formats=tuple(self.plan.report.formats),
                                    secrets=self.plan.secret_values)
        summary = json.loads((self.run_dir / "summary.json").read_text()) if (self.run_dir / "summary.json").exists() \
            else analysis.analyse(analysis.load_run(self.run_dir), seed=self.plan.seed)
        code = EXIT_INTERRUPTED[interrupted_by] if interrupted_by else analysis.exit_code(summary)
        return RunResult(self.run_dir, outcome, code, summary=summary, error=error, reports=reports)

    # ---- signals ---------------------------------------------------------------------------

    def _on_late_signal(self, signum: int) -> None:
        self.late_signal = signum  # already reverting and tearing down: ignored, but told
        self.on_progress(f"{signal.Signals(signum).name} ignored: reverting faults and cleaning up first")


@dataclass(frozen=True)
class BrokenRule:
    rule: AbortRulePlan
    observed: float  # the metric's value over the rule's window, above its max


def broken_abort_rule(rules: list[AbortRulePlan], tail: SampleTail, now: float,
                      sent_since: float = -math.inf) -> BrokenRule | None:
    """The first rule whose metric, over its trailing window of requests (those sent at or after
    ``sent_since``), is above its max (with the value observed), or None. Every metric the registry marks
    live is judged the way the analysis computes it."""
    for rule in rules:
        latencies, ok = live_requests(tail, rule.metric, rule.for_, now, sent_since)
        if len(latencies) < ABORT_MIN_REQUESTS:
            continue
        observed = metrics.live_value(rule.metric, latencies, ok, rule.for_)
        if observed is not None and observed > rule.max:
            return BrokenRule(rule, observed)
    return None


def live_requests(tail: SampleTail, metric: str, seconds: float, now: float,
                  sent_since: float = -math.inf) -> tuple[np.ndarray, np.ndarray]:
    """(latencies ms, success flags) a live ``metric`` is computed over: the requests answered in the last
    ``seconds`` and, for a latency metric, each request still waiting at its wait so far. A system that stops
    answering would otherwise look idle, not slow, until it answers again."""
    return with_waiting(metric, tail.recent(seconds, now, sent_since), tail.waiting(now, sent_since))


def with_waiting(metric: str, answered: tuple[np.ndarray, np.ndarray], waits_ms: np.ndarray):
    """``answered`` (latencies, success flags), with the waits as latencies when ``metric`` counts waiting."""
    if not metrics.metric(metric).counts_waiting or not len(waits_ms):
        return answered
    latencies, ok = answered
    return np.concatenate([latencies, waits_ms]), np.concatenate([ok, np.ones(len(waits_ms), bool)])


def _live_state(hypothesis: HypothesisPlan, value: float | None) -> str:
    if value is None:
        return "-"
    too_high = hypothesis.max is not None and value > hypothesis.max
    too_low = hypothesis.min is not None and value < hypothesis.min
    return "over" if too_high or too_low else "ok"


def link_latest(run_dir: Path) -> None:
    """Points ``latest`` next to a new run (or game day) dir at it, atomically: a reader never sees it missing."""
    latest = run_dir.parent / "latest"
    temporary = run_dir.parent / f".latest-{os.getpid()}"
    temporary.unlink(missing_ok=True)
    temporary.symlink_to(run_dir.name)
    temporary.replace(latest)


def _unwritable(exc: OSError, run_dir: Path) -> str:
    return f"the run dir could not be written ({_reason(exc)}): {exc.filename or run_dir}"


def _reason(exc: OSError) -> str:
    """The system's words for it (pyarrow's errors bury the errno in a longer text)."""
    found = re.search(r"\[errno (\d+)\]", str(exc))
    return os.strerror(int(found.group(1))) if found else exc.strerror or str(exc)


def _save_traceback(run_dir: Path) -> None:
    try:
        (run_dir / "logs").mkdir(exist_ok=True)
        (run_dir / "logs" / "harness-traceback.txt").write_text(traceback.format_exc())
    except OSError:
        pass  # a full disk: the error itself is journaled (if it can be) and printed


def _container_state(client, container_id: str) -> str:
    try:
        state = client.containers.get(container_id).attrs["State"]
    except docker.errors.NotFound:
        return f"{container_id[:12]} was removed"
    return f"{container_id[:12]} is {state.get('Status')} (exit code {state.get('ExitCode')})"


def _git_revision(path: Path) -> str | None:
    try:
        result = subprocess.run(["git", "-C", str(path.parent), "rev-parse", "HEAD"], capture_output=True,
                                text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return result.stdout.strip() or None


def _step_due_soon(pending: list[Step], t0: float, now: float, check_due: float) -> bool:
    return bool(pending) and t0 + pending[0].at - now < STEP_GUARD and now - check_due < MAX_CHECK_DELAY
