"""Resilience tests for the sample shop (targets/shop), written as ordinary pytest tests with chaos's
fixtures. The walk-through is docs/pytest.md.

    pytest examples/test_shop_resilience.py                     # the resilient api (v2): passes
    API_VERSION=v1 pytest examples/test_shop_resilience.py      # the naive api (v1): fails, and says why

The shop (redis, inventory, api v2) starts once for the session, every depends_on edge routed
through Toxiproxy; each test injects its faults in `with` blocks (always reverted), drives load
in Locust's own process and judges it like an experiment's hypotheses. Each test gets a run dir
and an HTML report under reports/.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
import requests

from chaos.testkit import SystemSpec

SHOP = Path(__file__).resolve().parent.parent / "targets" / "shop"

pytestmark = pytest.mark.chaos  # the fixtures mark these tests anyway; said here for readers


@pytest.fixture(scope="session")
def chaos_system_spec():
    """The shop with the resilient api (v2 unless API_VERSION says otherwise). Circuit breakers reset
    after 1 s instead of 30 s, so a breaker one test opened is closed again before the next test starts."""
    return SystemSpec.from_compose(
        SHOP / "compose.yaml",
        variables={"API_VERSION": os.environ.get("API_VERSION", "v2"), "BREAKER_RESET_S": "1"},
        locustfile=SHOP / "locustfile.py", user_classes=["ShopUser"],
    )


def health(chaos_system) -> str:
    return requests.get(chaos_system.edge_url + "/health", timeout=5).json()["status"]


@pytest.fixture(autouse=True)
def shop_is_healthy(chaos, chaos_system):
    """Each test starts from a healthy shop: the system is shared, and so is what a fault left behind."""
    chaos.wait_until(lambda: health(chaos_system) == "healthy", timeout="30s",
                     message="the shop did not become healthy")


def test_reads_and_orders_stay_fast_while_redis_is_slow(chaos):
    with chaos.background_load(users=10, warmup="2s") as load:
        chaos.wait("6s")                                      # baseline
        with chaos.latency("api", "redis", ms=300, jitter=50):
            chaos.wait("8s")                                  # fault: reads fall back to cached products
        chaos.wait("6s")                                      # recovery
    result = load.result
    result.expect("latency.p99", max="1s")                    # every phase but warmup
    result.expect("error_rate", max="5%")
    assert result.phase("fault").latency.p50 < "300ms"        # the cache answers before redis does


def test_reads_stay_fast_and_correct_while_redis_is_slow_and_inventory_is_killed(chaos):
    with chaos.background_load(users=10, warmup="2s") as load:
        chaos.wait("5s")                                      # baseline
        with chaos.latency("api", "redis", ms=300), chaos.kill("inventory", restart_after="4s"):
            chaos.wait("8s")                                  # fault: both at once
        chaos.wait("6s")                                      # recovery
    result = load.result
    result.expect("latency.p90", max="500ms", phases=["fault"], request="GET /products/[id]")
    result.expect("error_rate", max="5%", request="GET /products/[id]")


def test_product_pages_survive_inventory_going_down(chaos):
    with chaos.background_load(users=10) as load:
        chaos.wait("5s")
        with chaos.down("api", "inventory"):
            chaos.wait("6s")
        chaos.wait("6s")
    result = load.result
    # reads keep answering (stock shown as unknown, marked degraded); orders are refused fast (503)
    result.expect("error_rate", max="5%", request="GET /products/[id]")
    result.expect("latency.p90", max="1s", phases=["fault"], request="POST /orders")
    assert result.recovery_time < "10s"


def test_the_edge_link_delays_what_clients_see(chaos, chaos_system):
    with chaos.latency("load", "api", ms=250):
        started = time.monotonic()
        requests.get(chaos_system.edge_url + "/health", timeout=5)
        assert time.monotonic() - started >= 0.25
    quick = chaos.load(users=3, duration="3s")                # after the block: the latency is gone
    assert quick.latency.p50 < "250ms"


def test_api_is_unhealthy_while_cut_off_from_redis_and_heals(chaos, chaos_system):
    with chaos.partition(["api"], ["redis"]):
        chaos.wait_until(lambda: health(chaos_system) == "unhealthy", timeout="10s")
    chaos.wait_until(lambda: health(chaos_system) == "healthy", timeout="20s")


def test_inventory_is_back_after_a_kill(chaos, chaos_system):
    with chaos.kill("inventory", restart_after="2s"):
        chaos.wait_until(lambda: health(chaos_system) == "degraded", timeout="10s")
    assert health(chaos_system) in ("healthy", "degraded")   # started again (and healthy) on exit
    chaos.wait_until(lambda: health(chaos_system) == "healthy", timeout="20s")
