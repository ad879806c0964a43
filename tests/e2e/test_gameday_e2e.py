"""Game days as a user runs them: `chaos gameday run` against the real engine, Toxiproxy and Locust.

One system for the whole day, each step's faults reverted, one combined report; stop_on; a rehearsal
that injects nothing (checked from outside, through each link's Toxiproxy API); a stop from a second
terminal, timed from the ledger; notifications to a JSONL file and to webhooks on 127.0.0.1.
"""

from __future__ import annotations

import json
import threading
import time
import xml.etree.ElementTree as ET
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pandas as pd
import pytest
import requests
from support.e2e import REPO, chaos_command, finish, journal

# Three short experiments on the shop: phases of seconds, one fault each. Judged phases keep 6 s: a verdict needs
# 5 one-second windows with requests (analysis MIN_WINDOWS), one to spare on a busy machine; warmup is not judged.
STEP = """\
name: gd-{name}
targets:
  compose: {repo}/targets/shop/compose.yaml
links:
  - api -> redis:6379
  - api -> inventory:8081
load:
  locustfile: {repo}/targets/shop/locustfile.py
  user_classes: [ShopUser]
  target: api:8080
  users: 4
  spawn_rate: 4
phases: {{warmup: 1s, baseline: 6s, recovery: 6s}}
faults:
  - {fault}
probes:
  - {{name: api-health, type: http, service: api, port: 8080, path: /health, every: 500ms, timeout: 400ms}}
steady_state:
  - {{name: shop answers, metric: {metric}, max: {limit}, phases: [baseline, fault, recovery]}}
  - {{name: api health answers, probe: api-health, metric: success_rate, min: 50%, phases: [baseline, fault]}}
abort:
  - {{metric: error_rate, max: 100%, for: 5s}}
"""
FAULTS = {
    "latency": ('{type: latency, link: "api -> redis:6379", latency: 300ms, duration: "${FAULT_FOR:-6s}"}',
                "latency.p90", '"${P90_MAX:-5s}"'),
    "down": ('{type: down, link: "api -> inventory:8081", duration: "${FAULT_FOR:-6s}"}', "error_rate", "100%"),
    "bandwidth": ('{type: bandwidth, link: "api -> redis:6379", rate: 4KB/s, duration: "${FAULT_FOR:-6s}"}',
                  "latency.p99", "30s"),
}

PLAN = """\
title: E2E game day
owners: [e2e@example.invalid]
vars: {{API_VERSION: v1}}
system:
  targets:
    compose: {repo}/targets/shop/compose.yaml
stop_on: {stop_on}
pause: 1s
notify:
  stdout: true
  jsonl: notifications.jsonl
{webhook}
steps:
{steps}
report:
  dir: reports
"""


class Hook:
    """A webhook receiver on 127.0.0.1: records each POST and answers ``status``."""

    def __init__(self, status: int = 200):
        self.status = status
        self.received: list[dict] = []
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                hook.received.append({"type": self.headers.get("Content-Type"), "body": json.loads(body)})
                self.send_response(hook.status)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()

    def events(self) -> list[str]:
        return [r["body"]["event"] for r in self.received]


def write_plan(tmp_path: Path, steps: list[tuple[str, dict]], stop_on: str = "never", webhook: str = "") -> Path:
    entries = []
    for n, (kind, step_vars) in enumerate(steps, 1):
        fault, metric, limit = FAULTS[kind]
        experiment = tmp_path / f"step{n}-{kind}.yaml"
        experiment.write_text(STEP.format(name=f"{n}-{kind}", repo=REPO, fault=fault, metric=metric, limit=limit))
        entries.append(f"  - experiment: {experiment.name}\n    name: {kind} step\n"
                       f"    vars: {json.dumps(step_vars)}\n    runbook: watch the {kind}")
    plan = tmp_path / "plan.yaml"
    plan.write_text(PLAN.format(repo=REPO, stop_on=stop_on, webhook=webhook, steps="\n".join(entries)))
    return plan


def the_day(tmp_path: Path, timeout: float = 120.0, output: str = "") -> Path:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [p for p in (tmp_path / "reports" / "gamedays").glob("*/*") if p.is_dir() and not p.is_symlink()]
        if found:
            return found[0]
        time.sleep(0.1)
    raise AssertionError(f"no day folder appeared\n{output}")


