"""What a test sees of its load: metrics, recovery times and checks, judged by the same analysis as
YAML hypotheses, and the failure text shared by YAML experiment items and fixture expectations.

Pure: works on an in-memory ``analysis.Run`` (one load's journal slice and samples) and never
touches Docker, Locust or pytest. Policies that need pytest (what an inconclusive check does) come
in as callables.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from chaos import analysis, metrics
from chaos.hypotheses import HypothesisPlan
from chaos.metrics import describe, format_range, format_value, has_interval

OPS = {"<=": "≤", ">=": "≥"}
ALL = "all"  # the one phase that pools every judged phase of a load
WARMUP = "warmup"


class CheckFailed(AssertionError):
    """A check deviated (or could not be judged, when inconclusive checks fail): the text says everything."""


# ---------------------------------------------------------------- planned checks and failure text

def observed_text(check: dict) -> str:
    metric = check["metric"]
    text = format_value(metric, check.get("observed"))
    if check.get("ci_low") is not None and has_interval(metric):
        text += f" (95 % CI {format_range(metric, check['ci_low'], check['ci_high'])})"
    return text


def threshold_text(check: dict) -> str:
    return f"{check['op']} {format_value(check['metric'], check['threshold'])}"


def check_text(check: dict, report: Path | str | None = None, headline: str | None = None) -> str:
    """A check as a failure message: hypothesis, phase, metric, observed value with its interval,
    threshold, why, and where the report is."""
    metric = check["metric"]
    lines = [headline or f"hypothesis {check['hypothesis']!r} {check['verdict']} in phase {check['phase']}",
             f"  metric:    {metric} ({describe(metric, check.get('filter'))})",
             f"  observed:  {observed_text(check)}",
             f"  threshold: {threshold_text(check)}",
             f"  requests:  {check.get('samples', 0):,} in {check.get('windows', 0)} one-second window(s)",
             f"  reason:    {check.get('reason') or '-'}"]
    if report:
        lines.append(f"  report:    {report}")
    return "\n".join(lines)


# ---------------------------------------------------------------- measured values

class Measured(float):
    """A float that knows its metric, its 95 % interval and, when it is NaN or infinite, why.

    Compares with numbers in the metric's own unit (ms for latency, a fraction for rates, seconds for
    times) and with strings as experiments write them: ``result.latency.p99 < "500ms"``,
    ``result.error_rate <= "1%"``. Its repr is what pytest prints in a failed assert.
    """

    metric: str
    ci: tuple[float | None, float | None]
    note: str

    def __new__(cls, value: float | None, metric: str, ci=(None, None), note: str = ""):
        self = super().__new__(cls, math.nan if value is None else float(value))
        self.metric, self.ci, self.note = metric, tuple(ci), note
        return self

    def _other(self, other):
        if isinstance(other, str):
            if self.metric.endswith("_s"):  # recovery_time_s, time_to_degrade_s: durations in seconds
                from chaos.units import parse_duration

                return parse_duration(other)
            return metrics.bound(self.metric, other)
        return other

    def __lt__(self, other):
        return float(self) < self._other(other)

    def __le__(self, other):
        return float(self) <= self._other(other)

    def __gt__(self, other):
        return float(self) > self._other(other)

    def __ge__(self, other):
        return float(self) >= self._other(other)

    def __eq__(self, other):
        return float(self) == self._other(other)

    __hash__ = float.__hash__

    def __repr__(self) -> str:
        if math.isnan(self):
            return f"<{self.metric}: no value{': ' + self.note if self.note else ''}>"
        if math.isinf(self):
            return f"<{self.metric}: never{': ' + self.note if self.note else ''}>"
        if self.metric.endswith("_s"):
            text = f"{float(self):.3g} s"
        else:
            text = format_value(self.metric, float(self))
            if self.ci[0] is not None and has_interval(self.metric):
                text += f" (95 % CI {format_range(self.metric, *self.ci)})"
        return f"<{self.metric} {text}>"

    __str__ = __repr__


class Metrics:
    """The metrics of one phase (or of every judged phase pooled): attributes named as in experiments."""

    def __init__(self, phase: str, metrics: dict | None):
        self.phase = phase
        self._metrics = metrics or {}
        self.latency = Latency(self)

    def get(self, metric: str) -> Measured:
        metrics.metric(metric)  # ValueError naming the known ones
        cell = self._metrics.get(metric)
        if not cell:
            return Measured(None, metric, note=f"no requests in phase {self.phase}")
        note = "" if cell["value"] is not None else f"no requests in phase {self.phase}"
        return Measured(cell["value"], metric, (cell["ci_low"], cell["ci_high"]), note)

    @property
    def count(self) -> Measured:
        return self.get("count")

    @property
    def throughput(self) -> Measured:
        return self.get("throughput")

    @property
    def error_rate(self) -> Measured:
        return self.get("error_rate")

    @property
    def success_rate(self) -> Measured:
        return self.get("success_rate")

    @property
    def status(self) -> dict[str, int]:
        return dict(self._metrics.get("status") or {})

    def __repr__(self) -> str:
        return f"<metrics of {'every judged phase' if self.phase == ALL else 'phase ' + self.phase}>"


class Latency:
    """``metrics.latency.p99`` and friends, in milliseconds."""

    def __init__(self, metrics: Metrics):
        self._metrics = metrics

    def __getattr__(self, name: str) -> Measured:
        if name.startswith("_"):
            raise AttributeError(name)
        return self._metrics.get(f"latency.{name}")

    def __repr__(self) -> str:
        return f"<latency of {'every judged phase' if self._metrics.phase == ALL else 'phase ' + self._metrics.phase}>"


# ---------------------------------------------------------------- a load's result

@dataclass
class ResultPolicy:
    """How a result reports: where its test's report will be, what to record, what inconclusive does."""

    report: Path | None = None
    record: Callable[[HypothesisPlan], None] = lambda hypothesis: None
    inconclusive: Callable[[str, str], None] = lambda reason, full: None  # (one line, whole story)


