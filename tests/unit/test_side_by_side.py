"""What `chaos ab` side by side stands on, without Docker: the start gate gives runs in separate processes one
instant (or tells them why not), and each side drives its share of the load."""

from __future__ import annotations

import multiprocessing
import time

import pytest

from chaos.plan import LoadPlan
from chaos.start_gate import GO_FILE, GateClosed, StartGate, cancel, open_when_ready


def _wait_and_report(directory, name, results) -> None:
    try:
        results.put((name, StartGate(directory, name).wait(timeout=10), time.monotonic()))
    except GateClosed as exc:
        results.put((name, str(exc), None))


def test_the_gate_opens_once_every_run_is_ready_with_one_instant_ahead_of_all(tmp_path):
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    runs = [context.Process(target=_wait_and_report, args=(tmp_path, name, results)) for name in ("a", "b")]
    for run in runs:
        run.start()
    start = open_when_ready(tmp_path, ["a", "b"], gone=lambda: None, timeout=30)
    got = sorted(results.get(timeout=30) for _ in runs)
    for run in runs:
        run.join(10)
    assert start is not None and [name for name, *_ in got] == ["a", "b"]
    assert all(instant == start for _, instant, _ in got)  # one instant, on the clock every process shares
    assert all(read_at <= start for *_, read_at in got)  # each read it before it came


def test_a_run_that_ended_cancels_the_gate_and_the_waiting_one_is_told_why(tmp_path):
    (tmp_path / "a.ready").write_text("1.0\n")
    assert open_when_ready(tmp_path, ["a", "b"], gone=lambda: "B's run ended", timeout=5) is None
    with pytest.raises(GateClosed, match="cancelled: B's run ended"):
        StartGate(tmp_path, "a").wait(timeout=1)


def test_a_gate_that_never_opens_is_an_environment_problem_after_its_timeout(tmp_path):
    with pytest.raises(GateClosed, match="not ready within"):
        StartGate(tmp_path, "a").wait(timeout=0.1)
    assert (tmp_path / "a.ready").is_file()


def test_cancel_never_overwrites_an_opened_gate(tmp_path):
    (tmp_path / GO_FILE).write_text("123.5\n")
    cancel(tmp_path, "late")
    assert StartGate(tmp_path, "a").wait(timeout=1) == 123.5


def _load(**changes) -> LoadPlan:
    base = dict(locustfile=None, user_classes=[], scenario=None, users=5, spawn_rate=5.0, model="closed", rate=None,
                max_in_flight=1000, workers=0, timeout=10.0, target="api:8080")
    return LoadPlan(**{**base, **changes})


def test_each_of_two_sides_drives_half_the_load_rounded_up():
    closed = _load().share(2)
    assert (closed.users, closed.spawn_rate, closed.rate, closed.workers) == (3, 2.5, None, 0)
    opened = _load(model="open", rate=40.0, max_in_flight=5, workers=3).share(2)
    assert (opened.rate, opened.max_in_flight, opened.workers) == (20.0, 3, 2)
    assert _load(users=1).share(2).users == 1  # never no user at all
