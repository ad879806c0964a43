"""Locust in its own process, driven by the runner, and the stream of raw samples it writes.

gevent never enters the harness: Locust runs as ``python -m locust`` with our recorder module
loaded beside the user's locustfile; the harness only reads the CSV the recorder streams.
"""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

RECORDER = Path(__file__).with_name("locust_recorder.py")
SAMPLES_CSV = "samples.csv"
SAMPLES_PARQUET = "samples.parquet"

SCHEMA = pa.schema([
    ("t_wall", pa.float64()), ("t_mono", pa.float64()), ("latency_ms", pa.float64()),
    ("name", pa.string()), ("method", pa.string()), ("status", pa.int32()), ("success", pa.bool_()),
    ("bytes", pa.int64()), ("error", pa.string()),
])


@dataclass
class LoadProcess:
    """One headless Locust process, bounded by ``-t`` and by the harness stopping it."""

    locustfile: Path
    user_classes: list[str]
    users: int
    spawn_rate: float
    host: str
    run_time: float
    run_dir: Path
    process: subprocess.Popen | None = None
    started_mono: float | None = None

    @property
    def samples_csv(self) -> Path:
        return self.run_dir / SAMPLES_CSV

    def command(self) -> list[str]:
        return [
            sys.executable, "-m", "locust", "-f", f"{RECORDER},{self.locustfile}",
            "--headless", "--users", str(self.users), "--spawn-rate", str(self.spawn_rate),
            "--run-time", f"{max(1, int(self.run_time + 0.999))}s", "--host", self.host,
            "--stop-timeout", "2", "--only-summary", "--loglevel", "WARNING", "--exit-code-on-error", "0",
            *self.user_classes,
        ]

    def start(self) -> None:
        logs = self.run_dir / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "CHAOS_SAMPLES_FILE": str(self.samples_csv), "CHAOS_PARENT_PID": str(os.getpid()),
               "PYTHONUNBUFFERED": "1"}
        log = open(logs / "locust.log", "ab")
        # Own session: a Ctrl-C in the terminal reaches the harness, which stops Locust after reverting.
        self.process = subprocess.Popen(self.command(), stdout=log, stderr=subprocess.STDOUT, env=env,
                                        start_new_session=True, cwd=str(self.locustfile.parent))
        log.close()
        self.started_mono = time.monotonic()

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, grace: float = 8.0) -> int | None:
        """SIGTERM (Locust stops users and flushes), then SIGKILL of the whole group after ``grace``."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            _signal_group(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(grace)
            except subprocess.TimeoutExpired:
                _signal_group(self.process.pid, signal.SIGKILL)
                self.process.wait(5)
        _signal_group(self.process.pid, signal.SIGKILL)  # stray children of the group, if any
        return self.process.returncode


def _signal_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


@dataclass
class SampleTail:
    """Reads new rows of the streamed CSV; keeps a short window in memory for live abort rules."""

    path: Path
    keep_seconds: float = 60.0
    offset: int = 0
    rows: deque = field(default_factory=deque)  # (t_mono, latency_ms, success)
    total: int = 0
    _partial: str = ""

    def poll(self) -> int:
        if not self.path.exists():
            return 0
        with open(self.path, encoding="utf-8", newline="") as handle:
            handle.seek(self.offset)
            chunk = handle.read()
            self.offset = handle.tell()
        text = self._partial + chunk
        lines = text.split("\n")
        self._partial = lines.pop()
        added = 0
        for row in csv.reader(lines):
            if not row or row[0] == "t_wall":
                continue
            self.rows.append((float(row[1]), float(row[2]), row[6] == "1"))
            added += 1
        self.total += added
        horizon = time.monotonic() - self.keep_seconds
        while self.rows and self.rows[0][0] < horizon:
            self.rows.popleft()
        return added

    def window(self, seconds: float, now: float | None = None) -> tuple[int, float, float]:
        """(count, error_rate, p99 ms) of requests started in the last ``seconds``."""
        now = time.monotonic() if now is None else now
        recent = [(lat, ok) for t, lat, ok in self.rows if t >= now - seconds]
        if not recent:
            return 0, 0.0, 0.0
        latencies = np.fromiter((lat for lat, _ in recent), float, len(recent))
        errors = sum(1 for _, ok in recent if not ok)
        return len(recent), errors / len(recent), float(np.percentile(latencies, 99))


def csv_to_parquet(csv_path: Path, parquet_path: Path) -> int:
    """Stream the CSV into Parquet in blocks so memory stays flat for long runs. Returns rows."""
    if not csv_path.exists() or csv_path.stat().st_size == 0:
        pq.write_table(SCHEMA.empty_table(), parquet_path)
        return 0
    convert = pacsv.ConvertOptions(column_types={f.name: f.type for f in SCHEMA}, strings_can_be_null=True,
                                   null_values=[""], include_columns=[f.name for f in SCHEMA],
                                   true_values=["1"], false_values=["0"])
    reader = pacsv.open_csv(csv_path, convert_options=convert,
                            read_options=pacsv.ReadOptions(block_size=8 << 20))
    rows = 0
    with pq.ParquetWriter(parquet_path, SCHEMA) as writer:
        for batch in reader:
            writer.write_batch(batch.select(SCHEMA.names).cast(SCHEMA))
            rows += batch.num_rows
    return rows
