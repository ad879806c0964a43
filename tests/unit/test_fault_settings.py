"""A fault's settings in words (FaultPlan.settings): from the experiment as written, through the plan, to what
every report and the dry run show; and what a fault rides on (FaultPlan.link)."""

from __future__ import annotations

import pytest
from support.fault_experiments import load_faults, shop_head

from chaos.plan import fault_settings, make_plan
from chaos.spec import FAULT_TYPES

pytestmark = pytest.mark.unit

HEAD = shop_head("words", """\
    redis: {image: chaos-shop-redis:1, labels: {tier: data}}
    inventory: {image: chaos-shop-inventory:1}
    api: {image: chaos-shop-api:v1, clock: skewable}
""").replace("  - api -> redis:6379\n", "  - api -> redis:6379\n  - {link: api -> inventory:8081, protocol: http}\n")

# (the fault as a person writes it, the settings the reports show): every kind of every family
WRITTEN = [
    ("{type: latency, link: api -> redis:6379, latency: 300ms, jitter: 50ms, duration: 20s}",
     "latency 300 ms, jitter 50 ms"),
    ("{type: latency, link: api -> redis:6379, latency: 1s, duration: 20s, stream: upstream, toxicity: 50%}",
     "latency 1000 ms, upstream, on 50% of connections"),
    ("{type: latency, link: api -> redis:6379, latency: 100ms, duration: 20s, ramp: {to: 900ms, over: 10s}}",
     "latency 100 ms, rising to 900 ms over 10 s"),
    ("{type: bandwidth, link: api -> redis:6379, rate: 64KB/s, duration: 20s, stream: both}",
     "rate 64 KB/s, both directions"),
    ("{type: bandwidth, link: api -> redis:6379, rate: 1MB/s, duration: 20s, ramp: {to: 8KB/s, over: 5s}}",
     "rate 1 MB/s, falling to 8 KB/s over 5 s"),
    ("{type: slow_close, link: api -> redis:6379, delay: 500ms, duration: 20s}", "close delayed 500 ms"),
    ("{type: timeout, link: api -> redis:6379, timeout: 2s, duration: 20s}", "data stopped, closed after 2000 ms"),
    ("{type: timeout, link: api -> redis:6379, duration: 20s}", "data stopped, held open until reverted"),
    ("{type: reset_peer, link: api -> redis:6379, duration: 20s}", "connections reset at once"),
    ("{type: slicer, link: api -> redis:6379, average_size: 64, size_variation: 16, delay: 5ms, duration: 20s}",
     "slices of 64 B ± 16 B, 5 ms apart"),
    ("{type: limit_data, link: api -> redis:6379, bytes: 2KB, duration: 20s}", "closed after 2 KB"),
    ("{type: down, link: api -> redis:6379, duration: 20s}", "link down"),
    ("{type: kill, service: redis, duration: 20s}", "signal SIGKILL"),
    ("{type: kill, service: redis, signal: term, duration: 20s}", "signal SIGTERM"),
    ("{type: stop, service: redis, grace: 3s, duration: 20s}", "grace 3 s"),
    ("{type: restart, services: [redis, inventory], duration: 20s}", "grace 10 s"),
    ("{type: pause, label: tier=data, duration: 20s}", "paused"),
    ("{type: crash_loop, service: redis, every: 5s, down: 2s, duration: 20s}",
     "signal SIGKILL every 5 s, down 2 s each time"),
    ("{type: cpu, service: api, cpus: 0.25, duration: 20s}", "0.25 CPUs"),
    ("{type: memory, service: api, memory: 64MB, duration: 20s}", "memory 64 MB"),
    ("{type: partition, isolate: redis, duration: 20s}", "isolate redis from every other target"),
    ("{type: partition, groups: [[api], [redis, inventory]], duration: 20s}", "cut api | redis, inventory"),
    ("{type: partition, groups: {front: [api], back: [redis]}, direction: one-way, duration: 20s}",
     "cut api -/-> redis"),
    ("{type: partition, groups: [[api], [redis]], bridge: inventory, duration: 20s}",
     "cut api | redis, bridge inventory"),
    ("{type: clock_skew, service: api, offset: +100s, duration: 20s}", "skew +100 s"),
    ("{type: clock_skew, service: api, offset: -5m, duration: 20s}", "skew -5 min"),
    ("{type: clock_skew, service: api, drift: 1.05, duration: 20s}", "drift ×1.05 (5% fast)"),
    ("{type: clock_skew, service: api, strobe: {delta: 30s, period: 2s}, duration: 20s}", "swing ±30 s every 2 s"),
    ("{type: http, link: api -> inventory:8081, match: {method: GET, path: /stock/*}, status: 503, "
     "headers: {Retry-After: '1'}, probability: 20%}", "status 503 (Retry-After), on GET /stock/*, 20% of requests"),
    ("{type: http, link: api -> inventory:8081, match: {path: /reservations}, abort: reset, first: 5}",
     "reset unanswered, on /reservations, first 5"),
    ("{type: http, link: api -> inventory:8081, delay: 100ms, ramp: {delay: 900ms, probability: 50%, over: 10s}}",
     "delay 100 ms, falling to 50% over 10 s, rising to 900 ms over 10 s"),
    ("{type: dns, service: api, name: inventory, answer: nxdomain, duration: 20s}", "lookups of inventory: NXDOMAIN"),
    ("{type: dns, service: api, name: inventory, delay: 2s, probability: 30%, duration: 20s}",
     "lookups of inventory: 2 s late, on 30% of queries"),
]


