"""A partition and a clock skew in flight, as a user runs them: SIGINT heals and resets both before the
system goes; SIGKILL then `chaos clean` heals them from the ledger and removes everything."""

from __future__ import annotations

import json
import signal
import time

import pytest
from support.e2e import REPO, chaos_command, finish, journal, shop_load, sigkill_when
from support.from_outside import assert_nothing_left, iptables_rules, service_container, wall_clock_skew_s

from chaos.faults.partition import CHAIN_PREFIX

# The shop with inventory skewable: isolated from api and redis, and 30 s ahead, at once.
SHOP = """\
name: e2e-partition-clock-${CASE}
targets:
  services:
    redis:
      image: chaos-shop-redis:1
      healthcheck: {test: [CMD, redis-cli, ping], interval: 500ms, retries: 60}
    inventory:
      image: chaos-shop-inventory:1
      clock: skewable
      environment: {REDIS_HOST: redis, RESERVATION_TTL_S: "30"}
      depends_on: {redis: {condition: service_healthy}}
      healthcheck:
        test: [CMD, python3, -c, "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8081/health', timeout=1)"]
        interval: 500ms
        retries: 60
    api:
      image: chaos-shop-api:v2
      environment: {REDIS_HOST: redis, INVENTORY_URL: "http://inventory:8081"}
      depends_on: {redis: {condition: service_healthy}, inventory: {condition: service_healthy}}
      healthcheck:
        test: [CMD, python3, -c, "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/health', timeout=1)"]
        interval: 500ms
        retries: 60
links:
  - api -> redis:6379
""" + shop_load(3) + """\
faults:
  - {name: cut off inventory, type: partition, isolate: inventory, at: 0s, duration: 30s}
  - {name: inventory ahead, type: clock_skew, service: inventory, offset: +30s, at: 0s, duration: 30s}
abort:
  - {metric: error_rate, max: 100%, for: 2s}
"""


@pytest.fixture
def shop_experiment(tmp_path):
    path = tmp_path / "partition-clock.yaml"
    path.write_text(SHOP.replace("@REPO@", str(REPO)))
    return path


def wait_until_both_injected(reports, timeout: float = 120.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for path in reports.glob("*/*/journal.jsonl"):
            if not path.parent.is_symlink():
                events = journal(path.parent)
                if sum(e["event"] == "fault_injected" for e in events) == 2:
                    return path.parent, events
        time.sleep(0.1)
    raise AssertionError("the partition and the skew were not both injected")


def inventory_state(client, run_id: str) -> tuple[str, float]:
    """inventory's iptables rules (as a helper in its namespace sees them) and its wall clock's skew."""
    inventory = service_container(client, run_id, "inventory")
    return iptables_rules(client, inventory, run_id), wall_clock_skew_s(inventory)


def test_sigint_mid_partition_and_skew_heals_both_then_removes_everything(shop_experiment, tmp_path, docker_client):
    env = {"CASE": "sigint", "XDG_STATE_HOME": str(tmp_path / "state")}
    process = chaos_command("run", str(shop_experiment), "--report-dir", "reports", cwd=tmp_path, env=env)
    try:
        run_dir, _ = wait_until_both_injected(tmp_path / "reports")
        rules, skew = inventory_state(docker_client, run_dir.name)
        process.send_signal(signal.SIGINT)
        code, output = finish(process, timeout=90)
    finally:
        if process.poll() is None:
            process.kill()
    assert CHAIN_PREFIX in rules and 28 < skew < 32, (rules, skew)  # both were really in place
    assert code == 130, output
    events = journal(run_dir)
    reverted = {e["fault_id"]: e for e in events if e["event"] == "fault_reverted"}
    assert set(reverted) == {"f1", "f2"} and {e["reason"] for e in reverted.values()} == {"teardown"}
    ledgered = next(e for e in events if e["event"] == "fault_ledgered" and e["fault_id"] == "f1")
    assert set(ledgered["params"]["rules"]) == {"api", "redis", "inventory"}, "the ledger holds the rules"
    assert_nothing_left(docker_client, run_dir)


def test_sigkill_mid_partition_and_skew_then_clean_heals_from_the_ledger(shop_experiment, tmp_path, docker_client):
    env = {"CASE": "sigkill", "XDG_STATE_HOME": str(tmp_path / "state")}
    process = chaos_command("run", str(shop_experiment), "--report-dir", "reports", cwd=tmp_path, env=env)
    run_dir, _ = sigkill_when(process, lambda: wait_until_both_injected(tmp_path / "reports"))
    rules, skew = inventory_state(docker_client, run_dir.name)
    assert CHAIN_PREFIX in rules and 28 < skew < 32, "SIGKILL leaves both faults in place"
    code, output = finish(chaos_command("clean", "--run", run_dir.name, cwd=tmp_path, env=env))
    assert code == 0, output
    assert "reverted f1" in output and "reverted f2" in output, output
    cleaned = [e for e in journal(run_dir) if e["event"] == "fault_reverted"]
    assert sorted(e["fault_id"] for e in cleaned) == ["f1", "f2"] and {e["reason"] for e in cleaned} == {"clean"}
    assert not any(e["event"] == "clean_error" for e in journal(run_dir)), json.dumps(journal(run_dir)[-3:])
    assert_nothing_left(docker_client, run_dir)
