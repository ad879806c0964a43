"""Synthetic run dirs for analysis and report tests: a realistic journal, plan and samples.

Latency is log-normal around ``base_ms``; optional per-second noise makes neighbouring
requests correlated like a real system.  During a fault (and for ``recovery_lag_s``
after its revert) every request gets ``fault_extra_ms`` more and fails with
``fault_error_rate``.  ``abort_after_s`` cuts the run inside the fault phase the way the
runner does (abort event, revert, aborted outcome).
"""

from __future__ import annotations

import json
import zlib
from pathlib import Path

import numpy as np
import pandas as pd

MONO0 = 5000.0
WALL0 = 1_750_000_000.0
DEFAULT_PHASES = (("warmup", 3.0), ("baseline", 30.0), ("fault", 20.0), ("recovery", 30.0))
DEFAULT_NAMES = ("GET /orders", "GET /items", "POST /orders")


def hypothesis(name, metric, *, max=None, min=None, phases=("baseline", "fault", "recovery"),
               weight=1.0, request=None) -> dict:
    return {"name": name, "metric": metric, "max": max, "min": min, "phases": list(phases),
            "filter": {"name": request}, "weight": weight}


DEFAULT_STEADY_STATE = (
    hypothesis("orders stay fast", "latency.p99", max=500.0),
    hypothesis("few errors", "error_rate", max=0.01),
)


def make_run(run_dir: Path, *, seed: int = 7, rps: float = 80.0, phases=DEFAULT_PHASES,
             base_ms: float = 40.0, sigma: float = 0.25, window_noise: float = 0.0,
             fault_extra_ms: float = 300.0, fault_error_rate: float = 0.0,
             base_error_rate: float = 0.0, recovery_lag_s: float = 0.0,
             steady_state=DEFAULT_STEADY_STATE, abort_after_s: float | None = None,
             outcome: str | None = None, run_error: str | None = None, secrets=(),
             names=DEFAULT_NAMES, experiment: str = "shop-redis-latency",
             run_id: str = "20250101T120000Z-a1b2", with_fault: bool = True,
             plan_extra: dict | None = None) -> Path:
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    journal = _Journal()
    journal.add(0.0, "run_started", run_id=run_id, experiment=experiment, harness_version="0.1.0",
                git_rev="0123abcd", seed=seed, host={"cores": 2, "python": "3.11.7", "docker_version": "26.1"})
    for service, image in (("redis", "chaos-shop-redis:1"), ("inventory", "chaos-shop-inventory:1"),
                           ("api", "chaos-shop-api:v1")):
        journal.add(0.2, "target_started", service=service, image=image,
                    image_id=f"sha256:{zlib.crc32(image.encode()):08x}{zlib.crc32(service.encode()):08x}", container_id="c0ffee")
    journal.add(0.5, "system_healthy")
    journal.add(0.6, "link_created", link="api -> redis:6379", proxy="redis")
    journal.add(1.0, "load_started", users=20, spawn_rate=20, model="closed")

    t, fault_window, aborted_at = 1.0, None, None
    for phase, duration in phases:
        journal.add(t, "phase_started", phase=phase)
        end = t + duration
        if phase == "fault" and with_fault:
            journal.add(t, "fault_ledgered", fault_id="f1", kind="latency", target="api -> redis:6379",
                        params={"latency": fault_extra_ms, "jitter": 0, "stream": "downstream",
                                "toxicity": 1.0})
            journal.add(t + 0.01, "fault_injected", fault_id="f1")
            if abort_after_s is not None:
                aborted_at = t + abort_after_s
                journal.add(aborted_at, "abort", rule="error_rate > 0.05 for 5s", metric="error_rate",
                            observed=0.12, threshold=0.05)
                end = aborted_at + 0.05
            journal.add(end - 0.001, "fault_reverted", fault_id="f1",
                        reason="abort" if aborted_at else "scheduled")
            fault_window = (t + 0.01, end - 0.001)
        journal.add(end, "phase_ended", phase=phase)
        t = end
        if aborted_at:
            break
    journal.add(t + 0.01, "load_stopped")
    final = outcome or ("aborted" if aborted_at else "completed")
    journal.add(t + 0.5, "run_ended", outcome=final, error=run_error)

    samples = _samples(rng, 1.0, t, rps, base_ms, sigma, window_noise, fault_window, recovery_lag_s,
                       fault_extra_ms, fault_error_rate, base_error_rate, names)
    plan = {
        "experiment": experiment, "description": "api keeps serving while redis is slow",
        "run_id": run_id, "seed": seed, "phases": dict(phases),
        "faults": [{"id": "f1", "kind": "latency", "target": "api -> redis:6379",
                    "params": {"latency": fault_extra_ms, "jitter": 0, "stream": "downstream",
                               "toxicity": 1.0}, "at": 0.0, "duration": dict(phases).get("fault", 0.0)}]
        if with_fault else [],
        "steady_state": [dict(h) for h in steady_state],
        "load": {"users": 20, "spawn_rate": 20, "model": "closed", "locustfile": "targets/shop/locustfile.py"},
        "abort": [{"metric": "error_rate", "max": 0.05, "for": 5.0}],
        "targets": {"api": {"image": "chaos-shop-api:v1", "env": {"MODE": "production-eu-7"}}},
        "secrets": list(secrets),
        **(plan_extra or {}),
    }
    (run_dir / "plan.json").write_text(json.dumps(plan, indent=2))
    (run_dir / "journal.jsonl").write_text("".join(json.dumps(e) + "\n" for e in journal.events))
    samples.to_parquet(run_dir / "samples.parquet", index=False)
    return run_dir


