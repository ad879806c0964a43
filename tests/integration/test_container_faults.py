"""Container and resource faults against the real engine and the shop: each has its real effect, and its
revert really restores the container (running, healthy, unpaused, limits back)."""

from __future__ import annotations

import textwrap
import time
import urllib.error
import urllib.request
from pathlib import Path

import docker
import pytest

from chaos import ledger, spec
from chaos.errors import EnvironmentProblem
from chaos.faults import build
from chaos.journal import Journal, read_journal
from chaos.plan import FaultPlan, make_plan
from chaos.spec import load_experiment
from chaos.system import System

CGROUP_CPU = "cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us"
SHOP = """\
name: container-faults-test
targets:
  compose: @REPO@/targets/shop/compose.yaml
load:
  locustfile: @REPO@/targets/shop/locustfile.py
  target: api:8080
"""


REPO = Path(__file__).resolve().parents[2]


def make_system(client, tmp_path_factory, text: str, variables: dict | None = None) -> System:
    path = tmp_path_factory.mktemp("exp") / "experiment.yaml"
    path.write_text(textwrap.dedent(text).replace("@REPO@", str(REPO)))
    return System(make_plan(load_experiment(path, variables or {}), seed=11), client)


@pytest.fixture(scope="module")
def shop(docker_client, tmp_path_factory, leftovers):
    system = make_system(docker_client, tmp_path_factory, SHOP, {"API_VERSION": "v1"})
    try:
        system.up(health_timeout=90)
        yield system
    finally:
        system.down()
        assert leftovers(docker_client, system.plan.run_id) == []


def fault(system: System, model: spec.FaultSpec, fault_id: str = "f1"):
    """The adapter the runner would build for this fault, from the experiment model itself."""
    plan = FaultPlan(fault_id, f"{model.type} test", model.type, model.family, model.target(), model.params(),
                     0.0, model.duration, model.updates())
    return build(plan, system)


def container(system: System, service: str):
    found = system.client.containers.get(system.containers[service])
    found.reload()
    return found


def state(system: System, service: str) -> dict:
    return container(system, service).attrs["State"]


