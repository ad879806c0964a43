"""Runs a game day: waits for its start, starts the system once, runs each step's experiment on it with the
ordinary Runner (which reverts every fault of its step), honours ``stop_on``, notifies, and always ends
with the system down (unless attached), a record of how the day ended, and one combined report.

Only this module and the Runner it drives have side effects; the plan, schedule, agenda and report are pure.
"""

from __future__ import annotations

import json
import signal
import time
import traceback
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

from chaos import __version__, ledger
from chaos.errors import ChaosError, EnvironmentProblem
from chaos.gameday import schedule
from chaos.gameday.agenda import Agenda, make_agenda, span, step_plans
from chaos.gameday.live import DayStatus
from chaos.gameday.model import LoadedGameDay
from chaos.gameday.notify import Notifier
from chaos.gameday.state import DayState, whoami
from chaos.journal import Journal
from chaos.plan import LinkPlan, Plan, make_system_plan, new_run_id
from chaos.runner import Runner, link_latest
from chaos.secrets import scrub, scrubbed_default
from chaos.signals import EXIT_INTERRUPTED, Interrupted, StopSignals
from chaos.system import System, engine

UTC = timezone.utc
WAIT_TICK = 0.5
EXIT = {"held": 0, "deviated": 1, "aborted": 3, "inconclusive": 5}
RANK = {"held": 0, "inconclusive": 1, "deviated": 2, "aborted": 3}


class ScheduleProblem(ChaosError):
    """The schedule does not allow a start now (passed, blacked out). Exit code 2, nothing started."""

    exit_code = 2


@dataclass
class DayResult:
    day_dir: Path
    outcome: str  # completed | stopped | error | cancelled
    verdict: str
    exit_code: int
    stopped_by: dict | None = None
    reports: dict = field(default_factory=dict)
    error: str | None = None


def start_time(day: LoadedGameDay, agenda: Agenda, now: datetime, start_now: bool) -> schedule.Occurrence:
    """When the day starts: now (``--now``, or no schedule), else its next scheduled occurrence. Raises
    ScheduleProblem when none is left or when starting now would run into a blackout window."""
    rule = day.rule()
    length = timedelta(seconds=agenda.total)
    if start_now or rule is None:
        hit = next((b for b in (rule.blackouts if rule else ()) if b.overlaps(now, now + length)), None)
        if hit:
            raise ScheduleProblem(f"starting now would run into the blackout {hit.start:%Y-%m-%d %H:%M %Z} – "
                                  f"{hit.end:%Y-%m-%d %H:%M %Z}" + (f" ({hit.reason})" if hit.reason else ""))
        return schedule.Occurrence(now, now + length)
    occurrence = schedule.next_start(rule, now, length)
    if occurrence is None:
        what = (f"its start {rule.at:%Y-%m-%d %H:%M %Z} has passed" if rule.at is not None
                else "its rule has no time left that is not blacked out")
        raise ScheduleProblem(f"the plan has no start to wait for: {what} (use --now to start now)")
    return occurrence


