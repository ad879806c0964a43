"""Every fault family at once, reverted in every way a run can end, checked from outside the harness.

One short experiment on the shop (api v1) holds link faults (latency, bandwidth, a link down), a
partition, two clock skews (an offset and a drift), every container fault (pause, kill, stop, restart,
crash loop) and CPU and memory limits, each on its own target so none masks another. Each run is kept (`chaos run --keep-system`), so after it ends the test looks at what
is left through the engine, Toxiproxy's API and the targets themselves, not through the journal;
then `chaos clean --run ID` removes it and nothing of the run may be left.
"""

from __future__ import annotations

import signal
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from support.e2e import REPO, SKEWABLE_INVENTORY, chaos_command, finish, journal, wait_for_event
from support.from_outside import (assert_nothing_left, cgroup_limits, edge_latency_ms, iptables_rules, run_containers,
                                  service_container, toxiproxy_state, wall_clock_skew_s)

from chaos.faults.partition import CHAIN_PREFIX

TOXIC_MS = 600  # per redis round trip; a product read makes several
SKEW_S = 30
FAULTS = 13
PARTITIONED = ("inventory", "spare-limits")

MATRIX = """\
name: e2e-matrix-${CASE}
targets:
  compose: @REPO@/targets/shop/compose.yaml
  services:
""" + SKEWABLE_INVENTORY + """\
    spare-pause: {image: chaos-base:bookworm, command: [sleep, infinity]}
    spare-kill: {image: chaos-base:bookworm, command: [sleep, infinity]}
    spare-limits: {image: chaos-base:bookworm, command: [sleep, infinity]}
    spare-stop: {image: chaos-base:bookworm, command: [sleep, infinity]}
    spare-restart: {image: chaos-base:bookworm, command: [sleep, infinity]}
    spare-crash: {image: chaos-base:bookworm, command: [sleep, infinity]}
    spare-skew: {image: chaos-base:bookworm, command: [sleep, infinity], clock: skewable}
links:
  - api -> redis:6379
  - api -> inventory:8081
  - api -> spare-stop:9  # nothing goes through it: only its proxy's state is looked at
load:
  locustfile: @LOCUSTFILE@
  user_classes: [Reader]
  target: api:8080
  users: 5
  spawn_rate: 5
phases: {warmup: 1s, baseline: 2s, recovery: 1s}
faults:
  - {name: slow redis, type: latency, link: "api -> redis:6379", latency: @TOXIC_MS@ms, @WINDOW@}
  - {name: thin inventory link, type: bandwidth, link: "api -> inventory:8081", rate: 1KB/s, @WINDOW@}
  # not between api, inventory and redis: api v1 has no timeouts, a read would hang and hide the toxic
  - {name: inventory cut off, type: partition, groups: [[inventory], [spare-limits]], @WINDOW@}
  - {name: inventory ahead, type: clock_skew, service: inventory, offset: +@SKEW_S@s, @WINDOW@}
  - {name: frozen, type: pause, service: spare-pause, @WINDOW@}
  - {name: killed, type: kill, service: spare-kill, @WINDOW@}
  - {name: starved, type: cpu, service: spare-limits, cpus: 0.1, @WINDOW@}
  - {name: squeezed, type: memory, service: spare-limits, memory: 32MB, @WINDOW@}
  - {name: unplugged, type: down, link: "api -> spare-stop:9", @WINDOW@}
  - {name: drifting, type: clock_skew, service: spare-skew, drift: 20, @WINDOW@}
  - {name: stopped, type: stop, service: spare-stop, grace: 1s, @WINDOW@}
  - {name: restarted, type: restart, service: spare-restart, grace: 1s, @WINDOW@}
  - {name: crashing, type: crash_loop, service: spare-crash, every: 1s, down: 500ms, @WINDOW@}
steady_state:
  - {name: reads answer, metric: latency.max, max: "${LAT_MAX:-60s}", phases: [baseline]}  # judged on few requests
abort:
  - {metric: latency.p99, max: "${ABORT_P99:-600s}", for: 3s}
report:
  formats: [json]
"""

