"""Probes: measurements polled on a fixed schedule for the whole run, beside the load.

Each probe has its own schedule thread; each try runs in a worker thread and is waited for at
most ``timeout``. A try still running when the next is due is not doubled up: the next try is
recorded as a failure ("previous try still running"), so a hanging probe shows up as failures
and never hangs or floods the run. Results go to ``probes.parquet`` in the run dir.
"""

from __future__ import annotations

import importlib
import json
import re
import socket
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import requests

from chaos.faults.gate import GATE, Frozen
from chaos.atomic import written_atomically
from chaos.plan import ProbePlan

# How long an exec whose output has closed may take to be marked ended by the engine before its exit is read.
EXEC_SETTLE = 2.0

SCHEMA = pa.schema([("t_wall", pa.float64()), ("t_mono", pa.float64()), ("probe", pa.string()),
                    ("success", pa.bool_()), ("latency_ms", pa.float64()), ("value", pa.string()),
                    ("error", pa.string())])


class ProbeFailed(Exception):
    pass


@dataclass(frozen=True)
class Result:
    t_wall: float
    t_mono: float
    probe: str
    success: bool
    latency_ms: float
    value: str | None
    error: str | None


def check(probe: ProbePlan, system) -> str | None:
    """One try of ``probe``; returns the observed value or raises ProbeFailed."""
    kind, params = probe.type, probe.params
    if kind == "http":
        return _http(params, system, probe.timeout)
    if kind == "tcp":
        port = system.published(params["service"], params["port"])
        with socket.create_connection(("127.0.0.1", port), timeout=probe.timeout):
            return "connected"
    if kind == "command":
        return _command(params, system)
    if kind == "python":
        return _python(params)
    if kind == "container":
        return _container(params, system)
    raise ProbeFailed(f"unknown probe type {kind}")


def _http(params: dict, system, timeout: float) -> str:
    port = system.published(params["service"], params["port"])
    with requests.Session() as session:
        session.trust_env = False  # no ~/.netrc credentials and no proxy: the probe talks to 127.0.0.1 only
        # A redirect is the answer judged (expect_status), never followed: following one would leave loopback.
        response = session.request(params["method"], f"http://127.0.0.1:{port}{params['path']}", timeout=timeout,
                                   headers={"User-Agent": "chaos-probe"}, allow_redirects=False)
    if response.status_code not in params["expect_status"]:
        raise ProbeFailed(f"HTTP {response.status_code}, expected {params['expect_status']}")
    if params.get("body_regex") and not re.search(params["body_regex"], response.text):
        raise ProbeFailed(f"body does not match {params['body_regex']!r}")
    if params.get("json_path"):
        value = response.json()
        for key in params["json_path"].split("."):
            value = value[int(key)] if isinstance(value, list) else value.get(key) if isinstance(value, dict) else None
        if params.get("equals") is not None and value != params["equals"]:
            raise ProbeFailed(f"{params['json_path']} is {value!r}, expected {params['equals']!r}")
        return json.dumps(value)
    return str(response.status_code)


def _command(params: dict, system) -> str:
    """Never an exec into a container the harness pauses (see faults/gate.py), nor into one paused otherwise."""
    service, container_id = params["service"], system.containers[params["service"]]
    try:
        with GATE.exec_into(container_id):
            container = system.client.containers.get(container_id)
            if container.attrs["State"].get("Paused"):
                raise ProbeFailed(f"not run: {service} is paused")
            code, output = _exec(system.client.api, container_id, params["command"])
    except Frozen as exc:
        raise ProbeFailed(f"not run: {service} is {exc}") from None
    text = output.decode(errors="replace").strip()
    if code != params["expect_exit"]:
        raise ProbeFailed(f"exit {code}, expected {params['expect_exit']}: {text[-200:]}")
    if params.get("output_regex") and not re.search(params["output_regex"], text):
        raise ProbeFailed(f"output does not match {params['output_regex']!r}")
    return text[-200:]


def _exec(api, container_id: str, command: list[str]) -> tuple[int | None, bytes]:
    """One exec, held until the engine too has seen it end: its output can close a moment before the engine
    marks the exec done, and a pause in that moment would freeze an exec still winding down."""
    exec_id = api.exec_create(container_id, command)["Id"]
    output = api.exec_start(exec_id)
    deadline = time.monotonic() + EXEC_SETTLE
    while True:
        state = api.exec_inspect(exec_id)
        if not state["Running"] or time.monotonic() > deadline:
            return state["ExitCode"], output
        time.sleep(0.01)


