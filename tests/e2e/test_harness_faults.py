"""The harness against its own faults, on the shop (api v1), checked from outside the harness.

A link's Toxiproxy container killed mid-run, the run dir's disk filling up mid-run, and the harness
SIGKILLed at 20 seeded moments of a run: each ends with one clear message and exit 4 (or, SIGKILLed,
`chaos clean --run ID` after it), every fault reverted, and nothing of the run left: containers,
networks, volumes (the clock volume among them), iptables chains, Locust processes.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from support.e2e import REPO, SKEWABLE_INVENTORY, chaos_command, finish, journal, shop_load, wait_for_event
from support.from_outside import assert_nothing_left, run_containers, service_container, toxiproxy_state

from chaos.faults.partition import CHAIN_PREFIX

# Two links and a container fault: the test cuts one link and looks at the faults on everything else.
TWO_LINKS = """\
name: e2e-self-${CASE}
targets:
  compose: @REPO@/targets/shop/compose.yaml
  services:
    spare: {image: chaos-base:bookworm, command: [sleep, infinity]}
links:
  - api -> redis:6379
  - api -> inventory:8081
""" + shop_load(5, "{warmup: 1s, baseline: 2s, recovery: 1s}") + """\
faults:
  - {name: slow redis, type: latency, link: "api -> redis:6379", latency: 50ms, at: 0s, duration: 60s}
  - {name: slow inventory, type: latency, link: "api -> inventory:8081", latency: 50ms, at: 0s, duration: 60s}
  - {name: frozen spare, type: pause, service: spare, at: 0s, duration: 60s}
steady_state:
  - {name: reads answer, metric: latency.max, max: 60s, phases: [baseline]}
abort:
  - {metric: error_rate, max: 50%, for: 3s}