# Product reads only (they go through the redis toxic, never to the partitioned inventory); with
# E2E_DIE_AFTER set, the load generator's process dies that many seconds after the load starts.
LOCUSTFILE = """\
import os, gevent
from locust import FastHttpUser, task, constant, events

class Reader(FastHttpUser):
    wait_time = constant(0.1)

    @task
    def read(self):
        self.client.get('/products/1', name='GET /products/[id]')

@events.test_start.add_listener
def _die_later(**_):
    if os.environ.get('E2E_DIE_AFTER'):
        gevent.spawn_later(float(os.environ['E2E_DIE_AFTER']), os._exit, 1)
"""

LONG = "60s"  # faults that outlast the moment the test ends the run


@pytest.fixture
def matrix(tmp_path):
    locustfile = tmp_path / "reader_locustfile.py"
    locustfile.write_text(LOCUSTFILE)
    path = tmp_path / "matrix.yaml"
    path.write_text(MATRIX.replace("@REPO@", str(REPO)).replace("@LOCUSTFILE@", str(locustfile))
                    .replace("@TOXIC_MS@", str(TOXIC_MS)).replace("@SKEW_S@", str(SKEW_S))
                    .replace("@WINDOW@", 'at: 0s, duration: "${FAULT_FOR:-2s}"'))
    return path


