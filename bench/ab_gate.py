"""``python -m bench.ab_gate``: what a ``chaos ab`` gate does on this machine, measured on real runs of the shop.

For each background (none, and a bounded busy loop pinned to one core) it runs, with ``chaos ab``:

- A/A: api v2 against itself (``--aa-rounds`` rounds, per design asked);
- A/B: api v1 against v2 under the flagship's fault (300 ms on api -> redis);
- a modest regression: v2 built ``--regression-ms`` slower per request against v2;

then judges every gate of ``--gate-rounds`` rounds those rounds hold (``chaos.compare.calibration``): the share
of A/A gates that fail (B worse) and of metrics that come out "no change", the share of A/B and regression gates
that say B worse; at the default tolerance and at the margins the A/A rounds suggest. Subsets of one set of
rounds overlap: the disjoint gates are counted too. Not part of ``make test`` (about 20 minutes per background).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXPERIMENT = Path(__file__).resolve().parent / "workloads" / "shop_ab.yaml"
SPIN = "import time\nend = time.monotonic() + {seconds}\nwhile time.monotonic() < end:\n    pass\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.ab_gate", description=__doc__.split("\n\n")[0])
    parser.add_argument("--aa-rounds", type=int, default=12)
    parser.add_argument("--ab-rounds", type=int, default=6)
    parser.add_argument("--gate-rounds", type=int, default=6)
    parser.add_argument("--regression-ms", type=int, default=40)
    parser.add_argument("--designs", default="side-by-side", help="A/A designs, comma-separated")
    parser.add_argument("--backgrounds", default="none,core", help="none: nothing else; core: one core kept busy")
    parser.add_argument("--out", type=Path, default=None, help="where the ab dirs go (default: a temp dir)")
    args = parser.parse_args(argv)
    out = args.out or Path(tempfile.mkdtemp(prefix="chaos-ab-gate-"))
    print(f"ab gate measurement in {out}; load average {os.getloadavg()[0]:.1f}", flush=True)
    results = []
    for background in args.backgrounds.split(","):
        with busy_core(background == "core", seconds=3600):
            for design in args.designs.split(","):
                results.append(measure(out / background, "A/A", design, args.aa_rounds, args.gate_rounds,
                                       ["--a", "API_VERSION=v2", "--b", "API_VERSION=v2"], background))
            aa = next(r for r in reversed(results) if r["case"] == "A/A" and r["design"] == "side-by-side"
                      and r["background"] == background) if "side-by-side" in args.designs else results[-1]
            side = ["--a", "API_VERSION=v2"]
            results.append(measure(out / background, "A/B v1", "side-by-side", args.ab_rounds, args.gate_rounds,
                                   side + ["--b", "API_VERSION=v1"], background, aa["margins"]))
            results.append(measure(out / background, f"+{args.regression_ms} ms", "side-by-side", args.ab_rounds,
                                   args.gate_rounds, side + ["--b", "API_VERSION=v2", "--b",
                                                             f"EXTRA_LATENCY_MS={args.regression_ms}"],
                                   background, aa["margins"]))
    print("\n" + "\n".join(table(results)), flush=True)
    (out / "ab_gate.json").write_text(json.dumps(results, indent=2) + "\n")
    return 0


class busy_core:
    """One core kept busy for at most ``seconds`` (a pinned Python loop that ends by itself), or nothing."""

    def __init__(self, on: bool, seconds: float):
        self.on, self.seconds, self.process = on, seconds, None

    def __enter__(self):
        if self.on:
            self.process = subprocess.Popen(["taskset", "-c", "1", sys.executable, "-c",
                                             SPIN.format(seconds=self.seconds)])
        return self

    def __exit__(self, *exc):
        if self.process:
            self.process.kill()
            self.process.wait()


def measure(out: Path, case: str, design: str, rounds: int, gate_rounds: int, sides: list[str], background: str,
            margins: dict | None = None) -> dict:
    from chaos.compare import Settings
    from chaos.compare.calibration import calibration, gate_rates

    out.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    command = [sys.executable, "-m", "chaos.cli", "ab", str(EXPERIMENT), *sides, "--rounds", str(rounds),
               "--design", design, "--report-dir", str(out), "--seed", "11"]
    print(f"\n== {case} {design} background={background}: {' '.join(command[3:])}", flush=True)
    before = set(out.glob("*-ab-*"))
    completed = subprocess.run(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    [ab_dir] = set(out.glob("*-ab-*")) - before
    print(completed.stdout[-1500:], flush=True)
    recorded = json.loads((ab_dir / "ab.json").read_text())["rounds"]
    result = {"case": case, "design": design, "background": background, "exit": completed.returncode,
              "ab_dir": str(ab_dir), "minutes": round((time.monotonic() - started) / 60, 1),
              "load": round(os.getloadavg()[0], 1)}
    result["default"] = gate_rates(recorded, gate_rounds)
    if case == "A/A":
        document = calibration(recorded, gate_rounds)
        result["margins"] = document["margins"]
        result["mde"] = {f"{m['phase']} {m['metric']}": m["mde"] for m in document["metrics"]}
        margins = document["margins"]
    if margins:
        result["at_margins"] = gate_rates(recorded, gate_rounds, Settings(per_metric=tuple(sorted(margins.items()))))
    print(json.dumps({k: v for k, v in result.items() if k not in ("mde",)}, indent=1)[:3000], flush=True)
    return result


def table(results: list[dict]) -> list[str]:
    lines = ["case        design        background  rounds  gate fails  claims  no change  | at margins: fails  no change"]
    for r in results:
        d, m = r["default"], r.get("at_margins") or {}
        lines.append(f"{r['case']:<11} {r['design']:<13} {r['background']:<11} {d['rounds']:>6}  "
                     f"{d['gate_fails']:>9.0%}  {d['claims_change']:>6.0%}  {d['no_change']:>9.0%}  | "
                     f"{m.get('gate_fails', float('nan')):>17.0%}  {m.get('no_change', float('nan')):>9.0%}")
    for r in results:
        if "mde" in r:
            p99 = r["mde"].get("fault latency.p99")
            lines.append(f"MDE of fault p99 ({r['design']}, background {r['background']}): "
                         f"{'–' if p99 is None else f'{p99:+.0%}'}; margins {r['margins']}")
    return lines


if __name__ == "__main__":
    sys.exit(main())
