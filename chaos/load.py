"""Locust in its own process, driven by the runner, and the stream of raw samples it writes.

gevent never enters the harness: Locust runs as ``python -m locust`` with our recorder module
loaded beside the user's locustfile; the harness only reads the CSV the recorder streams.
"""

from __future__ import annotations

import csv
import io
import json
import math
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

from chaos import attribution
from chaos.load_protocol import ARRIVALS_USER, COLUMNS, SCENARIO_USER, TIMEOUT_ENV
from chaos.atomic import written_atomically
from chaos.errors import EnvironmentProblem
from chaos.plan import LoadPlan
from chaos.rundir import SAMPLES_CSV
from chaos.spans import WINDOW_S

HERE = Path(__file__).parent
RECORDER = HERE / "locust_recorder.py"
ARRIVALS = HERE / "locust_arrivals.py"
SCENARIO = HERE / "locust_scenario.py"
WAITING_JSON = "requests-waiting.json"
# A live rule counts a request as waiting once it has waited a whole window, as the analysis does: younger
# ones would only add lower bounds near zero to the quantiles.
WAITING_AFTER_S = WINDOW_S
LOCUST_START_WAIT = 60.0  # Locust imports gevent and its plugins first: seconds on a busy 2-core machine

SCHEMA = pa.schema([
    ("t_wall", pa.float64()), ("t_mono", pa.float64()), ("latency_ms", pa.float64()),
    ("name", pa.string()), ("method", pa.string()), ("status", pa.int32()), ("success", pa.bool_()),
    ("bytes", pa.int64()), ("error", pa.string()), ("service_ms", pa.float64()),
])
assert tuple(SCHEMA.names) == COLUMNS


@dataclass(frozen=True)
class LocustInvocation:
    """The processes one load needs: a single local Locust, or a master and N local workers."""

    master: list[str]
    workers: list[list[str]]
    env: dict[str, str]


def locust_invocation(load: LoadPlan, host: str, run_time: float, stats_file: Path, master_port: int | None = None,
                      seed: int | None = None) -> LocustInvocation:
    """Pure: the command lines and environment for ``load`` (a plan's load section). ``master_port`` 0: the
    master binds a port the kernel chooses and writes it to ``CHAOS_MASTER_PORT_FILE`` (workers then need
    ``worker_commands`` with it)."""
    files = [RECORDER]
    if load.model == "open":
        files.append(ARRIVALS)
    files.append(Path(load.locustfile) if load.locustfile else SCENARIO)
    user_classes = list(load.user_classes) or ([SCENARIO_USER] if not load.locustfile else [])
    workers = load.workers
    env = {"PYTHONUNBUFFERED": "1", TIMEOUT_ENV: str(float(load.timeout))}
    if load.scenario:
        env["CHAOS_SCENARIO"] = json.dumps(load.scenario)
    if load.model == "open":
        drivers = max(1, workers)
        env["CHAOS_OPEN"] = json.dumps({"rate": load.rate, "user_classes": user_classes, "drivers": drivers,
                                        "max_in_flight": load.max_in_flight, "seed": seed})
        users, spawn_rate, classes = drivers, float(drivers), [ARRIVALS_USER]
    else:
        users, spawn_rate, classes = load.users, load.spawn_rate, user_classes
    locustfiles = ",".join(str(f) for f in files)
    common = ["-f", locustfiles, "--loglevel", "WARNING"]
    master = [sys.executable, "-m", "locust", *common, "--headless", "--users", str(users),
              "--spawn-rate", str(spawn_rate), "--run-time", f"{max(1, int(run_time + 0.999))}s", "--host", host,
              "--stop-timeout", "2", "--only-summary", "--exit-code-on-error", "0", "--json-file", str(stats_file)]
    worker_commands = []
    if workers:
        # Bounded: a master whose workers never come must not wait (and live) forever.
        master += ["--master", "--expect-workers", str(workers), "--expect-workers-max-wait", "60",
                   "--master-bind-host", "127.0.0.1",
                   "--master-bind-port", str(master_port)]
        worker_commands = [[sys.executable, "-m", "locust", *common, "--worker", "--master-host", "127.0.0.1",
                            "--master-port", str(master_port), *classes] for _ in range(workers)]
    return LocustInvocation(master + classes, worker_commands, env)


