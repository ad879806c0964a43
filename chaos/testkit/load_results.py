"""A load's result: its own slice of the test's journal and samples judged by ``analysis`` in memory;
the loads' samples merged into the test's ``samples.parquet``."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

from chaos.plan import FaultPlan
from chaos.results import LoadResult

if TYPE_CHECKING:
    from chaos.testkit.fixture import LoadRun


SYSTEM_EVENTS = ("target_started", "link_created", "system_healthy", "system_attached")


def load_result(load: LoadRun) -> LoadResult:
    """The load's own slice of the test: its events (and faults active when it started), its samples,
    phase names as the test says them, judged by ``analysis`` in memory."""
    import pandas as pd

    from chaos.analysis import Run

    chaos = load.chaos
    records = chaos.records
    inside = [r for r in records if load.started_seq <= r["seq"] <= load.ended_seq]
    active_before = _active_at(records, load.started_seq)
    carried = [r for r in records if r["seq"] < load.started_seq and
               (r["event"] in SYSTEM_EVENTS or r["event"] == "run_started"
                or (r.get("fault_id") in active_before and r["event"] in ("fault_ledgered", "fault_injected")))]
    plain = {name: base for base, name in load.names.items()}
    events = [({**r, "phase": plain.get(r["phase"], r["phase"])} if "phase" in r else r) for r in carried + inside]
    end = next(r for r in inside if r["seq"] == load.ended_seq)
    events.append({**end, "event": "load_stopped", "seq": end["seq"] + 0.5})
    events.append({**end, "event": "run_ended", "outcome": "completed", "error": None, "seq": end["seq"] + 0.6})
    touched = {r.get("fault_id") for r in events if r.get("fault_id")}
    plan = {"experiment": chaos.name, "run_id": chaos.run_id, "seed": chaos.seed, "description": chaos.description,
            "faults": [_fault_json(f.plan) for f in chaos.faults if f.id in touched], "steady_state": [],
            "load": asdict(load.section), "targets": []}
    samples = pd.read_parquet(load.parquet).sort_values("t_mono", kind="stable").reset_index(drop=True)
    run = Run(plan=plan, events=events, samples=samples, run_dir=load.dir)
    return LoadResult(run, chaos.seed, phase_names=dict(load.names), policy=chaos.policy)


def _active_at(records: list[dict], seq: int) -> set[str]:
    active: set[str] = set()
    for record in records:
        if record["seq"] >= seq:
            break
        if record["event"] == "fault_injected":
            active.add(record["fault_id"])
        elif record["event"] == "fault_reverted":
            active.discard(record["fault_id"])
    return active


def _fault_json(plan: FaultPlan) -> dict:
    return asdict(plan)


def merge_samples(parts: list[Path], target: Path) -> int:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from chaos.load import SCHEMA

    tables = [pq.read_table(p) for p in parts if p.exists()]
    table = pa.concat_tables([t.cast(SCHEMA) for t in tables]) if tables else SCHEMA.empty_table()
    pq.write_table(table, target)
    return table.num_rows
