"""Sides -> the comparison document (``chaos.compare/1``): per experiment, phase and metric the values of
every side and each candidate's change against the baseline, with the overall verdict."""

from __future__ import annotations

import math
import zlib
from pathlib import Path

import numpy as np

from chaos.analysis import RunDirError, json_safe, load_run, phase_windows, secrets_of
from chaos.compare.judging import holm, judge_metric, side_interval
from chaos.compare.over_time import run_series, timeline
from chaos.compare.resampling import PhaseSide, borrow_spread, bootstrap, fill_histograms, phase_side
from chaos.compare.runs_needed import baseline_runs_needed, run_spread, runs_needed_text
from chaos.compare.settings import ALPHA, SKIPPED_PHASES, VERDICT_RANK, VERDICTS, CompareInputError, Settings
from chaos.compare.sides import RunRef, Side, collect_side, pair_experiments, unique_labels
from chaos.compare.wording import change_reason, headline, overall_verdict, row_label
from chaos.metrics import COMPARED
from chaos.secrets import scrub
from chaos.stats import LatencyBins

SCHEMA = "chaos.compare/1"


def compare(paths: list[str | Path], settings: Settings = Settings(), labels: list[str] | None = None) -> dict:
    if len(paths) < 2:
        raise CompareInputError("compare needs at least two sides (run dirs or directories of runs)")
    labels = list(labels or []) + [None] * len(paths)
    sides = [collect_side(path, settings.last, labels[i]) for i, path in enumerate(paths)]
    unique_labels(sides)
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
            row["reason"] = row["reason"] or change_reason(row)
            _advise_runs(row)
        counts = {v: sum(r["verdict"] == v for r in rows) for v in VERDICTS}
        pairs.append({"baseline": sides[0].label, "candidate": sides[c].label, "verdict": overall_verdict(counts),
                      "counts": counts, "family": sum(r["p"] is not None for r in rows)})
    for e in experiments:
        for row in e["rows"]:
            row["label"] = row_label(row)
    verdict = max((p["verdict"] for p in pairs), key=VERDICT_RANK.__getitem__)
    result = {
        "schema": SCHEMA,
        "verdict": verdict,
        "reason": headline(pairs, experiments),
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
    cells: dict[tuple[int, str], PhaseSide] = {}
    latencies: list[list[np.ndarray]] = []
    for s, per_run in enumerate(windows):
        if per_run is None:
            continue
        for phase in phase_order:
            present = [w[phase] for w in per_run if phase in w]
            if present:
                cells[(s, phase)] = phase_side(present)
                latencies.append([p.latency_ms for p in present])
    all_lat = np.concatenate([lat for group in latencies for lat in group]) if latencies else np.empty(0)
    bins = LatencyBins(all_lat)
    used = fill_histograms(list(cells.values()), latencies, bins)
    # the smallest bootstrap p-value is about 2 / resamples: it must stay under Holm's strictest level
    family = groups * len(phase_order) * len(COMPARED)
    resamples = max(settings.resamples, math.ceil(4 * family / ALPHA))
    boots = {key: bootstrap(cell, used, bins, _rng(title, key, runs_per_side), resamples)
             for key, cell in cells.items()}
    borrowed = _donors(runs_per_side)
    for (s, phase), cell in cells.items():
        donor = cells.get((borrowed.get(s, -1), phase))
        if donor is not None:
            rng = _rng(title + "|drift", (s, phase), runs_per_side)
            boots[(s, phase)] = borrow_spread(boots[(s, phase)], donor, rng)
    rows = []
    for phase in phase_order:
        for metric in COMPARED:
            values = []
            for s in range(len(sides)):
                cell = cells.get((s, phase))
                if cell is None:
                    values.append(None)
                    continue
                lo, hi = side_interval(metric, cell, boots[(s, phase)][metric])
                values.append({"value": cell.observed(metric), "ci_low": lo, "ci_high": hi,
                               "requests": cell.requests, "windows": cell.windows_with_data})
            changes = [None] + [
                judge_metric(metric, cells.get((0, phase)), cells.get((c, phase)), boots.get((0, phase)),
                             boots.get((c, phase)), settings, (sides[0].label, sides[c].label))
                for c in range(1, len(sides))]
            for c, change in enumerate(changes[1:], start=1):
                change.update(phase=phase, metric=metric)
                change["between_runs"] = _between_runs(metric, cells, phase, c, borrowed)
            rows.append({"phase": phase, "metric": metric, "values": values, "changes": changes})
    experiment = {
        "name": title,
        "names": [refs[0].experiment if refs else None for refs in runs_per_side],
        "runs": [[{"run_id": r.run_id, "path": str(r.path), "outcome": r.outcome} for r in refs] if refs else []
                 for refs in runs_per_side],
        "rows": rows,
        "drift_from": {str(s): d for s, d in borrowed.items()},
        "resamples": resamples,
        "timeline": timeline(loaded),
        "series": [[run_series(run) for run in runs] if runs else [] for runs in loaded],
    }
    return experiment, secrets


def _between_runs(metric: str, cells: dict, phase: str, candidate: int, borrowed: dict) -> dict | None:
    """The spread between runs that this change's interval carries: the baseline's own when it pools runs, else
    the side it borrowed its drift from; None when no side pools two or more runs."""
    base, cand = cells.get((0, phase)), cells.get((candidate, phase))
    if base is None or cand is None:
        return None
    source = base if len(base.runs) >= 2 else cells.get((borrowed.get(0, -1), phase))
    spread = run_spread(source, metric)
    if spread is None:
        return None
    return {"spread": spread, "baseline_runs": len(base.runs), "candidate_runs": len(cand.runs),
            "from_runs": len(source.runs)}


def _advise_runs(change: dict) -> None:
    """An inconclusive change says how many baseline runs the spread between runs asks for (``runs_needed``)."""
    between = change.get("between_runs")
    if change["verdict"] != "inconclusive" or change["effect"] is None:
        return
    if between is None:
        change["reason"] += ("; one run per side knows nothing of how runs of one version differ on this machine: "
                             "keep several baseline runs (--baseline-last / --last)")
        return
    needed = baseline_runs_needed(change, between["spread"], between["baseline_runs"], between["candidate_runs"])
    change["baseline_runs_needed"] = needed
    text = runs_needed_text(needed, between["spread"], change["kind"], between["from_runs"])
    change["reason"] += f"; {text}" if text else (
        f"; the {between['from_runs']} runs kept are enough for how runs differ: what keeps it open is the noise "
        "within them, which longer phases shrink")


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
