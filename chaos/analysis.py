"""Run dir -> metrics per phase, steady-state verdicts, recovery times, resilience score.

Pure: reads ``plan.json``, ``journal.jsonl`` and ``samples.parquet`` and nothing else;
the same run dir and seed always give the same summary.

Phases and time
    Spans come from ``chaos/spans.py``: the phase events, with the fault phase judged from the
    first fault in effect to the start of the last revert, contiguous up to the load's stop, so
    every request is judged.  A request belongs to the span in which it *started* (``t_mono``),
    except one still unanswered when the fault took effect: it met the fault and is judged in
    the fault span's first window.  Times in the summary are seconds since ``run_started``.

Waiting and stalls
    A request outstanding across a whole 1 s window (at least half a second long: a span's last
    sliver says nothing) adds a *waiting observation* to that window, its wait so far a lower
    bound on its latency.  It fails when its request failed in the end, past ``load.timeout``, or
    when the window is a stall: nothing at all was answered while requests waited, in a window
    long enough for the baseline's pace to give ``STALL_MIN_ANSWERS`` (5) answers.  An answer after the timeout is a
    failure.  Waiting observations count in every metric but ``count`` and ``throughput`` (how
    many were sent), so a closed-model outage (users hang, few requests) deviates instead of
    reading "too few windows".

Block bootstrap
    Requests close in time are correlated (a slow second makes many slow requests), so
    resampling single requests gives intervals that are far too narrow.  Each phase is
    cut into 1 s windows and the *windows* are resampled with replacement
    (``RESAMPLES`` = 1000 draws, seeded with the plan seed, so a re-render is identical).
    Intervals are 95 % percentile intervals.  Ratios (error rate, mean latency,
    throughput, exceedance fractions) are resampled as sum-of-numerators over
    sum-of-denominators; quantiles from per-window log-spaced histograms (1 % bins,
    interpolated), which keeps a million samples to a few matrix products.

Verdict of one check (hypothesis x phase x bound)
    ``held`` when the whole interval is on the good side of the threshold, ``deviated``
    when the whole interval is on the bad side, ``inconclusive`` when it straddles the
    threshold or there is too little data: fewer than ``MIN_WINDOWS`` (5) windows with
    requests, or, for a quantile q, fewer than ceil(1 / (1 - q)) requests (100 for p99,
    1000 for p99.9): below that the quantile is simply the maximum.  A deviation needs no such
    count: when even the lower end of the interval of the fraction past the bound exceeds 1 - q,
    the quantile is past it, however few the requests.

    Quantile thresholds are judged through an equivalent proportion, which has a sound
    interval at moderate sample counts where a bootstrap of the p99 itself does not:
    ``p_q <= T``  iff  the fraction of requests slower than T is at most 1 - q.  That
    exceedance fraction is block-bootstrapped and judged against 1 - q (for a lower bound
    ``p_q >= T``: the fraction faster than T against q).  The quantile and its own
    bootstrap interval are still reported as the observed value.

    Proportions (error rate, success rate, exceedance fractions) with k events in n
    requests: for 0 < k < n the interval is the union of the block-bootstrap interval
    and the Wilson score interval (the bootstrap collapses when events are rare).  With
    k = 0 the bootstrap interval is [0, 0], which would "prove" anything; the upper end
    is then the rule of three, 3 / n (the one-sided 95 % bound, exactly 1 - 0.05^(1/n)).
    So zero failures hold an error-rate bound of 1 % only from n >= 300 requests, and a
    p99 bound with no request above it also needs n >= 300.  k = n is mirrored
    (lower end 1 - 3/n).

    ``latency.max`` and ``count`` are descriptive (no interval: one request over the
    bound *is* a deviation).  Every check has a 95 % interval on its own; no correction
    across checks is applied, so with many checks an occasional false "deviated" near a
    threshold is possible: set thresholds with margin.

Recovery and degradation, per fault
    The baseline band, per 1 s window: p99 <= max(2 x the median baseline window's p99, that
    + 50 ms) and error rate <= the median baseline window's + 2 percentage points.  A median of
    windows, so a few outlier windows cannot widen it.  Windows are laid from ``fault_injected``
    (resp. the revert's start).  *Time to degrade* is the start of the first of 2 consecutive
    windows outside the band before the revert (with what left it); *recovery time* is the start
    of the first of 3 consecutive windows back in the band after the revert began (before the next
    fault starts); ``None`` if that never happens.  When the baseline sees at least 5 requests per
    second, a window with no request at all counts as outside the band.  A held run whose fault
    left the band says so in the fault's note.  Resolution is one window (1 s).

Resilience score (0-100)
    ``score = 100 x sum_h w_h x (held_h + 0.5 x inconclusive_h) / checks_h / sum_h w_h``
    over hypotheses h with weight w_h (LitmusChaos' weighted probe success); deviated
    checks count 0.  An aborted run scores 0.  No checks: no score (``None``).

Overall verdict
    aborted (an ``abort`` event, or the run ended ``aborted``/``interrupted``) >
    deviated (any check) > inconclusive (any check, no checks, or the run ended with an
    error) > held.

Secrets
    A real plan.json holds no secret values: the runner passes them to the renderers
    (``render_all(..., secrets=)``) and scrubs the samples and Locust's logs before they
    are read (see ``chaos/secrets.py``).  A plan written by other means may list
    ``secrets`` or carry target environments; those strings, and environment values
    whose key looks secret (PASSWORD, TOKEN, SECRET, KEY, ...) or that hold a password
    in a URL, are replaced by ``***`` in the whole summary.  Target environments are
    never copied into the summary.
"""

from __future__ import annotations

import json
import math
import re
import zlib
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from chaos import metrics, rundir
from chaos.metrics import METRICS, QUANTILES, describe, format_range, format_value
from chaos.rundir import RunDirError
from chaos.journal import read_journal_lines, unreadable_notes
from chaos.secrets import ordered, scrub, secret_env_values
from chaos.spans import FAULT_PHASE, WINDOW_S, Segment, assign_segments, judged_segments, planned_segments, run_origin
from chaos.stats import (
    CONFIDENCE,
    LatencyBins,
    grouped_quantiles,
    histogram_quantiles,
    percentile_ci,
    proportion_ci,
    ratio_ci,
    resample_weights,
)

