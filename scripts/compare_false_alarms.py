"""How often does `chaos compare` cry wolf?  Compares runs that are identical by construction.

    .venv/bin/python scripts/compare_false_alarms.py [--pairs 200] [--real RUN_OR_DIR ...]

* synthetic: pairs of runs from the test generator (tests/support/fakerun.py) with the same
  settings and different seeds, with per-second noise so neighbouring requests are correlated;
* resampled: pairs of pseudo-runs made from one real run by drawing its 1 s windows with
  replacement, phase by phase (the real latency distribution and burstiness, no drift);
* real (optional): every pair of completed runs of the same experiment in the given
  directories, one run per side, and, with four or more runs, two pooled against two.

A false alarm is a comparison with at least one metric called worse or better.  The rate is
printed with Holm's correction (what `chaos compare` does) and without it (each metric at 5 %).
With ``--zero-tolerance`` every difference counts: with well-calibrated intervals about 5 % of
identical pairs raise an alarm with Holm, and far more without it.
"""

from __future__ import annotations

import argparse
import itertools
import json
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from support.fakerun import make_run  # noqa: E402

from chaos.analysis import load_run  # noqa: E402
from chaos.compare import ALPHA, Settings, collect_side, compare_sides  # noqa: E402
from chaos.spans import judged_segments  # noqa: E402


# a shop-like run: 150 req/s, log-normal latency around 12 ms with per-second drift, 300 ms more and
# 0.3 % errors during the fault; phases as in the flagship experiment
SYNTHETIC = dict(rps=150.0, phases=(("warmup", 5.0), ("baseline", 20.0), ("fault", 20.0), ("recovery", 15.0)),
                 base_ms=12.0, sigma=0.5, window_noise=0.08, fault_extra_ms=300.0, base_error_rate=0.0005,
                 fault_error_rate=0.003)


def changes(comparison: dict) -> list[dict]:
    return [row["changes"][1] for e in comparison["experiments"] for row in e["rows"]]


def tally(comparisons: list[dict]) -> dict:
    alarms = sum(any(c["verdict"] in ("worse", "better") for c in changes(x)) for x in comparisons)
    raw = sum(any(c["p"] is not None and c["p"] <= ALPHA for c in changes(x)) for x in comparisons)
    all_same = sum(all(c["verdict"] == "no change" for c in changes(x)) for x in comparisons)
    verdicts: dict[str, dict[str, int]] = {}
    for x in comparisons:
        for c in changes(x):
            key = f"{c['phase']}/{c['metric']}"
            verdicts.setdefault(key, {}).setdefault(c["verdict"], 0)
            verdicts[key][c["verdict"]] += 1
    return {"pairs": len(comparisons), "false_alarms_holm": alarms, "false_alarms_uncorrected": raw,
            "all_no_change": all_same, "per_metric": verdicts}


def show(title: str, result: dict) -> None:
    n = result["pairs"]
    print(f"\n{title}: {n} pairs")
    print(f"  false alarm (any metric worse/better), Holm:        {result['false_alarms_holm']:4d}  "
          f"({100 * result['false_alarms_holm'] / n:.1f} %)")
    print(f"  false alarm, no correction (any metric p <= 5 %):    {result['false_alarms_uncorrected']:4d}  "
          f"({100 * result['false_alarms_uncorrected'] / n:.1f} %)")
    print(f"  'no change' on every metric:                        {result['all_no_change']:4d}  "
          f"({100 * result['all_no_change'] / n:.1f} %)")
    for key, counts in result["per_metric"].items():
        print(f"    {key:<22} " + "  ".join(f"{v} {c}" for v, c in sorted(counts.items())))


def pair(a: Path, b: Path, settings: Settings) -> dict:
    return compare_sides([collect_side(a, label="A"), collect_side(b, label="B")], settings)


def synthetic(pairs: int, work: Path, settings: Settings) -> dict:
    out = []
    for i in range(pairs):
        kwargs = SYNTHETIC
        a = make_run(work / f"syn-{i}-a", seed=10_000 + 2 * i, **kwargs)
        b = make_run(work / f"syn-{i}-b", seed=10_001 + 2 * i, **kwargs)
        out.append(pair(a, b, settings))
        shutil.rmtree(a), shutil.rmtree(b)
    return tally(out)


