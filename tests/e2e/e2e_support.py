"""Helpers for the end-to-end tests (the `chaos` command run as a user runs it). A plain module, not the
conftest, so that test modules can import it whatever else pytest has imported as `conftest`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path


REPO = Path(__file__).resolve().parents[2]
CHAOS = [sys.executable, "-m", "chaos.cli"]
SHOP_LOCUSTFILE = "@REPO@/targets/shop/locustfile.py"
QUICK_PHASES = "{warmup: 1s, baseline: 3s, recovery: 2s}"
SHORT_PHASES = "{warmup: 2s, baseline: 6s, recovery: 3s}"


def shop_load(users: int, phases: str = QUICK_PHASES, locustfile: str = SHOP_LOCUSTFILE) -> str:
    """An e2e experiment's `load:` and `phases:` on the shop: ShopUser against api, every user spawned at once."""
    return f"""\
load:
  locustfile: {locustfile}
  user_classes: [ShopUser]
  target: api:8080
  users: {users}
  spawn_rate: {users}
phases: {phases}
"""


def shop_head(name: str, users: int, phases: str = QUICK_PHASES, *, link: bool = True,
              locustfile: str = SHOP_LOCUSTFILE) -> str:
    """The head of an e2e experiment on the shop's compose file, up to its faults: the api -> redis link unless
    ``link`` is False, and `shop_load`'s load and phases."""
    return (f"name: {name}\ntargets:\n  compose: @REPO@/targets/shop/compose.yaml\n"
            + ("links:\n  - api -> redis:6379\n" if link else "") + shop_load(users, phases, locustfile))


# The shop's inventory service, started skewable (libfaketime preloaded), as an entry of `targets.services`.
SKEWABLE_INVENTORY = """\
    inventory:  # the shop's own, started skewable
      image: chaos-shop-inventory:1
      clock: skewable
      environment: {REDIS_HOST: redis, REDIS_PORT: "6379", RESERVATION_TTL_S: "30"}
      depends_on: {redis: {condition: service_healthy}}
      healthcheck:
        test: [CMD, python3, -c, "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8081/health', timeout=1)"]
        interval: 500ms
        retries: 60
"""


# A short experiment on the shop (v1): phases of seconds, one latency fault on api -> redis.
SHORT = shop_head("e2e-${CASE}", 5, SHORT_PHASES,
                  locustfile="${LOCUSTFILE:-@REPO@/targets/shop/locustfile.py}") + """\
faults:
  - name: slow redis
    type: latency
    link: api -> redis:6379
    latency: ${FAULT_LATENCY:-300ms}
    at: 0s
    duration: ${FAULT_FOR:-6s}
steady_state:
  - name: reads fast
    metric: latency.p90
    max: ${LAT_MAX:-500ms}
    phases: [baseline, fault]
abort:
  - metric: latency.p99
    max: ${ABORT_P99:-30s}
    for: 2s
"""


def chaos_command(*args: str, cwd: Path, env: dict | None = None, **popen) -> subprocess.Popen:
    full_env = {**os.environ, "API_VERSION": "v1", **(env or {})}
    return subprocess.Popen([*CHAOS, *args], cwd=cwd, env=full_env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, **popen)


def only_run_dir(reports: Path) -> Path:
    dirs = [p for p in reports.glob("*/*") if p.is_dir() and not p.is_symlink()]
    assert len(dirs) == 1, dirs
    return dirs[0]


def journal(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "journal.jsonl").read_text().splitlines() if line.strip()]


def wait_for_event(reports: Path, event: str, timeout: float = 90.0) -> Path:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for path in reports.glob("*/*/journal.jsonl"):
            if path.parent.is_symlink():  # the `latest` link
                continue
            if any(e["event"] == event for e in journal(path.parent)):
                return path.parent
        time.sleep(0.1)
    raise AssertionError(f"no {event} within {timeout}s")


def assert_every_fault_reverted(events: list[dict]) -> None:
    injected = [e["fault_id"] for e in events if e["event"] == "fault_injected"]
    reverted = [e["fault_id"] for e in events if e["event"] == "fault_reverted"]
    assert injected, "the test meant to catch a fault in flight"
    assert sorted(injected) == sorted(reverted)
    for fault_id in injected:
        revert_seq = next(e["seq"] for e in events if e["event"] == "fault_reverted" and e["fault_id"] == fault_id)
        stop_seq = next((e["seq"] for e in events if e["event"] == "load_stopped"), 10**9)
        assert revert_seq < stop_seq, "faults are reverted before anything else is torn down"


