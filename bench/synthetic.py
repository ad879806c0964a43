"""A synthetic run dir of any size, in the format a real run leaves: plan.json from the real planner
(an experiment file in the shape of the flagship one), a journal with the events the runner writes, and
samples.parquet made by the runner's own CSV -> Parquet step (phases and faults attributed).

Used by the analysis benchmark (1 million samples) and its pytest-benchmark case. Pure: no Docker.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import yaml

MONO0 = 10_000.0
WALL0 = 1_790_000_000.0
PHASES = {"warmup": 10.0, "baseline": 100.0, "recovery": 90.0}
FAULTS = (  # (type, target link, extra, at, duration): 100 s of fault phase
    {"type": "latency", "link": "api -> redis:6379", "latency": "300ms", "jitter": "20ms", "at": "0s", "duration": "20s"},
    {"type": "down", "link": "api -> redis:6379", "at": "30s", "duration": "10s"},
    {"type": "bandwidth", "link": "load -> api:8080", "rate": "100KB/s", "at": "50s", "duration": "20s"},
    {"type": "reset_peer", "link": "api -> redis:6379", "timeout": "0ms", "at": "80s", "duration": "20s"},
)
NAMES = ("GET /products/[id]", "POST /orders", "GET /health", "GET /cart")
WEIGHTS = (0.7, 0.15, 0.05, 0.1)


def experiment(name: str) -> dict:
    service = {"image": "chaos-base:bookworm", "command": ["python3", "-m", "http.server", "8080"],
               "healthcheck": {"test": ["CMD", "true"], "interval": "1s", "timeout": "1s", "retries": 3}}
    return {
        "name": name, "description": "synthetic run for the analysis benchmark",
        "targets": {"services": {"api": service, "redis": service}},
        "links": ["api -> redis:6379"],
        "load": {"locustfile": "locustfile.py", "target": "api:8080", "users": 50, "spawn_rate": 50},
        "phases": {k: f"{v:g}s" for k, v in PHASES.items()},
        "faults": list(FAULTS),
        "steady_state": [
            {"name": "fast", "metric": "latency.p99", "max": "500ms"},
            {"name": "typical", "metric": "latency.p50", "max": "50ms"},
            {"name": "correct", "metric": "error_rate", "max": "1%"},
            {"name": "orders go through", "metric": "error_rate", "max": "2%", "request": "POST /orders"},
            {"name": "throughput", "metric": "throughput", "min": 1000},
        ],
    }


def plan_json(folder: Path, name: str, run_id: str, seed: int) -> dict:
    from chaos.plan import make_plan
    from chaos.spec import load_experiment

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "locustfile.py").write_text("# not run: the samples are synthetic\n")
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(experiment(name), sort_keys=False))
    return make_plan(load_experiment(path), run_id=run_id, seed=seed).to_json()


def journal(plan: dict) -> list[dict]:
    events: list[dict] = []

    def add(at: float, event: str, **fields) -> None:
        events.append({"v": 1, "seq": len(events) + 1, "wall": WALL0 + at, "mono": MONO0 + at, "event": event, **fields})

    add(-8.0, "run_started", run_id=plan["run_id"], experiment=plan["experiment"], harness_version="0.1.0",
        git_rev=None, seed=plan["seed"], host={"cores": 2, "python": "3.11", "docker_version": "26.1"})
    for target in plan["targets"]:
        add(-6.0, "target_started", service=target["name"], image=target["image"], image_id="sha256:0",
            container_id="0" * 64)
    for link in plan["links"]:
        add(-5.0, "link_created", link=link["name"], proxy=f"{link['source']}-to-{link['target']}-{link['port']}",
            container_id="1" * 64)
    add(-1.0, "system_healthy")
    add(0.0, "load_started", users=50, spawn_rate=50, model="closed", rate=None, workers=0, host="http://127.0.0.1:1",
        pid=1)
    fault_start = next(w["start"] for w in plan["timeline"] if w["phase"] == "fault")
    actions = [(w["start"], 2, "phase_started", {"phase": w["phase"]}) for w in plan["timeline"]]
    actions += [(w["end"], 0, "phase_ended", {"phase": w["phase"]}) for w in plan["timeline"]]
    for fault in plan["faults"]:
        start = fault_start + fault["at"]
        actions.append((start, 3, "fault_ledgered", {"fault_id": fault["id"], "kind": fault["kind"],
                                                     "family": fault["family"], "target": fault["target"],
                                                     "params": fault["params"]}))
        actions.append((start + 0.004, 3, "fault_injected", {"fault_id": fault["id"]}))
        actions.append((start + fault["duration"] + 0.003, 1, "fault_reverted",
                        {"fault_id": fault["id"], "reason": "scheduled"}))
    for at, _order, event, fields in sorted(actions, key=lambda a: (a[0], a[1])):
        add(at, event, **fields)
    end = plan["timeline"][-1]["end"]
    add(end + 0.5, "load_stopped")
    add(end + 1.0, "run_ended", outcome="completed", error=None)
    return events


def samples_csv(path: Path, plan: dict, count: int, seed: int, slower: float = 1.0) -> None:
    """``count`` requests over the load's span; latency log-normal around 8 ms (x ``slower``), faults make
    requests slow or failed the way their kind would."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    from chaos.load_protocol import COLUMNS

    rng = np.random.default_rng(seed)
    span = plan["timeline"][-1]["end"]
    rel = np.sort(rng.uniform(0.0, span, count))
    latency = 8.0 * slower * np.exp(0.35 * rng.standard_normal(count))
    status = np.full(count, 200, dtype=np.int32)
    error = np.full(count, "", dtype=object)
    fault_start = next(w["start"] for w in plan["timeline"] if w["phase"] == "fault")
    for fault in plan["faults"]:
        hit = (rel >= fault_start + fault["at"]) & (rel < fault_start + fault["at"] + fault["duration"])
        if fault["kind"] == "latency":
            latency[hit] += 300 * 3  # three redis calls per request
        elif fault["kind"] == "bandwidth":
            latency[hit] *= 4
        else:  # down, reset_peer: most requests fail fast
            failed = hit & (rng.random(count) < 0.8)
            status[failed] = np.where(rng.random(failed.sum()) < 0.5, 503, 0)
            error[failed & (status == 503)] = "HTTP 503"
            error[failed & (status == 0)] = "ConnectionResetError: [Errno 104] Connection reset by peer"
    name = np.asarray(NAMES, dtype=object)[rng.choice(len(NAMES), size=count, p=WEIGHTS)]
    method = np.where(name == "POST /orders", "POST", "GET").astype(object)
    service = latency * 0.98
    table = pa.table({
        "t_wall": np.round(WALL0 + rel, 6), "t_mono": np.round(MONO0 + rel, 6), "latency_ms": latency,
        "name": name, "method": method, "status": status, "success": (status == 200).astype(np.int8),
        "bytes": rng.integers(100, 3000, count), "error": error, "service_ms": service,
    })
    assert tuple(table.column_names) == COLUMNS
    pacsv.write_csv(table, path, pacsv.WriteOptions(quoting_style="needed"))


def make_run(reports: Path, name: str, run_id: str, count: int, seed: int = 1, slower: float = 1.0) -> Path:
    """reports/<name>/<run_id>/ with plan.json, journal.jsonl and samples.parquet; returns the run dir."""
    from chaos.load import csv_to_parquet
    from chaos.rundir import SAMPLES_PARQUET

    run_dir = reports / name / run_id
    run_dir.mkdir(parents=True, exist_ok=True)
    plan = plan_json(reports / ".experiments", name, run_id, seed)
    (run_dir / "plan.json").write_text(json.dumps(plan, indent=2) + "\n")
    events = journal(plan)
    (run_dir / "journal.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
    csv_path = run_dir / "samples.csv"
    samples_csv(csv_path, plan, count, seed, slower)
    csv_to_parquet(csv_path, run_dir / SAMPLES_PARQUET, events)
    csv_path.unlink()
    return run_dir
