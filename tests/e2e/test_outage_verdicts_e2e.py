"""Verdicts that never hide an outage (issue 15), on the shop as a user runs it.

Two runs, each shared by the tests of its family:

* redis cut off from everyone (a partition, 1 s into the fault phase) under the closed model, shop v1: v1 has no
  timeouts, so every user ends up waiting on redis and almost nothing completes while the partition holds. The
  error rate of the fault phase must deviate, saying that no answer came (a) -- not be "inconclusive" for want of
  completed requests; and the fault phase is judged from the moment the partition is in effect to the moment its
  heal begins, while the planned edges stay in the summary (c).
* a baseline with a few requests from clients on a slow uplink (real requests through the edge link whose headers
  take 2 s to arrive), then 300 ms on the edge link at once, then inventory killed; inventory here takes 3 s to
  start, so the kill's revert (start, wait for health) lasts seconds while every product read and order fails.
  Those failures must be judged by the recovery phase, and every request must belong to some phase (b); the
  fault's time to degrade must be measured against a band the outliers cannot inflate (d).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
from support.e2e import REPO, chaos_command, finish, journal, only_run_dir, shop_head
from support.from_outside import assert_nothing_left

# An abort rule that never breaks, in place of the default guards: these runs are meant to go to their end (slow
# outliers and a hung system are what they show, and the default p99 guard would stop them).
NO_ABORT = """\
abort:
  - {metric: error_rate, max: 100%, for: 5s}
"""

# ---- run 1: redis hangs (cases a and c) ------------------------------------------------------------------------

PARTITION_AT_S, PARTITION_FOR_S = 1.0, 8.0
HUNG_USERS = 10
HUNG_REDIS = shop_head("e2e-outage-hung-redis", HUNG_USERS, "{warmup: 1s, baseline: 5s, recovery: 3s}",
                       link=False) + f"""\
faults:
  - {{name: redis cut off, type: partition, isolate: redis, at: {PARTITION_AT_S:g}s, duration: {PARTITION_FOR_S:g}s}}
steady_state:
  - {{name: requests succeed, metric: error_rate, max: 5%, phases: [baseline, fault]}}
""" + NO_ABORT

# ---- run 2: slow-uplink outliers, a slow edge, a slow-starting dependency killed (cases b and d) ----------------

SHOP_USERS = 6  # few: on a busy 2-core host the load's own CPU widens the baseline's window p99s
OUTLIERS, TRICKLE_S, OUTLIER_AFTER_S = 6, 2.0, 4.0
OUTLIER_NAME = "GET /products/[id] (slow uplink)"

# The shop's load plus a few clients on a slow uplink: each sends one real request whose headers take TRICKLE_S to
# arrive (the api waits for them), a while after it starts (in the baseline), and nothing else.
OUTLIER_LOCUSTFILE = f'''\
import socket
import sys
import time
from urllib.parse import urlsplit

import gevent
from locust import User, constant, task

sys.path.insert(0, "@REPO@/targets/shop")
from locustfile import ShopUser  # noqa: E402,F401  (the shop's own load, unchanged)


class _Answer:
    def __init__(self, status_code):
        self.status_code = status_code


class SlowUplinkClient(User):
    fixed_count = {OUTLIERS}
    wait_time = constant(3600)  # one request each: the run is over long before a second

    def on_start(self):
        gevent.sleep({OUTLIER_AFTER_S})

    @task
    def slow_read(self):
        edge = urlsplit(self.host)
        started = time.perf_counter()
        status, length, exception = 0, 0, None
        try:
            with socket.create_connection((edge.hostname, edge.port), timeout=15) as conn:
                conn.sendall(b"GET /products/1 HTTP/1.1\\r\\nHost: shop\\r\\n")
                gevent.sleep({TRICKLE_S})
                conn.sendall(b"Connection: close\\r\\n\\r\\n")
                answer = b""
                while chunk := conn.recv(65536):
                    answer += chunk
            status, length = int(answer.split(b" ", 2)[1]), len(answer)
            if not 200 <= status < 300:
                exception = RuntimeError(f"HTTP {{status}}")
        except (OSError, ValueError, IndexError) as exc:
            exception = exc
        self.environment.events.request.fire(
            request_type="GET", name="{OUTLIER_NAME}", response_time=(time.perf_counter() - started) * 1000,
            response_length=length, response=_Answer(status), exception=exception, context={{}})
'''

INVENTORY_START_S = 3.0
SLOW_REVERT = f"""\
name: e2e-outage-slow-revert
targets:
  services:
    redis:
      image: chaos-shop-redis:1
      healthcheck: {{test: [CMD, redis-cli, ping], interval: 500ms, retries: 60}}
    inventory:  # the shop's own, taking {INVENTORY_START_S:g} s to start (as a service that warms a cache would)
      image: chaos-shop-inventory:1
      command: [sh, -c, "sleep {INVENTORY_START_S:g}; exec python3 /app/inventory.py"]
      environment: {{REDIS_HOST: redis, REDIS_PORT: "6379", RESERVATION_TTL_S: "30"}}
      depends_on: {{redis: {{condition: service_healthy}}}}
      healthcheck:
        test: [CMD, python3, -c, "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8081/health', timeout=1)"]
        interval: 500ms
        retries: 60
    api:
      image: chaos-shop-api:v1
      environment: {{REDIS_HOST: redis, INVENTORY_URL: "http://inventory:8081"}}
      depends_on: {{redis: {{condition: service_healthy}}, inventory: {{condition: service_healthy}}}}
      healthcheck:
        test: [CMD, python3, -c, "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/health', timeout=1)"]
        interval: 500ms
        retries: 60
