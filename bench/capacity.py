"""1. Load capacity: requests per second `chaos run` drives (raw samples captured) against plain
``locust --headless`` with the same locustfile, users and target on this machine.

The target is a minimal keep-alive HTTP server in a container behind a Toxiproxy edge listener on
127.0.0.1, the path the harness always drives. The plain side starts the same two containers with the
docker SDK and runs Locust on its own. Users never wait (``constant(0)``), so the load generator is the
bottleneck and whatever the harness adds (the recorder in Locust, the runner tailing the samples) shows.

Both sides are measured over the same kind of steady window: from 1 s after the warmup (every user
spawned) to just before the load ends, the warmup counted on both sides from Locust's ``test_start``
(the harness's timeline starts there; the plain side's locustfile notes the moment), so neither window
holds Locust's own start-up (imports, which take seconds on a busy machine). Requests in the window:
plain Locust's per-second history (``--csv-full-history``), the harness's raw samples. CPU in the
window: the Locust process (and, for the harness, the runner process too), read every 0.25 s with
psutil. Runs alternate plain, harness, plain, ...; the ratio is the median of the back-to-back pairs,
printed with their spread (lowest and highest pair ratio); the target is judged on the median, the
worst pair beside it. On a machine shared with other work the requests per second follow the load
average; CPU per request does not, so it is printed beside them.
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from bench.common import (
    BASE_IMAGE, HEALTH_URL_CHECK, SERVER_PORT, WORKLOADS, Baseline, Result, Settings, first, load_average, median,
    published_port, run_chaos, server_command, wait_healthy, with_load, write_experiment,
)

LOCUSTFILE = WORKLOADS / "capacity_locustfile.py"
USERS = 20
WARMUP = 3.0
TARGET = 0.9


def experiment(seconds: float) -> dict:
    return {
        "name": "bench-capacity",
        "description": "harness capacity: users that never wait, against a minimal server",
        "targets": {"services": {"web": {
            "image": BASE_IMAGE, "command": server_command(),
            "healthcheck": {"test": HEALTH_URL_CHECK, "interval": "1s", "timeout": "1s", "retries": 30},
        }}},
        "load": {"locustfile": str(LOCUSTFILE), "user_classes": ["Hammer"], "target": f"web:{SERVER_PORT}",
                 "users": USERS, "spawn_rate": USERS},
        "phases": {"warmup": f"{WARMUP:g}s", "baseline": f"{seconds:g}s", "recovery": "0s"},
        "steady_state": [
            {"name": "answers", "metric": "error_rate", "max": "1%", "phases": ["baseline"]},
            {"name": "fast", "metric": "latency.p99", "max": "500ms", "phases": ["baseline"]},
        ],
        "abort": [{"metric": "error_rate", "max": "50%", "for": "5s"}],
    }


def window(start_wall: float, seconds: float) -> tuple[float, float]:
    return start_wall + WARMUP + 1.0, start_wall + WARMUP + seconds - 0.5


class CpuTrack:
    """(wall time, CPU seconds) readings of Locust processes and, for the harness, of the runner."""

    def __init__(self):
        self.locust: list[tuple[float, float]] = []
        self.runner: list[tuple[float, float]] = []

    def read(self, root_pid: int, root_is_locust: bool) -> None:
        import psutil

        now = time.time()
        try:
            root = psutil.Process(root_pid)
            processes = [root, *root.children(recursive=True)]
            total = 0.0
            for process in processes:
                try:
                    if process.pid == root_pid and not root_is_locust:
                        times = process.cpu_times()
                        self.runner.append((now, times.user + times.system))
                    elif "locust" in " ".join(process.cmdline()):
                        times = process.cpu_times()
                        total += times.user + times.system
                except psutil.Error:
                    continue
            self.locust.append((now, total))
        except psutil.Error:
            return

    def __call__(self, pid: int, _events) -> None:  # the watch hook of run_chaos
        self.read(pid, root_is_locust=False)


def _at(readings: list[tuple[float, float]], when: float) -> float:
    times, values = zip(*readings)
    return float(np.interp(when, times, values))


def _in_window(readings: list[tuple[float, float]], span: tuple[float, float]) -> float:
    return _at(readings, span[1]) - _at(readings, span[0]) if readings else 0.0


def harness_side(settings: Settings, seconds: float) -> dict:
    import pyarrow.parquet as pq

    load_before = load_average()
    cpu = CpuTrack()
    run = run_chaos(settings, write_experiment(settings, "bench-capacity", experiment(seconds)), watch=cpu)
    started = first(run.events, "load_started")
    if run.run_dir is None or started is None or not (run.run_dir / "samples.parquet").exists():
        raise RuntimeError(f"chaos run failed (exit {run.exit_code}):\n{run.output[-2000:]}")
    span = window(started["wall"], seconds)
    t_wall = pq.read_table(run.run_dir / "samples.parquet", columns=["t_wall"]).column("t_wall").to_numpy()
    count = int(((t_wall >= span[0]) & (t_wall < span[1])).sum())
    return {"rps": count / (span[1] - span[0]), "requests": count, "samples": len(t_wall),
            "locust_cpu": _in_window(cpu.locust, span), "runner_cpu": _in_window(cpu.runner, span),
            "load": (load_before, load_average()), "run_id": run.run_dir.name}


def _history_count(path: Path, when: float) -> float:
    """Requests completed by ``when`` (wall), from Locust's per-second cumulative history."""
    points = []
    with open(path, newline="") as handle:
        for row in csv.DictReader(handle):
            if row["Name"] == "Aggregated":
                points.append((float(row["Timestamp"]), float(row["Total Request Count"])))
    times, counts = zip(*points)
    return float(np.interp(when, times, counts))


