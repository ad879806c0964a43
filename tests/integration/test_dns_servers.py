"""DNS faults against the real engine: a dnslib server of the run answers one service's lookups. Names it
has no rule for pass through as Docker's embedded DNS answers them (service names, a container name only
that DNS knows, a link's name as its proxy); nxdomain, servfail, timeout and a wrong answer take effect for
the faulted service only, win over its link, and go away on revert. Wrong answers point only at loopback
or at the experiment's own network."""

from __future__ import annotations

import time

import pytest

from chaos.faults import build
from chaos.plan import FaultPlan
from chaos.system import System

SYSTEM = """\
name: dns-test
targets:
  services:
    redis:
      image: chaos-shop-redis:1
      healthcheck: {test: [CMD, redis-cli, ping], interval: 200ms, retries: 50}
    web:
      image: chaos-base:bookworm
      command: [sleep, infinity]
    other:
      image: chaos-base:bookworm
      command: [sleep, infinity]
links:
  - web -> redis:6379
load:
  locustfile: @REPO@/targets/shop/locustfile.py
  target: redis:6379
faults:
  - {type: dns, service: web, name: redis, answer: nxdomain, at: 0s, duration: 1s}
"""

# getaddrinfo as a program calls it; one try of 1 s so a dropped query fails fast (glibc reads RES_OPTIONS).
LOOKUP = ("import socket, sys\n"
          "try:\n"
          "    print(sorted({a[4][0] for a in socket.getaddrinfo(sys.argv[1], 80, socket.AF_INET)}))\n"
          "except socket.gaierror as exc:\n"
          "    print('error', exc.args[0])\n")


@pytest.fixture(scope="module")
def system(docker_client, make_shared_plan, leftovers):
    plan = make_shared_plan(SYSTEM)
    running = System(plan, docker_client)
    try:
        running.up(health_timeout=60)
        yield running
    finally:
        running.down()
        assert leftovers(docker_client, plan.run_id) == []


def lookup(system: System, service: str, name: str) -> str:
    container = system.client.containers.get(system.containers[service])
    code, output = container.exec_run(["python3", "-c", LOOKUP, name],
                                      environment={"RES_OPTIONS": "timeout:1 attempts:1"})
    assert code == 0, output
    return output.decode().strip()


def address(system: System, container_id: str) -> str:
    networks = system.client.containers.get(container_id).attrs["NetworkSettings"]["Networks"]
    return networks[system.network_name]["IPAddress"]


def dns_fault(system: System, fault_id: str, **params) -> FaultPlan:
    return FaultPlan(fault_id, fault_id, "dns", "dns", "web", {"service": "web", "probability": 1.0, **params}, 0.0, 1.0)


def test_unfaulted_lookups_pass_through_as_docker_answers_them(system):
    other = address(system, system.containers["other"])
    assert lookup(system, "web", "other") == f"['{other}']"
    # A container name: only Docker's embedded DNS knows it, and answers the forwarded query.
    assert lookup(system, "web", f"chaos-{system.plan.run_id}-other") == f"['{other}']"
    # The link's name reaches its proxy, as /etc/hosts would have said, not the real redis.
    proxy = next(iter(p for p in system.proxies.values() if p.link.source == "web")).address
    assert lookup(system, "web", "redis") == f"['{proxy}']"
    assert lookup(system, "other", "redis") == f"['{address(system, system.containers['redis'])}']"


@pytest.mark.parametrize("action, seen", [("nxdomain", "error -2"), ("servfail", "error -3"),
                                          ("refused", "error -3"), ("timeout", "error -3")])
def test_a_failing_answer_hits_the_faulted_service_only_and_reverts(system, action, seen):
    fault = build(dns_fault(system, f"f-{action}", name="other", action=action), system)
    fault.prepare()
    other = address(system, system.containers["other"])
    fault.inject()
    fault.inject()  # idempotent: one rule, its counts kept
    try:
        assert lookup(system, "web", "other") == seen  # -2 EAI_NONAME, -3 EAI_AGAIN
        assert lookup(system, "redis", "other") == f"['{other}']"
    finally:
        outcome = fault.revert()
    assert outcome["queries"]["faulted"] >= 1 and outcome["queries"]["faulted"] == outcome["queries"]["matched"]
    assert fault.revert() is None  # idempotent
    assert lookup(system, "web", "other") == f"['{other}']"


def test_a_wrong_answer_wins_over_the_link_and_the_link_is_back_after(system):
    proxy = next(iter(p for p in system.proxies.values() if p.link.source == "web")).address
    fault = build(dns_fault(system, "f-answer", name="red*", action="address", address_of="other"), system)
    params = fault.prepare()
    assert params["address"] == address(system, system.containers["other"])
    fault.inject()
    try:
        assert lookup(system, "web", "redis") == f"['{params['address']}']"
    finally:
        fault.revert()
    assert lookup(system, "web", "redis") == f"['{proxy}']"


def test_delay_then_the_real_answer_and_probability_is_seeded(system):
    other = address(system, system.containers["other"])
    late = build(dns_fault(system, "f-delay", name="other", action="delay", delay_s=0.6), system)
    late.prepare()
    late.inject()
    try:
        started = time.monotonic()
        assert lookup(system, "web", "other") == f"['{other}']"
        assert time.monotonic() - started >= 0.6
    finally:
        late.revert()
    system.plan.seed = 7  # the draws are seeded: this seed faults some of the 12 lookups, not all
    share = build(dns_fault(system, "f-share", name="other", action="address", address="127.0.0.1",
                            probability=0.5), system)
    share.prepare()
    share.inject()
    try:
        answers = [lookup(system, "web", "other") for _ in range(12)]
    finally:
        counts = share.revert()["queries"]
    assert set(answers) == {"['127.0.0.1']", f"['{other}']"}
    assert counts["faulted"] == answers.count("['127.0.0.1']")