load:
  locustfile: @LOCUSTFILE@
  user_classes: [ShopUser, SlowUplinkClient]
  target: api:8080
  users: {SHOP_USERS + OUTLIERS}
  spawn_rate: {SHOP_USERS + OUTLIERS}
phases: {{warmup: 2s, baseline: 8s, recovery: 5s}}  # baseline windows enough that a few odd ones are not the median
faults:
  - {{name: slow edge, type: latency, link: "load -> api:8080", latency: 300ms, at: 0s, duration: 3s}}
  - {{name: inventory killed, type: kill, service: inventory, at: 3s, duration: 2s}}
steady_state:
  - {{name: requests succeed, metric: error_rate, max: 5%, phases: [baseline]}}
  - {{name: back to normal, metric: error_rate, max: 1%, phases: [recovery]}}  # margin: the CI's low end fell to 6 % in one run
""" + NO_ABORT


@dataclass
class Outcome:
    code: int
    output: str
    run_dir: Path
    summary: dict
    events: list[dict]

    def rel(self, event: dict) -> float:
        """An event's time as the summary gives times: seconds since run_started."""
        origin = next(e["mono"] for e in self.events if e["event"] == "run_started")
        return event["mono"] - origin

    def first(self, kind: str, **fields) -> dict | None:
        return next((e for e in self.events if e["event"] == kind
                     and all(e.get(k) == v for k, v in fields.items())), None)

    def phase(self, name: str) -> dict:
        return next(p for p in self.summary["phases"] if p["name"] == name)

    def check(self, phase: str) -> dict:
        [check] = [c for c in self.summary["checks"] if c["phase"] == phase]
        return check

    def fault(self, fault_id: str) -> dict:
        return next(f for f in self.summary["faults"] if f["id"] == fault_id)

    def in_effect_s(self, fault_id: str) -> float:
        """When the fault took effect: `in_effect_mono` where the adapter knows it acted before its call returned
        (container faults), else the `fault_injected` event's own time."""
        injected = self.first("fault_injected", fault_id=fault_id)
        return self.rel({"mono": injected.get("in_effect_mono", injected["mono"])})

    def revert_began(self, fault_id: str) -> dict:
        """When the revert began: the `fault_reverting` event, or (a journal without it) `fault_reverted`."""
        return self.first("fault_reverting", fault_id=fault_id) or self.first("fault_reverted", fault_id=fault_id)


def run_experiment(directory: Path, text: str, docker_client) -> Outcome:
    path = directory / "experiment.yaml"
    path.write_text(text)
    code, output = finish(chaos_command("run", str(path), "--report-dir", "reports", cwd=directory), timeout=300)
    run_dir = only_run_dir(directory / "reports")
    assert_nothing_left(docker_client, run_dir)
    summary = json.loads((run_dir / "summary.json").read_text())
    return Outcome(code, output, run_dir, summary, journal(run_dir))


