"""Loaded INSIDE Locust processes (``locust -f chaos/locust_recorder.py,<user locustfile>``).

Records every request raw from Locust's ``request`` event (its own stats round response times
to about two significant figures). A local or master process streams rows to the CSV file named
by ``CHAOS_SAMPLES_FILE``, which the harness tails while the run goes on; a worker (local or on
another machine) ships its rows to the master inside Locust's own worker reports.

In the open model a request carries its intended send time in its context, and latency is
measured from that time, so a stalled service cannot hide behind requests never sent
(coordinated omission); ``service_ms`` keeps the time from actual send to answer.

A request still waiting for its answer when the load stops is a row too (error ``NoAnswer``), or a
system that stalls until the end of a run would leave no trace: Locust's ``request`` event fires only
when an answer (or an error) comes, and the load's end kills a waiting user with GreenletExit.

Never import this module from the harness: importing locust monkey-patches with gevent.
"""

from __future__ import annotations

import csv
import functools
import inspect
import json
import logging
import os
import time
from urllib.parse import urlsplit

import gevent
from gevent import GreenletExit
from locust import events
from locust.clients import HttpSession
from locust.contrib.fasthttp import FastHttpSession
from locust.exception import StopUser
from locust.runners import MasterRunner, WorkerRunner

from chaos.load_protocol import COLUMNS, INTENDED, RECORDED, NoAnswer

FLUSH_SECONDS = 0.25
WALL_MINUS_MONO = time.time() - time.monotonic()

_rows: list[tuple] = []
_state: dict = {}
# Requests sent and not answered yet (token -> actual send time, monotonic). Locust tells of a request only
# once it is answered, so without these a live abort rule would not see a stalled system until it answers.
_waiting: dict[object, float] = {}


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


def _wrap_request(session_class) -> None:
    """Every request of ``session_class`` (its convenience methods all go through ``request``) leaves a row
    even when the load's end interrupts it: Locust kills a user still waiting once its stop timeout is over."""
    original = session_class.request
    if getattr(original, "chaos_wrapped", False):
        return
    signature = inspect.signature(original)

    @functools.wraps(original)
    def request(self, *args, **kwargs):
        timeout = getattr(self, "chaos_timeout", None)  # set by the open model on the plain HttpSession only
        if timeout is not None and "timeout" not in kwargs:
            kwargs["timeout"] = timeout
        if _state.get("stopping"):
            # Locust stops a user that waits between two tasks by killing it, and the kill lands a moment later:
            # the user may wake and send one more request, cut a millisecond after, which would read as a failure
            # of the system. Once the load is stopping, no request is sent.
            raise StopUser()
        started = time.monotonic()
        token = object()
        _waiting[token] = started
        try:
            return original(self, *args, **kwargs)
        except GreenletExit as stopped:
            _record_no_answer(self, signature.bind_partial(self, *args, **kwargs).arguments, started)
            setattr(stopped, RECORDED, True)
            raise
        finally:
            _waiting.pop(token, None)

    request.chaos_wrapped = True
    session_class.request = request


def _record_no_answer(session, arguments: dict, started: float) -> None:
    """One failed row through Locust's own ``request`` event (Locust's counts stay equal to ours), timed as
    ``_record`` times an answer: from the intended send time in the open model, else from the actual send."""
    method, url = _text(arguments.get("method", "")), _text(arguments.get("url", ""))
    name = arguments.get("name") or getattr(session, "request_name", None) or _path(url)
    context = dict(arguments.get("context") or {})
    user = getattr(session, "user", None)
    if user is not None:
        try:
            context = {**user.context(), **context}
        except Exception:  # noqa: BLE001 - a user's own context() must not lose the row
            pass
    fire = getattr(session, "request_event", None) or events.request
    fire.fire(request_type=method, name=name, response_time=(time.monotonic() - started) * 1000.0,
              response_length=0, response=None, exception=NoAnswer(), context=context)


def _text(value) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _path(url: str) -> str:
    """What Locust names a request given no name: its path and query, without scheme and host."""
    parts = urlsplit(url)
    return (parts.path or "/") + (f"?{parts.query}" if parts.query else "")


_wrap_request(HttpSession)
_wrap_request(FastHttpSession)


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
            _write_waiting()
        if parent and os.getppid() != parent:
            # The harness is gone (even SIGKILL): stop the load rather than hammer a system nobody watches.
            environment.runner.quit()
            return


