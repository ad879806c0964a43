"""Links through the real Toxiproxy: directed interposition, toxics on open connections, revert."""

from __future__ import annotations

import socket
import time

import pytest
from support.redis_ping import redis_ping_ms

from chaos.faults import build
from chaos.faults.link import LinkFault
from chaos.plan import FaultPlan
from chaos.system import System

SYSTEM = """\
name: links-test
targets:
  services:
    redis:
      image: chaos-base:bookworm
      command: [redis-server, --protected-mode, "no", --save, "", --bind, 0.0.0.0]
      healthcheck: {test: [CMD, redis-cli, ping], interval: 200ms, retries: 50}
    api:
      image: chaos-base:bookworm
      command: [sleep, "600"]
    other:
      image: chaos-base:bookworm
      command: [sleep, "600"]
links:
  - api -> redis:6379
load:
  locustfile: @REPO@/targets/shop/locustfile.py
  target: redis:6379
"""

# Times one redis PING round trip from inside a container, over one connection opened first.
PING_FROM_INSIDE = (
    "import socket,time;s=socket.create_connection(('redis',6379),timeout=5);"
    "t=time.monotonic();s.sendall(b'PING\\r\\n');s.recv(64);print(round((time.monotonic()-t)*1000,1))"
)


@pytest.fixture
def system(make_test_plan, running_system):
    with running_system(make_test_plan(SYSTEM)) as system:
        yield system


def ping_ms_inside(system: System, service: str) -> float:
    container = system.client.containers.get(system.containers[service])
    code, output = container.exec_run(["python3", "-c", PING_FROM_INSIDE])
    assert code == 0, output
    return float(output.decode().strip())


def latency_fault(link: str, ms: int, stream: str = "downstream") -> FaultPlan:
    params = {"stream": stream, "toxicity": 1.0, "latency": ms, "jitter": 0}
    return FaultPlan("f1", "slow", "latency", "link", link, params, 0.0, 1.0)


def fault_on(system: System, plan: FaultPlan) -> LinkFault:
    return build(plan, system)


def test_latency_hits_only_the_links_source_and_is_reverted(system):
    fault = fault_on(system, latency_fault("api -> redis:6379", 300))
    fault.inject()
    fault.inject()  # idempotent: updated in place, not stacked
    try:
        slow_api, other = ping_ms_inside(system, "api"), ping_ms_inside(system, "other")
    finally:
        fault.revert()
    fault.revert()  # idempotent
    assert 290 <= slow_api < 600, slow_api  # one toxic, not two
    assert other < 100, other  # inventory-like clients of redis are untouched
    assert ping_ms_inside(system, "api") < 100
    assert system.proxies["api -> redis:6379"].client.toxics("api-to-redis-6379") == []


def test_fault_hits_an_already_open_keepalive_connection(system):
    edge = system.proxies["load -> redis:6379"]
    with socket.create_connection(("127.0.0.1", edge.edge_port), timeout=5) as sock:
        assert redis_ping_ms(sock) < 100
        fault = fault_on(system, latency_fault("load -> redis:6379", 250))
        fault.inject()
        try:
            delayed = redis_ping_ms(sock)
        finally:
            fault.revert()
        assert 240 <= delayed < 600, delayed
        assert redis_ping_ms(sock) < 100


def test_down_drops_the_link_and_revert_restores_it(system):
    edge = system.proxies["load -> redis:6379"]
    params = {"stream": "downstream", "toxicity": 1.0}
    fault = fault_on(system, FaultPlan("f2", "down", "down", "link", "load -> redis:6379", params, 0, 1))
    fault.inject()
    try:
        # Refused, reset, or (Docker's port publishing accepts on 127.0.0.1, then finds no listener behind it)
        # closed without an answer: no PONG either way.
        with pytest.raises((OSError, AssertionError)):
            with socket.create_connection(("127.0.0.1", edge.edge_port), timeout=2) as sock:
                redis_ping_ms(sock)
    finally:
        fault.revert()
    # Docker's port publishing accepts a connection even while the re-enabled listener behind it is not
    # back yet and then closes it (seen in about 1 run of 10): the link must work again within 2 s.
    deadline = time.monotonic() + 2.0
    while True:
        try:
            with socket.create_connection(("127.0.0.1", edge.edge_port), timeout=5) as sock:
                assert redis_ping_ms(sock) < 100
            break
        except (AssertionError, OSError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