@pytest.fixture(scope="module")
def hung_redis(tmp_path_factory, docker_client) -> Outcome:
    return run_experiment(tmp_path_factory.mktemp("hung-redis"), HUNG_REDIS.replace("@REPO@", str(REPO)),
                          docker_client)


@pytest.fixture(scope="module")
def slow_revert(tmp_path_factory, docker_client) -> Outcome:
    directory = tmp_path_factory.mktemp("slow-revert")
    locustfile = directory / "outliers.py"
    locustfile.write_text(OUTLIER_LOCUSTFILE.replace("@REPO@", str(REPO)))
    return run_experiment(directory, SLOW_REVERT.replace("@LOCUSTFILE@", str(locustfile)), docker_client)


def requests_in(phase: dict) -> int:
    return int(phase["metrics"]["count"]["value"])


def describe(outcome: Outcome) -> str:
    """What a failed assertion shows: the run's checks, phases and faults as the summary has them."""
    keep = ("name", "start_s", "end_s", "planned_start_s", "planned_end_s")
    return json.dumps({
        "verdict": outcome.summary["verdict"], "reason": outcome.summary["reason"],
        "checks": [{k: c[k] for k in ("phase", "verdict", "observed", "samples", "windows", "reason")}
                   for c in outcome.summary["checks"]],
        "phases": [{**{k: p.get(k) for k in keep}, "count": requests_in(p)}
                   for p in outcome.summary["phases"]],
        "faults": [{k: f.get(k) for k in ("id", "injected_s", "reverted_s", "time_to_degrade_s")}
                   for f in outcome.summary["faults"]],
        "band": outcome.summary["baseline_band"], "requests": outcome.summary["run"]["requests"],
    }, indent=1)


# ---- (a) an isolated dependency with the closed model ----------------------------------------------------------

def sent_between(outcome: Outcome, start_mono: float, end_mono: float) -> int:
    samples = pd.read_parquet(outcome.run_dir / "samples.parquet", columns=["t_mono"])
    return int(((samples.t_mono >= start_mono) & (samples.t_mono < end_mono)).sum())


def test_redis_cut_off_under_the_closed_model_deviates_and_says_no_answer_came(hung_redis):
    # the case itself: in the partition's last 3 s no user sent anything (a user sends every 0.2 s at most while it
    # is answered), so every one of them was waiting on redis
    healing = hung_redis.revert_began("f1")["mono"]
    assert sent_between(hung_redis, healing - 3.0, healing) == 0, describe(hung_redis)
    fault, baseline = hung_redis.check("fault"), hung_redis.check("baseline")
    assert baseline["verdict"] == "held", describe(hung_redis)  # the shop was fine before: the deviation is the fault's
    assert fault["verdict"] == "deviated", describe(hung_redis)
    assert "no answer for" in fault["reason"], fault["reason"]
    # every user, those still waiting when the load stopped too (their requests are recorded without an answer)
    assert f"{HUNG_USERS} of {HUNG_USERS} users waiting" in fault["reason"], fault["reason"]
    assert hung_redis.summary["verdict"] == "deviated" and hung_redis.code == 1, hung_redis.output


# ---- (c) the fault phase follows the fault -------------------------------------------------------------------------

def test_the_fault_phase_is_judged_from_the_partition_in_effect_to_its_heal(hung_redis):
    phase = hung_redis.phase("fault")
    healing = hung_redis.revert_began("f1")
    assert {"planned_start_s", "planned_end_s"} <= set(phase), describe(hung_redis)
    planned = hung_redis.first("phase_started", phase="fault")
    assert phase["planned_start_s"] == pytest.approx(hung_redis.rel(planned), abs=1e-3), describe(hung_redis)
    assert phase["planned_end_s"] - phase["planned_start_s"] == pytest.approx(PARTITION_AT_S + PARTITION_FOR_S, abs=0.5)
    assert phase["start_s"] == pytest.approx(hung_redis.in_effect_s("f1"), abs=1e-3), describe(hung_redis)
    assert phase["end_s"] == pytest.approx(hung_redis.rel(healing), abs=1e-3), describe(hung_redis)
    # the partition is placed `at: 1s` into the phase, and placing it takes a while more: the edge moved that much
    assert phase["start_s"] - phase["planned_start_s"] >= PARTITION_AT_S, describe(hung_redis)


