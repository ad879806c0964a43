"""Partitions against the real engine: each shape cuts what it should and nothing else (TCP and
redis PING from inside the containers, directly and through link proxies); healing restores every
path and leaves no chain behind in any namespace."""

from __future__ import annotations

import json
import textwrap
import time

import pytest
from support.namespaces import chains_in

from chaos.faults import build
from chaos.faults.partition import CHAIN_PREFIX, PartitionFault
from chaos.plan import FaultPlan
from chaos.system import System

# api and inventory serve HTTP on 8000; api reaches redis through a link proxy, inventory reaches
# api through another, so both link directions between a cut pair are exercised.
SYSTEM = """\
name: partition-test
targets:
  services:
    redis:
      image: chaos-base:bookworm
      command: [redis-server, --protected-mode, "no", --save, "", --bind, 0.0.0.0]
      healthcheck: {test: [CMD, redis-cli, ping], interval: 200ms, retries: 50}
    api:
      image: chaos-base:bookworm
      command: [python3, -m, http.server, "8000"]
    inventory:
      image: chaos-base:bookworm
      command: [python3, -m, http.server, "8000"]
links:
  - api -> redis:6379
  - inventory -> api:8000
load:
  locustfile: @REPO@/targets/shop/locustfile.py
  target: api:8000
# A plan with a partition: the system starts a keeper in each target's namespace (the tests below build
# their own partitions; they go through those keepers).
faults:
  - {type: partition, isolate: [redis], at: 1s, duration: 1s}
"""

# Run inside a container: tries every "host:port" at once (connect, and a redis PING on 6379, since
# a link proxy accepts connections even when its upstream is cut) and prints which answered.
PROBE = textwrap.dedent("""\
    import json, socket, sys, threading
    result = {}
    def probe(target):
        host, port = target.rsplit(":", 1)
        try:
            with socket.create_connection((host, int(port)), timeout=2.5) as s:
                if port == "6379":
                    s.settimeout(2.5); s.sendall(b"PING\\r\\n")
                    result[target] = s.recv(16).startswith(b"+PONG")
                else:
                    result[target] = True
        except OSError:
            result[target] = False
    threads = [threading.Thread(target=probe, args=(t,)) for t in sys.argv[1:]]
    [t.start() for t in threads]; [t.join() for t in threads]
    print(json.dumps(result))
""")


@pytest.fixture(scope="module")
def system(make_shared_plan, running_system):
    with running_system(make_shared_plan(SYSTEM)) as system:
        _wait_until_all_paths_answer(system)
        yield system


def address(system: System, service: str) -> str:
    attrs = system.client.api.inspect_container(system.containers[service])
    return attrs["NetworkSettings"]["Networks"][system.network_name]["IPAddress"]


def paths(system: System) -> dict[str, bool]:
    """Every path that matters, as 'from -> to (how)': True when it answers."""
    ip = {s: address(system, s) for s in ("redis", "api", "inventory")}
    wanted = {
        "api": {"redis (link proxy)": "redis:6379", "redis (direct)": f"{ip['redis']}:6379",
                "inventory": "inventory:8000"},
        "inventory": {"redis": "redis:6379", "api (link proxy)": "api:8000", "api (direct)": f"{ip['api']}:8000"},
        "redis": {"api": f"{ip['api']}:8000", "inventory": f"{ip['inventory']}:8000"},
    }
    result = {}
    for source, targets in wanted.items():
        container = system.client.containers.get(system.containers[source])
        code, output = container.exec_run(["python3", "-c", PROBE, *targets.values()])
        assert code == 0, output
        answered = json.loads(output.decode())
        result.update({f"{source} -> {name}": answered[target] for name, target in targets.items()})
    return result


def _wait_until_all_paths_answer(system: System, timeout: float = 45) -> None:
    deadline = time.monotonic() + timeout
    while not all((found := paths(system)).values()):
        assert time.monotonic() < deadline, found
        time.sleep(0.3)


def partition(system: System, fault_id: str, **params) -> PartitionFault:
    full = {"groups": {}, "isolate": [], "bridge": [], "direction": "both", **params}
    return build(FaultPlan(fault_id, fault_id, "partition", "partition", "test", full, 0.0, 1.0), system)


def cut(found: dict[str, bool]) -> set[str]:
    return {path for path, answered in found.items() if not answered}


def assert_healed(system: System, fault: PartitionFault) -> None:
    fault.revert()
    fault.revert()  # idempotent
    for service in ("redis", "api", "inventory"):
        rules = chains_in(system, service)
        assert CHAIN_PREFIX not in rules, rules
    _wait_until_all_paths_answer(system, timeout=10)  # healing is synchronous; the margin is for a busy machine


ALL_BETWEEN_API_AND_REDIS = {"api -> redis (link proxy)", "api -> redis (direct)", "redis -> api"}


