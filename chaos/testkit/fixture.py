"""What the ``chaos`` fixture hands one test (``Chaos``): faults as contexts that always revert, loads
in Locust's own process with phases that follow the faults, waits, and at the end a run dir with
journal, samples and reports."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from chaos import __version__, ledger, spec
from chaos.errors import EnvironmentProblem
from chaos.faults import FaultAdapter
from chaos.journal import Journal
from chaos.links import Link
from chaos.hypotheses import HypothesisPlan
from chaos.plan import FaultPlan, LoadPlan, Plan, ReportPlan
from chaos.results import LoadResult, ResultPolicy
from chaos.signals import shielded
from chaos.system import host_facts
from chaos.testkit.load_results import load_result, merge_samples
from chaos.testkit.pool import RunningSystem
from chaos.testkit.usage import UsageProblem


FIRST_SAMPLE_TIMEOUT = 60.0
DEFAULT_MAX_LOAD = 600.0


class FaultContext:
    """One fault, injected on ``__enter__`` (or ``inject()``) and reverted on ``__exit__`` (or
    ``revert()``) whatever ended the block: an assertion, an error, KeyboardInterrupt. Both are
    idempotent; the test's teardown reverts anything still injected. A fault that changes while
    active (a ramp, a crash loop, a drift) or reverts by itself (``restart_after``) has a timer
    thread for that, stopped on revert."""

    def __init__(self, chaos: "Chaos", plan: FaultPlan, adapter: FaultAdapter, revert_after: float | None = None):
        self.chaos, self.plan, self.adapter = chaos, plan, adapter
        self.revert_after = revert_after
        self._stop = threading.Event()
        self._timer: threading.Thread | None = None

    @property
    def id(self) -> str:
        return self.plan.id

    @property
    def active(self) -> bool:
        return self.plan.id in self.chaos.active

    def inject(self) -> "FaultContext":
        self.chaos._inject(self)
        return self

    def revert(self, reason: str = "context exit") -> None:
        self._stop.set()
        self.chaos._revert(self, reason)
        if self._timer is not None and self._timer is not threading.current_thread():
            self._timer.join(timeout=90)

    def __enter__(self) -> "FaultContext":
        return self.inject()

    def __exit__(self, *exc_info) -> bool:
        self.revert()
        return False

    def _start_timer(self) -> None:
        steps = [(u["after"], "update", u["set"]) for u in self.plan.updates]
        if self.revert_after is not None:
            steps.append((self.revert_after, "revert", None))
        if not steps:
            return
        self._stop.clear()
        started = time.monotonic()

        def run() -> None:
            for after, action, change in sorted(steps, key=lambda s: s[0]):
                if self._stop.wait(max(0.0, started + after - time.monotonic())):
                    return
                if action == "update":
                    self.chaos._update(self, change)
                else:
                    self.chaos._revert(self, "restart_after")
                    return

        self._timer = threading.Thread(target=run, name=f"chaos-fault-{self.id}", daemon=True)
        self._timer.start()

    def __repr__(self) -> str:
        return f"<fault {self.plan.id} {self.plan.name} ({'active' if self.active else 'inactive'})>"


@dataclass
class _Phase:
    base: str
    name: str


class Chaos:
    """What the ``chaos`` fixture hands a test: faults as context managers, load, waits, and at the
    end a run dir with journal, samples and reports (``close``)."""

    def __init__(self, system: RunningSystem, run_dir: Path, name: str, description: str = "", seed: int = 0,
                 policy: ResultPolicy | None = None, formats=("html", "md", "junit", "json")):
        self.system = system
        self.run_dir = Path(run_dir)
        self.name = name
        self.description = description
        self.seed = seed
        self.formats = tuple(formats)
        self.run_id = self.run_dir.name
        self.report = self.run_dir / "report.html"
        self.policy = policy or ResultPolicy()
        self.policy.report = self.report
        self.policy.record = self._record_expectation
        self.faults: list[FaultContext] = []
        self.active: dict[str, FaultContext] = {}
        self.loads: list[LoadRun] = []
        self.expectations: list[HypothesisPlan] = []
        self.records: list[dict] = []
        self.closed = False
        self._lock = threading.RLock()  # fault timers (restart_after, ramps) act from their own threads
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.secret_values = list(getattr(system.plan, "secret_values", None) or [])
        self.journal = Journal(self.run_dir / "journal.jsonl", self.secret_values)
        # how `chaos clean` finds this test's faults if pytest is killed; its containers carry the system's run id
        ledger.register(self.run_id, self.run_dir, system_run_id=system.run_id, what="pytest test")
        self._log("run_started", run_id=self.run_id, experiment=name, harness_version=__version__, git_rev=None,
                  seed=seed, host=host_facts(system.system.client),
                  system_run_id=system.run_id, test=description)
        for event in system.events:
            self._log(event["event"], **{k: v for k, v in event.items() if k != "event"})

    def _log(self, event: str, **fields) -> dict:
        with self._lock:
            record = self.journal.append(event, **fields)
            self.records.append(record)
            return record

    # -- faults

    def fault(self, type: str, *, revert_after=None, **fields) -> FaultContext:
        """Any fault of the experiment language, with its YAML fields: ``chaos.fault("timeout",
        link="api -> redis:6379", timeout="2s")``, ``chaos.fault("cpu", service="api", cpus=0.2)``.
        Not injected until entered. A fault that changes while active (ramp, crash_loop, drift,
        strobe) takes ``duration=``, the span its changes are laid over."""
        from pydantic import TypeAdapter, ValidationError

        from chaos.units import parse_duration

        if "repeat" in fields or "times" in fields:
            raise UsageProblem(f"fault {type!r}: repeat/times belong to experiments; in a test, use a loop of blocks")
        try:
            model = TypeAdapter(spec.Fault).validate_python({"type": type, "duration": 0, **fields})
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc'][1:])) or 'type'}: {e['msg']}" for e in exc.errors())
            raise UsageProblem(f"fault {type!r}: {problems}") from None
        problems = [f"{'.'.join(map(str, path)) or type}: {message}" for path, message in model.problems()
                    if not (path == ("duration",) and "duration" not in fields)]
        problems += self._unknown_services(model)
        if problems:
            raise UsageProblem(f"fault {type!r}: {'; '.join(problems)}")
        _family(model.family)
        params = model.params()
        if model.family == "http":  # rules on one link are checked in the order the test made them; a fixed seed
            params = {**params, "order": len(self.faults), "seed": 0}
        plan = FaultPlan(id=f"f{len(self.faults) + 1}", name=f"{model.type} on {model.target()}", kind=model.type,
                         family=model.family, target=model.target(), params=params, at=0.0,
                         duration=model.duration, updates=model.updates())
        if plan.link and plan.link not in self.system.links:
            link = Link.parse(plan.target)
            self.system.link(link.source, link.target, link.port)  # raises the "not routed" explanation
        from chaos import faults

        context = FaultContext(self, plan, faults.build(plan, self.system.system),
                               parse_duration(revert_after) if revert_after is not None else None)
        self.faults.append(context)
        return context

    def _unknown_services(self, model) -> list[str]:
        services = set(self.system.services)
        named = [model.service, *(model.services or [])] if isinstance(model, spec.TargetedFault) else []
        if isinstance(model, (spec.ClockSkew, spec.Dns)):
            named.append(model.service)
        if isinstance(model, spec.Dns) and model.answer_kind() == "service":
            named.append(model.answer)
        if isinstance(model, spec.Partition):
            named += [name for _, name in model.services()]
        problems = [f"{name!r} is not a service of system {self.system.name} (services: {', '.join(sorted(services))})"
                    for name in named if name and name not in services]
        if isinstance(model, spec.ClockSkew) and model.service in services:
            target = next(t for t in self.system.plan.targets if t.name == model.service)
            if target.clock != "skewable":
                problems.append(f"service {model.service!r} is not declared skewable: add `clock: skewable` to it in "
                                f"the compose file (the system must start it with libfaketime preloaded)")
        if isinstance(model, spec.Dns) and model.service in services and \
                model.service not in self.system.plan.dns_services:
            problems.append(f"service {model.service!r} does not resolve through a DNS server of the run: start the "
                            f"system with SystemSpec.from_compose(..., dns=[{model.service!r}])")
        return problems

    def link_fault(self, type: str, source: str, target: str, *, port: int | None = None, **fields) -> FaultContext:
        """A Toxiproxy fault on the routed link ``source -> target`` (any of latency, bandwidth,
        slow_close, timeout, reset_peer, slicer, limit_data, down)."""
        return self.fault(type, link=self.system.link(source, target, port), **fields)

    def latency(self, source: str, target: str, ms, jitter=0, *, port: int | None = None,
                stream: str = "downstream", toxicity=1.0) -> FaultContext:
        """Delay ``target``'s answers to ``source`` by ``ms`` (± ``jitter``); ``stream="upstream"``
        delays the requests instead, ``"both"`` both ways."""
        return self.link_fault("latency", source, target, port=port, latency=ms, jitter=jitter, stream=stream,
                               toxicity=toxicity)

    def bandwidth(self, source: str, target: str, rate, *, port: int | None = None, stream: str = "downstream",
                  toxicity=1.0) -> FaultContext:
        """Cap ``target -> source`` throughput at ``rate`` (KB/s, or ``"64KB/s"``)."""
        return self.link_fault("bandwidth", source, target, port=port, rate=rate, stream=stream, toxicity=toxicity)

    def down(self, source: str, target: str, *, port: int | None = None) -> FaultContext:
        """Take the link down: its listener stops, open connections drop, new ones are refused."""
        return self.link_fault("down", source, target, port=port)

    def http(self, source: str, target: str, *, port: int | None = None, status: int | None = None,
             abort: str | None = None, delay=None, probability=1.0, first: int | None = None,
             every: int | None = None, method: str | None = None, path: str | None = None,
             path_regex: str | None = None, headers: dict | None = None, query: dict | None = None,
             **fields) -> FaultContext:
        """An http fault on the HTTP link ``source -> target`` (routed with ``protocol: http``): ``chaos.http("api",
        "inventory", status=503, probability="20%", path="/stock/*")``. ``method``, ``path``, ``path_regex``,
        ``headers`` and ``query`` say which requests; other keys (``body``, ``delay_at``, ``rewrite``, ...) are
        the experiment's."""
        match = {key: value for key, value in (("method", method), ("path", path), ("path_regex", path_regex),
                                               ("headers", headers), ("query", query)) if value}
        given = {key: value for key, value in (("status", status), ("abort", abort), ("delay", delay),
                                               ("first", first), ("every", every)) if value is not None}
        return self.fault("http", link=self.system.link(source, target, port), match=match,
                          probability=probability, **given, **fields)

    def partition(self, *groups, isolate=None, bridge: str | None = None, one_way: bool = False) -> FaultContext:
        """Cut groups of services from each other (iptables in their namespaces): ``partition(["api"],
        ["redis"])``, ``partition("api", "redis")``, or ``partition(isolate="redis")``."""
        fields: dict = {"direction": "one-way" if one_way else "both"}
        if isolate is not None:
            fields["isolate"] = isolate
        else:
            fields["groups"] = [[group] if isinstance(group, str) else list(group) for group in groups]
        if bridge:
            fields["bridge"] = bridge
        return self.fault("partition", **fields)

    def kill(self, service: str, *, signal: str = "SIGKILL", restart_after=None) -> FaultContext:
        """Signal the service's main process; it is started again (and waited for until healthy) on exit,
        or after ``restart_after`` ("5s") if that comes first."""
        return self.fault("kill", service=service, signal=signal, revert_after=restart_after)

    def stop(self, service: str, *, grace="10s", restart_after=None) -> FaultContext:
        return self.fault("stop", service=service, grace=grace, revert_after=restart_after)

    def restart(self, service: str, *, grace="10s") -> FaultContext:
        return self.fault("restart", service=service, grace=grace)

    def pause(self, service: str, *, resume_after=None) -> FaultContext:
        """Freeze every process of the service (cgroup freezer) until exit (or ``resume_after``)."""
        return self.fault("pause", service=service, revert_after=resume_after)

    def skew(self, service: str, offset=None, *, drift=None, strobe: dict | None = None, duration=None) -> FaultContext:
        """Shift the wall clock of a ``clock: skewable`` service: ``skew("inventory", "+30s")``; or
        ``drift=1.05`` / ``strobe={"delta": "2s", "period": "1s"}`` laid over ``duration``."""
        fields = {key: value for key, value in (("offset", offset), ("drift", drift), ("strobe", strobe),
                                                ("duration", duration)) if value is not None}
        return self.fault("clock_skew", service=service, **fields)

    def dns(self, service: str, name: str, answer: str | None = None, *, delay=None, probability=1.0) -> FaultContext:
        """``service``'s lookups of ``name`` (exact or a glob) get ``answer`` (nxdomain, servfail, refused,
        timeout, an address or a service's address) or come ``delay`` late, on ``probability`` of them:
        ``with chaos.dns("api", "inventory", "nxdomain"):``. The system must have been started with the
        service in ``dns=[...]``."""
        fields = {key: value for key, value in (("answer", answer), ("delay", delay)) if value is not None}
        return self.fault("dns", service=service, name=name, probability=probability, **fields)

    def _inject(self, fault: FaultContext) -> None:
        with self._lock:
            if fault.id in self.active:
                return
            plan = fault.plan
            # adapters that choose containers or read limits to restore do it now, so the ledger holds it
            params = fault.adapter.prepare()
            self._log("fault_ledgered", fault_id=plan.id, kind=plan.kind, family=plan.family, target=plan.target,
                      params=params)
            self.active[plan.id] = fault
            try:
                fault.adapter.inject()
            except BaseException:
                self._revert(fault, "inject failed")
                raise
            self._log("fault_injected", fault_id=plan.id)
            self._phases_follow_faults()
            fault._start_timer()

    def _update(self, fault: FaultContext, change: dict) -> None:
        with self._lock:
            if fault.id in self.active:
                fault.adapter.update(change)
                self._log("fault_updated", fault_id=fault.id, set=change)

    def _revert(self, fault: FaultContext, reason: str) -> None:
        with self._lock, shielded():  # a Ctrl-C must not cut a revert short: it comes through once it is done
            if fault.id not in self.active:
                return
            self._log("fault_reverting", fault_id=fault.id, reason=reason)
            for attempt in range(3):
                try:
                    outcome = fault.adapter.revert() or {}
                    break
                except Exception as exc:  # noqa: BLE001 - retried; the last failure is raised
                    self._log("revert_error", fault_id=fault.id, attempt=attempt + 1, error=str(exc))
                    if attempt == 2:
                        raise
                    time.sleep(0.5)
            del self.active[fault.id]
            self._log("fault_reverted", fault_id=fault.id, reason=reason, **outcome)
            self._phases_follow_faults()

    def _phases_follow_faults(self) -> None:
        for load in self.loads:
            if load.running:
                load.follow_faults()

    # -- load

    def load(self, users: int | None = None, duration="10s", *, warmup="1s", **options) -> LoadResult:
        """Drive load for ``duration`` (after ``warmup``) and return its result. Its phase is ``fault``
        when a fault is active, else ``baseline``. Options as in an experiment's ``load:`` section
        (locustfile, user_classes, scenario, spawn_rate, model, rate, ...)."""
        from chaos.units import parse_duration

        seconds = parse_duration(duration)
        # Locust's own bound (--run-time) is a safety net only: generous, the harness stops it first
        run = self._new_load(users, warmup, parse_duration(warmup) + seconds + FIRST_SAMPLE_TIMEOUT + 10.0, options)
        try:
            run.start()
            run.sleep(seconds)
        finally:
            run.stop()
        return run.result

    def background_load(self, users: int | None = None, *, warmup="1s", max_duration=DEFAULT_MAX_LOAD,
                        **options) -> "LoadRun":
        """Load that runs while the ``with`` block does; phases follow the faults (``baseline`` before
        the first, ``fault`` while any is active, ``recovery`` after). ``.result`` once the block ends."""
        from chaos.units import parse_duration

        return self._new_load(users, warmup, parse_duration(max_duration), options)

    def wait(self, duration) -> None:
        """Sleep, checking that every running load is still alive."""
        from chaos.units import parse_duration

        deadline = time.monotonic() + parse_duration(duration)
        running = [load for load in self.loads if load.running]
        while True:
            for load in running:
                load.check_alive()
            left = deadline - time.monotonic()
            if left <= 0:
                return
            time.sleep(min(0.2, left))

    def wait_until(self, condition, timeout="60s", interval="0.2s", message: str | None = None):
        """Poll ``condition()`` until it returns something truthy (returned); exceptions it raises count
        as not yet. Fails with ``message`` (or the last exception) after ``timeout``."""
        from chaos.units import parse_duration

        deadline = time.monotonic() + parse_duration(timeout)
        last_error = None
        while True:
            try:
                value = condition()
                if value:
                    return value
            except Exception as exc:  # noqa: BLE001 - "not yet"; the last one is reported on timeout
                last_error = exc
            for load in self.loads:
                if load.running:
                    load.check_alive()
            if time.monotonic() > deadline:
                detail = f" (last error: {last_error.__class__.__name__}: {last_error})" if last_error else ""
                raise TimeoutError(f"{message or 'condition not met'} within {parse_duration(timeout):g}s{detail}")
            time.sleep(parse_duration(interval))

    def _new_load(self, users, warmup, run_time: float, options: dict) -> "LoadRun":
        from chaos.units import parse_duration

        if any(load.running for load in self.loads):
            raise UsageProblem("a load is already running in this test: one at a time")
        load = self._load_section(users, options)
        run = LoadRun(self, len(self.loads) + 1, load, parse_duration(warmup), run_time)
        self.loads.append(run)
        return run

    def _load_section(self, users, options: dict) -> LoadPlan:
        from pydantic import ValidationError

        defaults = {k: v for k, v in self.system.resolved.load.items()
                    if k in spec.Load.model_fields and v is not None and k != "target"}
        if "scenario" in options or "locustfile" in options:  # the test's own load replaces the default one
            for key in ("locustfile", "user_classes", "scenario"):
                defaults.pop(key, None)
        fields = {**defaults, **options, "target": self.system.resolved.edge or "unset:1"}
        if users is not None:
            fields["users"] = users
        fields.setdefault("spawn_rate", fields.get("users", 10))
        if not fields.get("locustfile") and not fields.get("scenario"):
            raise UsageProblem("no load to drive: pass locustfile= or scenario= to chaos.load(), or give the "
                               "system a locustfile (SystemSpec(locustfile=...) or chaos_locustfile)")
        try:
            model = spec.Load.model_validate(fields)
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'load'}: {e['msg']}" for e in exc.errors())
            raise UsageProblem(f"load: {problems}") from None
        return LoadPlan.from_spec(model, str(Path(model.locustfile).resolve()) if model.locustfile else None)

    # -- expectations and the end

    def _record_expectation(self, hypothesis: HypothesisPlan) -> None:
        self.expectations.append(hypothesis)

    def close(self, outcome: str = "completed", error: str | None = None) -> dict:
        """Revert every fault still injected, stop any load, write plan, samples and reports. Returns
        the written report files by format."""
        if self.closed:
            return {}
        self.closed = True
        errors: list[Exception] = []
        for fault in reversed(list(self.active.values())):
            try:
                fault.revert("teardown")
            except Exception as exc:  # noqa: BLE001 - the rest must still be cleaned and written; raised below
                errors.append(exc)
        for load in self.loads:
            try:
                load.stop()
            except Exception as exc:  # noqa: BLE001 - as above
                errors.append(exc)
        if errors:
            outcome, error = "error", error or str(errors[0])
        if self.loads:
            self._log("load_stopped")
        self._log("run_ended", outcome=outcome, error=error)
        self.journal.close()
        if not self.active:  # a fault that could not be reverted stays registered for `chaos clean`
            ledger.unregister(self.run_id)
        self._write_plan()
        merge_samples([load.parquet for load in self.loads], self.run_dir / "samples.parquet")
        from chaos.report import render_all

        written = render_all(self.run_dir, formats=self.formats, seed=self.seed, secrets=self.secret_values)
        if errors:
            raise errors[0]
        return written

    def _write_plan(self) -> None:
        plan = Plan(experiment=self.name, description=self.description, run_id=self.run_id, seed=self.seed,
                    source_file="", targets=self.system.plan.targets, links=self.system.plan.links,
                    load=self.loads[0].section if self.loads else None, phases={}, timeline=[],
                    faults=[f.plan for f in self.faults], steady_state=self.expectations, abort=[],
                    report=ReportPlan(str(self.run_dir.parent.parent), list(self.formats)),
                    secret_values=self.secret_values)
        data = plan.to_json()
        data["system_run_id"] = self.system.run_id
        (self.run_dir / "plan.json").write_text(json.dumps(data, indent=2) + "\n")


