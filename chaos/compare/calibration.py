"""What a ``chaos ab`` gate can see on this machine, from A/A rounds (one version against itself): per phase and
metric the spread of the paired differences, the smallest change the gate would catch (minimum detectable
effect), the margin that lets identical versions come out "no change", and how often the gate, as configured,
fails or claims a change where there is none. Pure: reads run dirs.

The gate's own code judges: every comparison of ``rounds`` rounds that the A/A rounds hold (every subset, or a
seeded sample of them when there are many) is judged with ``judge_paired`` and Holm's correction exactly as
``chaos ab`` judges, and counted. Subsets of one set of rounds are not independent comparisons; the disjoint
ones (``n // rounds``) are, and are counted apart.

Minimum detectable effect
    The gate says "worse" only beyond its tolerance band, at Holm's level: a change of
    ``band + (t(1 - alpha/m) + t(power)) * spread / sqrt(rounds)`` (on the log scale for relative metrics) is
    caught with 80 % power, ``m`` being the metrics judged (Holm's first, strictest, step).

Margin
    The tolerance at which "no change" comes out in 90 % of A/A comparisons: the 90th percentile, over the
    comparisons, of how far each one's 95 % interval reaches from zero (never narrower than the tolerance asked).
"""

from __future__ import annotations

import itertools
import math
import random
from dataclasses import replace

import numpy as np

from chaos.compare.interleaved import completed_rounds, judged_phases, phase_cells, round_runs
from chaos.compare.judging import holm
from chaos.compare.paired import differences, judge_paired
from chaos.compare.settings import ALPHA, Settings
from chaos.analysis import phase_windows
from chaos.metrics import COMPARED
from chaos.stats import student_t_quantile

SCHEMA = "chaos.calibration/1"
DRAWS = 400
POWER = 0.8
NO_CHANGE_TARGET = 0.9


def calibration(rounds: list[dict], gate_rounds: int, settings: Settings = Settings(), draws: int = DRAWS,
                seed: int = 0, experiment: str = "", design: str = "") -> dict:
    """``rounds``: the A/A rounds as ``chaos ab`` records them; ``gate_rounds``: the rounds a gate will run."""
    cells, n = _round_cells(rounds, gate_rounds, settings)
    subsets = _subsets(n, gate_rounds, draws, seed)
    metrics = [(phase, metric) for phase in cells for metric in COMPARED]
    rows = {key: _spread(key, cells, settings, gate_rounds, len(metrics)) for key in metrics}
    reach = {key: [] for key in metrics}
    as_set = _gate_rates(subsets, cells, metrics, settings, reach)
    for key, row in rows.items():
        row["margin"] = _margin(reach[key])
    margins = _margins_per_metric(rows, settings)
    with_margins = replace(settings, per_metric=tuple(sorted(margins.items())))
    at_margins = _gate_rates(subsets, cells, metrics, with_margins, {key: [] for key in metrics})
    for key, row in rows.items():
        row["at_tolerance"] = as_set["per_metric"][key]
        row["at_margin"] = at_margins["per_metric"][key]
    return {
        "schema": SCHEMA, "experiment": experiment, "design": design,
        "rounds": n, "gate_rounds": gate_rounds, "comparisons": len(subsets),
        "disjoint_comparisons": n // gate_rounds,
        "settings": settings.to_json(),
        "at_tolerance": _summary(as_set), "at_margins": _summary(at_margins),
        "margins": margins,
        "metrics": [{"phase": phase, "metric": metric, **rows[(phase, metric)]} for phase, metric in metrics],
    }


def gate_rates(rounds: list[dict], gate_rounds: int, settings: Settings = Settings(), draws: int = DRAWS,
               seed: int = 0) -> dict:
    """How gates of ``gate_rounds`` rounds judge these rounds (any two versions, not only A/A): the share of
    comparisons that fail (B worse), claim any change, and per metric each verdict's share."""
    cells, n = _round_cells(rounds, gate_rounds, settings)
    metrics = [(phase, metric) for phase in cells for metric in COMPARED]
    rates = _gate_rates(_subsets(n, gate_rounds, draws, seed), cells, metrics, settings, {key: [] for key in metrics})
    return {"rounds": n, "gate_rounds": gate_rounds, **_summary(rates),
            "per_metric": {f"{phase} {metric}": shares for (phase, metric), shares in rates["per_metric"].items()}}


def _round_cells(rounds: list[dict], gate_rounds: int, settings: Settings) -> tuple[dict, int]:
    complete = completed_rounds(rounds)
    runs, _ = round_runs(complete)
    windows = {side: [phase_windows(run) for run in runs[side]] for side in runs}
    if len(complete) < max(gate_rounds, 2):
        raise ValueError(f"{len(complete)} completed round(s): judging gates of {gate_rounds} rounds needs at "
                         f"least {max(gate_rounds, 2)}")
    return {phase: phase_cells(phase, windows) for phase in judged_phases(windows, settings)}, len(complete)


