"""Loaded INSIDE the Locust process (``locust -f chaos/locust_recorder.py,<user locustfile>``).

Records every request raw from Locust's ``request`` event (its own stats round response times
to about two significant figures) and streams rows to a CSV file the harness tails while the
run goes on. Never import this module from the harness: importing locust monkey-patches the
process with gevent.
"""

from __future__ import annotations

import csv
import os
import time

import gevent
from locust import events

COLUMNS = ("t_wall", "t_mono", "latency_ms", "name", "method", "status", "success", "bytes", "error")
FLUSH_SECONDS = 0.25

_rows: list[tuple] = []
_state: dict = {}


@events.request.add_listener
def _record(request_type, name, response_time, response_length, response=None, exception=None,
            start_time=None, **_kwargs):
    now_mono = time.monotonic()
    latency_ms = float(response_time or 0.0)
    t_wall = float(start_time) if start_time else time.time() - latency_ms / 1000.0
    status = getattr(response, "status_code", 0) or 0
    error = None if exception is None else f"{exception.__class__.__name__}: {str(exception)[:160]}"
    _rows.append((f"{t_wall:.6f}", f"{now_mono - latency_ms / 1000.0:.6f}", repr(latency_ms), name,
                  request_type, int(status), int(exception is None), int(response_length or 0),
                  error or ""))


def _flush() -> None:
    writer = _state.get("writer")
    if writer is None or not _rows:
        return
    rows = _rows[:]
    del _rows[: len(rows)]
    writer.writerows(rows)
    _state["file"].flush()


def _flusher(environment) -> None:
    parent = int(os.environ.get("CHAOS_PARENT_PID", "0"))
    while True:
        gevent.sleep(FLUSH_SECONDS)
        _flush()
        if parent and os.getppid() != parent:
            # The harness is gone (even SIGKILL): stop the load rather than hammer a system nobody watches.
            environment.runner.quit()
            return


@events.init.add_listener
def _open(environment, **_kwargs):
    path = os.environ.get("CHAOS_SAMPLES_FILE")
    if not path:
        return
    handle = open(path, "a", newline="", encoding="utf-8", buffering=1 << 16)
    writer = csv.writer(handle, lineterminator="\n")
    if handle.tell() == 0:
        writer.writerow(COLUMNS)
    _state.update(file=handle, writer=writer)
    gevent.spawn(_flusher, environment)


@events.quit.add_listener
def _close(**_kwargs):
    _flush()
    handle = _state.pop("file", None)
    _state.pop("writer", None)
    if handle:
        handle.close()
