"""A request still waiting when the load stops is a row, not a silence: real Locust (closed scenario users, the
open model, a worker) against a local HTTP server that answers its first requests and then never again. No
Docker: the server runs in this test on 127.0.0.1 and is released and closed at the end."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pandas as pd
import pytest

from chaos.errors import EnvironmentProblem
from chaos.load import SAMPLES_CSV, LoadProcess, SampleTail, samples_table
from chaos.load_protocol import NO_ANSWER
from chaos.plan import LoadPlan

ANSWERED = 20  # the server answers this many requests, then holds every later one without an answer


class StallingServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), StallingHandler)
        self.lock = threading.Lock()
        self.answered = 0
        self.held = 0
        self.first_held_at: float | None = None
        self.release = threading.Event()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class StallingHandler(BaseHTTPRequestHandler):
    server: StallingServer

    def do_GET(self):
        with self.server.lock:
            answer = self.server.answered < ANSWERED
            if answer:
                self.server.answered += 1
            else:
                self.server.held += 1
                self.server.first_held_at = self.server.first_held_at or time.monotonic()
        if not answer:
            self.server.release.wait(60)  # bounded even if the test never releases it
            return  # then close without a word
        body = b"ok"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def stalling_server():
    server = StallingServer()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.release.set()
        server.shutdown()
        server.server_close()
        thread.join(10)


def load_spec(**changes) -> LoadPlan:
    scenario = [{"method": "GET", "path": "/items?page=1", "name": "GET /items", "weight": 1, "headers": {},
                 "json": None, "expect": [200]}]
    return LoadPlan(**{"locustfile": None, "user_classes": [], "users": 4, "spawn_rate": 100, "model": "closed",
                       "rate": None, "max_in_flight": 1000, "workers": 0, "scenario": scenario, "timeout": 30.0,
                       "target": "api:8080", **changes})


def run_until_held(server: StallingServer, tmp_path, load: LoadPlan, held: int, stalled_for: float, seen: dict | None = None):
    """Runs the load until the server holds ``held`` requests for ``stalled_for`` seconds, then stops it as the
    runner does (SIGTERM). Returns (samples, monotonic time of the stop, Locust's own request count). Into
    ``seen``: what the runner's live tail saw waiting just before the stop, and the waiting list after it."""
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    process = LoadProcess(load, server.url, 60, run_dir, seed=1)
    process.start()
    try:
        deadline = time.monotonic() + 60
        while not (server.held >= held and time.monotonic() - server.first_held_at >= stalled_for):
            assert process.running(), (run_dir / "logs" / "locust.log").read_text()
            assert time.monotonic() < deadline, f"the server held {server.held} request(s), expected {held}"
            time.sleep(0.05)
        stopped_at = time.monotonic()
        if seen is not None:
            tail = SampleTail(process.samples_csv, process.waiting_json)
            tail.poll()
            seen["waits_ms"] = tail.waiting(stopped_at)
    finally:
        process.stop()
    if seen is not None:
        seen["list_left"] = process.waiting_json.exists()
    stats = json.loads((run_dir / "logs" / "locust-stats.json").read_text())
    samples = samples_table(run_dir / SAMPLES_CSV).to_pandas()
    return samples, stopped_at, sum(entry["num_requests"] for entry in stats)


def no_answer_rows(samples: pd.DataFrame) -> pd.DataFrame:
    return samples[samples["error"].fillna("").str.startswith("NoAnswer")]


def test_closed_users_stuck_at_the_end_leave_one_no_answer_row_each(stalling_server, tmp_path):
    samples, stopped_at, locust_requests = run_until_held(stalling_server, tmp_path, load_spec(), held=4,
                                                          stalled_for=3.0)
    waiting = no_answer_rows(samples)
    assert len(waiting) == 4, samples.tail(8)  # each of the 4 users waited for one answer that never came
    assert (waiting["error"] == NO_ANSWER).all()
    assert (waiting["status"] == 0).all() and not waiting["success"].any()
    assert set(waiting["name"]) == {"GET /items"} and set(waiting["method"]) == {"GET"}
    # Each waited from its send until Locust cut it: at least the stall seen before the stop, and the stop's grace
    # (Locust's stop timeout, 2 s) at most a few seconds more.
    held_for_ms = (stopped_at - stalling_server.first_held_at) * 1000
    assert (waiting["latency_ms"] >= held_for_ms - 100).all(), waiting
    assert (waiting["latency_ms"] <= held_for_ms + 8000).all(), waiting
    assert (waiting["t_mono"] + waiting["latency_ms"] / 1000 >= stopped_at).all()  # cut after the stop, not before
    answered = samples[samples["success"]]
    assert len(answered) == ANSWERED and len(samples) == ANSWERED + 4
    assert locust_requests == len(samples)  # fired through Locust's request event: its counts agree with ours


def test_open_model_arrivals_still_waiting_at_the_end_are_rows_timed_from_their_intended_send(stalling_server,
                                                                                             tmp_path):
    load = load_spec(model="open", rate=20.0)
    samples, stopped_at, locust_requests = run_until_held(stalling_server, tmp_path, load, held=20, stalled_for=2.0)
    waiting = no_answer_rows(samples)
    answered = samples[samples["success"]]
    assert len(answered) == ANSWERED
    assert len(waiting) == len(samples) - ANSWERED  # every other arrival was still waiting: none is lost
    assert len(waiting) >= stalling_server.held >= 20
    assert set(waiting["name"]) == {"GET /items"} and set(waiting["method"]) == {"GET"}
    assert (waiting["error"] == NO_ANSWER).all() and (waiting["status"] == 0).all()
    # Latency from the intended send to the cut: the oldest waited the whole stall, the newest a moment; each
    # row's end lies in the stop's grace (the in-flight grace, 2 s, then the cut).
    ends = waiting["t_mono"] + waiting["latency_ms"] / 1000
    assert (ends >= stopped_at).all() and (ends <= stopped_at + 8).all(), waiting
    assert waiting["latency_ms"].max() >= (stopped_at - stalling_server.first_held_at) * 1000
    assert waiting["latency_ms"].min() < waiting["latency_ms"].max() - 1500  # later arrivals waited less
    assert locust_requests == len(samples)


def test_a_workers_requests_still_waiting_reach_the_master(stalling_server, tmp_path):
    samples, _, locust_requests = run_until_held(stalling_server, tmp_path, load_spec(workers=1, users=3), held=3,
                                                 stalled_for=2.0)
    waiting = no_answer_rows(samples)
    assert len(waiting) == 3, samples.tail(6)
    assert len(samples[samples["success"]]) == ANSWERED
    assert (waiting["latency_ms"] >= 2000 - 100).all()
    assert locust_requests == len(samples)


@pytest.mark.parametrize("workers", [0, 1])
def test_the_live_tail_sees_requests_still_waiting_before_they_are_answered(stalling_server, tmp_path, workers):
    """What a live abort rule reads while the system stalls: each held request with its wait so far (a worker's as
    of its last report, every 3 s), though not one of them has an answer yet."""
    seen: dict = {}
    run_until_held(stalling_server, tmp_path, load_spec(users=3, workers=workers), held=3, stalled_for=3.5, seen=seen)
    waits = seen["waits_ms"]
    assert len(waits) == 3, waits
    assert (waits >= 1000).all() and (waits <= 3500 + 500).all(), waits
    assert not seen["list_left"]  # live state only: gone with the load


PLAIN_LOCUSTFILE = """
from locust import FastHttpUser, constant, task

class PlainUser(FastHttpUser):  # no timeout of its own: Locust's default is 60 s
    wait_time = constant(0.05)

    @task
    def index(self):
        self.client.get("/items", name="GET /items")
"""


@pytest.mark.parametrize("model", ["closed scenario", "open locustfile", "open requests locustfile"])
def test_load_timeout_cuts_requests_in_the_client(stalling_server, tmp_path, model):
    load = load_spec(timeout=1.0)
    if model.startswith("open"):
        text = PLAIN_LOCUSTFILE if model == "open locustfile" else PLAIN_LOCUSTFILE.replace("FastHttpUser", "HttpUser")
        (tmp_path / "plain.py").write_text(text)
        load = replace(load, model="open", rate=10.0, scenario=None, locustfile=str(tmp_path / "plain.py"))
    samples, _, _ = run_until_held(stalling_server, tmp_path, load, held=8, stalled_for=2.5)
    failed = samples[~samples["success"]]
    cut = failed[~failed["error"].fillna("").str.startswith("NoAnswer")]
    assert len(cut) >= 4, failed  # held requests cut by the client after load.timeout, long before the stop
    assert cut["service_ms"].between(900, 3000).all(), cut


def test_the_timeline_starts_once_locust_has_started_its_users(stalling_server, tmp_path):
    """LoadProcess.start returns when Locust says it started (not when its process was spawned: importing gevent and
    the locustfile takes seconds on a busy machine), so the runner's phases hold requests from their first second."""
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    process = LoadProcess(load_spec(users=2), stalling_server.url, 30, run_dir, seed=1)
    spawned = time.monotonic()
    process.start()
    try:
        started = float((run_dir / "logs" / "locust-started").read_text())
        assert spawned < started <= process.started_mono
        samples, deadline = run_dir / SAMPLES_CSV, time.monotonic() + 20
        while not (samples.exists() and samples_table(samples).num_rows):
            assert time.monotonic() < deadline and process.running()
            time.sleep(0.05)
        first_sent = samples_table(samples).to_pandas()["t_mono"].min()
        assert first_sent >= started  # no request before Locust said it started
    finally:
        process.stop()


def test_a_locustfile_that_fails_to_load_is_an_environment_problem_naming_the_log(tmp_path):
    (tmp_path / "broken.py").write_text("raise RuntimeError('this locustfile is broken')\n")
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    process = LoadProcess(load_spec(locustfile=str(tmp_path / "broken.py"), scenario=None), "http://127.0.0.1:9", 30,
                          run_dir, seed=1)
    with pytest.raises(EnvironmentProblem, match=r"the Locust master ended \(exit \d+\) before it started its users: "
                                                  r"see logs/locust.log"):
        process.start()
    assert "this locustfile is broken" in (run_dir / "logs" / "locust.log").read_text()
    assert not process.running()