class GameDay:
    def __init__(self, day: LoadedGameDay, *, rehearse: bool = False, start: schedule.Occurrence | None = None,
                 report_dir: str | Path | None = None, view=None, variables_note: dict | None = None):
        self.day = day
        self.rehearse = rehearse
        self.start = start  # None: now
        self.view = view
        self.day_id = new_run_id()
        root = Path(report_dir).resolve() if report_dir else day.path(day.spec.report.dir)
        self.day_dir = root / "gamedays" / day.name / self.day_id
        self.plans: dict[int, Plan] = step_plans(day, {s.index: f"{self.day_id}-{s.index}" for s in day.steps})
        for plan in self.plans.values():
            plan.with_report_dir(self.day_dir / "steps")
        self.agenda = make_agenda(day, self.plans)
        self.journal: Journal | None = None
        self.state: DayState | None = None
        self.notifier: Notifier | None = None
        self.system: System | None = None
        self.owns_system = day.spec.system.attach is None
        self.stopped_by: dict | None = None
        self.stop_reason: str | None = None  # why the remaining steps do not run
        self.ended: dict[int, dict] = {}  # step index -> its step_ended record
        self.started: dict[int, Path] = {}
        self._stop_signal: int | None = None  # the signal that stopped the day (seen by the day or a step)
        self._signals = StopSignals()  # once the day is ending, a signal is ignored (silently)
        self._day_started_mono: float | None = None
        self._status = DayStatus(day.spec.title, "waiting", len(day.steps), rehearse=rehearse)

    # ---- entry -----------------------------------------------------------------------------

    def run(self) -> DayResult:
        self.day_dir.mkdir(parents=True, exist_ok=False)
        link_latest(self.day_dir)
        self._write_agenda()
        self.journal = Journal(self.day_dir / "journal.jsonl", self.day.secret_values)
        self.state = DayState(self.day_id, {"title": self.day.spec.title, "name": self.day.name,
                                            "plan_file": str(self.day.source.file), "day_dir": str(self.day_dir),
                                            "rehearse": self.rehearse, "steps": len(self.day.steps),
                                            "state": "waiting"})
        self.notifier = Notifier(self.day.spec.notify, self.day.base_dir, self._day_fields(), self.journal,
                                 self._say, secrets=self.day.secret_values)
        # The day owns its system between steps too, where no step's run is registered: `chaos clean` leaves it.
        ledger.register(self.day_id, self.day_dir, system_run_id=self.day.spec.system.attach, what="game day")
        self._signals.install()
        outcome, error = "completed", None
        try:
            self._wait_for_start()
            self._begin()
            self._system_up()
            self._run_steps()
        except Interrupted as exc:
            self._stopped_by_signal(exc.signum)
        except ChaosError as exc:
            outcome, error = "error", str(exc)
        except Exception as exc:  # noqa: BLE001 - recorded, and the system still taken down
            outcome, error = "error", f"{exc.__class__.__name__}: {exc}"
            (self.day_dir / "logs").mkdir(exist_ok=True)
            (self.day_dir / "logs" / "harness-traceback.txt").write_text(traceback.format_exc())
        finally:
            self._signals.cleaning_up()
            outcome = self._end(outcome, error)
            self._signals.restore()
        from chaos.gameday.report import render_day  # late: pandas and matplotlib are slow to import

        reports = render_day(self.day_dir, formats=tuple(self.day.spec.report.formats), secrets=self.day.secret_values)
        summary = json.loads((self.day_dir / "summary.json").read_text()) if "json" in reports else None
        verdict = summary["verdict"] if summary else self._verdict()
        return DayResult(self.day_dir, outcome, verdict, self._exit_code(outcome, verdict), self.stopped_by, reports,
                         error)

    # ---- before the steps ------------------------------------------------------------------

    def _write_agenda(self) -> None:
        spec = self.day.spec
        data = {
            "schema": "chaos.gameday.agenda/1", "day_id": self.day_id, "name": self.day.name, "title": spec.title,
            "description": spec.description, "owners": list(spec.owners), "plan_file": str(self.day.source.file),
            "stop_on": spec.stop_on, "rehearse": self.rehearse,
            "scheduled_start": self.start.start.isoformat() if self.start else None,
            "system": {"attach": spec.system.attach, "services": sorted(self.day.services or {}),
                       "links": self.day.links()},
            "steps": [{"index": s.index, "title": s.title, "experiment": self.plans[s.index].experiment,
                       "experiment_file": str(s.loaded.source.file), "run_id": self.plans[s.index].run_id,
                       "runbook": s.spec.runbook, "load_s": self.plans[s.index].duration} for s in self.day.steps],
            "agenda": self.agenda.to_json(),
            "harness_version": __version__,
        }
        secrets = self.day.secret_values
        text = json.dumps(scrub(data, secrets), indent=2, default=scrubbed_default(secrets))
        (self.day_dir / "agenda.json").write_text(text + "\n")

    def _day_fields(self) -> dict:
        spec = self.day.spec
        return {"id": self.day_id, "name": self.day.name, "title": spec.title, "owners": list(spec.owners),
                "rehearse": self.rehearse, "steps": len(self.day.steps), "dir": str(self.day_dir)}

    def _wait_for_start(self) -> None:
        if self.start is None:
            return
        starts = self.start.start
        self.journal.append("waiting", starts_at=starts.isoformat())
        self.state.update(state="waiting", starts_at=starts.isoformat())
        self._say(f"waiting for the scheduled start {starts:%Y-%m-%d %H:%M:%S %Z} "
                  f"(in {span((starts - datetime.now(UTC)).total_seconds())}); Ctrl-C cancels")
        while True:
            left = (starts - datetime.now(UTC)).total_seconds()
            if left <= 0:
                return
            self._show(activity="waiting", detail=f"starts {starts:%Y-%m-%d %H:%M:%S %Z} (in {span(left)})",
                       day_left_s=self.agenda.total + left)
            time.sleep(min(WAIT_TICK, left))

    def _begin(self) -> None:
        self._day_started_mono = time.monotonic()
        self.journal.append("day_started", day_id=self.day_id, title=self.day.spec.title, name=self.day.name,
                            rehearse=self.rehearse, started_by=whoami(), harness_version=__version__,
                            planned_s=self.agenda.total)
        self.state.update(state="running", started=time.time())
        steps = ", ".join(f"{s.index}. {s.title}" for s in self.day.steps)
        self.notifier.send("day_started", f"game day '{self.day.spec.title}' started"
                           f"{' (rehearsal: no fault is injected)' if self.rehearse else ''}: {steps}; "
                           f"planned ≈{span(self.agenda.total)}",
                           agenda=[{k: item[k] for k in ("kind", "title", "offset", "duration", "step", "experiment")}
                                   for item in self.agenda.to_json()["items"]])

    def _system_up(self) -> None:
        client = engine()
        if not self.owns_system:
            plan = make_system_plan(self.day.name, {}, [], run_id=self.day.spec.system.attach)
            plan = _attach_plan(self.day, self.plans, plan)
            self._show(activity="system", detail=f"attaching to {plan.run_id}")
            self.system = System(plan, client, on_event=self.journal.append)
            self.system.attach()
            self.journal.append("system_up", attached=True, system_run_id=plan.run_id)
            self._say_toxiproxy_apis()
            return
        plan = make_system_plan(self.day.name, self.day.services, self.day.links(), run_id=self.day_id,
                                source_file=str(self.day.source.file))
        self.system = System(plan, client, on_event=self.journal.append)
        self._show(activity="system")
        self._say(f"starting the system: {', '.join(t.name for t in plan.targets)}; links: "
                  f"{', '.join(link.name for link in plan.links)}")
        missing = self.system.build_missing()
        if missing:
            raise EnvironmentProblem(f"image(s) not found: {', '.join(missing)} (run `make setup`, or `docker pull` "
                                     "them)")
        _refuse_unskewable(self.system)
        started = time.monotonic()
        self.system.up()
        self.journal.append("system_up", attached=False, system_run_id=plan.run_id,
                            seconds=round(time.monotonic() - started, 3))
        self._say_toxiproxy_apis()

    def _say_toxiproxy_apis(self) -> None:
        """Where each link's Toxiproxy API is, for a user's own client (also in the journal's link_created)."""
        for name, proxy in self.system.proxies.items():
            self._say(f"link {name}: toxiproxy API {proxy.api_url}")

    # ---- steps -----------------------------------------------------------------------------

    def _run_steps(self) -> None:
        steps = self.day.steps
        for n, step in enumerate(steps):
            if self.stop_reason:
                return
            self._run_step(step)
            if self.stop_reason or n == len(steps) - 1:
                continue
            pause = step.spec.pause_after if step.spec.pause_after is not None else self.day.spec.pause
            self._pause(step.index, pause)

    def _run_step(self, step) -> None:
        plan = self.plans[step.index]
        run_dir = plan.run_dir
        self.started[step.index] = run_dir
        self.state.update(state="running", step=step.index, step_title=step.title, experiment=plan.experiment,
                          step_run_dir=str(run_dir))
        self.journal.append("step_started", step=step.index, title=step.title, experiment=plan.experiment,
                            run_id=plan.run_id, run_dir=str(run_dir.relative_to(self.day_dir)),
                            rehearse=self.rehearse)
        self._say(f"step {step.index}/{len(self.day.steps)}: {step.title} ({plan.experiment}, "
                  f"{span(plan.duration)} of load)")
        if step.spec.runbook.strip():
            for line in step.spec.runbook.strip().splitlines():
                self._say(f"  runbook: {line}")
        self._show(activity="step", step=step.index, step_title=step.title,
                   day_left_s=self._left_after(step.index) + plan.duration)
        runner = Runner(plan, on_progress=lambda message: self._say(f"  {self._clock()}  {message}"),
                        on_status=lambda status: self._on_run_status(step, status), system=self.system,
                        rehearse=self.rehearse)
        result, interrupted = None, None
        try:
            result = runner.run()
        except Interrupted as exc:  # outside the runner's own window: before it began, or while it rendered
            interrupted = exc.signum
        record = self._step_record(step, plan, run_dir, result)
        self._record_step_end(step, record)
        signum = interrupted or (EXIT_SIGNAL.get(result.exit_code) if result and result.outcome == "interrupted"
                                 else None) or runner.late_signal
        if signum:
            self._stopped_by_signal(signum)
            return
        self._apply_stop_on(step, record)

    def _on_run_status(self, step, status) -> None:
        left = self._left_after(step.index) + max(status.total - status.elapsed, 0.0)
        self._show(activity="step", step=step.index, step_title=step.title, day_left_s=left, run=status)

    def _step_record(self, step, plan: Plan, run_dir: Path, result) -> dict:
        summary = result.summary if result is not None else None
        if summary is None and (run_dir / "summary.json").is_file():
            summary = json.loads((run_dir / "summary.json").read_text())
        outcome = result.outcome if result is not None else ("interrupted" if run_dir.exists() else "not started")
        if summary is not None:
            verdict, reason, score = summary["verdict"], summary["reason"], summary.get("score")
        else:
            verdict, score = ("aborted" if outcome == "interrupted" else "inconclusive"), None
            reason = (result.error if result is not None else None) or f"the step was {outcome}"
        return {"step": step.index, "title": step.title, "experiment": plan.experiment, "run_id": plan.run_id,
                "outcome": outcome, "verdict": verdict, "reason": reason, "score": score,
                "exit_code": result.exit_code if result is not None else None,
                "error": result.error if result is not None else None}

    def _record_step_end(self, step, record: dict) -> None:
        self.ended[step.index] = record
        self.journal.append("step_ended", **record)
        score = f", score {record['score']:.0f}/100" if record["score"] is not None else ""
        self.notifier.send("step_verdict", f"step {step.index}/{len(self.day.steps)} {step.title}: "
                                           f"{record['verdict'].upper()}{score}: {record['reason']}", step=record)
        if record["verdict"] == "aborted" and record["outcome"] == "aborted":
            self.notifier.send("abort", f"step {step.index} {step.title} was aborted by a safety rule: "
                                        f"{record['reason']}", step=record)

    def _apply_stop_on(self, step, record: dict) -> None:
        verdict, rule = record["verdict"], self.day.spec.stop_on
        if record["outcome"] == "error":
            self._stop({"kind": "error", "step": step.index, "error": record["error"]},
                       f"step {step.index} ended with an error: {record['error']}")
        elif (rule == "deviated" and verdict in ("deviated", "aborted")) or (
                rule == "aborted" and verdict == "aborted"):
            self._stop({"kind": "stop_on", "rule": rule, "step": step.index, "verdict": verdict},
                       f"stop_on: {rule} (step {step.index} {step.title} {verdict})")

    def _pause(self, after_step: int, seconds: float) -> None:
        if seconds <= 0:
            return
        self.journal.append("pause_started", after_step=after_step, seconds=seconds)
        self.state.update(state="pause", step=None)
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            self._show(activity="pause", detail=f"next step in {span(left)}",
                       day_left_s=self._left_after(after_step) - (seconds - left))
            time.sleep(min(WAIT_TICK, left))
        self.journal.append("pause_ended", after_step=after_step)

    # ---- stopping and the end --------------------------------------------------------------

    def _stop(self, by: dict, reason: str) -> None:
        if self.stop_reason:
            return
        self.stopped_by = by
        self.stop_reason = reason
        self.journal.append("day_stopped", by=by, reason=reason)
        self._say(f"stopping the day: {reason}")

    def _stopped_by_signal(self, signum: int) -> None:
        self._stop_signal = self._stop_signal or signum
        name = signal.Signals(signum).name
        request = self.state.stop_request() if self.state else None
        if request and signum == signal.SIGTERM:
            by = {"kind": "command", "signal": name, **request}
            who = f"{request.get('user')}@{request.get('host')} (pid {request.get('pid')})"
            text = f"stopped by {who} with `chaos gameday stop`" + (f": {request['reason']}"
                                                                     if request.get("reason") else "")
        elif signum == signal.SIGINT:
            by = {"kind": "signal", "signal": name, **whoami(), "note": "Ctrl-C in the day's own terminal"}
            text = f"stopped by Ctrl-C (SIGINT) in the day's terminal ({by['user']}@{by['host']})"
        else:
            by = {"kind": "signal", "signal": name, "note": "sent from outside; the sender is not known"}
            text = f"stopped by {name} from outside"
        self._stop(by, text)
        if self._day_started_mono is None:
            self.notifier.send("abort", f"game day '{self.day.spec.title}' cancelled before its start: {text}",
                               stopped_by=by)
        else:
            self.notifier.send("abort", f"game day '{self.day.spec.title}' {text}; every fault is reverted",
                               stopped_by=by)

    def _end(self, outcome: str, error: str | None) -> str:
        """Always: record the steps that did not run, take the system down, tell everyone, close."""
        if self._day_started_mono is None and self._stop_signal:
            outcome = "cancelled"
        elif self.stopped_by and outcome != "error":
            outcome = "stopped"
        if error:
            self._stop({"kind": "error", "error": error}, f"error: {error}")
        for step in self.day.steps:
            if step.index in self.ended:
                continue
            if step.index in self.started:  # interrupted between the runner's end and its record
                record = self._step_record(step, self.plans[step.index], self.started[step.index], None)
                self._attempt(lambda s=step, r=record: self._record_step_end(s, r), "record step")
                continue
            reason = self.stop_reason or "the day ended first"
            self.journal.append("step_not_run", step=step.index, title=step.title,
                                experiment=self.plans[step.index].experiment, reason=reason)
        if self.system is not None and self.owns_system:
            self._show(activity="teardown")
            self._attempt(self.system.down, "take the system down")
            self.journal.append("system_down")
        verdict = self._verdict()
        if self._day_started_mono is not None:
            ran = [r for r in self.ended.values()]
            self.notifier.send("day_ended", f"game day '{self.day.spec.title}' ended: {verdict.upper()}; "
                                            f"{len(ran)} of {len(self.day.steps)} step(s) ran"
                               + (f"; {self.stop_reason}" if self.stop_reason else ""),
                               verdict=verdict, outcome=outcome, stopped_by=self.stopped_by)
        self.notifier.close()
        self.journal.append("day_ended", outcome=outcome, verdict=verdict, error=error, stopped_by=self.stopped_by)
        self.journal.close()
        self.state.remove()
        ledger.unregister(self.day_id)  # a step whose fault is still active stays registered on its own
        return outcome

    def _verdict(self) -> str:
        if self._stop_signal:
            return "aborted"
        verdicts = [r["verdict"] for r in self.ended.values()]
        if not verdicts:
            return "inconclusive"
        return max(verdicts, key=lambda v: RANK.get(v, 1))

    def _exit_code(self, outcome: str, verdict: str) -> int:
        if self._stop_signal:
            return EXIT_INTERRUPTED.get(self._stop_signal, 130)
        if outcome == "error" or any(r["outcome"] == "error" for r in self.ended.values()):
            return 4
        return EXIT.get(verdict, 5)

    def _attempt(self, action, what: str) -> None:
        for attempt in range(3):
            try:
                action()
                return
            except Exception as exc:  # noqa: BLE001 - the end of the day must go on; the failure is journaled
                self.journal.append("teardown_error", step=what, attempt=attempt + 1, error=str(exc))
                time.sleep(0.5)

    # ---- people ----------------------------------------------------------------------------

    def _left_after(self, step: int) -> float:
        return self.agenda.remaining_after(step)

    def _clock(self) -> str:
        if self._day_started_mono is None:
            return "   -  "
        return f"{time.monotonic() - self._day_started_mono:6.1f}s"

    def _say(self, text: str) -> None:
        if self.view is not None:  # step names, runbooks and errors may hold a secret: CI logs keep these lines
            self.view.message(scrub(text, self.day.secret_values))

    def _show(self, **changes) -> None:
        base = {"title": self.day.spec.title, "steps": len(self.day.steps), "rehearse": self.rehearse}
        self._status = DayStatus(**{**base, "activity": "waiting", **changes})
        if self.view is not None:
            self.view.update(self._status)


EXIT_SIGNAL = {code: signum for signum, code in EXIT_INTERRUPTED.items()}


def _attach_plan(day: LoadedGameDay, plans: dict[int, Plan], base: Plan) -> Plan:
    """A running system to attach to: every step's services and links must be in it."""
    targets, links = {}, {}
    for plan in plans.values():
        targets.update({t.name: t for t in plan.targets})
        links.update({link.name: link for link in plan.links})
    for name in day.spec.system.links:
        links.setdefault(name, LinkPlan.parse(name))
    base.targets = list(targets.values())
    base.links = list(links.values())
    return base


def _refuse_unskewable(system: System) -> None:
    try:
        from chaos.faults.clock import refuse_unskewable
    except ImportError:  # no clock faults in this build
        return
    refuse_unskewable(system)