def step_dirs(day_dir: Path) -> dict[int, Path]:
    return {e["step"]: day_dir / e["run_dir"] for e in journal(day_dir) if e["event"] == "step_started"}


def wait_for(condition, timeout: float, what: str, every: float = 0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"{what}: not within {timeout}s")


def assert_day_left_nothing(client, day_dir: Path) -> None:
    selector = {"label": f"chaos.run={day_dir.name}"}
    assert client.containers.list(all=True, filters=selector) == []
    assert client.networks.list(filters=selector) == []
    for run_dir in step_dirs(day_dir).values():
        assert client.containers.list(all=True, filters={"label": f"chaos.run={run_dir.name}"}) == []


@pytest.fixture
def state_env(tmp_path):
    return {"XDG_STATE_HOME": str(tmp_path / "state")}


def test_three_experiments_on_one_system_make_one_report(tmp_path, docker_client, state_env):
    hook = Hook(200)
    try:
        plan = write_plan(tmp_path, [("latency", {}), ("down", {}), ("bandwidth", {})],
                          webhook=f"  webhook: {{url: {hook.url}, timeout: 2s, retries: 1}}")
        code, output = finish(chaos_command("gameday", "run", str(plan), "--now", cwd=tmp_path, env=state_env),
                              timeout=420)
    finally:
        hook.close()
    day_dir = the_day(tmp_path, 1, output)
    summary = json.loads((day_dir / "summary.json").read_text())
    verdicts = [s["verdict"] for s in summary["steps"]]
    # Every limit is generous (p90 5s under 300ms, an error rate of up to 100%, p99 30s under 4KB/s): no step
    # deviates; a step may be inconclusive (seconds-long phases), and the day's exit follows its worst step.
    assert "deviated" not in verdicts and "aborted" not in verdicts, (verdicts, output)
    assert code == summary["exit_code"] == (5 if "inconclusive" in verdicts else 0), output
    assert "\x1b" not in output and "\r" not in output, "a CI log gets no control characters"
    assert [s["status"] for s in summary["steps"]] == ["ran", "ran", "ran"]
    assert all(s["verdict"] in ("held", "deviated", "inconclusive") for s in summary["steps"])

    # one system for the day: started once, shared by every step, each step's faults reverted
    events = journal(day_dir)
    assert sum(e["event"] == "system_up" for e in events) == 1
    assert sum(e["event"] == "target_started" for e in events) == 3
    shared = []
    for n, run_dir in step_dirs(day_dir).items():
        step_events = journal(run_dir)
        assert not any(e["event"] in ("target_started", "link_created") for e in step_events)
        shared.append(next(e for e in step_events if e["event"] == "system_shared")["containers"])
        injected = {e["fault_id"] for e in step_events if e["event"] == "fault_injected"}
        reverted = {e["fault_id"] for e in step_events if e["event"] == "fault_reverted"}
        assert injected == reverted == {"f1"}
        for fmt in ("report.html", "summary.json", "junit.xml", "report.md"):
            assert (run_dir / fmt).is_file(), f"step {n} keeps its own {fmt}"
    assert shared[0] == shared[1] == shared[2], "the same containers served every step"

    # one combined report in the four formats
    html = (day_dir / "report.html").read_text()
    for text in ("Executive summary", "Timeline", "Follow-ups", "latency step", "down step", "bandwidth step",
                 "watch the down"):
        assert text in html
    assert "<script" not in html
    for written in [day_dir / "report.html", day_dir / "journal.jsonl", day_dir / "agenda.json",
                    day_dir / "summary.json", tmp_path / "notifications.jsonl"]:
        assert hook.url not in written.read_text(), f"the webhook URL is a secret: {written.name}"
    suites = ET.parse(day_dir / "junit.xml").getroot().findall("testsuite")
    assert len(suites) == 3 and all(s.findall("testcase") for s in suites)
    assert "E2E game day" in (day_dir / "report.md").read_text()
    assert all(s["faults"] and s["faults"][0]["reverted"] for s in summary["steps"])

    # notifications: stdout, the JSONL file and the webhook got start, each verdict and the end
    expected = ["day_started", "step_verdict", "step_verdict", "step_verdict", "day_ended"]
    lines = [json.loads(line) for line in (tmp_path / "notifications.jsonl").read_text().splitlines()]
    assert [line["event"] for line in lines] == expected
    assert hook.events() == expected and {r["type"] for r in hook.received} == {"application/json"}
    assert output.count("[notify]") >= 5
    assert summary["notifications"]["failed"] == 0
    assert_day_left_nothing(docker_client, day_dir)


