"""2. System start: from `chaos run` being started until every target is healthy (the journal's
``system_healthy``), against a short script that starts the same containers with the docker SDK and
waits for the same health checks.

System: the shop (targets/shop: redis, inventory, api v1) with its link ``api -> redis:6379`` and the
edge link ``load -> api:8080``. The baseline script (``python -m bench.startup BENCH_ID``, a fresh
process like `chaos run`, so both pay interpreter start and imports) creates the network, the two
Toxiproxy containers and their proxies, then the targets in dependency order, each started once its
``service_healthy`` dependencies are healthy, with the api's ``/etc/hosts`` entry pointing ``redis`` at its
link proxy, and finally waits until every target is healthy. The harness run is stopped (SIGINT: it
reverts and tears down as for a Ctrl-C) as soon as ``system_healthy`` is in its journal.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time

import yaml

from bench.common import (
    BENCH_LABEL, ROOT, Result, Settings, first, load_average, median, run_chaos, with_load, write_experiment,
)

SHOP = ROOT / "targets" / "shop"
TARGET = 1.3
DURATION = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m)$")


def experiment() -> dict:
    return {
        "name": "bench-startup",
        "description": "system start of the shop; stopped once healthy",
        "targets": {"compose": str(SHOP / "compose.yaml")},
        "links": ["api -> redis:6379"],
        "load": {"locustfile": str(SHOP / "locustfile.py"), "user_classes": ["ShopUser"], "target": "api:8080",
                 "users": 2, "spawn_rate": 2},
        "phases": {"warmup": "2s", "baseline": "30s", "recovery": "0s"},
    }


def harness_side(settings: Settings) -> dict:
    load_before = load_average()
    run = run_chaos(settings, write_experiment(settings, "bench-startup", experiment()),
                    stop_when=lambda events: first(events, "system_healthy") is not None)
    started, healthy = first(run.events, "run_started"), first(run.events, "system_healthy")
    if healthy is None:
        raise RuntimeError(f"chaos run never reported system_healthy (exit {run.exit_code}):\n{run.output[-2000:]}")
    return {"seconds": healthy["wall"] - run.launched_wall, "cli": started["wall"] - run.launched_wall,
            "load": (load_before, load_average()), "run_id": run.run_dir.name}


def baseline_side(settings: Settings) -> dict:
    load_before = load_average()
    launched = time.time()
    done = subprocess.run([sys.executable, "-m", "bench.startup", settings.bench_id], capture_output=True, text=True,
                          cwd=str(ROOT), timeout=300)
    if done.returncode != 0:
        raise RuntimeError(f"baseline start failed:\n{done.stdout[-1000:]}{done.stderr[-2000:]}")
    report = json.loads(done.stdout.strip().splitlines()[-1])
    return {"seconds": report["healthy_wall"] - launched, "load": (load_before, load_average())}


def run(settings: Settings) -> Result:
    started = time.monotonic()
    pairs = settings.pick(3, 1)
    base, harness = [], []
    for _ in range(pairs):
        base.append(baseline_side(settings))
        harness.append(harness_side(settings))
    ratios = [h["seconds"] / b["seconds"] for b, h in zip(base, harness)]
    figures = {}
    for i, (b, h) in enumerate(zip(base, harness), 1):
        figures[f"pair {i} docker SDK script"] = with_load(f"{b['seconds']:.2f} s", b["load"])
        figures[f"pair {i} chaos run"] = with_load(
            f"{h['seconds']:.2f} s (of which {h['cli']:.2f} s before run_started: interpreter, imports, "
            f"validation, plan)", h["load"])
    figures["pair ratios"] = ", ".join(f"{r:.3f}" for r in ratios)
    ratio = median(ratios)
    result = Result("startup", "System start until all targets are healthy: chaos run vs docker SDK script", ratio,
                    "chaos run seconds / docker SDK script seconds", f"<= {TARGET}", ratio <= TARGET, figures,
                    ["shop: redis, inventory, api v1 (healthchecks every 1 s), links api -> redis:6379 and the edge"])
    result.run_ids = [h["run_id"] for h in harness]
    result.seconds = time.monotonic() - started
    return result


# ---- the baseline script (a process of its own) ------------------------------------------------


def _seconds(text) -> float:
    number, unit = DURATION.match(str(text)).groups()
    return float(number) * {"ms": 0.001, "s": 1.0, "m": 60.0}[unit]


def _healthcheck(spec: dict) -> dict:
    test = spec["test"]
    return {"test": ["CMD-SHELL", test] if isinstance(test, str) else test,
            "interval": int(_seconds(spec["interval"]) * 1e9), "timeout": int(_seconds(spec["timeout"]) * 1e9),
            "retries": int(spec["retries"])}


def _healthy(container) -> None:
    while True:
        container.reload()
        if container.attrs["State"].get("Health", {}).get("Status") == "healthy":
            return
        if container.attrs["State"]["Status"] in ("exited", "dead"):
            raise RuntimeError(f"{container.name} exited")
        time.sleep(0.05)


def _substitute(text: str) -> str:
    """Compose's ``${VAR:-default}`` (the shop uses nothing else), from the environment as `chaos run` does."""
    return re.sub(r"\$\{(\w+):-([^}]*)\}", lambda m: os.environ.get(m.group(1)) or m.group(2), text)


