"""Compare runs side by side: per experiment, phase and metric, a relative change with an interval
and a verdict (better / worse / no change / inconclusive).  Pure: reads run dirs, starts nothing.

Sides
    Each argument is a side; the first is the baseline, every other side is compared with it.
    A side is a run dir (it has ``plan.json``), a directory of run dirs (one experiment, e.g.
    ``reports/shop-redis-latency-v2``) or a directory of such directories (e.g. one per
    version: ``reports-v1.4/``).  In a directory the ``last`` (default 1) most recent runs of
    each experiment that *completed* are used (newest first by run id); aborted, interrupted
    or failed runs are skipped with a note.  With ``last`` > 1 the runs are pooled (see
    below).  A run dir given directly is always used, with a note when it did not complete.
    When every side holds exactly one experiment, those are compared whatever their names
    (``shop-redis-latency-v1`` against ``-v2``); otherwise experiments are matched by name.

Metrics
    Per phase (every phase except ``warmup``): error rate, p50, p95 and p99 latency, and
    throughput.  Latency and throughput change is relative, ``B / A - 1``; error-rate change
    is absolute, ``B - A`` in percentage points (a relative change from 0 errors means nothing).

Intervals
    Requests close in time are correlated, so, as in the verdicts of a run, each phase is cut
    into 1 s windows and whole windows are resampled: ``RESAMPLES`` draws per side, the sides
    independently (seeded from the run ids: a re-render is identical).  The change is computed
    per draw and its 2.5 and 97.5 percentiles are the 95 % interval.  Latency quantiles come
    from per-window histograms with 1 %-wide log bins.  When a side pools several runs, each
    draw first draws the runs with replacement, then windows within each drawn run (a two-stage
    bootstrap), so the spread *between* runs widens the interval as it should.  A side with a
    single run borrows that spread: when the baseline (else another side) pools k >= 2 runs,
    each draw of the single run is shifted by the deviation of one of those runs, drawn at
    random, from their pooled value (log ratio; difference for the error rate), widened by
    sqrt(k / (k - 1)).  With one run on every side the interval knows nothing about
    run-to-run drift (another tenant on the machine, a cold cache): keep several baseline
    runs when the answer matters.
    Error-rate intervals are the union of the bootstrap interval and Newcombe's hybrid score
    interval for a difference of two proportions (the bootstrap collapses to a point when
    errors are rare or absent: 0 errors in 400 requests does not prove an error rate under
    0.5 %).

Tolerance and verdict (Kayenta-style)
    Each metric has a tolerance band ``[-t, +t]`` around "no change": ``t = tolerance``
    (default 10 %) for throughput; ``t = max(tolerance, 1 ms / A)`` for latency (a change of
    less than a millisecond never matters); ``t = max(tolerance x A, 0.5 pp)`` for the error
    rate.  Per metric, two one-sided bootstrap tests ask whether the change is beyond ``+t`` on
    the bad side or beyond ``-t`` on the good side; the smaller p-value, doubled, is the
    metric's p-value (for error rates the larger of the bootstrap and Newcombe p-values).
    Holm's step-down correction runs over every judged metric of one candidate against the
    baseline (all experiments and phases together), at family-wise error 5 %: comparing two
    identical versions flags anything in at most about 5 % of comparisons, however many
    metrics there are.  Then:

    * **worse** / **better**: rejected by Holm, in the direction of the smaller p-value;
    * **no change**: not rejected, and the whole 95 % interval lies inside ``[-t, +t]``;
    * **inconclusive**: not rejected and the interval reaches past the tolerance (too noisy
      to tell), or too little data: fewer than 5 windows with requests on a side, fewer
      requests than a quantile needs (100 for p99), or the phase is missing on a side.

    A change beyond the tolerance at 95 % that does not survive the correction is
    inconclusive ("marginal" in Kayenta's words), not worse.

Overall
    worse (any metric of any candidate) > better > inconclusive > no change.
"""

from __future__ import annotations

import json
import math
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from chaos.analysis import (
    MIN_WINDOWS,
    PhaseWindows,
    RunDirError,
    json_safe,
    load_run,
    phase_windows,
    secrets_of,
)
from chaos.metrics import COMPARED, REGISTRY, describe
from chaos.rundir import check_run_dir
from chaos.secrets import scrub
from chaos.spans import WINDOW_S, judged_segments, run_origin
from chaos.stats import (
    CONFIDENCE,
    Z95,
    LatencyBins,
    grouped_quantiles,
    histogram_quantiles,
    newcombe,
    newcombe_p,
    percentile_ci,
    wilson,
)

