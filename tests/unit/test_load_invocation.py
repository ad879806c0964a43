"""What the harness hands the Locust processes for a plan's load section (pure: command lines and environment)."""

from pathlib import Path

from chaos import spec
from chaos.load import locust_invocation
from chaos.load_protocol import NO_ANSWER, TIMEOUT_ENV, NoAnswer
from chaos.plan import LoadPlan

LOAD = LoadPlan(locustfile=None, user_classes=[], users=4, spawn_rate=10.0, model="closed", rate=None,
                max_in_flight=1000, workers=2, timeout=2.5, target="api:8080",
                scenario=[{"method": "GET", "path": "/", "name": "GET /", "weight": 1, "headers": {}, "json": None,
                           "expect": [200]}])


def test_load_timeout_reaches_the_master_and_every_worker_in_seconds():
    invocation = locust_invocation(LOAD, "http://127.0.0.1:1", 30, Path("stats"), 0)
    # Workers are started with the master's environment (LoadProcess passes the same env to all).
    assert invocation.env[TIMEOUT_ENV] == "2.5" and len(invocation.workers) == 2


def test_a_load_section_without_a_timeout_gets_the_default():
    section = spec.Load.model_validate({"scenario": [{"path": "/"}], "target": "api:8080"})
    load = LoadPlan.from_spec(section, None)
    assert locust_invocation(load, "http://127.0.0.1:1", 30, Path("stats"), 0).env[TIMEOUT_ENV] == "10.0"


def test_the_no_answer_error_reads_as_the_recorder_writes_it():
    error = NoAnswer()
    assert f"{error.__class__.__name__}: {error}" == NO_ANSWER == "NoAnswer: still waiting when the load stopped"
