"""One side's phase in 1 s windows (one or several runs pooled) and its bootstrap draws: runs, then windows
within runs; a single run borrows the run-to-run drift of a pooled side (see "Intervals" in ``chaos.compare``)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from chaos.analysis import PhaseWindows
from chaos.metrics import COMPARED, REGISTRY
from chaos.stats import LatencyBins, histogram_quantiles

@dataclass
class RunWindows:
    n: np.ndarray  # requests per window
    errors: np.ndarray
    durations: np.ndarray
    hist: np.ndarray | None = None  # windows x used latency bins, filled once the group's bins are known
    window: np.ndarray | None = None
    latency_ms: np.ndarray | None = None
    ok: np.ndarray | None = None


@dataclass
class PhaseSide:
    runs: list[RunWindows]
    latency_ms: np.ndarray
    ok: np.ndarray

    @property
    def requests(self) -> int:
        return int(len(self.latency_ms))

    @property
    def windows_with_data(self) -> int:
        return int(sum(np.count_nonzero(r.n) for r in self.runs))

    @property
    def duration(self) -> float:
        return float(sum(r.durations.sum() for r in self.runs))

    def observed(self, metric: str) -> float | None:
        return REGISTRY[metric].of(self.latency_ms, self.ok, self.duration)


def phase_side(phases: list[PhaseWindows]) -> PhaseSide:
    runs = []
    for p in phases:
        count = len(p.durations)
        runs.append(RunWindows(np.bincount(p.window, minlength=count).astype(float),
                                np.bincount(p.window, weights=~p.ok, minlength=count).astype(float),
                                p.durations.astype(float), window=p.window, latency_ms=p.latency_ms, ok=p.ok))
    lat = np.concatenate([p.latency_ms for p in phases]) if phases else np.empty(0)
    ok = np.concatenate([p.ok for p in phases]) if phases else np.empty(0, dtype=bool)
    return PhaseSide(runs, lat, ok)


def fill_histograms(cells: list[PhaseSide], latencies_by_cell: list[list[np.ndarray]], bins: LatencyBins) -> np.ndarray:
    """Dense per-window histograms over the latency bins any cell uses; returns those bins' codes."""
    all_codes = [bins.index(lat) for lats in latencies_by_cell for lat in lats]
    used = np.unique(np.concatenate(all_codes)) if all_codes else np.empty(0, dtype=np.int64)
    it = iter(all_codes)
    for cell in cells:
        for run in cell.runs:
            dense = np.searchsorted(used, next(it))
            count = len(run.durations)
            run.hist = np.bincount(run.window * len(used) + dense, minlength=count * len(used)).reshape(
                count, len(used)).astype(float)
    return used


def bootstrap(cell: PhaseSide, used: np.ndarray, bins: LatencyBins, rng: np.random.Generator, resamples: int) -> dict:
    """Resampled metric values (one array of ``resamples`` per metric): runs, then windows within runs."""
    k = len(cell.runs)
    if k > 1:
        copies = rng.multinomial(k, np.full(k, 1.0 / k), size=resamples)
    else:
        copies = np.ones((resamples, 1), dtype=np.int64)
    n = np.zeros(resamples)
    errors = np.zeros(resamples)
    duration = np.zeros(resamples)
    hist = np.zeros((resamples, len(used)))
    for r, run in enumerate(cell.runs):
        count = len(run.durations)
        weights = rng.multinomial(copies[:, r] * count, np.full(count, 1.0 / count)).astype(float)
        n += weights @ run.n
        errors += weights @ run.errors
        duration += weights @ run.durations
        hist += weights @ run.hist
    with np.errstate(invalid="ignore", divide="ignore"):
        out = {"error_rate": np.where(n > 0, errors / np.maximum(n, 1), np.nan),
               "throughput": np.where(duration > 0, n / np.maximum(duration, 1e-12), np.nan)}
    latency = [m for m in COMPARED if REGISTRY[m].quantile is not None]
    for metric, values in zip(latency, histogram_quantiles(hist, used, bins, [REGISTRY[m].quantile for m in latency])):
        out[metric] = values
    return out


def _run_effects(cell: PhaseSide, metric: str) -> np.ndarray | None:
    """How far each run of a pooled side is from the side's pooled value (log ratio; difference for the
    error rate), widened by sqrt(k / (k - 1)) because k runs underestimate the spread of the next one."""
    if len(cell.runs) < 2:
        return None
    pooled = cell.observed(metric)
    values = [PhaseSide([run], run.latency_ms, run.ok).observed(metric) for run in cell.runs]
    values = [v for v in values if v is not None]
    if pooled is None or len(values) < 2:
        return None
    k = len(values)
    if metric == "error_rate":
        effects = np.array(values) - pooled
    elif pooled > 0 and all(v > 0 for v in values):
        effects = np.log(np.array(values) / pooled)
    else:
        return None
    return effects * math.sqrt(k / (k - 1))


def borrow_spread(boot: dict, donor: PhaseSide, rng: np.random.Generator) -> dict:
    """A single run knows nothing about run-to-run drift: give each of its draws the drift of a random
    run of a pooled side (the noise-aware part of the comparison)."""
    out = {}
    for metric, values in boot.items():
        effects = _run_effects(donor, metric)
        if effects is None:
            out[metric] = values
            continue
        shift = effects[rng.integers(0, len(effects), len(values))]
        out[metric] = np.clip(values + shift, 0, 1) if metric == "error_rate" else values * np.exp(shift)
    return out