def wait_all_injected(run_dir, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if sum(e["event"] == "fault_injected" for e in journal(run_dir)) == FAULTS:
            return
        time.sleep(0.1)
    raise AssertionError(f"not all {FAULTS} faults were injected within {timeout}s")


def wait_until_down(client, run_id: str, service: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while service_container(client, run_id, service).status == "running":
        assert time.monotonic() < deadline, f"{service} still running {timeout}s after its stop"
        time.sleep(0.2)


# ---- what the test sees from outside ----------------------------------------------------------------------

def observe(client, run_id: str) -> dict:
    def chains(service: str) -> list[str]:
        rules = iptables_rules(client, service_container(client, run_id, service), run_id)
        return [line for line in rules.splitlines() if CHAIN_PREFIX in line]

    with ThreadPoolExecutor(2) as pool:  # a helper container each: read both namespaces at once
        partitioned = dict(zip(PARTITIONED, pool.map(chains, PARTITIONED)))
    return {
        "proxies": toxiproxy_state(client, run_id),
        "chains": partitioned,
        "skew_s": wall_clock_skew_s(service_container(client, run_id, "inventory")),
        "drift_s": wall_clock_skew_s(service_container(client, run_id, "spare-skew")),
        "paused": sorted(c.labels.get("chaos.service", c.name) for c in run_containers(client, run_id)
                         if c.attrs["State"]["Paused"]),
        "not_running": sorted(c.labels.get("chaos.service", c.name) for c in run_containers(client, run_id)
                              if c.attrs["State"]["Status"] != "running"),
        "limits": cgroup_limits(service_container(client, run_id, "spare-limits")),
    }


def assert_all_in_place(seen: dict, limits_before: dict) -> None:
    """The faults were really there: the checks below would see a leak."""
    toxics = sorted(t["type"] for proxy in seen["proxies"].values() for t in proxy["toxics"])
    assert toxics == ["bandwidth", "latency"], seen["proxies"]
    assert all(seen["chains"].values()), seen["chains"]
    assert SKEW_S - 2 < seen["skew_s"] < SKEW_S + 2, seen["skew_s"]
    assert seen["drift_s"] > 1, seen["drift_s"]
    assert [name for name, proxy in seen["proxies"].items() if not proxy["enabled"]], seen["proxies"]
    assert seen["paused"] == ["spare-pause"], seen["paused"]
    assert {"spare-kill", "spare-stop"} <= set(seen["not_running"]), seen["not_running"]
    assert seen["limits"] != limits_before, seen["limits"]


def assert_all_reverted(client, run_id: str, limits_before: dict, baseline_ms: float) -> None:
    seen = observe(client, run_id)
    left = {name: proxy["toxics"] for name, proxy in seen["proxies"].items() if proxy["toxics"]}
    assert not left, f"link: toxics left on Toxiproxy: {left}"
    disabled = [name for name, proxy in seen["proxies"].items() if not proxy["enabled"]]
    assert not disabled, f"link: proxies left disabled: {disabled}"
    latency = edge_latency_ms(client, run_id)
    assert latency < baseline_ms + TOXIC_MS / 2, \
        f"link: a product read takes {latency:.0f} ms after the run, {baseline_ms:.0f} ms before the faults"
    left = {service: rules for service, rules in seen["chains"].items() if rules}
    assert not left, f"partition: iptables rules left: {left}"
    assert abs(seen["skew_s"]) < 1.0, f"clock skew: inventory's wall clock is {seen['skew_s']:+.2f}s off the host's"
    assert abs(seen["drift_s"]) < 1.0, f"clock drift: spare-skew's wall clock is {seen['drift_s']:+.2f}s off the host's"
    assert seen["paused"] == [], f"pause: containers left paused: {seen['paused']}"
    assert seen["not_running"] == [], f"kill/stop/restart/crash_loop: containers left down: {seen['not_running']}"
    assert seen["limits"] == limits_before, \
        f"cpu/memory: cgroup limits {seen['limits']}, before the faults {limits_before}"


# ---- the endings ------------------------------------------------------------------------------------------

def second_sigint_while_reverting(process, run_dir) -> None:
    """SIGINT; once the teardown reverts (first revert journaled), SIGINT again: it must be ignored."""
    process.send_signal(signal.SIGINT)
    deadline = time.monotonic() + 60
    while not any(e["event"] == "fault_reverted" for e in journal(run_dir)):
        assert time.monotonic() < deadline, "no revert within 60 s of SIGINT"
        time.sleep(0.02)
    process.send_signal(signal.SIGINT)


ENDINGS = {
    # ending: (environment, exit code, outcome in the journal, why the faults were reverted, what to do once
    # every fault is in)
    "held": ({"LAT_MAX": "60s"}, 0, "completed", "scheduled", None),
    "deviated": ({"LAT_MAX": "1ms"}, 1, "completed", "scheduled", None),
    "abort": ({"ABORT_P99": f"{2 * TOXIC_MS}ms", "FAULT_FOR": LONG}, 3, "aborted", "abort", None),
    "exception": ({"E2E_DIE_AFTER": "6", "FAULT_FOR": LONG}, 4, "error", "teardown", None),
    "sigint": ({"FAULT_FOR": LONG}, 130, "interrupted", "teardown", second_sigint_while_reverting),
    "sigterm": ({"FAULT_FOR": LONG}, 143, "interrupted", "teardown",
                lambda process, _: process.send_signal(signal.SIGTERM)),
}


def start_run(matrix, tmp_path, docker_client, case: str, env: dict):
    """Start a kept run; once its system is healthy (before any fault), note the baseline from outside."""
    env = {"CASE": case, "XDG_STATE_HOME": str(tmp_path / "state"), **env}
    process = chaos_command("run", str(matrix), "--report-dir", "reports", "--keep-system", cwd=tmp_path, env=env)
    try:
        run_dir = wait_for_event(tmp_path / "reports", "load_started", timeout=120)
        limits_before = cgroup_limits(service_container(docker_client, run_dir.name, "spare-limits"))
        baseline_ms = edge_latency_ms(docker_client, run_dir.name)
    except BaseException:
        process.kill()
        process.wait(10)
        for started in (tmp_path / "reports").glob("*/*/journal.jsonl"):  # what the killed harness left
            finish(chaos_command("clean", "--run", started.parent.name, cwd=tmp_path, env=env))
        raise
    return process, run_dir, env, limits_before, baseline_ms


def remove_and_check_nothing_left(docker_client, tmp_path, run_dir, env) -> None:
    code, output = finish(chaos_command("clean", "--run", run_dir.name, cwd=tmp_path, env=env))
    assert code == 0 and "removed container" in output, output
    assert_nothing_left(docker_client, run_dir)


@pytest.mark.parametrize("ending", list(ENDINGS))
def test_every_fault_is_reverted_whatever_ends_the_run(matrix, tmp_path, docker_client, ending):
    env, expected, outcome, reason, end_it = ENDINGS[ending]
    process, run_dir, env, limits_before, baseline_ms = start_run(matrix, tmp_path, docker_client, ending, env)
    try:
        if end_it:
            wait_all_injected(run_dir)
            end_it(process, run_dir)
        code, output = finish(process, timeout=180)
        assert code == expected, output
        events = journal(run_dir)
        assert events[-1]["event"] == "run_ended" and events[-1]["outcome"] == outcome, events[-1]
        assert sum(e["event"] == "fault_injected" for e in events) == FAULTS, "every fault was in before the end"
        reverts = [e for e in events if e["event"] == "fault_reverted"]
        assert len(reverts) == FAULTS and {e["reason"] for e in reverts} == {reason}, reverts
        assert any(e["event"] == "load_stopped" for e in events), "the load is stopped, the system kept"
        kept = next(e for e in events if e["event"] == "system_kept")
        assert kept["remove_with"] == f"chaos clean --run {run_dir.name}"
        assert f"chaos clean --run {run_dir.name}" in output, output
        if ending != "exception":
            assert (run_dir / "summary.json").is_file(), "reports are written as always"
        if ending == "sigint":
            assert "SIGINT ignored: reverting faults and cleaning up first" in output, output
        assert_all_reverted(docker_client, run_dir.name, limits_before, baseline_ms)
    finally:
        if process.poll() is None:
            process.kill()
        remove_and_check_nothing_left(docker_client, tmp_path, run_dir, env)


def test_sigkill_then_clean_faults_only_reverts_from_the_ledger_and_keeps_the_system(matrix, tmp_path, docker_client):
    process, run_dir, env, limits_before, baseline_ms = start_run(matrix, tmp_path, docker_client, "sigkill",
                                                                  {"FAULT_FOR": LONG})
    try:
        wait_all_injected(run_dir)
        # A graceful stop runs in the background for its grace: let it finish, or the SIGKILL cuts it short
        # (seen here: the engine gave up a stop whose caller was gone before the grace ran out), leaving no stop
        # to revert.
        wait_until_down(docker_client, run_dir.name, "spare-stop")
        process.kill()
        process.wait(10)
        run_id = run_dir.name
        assert_all_in_place(observe(docker_client, run_id), limits_before)  # SIGKILL leaves every fault in

        code, output = finish(chaos_command("clean", "--run", run_id, "--faults-only", cwd=tmp_path, env=env))

        assert code == 0, output
        assert output.count(f"of run {run_id}") == FAULTS and "nothing removed" in output, output
        assert_all_reverted(docker_client, run_id, limits_before, baseline_ms)
        cleaned = [e for e in journal(run_dir) if e["event"] == "fault_reverted"]
        assert len(cleaned) == FAULTS and {e["reason"] for e in cleaned} == {"clean"}, cleaned
        code, again = finish(chaos_command("clean", "--run", run_id, "--faults-only", cwd=tmp_path, env=env))
        assert code == 0 and "reverted" not in again, again  # idempotent: nothing left to revert
    finally:
        if process.poll() is None:
            process.kill()
        remove_and_check_nothing_left(docker_client, tmp_path, run_dir, env)
