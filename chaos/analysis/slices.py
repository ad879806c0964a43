"""One phase's requests (optionally one request name) cut into 1 s windows: observed values and their
block-bootstrap intervals (see the method in ``chaos.analysis``)."""

from __future__ import annotations

import zlib
from typing import Any

import numpy as np

from chaos import metrics
from chaos.metrics import METRICS, QUANTILES
from chaos.stats import LatencyBins, histogram_quantiles, percentile_ci, proportion_ci, ratio_ci, resample_weights

RESAMPLES = 1000
MIN_WINDOWS = 5
SENT_METRICS = ("count", "throughput")
STATUS_CLASSES = ("2xx", "3xx", "4xx", "5xx", "none", "other")


def status_classes(status: np.ndarray) -> dict[str, int]:
    hundreds = status // 100
    counts = {f"{h}xx": int(np.count_nonzero(hundreds == h)) for h in (2, 3, 4, 5)}
    counts["none"] = int(np.count_nonzero(status == 0))
    counts["other"] = int(len(status) - sum(counts.values()))
    return counts


def seeded_rng(seed: int, key: str) -> np.random.Generator:
    return np.random.default_rng([seed & 0xFFFFFFFF, zlib.crc32(key.encode())])


class PhaseSlice:
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
        out["status"] = status_classes(self.status[self.real])
        out["windows"] = self.windows_with_data
        return out