def test_stop_on_deviated_leaves_the_rest_not_run_and_a_failing_webhook_stops_nothing(tmp_path, docker_client,
                                                                                      state_env):
    hook = Hook(500)
    try:
        # step 1: 300 ms on every redis reply of api v1 against a p90 limit of 100 ms: it deviates
        plan = write_plan(tmp_path, [("latency", {"P90_MAX": "100ms"}), ("down", {}), ("bandwidth", {})],
                          stop_on="deviated", webhook=f"  webhook: {{url: {hook.url}, timeout: 1s, retries: 2}}")
        started = time.monotonic()
        code, output = finish(chaos_command("gameday", "run", str(plan), "--now", cwd=tmp_path, env=state_env),
                              timeout=300)
        elapsed = time.monotonic() - started
    finally:
        hook.close()
    day_dir = the_day(tmp_path, 1, output)
    summary = json.loads((day_dir / "summary.json").read_text())
    assert code == 1, output
    assert summary["verdict"] == "deviated"
    assert [s["status"] for s in summary["steps"]] == ["ran", "not run", "not run"]
    assert summary["steps"][0]["verdict"] == "deviated"
    assert all("stop_on: deviated" in s["reason"] for s in summary["steps"][1:])
    assert summary["stopped_by"]["kind"] == "stop_on" and summary["stopped_by"]["step"] == 1
    assert list(step_dirs(day_dir)) == [1], "steps 2 and 3 never started"
    deviations = [f for f in summary["follow_ups"] if f["kind"] == "deviation"]
    assert deviations and any("threshold ≤ 100 ms" in e for e in deviations[0]["evidence"])
    assert sum(f["kind"] == "not run" for f in summary["follow_ups"]) == 2
    junit = ET.parse(day_dir / "junit.xml").getroot()
    assert int(junit.get("failures")) >= 1
    assert sum(int(suite.get("skipped")) for suite in junit.findall("testsuite")) >= 2

    # the webhook answered 500 every time: 1 + 2 retries per notification, recorded, and the day went on
    failures = [e for e in journal(day_dir) if e["event"] == "notification" and e["channel"] == "webhook"]
    assert failures and all(not e["ok"] and e["attempts"] == 3 and e["status"] == 500 for e in failures)
    assert len(hook.received) == 3 * len(failures)
    assert {"day_started", "step_verdict", "day_ended"} <= {e["notification"] for e in failures}
    assert summary["notifications"]["failed"] == len(failures)
    assert "webhook failed" in output
    assert elapsed < 200, "a failing webhook must not hold the day"
    assert_day_left_nothing(docker_client, day_dir)


def _toxiproxy_apis(client, day_id: str) -> list[str]:
    urls = []
    for container in client.containers.list(filters={"label": [f"chaos.run={day_id}", "chaos.role=link"]}):
        bindings = container.attrs["NetworkSettings"]["Ports"].get("8474/tcp") or []
        urls += [f"http://127.0.0.1:{b['HostPort']}" for b in bindings if b.get("HostIp") in ("127.0.0.1", "")]
    return urls