def assert_nothing_left(client, run_dir: Path) -> None:
    run_id = run_dir.name
    selector = {"label": f"chaos.run={run_id}"}
    assert client.containers.list(all=True, filters=selector) == []
    assert client.networks.list(filters=selector) == []
    assert client.volumes.list(filters=selector) == []
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and _locust_running(run_dir):
        time.sleep(0.2)
    assert not _locust_running(run_dir), "a Locust process outlived its run"


def _locust_running(run_dir: Path) -> bool:
    marker = str(run_dir / "samples.csv").encode()
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                if marker in Path(f"/proc/{pid}/environ").read_bytes():
                    return True
            except OSError:
                pass
    return False


def sigkill_when(process: subprocess.Popen, ready):
    """SIGKILLs ``process`` as soon as ``ready()`` returns, and returns what it returned (e.g. the run dir once a
    fault is in flight). Whatever happens, the process does not outlive this call."""
    try:
        found = ready()
        process.kill()
        process.wait(10)
    finally:
        if process.poll() is None:
            process.kill()
    return found


def finish(process: subprocess.Popen, timeout: float = 120) -> tuple[int, str]:
    output, _ = process.communicate(timeout=timeout)
    return process.returncode, output



# ---- what a run left, seen from outside the harness (the engine, Toxiproxy, the targets themselves) ----

def run_containers(client, run_id: str, role: str | None = None) -> list:
    labels = [f"chaos.run={run_id}"] + ([f"chaos.role={role}"] if role else [])
    return client.containers.list(all=True, filters={"label": labels})


def service_container(client, run_id: str, service: str):
    [container] = client.containers.list(all=True, filters={"label": [f"chaos.run={run_id}",
                                                                       f"chaos.service={service}"]})
    return container


def published_port(container, port: int) -> int:
    container.reload()
    bindings = container.attrs["NetworkSettings"]["Ports"].get(f"{port}/tcp") or []
    return next(int(b["HostPort"]) for b in bindings if b.get("HostPort"))


def toxiproxy_state(client, run_id: str, running_only: bool = False) -> dict[str, dict]:
    """Every proxy of every link container of the run, as Toxiproxy's own API lists it: name -> proxy."""
    import urllib.request

    proxies = {}
    for container in run_containers(client, run_id, "link"):
        if running_only and container.status != "running":
            continue
        api = f"http://127.0.0.1:{published_port(container, 8474)}/proxies"
        with urllib.request.urlopen(api, timeout=5) as response:
            proxies.update(json.load(response))
    return proxies


def edge_latency_ms(client, run_id: str, path: str = "/products/1", count: int = 5) -> float:
    """Median time of ``count`` requests through the run's edge proxy (the way the load goes)."""
    import statistics
    import urllib.request

    from chaos.links import EDGE

    edge = next(c for c in run_containers(client, run_id, "link")
                if c.labels.get("chaos.link", "").startswith(f"{EDGE} -> "))
    port = edge.labels["chaos.link"].rsplit(":", 1)[1]
    url = f"http://127.0.0.1:{published_port(edge, int(port))}{path}"
    times = []
    for _ in range(count):
        started = time.monotonic()
        with urllib.request.urlopen(url, timeout=30) as response:
            response.read()
        times.append((time.monotonic() - started) * 1000)
    return statistics.median(times)


def iptables_rules(client, container, run_id: str) -> str:
    """``iptables -S`` inside the container's network namespace, read by a helper that joins it."""
    from chaos.images import HELPER_IMAGE

    return client.containers.run(HELPER_IMAGE, ["iptables", "-w", "5", "-S"], remove=True, cap_add=["NET_ADMIN"],
                                 network_mode=f"container:{container.id}",
                                 labels={"chaos.managed": "true", "chaos.run": run_id, "chaos.role": "probe"}).decode()


def wall_clock_skew_s(container) -> float:
    """The container's own wall clock (what its program sees) minus the host's."""
    before = time.time()
    code, output = container.exec_run(["python3", "-c", "import time; print(time.time())"])
    assert code == 0, output
    return float(output) - (before + time.time()) / 2


def cgroup_limits(container) -> dict[str, str]:
    """CPU quota and memory limits as the kernel holds them for the container (cgroup v1 or v2)."""
    script = ("for f in cpu/cpu.cfs_quota_us cpu/cpu.cfs_period_us memory/memory.limit_in_bytes "
              "memory/memory.memsw.limit_in_bytes cpu.max memory.max memory.swap.max; do "
              "[ -r /sys/fs/cgroup/$f ] && echo $f=$(cat /sys/fs/cgroup/$f); done; true")
    code, output = container.exec_run(["sh", "-c", script])
    assert code == 0, output
    return dict(line.split("=", 1) for line in output.decode().split())
