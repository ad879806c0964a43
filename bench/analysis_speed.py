"""5. Analysis speed and memory: `chaos report RUN_DIR` (summary + every report) on a run of 1 million
samples, and `chaos compare RUN_A RUN_B` of two such runs, each as a user runs it (a fresh process,
imports included), timed and with its peak resident memory (wait4's ru_maxrss).

Baseline, in the same bench: the least any analysis must do, in a fresh process as well: import pandas,
read samples.parquet, and compute per phase p50/p99 latency and the error rate with a groupby. The ratio
is CPU time over the baseline's CPU time (CPU time, not wall time: on a shared 2-core machine the wall
time follows the load average; both are printed).

The runs are synthetic (bench/synthetic.py), in the real format: plan.json from the real planner,
the journal's events, samples.parquet through the runner's own CSV -> Parquet step.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from bench.common import ROOT, Result, Settings, chaos_command, load_average, median, with_load
from bench.synthetic import make_run

TARGET_S = 10.0
TARGET_RSS = 1 << 30
MINIMAL = """
import sys, pandas as pd, json
frame = pd.read_parquet(sys.argv[1], columns=["latency_ms", "success", "phase"])
out = frame.groupby("phase").agg(p50=("latency_ms", lambda s: s.quantile(0.5)),
                                 p99=("latency_ms", lambda s: s.quantile(0.99)),
                                 errors=("success", lambda s: 1 - s.mean()))
print(out.to_json())
"""


def timed(command: list[str], cwd: Path) -> dict:
    """Wall seconds, CPU seconds and peak RSS bytes of one child process."""
    started = time.monotonic()
    process = subprocess.Popen(command, cwd=str(cwd), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.monotonic() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    out, err = process.stdout.read().decode(errors="replace"), process.stderr.read().decode(errors="replace")
    return {"wall": wall, "cpu": usage.ru_utime + usage.ru_stime, "rss": usage.ru_maxrss * 1024,
            "exit": process.returncode, "output": out + err}


def make_runs(settings: Settings, count: int) -> tuple[Path, Path, float]:
    started = time.monotonic()
    reports = settings.work / "analysis"
    a = make_run(reports, "bench-analysis", "20260101T000000-aaaa", count, seed=1)
    b = make_run(reports, "bench-analysis", "20260101T010000-bbbb", count, seed=2, slower=1.05)
    return a, b, time.monotonic() - started


def _fmt(m: dict, load) -> str:
    return with_load(f"{m['wall']:.2f} s wall, {m['cpu']:.2f} s CPU, peak {m['rss'] / 2**20:.0f} MiB", load)


def run(settings: Settings) -> Result:
    started = time.monotonic()
    count = settings.pick(1_000_000, 200_000)
    repeats = settings.pick(2, 1)
    a, b, made = make_runs(settings, count)
    renders, compares, minimals = [], [], []
    for _ in range(repeats):
        load = load_average()
        minimal = timed([sys.executable, "-c", MINIMAL, str(a / "samples.parquet")], ROOT)
        minimals.append((minimal, (load, load_average())))
        load = load_average()
        render = timed([*chaos_command(), "report", str(a)], ROOT)
        renders.append((render, (load, load_average())))
        load = load_average()
        compare = timed([*chaos_command(), "compare", str(a), str(b), "--out", str(settings.work / "compare")], ROOT)
        compares.append((compare, (load, load_average())))
    for label, (m, _load) in (("chaos report", renders[-1]), ("chaos compare", compares[-1]),
                              ("baseline", minimals[-1])):
        if m["exit"] not in (0, 1) or (label == "chaos report" and not (a / "report.html").exists()):
            raise RuntimeError(f"{label} failed (exit {m['exit']}):\n{m['output'][-2000:]}")
    if not (settings.work / "compare" / "compare.json").exists():
        raise RuntimeError(f"chaos compare wrote no compare.json:\n{compares[-1][0]['output'][-2000:]}")

    # Judged on every repetition: the limits on the worst one (each run must stay within them), the ratio on
    # the median one; both are printed. A shared machine disturbs some repetitions: that is part of the figure.
    def median_row(rows):
        return sorted(rows, key=lambda row: row[0]["cpu"])[len(rows) // 2]  # of two, the slower

    def worst_row(rows):
        return max(rows, key=lambda row: row[0]["wall"])

    render, compare, minimal = median_row(renders), median_row(compares), median_row(minimals)
    figures = {
        f"chaos report ({count:,} samples), median repetition": _fmt(*render),
        f"chaos compare (2 x {count:,} samples), median repetition": _fmt(*compare),
        "baseline: read + per-phase quantiles, median repetition": _fmt(*minimal),
        "ratios vs baseline (CPU, medians)": f"report {render[0]['cpu'] / minimal[0]['cpu']:.2f}, "
                                             f"compare {compare[0]['cpu'] / minimal[0]['cpu']:.2f}",
        "making the two runs": f"{made:.1f} s (synthetic samples, the runner's CSV -> Parquet step)",
    }
    if repeats > 1:
        figures["chaos report, worst repetition"] = _fmt(*worst_row(renders))
        figures["chaos compare, worst repetition"] = _fmt(*worst_row(compares))
        figures["all repetitions (wall s)"] = ("report " + ", ".join(f"{r[0]['wall']:.1f}" for r in renders)
                                               + "; compare " + ", ".join(f"{c[0]['wall']:.1f}" for c in compares))
    misses = []
    for label, rows in (("report", renders), ("compare", compares)):
        slowest = max(row[0]["wall"] for row in rows)
        if slowest > TARGET_S:
            cpu_note = " (CPU time within: the machine's load)" if max(row[0]["cpu"] for row in rows) <= TARGET_S else ""
            misses.append(f"{label} {slowest:.1f} s wall, {slowest - TARGET_S:+.1f} s over{cpu_note}")
        biggest = max(row[0]["rss"] for row in rows)
        if biggest > TARGET_RSS:
            misses.append(f"{label} peak {biggest / 2**20:.0f} MiB, {(biggest - TARGET_RSS) / 2**20:+.0f} MiB over")
    notes = [f"{repeats} repetitions: the limits judged on the worst, the ratio on the median" if repeats > 1
             else "one repetition"]
    if misses:
        notes.append("missed: " + "; ".join(misses))
    ratio = max(render[0]["cpu"], compare[0]["cpu"]) / minimal[0]["cpu"]
    result = Result("analysis", f"Analysis: chaos report and chaos compare on {count:,}-sample runs", ratio,
                    "worst CPU time (report, compare) / read-and-quantiles baseline",
                    f"<= {TARGET_S:g} s and <= 1 GiB each", not misses, figures, notes)
    result.seconds = time.monotonic() - started
    return result


if __name__ == "__main__":  # python -m bench.analysis_speed DIR [COUNT]: make two runs to look at or profile
    folder, size = Path(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 1_000_000
    settings = Settings(False, folder, "manual")
    print(json.dumps([str(p) for p in make_runs(settings, size)[:2]]))
