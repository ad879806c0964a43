"""The keepers of a run, as a user meets them: a run whose plan has a partition starts one per target
namespace; they outlive a SIGKILLed harness, and `chaos clean` heals the partition through those still
there, one-shot where one is gone, resets the skew through the clock's keeper without an exec, and then
removes them with everything else of the run."""

from __future__ import annotations

import time

from support.e2e import REPO, SKEWABLE_INVENTORY, chaos_command, finish, journal, shop_load, sigkill_when
from support.from_outside import assert_nothing_left, iptables_rules, run_containers, service_container

from chaos.faults.partition import CHAIN_PREFIX, KEEPER_OF, KEEPER_ROLE

EXPERIMENT = """\
name: e2e-keepers
targets:
  compose: @REPO@/targets/shop/compose.yaml
  services:
""" + SKEWABLE_INVENTORY + """\
links:
  - api -> redis:6379
""" + shop_load(3, "{warmup: 1s, baseline: 1s, recovery: 1s}") + """\
faults:
  - {name: inventory cut off, type: partition, isolate: inventory, at: 0s, duration: 60s}
  - {name: inventory ahead, type: clock_skew, service: inventory, offset: +30s, at: 0s, duration: 60s}
report: {formats: [json]}
"""


def both_injected(reports, timeout: float = 120.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for path in reports.glob("*/*/journal.jsonl"):
            if not path.parent.is_symlink() and sum(e["event"] == "fault_injected" for e in journal(path.parent)) == 2:
                return path.parent
        time.sleep(0.1)
    raise AssertionError("the partition and the skew were not both injected")


def created_and_exec(client, run_id: str, since: float, until: float) -> tuple[list[str], list[str]]:
    """Roles of the run's containers created in [since, until], and roles of those exec'd into, from the engine's
    events (the targets' healthchecks are execs too: the caller looks at the roles it cares about)."""
    events = client.events(since=int(since), until=int(until) + 1, decode=True,
                           filters={"type": "container", "label": f"chaos.run={run_id}"})
    created, execs = [], []
    for event in events:
        if not since - 0.001 <= event["timeNano"] / 1e9 <= until + 0.001:
            continue
        role = event["Actor"]["Attributes"].get("chaos.role", "?")
        if event["Action"] == "create":
            created.append(role)
        elif event["Action"].startswith("exec_create"):
            execs.append(role)
    return created, execs


def test_sigkill_then_clean_heals_through_the_keepers_left_and_removes_them(tmp_path, docker_client):
    path = tmp_path / "keepers.yaml"
    path.write_text(EXPERIMENT.replace("@REPO@", str(REPO)))
    env = {"XDG_STATE_HOME": str(tmp_path / "state")}
    process = chaos_command("run", str(path), "--report-dir", "reports", cwd=tmp_path, env=env)
    run_dir = sigkill_when(process, lambda: both_injected(tmp_path / "reports"))
    run_id = run_dir.name
    started = next(e for e in journal(run_dir) if e["event"] == "namespace_keepers_started")
    assert started["targets"] == ["api", "inventory", "redis"], started
    keepers = {c.labels[KEEPER_OF]: c for c in run_containers(docker_client, run_id, KEEPER_ROLE)}
    inventory = service_container(docker_client, run_id, "inventory")
    assert len(keepers) == 3 and all(k.status == "running" for k in keepers.values()), "keepers outlive the harness"
    assert CHAIN_PREFIX in iptables_rules(docker_client, inventory, run_id), "SIGKILL leaves the partition in place"
    keepers[inventory.id].remove(force=True)  # one is gone: its namespace is healed one-shot

    since = time.time()
    code, output = finish(chaos_command("clean", "--run", run_id, cwd=tmp_path, env=env))
    until = time.time()
    assert code == 0, output
    assert "reverted f1" in output and "reverted f2" in output, output
    cleaned = [e for e in journal(run_dir) if e["event"] == "fault_reverted"]
    assert sorted(e["fault_id"] for e in cleaned) == ["f1", "f2"], cleaned
    assert not [e for e in journal(run_dir) if e["event"] == "clean_error"]
    created, execs = created_and_exec(docker_client, run_id, since, until)
    assert created == ["helper"], f"one one-shot helper, for inventory's namespace only: {created}"
    assert "clock" not in execs, "the skew is reset through the clock's keeper, not an exec"
    assert_nothing_left(docker_client, run_dir)