SCHEMA = "chaos.summary/1"
RESAMPLES = 1000
MIN_WINDOWS = 5
SENT_METRICS = ("count", "throughput")
STATUS_CLASSES = ("2xx", "3xx", "4xx", "5xx", "none", "other")
RECOVERY_WINDOWS = 3
BAND_FACTOR, BAND_ADD_MS, BAND_ERROR_ADD = 2.0, 50.0, 0.02
DEGRADE_WINDOWS = 2  # consecutive windows outside the band before a fault is called degrading
STALL_MIN_ANSWERS = 5  # answers per window the baseline must give before a silent window counts as a stall
VERDICT_RANK = {"held": 0, "inconclusive": 1, "deviated": 2, "aborted": 3}
EXIT_CODES = {"held": 0, "deviated": 1, "aborted": 3, "inconclusive": 5}
REDACTED = "***"
SAMPLE_COLUMNS = {
    "t_wall": "float64", "t_mono": "float64", "latency_ms": "float64", "name": "object",
    "method": "object", "status": "int32", "success": "bool", "bytes": "int64", "error": "object",
}


@dataclass
class Run:
    plan: dict
    events: list[dict]
    samples: pd.DataFrame
    run_dir: Path
    warnings: list[str] = field(default_factory=list)
    probes: pd.DataFrame | None = None  # probes.parquet, when the experiment has probes
    unreadable: list[str] = field(default_factory=list)  # "journal.jsonl:N: ...": lines it could not read


# ---------------------------------------------------------------- loading

def load_run(run_dir: str | Path) -> Run:
    """Raises ``RunDirError`` (one line) for a run dir this harness cannot read (see ``chaos.rundir``)."""
    run_dir = Path(run_dir)
    missing = rundir.missing_files(run_dir)
    if missing:
        raise RunDirError(rundir.missing_text(run_dir, missing))
    events, unreadable = _read_journal(run_dir / "journal.jsonl")  # first: its version says how to read the rest
    plan = _read_plan(run_dir / "plan.json")
    samples, more = _read_samples(run_dir)
    probes = _read_probes(run_dir / rundir.PROBES_PARQUET)
    return Run(plan=plan, events=events, samples=samples, run_dir=run_dir, warnings=unreadable + more, probes=probes,
               unreadable=unreadable)


def _read_plan(path: Path) -> dict:
    try:
        plan = json.loads(path.read_bytes().decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise RunDirError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise RunDirError(f"{path}: invalid JSON at line {exc.lineno}: {exc.msg}") from None
    if not isinstance(plan, dict):
        raise RunDirError(f"{path}: a JSON {type(plan).__name__}, not the plan object a run writes")
    return plan


def _read_parquet(path: Path, needed: tuple[str, ...]) -> pd.DataFrame:
    """A Parquet file of the run dir with the columns analysis needs; RunDirError (one line) otherwise."""
    try:
        frame = pd.read_parquet(path)
    except Exception as exc:  # noqa: BLE001 - a damaged file raises pyarrow's own error types (ArrowInvalid, OSError)
        raise RunDirError(f"{path}: not a Parquet file this harness can read ({exc.__class__.__name__})") from None
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise RunDirError(f"{path}: missing column(s) {', '.join(missing)}")
    return frame


def _read_probes(path: Path) -> pd.DataFrame | None:
    """Probe results shaped as samples (one row per try, named by probe), so one judge serves both."""
    if not path.is_file():
        return None
    frame = _read_parquet(path, ("t_wall", "t_mono", "latency_ms", "probe", "success", "error"))
    return pd.DataFrame({"t_wall": frame["t_wall"], "t_mono": frame["t_mono"], "latency_ms": frame["latency_ms"],
                         "name": frame["probe"], "method": "PROBE", "status": 0, "success": frame["success"],
                         "bytes": 0, "error": frame["error"]})


def _read_journal(path: Path) -> tuple[list[dict], list[str]]:
    # a harness killed mid-write leaves a torn last line: the report renders without it, and says which it is
    parsed, unreadable = read_journal_lines(path)
    rundir.check_events(path, parsed)
    events = [e for e in rundir.upgrade_events(parsed) if "mono" in e]
    timeless = len(parsed) - len(events)
    events.sort(key=lambda e: (e.get("seq", 0), e["mono"]))
    warnings = unreadable_notes(path, unreadable)
    if timeless:
        warnings.append(f"{path.name}: skipped {timeless} event(s) with no time (\"mono\")")
    return events, warnings


def _read_samples(run_dir: Path) -> tuple[pd.DataFrame, list[str]]:
    path = run_dir / rundir.SAMPLES_PARQUET
    if path.is_file():
        frame, warnings = _read_parquet(path, ("t_mono", "latency_ms", "success")), []
    elif (run_dir / rundir.SAMPLES_CSV).is_file():  # a run killed before it turned its samples into Parquet
        from chaos.load import samples_table

        frame = samples_table(run_dir / rundir.SAMPLES_CSV).to_pandas()
        warnings = [f"{path.name} is missing: {len(frame)} request(s) read from {rundir.SAMPLES_CSV} "
                    "(the run did not finish)"]
    else:
        return _empty_samples(), [f"{path.name} is missing: no requests to judge"]
    for column in SAMPLE_COLUMNS:
        if column not in frame.columns:
            frame[column] = _empty_samples()[column].reindex(frame.index)
    frame = frame.sort_values("t_mono", kind="stable").reset_index(drop=True)
    return frame, warnings


def _empty_samples() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=t) for c, t in SAMPLE_COLUMNS.items()})


# ---------------------------------------------------------------- phases

def _status_classes(status: np.ndarray) -> dict[str, int]:
    hundreds = status // 100
    counts = {f"{h}xx": int(np.count_nonzero(hundreds == h)) for h in (2, 3, 4, 5)}
    counts["none"] = int(np.count_nonzero(status == 0))
    counts["other"] = int(len(status) - sum(counts.values()))
    return counts


def _seeded_rng(seed: int, key: str) -> np.random.Generator:
    return np.random.default_rng([seed & 0xFFFFFFFF, zlib.crc32(key.encode())])


# ---------------------------------------------------------------- one phase slice