def _family(name: str) -> None:
    """Faults of a family that is not part of this version yet fail loudly and by name."""
    from importlib.util import find_spec

    if find_spec(f"chaos.faults.{name}") is None:
        raise NotImplementedError(f"the {name!r} fault family (chaos/faults/{name}.py) is not in this version of "
                                  f"chaos yet")


class LoadRun:
    """One load in Locust's own process. As a context manager (``background_load``) it runs while the
    block does; ``result`` is ready when it ends."""

    def __init__(self, chaos: Chaos, number: int, section: LoadPlan, warmup: float, run_time: float):
        self.chaos, self.number, self.section = chaos, number, section
        self.warmup, self.run_time = warmup, run_time
        self.process = None
        self.tail = None
        self.phase: _Phase | None = None
        self.names: dict[str, str] = {}
        self.saw_fault = False
        self.started_seq: int | None = None
        self.ended_seq: int | None = None
        self.frame = None
        self._result: LoadResult | None = None

    @property
    def dir(self) -> Path:
        return self.chaos.run_dir / "loads" / str(self.number)

    @property
    def parquet(self) -> Path:
        return self.dir / "samples.parquet"

    @property
    def running(self) -> bool:
        return self.process is not None and self.ended_seq is None

    def __enter__(self) -> "LoadRun":
        self.start()
        return self

    def __exit__(self, *exc_info) -> bool:
        self.stop()
        return False

    def start(self) -> None:
        from chaos.load import LoadProcess, SampleTail

        host = self.chaos.system.edge_url
        self.process = LoadProcess(self.section, host, self.run_time, self.dir, self.chaos.seed + self.number)
        self.tail = SampleTail(self.process.samples_csv)
        self.process.start()
        record = self.chaos._log("load_started", load=self.number, users=self.section.users,
                                 spawn_rate=self.section.spawn_rate, model=self.section.model,
                                 rate=self.section.rate, host=host, pid=self.process.process.pid)
        self.started_seq = record["seq"]
        self._wait_first_sample()
        if self.warmup > 0:
            self._enter(_Phase("warmup", self._name("warmup")))
            self.sleep(self.warmup)
        self.follow_faults()

    def _wait_first_sample(self) -> None:
        deadline = time.monotonic() + FIRST_SAMPLE_TIMEOUT
        while self.tail.poll() == 0 and self.tail.total == 0:
            self.check_alive()
            if time.monotonic() > deadline:
                raise EnvironmentProblem(f"no request completed within {FIRST_SAMPLE_TIMEOUT:.0f}s of starting the "
                                         f"load (see {self.dir / 'logs' / 'locust.log'})")
            time.sleep(0.1)

    def check_alive(self) -> None:
        if self.process is not None and not self.process.running() and self.ended_seq is None:
            log = self.dir / "logs" / "locust.log"
            tail = log.read_text(errors="replace").strip().splitlines()[-5:] if log.exists() else []
            raise EnvironmentProblem(f"the load generator stopped early (it stops by itself after "
                                     f"{self.run_time:g}s): " + (" | ".join(tail) or f"see {log}"))

    def sleep(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            self.check_alive()
            time.sleep(min(0.2, left))

    def follow_faults(self) -> None:
        """Enter the phase the active faults call for (no-op while warming up or if already there)."""
        if self.chaos.active:
            self.saw_fault = True
            base = "fault"
        else:
            base = "recovery" if self.saw_fault else "baseline"
        if self.phase is None or self.phase.base != base:
            self._enter(_Phase(base, self._name(base)))

    def _enter(self, phase: _Phase) -> None:
        if self.phase is not None:
            self.chaos._log("phase_ended", phase=self.phase.name, load=self.number)
        self.phase = phase
        self.chaos._log("phase_started", phase=phase.name, load=self.number)

    def _name(self, base: str) -> str:
        """A phase keeps its plain name unless an earlier load of this test used it already."""
        if base not in self.names:
            used = {name for load in self.chaos.loads if load is not self for name in load.names.values()}
            self.names[base] = base if base not in used else f"{base}-{self.number}"
        return self.names[base]

    def stop(self) -> None:
        if self.process is None or self.ended_seq is not None:
            return
        try:
            if self.phase is not None:
                self.chaos._log("phase_ended", phase=self.phase.name, load=self.number)
                self.phase = None
        finally:
            self.process.stop()
            record = self.chaos._log("load_ended", load=self.number)
            self.ended_seq = record["seq"]
            from chaos.load import csv_to_parquet

            csv_path = self.process.samples_csv
            csv_to_parquet(csv_path, self.parquet)
            csv_path.unlink(missing_ok=True)

    @property
    def result(self) -> LoadResult:
        if self._result is None:
            if self.ended_seq is None:
                raise UsageProblem("the load is still running: its result is ready when the with-block ends")
            self._result = load_result(self)
        return self._result