def worker_commands(invocation: LocustInvocation, master_port: int) -> list[list[str]]:
    """The workers' command lines pointed at the port the master actually bound."""
    return [[str(master_port) if i and command[i - 1] == "--master-port" else part for i, part in enumerate(command)]
            for command in invocation.workers]


@dataclass
class LoadProcess:
    """Headless Locust (one process, or a master and local workers), bounded by ``--run-time`` and by
    the harness stopping it. All its processes share one process group, killed as one."""

    load: LoadPlan
    host: str
    run_time: float
    run_dir: Path
    seed: int | None = None
    process: subprocess.Popen | None = None
    workers: list[subprocess.Popen] = field(default_factory=list)
    started_mono: float | None = None

    @property
    def samples_csv(self) -> Path:
        return self.run_dir / SAMPLES_CSV

    @property
    def waiting_json(self) -> Path:
        """The requests still waiting for an answer, rewritten by Locust 4 times a second while the load runs."""
        return self.run_dir / "logs" / WAITING_JSON

    def start(self) -> None:
        logs = self.run_dir / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        # Locust's own summary, kept beside our samples so the two counts can be checked against each other.
        # Port 0: the master binds one the kernel chooses; a port picked here and bound later could be taken.
        invocation = locust_invocation(self.load, self.host, self.run_time, logs / "locust-stats", 0, self.seed)
        port_file, ready_file = logs / "locust-master-port", logs / "locust-started"
        port_file.unlink(missing_ok=True)
        ready_file.unlink(missing_ok=True)
        env = {**os.environ, **invocation.env, "CHAOS_PARENT_PID": str(os.getpid()),
               "CHAOS_MASTER_PORT_FILE": str(port_file)}
        cwd = str(self.run_dir)  # never the user's source folder: Locust may write files where it runs
        with open(logs / "locust.log", "ab") as log:
            # Own process group, not the terminal's foreground one: a Ctrl-C reaches the harness only, which
            # stops Locust after reverting. Workers join the master's group so one killpg ends them all.
            self.process = subprocess.Popen(invocation.master, stdout=log, stderr=subprocess.STDOUT,
                                            env={**env, "CHAOS_SAMPLES_FILE": str(self.samples_csv),
                                                 "CHAOS_WAITING_FILE": str(self.waiting_json),
                                                 "CHAOS_STARTED_FILE": str(ready_file)},
                                            process_group=0, cwd=cwd)
            try:
                commands = worker_commands(invocation, _wait_for_port(port_file, self.process)) if invocation.workers else []
                for command in commands:
                    self.workers.append(subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env,
                                                         process_group=self.process.pid, cwd=cwd))
                # The timeline starts when the load does: Locust imports gevent and the user's locustfile first,
                # seconds on a busy machine, and a phase timed from the spawn would hold none of its requests.
                _wait_for_file(ready_file, self.process, "started its users")
            except (OSError, LoadStartError):
                _signal_group(self.process.pid, signal.SIGKILL)  # no master left waiting for workers
                raise
        self.started_mono = time.monotonic()

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, grace: float = 8.0) -> int | None:
        """SIGTERM (Locust stops users and flushes), then SIGKILL of the whole group after ``grace``."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)  # the master first: it collects the workers' last rows
            try:
                self.process.wait(grace)
            except subprocess.TimeoutExpired:
                _signal_group(self.process.pid, signal.SIGKILL)
                self.process.wait(5)
        for worker in self.workers:
            try:
                worker.wait(3)
            except subprocess.TimeoutExpired:
                pass
        _signal_group(self.process.pid, signal.SIGKILL)  # stray workers or children of the group, if any
        for worker in self.workers:
            worker.wait(5)
        self.waiting_json.unlink(missing_ok=True)  # live state only: the samples hold every request now
        return self.process.returncode


class LoadStartError(EnvironmentProblem):
    """The Locust master ended, or never said which port it bound or that it started, in time."""


def _wait_for_port(port_file: Path, master: subprocess.Popen) -> int:
    return int(_wait_for_file(port_file, master, "bound a port for its workers"))


def _wait_for_file(path: Path, master: subprocess.Popen, what: str, timeout: float = LOCUST_START_WAIT) -> str:
    """The text of ``path`` once the Locust master has written it (it writes such files whole, by rename)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.is_file():
            return path.read_text()
        if master.poll() is not None:
            raise LoadStartError(f"the Locust master ended (exit {master.returncode}) before it {what}: see "
                                 "logs/locust.log")
        time.sleep(0.02)
    raise LoadStartError(f"the Locust master had not {what} within {timeout:.0f}s: see logs/locust.log")


