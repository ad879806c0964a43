"""How many baseline runs would settle an inconclusive change of ``chaos compare`` / ``chaos run --baseline``.

Runs of one version on one machine differ by more than the windows inside a run show; a comparison of stored
runs learns that spread from a side that pools several runs (``resampling``). Its interval is then about
``z * s * sqrt(1/m + 1/k)`` wide on each side, ``s`` the spread between runs (log scale for latency and
throughput, points for the error rate), ``k`` baseline runs and ``m`` candidate runs. So the number of baseline
runs that would settle a change follows from ``s``: enough that the interval fits inside the tolerance ("no
change") or clears it at Holm's strictest level (worse / better). When even endless baseline runs cannot (one
candidate run is itself too noisy for the tolerance), the candidate needs runs too, or a paired ``chaos ab``.
"""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np

from chaos.compare.resampling import PhaseSide
from chaos.compare.settings import ALPHA
from chaos.stats import CONFIDENCE

MAX_RUNS_ADVISED = 50


def run_spread(cell: PhaseSide | None, metric: str) -> float | None:
    """The standard deviation between a pooled side's runs (log scale; points for the error rate), or None."""
    if cell is None or len(cell.runs) < 2:
        return None
    values = [PhaseSide([run], run.latency_ms, run.ok).observed(metric) for run in cell.runs]
    values = [v for v in values if v is not None]
    if len(values) < 2:
        return None
    if metric == "error_rate":
        return float(np.std(values, ddof=1))
    if not all(v > 0 for v in values):
        return None
    return float(np.std(np.log(values), ddof=1))


def baseline_runs_needed(change: dict, spread: float, baseline_runs: int, candidate_runs: int) -> int | None:
    """Baseline runs that would settle ``change`` at ``spread``; 0 when no number would (or more than
    MAX_RUNS_ADVISED); None when this has nothing to say (not inconclusive, no interval, or the runs kept would
    already do: what keeps it open is the noise within runs, which longer phases shrink)."""
    if change["verdict"] != "inconclusive" or change["effect"] is None or not spread > 0:
        return None
    log = change["kind"] == "relative"
    effect = math.log1p(change["effect"]) if log else change["effect"]
    band = math.log1p(change["band_high"]) if log else change["band_high"]
    if abs(effect) < band:  # towards "no change"
        gap, z = band - abs(effect), NormalDist().inv_cdf(0.5 + CONFIDENCE / 2)
    else:  # towards worse / better, at Holm's strictest level
        gap, z = abs(effect) - band, NormalDist().inv_cdf(1 - ALPHA / (2 * max(change.get("family") or 1, 1)))
    room = (gap / (z * spread)) ** 2 - 1 / max(candidate_runs, 1)
    if room <= 0:
        return 0
    needed = math.ceil(1 / room)
    if needed <= baseline_runs:  # the spread between runs is not what keeps it open: the windows within are
        return None
    return needed if needed <= MAX_RUNS_ADVISED else 0


def runs_needed_text(needed: int | None, spread: float, kind: str, runs_kept: int) -> str:
    if needed is None:
        return ""
    spread_text = f"±{math.expm1(spread):.0%}" if kind == "relative" else f"±{spread * 100:.1f} pp"
    if needed == 0:
        return (f"runs of one version on this machine differ by {spread_text} (between the {runs_kept} kept): no "
                f"number of baseline runs settles this against one candidate run; run the candidate several times "
                f"too, or compare both versions side by side with `chaos ab`")
    return (f"about {needed} baseline runs would settle it (runs of one version on this machine differ by "
            f"{spread_text}, between the {runs_kept} kept)")
