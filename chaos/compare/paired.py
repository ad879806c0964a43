"""Paired judgement of an interleaved A/B (``chaos ab``): what the machine does between rounds hits both sides
of a round alike, so it cancels in the round's difference.

Rounds
    Each round is one run of A (the baseline) and one of B (the candidate), run back to back; which goes first
    alternates (A B, B A, A B, ...) so that a slow drift within a round favours neither side.

Differences
    Per phase and metric (``chaos.metrics.COMPARED``, every phase but warmup), one difference per round:
    ``log(B / A)`` for latency percentiles and throughput, ``B - A`` for the error rate.  A round whose run
    of either side has too little data for the metric (``chaos.compare.judging.shortfall``) is left out of
    that metric, and said so.

Interval and test
    The mean difference over n rounds with Student's t interval on n - 1 degrees of freedom: the spread
    *between rounds* is the noise, so two rounds give one degree of freedom and a wide interval (t = 12.7),
    which is honest.  Against the tolerance band of ``chaos compare`` (the same rule, on the log scale for
    relative changes), two one-sided t tests give the metric's p-value; the error rate's interval is widened
    to Newcombe's interval over the pooled requests, and its p-value is the larger of the two (no errors in
    every round does not prove a low error rate).  Holm's correction over every metric of the comparison
    and the verdict words are ``chaos compare``'s (``judging.holm``, ``wording.change_reason``).

Rounds needed
    An inconclusive metric says how many rounds, at the spread seen, would make its interval decide: inside
    the band at 95 % (no change), or beyond it at Holm's strictest level (worse / better).  Too little data
    in a phase asks for longer phases instead.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from chaos.compare.judging import shortfall
from chaos.compare.resampling import PhaseSide
from chaos.compare.settings import ALPHA, Settings
from chaos.metrics import REGISTRY
from chaos.stats import CONFIDENCE, Z95, newcombe, newcombe_p, student_t_quantile, student_t_sf

MIN_ROUNDS = 2  # one difference has no spread: a paired interval needs two
MAX_ROUNDS_ADVISED = 100


def round_order(index: int) -> tuple[str, str]:
    """Which side runs first in round ``index`` (0-based): A B, B A, A B, ..."""
    return ("a", "b") if index % 2 == 0 else ("b", "a")


@dataclass(frozen=True)
class Differences:
    """One metric's per-round differences on the scale they are averaged on, with the band on that scale."""
    values: np.ndarray
    band: tuple[float, float]
    log_scale: bool

    @property
    def rounds(self) -> int:
        return len(self.values)

    @property
    def mean(self) -> float:
        return float(self.values.mean())

    @property
    def spread(self) -> float:
        return float(self.values.std(ddof=1)) if self.rounds >= 2 else math.nan

    def shown(self, value: float) -> float:
        """A value on the averaged scale as the comparison shows it: a relative change, or pp."""
        return math.expm1(value) if self.log_scale else value


def judge_paired(metric: str, a_cells: list[PhaseSide | None], b_cells: list[PhaseSide | None],
                 settings: Settings = Settings()) -> dict:
    """One metric of one phase over the rounds (``a_cells[i]``, ``b_cells[i]``: round i's runs). The verdict
    comes from ``holm`` over every row; ``rounds_needed`` after it says what would settle an inconclusive one."""
    row = {"kind": "absolute" if metric == "error_rate" else "relative", "effect": None, "ci_low": None,
           "ci_high": None, "tolerance": None, "band_low": None, "band_high": None, "p": None,
           "p_adjusted": None, "direction": None, "verdict": "inconclusive", "reason": "", "rounds": [],
           "rounds_used": 0, "rounds_needed": None, "needs": None, "metric": metric}
    used_a, used_b, skipped = [], [], []
    for index, (a, b) in enumerate(zip(a_cells, b_cells), start=1):
        short = shortfall(metric, a, f"A's run of round {index}") or shortfall(metric, b, f"B's run of round {index}")
        a_value, b_value = (a.observed(metric) if a else None), (b.observed(metric) if b else None)
        if not short and metric != "error_rate" and not (a_value and b_value):
            short = f"round {index} has {metric} 0: a relative change is undefined"
        row["rounds"].append({"round": index, "a": a_value, "b": b_value, "used": not short})
        if short:
            skipped.append(short)
            continue
        used_a.append(a)
        used_b.append(b)
    row["rounds_used"] = len(used_a)
    if len(used_a) < MIN_ROUNDS:
        row["needs"] = "longer phases" if skipped else "rounds"
        row["reason"] = (skipped[0] if skipped else
                         f"{len(used_a)} round(s): a paired interval needs at least {MIN_ROUNDS}")
        return row
    diffs = differences(metric, used_a, used_b, settings)
    for entry, value in zip((r for r in row["rounds"] if r["used"]), diffs.values):
        entry["difference"] = diffs.shown(float(value))
    _interval_and_p(row, metric, diffs, used_a, used_b)
    if skipped:
        row["skipped"] = skipped
    return row