def _signal_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


@dataclass
class SampleTail:
    """Reads new rows of the streamed CSV; keeps a short window in memory for live abort rules.

    Only whole records are parsed: a read may end inside a row, or inside a quoted error text that holds
    a newline; the rest waits for the next read."""

    path: Path
    waiting_path: Path | None = None  # the load's list of requests still waiting (LoadProcess.waiting_json)
    keep_seconds: float = 60.0
    offset: int = 0
    rows: deque = field(default_factory=deque)  # (answered at, t_mono, latency_ms, success)
    waiting_pairs: np.ndarray = field(default_factory=lambda: np.empty((0, 2)))  # as of the last poll
    total: int = 0
    _partial: bytes = b""

    def poll(self) -> int:
        """Reads the rows added since the last poll, and the load's current list of requests waiting."""
        self.waiting_pairs = _waiting_pairs(self.waiting_path)
        if not self.path.exists():
            return 0
        with open(self.path, "rb") as handle:
            handle.seek(self.offset)
            chunk = handle.read()
            self.offset = handle.tell()
        data = self._partial + chunk
        end, _ = last_record_end(data)
        self._partial = data[end:]
        added = 0
        for row in sample_rows(data[:end]):
            start, latency = float(row[1]), float(row[2])
            self.rows.append((start + latency / 1000.0, start, latency, row[6] == "1"))
            added += 1
        self.total += added
        horizon = time.monotonic() - self.keep_seconds
        while self.rows and self.rows[0][0] < horizon:
            self.rows.popleft()
        return added

    def recent(self, seconds: float, now: float | None = None,
               sent_since: float = -math.inf) -> tuple[np.ndarray, np.ndarray]:
        """(latencies ms, success flags) of requests answered in the last ``seconds`` (and sent at or after
        ``sent_since``): a slow request counts when its slowness is known, so a live rule sees a stall as
        soon as answers come late."""
        now = time.monotonic() if now is None else now
        recent = [(lat, ok) for answered, sent, lat, ok in self.rows
                  if answered >= now - seconds and sent >= sent_since]
        latencies = np.fromiter((lat for lat, _ in recent), float, len(recent))
        return latencies, np.fromiter((ok for _, ok in recent), bool, len(recent))

    def waiting(self, now: float | None = None, sent_since: float = -math.inf,
                at_least: float = WAITING_AFTER_S) -> np.ndarray:
        """How long (ms) each request still waiting has waited, for those sent at or after ``sent_since`` and
        waiting ``at_least`` seconds: a lower bound on its latency, known before its answer comes. As of the last
        ``poll``."""
        pairs = self.waiting_pairs
        if not len(pairs):
            return np.empty(0)
        now = time.monotonic() if now is None else now
        sent, seen = pairs[:, 0], np.minimum(pairs[:, 1], now)
        waits = seen - sent
        return waits[(sent >= sent_since) & (waits >= at_least)] * 1000.0


def _waiting_pairs(path: Path | None) -> np.ndarray:
    """``[sent at, known to wait at]`` rows of the load's waiting list; none when there is no list (yet)."""
    if path is None:
        return np.empty((0, 2))
    try:
        pairs = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):  # not written yet, or gone with the load: nothing known to wait
        return np.empty((0, 2))
    return np.asarray(pairs, dtype=float).reshape(-1, 2)

