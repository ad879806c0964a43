"""The statistics the analysis and the comparison share (pure numpy): percentile and ratio intervals over
block-bootstrap resamples, proportion intervals (Wilson, Newcombe), log-spaced latency histograms and the
quantiles read from them, quantiles per group.
"""

from __future__ import annotations

import math

import numpy as np

CONFIDENCE = 0.95
Z95 = 1.959964
BIN_RATIO = 1.01


def resample_weights(rng: np.random.Generator, n_windows: int, resamples: int) -> np.ndarray:
    """(resamples, n_windows) matrix: how often each window is drawn in each resample."""
    draws = rng.integers(0, n_windows, size=(resamples, n_windows))
    flat = (draws + np.arange(resamples)[:, None] * n_windows).ravel()
    return np.bincount(flat, minlength=resamples * n_windows).reshape(resamples, n_windows).astype(float)


def percentile_ci(values: np.ndarray) -> tuple[float | None, float | None]:
    values = values[np.isfinite(values)]
    if not len(values):
        return None, None
    tail = (1 - CONFIDENCE) / 2 * 100
    lo, hi = np.percentile(values, [tail, 100 - tail])
    return float(lo), float(hi)


def ratio_ci(weights: np.ndarray, num_w: np.ndarray, den_w: np.ndarray):
    num, den = weights @ num_w, weights @ den_w
    with np.errstate(invalid="ignore", divide="ignore"):
        return percentile_ci(np.where(den > 0, num / np.where(den > 0, den, 1), np.nan))


def wilson(k: int, n: int, z: float = Z95) -> tuple[float, float]:
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def proportion_ci(weights, events_w: np.ndarray, n_w: np.ndarray):
    """Interval of a fraction of requests, k events in n: for 0 < k < n the union of the block-bootstrap
    interval and the Wilson score interval (the bootstrap collapses when events are rare); k = 0 gives
    [0, 3 / n] (the rule of three: a bootstrap of [0, 0] would "prove" anything), k = n its mirror."""
    k, n = int(events_w.sum()), int(n_w.sum())
    if n == 0:
        return None, None
    if k == 0:
        return 0.0, min(1.0, 3.0 / n)
    if k == n:
        return max(0.0, 1.0 - 3.0 / n), 1.0
    lo, hi = ratio_ci(weights, events_w, n_w)
    wlo, whi = wilson(k, n)
    return min(lo if lo is not None else wlo, wlo), max(hi if hi is not None else whi, whi)