def test_rehearsal_injects_nothing_seen_from_outside_and_still_probes(tmp_path, docker_client, state_env):
    plan = write_plan(tmp_path, [("latency", {}), ("down", {})])
    process = chaos_command("gameday", "run", str(plan), "--now", "--rehearse", cwd=tmp_path, env=state_env)
    day_dir = the_day(tmp_path)
    apis = wait_for(lambda: len(_toxiproxy_apis(docker_client, day_dir.name)) == 3
                    and _toxiproxy_apis(docker_client, day_dir.name), 120, "the day's three links")
    looked, during_faults = 0, 0
    while process.poll() is None:
        rehearsing = any(e["event"] == "fault_rehearsed" for d in step_dirs(day_dir).values()
                         if (d / "journal.jsonl").is_file() for e in journal(d))
        for api in apis:
            try:
                proxies = requests.get(f"{api}/proxies", timeout=1).json()
            except requests.RequestException:
                continue  # the day is taking its system down
            for proxy in proxies.values():
                assert proxy["enabled"], f"rehearsal disabled {proxy['name']}"
                assert proxy["toxics"] == [], f"rehearsal injected a toxic: {proxy['toxics']}"
            looked += 1
            during_faults += rehearsing
        time.sleep(0.2)
    code, output = finish(process)
    assert looked > 50 and during_faults > 20, (looked, during_faults)
    summary = json.loads((day_dir / "summary.json").read_text())
    assert summary["rehearse"] and "Rehearsal" in summary["reason"]
    assert code == summary["exit_code"], output
    for run_dir in step_dirs(day_dir).values():
        events = journal(run_dir)
        ledgered = [e for e in events if e["event"] == "fault_ledgered"]
        assert ledgered and all(e.get("rehearsed") for e in ledgered)
        assert not any(e["event"] == "fault_injected" for e in events)
        assert any(e["event"] == "fault_rehearsed" for e in events)
        step = json.loads((run_dir / "summary.json").read_text())
        assert step["run"]["requests"] > 50, "the load ran"
        probe_checks = [c for c in step["checks"] if c["hypothesis"] == "api health answers"]
        assert probe_checks and all(c["verdict"] != "deviated" for c in probe_checks), "health stayed up"
        probes = pd.read_parquet(run_dir / "probes.parquet")
        fault = next(e for e in events if e["event"] == "fault_rehearsed")["mono"]
        during = probes[probes.t_mono >= fault]
        assert len(during) >= 5 and during.success.mean() >= 0.8, "the probe ran through the rehearsed fault"
    assert "REHEARSAL" in (day_dir / "report.html").read_text()
    assert_day_left_nothing(docker_client, day_dir)


def test_stop_from_a_second_terminal_reverts_within_a_second(tmp_path, docker_client, state_env):
    plan = write_plan(tmp_path, [("latency", {"FAULT_FOR": "40s"}), ("down", {})])
    process = chaos_command("gameday", "run", str(plan), "--now", cwd=tmp_path, env=state_env)
    day_dir = the_day(tmp_path)
    step_one = wait_for(lambda: step_dirs(day_dir).get(1), 120, "step 1")
    wait_for(lambda: (step_one / "journal.jsonl").is_file()
             and any(e["event"] == "fault_injected" for e in journal(step_one)), 120, "the fault")

    status = chaos_command("gameday", "status", cwd=tmp_path, env=state_env)
    status_code, status_text = finish(status, timeout=30)
    assert status_code == 0, status_text
    assert "E2E game day" in status_text and "step 1/2" in status_text
    assert "active now: latency on api -> redis:6379" in status_text

    stopper = chaos_command("gameday", "stop", "--reason", "e2e stop", cwd=tmp_path, env=state_env)
    stop_code, stop_text = finish(stopper, timeout=60)
    assert stop_code == 0, stop_text
    code, output = finish(process, timeout=120)
    assert code == 143, output

    day_events = journal(day_dir)
    stopped = next(e for e in day_events if e["event"] == "day_stopped")["by"]
    assert stopped["kind"] == "command" and stopped["reason"] == "e2e stop"
    assert stopped["pid"] == stopper.pid and stopped["user"] and stopped["host"]
    reverted = next(e for e in journal(step_one) if e["event"] == "fault_reverted")
    assert reverted["reason"] == "teardown"
    assert 0 <= reverted["wall"] - stopped["requested_wall"] < 1.0, "reverted within 1 s of the stop request"
    summary = json.loads((day_dir / "summary.json").read_text())
    assert summary["verdict"] == "aborted" and summary["exit_code"] == 143
    assert [s["status"] for s in summary["steps"]] == ["ran", "not run"]
    assert "e2e stop" in (day_dir / "report.html").read_text()
    assert "reverted latency on api -> redis:6379" in stop_text
    assert_day_left_nothing(docker_client, day_dir)