def differences(metric: str, a_cells: list[PhaseSide], b_cells: list[PhaseSide], settings: Settings) -> Differences:
    a = np.array([c.observed(metric) for c in a_cells], dtype=float)
    b = np.array([c.observed(metric) for c in b_cells], dtype=float)
    if metric == "error_rate":
        tolerance = max(settings.tolerance_for(metric) * float(a.mean()), settings.error_floor)
        return Differences(b - a, (-tolerance, tolerance), log_scale=False)
    geometric_a = float(np.exp(np.log(a).mean()))
    floor = settings.latency_floor_ms / geometric_a if metric.startswith("latency.") else 0.0
    tolerance = max(settings.tolerance_for(metric), floor)
    # a factor 1 + t either way: A against B mirrors B against A (compare's band, on the log scale)
    return Differences(np.log(b / a), (-math.log1p(tolerance), math.log1p(tolerance)), log_scale=True)


def _interval_and_p(row: dict, metric: str, diffs: Differences, a_cells, b_cells) -> None:
    n, mean = diffs.rounds, diffs.mean
    se = diffs.spread / math.sqrt(n)
    half = student_t_quantile(0.5 + CONFIDENCE / 2, n - 1) * se
    lo, hi = mean - half, mean + half
    above = _tail(mean - diffs.band[1], se, n - 1)  # p that the mean difference is beyond the top of the band
    below = _tail(diffs.band[0] - mean, se, n - 1)
    effect, ci_low, ci_high = diffs.shown(mean), diffs.shown(lo), diffs.shown(hi)
    if metric == "error_rate":  # rare errors: every round's difference may be 0, which proves little
        ka, na = sum(int((~c.ok).sum()) for c in a_cells), sum(c.requests for c in a_cells)
        kb, nb = sum(int((~c.ok).sum()) for c in b_cells), sum(c.requests for c in b_cells)
        nlo, nhi = newcombe(ka, na, kb, nb, Z95)
        ci_low, ci_high = min(ci_low, nlo), max(ci_high, nhi)
        above = max(above, newcombe_p(ka, na, kb, nb, diffs.band[1], "above"))
        below = max(below, newcombe_p(ka, na, kb, nb, diffs.band[0], "below"))
    up, down = ("better", "worse") if REGISTRY[metric].higher_is_better else ("worse", "better")
    tolerance = diffs.band[1] if not diffs.log_scale else math.expm1(diffs.band[1])
    row.update(effect=effect, ci_low=ci_low, ci_high=ci_high, tolerance=tolerance,
               band_low=diffs.shown(diffs.band[0]), band_high=diffs.shown(diffs.band[1]),
               p=min(1.0, 2 * min(above, below)), direction=up if above < below else down,
               paired={"mean": mean, "spread": diffs.spread, "rounds": n, "band": list(diffs.band),
                       "scale": "log" if diffs.log_scale else "difference"})


def _tail(distance: float, se: float, df: int) -> float:
    """One-sided p that the true mean lies beyond a band edge ``distance`` below the observed mean."""
    if se == 0 or not math.isfinite(se):  # identical differences in every round: no spread to test against
        return 0.0 if distance > 0 else 1.0
    return student_t_sf(distance / se, df)


def rounds_needed(row: dict, alpha: float = ALPHA) -> int | None:
    """For an inconclusive row judged on rounds: the rounds that, at the spread seen, would decide it; None when
    nothing to ask for (decided, too little data in a phase, or a change that sits on the band's edge)."""
    stats = row.get("paired")
    if row["verdict"] != "inconclusive" or not stats or not stats["spread"] > 0:
        return None
    mean, spread, (low, high) = stats["mean"], stats["spread"], stats["band"]
    if low < mean < high:  # towards "no change": the 95 % interval inside the band
        gap, level = min(high - mean, mean - low), 0.5 + CONFIDENCE / 2
    else:  # towards worse / better: beyond the band at Holm's strictest level over the family
        gap, level = max(mean - high, low - mean), 1 - alpha / (2 * max(row.get("family") or 1, 1))
    if gap <= 0:
        return None
    for n in range(stats["rounds"] + 1, MAX_ROUNDS_ADVISED + 1):
        if student_t_quantile(level, n - 1) * spread / math.sqrt(n) <= gap:
            return n
    return None


def settle_text(row: dict) -> str:
    """What would make an inconclusive row conclusive, in words ('' when it is not inconclusive)."""
    if row["verdict"] != "inconclusive":
        return ""
    if row.get("needs") == "longer phases":
        return "longer phases would give it enough data"
    if row["rounds_used"] < MIN_ROUNDS:
        return f"run at least {MIN_ROUNDS + 1} rounds"
    if row["rounds_needed"]:
        return f"about {row['rounds_needed']} rounds would settle it at the spread of these {row['rounds_used']}"
    return (f"its mean change lies close to the tolerance's edge: more than {MAX_ROUNDS_ADVISED} rounds at this "
            f"spread, or longer phases to shrink the spread")
