"""A ramp updates the link's toxic in place (PATCH): an open connection feels each step; `chaos clean` can revert
a link fault rebuilt from its ledger entry alone."""

from __future__ import annotations

import socket

import pytest
from support.redis_ping import redis_ping_ms

from chaos import spec
from chaos.faults import build, from_ledger
from chaos.plan import FaultPlan

SYSTEM = """\
name: ramp-test
targets:
  services:
    redis:
      image: chaos-base:bookworm
      command: [redis-server, --protected-mode, "no", --save, "", --bind, 0.0.0.0]
      healthcheck: {test: [CMD, redis-cli, ping], interval: 200ms, retries: 50}
load:
  locustfile: @REPO@/targets/shop/locustfile.py
  target: redis:6379
"""


@pytest.fixture
def system(make_test_plan, running_system):
    with running_system(make_test_plan(SYSTEM)) as system:
        yield system


def test_ramp_steps_patch_the_toxic_in_place_on_an_open_connection(system):
    model = spec.Latency(type="latency", link="load -> redis:6379", latency="100ms", duration=10,
                         ramp={"to": "400ms", "over": "2s", "step": "1s"})
    plan = FaultPlan("f1", "ramp", "latency", "link", model.target(), model.params(), 0.0, 10.0, model.updates())
    assert [u["set"] for u in plan.updates] == [{"latency": 250}, {"latency": 400}]
    fault = build(plan, system)
    edge = system.proxies["load -> redis:6379"]
    with socket.create_connection(("127.0.0.1", edge.edge_port), timeout=5) as sock:
        fault.inject()
        try:
            first = redis_ping_ms(sock)
            seen = []
            for update in plan.updates:
                fault.update(update["set"])
                seen.append(redis_ping_ms(sock))
            toxics = edge.client.toxics(edge.link.proxy_name)
        finally:
            fault.revert()
        after = redis_ping_ms(sock)
    assert 95 <= first < 250 and 245 <= seen[0] < 400 and 395 <= seen[1] < 700, (first, seen)
    assert len(toxics) == 1 and toxics[0]["attributes"]["latency"] == 400, toxics
    assert after < 100


def test_link_fault_reverts_from_its_ledger_entry(system):
    model = spec.Down(type="down", link="load -> redis:6379", duration=5)
    plan = FaultPlan("f3", "down", "down", "link", model.target(), model.params(), 0.0, 5.0)
    build(plan, system).inject()
    edge = system.proxies["load -> redis:6379"]
    assert edge.client.proxy(edge.link.proxy_name)["enabled"] is False
    rebuilt = from_ledger(plan, system.client, system.plan.run_id)
    rebuilt.revert()
    rebuilt.revert()
    assert edge.client.proxy(edge.link.proxy_name)["enabled"] is True
    gone = from_ledger(plan, system.client, "no-such-run")
    assert gone.revert() is None  # its proxy container is gone, and the fault with it
