"""The end-to-end tests' side of a run: experiments on the shop, the `chaos` command run as a user runs it, its
journal. What the run left, seen from outside, is in `support.from_outside`."""

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


def redis_latency_experiment(name: str, phases: str, fault_for: str) -> str:
    """The shop (v1 unless ``API_VERSION`` says otherwise) under ``${LAT}`` of latency on api -> redis for
    ``fault_for``, with a p50 hypothesis and an abort rule loose enough never to break: for gates and comparisons,
    where the verdict of each run is not the point."""
    return shop_head(name, 5, phases) + f"""\
faults:
  - type: latency
    link: api -> redis:6379
    latency: ${{LAT}}
    at: 0s
    duration: {fault_for}
steady_state:
  - name: reads answer
    metric: latency.p50
    max: 10s
abort:
  - metric: latency.p99
    max: 30s
    for: 2s
"""


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
