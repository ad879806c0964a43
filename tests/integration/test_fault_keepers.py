"""Keepers against the real engine: a plan with a partition starts one keeper per target namespace with
the system, and partitions and clock rewrites then go through keepers, with no container started and no
exec while a fault is applied (seen in the engine's own events). Without its keeper (removed, or gone
with its restarted target) a partition still applies and heals, one-shot, as before."""

from __future__ import annotations

import time

import pytest
from support.namespaces import chains_in

from chaos.faults import build
from chaos.faults.partition import CHAIN_PREFIX, KEEPER_OF, KEEPER_ROLE
from chaos.plan import FaultPlan

# web is skewable (python3 is a glibc program); no healthchecks, so the engine's events of the run are the
# harness's own (a healthcheck is an exec every interval).
SYSTEM = """\
name: keepers-test
targets:
  services:
    web:
      image: chaos-base:bookworm
      command: [python3, -m, http.server, "8000"]
      clock: skewable
    peer:
      image: chaos-base:bookworm
      command: [python3, -m, http.server, "8000"]
load:
  locustfile: @REPO@/targets/shop/locustfile.py
  target: web:8000
faults:
  - {type: partition, groups: [[web], [peer]], at: 1s, duration: 1s}
  - {type: clock_skew, service: web, offset: +30s, at: 1s, duration: 1s}
"""


@pytest.fixture(scope="module")
def system(make_shared_plan, running_system):
    with running_system(make_shared_plan(SYSTEM)) as system:
        yield system


def keepers_of(system) -> dict[str, object]:
    """The run's namespace keepers on the engine, by the target container they serve."""
    found = system.client.containers.list(filters={"label": [f"chaos.run={system.plan.run_id}",
                                                              f"chaos.role={KEEPER_ROLE}"]})
    return {c.labels[KEEPER_OF]: c for c in found}


def wall_clock_skew(system, service: str) -> float:
    """The service's wall clock against the host's, read by a new process in it (libfaketime is preloaded)."""
    before = time.time()
    code, output = system.client.containers.get(system.containers[service]).exec_run(
        ["python3", "-c", "import time; print(time.time())"])
    assert code == 0, output
    return float(output) - before


def keepers_of_any_state(system) -> list[str]:
    found = system.client.containers.list(all=True, filters={"label": [f"chaos.run={system.plan.run_id}",
                                                                        f"chaos.role={KEEPER_ROLE}"]})
    return [c.id for c in found]


def engine_actions(system, since: float, until: float) -> list[str]:
    """What the engine did to the run's containers in [since, until]: create, start, exec_create, ..."""
    events = system.client.events(since=int(since), until=int(until) + 1, decode=True,
                                  filters={"type": "container", "label": f"chaos.run={system.plan.run_id}"})
    return [e["Action"] for e in events if since - 0.001 <= e["timeNano"] / 1e9 <= until + 0.001]


def partition_fault(fault_id: str) -> FaultPlan:
    params = {"groups": {"1": ["web"], "2": ["peer"]}, "isolate": [], "bridge": [], "direction": "both"}
    return FaultPlan(fault_id, fault_id, "partition", "partition", "web, peer", params, 0.0, 1.0)


def skew_fault(fault_id: str, offset_s: float) -> FaultPlan:
    return FaultPlan(fault_id, fault_id, "clock_skew", "clock", "web", {"mode": "offset", "offset_s": offset_s}, 0.0, 1.0)


def test_every_namespace_a_partition_cuts_in_has_a_keeper_of_the_run(system):
    keepers = keepers_of(system)
    assert sorted(keepers) == sorted(system.containers.values())
    assert sorted(system.namespace_keepers) == sorted(keepers)
    for target, container in keepers.items():
        assert container.attrs["HostConfig"]["NetworkMode"] == f"container:{target}"
        assert container.labels["chaos.lease"], "a keeper carries the run's lease, so `chaos clean` judges it"


def test_a_partition_and_its_heal_start_no_container_and_exec_nothing(system):
    fault = build(partition_fault("k1"), system)
    fault.prepare()
    since = time.time()
    fault.inject()
    injected_at = time.time()
    fault.revert()
    fault.revert()  # idempotent through the keeper too
    until = time.time()
    assert engine_actions(system, since, until) == []
    # The cut really was there: injected again, seen by a one-shot helper, then healed.
    fault.inject()
    assert fault.chain in chains_in(system, "web") and fault.chain in chains_in(system, "peer")
    fault.revert()
    assert CHAIN_PREFIX not in chains_in(system, "web") + chains_in(system, "peer")
    print(f"\ninject through keepers: {(injected_at - since) * 1000:.1f} ms")


def test_clock_rewrites_move_the_wall_clock_with_no_exec(system):
    fault = build(skew_fault("k2", 3600.0), system)
    since = time.time()
    fault.inject()
    until = time.time()
    assert engine_actions(system, since, until) == []
    assert 3598.5 < wall_clock_skew(system, "web") < 3601.5
    since = time.time()
    fault.update({"offset_s": -120.0})
    until = time.time()
    assert engine_actions(system, since, until) == []
    assert -121.5 < wall_clock_skew(system, "web") < -118.5
    fault.revert()
    assert abs(wall_clock_skew(system, "web")) < 1.5


def test_a_partition_heals_one_shot_when_a_keeper_is_gone(system):
    fault = build(partition_fault("k3"), system)
    fault.prepare()
    fault.inject()
    keepers_of(system)[system.containers["peer"]].remove(force=True)  # as a user's `docker rm` would
    fault.revert()
    assert CHAIN_PREFIX not in chains_in(system, "web") + chains_in(system, "peer")
    fault.inject()  # and a new cut reaches peer one-shot
    assert fault.chain in chains_in(system, "peer")
    fault.revert()
    assert CHAIN_PREFIX not in chains_in(system, "web") + chains_in(system, "peer")


def test_a_restarted_target_loses_its_keeper_and_is_partitioned_one_shot_in_its_new_namespace(system):
    web = system.client.containers.get(system.containers["web"])
    keeper = keepers_of(system)[web.id]
    web.restart(timeout=1)
    # It shared the target's process namespace: it ended with the old process 1, and the engine removed it.
    deadline = time.monotonic() + 10
    while keeper.id in keepers_of_any_state(system):
        assert time.monotonic() < deadline, "the keeper outlived its target's process 1"
        time.sleep(0.1)
    fault = build(partition_fault("k4"), system)
    fault.prepare()
    fault.inject()
    assert fault.chain in chains_in(system, "web")
    fault.revert()
    assert CHAIN_PREFIX not in chains_in(system, "web")