@dataclass
class LoadResult:
    """One load's requests, judged like an experiment: ``result.error_rate``, ``result.latency.p99``,
    ``result.phase("fault").latency.p50``, ``result.recovery_time``, ``result.expect(...)``.

    Whole-load values pool every phase but warmup. ``phase_names`` maps a phase as the test names it
    (``baseline``, ``fault``, ``recovery``) to its name in the test's journal (a second load's
    phases carry a suffix there, so the test's report keeps loads apart)."""

    run: analysis.Run
    seed: int
    phase_names: dict[str, str] = field(default_factory=dict)
    policy: ResultPolicy = field(default_factory=ResultPolicy)
    _summary: dict | None = field(default=None, repr=False)
    _pooled: Metrics | None = field(default=None, repr=False)

    def __repr__(self) -> str:
        return f"<load result: phases {', '.join(self.phases) or 'none'}; {self.summary['run']['requests']:,} requests>"

    # -- values

    @property
    def summary(self) -> dict:
        if self._summary is None:
            self._summary = analysis.analyse(self.run, seed=self.seed)
        return self._summary

    @property
    def phases(self) -> list[str]:
        """Judged phases of this load, in order (warmup left out)."""
        return [p["name"] for p in self.summary["phases"] if p["name"] != WARMUP]

    def phase(self, name: str) -> Metrics:
        for entry in self.summary["phases"]:
            if entry["name"] == name:
                return Metrics(name, entry["metrics"])
        raise ValueError(f"this load has no phase {name!r} (it has: {', '.join(self.phases) or 'none'})")

    @property
    def pooled(self) -> Metrics:
        if self._pooled is None:
            if len(self.phases) == 1:
                self._pooled = self.phase(self.phases[0])
            else:
                summary = analysis.analyse(_pool_phases(self.run), seed=self.seed)
                entry = next((p for p in summary["phases"] if p["name"] == ALL), None)
                self._pooled = Metrics(ALL, entry["metrics"] if entry else None)
        return self._pooled

    @property
    def count(self) -> Measured:
        return self.pooled.count

    @property
    def throughput(self) -> Measured:
        return self.pooled.throughput

    @property
    def error_rate(self) -> Measured:
        return self.pooled.error_rate

    @property
    def success_rate(self) -> Measured:
        return self.pooled.success_rate

    @property
    def latency(self) -> Latency:
        return self.pooled.latency

    @property
    def faults(self) -> list[dict]:
        return list(self.summary["faults"])

    @property
    def recovery_time(self) -> Measured:
        """Seconds from the last revert during this load until 3 one-second windows in a row are back
        in the baseline band (the slowest fault when several were reverted); infinite when never."""
        return self._fault_time("recovery_time_s", "reverted_s")

    @property
    def time_to_degrade(self) -> Measured:
        """Seconds from an injection until the first window outside the baseline band."""
        return self._fault_time("time_to_degrade_s", "injected_s")

    def _fault_time(self, key: str, needs: str) -> Measured:
        faults = [f for f in self.summary["faults"] if f.get(needs) is not None]
        if not faults:
            verb = "reverted" if needs == "reverted_s" else "injected"
            return Measured(None, key, note=f"no fault was {verb} while this load ran")
        missing = [f for f in faults if f.get(key) is None]
        if missing:
            if key == "time_to_degrade_s" and not missing[0]["note"]:
                return Measured(math.inf, key, note="no window left the baseline band")
            return Measured(math.inf, key, note=missing[0]["note"] or "not seen")
        return Measured(max(f[key] for f in faults), key)

    # -- checks

    def expect(self, metric: str, *, max=None, min=None, phases=None, request: str | None = None,
               name: str | None = None) -> list[dict]:
        """Judge a hypothesis on this load exactly as an experiment's ``steady_state`` entry is judged:
        per phase (default: every phase but warmup), 95 % block-bootstrap intervals. Deviated raises
        CheckFailed with the full story; inconclusive does what the session's policy says
        (skip, xfail or fail). Returns the checks."""
        __tracebackhide__ = True  # a failed expectation shows the test's line and the message, not this code
        metrics.metric(metric)  # ValueError naming the known ones
        if max is None and min is None:
            raise ValueError("give max or min")
        chosen = list(phases) if phases else self.phases
        unknown = [p for p in chosen if p not in self.phases]
        if unknown:
            raise ValueError(f"this load has no phase {', '.join(map(repr, unknown))} "
                             f"(it has: {', '.join(self.phases) or 'none'})")
        hypothesis = HypothesisPlan(name=name or _hypothesis_name(metric, max, min, request), metric=metric,
                                    max=metrics.bound(metric, max), min=metrics.bound(metric, min), phases=chosen,
                                    request=request)
        checks = self._judge(hypothesis)
        self.policy.record(replace(hypothesis, phases=[self.phase_names.get(p, p) for p in chosen]))
        deviated = [c for c in checks if c["verdict"] == "deviated"]
        if deviated:
            raise CheckFailed(_many(deviated, self.policy.report))
        undecided = [c for c in checks if c["verdict"] == "inconclusive"]
        if undecided:
            self.policy.inconclusive(f"inconclusive: {undecided[0]['reason']} (report: {self.policy.report})",
                                     _many(undecided, self.policy.report))
        return checks

    def expect_recovery(self, within) -> Measured:
        """The recovery time, asserted to be at most ``within`` (seconds or "5s")."""
        __tracebackhide__ = True
        from chaos.units import parse_duration

        limit = parse_duration(within)
        value = self.recovery_time
        if math.isnan(value):
            raise CheckFailed(f"no recovery time to judge: {value.note}")
        if not value <= limit:
            raise CheckFailed(f"recovery took longer than {limit:g} s: {value!r}"
                              + (f"\n  report:    {self.policy.report}" if self.policy.report else ""))
        return value

    def _judge(self, hypothesis: HypothesisPlan) -> list[dict]:
        run = replace(self.run, plan={**self.run.plan, "steady_state": [hypothesis.to_json()]})
        return analysis.analyse(run, seed=self.seed)["checks"]