class LatencyBins:
    """Log-spaced latency bins (BIN_RATIO wide) shared by every histogram of one analysis or comparison."""

    def __init__(self, latencies: np.ndarray):
        positive = latencies[latencies > 0]
        self.lo = max(float(positive.min()), 1e-3) if len(positive) else 1e-3
        hi = float(latencies.max()) if len(latencies) else 1.0
        self.log_ratio = math.log(BIN_RATIO)
        self.count = int(np.clip(math.ceil(math.log(max(hi, self.lo) / self.lo) / self.log_ratio) + 1, 1, 20000))

    def index(self, lat: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore"):
            raw = np.floor(np.log(np.maximum(lat, self.lo) / self.lo) / self.log_ratio)
        return np.clip(raw, 0, self.count - 1).astype(np.int64)

    def value(self, position: np.ndarray) -> np.ndarray:
        return self.lo * np.exp(position * self.log_ratio)


def grouped_quantiles(group: np.ndarray, values: np.ndarray, n_groups: int, qs) -> np.ndarray:
    """(len(qs), n_groups) quantiles (linear interpolation) of values per group; NaN if empty."""
    out = np.full((len(qs), n_groups), np.nan)
    if not len(values):
        return out
    order = np.lexsort((values, group))
    v = values[order]
    counts = np.bincount(group, minlength=n_groups)
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    has = counts > 0
    s, c = starts[has], counts[has]
    for i, q in enumerate(qs):
        pos = s + q * (c - 1)
        lo = np.floor(pos).astype(np.int64)
        hi = np.minimum(lo + 1, s + c - 1)
        frac = pos - lo
        out[i, has] = v[lo] * (1 - frac) + v[hi] * frac
    return out


def histogram_quantiles(hist: np.ndarray, used: np.ndarray, bins: LatencyBins, qs: list[float]) -> list[np.ndarray]:
    """Quantiles of every row of a (draws x bins) histogram, linearly interpolated inside a bin.

    Each row's cumulative share is shifted by its row number, so one sorted search finds the bin
    of every row at once instead of a scan per quantile.
    """
    rows, width = hist.shape
    if not width:
        return [np.full(rows, np.nan) for _ in qs]
    cum = np.cumsum(hist, axis=1)
    total = cum[:, -1].copy()
    empty = total <= 0
    share = cum / np.where(empty, 1.0, total)[:, None]
    share[:, -1] = 1.0  # exact, whatever the rounding
    offsets = np.arange(rows, dtype=float)
    flat = (share + offsets[:, None] * 2.0).ravel()  # rows 2 apart: no overlap between rows
    out = []
    for q in qs:
        index = np.searchsorted(flat, offsets * 2.0 + q, side="left")
        pick = np.clip(index - np.arange(rows) * width, 0, width - 1)
        before = np.where(pick > 0, share[np.arange(rows), np.maximum(pick - 1, 0)], 0.0)
        inside = share[np.arange(rows), pick] - before
        frac = np.clip((q - before) / np.where(inside > 0, inside, 1.0), 0, 1)
        out.append(np.where(empty, np.nan, bins.value(used[pick] + frac)))
    return out


def newcombe(ka: int, na: int, kb: int, nb: int, z: float) -> tuple[float, float]:
    """Newcombe's hybrid score interval for pb - pa (Wilson intervals of each side, combined)."""
    pa, pb = ka / na, kb / nb
    la, ua = wilson(ka, na, z) if z > 0 else (pa, pa)
    lb, ub = wilson(kb, nb, z) if z > 0 else (pb, pb)
    d = pb - pa
    return d - math.sqrt((pb - lb) ** 2 + (ua - pa) ** 2), d + math.sqrt((ub - pb) ** 2 + (pa - la) ** 2)


def newcombe_p(ka: int, na: int, kb: int, nb: int, bound: float, side: str) -> float:
    """One-sided p-value that pb - pa > bound (side "above") or < bound ("below"), by inverting the interval."""
    d = kb / nb - ka / na
    if (side == "above" and d <= bound) or (side == "below" and d >= bound):
        return 1.0

    def beyond(z: float) -> bool:
        lo, hi = newcombe(ka, na, kb, nb, z)
        return lo > bound if side == "above" else hi < bound

    lo_z, hi_z = 0.0, 40.0
    if beyond(hi_z):
        return 0.0
    for _ in range(60):
        mid = (lo_z + hi_z) / 2
        lo_z, hi_z = (mid, hi_z) if beyond(mid) else (lo_z, mid)
    return 0.5 * math.erfc(lo_z / math.sqrt(2))


def student_t_within(x: float, df: int) -> float:
    """P(|T| < x) for Student's t with ``df`` (a whole number >= 1) degrees of freedom: the finite sums of
    Abramowitz & Stegun 26.7.3-4 (exact for integer df; no SciPy needed)."""
    if x <= 0:
        return 0.0
    if math.isinf(x):
        return 1.0
    theta = math.atan(x / math.sqrt(df))
    c2, s = math.cos(theta) ** 2, math.sin(theta)
    if df % 2:  # odd: 2/pi (theta + sin cos (1 + 2/3 cos^2 + 2.4/3.5 cos^4 ...))
        total, term = 0.0, 1.0
        for k in range(1, (df - 1) // 2 + 1):
            total += term
            term *= c2 * (2 * k) / (2 * k + 1)
        return min(1.0, 2 / math.pi * (theta + s * math.cos(theta) * total)) if df > 1 else 2 * theta / math.pi
    total, term = 0.0, 1.0  # even: sin (1 + 1/2 cos^2 + 1.3/2.4 cos^4 ...)
    for k in range(1, df // 2 + 1):
        total += term
        term *= c2 * (2 * k - 1) / (2 * k)
    return min(1.0, s * total)


def student_t_sf(x: float, df: int) -> float:
    """P(T > x): the upper tail of Student's t."""
    inside = student_t_within(abs(x), df)
    return (1 - inside) / 2 if x >= 0 else (1 + inside) / 2


def student_t_quantile(p: float, df: int) -> float:
    """x with P(T <= x) = p, for p in (0.5, 1): by bisection on the closed-form tail."""
    lo, hi = 0.0, 1.0
    while student_t_sf(hi, df) > 1 - p:
        hi *= 2
    for _ in range(100):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if student_t_sf(mid, df) > 1 - p else (lo, mid)
    return (lo + hi) / 2