def test_two_way_groups_cut_both_directions_and_nothing_else(system):
    fault = partition(system, "p1", groups={"1": ["api"], "2": ["redis"]})
    fault.prepare()
    fault.inject()
    fault.inject()  # idempotent: the chain is refilled, not doubled
    try:
        found = paths(system)
        rules = chains_in(system, "api")
    finally:
        assert_healed(system, fault)
    assert cut(found) == ALL_BETWEEN_API_AND_REDIS, found
    proxy = system.proxies["api -> redis:6379"].address
    assert rules.count(f"-A {fault.chain} -d {proxy}/32 -j DROP") == 1, rules
    assert f"-A INPUT -j {fault.chain}" in rules and f"-A OUTPUT -j {fault.chain}" in rules


def test_isolate_cuts_one_target_from_all_others_through_every_proxy(system):
    fault = partition(system, "p2", isolate=["api"])
    fault.prepare()
    fault.inject()
    try:
        found = paths(system)
    finally:
        assert_healed(system, fault)
    assert cut(found) == ALL_BETWEEN_API_AND_REDIS | {
        "api -> inventory", "inventory -> api (link proxy)", "inventory -> api (direct)", "redis -> api"}, found


def test_named_groups_keep_paths_inside_a_group(system):
    fault = partition(system, "p3", groups={"left": ["api", "inventory"], "right": ["redis"]})
    fault.prepare()
    fault.inject()
    try:
        found = paths(system)
    finally:
        assert_healed(system, fault)
    assert cut(found) == ALL_BETWEEN_API_AND_REDIS | {"inventory -> redis", "redis -> inventory"}, found


def test_bridge_sees_both_sides_that_do_not_see_each_other(system):
    fault = partition(system, "p4", groups={"1": ["inventory"], "2": ["redis"]}, bridge=["api"])
    fault.prepare()
    fault.inject()
    try:
        found = paths(system)
    finally:
        assert_healed(system, fault)
    assert cut(found) == {"inventory -> redis", "redis -> inventory"}, found


# Inside the receiver: wait for datagrams on UDP 9999 for a while and print how many arrived.
UDP_RECEIVE = ("import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(('0.0.0.0', 9999)); "
               "s.settimeout(2.5); n=0\n"
               "try:\n    while True: s.recv(64); n+=1\nexcept OSError: pass\n"
               "open('/tmp/udp-count','w').write(str(n))")
# A DROP in the sender's own OUTPUT chain answers sendto with EPERM: that is a cut, not an error.
UDP_SEND = ("import socket,sys,time; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
            "for _ in range(5):\n"
            "    try: s.sendto(b'x', (sys.argv[1], 9999))\n"
            "    except PermissionError: pass\n"
            "    time.sleep(0.1)")


def datagrams_arrive(system: System, sender: str, receiver: str) -> bool:
    receiving = system.client.containers.get(system.containers[receiver])
    receiving.exec_run(["rm", "-f", "/tmp/udp-count"])
    receiving.exec_run(["python3", "-c", UDP_RECEIVE], detach=True)
    time.sleep(0.5)
    sending = system.client.containers.get(system.containers[sender])
    code, output = sending.exec_run(["python3", "-c", UDP_SEND, address(system, receiver)])
    assert code == 0, output
    deadline = time.monotonic() + 10
    while (result := receiving.exec_run(["cat", "/tmp/udp-count"])).exit_code != 0:
        assert time.monotonic() < deadline, "the receiver never finished"
        time.sleep(0.2)
    return int(result.output) > 0


def test_one_way_drops_only_what_the_first_group_sends(system):
    fault = partition(system, "p5", groups={"1": ["api"], "2": ["redis"]}, direction="one-way")
    fault.prepare()
    fault.inject()
    try:
        api_to_redis = datagrams_arrive(system, "api", "redis")
        redis_to_api = datagrams_arrive(system, "redis", "api")
        found = paths(system)
        redis_rules = chains_in(system, "redis")
    finally:
        assert_healed(system, fault)
    assert not api_to_redis
    assert redis_to_api, "packets from the second group still arrive"
    # TCP needs answers both ways: no connection between them completes, whoever opens it.
    assert cut(found) == ALL_BETWEEN_API_AND_REDIS, found
    assert CHAIN_PREFIX not in redis_rules, "one-way rules live on the sending side only"


def test_healing_a_partition_never_applied_changes_nothing(system):
    fault = partition(system, "p6", groups={"1": ["api"], "2": ["redis"]})
    fault.revert()
    assert CHAIN_PREFIX not in chains_in(system, "api")
    _wait_until_all_paths_answer(system, timeout=10)


def test_a_partition_rebuilt_from_its_ledger_entry_heals(system):
    from chaos.faults.partition import from_ledger

    fault = partition(system, "p7", isolate=["inventory"])
    ledgered = fault.prepare()
    fault.inject()
    assert fault.chain in chains_in(system, "inventory")
    entry = FaultPlan("p7", "p7", "partition", "partition", "isolate inventory", ledgered, 0.0, 0.0)
    from_ledger(entry, system.client, system.plan.run_id).revert()  # what `chaos clean` does after SIGKILL
    for service in ("redis", "api", "inventory"):
        assert CHAIN_PREFIX not in chains_in(system, service)
    _wait_until_all_paths_answer(system, timeout=10)