def _python(params: dict) -> str:
    module_name, function_name = params["call"].split(":", 1)
    if params["path"] not in sys.path:
        sys.path.insert(0, params["path"])
    value = getattr(importlib.import_module(module_name), function_name)()
    if not value:
        raise ProbeFailed(f"{params['call']} returned {value!r}")
    return repr(value)[:200]


def _container(params: dict, system) -> str:
    container = system.client.containers.get(system.containers[params["service"]])
    container.reload()
    state = container.attrs["State"]
    health = state.get("Health", {}).get("Status")
    restarts = container.attrs.get("RestartCount", 0)
    observed = f"{state['Status']} health={health} restarts={restarts}"
    ok = state["Status"] == "running" and (params["expect"] != "healthy" or health == "healthy")
    if not ok:
        raise ProbeFailed(observed)
    return observed


class _Claim:
    """Whoever takes it first records the try: its own result, or the scheduler's timeout."""

    def __init__(self):
        self._lock = threading.Lock()
        self._taken = False

    def take(self) -> bool:
        with self._lock:
            taken, self._taken = self._taken, True
            return not taken


class Prober:
    """Runs every probe of a plan on its schedule until ``stop()``."""

    def __init__(self, probes: list[ProbePlan], system, check_function=check):
        self.probes = probes
        self.system = system
        self.check = check_function
        self.results: list[Result] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        for probe in self.probes:
            thread = threading.Thread(target=self._schedule, args=(probe,), daemon=True,
                                      name=f"chaos-probe-{probe.name}")
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=5)

    def _schedule(self, probe: ProbePlan) -> None:
        due = time.monotonic()
        running = None
        while not self._stop.is_set():
            if running is not None and running.is_alive():
                self._record(probe, due, False, 0.0, None, "previous try still running")
            else:
                claim = _Claim()
                # A daemon thread per try: one hanging in the engine is abandoned, and never keeps the process alive.
                running = threading.Thread(target=self._try, args=(probe, claim), daemon=True,
                                           name=f"chaos-probe-try-{probe.name}")
                running.start()
                running.join(timeout=probe.timeout)
                if running.is_alive():
                    if claim.take():
                        self._record(probe, due, False, probe.timeout * 1000, None,
                                     f"timed out after {probe.timeout:g}s")
            due += probe.every
            self._stop.wait(max(0.0, due - time.monotonic()))

    def _try(self, probe: ProbePlan, claim: "_Claim") -> None:
        started = time.monotonic()
        try:
            value, error = self.check(probe, self.system), None
        except Exception as exc:  # noqa: BLE001 - any failure of the probed system is a failed try
            value, error = None, f"{exc.__class__.__name__}: {str(exc)[:200]}"
        if claim.take():  # else the scheduler already recorded this try as timed out
            self._record(probe, started, error is None, (time.monotonic() - started) * 1000, value, error)

    def _record(self, probe, t_mono, success, latency_ms, value, error) -> None:
        with self._lock:
            self.results.append(Result(time.time() - (time.monotonic() - t_mono), t_mono, probe.name, success,
                                       latency_ms, value, error))

    def recent(self, probe: str, since_mono: float) -> tuple[np.ndarray, np.ndarray]:
        """(latencies ms, success flags) of ``probe``'s tries since ``since_mono``, for the live view."""
        with self._lock:
            rows = [(r.latency_ms, r.success) for r in self.results if r.probe == probe and r.t_mono >= since_mono]
        return (np.fromiter((lat for lat, _ in rows), float, len(rows)),
                np.fromiter((ok for _, ok in rows), bool, len(rows)))

    def write(self, path: Path) -> int:
        with self._lock:
            rows = sorted(self.results, key=lambda r: r.t_mono)
        columns = {name: [getattr(r, name) for r in rows] for name in SCHEMA.names}
        with written_atomically(path) as partial:  # a reader, or a crash, never sees half of it
            pq.write_table(pa.table(columns, schema=SCHEMA), partial)
        return len(rows)