def plain_side(settings: Settings, seconds: float) -> dict:
    load_before = load_average()
    with Baseline(settings) as base:
        name = f"bench-{settings.bench_id}-capacity"
        base.network(name)
        web = base.run(BASE_IMAGE, name=f"{name}-web", command=server_command(), network=name,
                       networking_config={name: base.client.api.create_endpoint_config(aliases=["web"])},
                       healthcheck={"test": HEALTH_URL_CHECK, "interval": 1_000_000_000,
                                    "timeout": 1_000_000_000, "retries": 30})
        proxy = base.toxiproxy(f"{name}-edge", name, "edge")
        wait_healthy(web)
        host = f"http://127.0.0.1:{published_port(proxy, SERVER_PORT)}"
        prefix = settings.work / f"plain-locust-{time.monotonic_ns()}"
        command = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless", "--users", str(USERS),
                   "--spawn-rate", str(USERS), "--run-time", f"{int(WARMUP + seconds)}s", "--host", host,
                   "--only-summary", "--loglevel", "WARNING", "--csv", str(prefix), "--csv-full-history", "Hammer"]
        cpu = CpuTrack()
        started_file = Path(f"{prefix}.started")
        locust = subprocess.Popen(command, cwd=str(settings.work), stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL,
                                  env={**os.environ, "BENCH_LOCUST_STARTED_FILE": str(started_file)})
        while locust.poll() is None:
            cpu.read(locust.pid, root_is_locust=True)
            time.sleep(0.25)
        if not started_file.exists():
            raise RuntimeError(f"plain locust never started its test (exit {locust.returncode})")
        span = window(float(started_file.read_text()), seconds)
        history = Path(f"{prefix}_stats_history.csv")
        count = _history_count(history, span[1]) - _history_count(history, span[0])
    return {"rps": count / (span[1] - span[0]), "requests": int(count), "locust_cpu": _in_window(cpu.locust, span),
            "load": (load_before, load_average())}


def per_request(cpu: float, side: dict) -> str:
    return f"{cpu:.2f} s = {cpu / max(side['requests'], 1) * 1e6:.0f} us/request"


def run(settings: Settings) -> Result:
    started = time.monotonic()
    seconds = settings.pick(20.0, 8.0)
    pairs = settings.pick(3, 1)
    plain, harness = [], []
    for _ in range(pairs):
        plain.append(plain_side(settings, seconds))
        harness.append(harness_side(settings, seconds))
    ratios = [h["rps"] / p["rps"] for p, h in zip(plain, harness)]
    ratio = median(ratios)
    worst = min(ratios)
    figures = {}
    for i, (p, h) in enumerate(zip(plain, harness), 1):
        figures[f"pair {i} plain locust"] = with_load(
            f"{p['rps']:.0f} rps ({p['requests']} requests in the window; Locust CPU {per_request(p['locust_cpu'], p)})",
            p["load"])
        figures[f"pair {i} chaos run"] = with_load(
            f"{h['rps']:.0f} rps ({h['requests']} requests in the window, {h['samples']} raw samples in all; "
            f"Locust CPU {per_request(h['locust_cpu'], h)}; runner CPU {per_request(h['runner_cpu'], h)})", h["load"])
    figures["pair ratios (requests/s)"] = ", ".join(f"{r:.3f}" for r in ratios)
    figures["pair ratios: median, spread"] = (f"median {ratio:.3f}, lowest {worst:.3f}, highest {max(ratios):.3f} "
                                              f"(spread {max(ratios) - worst:.3f})")
    plain_cost = median([p["locust_cpu"] / p["requests"] for p in plain])
    locust_cost = median([h["locust_cpu"] / h["requests"] for h in harness])
    harness_cost = median([(h["locust_cpu"] + h["runner_cpu"]) / h["requests"] for h in harness])
    figures["CPU per request, medians"] = (
        f"plain Locust {plain_cost * 1e6:.0f} us; harness Locust (with the recorder) {locust_cost * 1e6:.0f} us "
        f"(x{locust_cost / plain_cost:.2f}); harness Locust + runner {harness_cost * 1e6:.0f} us "
        f"(x{harness_cost / plain_cost:.2f})")
    figures["capacity ratio from CPU (plain / harness Locust CPU per request)"] = f"{plain_cost / locust_cost:.3f}"
    notes = [f"{USERS} users, wait 0, FastHttpUser, {WARMUP:g}s + {seconds:g}s per side, through a Toxiproxy "
             "edge listener on 127.0.0.1 in both; the runner's own CPU runs on the other core",
             "window on both sides: from Locust's test_start + warmup + 1 s to 0.5 s before the load ends",
             f"target judged on the median pair; the worst pair: {worst:.3f}"
             + ("" if worst >= TARGET else f" (under {TARGET})")]
    result = Result("capacity", "Load capacity: chaos run vs plain locust --headless", ratio,
                    "harness rps / plain locust rps, steady window", f">= {TARGET}", ratio >= TARGET, figures, notes)
    result.run_ids = [h["run_id"] for h in harness]
    result.seconds = time.monotonic() - started
    return result
