"""Run -> the summary document (``chaos.summary/1``) the reports render, and a run's phases in 1 s windows
for ``chaos.compare``."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from chaos import metrics
from chaos.analysis.hygiene import json_safe, secrets_of
from chaos.analysis.loading import Run
from chaos.analysis.recovery import say_why_held
from chaos.analysis.run_analysis import Analysis
from chaos.analysis.slices import MIN_WINDOWS, RESAMPLES
from chaos.analysis.verdict import SCORE_FORMULA, overall, score
from chaos.secrets import scrub
from chaos.spans import WINDOW_S
from chaos.stats import CONFIDENCE

SCHEMA = "chaos.summary/1"


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
    a = Analysis(run, 0)
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
    a = Analysis(run, seed)
    checks = a.checks()
    aborts = a.aborts()
    outcome, error = a.outcome()
    verdict, reason = overall(checks, aborts, outcome, error)
    started = a.first("run_started")
    summary = {
        "schema": SCHEMA,
        "experiment": run.plan.get("experiment") or started.get("experiment"),
        "description": run.plan.get("description"),
        "run_id": run.plan.get("run_id") or started.get("run_id"),
        "verdict": verdict,
        "reason": reason,
        "score": score(checks, verdict == "aborted"),
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
        "faults": say_why_held(a.faults(), verdict),
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