def test_with_two_faults_the_fault_phase_ends_when_the_last_revert_begins(slow_revert):
    phase = slow_revert.phase("fault")
    assert phase["start_s"] == pytest.approx(slow_revert.in_effect_s("f1"), abs=1e-3), describe(slow_revert)
    last_revert = slow_revert.rel(slow_revert.revert_began("f2"))
    assert last_revert > slow_revert.rel(slow_revert.revert_began("f1")) + 1.0  # f1's revert does not end the phase
    assert phase["end_s"] == pytest.approx(last_revert, abs=1e-3), describe(slow_revert)
    assert slow_revert.phase("baseline")["end_s"] == pytest.approx(phase["start_s"], abs=1e-3), "no gap before it"


# ---- (b) a heal that produces errors is judged -------------------------------------------------------------------

def failures_during_the_revert(outcome: Outcome, fault_id: str) -> int:
    began, done = outcome.revert_began(fault_id)["mono"], outcome.first("fault_reverted", fault_id=fault_id)["mono"]
    samples = pd.read_parquet(outcome.run_dir / "samples.parquet", columns=["t_mono", "success"])
    during = samples[(samples.t_mono >= began) & (samples.t_mono < done)]
    return int((~during.success.astype(bool)).sum())


def test_requests_failing_while_a_dependency_comes_back_are_judged_in_recovery(slow_revert):
    reverted = slow_revert.first("fault_reverted", fault_id="f2")
    assert reverted["ready_s"] >= INVENTORY_START_S, reverted  # the case itself: a revert lasting seconds...
    assert failures_during_the_revert(slow_revert, "f2") >= 10, describe(slow_revert)  # ...while requests fail
    fault, recovery = slow_revert.phase("fault"), slow_revert.phase("recovery")
    assert recovery["start_s"] == pytest.approx(slow_revert.rel(slow_revert.revert_began("f2")), abs=1e-3), \
        describe(slow_revert)
    assert recovery["start_s"] == pytest.approx(fault["end_s"], abs=1e-3), "no gap between the fault and recovery"
    check = slow_revert.check("recovery")
    assert check["verdict"] == "deviated", describe(slow_revert)
    assert slow_revert.code == 1, slow_revert.output


@pytest.mark.parametrize("run", ["slow_revert", "hung_redis"])
def test_every_request_of_the_run_belongs_to_a_phase(run, request):
    outcome = request.getfixturevalue(run)
    counted = sum(requests_in(phase) for phase in outcome.summary["phases"])
    assert counted == outcome.summary["run"]["requests"], describe(outcome)


# ---- (d) an inflated baseline ---------------------------------------------------------------------------------

def test_a_few_slow_outliers_in_the_baseline_do_not_hide_a_fault_that_degrades_at_once(slow_revert):
    # the case itself, from the raw samples: every slow-uplink request was sent in the baseline and took TRICKLE_S
    baseline = slow_revert.phase("baseline")
    samples = pd.read_parquet(slow_revert.run_dir / "samples.parquet", columns=["t_mono", "latency_ms", "name",
                                                                               "success"])
    origin = next(e["mono"] for e in slow_revert.events if e["event"] == "run_started")
    outliers = samples[samples.name == OUTLIER_NAME]
    sent_s = outliers.t_mono - origin
    assert len(outliers) == OUTLIERS and outliers.success.astype(bool).all(), outliers
    assert (outliers.latency_ms >= TRICKLE_S * 1000).all(), outliers
    assert ((sent_s >= baseline["start_s"]) & (sent_s < baseline["end_s"])).all(), (sent_s, describe(slow_revert))
    [row] = [r for r in baseline["requests"] if r["name"] == OUTLIER_NAME]
    assert row["count"] == OUTLIERS and row["latency.max"] >= TRICKLE_S * 1000, row
    band = slow_revert.summary["baseline_band"]
    assert band["latency_p99_ms"] < TRICKLE_S * 1000 / 4, describe(slow_revert)
    degrade = slow_revert.fault("f1")["time_to_degrade_s"]
    assert degrade is not None and degrade <= 1.0, describe(slow_revert)
