"""``python -m bench [--only NAME ...] [--quick] [--no-record] [--keep] [--clean]``: run the benchmarks,
print for each the ratio against its baseline measured in the same run plus the absolute figures, and
append the results (date, commit, machine) to bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

from bench import analysis_speed, capacity, compose_start, fault_timing, http_link, proxy_cost, revert_speed, startup
from bench.common import ROOT, Result, Settings, clean, leftovers, load_average

BENCHMARKS = {
    "capacity": capacity.run,
    "startup": startup.run,
    "compose_start": compose_start.run,
    "fault_timing": fault_timing.run,
    "proxy": proxy_cost.run,
    "analysis": analysis_speed.run,
    "revert": revert_speed.run,
    "http": http_link.run,
}
RESULTS = Path(__file__).resolve().parent / "RESULTS.md"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", action="append", default=[], metavar="NAME",
                        help=f"run only these (repeat or comma-separate): {', '.join(BENCHMARKS)}")
    parser.add_argument("--quick", action="store_true", help="fewer repetitions and shorter runs (a smoke run)")
    parser.add_argument("--families", default="", metavar="NAMES",
                        help="fault_timing only: comma-separated families to measure (default all: "
                             f"{', '.join(f.name for f in fault_timing.FAMILIES)})")
    parser.add_argument("--no-record", action="store_true", help="do not append to bench/RESULTS.md")
    parser.add_argument("--keep", action="store_true", help="keep the work dir (experiment files, run dirs)")
    parser.add_argument("--clean", action="store_true", help="remove what a killed bench left (by label), then exit")
    args = parser.parse_args(argv)
    if args.clean:
        for line in clean():
            print(f"removed {line}")
        return 0
    names = [n.strip() for item in args.only for n in item.split(",") if n.strip()] or list(BENCHMARKS)
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark(s) {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}")

    bench_id = secrets.token_hex(3)
    work = Path(tempfile.mkdtemp(prefix=f"chaos-bench-{bench_id}-"))
    families = [n.strip() for n in args.families.split(",") if n.strip()]
    known = [f.name for f in fault_timing.FAMILIES]
    if any(n not in known for n in families):
        parser.error(f"unknown family in --families {args.families!r}; choose from {', '.join(known)}")
    settings = Settings(args.quick, work, bench_id, families=tuple(families))
    header = machine_header(args.quick)
    print("\n".join(header), flush=True)
    results: list[Result] = []
    failed: list[str] = []
    try:
        for name in names:
            print(f"\n... {name} (load {load_average():.1f})", flush=True)
            started = time.monotonic()
            try:
                result = BENCHMARKS[name](settings)
            except Exception as exc:  # noqa: BLE001 - one broken benchmark must not hide the others' figures
                failed.append(name)
                print(f"[{name}] FAILED after {time.monotonic() - started:.0f} s: {exc.__class__.__name__}: {exc}")
                traceback.print_exc(file=sys.stdout)
                continue
            results.append(result)
            print("\n".join(result.lines()), flush=True)
            left = leftovers(bench_id, result.run_ids)
            if left:
                failed.append(f"{name} (left {', '.join(left)})")
                print(f"[{name}] LEFT BEHIND: {', '.join(left)}")
    finally:
        clean(bench_id)
        if args.keep:
            print(f"\nwork dir kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    table = summary_table(results, failed)
    print("\n" + "\n".join(table))
    if not args.no_record and results:
        record(header, results, table)
        print(f"\nappended to {RESULTS.relative_to(ROOT)}")
    return 1 if failed else 0


def commit() -> str:
    try:
        rev = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                             text=True, timeout=5).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"{rev}{' (with uncommitted changes)' if dirty else ''}" if rev else "unknown"


def machine_header(quick: bool) -> list[str]:
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return [f"chaos bench  {now}  commit {commit()}{'  --quick' if quick else ''}",
            f"machine: {os.cpu_count()} cores, load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}, "
            f"Python {platform.python_version()}, {platform.system()} {platform.release()}"]


def summary_table(results: list[Result], failed: list[str]) -> list[str]:
    rows = ["| benchmark | ratio | means | target | met |", "| --- | --- | --- | --- | --- |"]
    for r in results:
        met = "-" if r.met is None else ("yes" if r.met else "**no**")
        ratio = "n/a" if r.ratio is None else f"{r.ratio:.3f}"
        rows.append(f"| {r.name} | {ratio} | {r.ratio_means} | {r.target or '-'} | {met} |")
    rows += [f"| {name} | FAILED | | | |" for name in failed]
    return rows


def record(header: list[str], results: list[Result], table: list[str]) -> None:
    lines = ["", f"## {header[0].removeprefix('chaos bench  ')}", "", header[1], "", *table, "", "```"]
    for result in results:
        lines += result.lines()
    lines += ["```", ""]
    if not RESULTS.exists():
        RESULTS.write_text("# Benchmark results\n\nAppended by `make bench` (`python -m bench`); newest last.\n")
    with open(RESULTS, "a", encoding="utf-8") as handle:
        handle.write("\n".join(lines))


if __name__ == "__main__":
    sys.exit(main())
