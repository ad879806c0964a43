"""Loaded INSIDE Locust processes (``locust -f chaos/locust_recorder.py,<user locustfile>``).

Records every request raw from Locust's ``request`` event (its own stats round response times
to about two significant figures). A local or master process streams rows to the CSV file named
by ``CHAOS_SAMPLES_FILE``, which the harness tails while the run goes on; a worker (local or on
another machine) ships its rows to the master inside Locust's own worker reports.

In the open model a request carries its intended send time in its context, and latency is
measured from that time, so a stalled service cannot hide behind requests never sent
(coordinated omission); ``service_ms`` keeps the time from actual send to answer.

Never import this module from the harness: importing locust monkey-patches with gevent.
"""

from __future__ import annotations

import csv
import os
import time

import gevent
from locust import events
from locust.runners import WorkerRunner

from chaos.load_protocol import COLUMNS, INTENDED

FLUSH_SECONDS = 0.25
WALL_MINUS_MONO = time.time() - time.monotonic()

_rows: list[tuple] = []
_state: dict = {}


@events.request.add_listener
def _record(request_type, name, response_time, response_length, response=None, exception=None,
            context=None, **_kwargs):
    now_mono = time.monotonic()
    service_ms = float(response_time or 0.0)
    intended = (context or {}).get(INTENDED)
    started = intended if intended is not None else now_mono - service_ms / 1000.0
    latency_ms = (now_mono - started) * 1000.0 if intended is not None else service_ms
    status = getattr(response, "status_code", 0) or 0
    error = "" if exception is None else f"{exception.__class__.__name__}: {str(exception)[:160]}"
    _rows.append((round(started + WALL_MINUS_MONO, 6), round(started, 6), latency_ms, name, request_type,
                  int(status), int(exception is None), int(response_length or 0), error, service_ms))


def _take_rows() -> list[tuple]:
    rows = _rows[:]
    del _rows[: len(rows)]
    return rows


def _write(rows: list) -> None:
    writer = _state.get("writer")
    if writer is not None and rows:
        try:
            writer.writerows(rows)
            _state["file"].flush()
        except OSError:
            # A full disk: the harness sees its journal fail too and ends the run. This greenlet must live on,
            # watching for the harness's end; the rows that do not fit are dropped.
            _state.pop("writer", None)


def _flusher(environment) -> None:
    parent = int(os.environ.get("CHAOS_PARENT_PID", "0"))
    while True:
        gevent.sleep(FLUSH_SECONDS)
        if not isinstance(environment.runner, WorkerRunner):
            _write(_take_rows())
        if parent and os.getppid() != parent:
            # The harness is gone (even SIGKILL): stop the load rather than hammer a system nobody watches.
            environment.runner.quit()
            return


def _tell_master_port(environment) -> None:
    """The master bound port 0 (the kernel chose a free one, no race): the harness starts workers on it."""
    path = os.environ.get("CHAOS_MASTER_PORT_FILE")
    server = getattr(environment.runner, "server", None)
    if path and server is not None:
        partial = f"{path}.partial"
        with open(partial, "w", encoding="utf-8") as handle:
            handle.write(str(server.port))
        os.replace(partial, path)  # a reader never sees half a number


@events.init.add_listener
def _open(environment, **_kwargs):
    gevent.spawn(_flusher, environment)
    _tell_master_port(environment)
    path = os.environ.get("CHAOS_SAMPLES_FILE")
    if not path or isinstance(environment.runner, WorkerRunner):
        return
    handle = open(path, "a", newline="", encoding="utf-8", buffering=1 << 16)
    writer = csv.writer(handle, lineterminator="\n")
    if handle.tell() == 0:
        writer.writerow(COLUMNS)
    _state.update(file=handle, writer=writer)


@events.report_to_master.add_listener
def _ship(client_id, data, **_kwargs):
    data["chaos_rows"] = _take_rows()


@events.worker_report.add_listener
def _receive(client_id, data, **_kwargs):
    _write(data.get("chaos_rows") or [])


@events.quit.add_listener
def _close(**_kwargs):
    _write(_take_rows())
    handle = _state.pop("file", None)
    _state.pop("writer", None)
    if handle:
        try:
            handle.close()
        except OSError:
            pass  # a full disk: the rows still buffered are lost (see _write)
