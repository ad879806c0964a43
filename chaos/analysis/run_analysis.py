"""One run's analysis: its requests (and waiting observations) laid on the judged spans' 1 s windows, with
the per-phase tables, the time series for charts and the run's context; checks, waiting and recovery are
mixed in from their own modules."""

from __future__ import annotations

from datetime import datetime, timezone

import numpy as np
import pandas as pd

from chaos.analysis.checks import PhaseChecks
from chaos.analysis.loading import Run
from chaos.analysis.recovery import FaultRecovery
from chaos.analysis.slices import PhaseSlice, seeded_rng, status_classes
from chaos.analysis.waiting import WaitingRules, timeout_ms_of, window_grid
from chaos.metrics import QUANTILES
from chaos.spans import WINDOW_S, assign_segments, judged_segments, planned_segments, run_origin
from chaos.stats import LatencyBins, grouped_quantiles


class Analysis(WaitingRules, PhaseChecks, FaultRecovery):
    """One run (or its probe results) ready to judge: the request arrays, the spans and their 1 s windows."""

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
        self.timeout_ms = timeout_ms_of(self.plan) if requests else None
        self.too_late = self.fail_the_unanswered_in_time()
        self.real = np.ones(len(self.t), dtype=bool)
        self.grid_start, self.grid_end = window_grid(self.segments)
        self.waiting_w = np.zeros(len(self.grid_start), dtype=np.int64)
        self.stalled = np.zeros(len(self.grid_start), dtype=bool)
        self.met_the_fault = 0
        if requests:
            self.add_waiting()
            self.met_the_fault = self.judge_in_flight_with_the_fault()
        self.segment_of = assign_segments(self.t, self.segments)
        self.window_of = self._windows_within_phase()
        self.bins = LatencyBins(self.lat)
        self._slices: dict[tuple[str, str | None], PhaseSlice | None] = {}

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

    def phase_slice(self, phase: str, name: str | None = None) -> PhaseSlice | None:
        key = (phase, name)
        if key not in self._slices:
            self._slices[key] = self._build_slice(phase, name)
        return self._slices[key]

    def _build_slice(self, phase: str, name: str | None) -> PhaseSlice | None:
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
        rng = seeded_rng(self.seed, f"{phase}|{name}")
        sl = PhaseSlice(self.lat[idx], self.ok[idx], self.status[idx], self.window_of[idx],
                    np.array(durations, dtype=float), self.bins, rng, self.real[idx], self.stalled[grid])
        sl.waiting_w = self.waiting_w[grid]
        return sl

    def probe_analysis(self) -> "Analysis":
        if not hasattr(self, "_probes"):
            run = Run(plan=self.plan, events=self.events, samples=self.run.probes, run_dir=self.run.run_dir)
            self._probes = Analysis(run, self.seed, requests=False)
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

    def _per_name(self, phase: str, sl: PhaseSlice) -> list[dict]:
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
            row["status"] = status_classes(status[codes == code])
            rows.append(row)
        return rows

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