SCHEMA = "chaos.compare/1"
SKIPPED_PHASES = ("warmup",)
RESAMPLES = 4000
ALPHA = 0.05  # family-wise, per candidate
DEFAULT_TOLERANCE = 0.10
ERROR_FLOOR = 0.005  # 0.5 percentage points
LATENCY_FLOOR_MS = 1.0
VERDICTS = ("worse", "better", "no change", "inconclusive")
VERDICT_RANK = {"no change": 0, "inconclusive": 1, "better": 2, "worse": 3}


class CompareInputError(ValueError):
    """A path is not a run dir nor a directory of runs, or nothing can be compared."""


def parse_tolerances(values: list[str] | tuple[str, ...]) -> tuple[float, tuple[tuple[str, float], ...]]:
    """``["10%", "p99=25%"]`` -> (0.10, (("latency.p99", 0.25),)); ValueError on anything else."""
    from chaos.units import parse_fraction

    default, per_metric = DEFAULT_TOLERANCE, {}
    for value in values:
        name, _, amount = value.rpartition("=")
        fraction = parse_fraction(amount)
        if not 0 <= fraction < 10:
            raise ValueError(f"{value!r}: a tolerance is a fraction such as 10% or 0.1")
        if not name:
            default = fraction
            continue
        metric = next((m for m in COMPARED if name in (m, REGISTRY[m].short)), None)
        if metric is None:
            raise ValueError(f"{value!r}: unknown metric {name!r} "
                             f"(one of {', '.join(COMPARED)}; p50, p95, p99 also work)")
        per_metric[metric] = fraction
    return default, tuple(sorted(per_metric.items()))


@dataclass(frozen=True)
class Settings:
    tolerance: float = DEFAULT_TOLERANCE
    per_metric: tuple[tuple[str, float], ...] = ()  # (metric, tolerance) overrides, e.g. a wider one for p99
    last: int = 1
    phases: tuple[str, ...] | None = None  # None: every phase but warmup
    resamples: int = RESAMPLES
    error_floor: float = ERROR_FLOOR
    latency_floor_ms: float = LATENCY_FLOOR_MS

    def tolerance_for(self, metric: str) -> float:
        return dict(self.per_metric).get(metric, self.tolerance)

    def to_json(self) -> dict:
        return {"tolerance": self.tolerance, "per_metric": dict(self.per_metric), "last": self.last,
                "phases": list(self.phases) if self.phases else None,
                "resamples": self.resamples, "error_floor": self.error_floor,
                "latency_floor_ms": self.latency_floor_ms, "confidence": CONFIDENCE, "alpha": ALPHA,
                "correction": "holm", "window_s": WINDOW_S, "method": "block bootstrap over 1 s windows"}


# ---------------------------------------------------------------- picking runs

@dataclass(frozen=True)
class RunRef:
    path: Path
    experiment: str
    run_id: str
    outcome: str | None


@dataclass
class Side:
    label: str
    path: Path
    experiments: dict[str, list[RunRef]]  # chosen runs per experiment, newest first
    notes: list[str] = field(default_factory=list)