report: {formats: [json]}
"""
FAULTS = 3
CUT_LINK = "api -> redis:6379"


@pytest.fixture
def two_links(tmp_path):
    path = tmp_path / "two-links.yaml"
    path.write_text(TWO_LINKS.replace("@REPO@", str(REPO)))
    return path


def wait_injected(run_dir: Path, count: int, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while sum(e["event"] == "fault_injected" for e in journal(run_dir)) < count:
        assert time.monotonic() < deadline, f"not {count} faults injected within {timeout}s"
        time.sleep(0.1)


def assert_others_reverted(client, run_id: str) -> None:
    """Seen from Toxiproxy and the engine: no toxic on the link still up, the spare not paused."""
    proxies = toxiproxy_state(client, run_id, running_only=True)
    assert sorted(proxies) == ["api-to-inventory-8081", "load-to-api-8080"], proxies  # the cut link's proxy is gone with its container
    assert not [p for p in proxies.values() if p["toxics"]], proxies
    spare = service_container(client, run_id, "spare")
    spare.reload()
    assert not spare.attrs["State"]["Paused"], "pause: the spare is left paused"


def clean_and_check(client, tmp_path: Path, run_dir: Path, env: dict) -> None:
    code, output = finish(chaos_command("clean", "--run", run_dir.name, cwd=tmp_path, env=env))
    assert code == 0 and "Traceback" not in output, output
    assert_nothing_left(client, run_dir)


def kept_run(two_links, tmp_path, case: str, report_dir: Path):
    env = {"CASE": case, "XDG_STATE_HOME": str(tmp_path / "state")}
    process = chaos_command("run", str(two_links), "--report-dir", str(report_dir), "--keep-system",
                            cwd=tmp_path, env=env)
    return process, env


# ---- (a) a link's Toxiproxy container killed mid-run -------------------------------------------------

def test_a_killed_link_proxy_ends_the_run_with_exit_4_and_every_other_fault_reverted(two_links, tmp_path,
                                                                                      docker_client):
    """Exit 4, not 3: the links are checked on every live check, before the abort rules, so the dead proxy is
    seen within half a second of its death, while the error-rate rule's 3 s window holds at most that half
    second of failed requests (under its 50%)."""
    process, env = kept_run(two_links, tmp_path, "cut", tmp_path / "reports")
    run_dir = None
    try:
        run_dir = wait_for_event(tmp_path / "reports", "load_started", timeout=120)
        wait_injected(run_dir, FAULTS)
        [proxy] = docker_client.containers.list(filters={"label": [f"chaos.run={run_dir.name}",
                                                                    f"chaos.link={CUT_LINK}"]})
        proxy.kill()
        code, output = finish(process, timeout=120)
        assert code == 4, output
        assert f"link {CUT_LINK}: its Toxiproxy container {proxy.id[:12]} is exited (exit code 137)" in output, output
        assert "Traceback" not in output, output
        events = journal(run_dir)
        assert events[-1]["event"] == "run_ended" and events[-1]["outcome"] == "error", events[-1]
        reverted = {e["fault_id"]: e for e in events if e["event"] == "fault_reverted"}
        assert len(reverted) == FAULTS and not [e for e in events if e["event"] == "teardown_error"], events
        assert [e["fault_id"] for e in reverted.values() if "gone" in e] == ["f1"], reverted
        assert not [e for e in events if e["event"] == "abort"], "the cut link is seen before any abort rule"
        assert_others_reverted(docker_client, run_dir.name)
    finally:
        if process.poll() is None:
            process.kill()
        if run_dir is not None:
            clean_and_check(docker_client, tmp_path, run_dir, env)


# ---- (b) the run dir's disk fills up mid-run ---------------------------------------------------------

@pytest.fixture
def small_disk(tmp_path):
    disk = tmp_path / "disk"
    disk.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(disk)], check=True)
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=True)


def fill(disk: Path) -> None:
    with open(disk / "filler", "wb") as handle:
        try:
            while True:
                handle.write(b"\0" * 65536)
                handle.flush()
        except OSError:
            pass


def test_a_full_run_dir_disk_ends_the_run_with_exit_4_and_every_fault_reverted(two_links, tmp_path, docker_client,
                                                                              small_disk):
    process, env = kept_run(two_links, tmp_path, "full", small_disk)
    run_dir = None
    try:
        run_dir = wait_for_event(small_disk, "load_started", timeout=120)
        wait_injected(run_dir, FAULTS)
        fill(small_disk)
        code, output = finish(process, timeout=120)
        assert code == 4, output
        assert "the run dir's disk is full (0 bytes free)" in output, output
        assert "the reports could not be written (No space left on device)" in output, output
        assert "Traceback" not in output, output
        proxies = toxiproxy_state(docker_client, run_dir.name)  # from outside: the journal may have lost lines
        assert len(proxies) == 3 and not [p for p in proxies.values() if p["toxics"]], proxies
        spare = service_container(docker_client, run_dir.name, "spare")
        assert not spare.attrs["State"]["Paused"], "pause: the spare is left paused"
        assert not list(small_disk.glob("**/.*.partial")), "no half-written file is left"
    finally:
        if process.poll() is None:
            process.kill()
        if run_dir is not None:
            (small_disk / "filler").unlink(missing_ok=True)
            clean_and_check(docker_client, tmp_path, run_dir, env)


# ---- (c) SIGKILL at 20 moments of a run, then `chaos clean` ------------------------------------------

# Every family with something to leave behind: a toxic, iptables chains, a clock file (and its volume), a
# paused container. Short phases: a whole run is about 20 s here.
KILLED = """\
name: e2e-kill-${CASE}
targets:
  compose: @REPO@/targets/shop/compose.yaml
  services:
""" + SKEWABLE_INVENTORY + """\
links:
  - api -> redis:6379
""" + shop_load(3, "{warmup: 1s, baseline: 1s, recovery: 1s}") + """\
faults:
  - {name: slow redis, type: latency, link: "api -> redis:6379", latency: 20ms, at: 0s, duration: 2s}
  - {name: inventory cut off, type: partition, groups: [[inventory], [redis]], at: 0s, duration: 2s}
  - {name: inventory ahead, type: clock_skew, service: inventory, offset: +30s, at: 0s, duration: 2s}
  - {name: frozen inventory, type: pause, service: inventory, at: 0s, duration: 2s}
steady_state:
  - {name: reads answer, metric: latency.max, max: 60s, phases: [baseline]}