def last_record_end(data: bytes, quotes: int = 0) -> tuple[int, int]:
    """(length of the longest prefix of ``data`` made of whole CSV records, quotes in ``data``), given the
    number of quotes before it. A newline ends a record only outside quotes; the csv module doubles a quote
    inside a field, so the parity of the quotes seen so far says whether a newline is inside one."""
    end, start = 0, 0
    while (newline := data.find(b"\n", start)) >= 0:
        quotes += data.count(b'"', start, newline)
        if quotes % 2 == 0:
            end = newline + 1
        start = newline + 1
    return end, quotes + data.count(b'"', start)


def complete_length(path: Path, tail: int = 1 << 16) -> int:
    """Bytes of the CSV up to the end of its last whole record: a Locust killed mid-write leaves a torn
    row. Only the last ``tail`` bytes are scanned line by line; before them the quotes are just counted."""
    size = path.stat().st_size
    tail_start = max(0, size - tail)
    with open(path, "rb") as handle:
        quotes = 0
        while handle.tell() < tail_start:
            quotes += handle.read(min(8 << 20, tail_start - handle.tell())).count(b'"')
        end, _ = last_record_end(handle.read(), quotes)
    if end == 0 and tail_start > 0:  # no record ends in the tail: a row longer than it (never written here)
        return complete_length(path, size)
    return tail_start + end


def sample_rows(data: bytes):
    """The sample rows of whole CSV records (no header; a row that is not a sample is skipped)."""
    for row in csv.reader(io.StringIO(data.decode("utf-8", errors="replace"), newline="")):
        if len(row) != len(COLUMNS) or row[0] == COLUMNS[0]:
            continue
        try:
            float(row[1]), float(row[2])
        except ValueError:
            continue
        yield row



ATTRIBUTED = SCHEMA.append(pa.field("phase", pa.string())).append(pa.field("faults", pa.string()))


def csv_to_parquet(csv_path: Path, parquet_path: Path, events: list[dict] | None = None) -> int:
    """Stream the CSV into Parquet in blocks so memory stays flat for long runs. Returns rows.

    With the run's journal ``events``, each row also gets its phase and the faults active when it
    was sent (comma-separated fault ids). Written aside and renamed: a reader, or a crash, never
    sees half a Parquet file."""
    schema = ATTRIBUTED if events is not None else SCHEMA
    rows = 0
    with written_atomically(parquet_path) as partial, pq.ParquetWriter(partial, schema) as writer:
        for batch in sample_batches(csv_path, events):
            writer.write_batch(batch)
            rows += batch.num_rows
    return rows


def samples_table(csv_path: Path, events: list[dict] | None = None) -> pa.Table:
    """The CSV as one table (a run killed before its samples became Parquet is read this way)."""
    schema = ATTRIBUTED if events is not None else SCHEMA
    return pa.Table.from_batches(list(sample_batches(csv_path, events)), schema)


def sample_batches(csv_path: Path, events: list[dict] | None = None):
    """Record batches of the CSV's whole records: a torn last row (Locust killed mid-write) is left out,
    and an error text may hold newlines (quoted)."""
    length = complete_length(csv_path) if csv_path.is_file() else 0
    if length == 0:
        return
    phases = attribution.phase_windows(events) if events is not None else None
    faults = attribution.fault_windows(events) if events is not None else None
    schema = ATTRIBUTED if events is not None else SCHEMA
    convert = pacsv.ConvertOptions(column_types={f.name: f.type for f in SCHEMA}, strings_can_be_null=True,
                                   null_values=[""], include_columns=[f.name for f in SCHEMA],
                                   true_values=["1"], false_values=["0"])
    parse = pacsv.ParseOptions(newlines_in_values=True, invalid_row_handler=lambda row: "skip")
    with pa.memory_map(str(csv_path)) as mapped:
        reader = pacsv.open_csv(pa.BufferReader(mapped.read_buffer(length)), convert_options=convert,
                                parse_options=parse, read_options=pacsv.ReadOptions(block_size=8 << 20))
        for batch in reader:
            batch = batch.select(SCHEMA.names).cast(SCHEMA)
            if events is not None:
                t_mono = batch.column("t_mono").to_numpy(zero_copy_only=False)
                batch = pa.RecordBatch.from_arrays(
                    [*batch.columns, pa.array(attribution.label_phases(t_mono, phases), pa.string()),
                     pa.array(attribution.label_faults(t_mono, faults), pa.string())], schema=schema)
            yield batch