def resampled_copy(run_dir: Path, out: Path, rng: np.random.Generator) -> Path:
    """A pseudo-run: each phase's 1 s windows drawn with replacement from the real run, moved into place."""
    run = load_run(run_dir)
    t = run.samples["t_mono"].to_numpy(dtype=float)
    segments = judged_segments(run.events, float(t.max()) if len(t) else 0.0)
    pieces = []
    for seg in segments:
        n = max(1, int(np.ceil(seg.end - seg.start - 1e-9)))
        for slot, drawn in enumerate(rng.integers(0, n, n)):
            lo, hi = seg.start + drawn, min(seg.start + drawn + 1.0, seg.end)
            chunk = run.samples[(t >= lo) & (t < hi)].copy()
            shift = float(slot - drawn)
            chunk["t_mono"] += shift
            chunk["t_wall"] += shift
            chunk = chunk[chunk["t_mono"] < seg.end]
            pieces.append(chunk)
    out.mkdir(parents=True)
    shutil.copy(run_dir / "plan.json", out / "plan.json")
    shutil.copy(run_dir / "journal.jsonl", out / "journal.jsonl")
    frame = pd.concat(pieces).sort_values("t_mono", kind="stable")
    frame.to_parquet(out / "samples.parquet", index=False)
    return out


def resampled(run_dir: Path, pairs: int, work: Path, settings: Settings) -> dict:
    rng = np.random.default_rng(20261127)
    out = []
    for i in range(pairs):
        a = resampled_copy(run_dir, work / f"res-{i}-a", rng)
        b = resampled_copy(run_dir, work / f"res-{i}-b", rng)
        out.append(pair(a, b, settings))
        shutil.rmtree(a), shutil.rmtree(b)
    return tally(out)


def real(directory: Path, settings: Settings) -> tuple[dict, dict | None]:
    side = collect_side(directory, last=100)
    runs = [ref.path for refs in side.experiments.values() for ref in refs]
    singles = [pair(a, b, settings) for a, b in itertools.combinations(sorted(runs), 2)]
    pooled = None
    if len(runs) >= 4:
        comparisons = []
        for left in itertools.combinations(sorted(runs), 2):
            right = [r for r in sorted(runs) if r not in left][:2]
            if left < tuple(right):
                comparisons.append(_pooled(list(left), right, settings))
        pooled = tally(comparisons)
    return tally(singles), pooled


def _pooled(left: list[Path], right: list[Path], settings: Settings) -> dict:
    from chaos.compare import Side, run_ref

    sides = []
    for label, paths in (("A", left), ("B", right)):
        refs = [run_ref(p) for p in paths]
        sides.append(Side(label, paths[0].parent, {refs[0].experiment: refs}))
    return compare_sides(sides, settings)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", type=int, default=200)
    parser.add_argument("--resample-from", type=Path, default=None, help="a real run dir to resample")
    parser.add_argument("--real", type=Path, action="append", default=[], help="a directory of runs of one version")
    parser.add_argument("--json", type=Path, default=None, help="write the numbers here too")
    parser.add_argument("--zero-tolerance", action="store_true",
                        help="test 'any change at all' (no tolerance, no floors): checks the intervals' calibration "
                             "and shows what the Holm correction buys")
    args = parser.parse_args()
    settings = Settings(tolerance=0.0, error_floor=0.0, latency_floor_ms=0.0) if args.zero_tolerance else Settings()
    results = {}
    with tempfile.TemporaryDirectory(prefix="chaos-false-alarms-") as tmp:
        work = Path(tmp)
        results["synthetic"] = synthetic(args.pairs, work, settings)
        show("synthetic identical runs", results["synthetic"])
        if args.resample_from:
            results["resampled"] = resampled(args.resample_from, args.pairs, work, settings)
            show(f"pseudo-runs resampled from {args.resample_from}", results["resampled"])
    for directory in args.real:
        singles, pooled = real(directory, settings)
        results[f"real {directory}"] = singles
        show(f"real runs of one version in {directory}, one run per side", singles)
        if pooled:
            results[f"real pooled {directory}"] = pooled
            show(f"real runs in {directory}, two pooled against two", pooled)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