class _Journal:
    def __init__(self):
        self.events: list[dict] = []

    def add(self, at: float, event: str, **fields) -> None:
        self.events.append({"v": 1, "seq": len(self.events), "wall": WALL0 + at, "mono": MONO0 + at,
                            "event": event, **fields})


def _samples(rng, start, stop, rps, base_ms, sigma, window_noise, fault_window, lag,
             extra_ms, fault_err, base_err, names) -> pd.DataFrame:
    n = int(rng.poisson(rps * (stop - start)))
    rel = np.sort(rng.uniform(start, stop, n))
    seconds = np.floor(rel).astype(int)
    noise = np.exp(window_noise * rng.standard_normal(seconds.max() + 1 if n else 1))[seconds] if n else 1.0
    latency = base_ms * np.exp(sigma * rng.standard_normal(n)) * noise
    error_p = np.full(n, base_err)
    if fault_window:
        hit = (rel >= fault_window[0]) & (rel < fault_window[1] + lag)
        latency = latency + hit * extra_ms * (1 + 0.05 * rng.standard_normal(n)).clip(0.5)
        error_p = np.where(hit, fault_err, error_p)
    success = rng.random(n) >= error_p
    no_response = ~success & (rng.random(n) < 0.3)
    status = np.where(success, 200, np.where(no_response, 0, 503)).astype(np.int32)
    name = np.asarray(names, dtype=object)[rng.integers(0, len(names), n)]
    return pd.DataFrame({
        "t_wall": WALL0 + rel, "t_mono": MONO0 + rel, "latency_ms": latency,
        "name": pd.array(name, dtype="string"), "method": [s.split(" ")[0] for s in name],
        "status": status, "success": success, "bytes": rng.integers(200, 2000, n).astype(np.int64),
        "error": pd.array(np.where(no_response, "ConnectionResetError(104)",
                                   np.where(success, None, "HTTP 503")), dtype="string"),
    })


def write_run(run_dir: Path, plan: dict, events: list[tuple[float, str, dict]], samples: list[dict]) -> Path:
    """A hand-made run: events as (seconds, event, fields), samples as dicts with t (seconds)."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    journal = _Journal()
    for at, event, fields in events:
        journal.add(at, event, **fields)
    (run_dir / "plan.json").write_text(json.dumps(plan))
    (run_dir / "journal.jsonl").write_text("".join(json.dumps(e) + "\n" for e in journal.events))
    frame = pd.DataFrame({
        "t_wall": [WALL0 + s["t"] for s in samples], "t_mono": [MONO0 + s["t"] for s in samples],
        "latency_ms": [float(s.get("latency_ms", 10.0)) for s in samples],
        "name": pd.array([s.get("name", "GET /") for s in samples], dtype="string"),
        "method": [s.get("method", "GET") for s in samples],
        "status": np.array([s.get("status", 200) for s in samples], dtype=np.int32),
        "success": np.array([s.get("success", True) for s in samples], dtype=bool),
        "bytes": np.array([s.get("bytes", 100) for s in samples], dtype=np.int64),
        "error": pd.array([s.get("error") for s in samples], dtype="string"),
    })
    frame.to_parquet(run_dir / "samples.parquet", index=False)
    return run_dir