def run_ref(run_dir: Path) -> RunRef:
    try:
        plan = json.loads((run_dir / "plan.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise CompareInputError(f"{run_dir}/plan.json: cannot be read ({exc.__class__.__name__})") from None
    return RunRef(run_dir, str(plan.get("experiment") or run_dir.parent.name), str(plan.get("run_id") or run_dir.name),
                  _outcome(run_dir / "journal.jsonl"))


def _outcome(journal: Path) -> str | None:
    if not journal.is_file():
        return None
    outcome = None
    for line in journal.read_text(encoding="utf-8", errors="replace").splitlines():
        if '"run_ended"' in line:
            try:
                outcome = json.loads(line).get("outcome")
            except json.JSONDecodeError:
                pass
    return outcome


def is_run_dir(path: Path) -> bool:
    return (path / "plan.json").is_file()


def _runs_under(path: Path) -> list[Path]:
    """Run dirs in ``path`` or one level further down; the ``latest`` links are not counted twice."""
    found: dict[Path, None] = {}
    for child in sorted(path.iterdir()):
        if not child.is_dir() or child.name.startswith("."):
            continue
        if is_run_dir(child):
            found.setdefault(child.resolve())
            continue
        for grandchild in sorted(child.iterdir()):
            if grandchild.is_dir() and is_run_dir(grandchild):
                found.setdefault(grandchild.resolve())
    return list(found)


def collect_side(path: str | Path, last: int = 1, label: str | None = None) -> Side:
    path = Path(path)
    if not path.is_dir():
        raise CompareInputError(f"{path}: not a directory")
    if is_run_dir(path):
        _check_readable(path)
        ref = run_ref(path.resolve())
        notes = [] if ref.outcome == "completed" else [
            f"run {ref.run_id} ended {ref.outcome or 'without a run_ended event'}: compared anyway"]
        return Side(label or _run_label(path, ref), path, {ref.experiment: [ref]}, notes)
    runs = _runs_under(path)
    if not runs:
        raise CompareInputError(f"{path}: no run dirs here (a run dir has plan.json), nor one level down")
    unreadable = {run: problem for run in runs if (problem := _unreadable(run))}
    if len(unreadable) == len(runs):
        raise CompareInputError(f"no run under {path} can be read by this harness; {next(iter(unreadable.values()))}")
    refs = [run_ref(p) for p in runs if p not in unreadable]
    side = Side(label or path.resolve().name, path, {}, [f"skipped {problem}" for problem in unreadable.values()])
    by_experiment: dict[str, list[RunRef]] = {}
    for ref in refs:
        by_experiment.setdefault(ref.experiment, []).append(ref)
    for experiment, runs in sorted(by_experiment.items()):
        runs.sort(key=lambda r: r.run_id, reverse=True)
        usable = [r for r in runs if r.outcome == "completed"]
        newer_skipped = [r for r in runs if r.outcome != "completed" and (not usable or r.run_id > usable[0].run_id)]
        for ref in newer_skipped:
            side.notes.append(f"{experiment}: skipped run {ref.run_id} ({ref.outcome or 'no run_ended event'})")
        if usable:
            side.experiments[experiment] = usable[:last]
    if not side.experiments:
        raise CompareInputError(f"{path}: no run here completed (aborted, interrupted or failed runs are not compared)")
    return side


def _unreadable(run_dir: Path) -> str | None:
    """Why this harness cannot read a run dir (missing files, a journal version it does not know), else None."""
    try:
        check_run_dir(run_dir)
    except RunDirError as exc:
        return str(exc)
    return None


def _check_readable(run_dir: Path) -> None:
    problem = _unreadable(run_dir)
    if problem:
        raise CompareInputError(problem)


def _run_label(path: Path, ref: RunRef) -> str:
    return f"{ref.experiment} {ref.run_id}" if path.name == "latest" or path.name == ref.run_id else path.name


def _unique_labels(sides: list[Side]) -> None:
    seen: dict[str, int] = {}
    for side in sides:
        seen[side.label] = seen.get(side.label, 0) + 1
        if seen[side.label] > 1:
            side.label = f"{side.label} ({seen[side.label]})"


def pair_experiments(sides: list[Side]) -> list[tuple[str, list[list[RunRef] | None]]]:
    """(display name, runs per side or None where the side lacks the experiment), baseline's order first."""
    if all(len(s.experiments) == 1 for s in sides):
        names = [next(iter(s.experiments)) for s in sides]
        title = names[0] if len(set(names)) == 1 else " · ".join(dict.fromkeys(names))
        return [(title, [next(iter(s.experiments.values())) for s in sides])]
    order = list(dict.fromkeys(name for s in sides for name in s.experiments))
    return [(name, [s.experiments.get(name) for s in sides]) for name in order]


# ---------------------------------------------------------------- data of one side, one phase

@dataclass
class _RunWindows:
    n: np.ndarray  # requests per window
    errors: np.ndarray
    durations: np.ndarray
    hist: np.ndarray | None = None  # windows x used latency bins, filled once the group's bins are known
    window: np.ndarray | None = None
    latency_ms: np.ndarray | None = None
    ok: np.ndarray | None = None


@dataclass
class _PhaseSide:
    runs: list[_RunWindows]
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


def _phase_side(phases: list[PhaseWindows]) -> _PhaseSide:
    runs = []
    for p in phases:
        count = len(p.durations)
        runs.append(_RunWindows(np.bincount(p.window, minlength=count).astype(float),
                                np.bincount(p.window, weights=~p.ok, minlength=count).astype(float),
                                p.durations.astype(float), window=p.window, latency_ms=p.latency_ms, ok=p.ok))
    lat = np.concatenate([p.latency_ms for p in phases]) if phases else np.empty(0)
    ok = np.concatenate([p.ok for p in phases]) if phases else np.empty(0, dtype=bool)
    return _PhaseSide(runs, lat, ok)


def _fill_histograms(cells: list[_PhaseSide], latencies_by_cell: list[list[np.ndarray]], bins: LatencyBins) -> np.ndarray:
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


def _bootstrap(cell: _PhaseSide, used: np.ndarray, bins: LatencyBins, rng: np.random.Generator, resamples: int) -> dict:
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


def _run_effects(cell: _PhaseSide, metric: str) -> np.ndarray | None:
    """How far each run of a pooled side is from the side's pooled value (log ratio; difference for the
    error rate), widened by sqrt(k / (k - 1)) because k runs underestimate the spread of the next one."""
    if len(cell.runs) < 2:
        return None
    pooled = cell.observed(metric)
    values = [_PhaseSide([run], run.latency_ms, run.ok).observed(metric) for run in cell.runs]
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


def _borrow_spread(boot: dict, donor: _PhaseSide, rng: np.random.Generator) -> dict:
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


# ---------------------------------------------------------------- one metric, candidate against baseline

def _side_interval(metric: str, cell: _PhaseSide, boot: np.ndarray) -> tuple[float | None, float | None]:
    lo, hi = percentile_ci(boot)
    if metric == "error_rate" and cell.requests:
        k = int((~cell.ok).sum())
        wlo, whi = wilson(k, cell.requests)
        lo, hi = (wlo, whi) if lo is None else (min(lo, wlo), max(hi, whi))
    observed = cell.observed(metric)
    if lo is not None and observed is not None:
        lo, hi = min(lo, observed), max(hi, observed)
    return lo, hi


def shortfall(metric: str, cell: _PhaseSide | None, who: str) -> str | None:
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


def judge_metric(metric: str, base: _PhaseSide | None, cand: _PhaseSide | None,
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


# ---------------------------------------------------------------- the comparison

def compare(paths: list[str | Path], settings: Settings = Settings(), labels: list[str] | None = None) -> dict:
    if len(paths) < 2:
        raise CompareInputError("compare needs at least two sides (run dirs or directories of runs)")
    labels = list(labels or []) + [None] * len(paths)
    sides = [collect_side(path, settings.last, labels[i]) for i, path in enumerate(paths)]
    _unique_labels(sides)
    return compare_sides(sides, settings)


def compare_sides(sides: list[Side], settings: Settings = Settings()) -> dict:
    groups = pair_experiments(sides)
    experiments, secrets = [], set()
    for title, runs_per_side in groups:
        experiment, found = _compare_group(title, runs_per_side, sides, settings, len(groups))
        experiments.append(experiment)
        secrets |= found
    pairs = []
    for c in range(1, len(sides)):
        rows = [row["changes"][c] for e in experiments for row in e["rows"]]
        holm(rows)
        for row in rows:
            row["reason"] = row["reason"] or _reason(row)
        counts = {v: sum(r["verdict"] == v for r in rows) for v in VERDICTS}
        pairs.append({"baseline": sides[0].label, "candidate": sides[c].label, "verdict": _overall(counts),
                      "counts": counts, "family": sum(r["p"] is not None for r in rows)})
    for e in experiments:
        for row in e["rows"]:
            row["label"] = _row_label(row)
    verdict = max((p["verdict"] for p in pairs), key=VERDICT_RANK.__getitem__)
    result = {
        "schema": SCHEMA,
        "verdict": verdict,
        "reason": _headline(pairs, experiments),
        "settings": settings.to_json(),
        "sides": [{"label": s.label, "path": str(s.path), "role": "baseline" if i == 0 else "candidate",
                   "notes": s.notes} for i, s in enumerate(sides)],
        "pairs": pairs,
        "experiments": experiments,
    }
    return scrub(json_safe(result), secrets)


def _compare_group(title: str, runs_per_side: list[list[RunRef] | None], sides: list[Side],
                   settings: Settings, groups: int = 1) -> tuple[dict, set[str]]:
    loaded, secrets = [], set()
    for side, refs in zip(sides, runs_per_side):
        if not refs:
            loaded.append(None)
            continue
        runs = []
        for ref in refs:
            try:
                run = load_run(ref.path)
            except RunDirError as exc:
                raise CompareInputError(str(exc)) from None
            secrets |= set(secrets_of(run.plan))
            side.notes += [f"run {ref.run_id}: {note}" for note in run.unreadable]
            runs.append(run)
        loaded.append(runs)
    windows = [[phase_windows(r) for r in runs] if runs else None for runs in loaded]
    phase_order = _phases(windows, settings)
    cells: dict[tuple[int, str], _PhaseSide] = {}
    latencies: list[list[np.ndarray]] = []
    for s, per_run in enumerate(windows):
        if per_run is None:
            continue
        for phase in phase_order:
            present = [w[phase] for w in per_run if phase in w]
            if present:
                cells[(s, phase)] = _phase_side(present)
                latencies.append([p.latency_ms for p in present])
    all_lat = np.concatenate([lat for group in latencies for lat in group]) if latencies else np.empty(0)
    bins = LatencyBins(all_lat)
    used = _fill_histograms(list(cells.values()), latencies, bins)
    # the smallest bootstrap p-value is about 2 / resamples: it must stay under Holm's strictest level
    family = groups * len(phase_order) * len(COMPARED)
    resamples = max(settings.resamples, math.ceil(4 * family / ALPHA))
    boots = {key: _bootstrap(cell, used, bins, _rng(title, key, runs_per_side), resamples)
             for key, cell in cells.items()}
    borrowed = _donors(runs_per_side)
    for (s, phase), cell in cells.items():
        donor = cells.get((borrowed.get(s, -1), phase))
        if donor is not None:
            rng = _rng(title + "|drift", (s, phase), runs_per_side)
            boots[(s, phase)] = _borrow_spread(boots[(s, phase)], donor, rng)
    rows = []
    for phase in phase_order:
        for metric in COMPARED:
            values = []
            for s in range(len(sides)):
                cell = cells.get((s, phase))
                if cell is None:
                    values.append(None)
                    continue
                lo, hi = _side_interval(metric, cell, boots[(s, phase)][metric])
                values.append({"value": cell.observed(metric), "ci_low": lo, "ci_high": hi,
                               "requests": cell.requests, "windows": cell.windows_with_data})
            changes = [None] + [
                judge_metric(metric, cells.get((0, phase)), cells.get((c, phase)), boots.get((0, phase)),
                             boots.get((c, phase)), settings, (sides[0].label, sides[c].label))
                for c in range(1, len(sides))]
            for change in changes[1:]:
                change.update(phase=phase, metric=metric)
            rows.append({"phase": phase, "metric": metric, "values": values, "changes": changes})
    experiment = {
        "name": title,
        "names": [refs[0].experiment if refs else None for refs in runs_per_side],
        "runs": [[{"run_id": r.run_id, "path": str(r.path), "outcome": r.outcome} for r in refs] if refs else []
                 for refs in runs_per_side],
        "rows": rows,
        "drift_from": {str(s): d for s, d in borrowed.items()},
        "resamples": resamples,
        "timeline": _timeline(loaded),
        "series": [[_series(run) for run in runs] if runs else [] for runs in loaded],
    }
    return experiment, secrets


def _donors(runs_per_side: list[list[RunRef] | None]) -> dict[int, int]:
    """Single-run sides borrow the run-to-run drift of the baseline when it pools runs, else of the first
    side that does; {} when no side pools two or more runs."""
    pooled = [i for i, refs in enumerate(runs_per_side) if refs and len(refs) >= 2]
    if not pooled:
        return {}
    return {i: pooled[0] for i, refs in enumerate(runs_per_side) if refs and len(refs) == 1}


def _phases(windows: list[list[dict] | None], settings: Settings) -> list[str]:
    order = list(dict.fromkeys(p for per_run in windows if per_run for w in per_run for p in w))
    if settings.phases:
        return [p for p in settings.phases]
    return [p for p in order if p not in SKIPPED_PHASES]


def _rng(title: str, key: tuple[int, str], runs_per_side) -> np.random.Generator:
    runs = runs_per_side[key[0]] or []
    text = "|".join([title, str(key[0]), key[1], *(r.run_id for r in runs)])
    return np.random.default_rng([zlib.crc32(text.encode()), 0xC0A7])


# ---------------------------------------------------------------- over time (for the overlaid charts)

def _series(run) -> dict:
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


def _timeline(loaded: list[list | None]) -> dict:
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


# ---------------------------------------------------------------- wording



def format_change(row: dict, *values: float | None) -> str:
    """``+12.3 %`` for relative changes, ``+0.42 pp`` for error-rate differences; ``–`` when unknown."""
    if not values or any(v is None for v in values):
        return "–"
    if row["kind"] == "absolute":
        return " … ".join(_signed(v * 100, _digits(v * 100)) for v in values) + " pp"
    return " … ".join(_signed(v * 100, _digits(v * 100)) for v in values) + " %"


def _digits(value: float) -> int:
    return 0 if abs(value) >= 100 else 1 if abs(value) >= 1 else 2


def _signed(value: float, digits: int) -> str:
    text = f"{value:+,.{digits}f}"
    return "±0" if float(text.replace(",", "")) == 0 else text.replace("-", "−")


def tolerance_text(row: dict) -> str:
    if row.get("tolerance") is None:
        return "–"
    unit = " pp" if row["kind"] == "absolute" else " %"
    return f"±{row['tolerance'] * 100:.{_digits(row['tolerance'] * 100)}f}{unit}"


def _reason(row: dict) -> str:
    what = f"{describe(row['metric'])} in phase {row['phase']}"
    change = format_change(row, row["effect"])
    ci = format_change(row, row["ci_low"], row["ci_high"])
    tolerance = tolerance_text(row)
    if row["verdict"] in ("worse", "better"):
        return (f"{what}: {change} (CI {ci}), {row['verdict']} beyond the {tolerance} tolerance "
                f"(Holm-adjusted p = {row['p_adjusted']:.2g} over {row['family']} metrics)")
    if row["verdict"] == "no change":
        return f"{what}: {change} (CI {ci}) lies within the {tolerance} tolerance"
    beyond = row["ci_low"] > row["band_high"] or row["ci_high"] < row["band_low"]
    if beyond:
        return (f"{what}: {change} (CI {ci}) is beyond the {tolerance} tolerance at 95 %, but not after "
                f"the Holm correction over {row['family']} metrics")
    return f"{what}: {change} (CI {ci}) reaches past the {tolerance} tolerance: too noisy to tell"


def _row_label(row: dict) -> str:
    return f"{row['phase']} · {describe(row['metric'])}"


def _overall(counts: dict) -> str:
    if counts["worse"]:
        return "worse"
    if counts["better"]:
        return "better"
    if counts["inconclusive"]:
        return "inconclusive"
    return "no change"


def _headline(pairs: list[dict], experiments: list[dict]) -> str:
    parts = []
    for index, pair in enumerate(pairs, start=1):
        rows = [row["changes"][index] for e in experiments for row in e["rows"]]
        worst = [r for r in rows if r["verdict"] == pair["verdict"]]
        counts = ", ".join(f"{n} {v}" for v, n in pair["counts"].items() if n)
        lead = f"{pair['candidate']} against {pair['baseline']}: {counts}"
        if pair["verdict"] in ("worse", "better") and worst:
            top = max(worst, key=lambda r: abs(r["effect"] / r["tolerance"]) if r["tolerance"] else 0)
            lead += f"; largest: {describe(top['metric'])} in {top['phase']} {format_change(top, top['effect'])}"
        parts.append(lead + ".")
    return " ".join(parts)


# ---------------------------------------------------------------- exit codes and the CI gate

FAIL_ON = ("worse", "better", "inconclusive", "change")


def failing(comparison: dict, fail_on: tuple[str, ...]) -> list[dict]:
    """The changes whose verdict is one the caller fails on (``change`` means worse or better)."""
    wanted = set(fail_on) | ({"worse", "better"} if "change" in fail_on else set())
    return [change for e in comparison["experiments"] for row in e["rows"] for change in row["changes"][1:]
            if change["verdict"] in wanted]


def exit_code(comparison: dict, fail_on: tuple[str, ...]) -> int:
    return 1 if failing(comparison, fail_on) else 0


def gate_exit_code(run_code: int, comparison: dict) -> int:
    """`chaos run --baseline`: a held or inconclusive run that is worse than its baseline exits 1 (deviated)."""
    if run_code in (0, 5) and failing(comparison, ("worse",)):
        return 1
    return run_code


def baseline_side(path: str | Path, experiment: str, last: int = 1) -> Side:
    """The baseline for a new run of ``experiment``: the same experiment by name, else the only one there."""
    side = collect_side(path, last, label="baseline")
    if experiment in side.experiments:
        side.experiments = {experiment: side.experiments[experiment]}
    elif len(side.experiments) != 1:
        raise CompareInputError(f"{path}: no run of {experiment} here; found {', '.join(sorted(side.experiments))}")
    return side


def against_baseline(run_dir: str | Path, baseline: Side, settings: Settings = Settings()) -> dict:
    run_dir = Path(run_dir)
    ref = run_ref(run_dir)
    candidate = Side("this run", run_dir, {ref.experiment: [ref]})
    return compare_sides([baseline, candidate], settings)


