"""Each run over time, for the comparison's overlaid charts: per 1 s window p50, p99, error rate and
throughput, and the baseline's phases and fault windows."""

from __future__ import annotations

import math

import numpy as np

from chaos.spans import WINDOW_S, judged_segments, run_origin
from chaos.stats import grouped_quantiles

def run_series(run) -> dict:
    """Per 1 s window from the first phase start to the last phase end: p50, p99, error rate, throughput."""
    t_all = run.samples["t_mono"].to_numpy(dtype=float)
    last = max([float(t_all.max())] if len(t_all) else [0.0])
    last = max([last] + [e["mono"] for e in run.events])
    segments = judged_segments(run.events, last)
    if not segments:
        return {"t": [], "p50": [], "p99": [], "error_rate": [], "throughput": []}
    start, end = segments[0].start, segments[-1].end
    n = max(1, math.ceil((end - start) / WINDOW_S - 1e-9))
    lo, hi = np.searchsorted(t_all, [start, end])
    t = t_all[lo:hi]
    lat = run.samples["latency_ms"].to_numpy(dtype=float, na_value=0.0)[lo:hi]
    ok = run.samples["success"].fillna(False).to_numpy(dtype=bool)[lo:hi]
    group = np.minimum(np.floor((t - start) / WINDOW_S).astype(np.int64), n - 1)
    counts = np.bincount(group, minlength=n)
    fails = np.bincount(group, weights=~ok, minlength=n)
    qs = grouped_quantiles(group, lat, n, [0.5, 0.99])
    durations = np.full(n, WINDOW_S)
    durations[-1] = max(end - start - (n - 1) * WINDOW_S, 0.5 * WINDOW_S)
    with np.errstate(invalid="ignore", divide="ignore"):
        errors = np.where(counts > 0, fails / np.maximum(counts, 1), np.nan)
    return {"run_id": run.plan.get("run_id") or run.run_dir.name, "t": [i * WINDOW_S for i in range(n)],
            "p50": qs[0].tolist(), "p99": qs[1].tolist(), "error_rate": errors.tolist(),
            "throughput": (counts / durations).tolist()}


def timeline(loaded: list[list | None]) -> dict:
    """Phases and fault windows of the baseline's newest run, seconds since its first phase start."""
    runs = next((r for r in loaded if r), None)
    if not runs:
        return {"phases": [], "faults": []}
    run = runs[0]
    last = max([e["mono"] for e in run.events] or [run_origin(run.events, np.empty(0))])
    segments = judged_segments(run.events, last)
    if not segments:
        return {"phases": [], "faults": []}
    first = segments[0].start
    phases = [{"name": s.phase, "start_s": s.start - first, "end_s": s.end - first} for s in segments]
    faults, open_faults = [], {}
    for event in run.events:
        if event["event"] == "fault_injected":
            open_faults[event.get("fault_id")] = event["mono"] - first
        elif event["event"] == "fault_reverted" and event.get("fault_id") in open_faults:
            faults.append({"id": event.get("fault_id"), "start_s": open_faults.pop(event.get("fault_id")),
                           "end_s": event["mono"] - first})
    faults += [{"id": fid, "start_s": at, "end_s": segments[-1].end - first} for fid, at in open_faults.items()]
    return {"phases": phases, "faults": faults}