def _subsets(n: int, k: int, draws: int, seed: int) -> list[tuple[int, ...]]:
    if math.comb(n, k) <= draws:
        return list(itertools.combinations(range(n), k))
    rng = random.Random(seed)
    return [tuple(sorted(rng.sample(range(n), k))) for _ in range(draws)]


def _spread(key: tuple[str, str], cells: dict, settings: Settings, gate_rounds: int, family: int) -> dict:
    phase, metric = key
    a, b = cells[phase]["a"], cells[phase]["b"]
    judged = judge_paired(metric, a, b, settings)  # only to learn which rounds have enough data
    used = [i for i, entry in enumerate(judged["rounds"]) if entry["used"]]
    kind = "absolute" if metric == "error_rate" else "relative"
    row = {"kind": kind, "rounds_used": len(used), "mean": None, "spread": None, "mde": None}
    if len(used) < 2:
        row["why"] = judged["reason"]
        return row
    diffs = differences(metric, [a[i] for i in used], [b[i] for i in used], settings)
    df = gate_rounds - 1
    reach = diffs.band[1] + (student_t_quantile(1 - ALPHA / family, df) + student_t_quantile(POWER, df)) \
        * diffs.spread / math.sqrt(gate_rounds)
    row.update(mean=diffs.shown(diffs.mean), spread=diffs.spread, mde=diffs.shown(reach),
               scale="log" if diffs.log_scale else "difference",
               spread_vs_baseline=_spread_against_baseline(phase, metric, cells, used, diffs, settings))
    return row


def _spread_against_baseline(phase: str, metric: str, cells: dict, used: list[int], diffs, settings) -> float | None:
    """The spread of the same differences taken relative to each run's own baseline phase (B's phase/baseline
    against A's): smaller than ``spread`` where a round's level, not the fault's effect, is what varies."""
    if phase == "baseline" or "baseline" not in cells or not diffs.log_scale:
        return None
    base_a, base_b = cells["baseline"]["a"], cells["baseline"]["b"]
    values = [(base_a[i].observed(metric) if base_a[i] else None, base_b[i].observed(metric) if base_b[i] else None)
              for i in used]
    if len(values) < 2 or not all(a and b for a, b in values):
        return None
    baseline_diffs = np.log([b / a for a, b in values])
    return float(np.std(diffs.values - baseline_diffs, ddof=1))


def _gate_rates(subsets, cells: dict, metrics: list, settings: Settings, reach: dict) -> dict:
    """Judges every subset as a gate would; ``reach`` gathers per metric how far each interval reached."""
    fails = claims = 0
    verdicts = {key: {"worse": 0, "better": 0, "no change": 0, "inconclusive": 0} for key in metrics}
    for subset in subsets:
        changes = []
        for phase, metric in metrics:
            a, b = cells[phase]["a"], cells[phase]["b"]
            changes.append(judge_paired(metric, [a[i] for i in subset], [b[i] for i in subset], settings))
        holm(changes)
        for key, change in zip(metrics, changes):
            verdicts[key][change["verdict"]] += 1
            if change["ci_low"] is not None:
                reach[key].append(max(abs(change["ci_low"]), abs(change["ci_high"])))
        fails += any(c["verdict"] == "worse" for c in changes)
        claims += any(c["verdict"] in ("worse", "better") for c in changes)
    total = max(len(subsets), 1)
    return {"gate_fails": fails / total, "claims_change": claims / total,
            "per_metric": {key: {v: count / total for v, count in counts.items()} for key, counts in verdicts.items()}}


def _summary(rates: dict) -> dict:
    shares = [m["no change"] for m in rates["per_metric"].values()]
    return {"gate_fails": rates["gate_fails"], "claims_change": rates["claims_change"],
            "no_change": float(np.mean(shares)) if shares else None}


def _margin(reaches: list[float]) -> float | None:
    if not reaches:
        return None
    return float(np.quantile(reaches, NO_CHANGE_TARGET))


def _margins_per_metric(rows: dict, settings: Settings) -> dict[str, float]:
    """One tolerance per metric (a gate's settings are per metric): the widest its phases need, never narrower
    than the tolerance asked (a quieter metric could take a tighter one: its MDE says what that would buy). The
    error rate's margin is in points, which a relative tolerance cannot say: it keeps the gate's own rule."""
    margins: dict[str, float] = {}
    for (phase, metric), row in rows.items():
        if metric == "error_rate" or row["margin"] is None:
            continue
        margins[metric] = max(margins.get(metric, settings.tolerance_for(metric)), round(row["margin"], 3))
    return margins