def planned_fault(tmp_path, written: str):
    return make_plan(load_faults(tmp_path, HEAD, f"- {written}\n"), run_id="r", seed=1).faults[0]


@pytest.mark.parametrize("written, words", WRITTEN, ids=[w for w, _ in WRITTEN])
def test_settings_read_as_the_user_wrote_them(tmp_path, written, words):
    assert planned_fault(tmp_path, written).settings == words


def test_every_fault_kind_has_its_words():
    written_kinds = {w.split("type: ", 1)[1].split(",", 1)[0] for w, _ in WRITTEN}
    assert written_kinds == set(FAULT_TYPES)


def test_a_partition_names_whom_it_cut_once_the_ledger_knows():
    """prepare() puts the targets given rules in the ledger's params: the report names them."""
    ledgered = {"groups": {}, "isolate": ["db"], "bridge": [], "direction": "both", "chain": "CHAOS-1",
                "rules": {}, "containers": {"db": "c1", "api": "c2", "app": "c3"}}
    assert fault_settings("partition", ledgered) == "isolate db from api, app"


def test_chosen_containers_and_rules_are_not_settings():
    ledgered = {"select": {"services": ["redis"], "pick": "all"}, "signal": "SIGKILL",
                "containers": [{"id": "c1", "name": "redis"}]}
    assert fault_settings("kill", ledgered) == "signal SIGKILL"


def test_params_of_another_harness_version_are_shown_as_they_are():
    """An old run dir's plan wrote latency_ms: its report still renders, with the keys it has."""
    old = {"latency_ms": 300, "jitter_ms": 0, "stream": "downstream", "toxicity": 1.0}
    assert fault_settings("latency", old) == "latency_ms 300, jitter_ms 0, stream downstream, toxicity 1.0"
    assert fault_settings("warp", {"speed": 9}) == "speed 9"


def test_a_link_fault_rides_on_its_link_and_no_other_does(tmp_path):
    link = planned_fault(tmp_path, "{type: latency, link: api -> redis:6379, latency: 300ms, duration: 20s}")
    kill = planned_fault(tmp_path, "{type: kill, service: redis, duration: 20s}")
    assert link.link == "api -> redis:6379"
    assert kill.link is None
