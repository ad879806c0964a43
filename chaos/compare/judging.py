"""One metric of one phase, candidate against baseline: the change, its interval, the tolerance band and
p-value; Holm's correction over a candidate's metrics gives the verdicts (see "Tolerance and verdict")."""

from __future__ import annotations

import numpy as np

from chaos.analysis import MIN_WINDOWS
from chaos.compare.resampling import PhaseSide
from chaos.compare.settings import ALPHA, Settings
from chaos.metrics import REGISTRY
from chaos.stats import Z95, newcombe, newcombe_p, percentile_ci, wilson

def side_interval(metric: str, cell: PhaseSide, boot: np.ndarray) -> tuple[float | None, float | None]:
    lo, hi = percentile_ci(boot)
    if metric == "error_rate" and cell.requests:
        k = int((~cell.ok).sum())
        wlo, whi = wilson(k, cell.requests)
        lo, hi = (wlo, whi) if lo is None else (min(lo, wlo), max(hi, whi))
    observed = cell.observed(metric)
    if lo is not None and observed is not None:
        lo, hi = min(lo, observed), max(hi, observed)
    return lo, hi


def shortfall(metric: str, cell: PhaseSide | None, who: str) -> str | None:
    """Why a side has too little data for this metric, or None."""
    if cell is None:
        return f"the phase did not run in {who}"
    if cell.requests == 0:
        return f"no requests in {who}"
    if cell.windows_with_data < MIN_WINDOWS:
        return f"only {cell.windows_with_data} window(s) with requests in {who}, needs {MIN_WINDOWS}"
    needed = REGISTRY[metric].needs_requests
    if cell.requests < needed:
        return f"only {cell.requests} requests in {who}, {REGISTRY[metric].short} needs at least {needed}"
    return None


def judge_metric(metric: str, base: PhaseSide | None, cand: PhaseSide | None,
                 base_boot: dict | None, cand_boot: dict | None, settings: Settings,
                 labels: tuple[str, str]) -> dict:
    """The change of one metric in one phase, its interval, tolerance band and p-value; the verdict comes later."""
    row = {"kind": "absolute" if metric == "error_rate" else "relative", "effect": None, "ci_low": None,
           "ci_high": None, "tolerance": None, "band_low": None, "band_high": None, "p": None,
           "p_adjusted": None, "direction": None, "verdict": "inconclusive", "reason": ""}
    short = shortfall(metric, base, labels[0]) or shortfall(metric, cand, labels[1])
    if short:
        row["reason"] = short
        return row
    a, b = base.observed(metric), cand.observed(metric)
    a_boot, b_boot = base_boot[metric], cand_boot[metric]
    if metric == "error_rate":
        effect, boot = b - a, b_boot - a_boot
        tolerance = max(settings.tolerance_for(metric) * a, settings.error_floor)
        band = (-tolerance, tolerance)
    else:
        if not a:
            row["reason"] = f"{labels[0]} has {metric} 0: a relative change is undefined"
            return row
        effect = b / a - 1
        with np.errstate(invalid="ignore", divide="ignore"):
            boot = b_boot / a_boot - 1
        floor = settings.latency_floor_ms / a if metric.startswith("latency.") else 0.0
        tolerance = max(settings.tolerance_for(metric), floor)
        band = (1 / (1 + tolerance) - 1, tolerance)  # a factor 1 + t either way: A against B mirrors B against A
    lo, hi = percentile_ci(boot)
    if lo is None:
        row["reason"] = "no interval could be computed"
        return row
    lo, hi = min(lo, effect), max(hi, effect)
    valid = boot[np.isfinite(boot)]
    above = (1 + np.count_nonzero(valid <= band[1])) / (len(valid) + 1)  # p that the change is beyond the top
    below = (1 + np.count_nonzero(valid >= band[0])) / (len(valid) + 1)
    if metric == "error_rate":
        ka, na = int((~base.ok).sum()), base.requests
        kb, nb = int((~cand.ok).sum()), cand.requests
        nlo, nhi = newcombe(ka, na, kb, nb, Z95)
        lo, hi = min(lo, nlo), max(hi, nhi)
        above = max(above, newcombe_p(ka, na, kb, nb, band[1], "above"))
        below = max(below, newcombe_p(ka, na, kb, nb, band[0], "below"))
    up, down = ("better", "worse") if REGISTRY[metric].higher_is_better else ("worse", "better")
    row.update(effect=effect, ci_low=lo, ci_high=hi, tolerance=tolerance, band_low=band[0], band_high=band[1],
               p=min(1.0, 2 * min(above, below)), direction=up if above < below else down)
    return row


def holm(rows: list[dict]) -> None:
    """Holm's step-down over the rows that have a p-value; sets p_adjusted and the verdicts."""
    judged = sorted((r for r in rows if r["p"] is not None), key=lambda r: r["p"])
    m, running, rejecting = len(judged), 0.0, True
    for i, row in enumerate(judged):
        running = max(running, min(1.0, (m - i) * row["p"]))
        row["p_adjusted"] = running
        rejecting = rejecting and row["p"] <= ALPHA / (m - i)
        inside = row["band_low"] <= row["ci_low"] and row["ci_high"] <= row["band_high"]
        row["verdict"] = row["direction"] if rejecting else "no change" if inside else "inconclusive"
        row["family"] = m