def _start_shop(bench_id: str) -> float:
    import docker
    import requests

    from chaos.images import TOXIPROXY_IMAGE

    client = docker.from_env(timeout=60)
    labels = {BENCH_LABEL: bench_id}
    compose = yaml.safe_load(_substitute((SHOP / "compose.yaml").read_text()))
    name = f"bench-{bench_id}-startup-{os.getpid()}"
    client.networks.create(name, driver="bridge", labels=labels)
    proxies = {}
    for link, upstream, port, published in (("edge", "api", 8080, True), ("api-redis", "redis", 6379, False)):
        ports = {"8474/tcp": ("127.0.0.1", None)}
        if published:
            ports[f"{port}/tcp"] = ("127.0.0.1", None)
        container = client.containers.run(TOXIPROXY_IMAGE, detach=True, name=f"{name}-{link}", labels=labels,
                                          network=name, ports=ports)
        container.reload()
        api_port = container.attrs["NetworkSettings"]["Ports"]["8474/tcp"][0]["HostPort"]
        session = requests.Session()
        while True:
            try:
                session.get(f"http://127.0.0.1:{api_port}/version", timeout=1)
                break
            except requests.RequestException:
                time.sleep(0.05)
        session.post(f"http://127.0.0.1:{api_port}/proxies", timeout=2, json={
            "name": link, "listen": f"0.0.0.0:{port}", "upstream": f"{upstream}:{port}", "enabled": True})
        proxies[link] = container.attrs["NetworkSettings"]["Networks"][name]["IPAddress"]
    started = {}
    for service in ("redis", "inventory", "api"):  # the compose file's dependency order
        spec = compose["services"][service]
        for dependency, condition in (spec.get("depends_on") or {}).items():
            if condition["condition"] == "service_healthy":
                _healthy(started[dependency])
        ports = {f"{str(p).rsplit(':', 1)[-1]}/tcp": ("127.0.0.1", None) for p in spec.get("ports", [])}
        started[service] = client.containers.run(
            spec["image"], detach=True, name=f"{name}-{service}", hostname=service, labels=labels,
            environment=spec.get("environment"), ports=ports, healthcheck=_healthcheck(spec["healthcheck"]),
            extra_hosts={"redis": proxies["api-redis"]} if service == "api" else None, network=name,
            networking_config={name: client.api.create_endpoint_config(aliases=[service])})
    for container in started.values():
        _healthy(container)
    return time.time()


def _remove(bench_id: str) -> None:
    from bench.common import clean

    clean(bench_id)


if __name__ == "__main__":
    bench_id = sys.argv[1]
    try:
        healthy_wall = _start_shop(bench_id)
    finally:
        _remove(bench_id)
    print(json.dumps({"healthy_wall": healthy_wall}))