def get(url: str, timeout: float = 2.0) -> int | str:
    """Status code, or the kind of failure: 'timeout' / 'refused' / 'error'."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except (TimeoutError, urllib.error.URLError) as exc:
        reason = getattr(exc, "reason", exc)
        return "timeout" if isinstance(reason, TimeoutError) or "timed out" in str(reason) else "error"
    except (ConnectionError, OSError):
        return "error"


def product_reads(system: System, count: int = 20, timeout: float = 2.0) -> list:
    port = system.published("api", 8080)
    return [get(f"http://127.0.0.1:{port}/products/{1 + i % 100}", timeout) for i in range(count)]


def ok_share(results: list) -> float:
    return sum(r == 200 for r in results) / len(results)


def exec_out(system: System, service: str, command: str) -> tuple[int, str]:
    code, output = container(system, service).exec_run(["sh", "-c", command])
    return code, output.decode().strip()


# ---- container faults ------------------------------------------------------------------------


def test_kill_takes_inventory_down_and_revert_brings_it_back_healthy(shop):
    assert ok_share(product_reads(shop)) == 1.0
    kill = fault(shop, spec.Kill(type="kill", service="inventory", signal="SIGKILL", duration=5))
    ledger = kill.prepare()
    assert ledger["containers"] == [{"service": "inventory", "id": shop.containers["inventory"],
                                     "started_at": state(shop, "inventory")["StartedAt"]}]
    kill.inject()
    kill.inject()  # idempotent: already down
    try:
        time.sleep(0.3)
        down = state(shop, "inventory")
        during = product_reads(shop)
    finally:
        outcome = kill.revert()
    assert down["Status"] == "exited" and down["ExitCode"] == 137
    assert ok_share(during) <= 0.1, during  # v1 reads need inventory's stock: they fail while it is gone
    assert "not_healthy" not in outcome, outcome  # came back healthy within its healthcheck's budget
    after = state(shop, "inventory")
    assert after["Status"] == "running" and after["Health"]["Status"] == "healthy"
    assert ok_share(product_reads(shop)) == 1.0
    assert "not_healthy" not in kill.revert()  # idempotent


def test_kill_with_sigterm_lets_it_exit_gracefully(shop):
    kill = fault(shop, spec.Kill(type="kill", service="inventory", signal="SIGTERM", duration=5))
    kill.inject()
    try:
        deadline = time.monotonic() + 10
        while state(shop, "inventory")["Status"] == "running" and time.monotonic() < deadline:
            time.sleep(0.1)
        exited = state(shop, "inventory")
    finally:
        kill.revert()
    assert exited["Status"] == "exited" and exited["ExitCode"] == 0  # the shop's SIGTERM handler ran
    assert state(shop, "inventory")["Health"]["Status"] == "healthy"


def test_pause_freezes_inventory_requests_time_out_and_revert_unpauses(shop):
    port = shop.published("inventory", 8081)
    assert get(f"http://127.0.0.1:{port}/health") == 200
    pause = fault(shop, spec.Pause(type="pause", service="inventory", duration=5))
    pause.inject()
    pause.inject()  # idempotent
    try:
        paused = state(shop, "inventory")
        direct = get(f"http://127.0.0.1:{port}/health", timeout=1.0)
        through_api = product_reads(shop, count=3, timeout=1.5)
    finally:
        pause.revert()
    pause.revert()  # idempotent
    assert paused["Status"] == "paused" and paused["Paused"] is True
    assert direct == "timeout", direct
    assert through_api == ["timeout"] * 3, through_api  # v1 has no timeout of its own: it hangs with inventory
    resumed = state(shop, "inventory")
    assert resumed["Status"] == "running" and resumed["Paused"] is False
    assert get(f"http://127.0.0.1:{port}/health") == 200


def test_stop_runs_in_the_background_and_revert_starts_it(shop):
    stop = fault(shop, spec.Stop(type="stop", service="inventory", grace=3, duration=5))
    started = time.monotonic()
    stop.inject()
    returned_after = time.monotonic() - started
    try:
        deadline = time.monotonic() + 15
        while state(shop, "inventory")["Status"] != "exited" and time.monotonic() < deadline:
            time.sleep(0.1)
        stopped = state(shop, "inventory")
        during = product_reads(shop, count=5)
    finally:
        outcome = stop.revert()
    assert returned_after < 2.0, "a graceful stop must not hold up the timeline"
    assert stopped["Status"] == "exited"
    assert ok_share(during) == 0.0
    assert "not_healthy" not in outcome and state(shop, "inventory")["Health"]["Status"] == "healthy"
    assert ok_share(product_reads(shop)) == 1.0


def test_restart_is_one_shot_and_revert_makes_sure_it_runs(shop):
    before = state(shop, "api")["StartedAt"]
    restart = fault(shop, spec.Restart(type="restart", service="api", grace=2, duration=3))
    restart.inject()
    outcome = restart.revert()  # waits for the restart in flight, then for health
    after = state(shop, "api")
    assert after["StartedAt"] != before and after["Status"] == "running"
    assert "not_healthy" not in outcome and after["Health"]["Status"] == "healthy"
    assert ok_share(product_reads(shop)) == 1.0


def started_again(system: System, service: str, before: str, timeout: float = 15) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        now = state(system, service)
        if now["Status"] == "running" and now["StartedAt"] != before:
            return now["StartedAt"]
        time.sleep(0.05)
    raise AssertionError(f"{service} did not come back")


def test_crash_loop_kills_and_brings_back_on_each_beat_without_holding_up_the_timeline(shop):
    loop = fault(shop, spec.CrashLoop(type="crash_loop", service="inventory", every=1, duration=4))
    starts = [state(shop, "inventory")["StartedAt"]]
    took = []
    try:
        for step in (loop.inject, lambda: loop.update({"kill": 2}), lambda: loop.update({"kill": 3})):
            began = time.monotonic()
            step()  # the kill; the comeback (down: 0) runs in the background
            took.append(time.monotonic() - began)
            starts.append(started_again(shop, "inventory", starts[-1]))
    finally:
        outcome = loop.revert()
    assert len(set(starts)) == 4, "three kills, three comebacks"
    assert max(took) < 1.0, took
    assert "not_healthy" not in outcome and state(shop, "inventory")["Health"]["Status"] == "healthy"


def wait_healthy(system: System, service: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while state(system, service).get("Health", {}).get("Status") != "healthy":
        assert time.monotonic() < deadline, f"{service} did not become healthy again"
        time.sleep(0.2)


def test_clean_reverts_container_and_resource_faults_from_the_ledger_alone(shop, tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    record = Journal(run_dir / "journal.jsonl")
    for fault_id, model in (("f1", spec.Kill(type="kill", service="inventory", duration=5)),
                            ("f2", spec.Cpu(type="cpu", service="api", cpus=0.3, duration=5))):
        adapter = fault(shop, model, fault_id)
        record.append("fault_ledgered", fault_id=fault_id, kind=model.type, family=model.family,
                      target=model.target(), params=adapter.prepare())
        adapter.inject()
        record.append("fault_injected", fault_id=fault_id)
    record.close()
    assert state(shop, "inventory")["Status"] == "exited"
    assert exec_out(shop, "api", CGROUP_CPU)[1] == "30000"
    # The harness is gone; all that is left is its journal.
    messages, complete = ledger.replay(run_dir, shop.plan.run_id, shop.client)
    try:
        assert complete and len(messages) == 2, messages
        assert state(shop, "inventory")["Status"] == "running"
        assert exec_out(shop, "api", CGROUP_CPU)[1] == "-1"
        reverts = [e for e in read_journal(run_dir / "journal.jsonl") if e["event"] == "fault_reverted"]
        assert [(e["fault_id"], e["reason"]) for e in reverts] == [("f2", "clean"), ("f1", "clean")]
        assert ledger.replay(run_dir, shop.plan.run_id, shop.client) == ([], True)
    finally:
        wait_healthy(shop, "inventory")


# ---- resource faults ------------------------------------------------------------------------

CGROUP_MEMORY = "cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/memory/memory.memsw.limit_in_bytes"
# CPU seconds one busy process gets in 1.5 s of wall time.
BUSY = ("python3 -c \"import time; end = time.monotonic() + 1.5\n"
        "while time.monotonic() < end: pass\nprint(time.process_time())\"")


def test_cpu_limit_throttles_and_revert_restores_the_cgroup(shop):
    cgroup_before = exec_out(shop, "api", CGROUP_CPU)[1]
    cpu = fault(shop, spec.Cpu(type="cpu", service="api", cpus=0.2, duration=5))
    host_config = container(shop, "api").attrs["HostConfig"]
    ledgered = cpu.prepare()
    assert ledgered["containers"][0]["before"] == {k: host_config[k] for k in ("NanoCpus", "CpuQuota", "CpuPeriod")}
    cpu.inject()
    try:
        limited = container(shop, "api").attrs["HostConfig"]
        cgroup_limited = exec_out(shop, "api", CGROUP_CPU)[1]
        code, cpu_seconds = exec_out(shop, "api", BUSY)
    finally:
        cpu.revert()
    assert (limited["CpuQuota"], limited["CpuPeriod"]) == (20_000, 100_000)
    assert cgroup_limited == "20000"
    assert code == 0 and float(cpu_seconds) < 0.5, cpu_seconds  # 0.2 CPU for 1.5 s is 0.3 CPU-seconds
    assert exec_out(shop, "api", CGROUP_CPU)[1] == cgroup_before == "-1"
    assert container(shop, "api").attrs["HostConfig"]["CpuQuota"] == -1  # Docker cannot write 0 back


def test_memory_limit_ooms_a_big_allocation_and_revert_lifts_it(shop):
    cgroup_before = exec_out(shop, "api", CGROUP_MEMORY)[1]
    memory = fault(shop, spec.Memory(type="memory", service="api", memory="64MB", duration=5))
    memory.inject()
    try:
        limited = container(shop, "api").attrs["HostConfig"]
        big, _ = exec_out(shop, "api", "python3 -c 'b = bytearray(160 * 1024 * 1024); print(len(b))'")
        small, _ = exec_out(shop, "api", "python3 -c 'b = bytearray(8 * 1024 * 1024); print(len(b))'")
    finally:
        memory.revert()
    assert limited["Memory"] == limited["MemorySwap"] == 64 * 1024 * 1024
    assert big == 137 and small == 0  # the allocation over the limit is OOM-killed, the small one is fine
    assert exec_out(shop, "api", CGROUP_MEMORY)[1] == cgroup_before
    assert state(shop, "api")["Status"] == "running" and not state(shop, "api")["OOMKilled"]
    assert exec_out(shop, "api", "python3 -c 'b = bytearray(160 * 1024 * 1024)'")[0] == 0


def test_a_memory_limit_below_what_the_target_uses_is_a_clear_environment_problem(shop):
    before = container(shop, "api").attrs["HostConfig"]["Memory"]
    memory = fault(shop, spec.Memory(type="memory", service="api", memory="1MB", duration=5))
    with pytest.raises(EnvironmentProblem, match=r"^memory fault on api: the engine refused the limit: .+"):
        memory.inject()
    memory.revert()  # what a run does next: idempotent, and nothing was changed
    assert container(shop, "api").attrs["HostConfig"]["Memory"] == before
    assert state(shop, "api")["Status"] == "running"


def test_limits_a_container_had_are_restored_exactly(docker_client):
    """An attached container may come with limits of its own: the revert writes back exactly those."""
    box = docker_client.containers.run("chaos-base:bookworm", ["sleep", "60"], detach=True,
                                       nano_cpus=1_500_000_000, mem_limit="256m", memswap_limit="384m",
                                       labels={"chaos.test": "resources"})
    try:
        before = {k: box.attrs["HostConfig"][k] for k in ("NanoCpus", "CpuQuota", "Memory", "MemorySwap")}
        fake = type("S", (), {"client": docker_client, "containers": {"box": box.id},
                              "instances": lambda self: {"box": box.id},
                              "plan": type("P", (), {"seed": 1})()})()
        for model in (spec.Cpu(type="cpu", service="box", cpus=0.3, duration=1),
                      spec.Memory(type="memory", service="box", memory="32MB", duration=1)):
            adapter = fault(fake, model)
            adapter.inject()
            box.reload()
            changed = {k: box.attrs["HostConfig"][k] for k in before}
            adapter.revert()
            adapter.revert()
            box.reload()
            assert {k: box.attrs["HostConfig"][k] for k in before} == before
            assert changed != before
        assert changed["Memory"] == 32 * 1024 * 1024
    finally:
        box.remove(force=True)


# ---- target selection -------------------------------------------------------------------------

TRIO = """\
name: selection-test
targets:
  services:
    a: {image: chaos-base:bookworm, command: [sleep, "300"], labels: {tier: x}}
    b: {image: chaos-base:bookworm, command: [sleep, "300"], labels: {tier: x}}
    c: {image: chaos-base:bookworm, command: [sleep, "300"], labels: {tier: x}}
    d: {image: chaos-base:bookworm, command: [sleep, "300"], labels: {tier: y}}
