"""What a run left, seen from outside the harness: the engine's containers, networks and volumes by the run's
label, Toxiproxy's own API, the targets themselves (their clocks, cgroups, iptables), Locust processes."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path


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
