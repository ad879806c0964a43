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

# A short experiment on the shop (v1): phases of seconds, one latency fault on api -> redis.
SHORT = """\
name: e2e-${CASE}
targets:
  compose: @REPO@/targets/shop/compose.yaml
links:
  - api -> redis:6379
load:
  locustfile: ${LOCUSTFILE:-@REPO@/targets/shop/locustfile.py}
  user_classes: [ShopUser]
  target: api:8080
  users: 5
  spawn_rate: 5
phases: {warmup: 2s, baseline: 6s, recovery: 3s}
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


def finish(process: subprocess.Popen, timeout: float = 120) -> tuple[int, str]:
    output, _ = process.communicate(timeout=timeout)
    return process.returncode, output