def _write_waiting() -> None:
    """The requests still waiting, as ``[sent at, known to wait at]`` pairs (monotonic seconds), replaced whole in
    ``CHAOS_WAITING_FILE``: a worker's are as of its last report, so a wait is never counted past what was seen."""
    path = os.environ.get("CHAOS_WAITING_FILE")
    if not path:
        return
    now = time.monotonic()
    pairs = [[sent, now] for sent in _waiting.values()]
    for seen_at, sent_times in _state.get("worker_waiting", {}).values():
        pairs += [[sent, seen_at] for sent in sent_times]
    _write_whole(path, json.dumps(pairs))


def _write_whole(path: str, text: str) -> None:
    """Written aside and renamed: the harness never reads half of it."""
    partial = f"{path}.partial"
    try:
        with open(partial, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(partial, path)
    except OSError:
        pass  # a full disk: the harness stops the run on its own check


def _tell_master_port(environment) -> None:
    """The master bound port 0 (the kernel chose a free one, no race): the harness starts workers on it."""
    path = os.environ.get("CHAOS_MASTER_PORT_FILE")
    server = getattr(environment.runner, "server", None)
    if path and server is not None:
        _write_whole(path, str(server.port))


@events.init.add_listener
def _open(environment, **_kwargs):
    gevent.spawn(_flusher, environment)
    _tell_master_port(environment)
    if isinstance(environment.runner, WorkerRunner):
        environment.runner.register_message(STOP_WORKER, _stop_worker, concurrent=True)
    elif isinstance(environment.runner, MasterRunner):
        environment.runner.register_message(WORKER_STOPPED, _worker_stopped)
    path = os.environ.get("CHAOS_SAMPLES_FILE")
    if not path or isinstance(environment.runner, WorkerRunner):
        return
    handle = open(path, "a", newline="", encoding="utf-8", buffering=1 << 16)
    writer = csv.writer(handle, lineterminator="\n")
    if handle.tell() == 0:
        writer.writerow(COLUMNS)
    _state.update(file=handle, writer=writer)


@events.test_start.add_listener
def _started(environment, **_kwargs):
    _state.pop("stopping", None)
    path = os.environ.get("CHAOS_STARTED_FILE")
    if path and not isinstance(environment.runner, WorkerRunner):
        _write_whole(path, repr(time.monotonic()))  # the harness starts its timeline now


@events.test_stopping.add_listener
def _stopping(**_kwargs):
    _state["stopping"] = True


# ---- a worker's last rows ----------------------------------------------------------------------------------
# Rows a worker appends while it stops (NoAnswer rows come after Locust's stop timeout, 2 s) would miss the
# master: on quit the master tells its workers to quit and waits only 0.5 s for their last report. So the master,
# as it starts stopping, first asks each worker to stop its users and send every row it still holds, and waits
# for those answers (bounded). A worker that does not answer in time loses the rows it appends after its last
# regular report (every 3 s); the master's log then says how many workers did not answer.
STOP_WORKER, WORKER_STOPPED = "chaos_stop", "chaos_stopped"


def _stop_worker(environment, msg, **_kwargs):
    environment.runner.stop()  # runs test_stopping (the open model's in-flight arrivals) and the stop timeout
    environment.runner.send_message(WORKER_STOPPED, _take_rows())


def _worker_stopped(environment, msg, **_kwargs):
    _write(msg.data or [])
    _state.get("worker_waiting", {}).pop(msg.node_id, None)  # its waiting requests are rows now
    _state.setdefault("waiting", set()).discard(msg.node_id)


@events.test_stopping.add_listener
def _stop_workers_first(environment, **_kwargs):
    runner = environment.runner
    if not isinstance(runner, MasterRunner) or not runner.clients:
        return
    waiting = _state["waiting"] = set(runner.clients.keys())
    runner.send_message(STOP_WORKER)
    # A worker's stop: the open model's in-flight grace, then the users' stop timeout; 3 s for the rest.
    deadline = time.monotonic() + 2 * (environment.stop_timeout or 0) + 3.0
    while waiting and time.monotonic() < deadline:
        gevent.sleep(0.05)
    if waiting:
        logging.getLogger("chaos").warning("%d Locust worker(s) did not send their last rows in time: requests they "
                                           "still waited for at the end are missing from the samples", len(waiting))


@events.report_to_master.add_listener
def _ship(client_id, data, **_kwargs):
    data["chaos_rows"] = _take_rows()
    data["chaos_waiting"] = [time.monotonic(), list(_waiting.values())]


@events.worker_report.add_listener
def _receive(client_id, data, **_kwargs):
    _write(data.get("chaos_rows") or [])
    if data.get("chaos_waiting"):
        _state.setdefault("worker_waiting", {})[client_id] = data["chaos_waiting"]


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