class _Slice:
    """The requests of one phase (optionally one request name), cut into 1 s windows."""

    def __init__(self, lat, ok, status, win, window_durations, bins: LatencyBins, rng, real=None, stalled=None):
        """``real``: which observations are requests (the others are requests still waiting at a window's
        end); ``stalled``: per window, whether nothing was answered while requests waited."""
        self.lat, self.ok, self.status, self.win = lat, ok, status, win
        self.real = np.ones(len(lat), dtype=bool) if real is None else real
        self.durations = window_durations
        self.stalled = np.zeros(len(window_durations), dtype=bool) if stalled is None else stalled
        self.waiting_w = np.zeros(len(window_durations), dtype=np.int64)  # requests unanswered at each window's end
        self.bins = bins
        self.n = len(lat)
        self.requests = int(self.real.sum())
        self.n_w = np.bincount(win, minlength=len(window_durations)).astype(float)
        self.sent_w = np.bincount(win[self.real], minlength=len(window_durations)).astype(float)
        self.windows_with_data = int(np.count_nonzero(self.n_w))
        self.weights = resample_weights(rng, len(window_durations), RESAMPLES)
        self._quantile_samples: np.ndarray | None = None
        self._quantiles: dict[str, float] | None = None

    @property
    def duration(self) -> float:
        return float(self.durations.sum())

    @property
    def enough_windows(self) -> bool:
        return self.windows_with_data >= MIN_WINDOWS

    def count_where(self, mask: np.ndarray) -> np.ndarray:
        return np.bincount(self.win[mask], minlength=len(self.durations)).astype(float)

    def observed(self, metric: str) -> float | None:
        registered = metrics.REGISTRY[metric]
        if metric in SENT_METRICS:  # how many were sent: a waiting observation is not another request
            return registered.of(self.lat[self.real], self.ok[self.real], self.duration)
        if registered.quantile is None or self.n == 0:
            return registered.of(self.lat, self.ok, self.duration)
        if self._quantiles is None:  # one partial sort for all quantiles
            self._quantiles = dict(zip(QUANTILES, np.quantile(self.lat, list(QUANTILES.values()))))
        return float(self._quantiles[registered.short])

    def interval(self, metric: str) -> tuple[float | None, float | None]:
        if not metrics.has_interval(metric):
            value = self.observed(metric)
            return value, value
        if not self.enough_windows:
            return None, None
        if metric == "throughput":
            return ratio_ci(self.weights, self.sent_w, self.durations)
        if metric == "error_rate":
            return proportion_ci(self.weights, self.count_where(~self.ok), self.n_w)
        if metric == "success_rate":
            return proportion_ci(self.weights, self.count_where(self.ok), self.n_w)
        if metric == "latency.mean":
            sums = np.bincount(self.win, weights=self.lat, minlength=len(self.durations))
            return ratio_ci(self.weights, sums, self.n_w)
        boot = self._bootstrap_quantiles()[list(QUANTILES).index(metrics.REGISTRY[metric].short)]
        lo, hi = percentile_ci(boot)
        observed = self.observed(metric)
        if lo is None or observed is None:
            return lo, hi
        # histogram bins are 1 % wide: keep the exact observed value inside its interval
        return min(lo, observed), max(hi, observed)

    def _bootstrap_quantiles(self) -> np.ndarray:
        if self._quantile_samples is None:
            codes = self.bins.index(self.lat)
            used, dense = np.unique(codes, return_inverse=True)
            hist = np.bincount(self.win * len(used) + dense, minlength=len(self.durations) * len(used))
            resampled = self.weights @ hist.reshape(len(self.durations), len(used)).astype(float)
            self._quantile_samples = np.array(histogram_quantiles(resampled, used, self.bins, list(QUANTILES.values())))
        return self._quantile_samples

    def metrics(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for metric in METRICS:
            lo, hi = self.interval(metric)
            out[metric] = {"value": self.observed(metric), "ci_low": lo, "ci_high": hi}
        out["status"] = _status_classes(self.status[self.real])
        out["windows"] = self.windows_with_data
        return out


# ---------------------------------------------------------------- analysis

class _Analysis:
    def __init__(self, run: Run, seed: int, requests: bool = True):
        """``requests``: the samples are the load's requests (waiting and stalls are judged); False for probe
        results, whose tries each end within their own timeout."""
        self.run, self.seed, self.plan, self.events = run, seed, run.plan, run.events
        self.warnings = list(run.warnings)
        frame = run.samples
        if not frame["t_mono"].is_monotonic_increasing:
            frame = frame.sort_values("t_mono", kind="stable").reset_index(drop=True)
        self.t = frame["t_mono"].to_numpy(dtype=float)
        self.lat = frame["latency_ms"].to_numpy(dtype=float, na_value=np.nan)
        unknown = ~np.isfinite(self.lat)
        if unknown.any():  # a request with no latency still counts (and usually fails)
            self.warnings.append(f"{int(unknown.sum())} request(s) without a latency were counted as 0 ms")
            self.lat = np.where(unknown, 0.0, self.lat)
        self.lat = np.maximum(self.lat, 0.0)
        self.ok = frame["success"].fillna(False).to_numpy(dtype=bool)
        self.status = frame["status"].fillna(0).to_numpy(dtype=np.int64)
        names = frame["name"].astype(object).where(frame["name"].notna(), "")
        codes, uniques = pd.factorize(names, sort=True)
        self.name_codes, self.names = codes.astype(np.int64), [str(u) for u in uniques]
        self.origin = run_origin(self.events, self.t)
        last_event = max((e["mono"] for e in self.events), default=self.origin)
        last = max(float(self.t.max()) if len(self.t) else last_event, last_event)
        self.planned = planned_segments(self.events, last)
        self.segments = judged_segments(self.events, last)
        self.end = max([last] + [s.end for s in self.segments])
        stops = [e["mono"] for e in self.events if e["event"] == "load_stopped"]
        self.load_end = float(min(stops)) if stops else self.end
        self.phase_names = list(dict.fromkeys(s.phase for s in self.segments))
        self.timeout_ms = _timeout_ms(self.plan) if requests else None
        self.too_late = self._fail_the_unanswered_in_time()
        self.real = np.ones(len(self.t), dtype=bool)
        self.grid_start, self.grid_end = _window_grid(self.segments)
        self.waiting_w = np.zeros(len(self.grid_start), dtype=np.int64)
        self.stalled = np.zeros(len(self.grid_start), dtype=bool)
        self.met_the_fault = 0
        if requests:
            self._add_waiting()
            self.met_the_fault = self._judge_in_flight_with_the_fault()
        self.segment_of = assign_segments(self.t, self.segments)
        self.window_of = self._windows_within_phase()
        self.bins = LatencyBins(self.lat)
        self._slices: dict[tuple[str, str | None], _Slice | None] = {}

    def _fail_the_unanswered_in_time(self) -> int:
        """A request answered after the load's timeout was not answered for its user: a failure."""
        if self.timeout_ms is None:
            return 0
        late = self.ok & (self.lat > self.timeout_ms)
        self.ok = self.ok & ~late
        return int(late.sum())

    def _add_waiting(self) -> None:
        """Requests still outstanding at the end of a window are evidence too: each one waiting across a
        whole window (of at least half a second: a span's last sliver says nothing) adds a *waiting*
        observation to that window, its wait so far a lower bound on its latency. It fails when its request
        failed in the end, past the timeout, or when the window is a stall: nothing at all was answered
        while requests waited, in a window long enough for the baseline's pace to give STALL_MIN_ANSWERS."""
        starts, ends = self.grid_start, self.grid_end
        if not len(starts) or not len(self.t):
            return
        answered_at = self.t + self.lat / 1000.0
        first = np.searchsorted(starts, self.t, side="left")  # the first window starting after the send
        last = np.searchsorted(ends, answered_at, side="right") - 1  # the last one ending before the answer
        spans = np.maximum(last - first + 1, 0)
        request = np.repeat(np.arange(len(self.t)), spans)
        window = first[request] + (np.arange(len(request)) - np.repeat(np.cumsum(spans) - spans, spans))
        whole = (ends - starts)[window] >= WINDOW_S / 2
        request, window = request[whole], window[whole]
        self.waiting_w = self._outstanding_at(ends, answered_at)
        expected = (ends - starts) * self._answers_per_second()
        self.stalled = (np.bincount(window, minlength=len(starts)) > 0) & (self._answers_per_window(answered_at) == 0) \
            & (expected >= STALL_MIN_ANSWERS)
        waited_ms = (ends[window] - self.t[request]) * 1000.0
        ok = self.ok[request] & ~self.stalled[window]
        if self.timeout_ms is not None:
            ok &= waited_ms <= self.timeout_ms
        # at the window's start (plus a hair, so float rounding never moves it to the window before)
        t = np.concatenate([self.t, starts[window] + 1e-6])
        order = np.argsort(t, kind="stable")
        self.t = t[order]
        self.lat = np.concatenate([self.lat, waited_ms])[order]
        self.ok = np.concatenate([self.ok, ok])[order]
        self.status = np.concatenate([self.status, np.zeros(len(request), dtype=np.int64)])[order]
        self.name_codes = np.concatenate([self.name_codes, self.name_codes[request]])[order]
        self.real = np.concatenate([self.real, np.zeros(len(request), dtype=bool)])[order]

    def _outstanding_at(self, moments: np.ndarray, answered_at: np.ndarray) -> np.ndarray:
        """How many requests were sent and not yet answered at each moment (whoever was waiting then)."""
        sent = np.searchsorted(self.t, moments, side="left")
        answered = np.searchsorted(np.sort(answered_at), moments, side="right")
        return np.maximum(sent - answered, 0)

    def _judge_in_flight_with_the_fault(self) -> int:
        """A request sent just before the fault took effect and still unanswered then met the fault: it is
        judged in the fault span (in its first window), not in the baseline it would have polluted."""
        faults = [s for s in self.segments if s.phase == FAULT_PHASE]
        if len(faults) != 1 or not any(e["event"] == "fault_injected" for e in self.events):
            return 0
        fault = faults[0]
        met = self.real & (self.t < fault.start) & (self.t + self.lat / 1000.0 > fault.start)
        if not met.any():
            return 0
        self.t = np.where(met, fault.start + 1e-6, self.t)
        order = np.argsort(self.t, kind="stable")
        for name in ("t", "lat", "ok", "status", "name_codes", "real"):
            setattr(self, name, getattr(self, name)[order])
        return int(met.sum())

    def _answers_per_window(self, answered_at: np.ndarray) -> np.ndarray:
        window = np.searchsorted(self.grid_start, answered_at, side="right") - 1
        inside = (window >= 0) & (answered_at < self.grid_end[np.clip(window, 0, None)])
        return np.bincount(window[inside], minlength=len(self.grid_start))

    def _answers_per_second(self) -> float:
        """The pace at which answers were the rule: the baseline's (else the run's busiest quarter of windows)."""
        baseline = [s for s in self.segments if s.phase == "baseline"]
        if baseline:
            inside = np.zeros(len(self.t), dtype=bool)
            for segment in baseline:
                inside |= (self.t >= segment.start) & (self.t < segment.end)
            seconds = sum(s.end - s.start for s in baseline)
            return float(inside.sum() / seconds) if seconds > 0 else 0.0
        answers = self._answers_per_window(self.t + self.lat / 1000.0)
        return float(np.quantile(answers, 0.75)) / WINDOW_S if len(answers) else 0.0
    def _windows_within_phase(self) -> np.ndarray:
        offsets, seen = [], {}
        for segment in self.segments:
            offsets.append(seen.get(segment.phase, 0))
            seen[segment.phase] = offsets[-1] + segment.n_windows
        win = np.full(len(self.t), -1, dtype=np.int64)
        inside = self.segment_of >= 0
        seg = self.segment_of[inside]
        starts = np.array([s.start for s in self.segments])[seg] if len(seg) else np.empty(0)
        last = np.array([s.n_windows - 1 for s in self.segments], dtype=np.int64)[seg] if len(seg) else 0
        within = np.clip(np.floor((self.t[inside] - starts) / WINDOW_S).astype(np.int64), 0, last)
        win[inside] = within + np.array(offsets, dtype=np.int64)[seg]
        return win

    def phase_slice(self, phase: str, name: str | None = None) -> _Slice | None:
        key = (phase, name)
        if key not in self._slices:
            self._slices[key] = self._build_slice(phase, name)
        return self._slices[key]

    def _build_slice(self, phase: str, name: str | None) -> _Slice | None:
        ids = [i for i, s in enumerate(self.segments) if s.phase == phase]
        if not ids:
            return None
        durations, grid = [], []
        for i in ids:
            seg = self.segments[i]
            full = [WINDOW_S] * (seg.n_windows - 1)
            durations += full + [seg.end - seg.start - WINDOW_S * len(full)]
            first = sum(s.n_windows for s in self.segments[:i])
            grid += range(first, first + seg.n_windows)
        mask = np.isin(self.segment_of, ids)
        if name is not None:
            code = self.names.index(name) if name in self.names else -1
            mask &= self.name_codes == code
        idx = np.flatnonzero(mask)
        rng = _seeded_rng(self.seed, f"{phase}|{name}")
        sl = _Slice(self.lat[idx], self.ok[idx], self.status[idx], self.window_of[idx],
                    np.array(durations, dtype=float), self.bins, rng, self.real[idx], self.stalled[grid])
        sl.waiting_w = self.waiting_w[grid]
        return sl

    def _probe_analysis(self) -> "_Analysis":
        if not hasattr(self, "_probes"):
            run = Run(plan=self.plan, events=self.events, samples=self.run.probes, run_dir=self.run.run_dir)
            self._probes = _Analysis(run, self.seed, requests=False)
        return self._probes

    def rel(self, mono: float | None) -> float | None:
        return None if mono is None else float(mono) - self.origin

    # -- per phase

    def phases(self) -> list[dict]:
        out = []
        for phase in self.phase_names:
            sl = self.phase_slice(phase)
            segments = [s for s in self.segments if s.phase == phase]
            planned = [s for s in self.planned if s.phase == phase]
            out.append({
                "name": phase,
                "segments": [{"start_s": self.rel(s.start), "end_s": self.rel(s.end),
                              "planned_start_s": self.rel(s.planned_start), "planned_end_s": self.rel(s.planned_end)}
                             for s in segments],
                "start_s": self.rel(segments[0].start),
                "end_s": self.rel(segments[-1].end),
                "planned_start_s": self.rel(planned[0].start) if planned else None,
                "planned_end_s": self.rel(planned[-1].end) if planned else None,
                "duration_s": sl.duration,
                "count": sl.requests,
                "waiting": int(sl.n - sl.requests),
                "stalled_s": float(sl.durations[sl.stalled].sum()),
                "metrics": sl.metrics(),
                "requests": self._per_name(phase, sl),
            })
        return out

    def _per_name(self, phase: str, sl: _Slice) -> list[dict]:
        """Per request name, the requests themselves (their own latencies and outcomes); how many waiting
        observations the name added to the phase's checks is given apart."""
        ids = [i for i, s in enumerate(self.segments) if s.phase == phase]
        mask = np.isin(self.segment_of, ids)
        n_names = len(self.names)
        waiting = np.bincount(self.name_codes[mask & ~self.real], minlength=n_names)
        mask &= self.real
        codes = self.name_codes[mask]
        lat, ok, status = self.lat[mask], self.ok[mask], self.status[mask]
        counts = np.bincount(codes, minlength=n_names)
        fails = np.bincount(codes, weights=~ok, minlength=n_names)
        sums = np.bincount(codes, weights=lat, minlength=n_names)
        qs = grouped_quantiles(codes, lat, n_names, [*QUANTILES.values(), 1.0])
        rows = []
        for code in np.flatnonzero(counts):
            n = int(counts[code])
            row = {"name": self.names[code], "count": n, "waiting": int(waiting[code]),
                   "throughput": n / sl.duration if sl.duration > 0 else None,
                   "error_rate": float(fails[code] / n), "success_rate": float(1 - fails[code] / n)}
            for i, key in enumerate(QUANTILES):
                row[f"latency.{key}"] = float(qs[i, code])
            row["latency.max"] = float(qs[-1, code])
            row["latency.mean"] = float(sums[code] / n)
            row["status"] = _status_classes(status[codes == code])
            rows.append(row)
        return rows

    # -- checks

    def checks(self) -> list[dict]:
        out = []
        for entry in self.plan.get("steady_state") or []:
            phases = entry.get("phases") or [p for p in self.phase_names if p != "warmup"]
            bounds = [(op, entry.get(key)) for op, key in (("<=", "max"), (">=", "min"))
                      if entry.get(key) is not None]
            weight = float(entry.get("weight", 1.0) if entry.get("weight") is not None else 1.0)
            share = weight / max(1, len(phases) * len(bounds))
            name_filter = (entry.get("filter") or {}).get("name")
            for phase in phases:
                for op, threshold in bounds:
                    check = self._check(entry, phase, op, float(threshold), name_filter)
                    check["weight"] = share
                    out.append(check)
        return out

    def _check(self, entry: dict, phase: str, op: str, threshold: float, name_filter) -> dict:
        metric = entry.get("metric", "")
        check = {
            "hypothesis": str(entry.get("name") or metric), "metric": metric, "phase": phase,
            "filter": name_filter, "op": op, "threshold": threshold,
            "observed": None, "ci_low": None, "ci_high": None, "verdict": "inconclusive",
            "samples": 0, "waiting": 0, "windows": 0, "evidence": None, "reason": "", "stall": None,
        }
        if metric not in METRICS:
            check["reason"] = f"unknown metric {metric!r}"
            return check
        probe = entry.get("probe")
        if probe:
            check["filter"] = name_filter = f"probe {probe}"
            sl = self._probe_analysis().phase_slice(phase, probe) if self.run.probes is not None else None
        else:
            sl = self.phase_slice(phase, name_filter)
        if sl is None:
            check["reason"] = f"{describe(metric, name_filter)} in phase {phase}: the phase did not run"
            return check
        check["samples"], check["waiting"], check["windows"] = sl.requests, sl.n - sl.requests, sl.windows_with_data
        check["observed"] = sl.observed(metric)
        check["ci_low"], check["ci_high"] = sl.interval(metric)
        check["verdict"], check["evidence"], shortfall = _judge(sl, metric, op, threshold)
        check["reason"] = _check_reason(check, shortfall)
        if not probe:
            stall = self._stall(phase)
            if stall:
                check["stall"] = stall
                check["reason"] += f": {stall['text']}"
        return check

    def _stall(self, phase: str) -> dict | None:
        """The longest run of windows in which nothing was answered while requests waited, in words."""
        sl = self.phase_slice(phase)
        if sl is None or not sl.stalled.any():
            return None
        runs = np.diff(np.flatnonzero(np.diff(np.concatenate([[0], sl.stalled.astype(int), [0]]))))[::2]
        seconds = float(runs.max()) * WINDOW_S
        waiting = int(sl.waiting_w[sl.stalled].max())
        load = self.plan.get("load") or {}
        users = load.get("users") if load.get("model", "closed") == "closed" else None
        who = f"{waiting} of {users} users waiting" if users else f"up to {waiting} requests waiting"
        return {"seconds": seconds, "waiting": waiting,
                "text": f"no answer for {seconds:.0f} s, {who}"}

    # -- faults

    def baseline_band(self) -> dict | None:
        """What the baseline looked like, window by window: the median window's p99 and error rate, which a
        few outlier windows cannot move, widened by a floor (BAND_FACTOR x, + BAND_ADD_MS; + BAND_ERROR_ADD)."""
        sl = self.phase_slice("baseline")
        if sl is None or sl.n == 0:
            return None
        used = sl.n_w > 0
        window_p99 = grouped_quantiles(sl.win, sl.lat, len(sl.durations), [0.99])[0][used]
        window_errors = (sl.count_where(~sl.ok) / np.maximum(sl.n_w, 1))[used]
        p99, err = float(np.median(window_p99)), float(np.median(window_errors))
        rate = sl.observed("throughput") or 0.0
        return {
            "latency_p99_ms": max(p99 * BAND_FACTOR, p99 + BAND_ADD_MS),
            "error_rate": min(1.0, err + BAND_ERROR_ADD),
            "empty_window_is_bad": rate * WINDOW_S >= STALL_MIN_ANSWERS,
            "from": {"median_window_p99_ms": p99, "median_window_error_rate": err, "windows": int(used.sum())},
        }

    def _window_states(self, start: float, stop: float, band: dict) -> tuple[np.ndarray, list[str]]:
        """Per 1 s window laid from start: True = inside the baseline band; and why each window is outside."""
        n = max(0, math.ceil((stop - start) / WINDOW_S - 1e-9))
        if n == 0:
            return np.zeros(0, dtype=bool), []
        lo, hi = np.searchsorted(self.t, [start, stop])
        group = np.floor((self.t[lo:hi] - start) / WINDOW_S).astype(np.int64)
        counts = np.bincount(group, minlength=n)
        fails = np.bincount(group, weights=~self.ok[lo:hi], minlength=n)
        p99 = grouped_quantiles(group, self.lat[lo:hi], n, [0.99])[0]
        with np.errstate(invalid="ignore", divide="ignore"):
            err = fails / counts
            slow, failing = p99 > band["latency_p99_ms"], err > band["error_rate"]
        empty = (counts == 0) & band["empty_window_is_bad"]
        why = ["nothing sent or answered" if empty[i]
               else f"p99 {format_value('latency.p99', p99[i])} over the band's "
                    f"{format_value('latency.p99', band['latency_p99_ms'])}" if slow[i]
               else f"error rate {format_value('error_rate', err[i])} over the band's "
                    f"{format_value('error_rate', band['error_rate'])}" if failing[i] else ""
               for i in range(n)]
        good = np.where(counts > 0, ~slow & ~failing, not band["empty_window_is_bad"])
        return good, why

    def faults(self) -> list[dict]:
        ledger: dict[str, dict] = {}
        planned = {f.get("id"): f for f in self.plan.get("faults") or []}
        for fid, fault in planned.items():
            ledger[fid] = {"id": fid, "kind": fault.get("kind"), "target": fault.get("target"),
                           "params": fault.get("params") or {}, "injected": None, "reverted": None,
                           "reverting": None, "revert_reason": None}
        for event in self.events:
            fid = event.get("fault_id")
            if fid is None:
                continue
            entry = ledger.setdefault(fid, {"id": fid, "kind": None, "target": None, "params": {},
                                            "injected": None, "reverted": None, "reverting": None,
                                            "revert_reason": None})
            kind = event["event"]
            if kind == "fault_ledgered":
                for key in ("kind", "target"):
                    entry[key] = event.get(key) or entry[key]
                entry["params"] = event.get("params") or entry["params"]
            elif kind == "fault_injected" and entry["injected"] is None:
                entry["injected"] = float(event.get("in_effect_mono", event["mono"]))
            elif kind == "fault_reverting":
                entry["reverting"] = float(event["mono"])
            elif kind == "fault_reverted":
                entry["reverted"] = float(event["mono"])
                entry["revert_reason"] = event.get("reason")
        band = self.baseline_band()
        injections = sorted(e["injected"] for e in ledger.values() if e["injected"] is not None)
        return [self._fault_summary(entry, band, injections) for entry in ledger.values()]

    def _fault_summary(self, entry: dict, band: dict | None, injections: list[float]) -> dict:
        injected, reverted = entry["injected"], entry["reverted"]
        out = {
            "id": entry["id"], "kind": entry["kind"], "target": entry["target"],
            "params": entry["params"], "injected_s": self.rel(injected),
            "reverted_s": self.rel(reverted), "reverting_s": self.rel(entry["reverting"]),
            "revert_reason": entry["revert_reason"],
            "injected": injected is not None,
            "reverted": reverted is not None or injected is None,
            "time_to_degrade_s": None, "recovery_time_s": None, "note": "",
        }
        if injected is None:
            out["note"] = "never injected"
            return out
        if band is None:
            out["note"] = "no baseline phase with requests: no band to compare against"
            return out
        reverting = entry["reverting"] if entry["reverting"] is not None else reverted
        states, why = self._window_states(injected, reverting if reverting is not None else self.load_end, band)
        degraded = _first_run(~states, min(DEGRADE_WINDOWS, len(states)))
        if degraded is not None:
            out["time_to_degrade_s"] = float(degraded * WINDOW_S)
            out["degraded_by"] = why[degraded]
        if reverting is None:
            out["note"] = "no fault_reverted event in the journal"
            return out
        later = [t for t in injections if t > reverting]
        states, _ = self._window_states(reverting, min(later) if later else self.load_end, band)
        back = _first_run(states, RECOVERY_WINDOWS) if len(states) >= RECOVERY_WINDOWS else None
        out["recovery_time_s"] = float(back * WINDOW_S) if back is not None else None
        if back is None:
            out["note"] = f"not back within the baseline band for {RECOVERY_WINDOWS} consecutive windows"
        return out

    # -- time series for charts

    def series(self) -> dict:
        """Per 1 s window from run start to load stop; None where there was no load yet."""
        span = self.load_end - self.origin
        n = max(1, round(span / WINDOW_S))
        lo = int(np.searchsorted(self.t, self.origin))
        t, lat, ok, status, real = self.t[lo:], self.lat[lo:], self.ok[lo:], self.status[lo:], self.real[lo:]
        group = np.minimum(np.floor((t - self.origin) / WINDOW_S).astype(np.int64), n - 1)
        counts = np.bincount(group, minlength=n)  # waiting observations too: a stall is bad data, not none
        sent = np.bincount(group[real], minlength=n)
        fails = np.bincount(group, weights=~ok, minlength=n)
        qs = grouped_quantiles(group, lat, n, [0.5, 0.95, 0.99])
        # the last window absorbs the run's fractional end, so its rate must use its real length
        durations = np.full(n, WINDOW_S)
        durations[-1] = max(span - (n - 1) * WINDOW_S, 0.5 * WINDOW_S)
        load_start = self.first("load_started").get("mono", self.segments[0].start if self.segments else self.origin)
        before_load = (np.arange(1, n + 1) * WINDOW_S + self.origin) <= load_start
        throughput = np.where(before_load & (counts == 0), np.nan, sent / durations)
        hundreds = status // 100
        classes = {
            "2xx": hundreds == 2, "3xx": hundreds == 3, "4xx": hundreds == 4,
            "5xx": hundreds == 5, "none": status == 0,
        }
        classes["other"] = ~np.logical_or.reduce(list(classes.values()))
        with np.errstate(invalid="ignore", divide="ignore"):
            err = np.where(counts > 0, fails / np.maximum(counts, 1), np.nan)
        return {
            "window_s": WINDOW_S,
            "t": [i * WINDOW_S for i in range(n)],
            "throughput": throughput.tolist(),
            "error_rate": err.tolist(),
            "p50": qs[0].tolist(), "p95": qs[1].tolist(), "p99": qs[2].tolist(),
            "status": {k: np.bincount(group[m & real], minlength=n).tolist() for k, m in classes.items()},
            "waiting": np.bincount(group[~real], minlength=n).tolist(),
        }

    # -- context

    def aborts(self) -> list[dict]:
        return [{"at_s": self.rel(e["mono"]), "rule": e.get("rule"), "metric": e.get("metric"),
                 "observed": e.get("observed"), "threshold": e.get("threshold")}
                for e in self.events if e["event"] == "abort"]

    def first(self, kind: str) -> dict:
        return next((e for e in self.events if e["event"] == kind), {})

    def environment(self) -> dict:
        started = self.first("run_started")
        load = self.first("load_started") or {}
        plan_load = self.plan.get("load") or {}
        wall = started.get("wall")
        return {
            "harness_version": started.get("harness_version"),
            "git_rev": started.get("git_rev"),
            "run_id": started.get("run_id") or self.plan.get("run_id"),
            "seed": self.seed,
            "started_at": (datetime.fromtimestamp(wall, tz=timezone.utc).isoformat(timespec="seconds")
                           if isinstance(wall, (int, float)) else None),
            "host": started.get("host") or {},
            "targets": [{"service": e.get("service"), "image": e.get("image"), "image_id": e.get("image_id")}
                        for e in self.events if e["event"] == "target_started"],
            "links": [e.get("link") for e in self.events if e["event"] == "link_created"],
            "load": {key: load.get(key, plan_load.get(key)) for key in ("users", "spawn_rate", "model")},
        }

    def outcome(self) -> tuple[str | None, str | None]:
        ended = self.first("run_ended")
        return ended.get("outcome"), ended.get("error")


def _first_run(flags: np.ndarray, length: int) -> int | None:
    """Index of the first of ``length`` consecutive True flags, or None."""
    if length <= 0 or len(flags) < length:
        return None
    run = np.convolve(flags.astype(int), np.ones(length, dtype=int), mode="valid")
    hits = np.flatnonzero(run == length)
    return int(hits[0]) if len(hits) else None


def _timeout_ms(plan: dict) -> float | None:
    timeout = (plan.get("load") or {}).get("timeout")
    return float(timeout) * 1000.0 if isinstance(timeout, (int, float)) and timeout > 0 else None


def _window_grid(segments: list[Segment]) -> tuple[np.ndarray, np.ndarray]:
    """(starts, ends) of every 1 s window of every span, in time order (the last of a span may be shorter)."""
    starts, ends = [], []
    for segment in segments:
        for k in range(segment.n_windows):
            starts.append(segment.start + k * WINDOW_S)
            ends.append(min(segment.start + (k + 1) * WINDOW_S, segment.end))
    return np.array(starts, dtype=float), np.array(ends, dtype=float)


def _judge(sl: _Slice, metric: str, op: str, threshold: float):
    """(verdict, evidence, shortfall); shortfall says why the data is too thin, or None."""
    if sl.n == 0:
        return "inconclusive", None, "no requests"
    registered = metrics.REGISTRY[metric]
    if not registered.interval:
        value = sl.observed(metric)
        good = value <= threshold if op == "<=" else value >= threshold
        return ("held" if good else "deviated"), None, None
    if not sl.enough_windows:
        return "inconclusive", None, f"only {sl.windows_with_data} window(s) with requests, needs {MIN_WINDOWS}"
    if registered.quantile is not None:
        q = registered.quantile
        tail = q if op == ">=" else 1 - q
        beyond = sl.lat < threshold if op == ">=" else sl.lat > threshold
        lo, hi = proportion_ci(sl.weights, sl.count_where(beyond), sl.n_w)
        evidence = {"kind": "faster_than_threshold" if op == ">=" else "slower_than_threshold",
                    "fraction": float(beyond.mean()), "ci_low": lo, "ci_high": hi, "allowed": tail}
        if lo > tail:  # too many past the bound is proven with few requests too (a stall sends few)
            return "deviated", evidence, None
        if sl.n < registered.needs_requests:
            return "inconclusive", None, (f"only {sl.n} requests, {registered.short} needs at least "
                                          f"{registered.needs_requests}")
        return ("held" if hi <= tail else "inconclusive"), evidence, None
    lo, hi = sl.interval(metric)
    if lo is None:
        return "inconclusive", None, "no interval could be computed"
    if op == "<=":
        verdict = "held" if hi <= threshold else "deviated" if lo > threshold else "inconclusive"
    else:
        verdict = "held" if lo >= threshold else "deviated" if hi < threshold else "inconclusive"
    return verdict, None, None


# ---------------------------------------------------------------- wording

def _check_reason(check: dict, shortfall: str | None) -> str:
    what = f"{describe(check['metric'], check['filter'])} in phase {check['phase']}"
    metric, op, threshold = check["metric"], check["op"], check["threshold"]
    bound = format_value(metric, threshold)
    if shortfall:
        return f"{what} could not be judged: {shortfall}"
    observed = format_value(metric, check["observed"])
    has_ci = check["ci_low"] is not None and metrics.has_interval(metric)
    ci = f" (CI {format_range(metric, check['ci_low'], check['ci_high'])})" if has_ci else ""
    side = {"held": "under" if op == "<=" else "over",
            "deviated": "above" if op == "<=" else "below"}.get(check["verdict"])
    sentence = (f"{what} was {observed}{ci}, {side} {bound}" if side
                else f"{what} was {observed}{ci}: the interval straddles {bound}, so it cannot be called")
    evidence = check.get("evidence")
    if evidence:
        kind = "slower" if evidence["kind"] == "slower_than_threshold" else "faster"
        sentence += (f"; {format_value('error_rate', evidence['fraction'])} of requests {kind} than "
                     f"{bound} (CI {format_range('error_rate', evidence['ci_low'], evidence['ci_high'])}, "
                     f"allowed {format_value('error_rate', evidence['allowed'])})")
    return sentence


def _margin(check: dict) -> float:
    """How far the observed value is past (positive) or inside (negative) its threshold."""
    if check["observed"] is None:
        return -math.inf
    scale = abs(check["threshold"]) or 1.0
    past = (check["observed"] - check["threshold"]) / scale
    return past if check["op"] == "<=" else -past


def _overall(checks: list[dict], aborts: list[dict], outcome: str | None, error: str | None):
    if aborts or outcome in ("aborted", "interrupted"):
        if aborts:
            a = aborts[0]
            metric = a.get("metric") or ""
            return "aborted", (f"Aborted at {a['at_s']:.0f} s by the {describe(metric)} guard"
                               f" ({a.get('rule') or metric}): observed {format_value(metric, a.get('observed'))},"
                               f" limit {format_value(metric, a.get('threshold'))}.")
        return "aborted", f"The run was {outcome}" + (f": {error}." if error else ".")
    deviated = [c for c in checks if c["verdict"] == "deviated"]
    if deviated:
        return "deviated", _sentence(_headline(max(deviated, key=_margin)))
    undecided = [c for c in checks if c["verdict"] == "inconclusive"]
    if undecided:
        return "inconclusive", _sentence(undecided[0]["reason"])
    if not checks:
        return "inconclusive", "No steady-state hypothesis to judge."
    if outcome == "error":
        return "inconclusive", "The run ended with an error" + (f": {error}." if error else ".")
    closest = max(checks, key=_margin)
    return "held", f"All {len(checks)} checks held; closest to its limit: {_headline(closest)}."


def _headline(check: dict) -> str:
    """The reason without its exceedance detail: short enough for a banner."""
    return check["reason"].split("; ")[0]


def _sentence(text: str) -> str:
    if not re.match(r"p\d", text):  # "p99 latency" keeps its lower-case p
        text = text[:1].upper() + text[1:]
    return text if text.endswith(".") else text + "."


def _score(checks: list[dict], aborted: bool) -> float | None:
    if aborted:
        return 0.0
    if not checks:
        return None
    credit = {"held": 1.0, "inconclusive": 0.5, "deviated": 0.0}
    total = sum(c["weight"] for c in checks)
    if total <= 0:
        return None
    return round(100 * sum(c["weight"] * credit[c["verdict"]] for c in checks) / total, 1)


SCORE_FORMULA = ("score = 100 × Σ weight × (held + 0.5 × inconclusive) / Σ weight over all checks; "
                 "a hypothesis' weight is shared equally by its checks; deviated counts 0; an aborted run scores 0")


# ---------------------------------------------------------------- public API

@dataclass(frozen=True)
class PhaseWindows:
    """The requests of one phase of one run, each with the 1 s window it started in (for compare)."""

    phase: str
    latency_ms: np.ndarray
    ok: np.ndarray
    window: np.ndarray  # index into durations
    durations: np.ndarray  # seconds per window; the last window of a segment may be shorter
    start_s: float  # seconds since the run's first phase start
    end_s: float


def phase_windows(run: Run) -> dict[str, PhaseWindows]:
    """Every phase of a run cut into the same 1 s windows the verdicts use, in journal order."""
    a = _Analysis(run, 0)
    first = a.segments[0].start if a.segments else a.origin
    out = {}
    for phase in a.phase_names:
        sl = a.phase_slice(phase)
        segments = [s for s in a.segments if s.phase == phase]
        out[phase] = PhaseWindows(phase, sl.lat, sl.ok, sl.win, sl.durations,
                                  segments[0].start - first, segments[-1].end - first)
    return out


def analyse(run: Run, seed: int | None = None) -> dict:
    if seed is None:
        seed = run.plan.get("seed")
    seed = int(seed) if isinstance(seed, (int, float)) else 0
    a = _Analysis(run, seed)
    checks = a.checks()
    aborts = a.aborts()
    outcome, error = a.outcome()
    verdict, reason = _overall(checks, aborts, outcome, error)
    started = a.first("run_started")
    summary = {
        "schema": SCHEMA,
        "experiment": run.plan.get("experiment") or started.get("experiment"),
        "description": run.plan.get("description"),
        "run_id": run.plan.get("run_id") or started.get("run_id"),
        "verdict": verdict,
        "reason": reason,
        "score": _score(checks, verdict == "aborted"),
        "score_formula": SCORE_FORMULA,
        "run": {
            "outcome": outcome, "error": error, "duration_s": a.end - a.origin,
            "requests": int(a.real.sum()), "aborts": aborts, "warnings": a.warnings,
            "waiting_observations": int((~a.real).sum()), "answered_after_timeout": a.too_late,
            "in_flight_when_the_fault_began": a.met_the_fault,
            "timeout_s": a.timeout_ms / 1000.0 if a.timeout_ms is not None else None,
        },
        "load_model": load_model(run.plan),
        "checks": checks,
        "phases": a.phases(),
        "faults": _say_why_held(a.faults(), verdict),
        "baseline_band": a.baseline_band(),
        "environment": a.environment(),
        "statistics": {
            "window_s": WINDOW_S, "resamples": RESAMPLES, "confidence": CONFIDENCE,
            "min_windows": MIN_WINDOWS, "method": "block bootstrap over 1 s windows",
        },
        "series": a.series(),
    }
    return scrub(json_safe(summary), secrets_of(run.plan))


def load_model(plan: dict) -> dict:
    """Which load model ran and what it hides, in words for the report."""
    load = plan.get("load") or {}
    model = load.get("model") or "closed"
    if model == "open":
        note = (f"Open model: requests were sent at {metrics.number(float(load.get('rate') or 0), 0)}/s whatever "
                "the answers, and latency counts from each request's intended send time, so a stall shows in "
                "full.")
    else:
        note = (f"Closed model: each of {load.get('users', '?')} users waits for an answer before it sends again, "
                "so a slow or stalled system receives fewer requests and its slowest moments are under-sampled "
                "(coordinated omission). Requests still waiting at the end of each 1 s window are counted as "
                "waiting observations (their wait so far a lower bound on latency; failures past the timeout "
                "or when nothing at all is answered), which keeps a stall visible, but latency quantiles remain "
                "optimistic. For throughput-style services, the open model judges latency honestly.")
    return {"model": model, "note": note}


def _say_why_held(faults: list[dict], verdict: str) -> list[dict]:
    """A held run whose faults left the baseline band says so, so the band's verdict is not read as a
    hypothesis' deviation."""
    for fault in faults:
        if verdict == "held" and fault.get("time_to_degrade_s") is not None:
            fault["note"] = ("left the baseline band, though every hypothesis held: their bounds are wider than "
                             "the band" + (f"; {fault['note']}" if fault.get("note") else ""))
    return faults


def exit_code(summary: dict) -> int:
    checks = summary.get("checks") or []
    if summary.get("verdict") == "aborted":
        return EXIT_CODES["aborted"]
    if any(c.get("verdict") == "deviated" for c in checks) or summary.get("verdict") == "deviated":
        return EXIT_CODES["deviated"]
    if summary.get("verdict") == "held":
        return EXIT_CODES["held"]
    return EXIT_CODES["inconclusive"]


# ---------------------------------------------------------------- secrets and JSON hygiene

def secrets_of(plan: dict, extra=()) -> list[str]:
    """Strings that must never be rendered, longest first (so overlapping ones go whole).

    A real plan.json holds no secret values (the runner passes them as ``extra``); a plan
    written by hand or by another tool may list ``secrets`` or carry target environments.
    """
    found = [s for s in plan.get("secrets") or [] if isinstance(s, str) and s] + list(extra)
    for target in _targets(plan):
        env = target.get("env") or target.get("environment") or {}
        if isinstance(env, dict):
            found += secret_env_values({k: v for k, v in env.items() if v not in (None, "", "<set>")})
    return ordered(found)


def _targets(plan: dict) -> list[dict]:
    targets = plan.get("targets") or []
    if isinstance(targets, dict):
        targets = list(targets.values())
    return [t for t in targets if isinstance(t, dict)]


def json_safe(value: Any) -> Any:
    """JSON-safe copy: numpy scalars to Python, NaN/inf to None, floats to 6 significant digits."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        value = float(value)
        return float(f"{value:.6g}") if math.isfinite(value) else None
    if value is None or isinstance(value, str):
        return value
    return str(value)
