"""A revert that fails for real is loud: a container the harness killed (db) cannot be started again because its
published port was taken out from under the harness (the engine refuses the start, no mock anywhere). The run
ends as an error (exit 4) with one line naming the fault and `chaos clean --run ID`; a game day stops before its
next step. Once the port is free again, `chaos clean --run ID` brings the container back."""

from __future__ import annotations

import socket
import time
import uuid

import pytest
from support.e2e import chaos_command, finish, journal, wait_for_event

# db is killed first; latency on the edge link then breaks the abort rule, whose revert of db fails: the path
# where a failed revert used to leave only a journal line behind an exit 3 (and a game day went on).
EXPERIMENT = """\
name: e2e-stuck-{case}
targets:
  attach:
    web: {{name: {name}-web}}
    db: {{name: {name}-db}}
load:
  scenario:
    - {{path: /, name: "GET /"}}
  target: web:8000
  users: 3
phases: {{warmup: 1s, baseline: 3s, recovery: 2s}}
faults:
  - {{type: kill, service: db, at: 0s, duration: 30s}}
  - {{type: latency, link: "load -> web:8000", latency: 400ms, at: 2s, duration: 28s}}
steady_state:
  - {{name: fast, metric: latency.p50, max: 100ms, phases: [baseline]}}
abort:
  - {{metric: latency.p99, max: 200ms, for: 1s}}
"""

DAY = """\
title: stuck revert
owners: [e2e@example.invalid]
system:
  targets:
    attach:
      web: {{name: {name}-web}}
      db: {{name: {name}-db}}
stop_on: never
pause: 1s
steps:
  - experiment: step.yaml
    name: first
  - experiment: step.yaml
    name: second
report:
  dir: reports
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def users_system(docker_client):
    """The user's own web server and db, on their own network; db published on a fixed loopback port (so that
    the port can be taken from it). Yields (name prefix, db container, db port)."""
    tag = f"chaos-test-stuck-{uuid.uuid4().hex[:8]}"
    port = free_port()
    network = docker_client.networks.create(tag, labels={"chaos.test": tag})
    serve = ["python3", "-m", "http.server", "8000"]
    containers = [docker_client.containers.run("chaos-base:bookworm", serve, name=f"{tag}-web", detach=True,
                                               network=tag, labels={"chaos.test": tag}),
                  docker_client.containers.run("chaos-base:bookworm", serve, name=f"{tag}-db", detach=True,
                                               network=tag, ports={"8000/tcp": ("127.0.0.1", port)},
                                               labels={"chaos.test": tag})]
    try:
        yield tag, containers[1], port
    finally:
        for container in containers:
            container.remove(force=True)
        network.remove()


def take_port_once_killed(container, port: int, timeout: float = 60.0) -> socket.socket:
    """Wait until the harness's kill took the container down (the engine then frees its port), and bind it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        container.reload()
        if container.status == "exited":
            holder = socket.socket()
            try:
                holder.bind(("127.0.0.1", port))
                holder.listen()
                return holder
            except OSError:
                holder.close()
        time.sleep(0.05)
    raise AssertionError(f"{container.name} was not killed, or its port {port} never freed, within {timeout}s")


def day_folder(gamedays, timeout: float = 60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [p for p in gamedays.glob("*/*") if p.is_dir() and not p.is_symlink()]
        if found:
            return found[0]
        time.sleep(0.1)
    raise AssertionError(f"no game day folder within {timeout}s")


def assert_loud(code: int, output: str, run_id: str, says: str = "") -> None:
    """Exit 4 and one line (starting with ``says``) naming the fault and the command that reverts it."""
    assert code == 4, output
    lines = [line for line in output.splitlines() if "still active" in line and line.strip().startswith(says)]
    assert len(lines) == 1, output
    assert "f1 (kill on db)" in lines[0] and "f2 (" not in lines[0] and f"chaos clean --run {run_id}" in lines[0], lines[0]
    assert "Traceback" not in output, output


def clean_brings_it_back(tmp_path, container, holder: socket.socket, run_id: str, env: dict) -> None:
    holder.close()
    code, output = finish(chaos_command("clean", "--run", run_id, cwd=tmp_path, env=env))
    assert code == 0, output
    assert "reverted f1 (kill on db) of run" in output, output
    container.reload()
    assert container.status == "running", "clean started the user's container again; it was never removed"


def test_a_revert_that_fails_ends_the_run_with_exit_4_and_names_the_fault(tmp_path, users_system):
    name, container, port = users_system
    path = tmp_path / "stuck.yaml"
    path.write_text(EXPERIMENT.format(case="run", name=name))
    env = {"XDG_STATE_HOME": str(tmp_path / "state")}
    process = chaos_command("run", str(path), "--report-dir", "reports", cwd=tmp_path, env=env)
    holder = None
    try:
        run_dir = wait_for_event(tmp_path / "reports", "fault_injected")
        holder = take_port_once_killed(container, port)
        code, output = finish(process)
    finally:
        if process.poll() is None:
            process.kill()
    assert_loud(code, output, run_dir.name)
    events = journal(run_dir)
    assert [e["outcome"] for e in events if e["event"] == "run_ended"] == ["error"]
    assert any(e["event"] == "abort" for e in events), "the revert that failed was the abort's"
    assert [e["fault_id"] for e in events if e["event"] == "fault_reverted"] == ["f2"], "the latency is reverted"
    assert list((tmp_path / "state" / "chaos" / "runs").glob(f"{run_dir.name}.json")), "still registered for clean"
    clean_brings_it_back(tmp_path, container, holder, run_dir.name, env)


def test_a_game_day_stops_before_its_next_step_when_a_revert_fails(tmp_path, users_system):
    name, container, port = users_system
    (tmp_path / "step.yaml").write_text(EXPERIMENT.format(case="day", name=name))
    plan = tmp_path / "day.yaml"
    plan.write_text(DAY.format(name=name))
    env = {"XDG_STATE_HOME": str(tmp_path / "state")}
    process = chaos_command("gameday", "run", str(plan), "--now", cwd=tmp_path, env=env)
    holder = None
    try:
        step_dir = wait_for_event(day_folder(tmp_path / "reports" / "gamedays") / "steps", "fault_injected")
        holder = take_port_once_killed(container, port)
        code, output = finish(process)
    finally:
        if process.poll() is None:
            process.kill()
    assert_loud(code, output, step_dir.name, says="stopping the day: step 1 ended with an error")
    day_dir = step_dir.parents[2]
    events = journal(day_dir)
    assert [e["step"] for e in events if e["event"] == "step_started"] == [1]
    assert [e["step"] for e in events if e["event"] == "step_not_run"] == [2]
    clean_brings_it_back(tmp_path, container, holder, step_dir.name, env)