load:
  locustfile: @REPO@/targets/shop/locustfile.py
  target: a:80
"""


@pytest.fixture
def trio(docker_client, tmp_path_factory, leftovers):
    system = make_system(docker_client, tmp_path_factory, TRIO)
    bystander = docker_client.containers.run("chaos-base:bookworm", ["sleep", "300"], detach=True,
                                             labels={"tier": "x", "chaos.service": "a", "chaos.test": "bystander"})
    try:
        system.up(health_timeout=60)
        yield system, bystander
    finally:
        system.down()
        bystander.remove(force=True)
        assert leftovers(docker_client, system.plan.run_id) == []


def test_label_random_fraction_is_seeded_and_never_leaves_the_run(trio):
    system, bystander = trio
    model = spec.Pause(type="pause", label="tier=x", pick="random", fraction="50%", duration=1)
    first = fault(system, model)
    chosen = [c["service"] for c in first.prepare()["containers"]]
    assert len(chosen) == 2 and set(chosen) <= {"a", "b", "c"}, chosen  # 50 % of 3, rounded up; d is tier=y
    assert [c["service"] for c in fault(system, model).prepare()["containers"]] == chosen, "same seed, same draw"
    first.inject()
    try:
        paused = {name: state(system, name)["Paused"] for name in "abcd"}
        bystander.reload()
        bystander_paused = bystander.attrs["State"]["Paused"]
    finally:
        first.revert()
    assert paused == {name: name in chosen for name in "abcd"}
    assert bystander_paused is False, "a container the run did not start is never touched, whatever its labels"
    assert not any(state(system, name)["Paused"] for name in "abcd")
    one = fault(system, spec.Kill(type="kill", services=["a", "b", "c"], pick="one", duration=1), "f2")
    assert len(one.prepare()["containers"]) == 1