report: {formats: [json]}
"""
# 20 moments take some 7 minutes on a busy 2-core machine: the suite kills at 8 (2 per stage);
# CHAOS_SIGKILL_MOMENTS=20 runs the full set (as measured for issue 16).
KILLS = int(os.environ.get("CHAOS_SIGKILL_MOMENTS", "8"))
SEED = 16
# Stage of the run -> the journal event it starts with (None: the harness's own start).
STAGES = {"start": None, "faults": "fault_ledgered", "reverts": "fault_reverted", "teardown": "load_stopped"}


def kill_moments(seed: int = SEED, kills: int = KILLS) -> list[tuple[str, float]]:
    """(stage, seconds after the stage's first event): as many kills in each stage, at seeded random delays
    (the start stage spans the system's start, some 10 s; the others last a second or two)."""
    rng = random.Random(seed)
    spans = {"start": 12.0, "faults": 2.0, "reverts": 1.0, "teardown": 1.5}
    per_stage = kills // len(STAGES)  # the i-th kill of a stage falls in the i-th slice of its span
    return [(stage, round(spans[stage] * (i + rng.random()) / per_stage, 2)) for stage in STAGES
            for i in range(per_stage)]


def run_dirs(reports: Path) -> list[Path]:
    return [p.parent for p in reports.glob("*/*/journal.jsonl") if not p.parent.is_symlink()]


def wait_stage(process: subprocess.Popen, reports: Path, event: str | None, timeout: float = 120.0) -> bool:
    """Until the stage's first event is journaled (False if the run ended first)."""
    deadline = time.monotonic() + timeout
    while event is not None:
        if any(any(e["event"] == event for e in journal(d)) for d in run_dirs(reports)):
            return True
        if process.poll() is not None:
            return False
        assert time.monotonic() < deadline, f"no {event} within {timeout}s"
        time.sleep(0.02)
    return True


def run_id_of(output: str, reports: Path) -> str | None:
    """The run id the harness printed first (before it created anything), or its run dir's name."""
    for line in output.splitlines():
        if " run " in line and "s of load)" in line:
            return line.split(" run ", 1)[1].split()[0]
    dirs = run_dirs(reports)
    return dirs[0].name if dirs else None


def assert_nothing_of(client, experiment: str, run_id: str | None, reports: Path) -> None:
    for kind in ("containers", "networks", "volumes"):
        found = getattr(client, kind).list(**({"all": True} if kind == "containers" else {}),
                                           filters={"label": f"chaos.experiment={experiment}"})
        assert found == [], f"{kind} of {experiment} left: {found}"
    if run_id:
        assert not [v.name for v in client.volumes.list() if run_id in v.name], "a clock volume is left"
    for run_dir in run_dirs(reports):
        assert_nothing_left(client, run_dir)  # by the run label, and no Locust process of the run
    rules = subprocess.run(["iptables-save"], capture_output=True, text=True, check=True).stdout
    assert CHAIN_PREFIX not in rules, "an iptables chain is left on the host"


def kill_once(client, tmp_path: Path, experiment_file: Path, case: str, stage: str, delay: float) -> bool:
    """One run SIGKILLed ``delay`` s into ``stage``, then `chaos clean --run ID`; True if the kill landed in the
    stage (the run had not ended first)."""
    reports = tmp_path / f"reports-{case}"
    env = {"CASE": case, "XDG_STATE_HOME": str(tmp_path / "state")}
    process = chaos_command("run", str(experiment_file), "--report-dir", str(reports), cwd=tmp_path, env=env)
    try:
        in_stage = wait_stage(process, reports, STAGES[stage])
        time.sleep(delay)
        ended_first = process.poll() is not None
        process.send_signal(signal.SIGKILL)
        output, _ = process.communicate(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
    run_id = run_id_of(output, reports)
    if run_id:
        code, cleaned = finish(chaos_command("clean", "--run", run_id, cwd=tmp_path, env=env))
        assert code == 0 and "Traceback" not in cleaned, f"kill {case} ({stage} +{delay}s): {cleaned}"
    assert_nothing_of(client, f"e2e-kill-{case}", run_id, reports)
    return in_stage and not ended_first


def test_sigkill_at_seeded_moments_then_clean_leaves_nothing(tmp_path, docker_client):
    """Two runs at a time (each its own experiment name, run id and report dir)."""
    experiment_file = tmp_path / "killed.yaml"
    experiment_file.write_text(KILLED.replace("@REPO@", str(REPO)))
    started = time.monotonic()
    moments = kill_moments()
    with ThreadPoolExecutor(2) as pool:
        landed = list(pool.map(lambda numbered: kill_once(docker_client, tmp_path, experiment_file,
                                                          f"{numbered[0]:02d}", *numbered[1]), enumerate(moments)))
    print(f"\n{KILLS} SIGKILLs and cleans in {time.monotonic() - started:.0f}s; landed in their stage: "
          f"{[(stage, ok) for (stage, _), ok in zip(moments, landed)]}")
    assert sum(landed) >= KILLS - max(1, KILLS // 10), f"most kills must land inside their stage of a run: {landed}"