def _hypothesis_name(metric: str, max, min, request) -> str:
    bounds = [f"{OPS['<=']} {format_value(metric, metrics.bound(metric, max))}" if max is not None else "",
              f"{OPS['>=']} {format_value(metric, metrics.bound(metric, min))}" if min is not None else ""]
    return f"{describe(metric, request)} {' and '.join(b for b in bounds if b)}"


def _many(checks: list[dict], report) -> str:
    texts = [check_text(c, report if i == len(checks) - 1 else None) for i, c in enumerate(checks)]
    return "\n".join(texts)


def _pool_phases(run: analysis.Run) -> analysis.Run:
    """The same run with its judged phases (contiguous within one load) as one phase ``all``."""
    phase_events = ("phase_started", "phase_ended")
    judged = [e for e in run.events if e["event"] in phase_events and e.get("phase") != WARMUP]
    events = [e for e in run.events if e not in judged]
    if judged:
        first = next(e for e in judged if e["event"] == "phase_started")
        ends = [e for e in judged if e["event"] == "phase_ended"]
        events.append({**first, "phase": ALL})
        if ends:
            events.append({**ends[-1], "phase": ALL})
        events.sort(key=lambda e: (e.get("seq", 0), e["mono"]))
    return replace(run, events=events, plan={**run.plan, "steady_state": []})
