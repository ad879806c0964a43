"""`chaos clean` against the real engine removes only what it can prove it owns and is not in use.

On one engine at once: a run whose harness is dead (removed), a run whose things carry the lease of a process
that ended (removed), a run with no lease nor registration (left: another user's, or an older harness's), a run
whose harness lives (kept, and removed by `--all --run` only), a pytest pool's system (kept), a game day between its steps (kept), a container nobody
labelled and one made from an image labelled ``chaos.managed=true`` (Docker copies image labels onto the
container: both kept). Plain `--all` refuses and names what it would take."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import docker.errors
import pytest

from chaos import ledger
from chaos.journal import read_journal
from chaos.labels import EXPERIMENT, LEASE, MANAGED, ROLE, RUN
from chaos.testkit import SystemPool, SystemSpec

REPO = Path(__file__).resolve().parents[2]
TEST = "chaos.test"

STEP = """\
name: clean-day-step
targets:
  compose: {compose}
load:
  scenario:
    - {{path: /, name: "GET /"}}
  target: web:8000
  users: 2
phases: {{warmup: 1s, baseline: 2s, recovery: 1s}}
faults:
  - {{type: latency, link: "load -> web:8000", latency: 10ms, duration: 1s}}
"""
DAY = """\
title: clean between steps
owners: [e2e@example.invalid]
system:
  targets:
    compose: {compose}
pause: 300s
steps:
  - {{experiment: step.yaml, name: first}}
  - {{experiment: step.yaml, name: second}}
report:
  dir: reports
"""
COMPOSE = """\
services:
  web:
    image: chaos-base:bookworm
    command: [python3, -m, http.server, "8000"]
    ports: ["8000"]
"""


def chaos(*args: str, env: dict, cwd: Path, **popen) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "chaos.cli", *args], cwd=cwd, env={**os.environ, **env},
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **popen)


def chaos_done(*args: str, env: dict, cwd: Path) -> tuple[int, str]:
    output, _ = (process := chaos(*args, env=env, cwd=cwd)).communicate(timeout=120)
    return process.returncode, output


class Engine:
    """What the test starts, labelled with its own tag, removed by that tag at the end."""

    def __init__(self, client, tag: str):
        self.client, self.tag = client, tag

    def run_resources(self, run_id: str, lease: str | None = None) -> list[str]:
        """A network and a container as the harness labels them for ``run_id``; returns their ids."""
        labels = {MANAGED: "true", RUN: run_id, EXPERIMENT: "clean-test", ROLE: "target", TEST: self.tag,
                  **({LEASE: lease} if lease else {})}
        network = self.client.networks.create(f"chaos-{run_id}", labels={**labels, ROLE: "network"})
        container = self.client.containers.run("chaos-base:bookworm", ["sleep", "300"], detach=True,
                                               network=network.name, labels=labels)
        return [network.id, container.id]

    def plain_container(self, image: str = "chaos-base:bookworm") -> str:
        return self.client.containers.run(image, ["sleep", "300"], detach=True, labels={TEST: self.tag}).id

    def image_labelled_managed(self) -> str:
        dockerfile = f"FROM chaos-base:bookworm\nLABEL {MANAGED}=true {TEST}={self.tag}\n"
        image, _ = self.client.images.build(fileobj=io.BytesIO(dockerfile.encode()), tag=f"chaos-test-{self.tag}",
                                            rm=True)
        return image.tags[0]

    def exists(self, object_id: str) -> bool:
        for collection in (self.client.containers, self.client.networks):
            try:
                collection.get(object_id)
                return True
            except docker.errors.NotFound:
                continue
        return False

    def remove_all(self) -> None:
        for container in self.client.containers.list(all=True, filters={"label": f"{TEST}={self.tag}"}):
            container.remove(force=True, v=True)
        for network in self.client.networks.list(filters={"label": f"{TEST}={self.tag}"}):
            network.remove()
        for image in self.client.images.list(filters={"label": f"{TEST}={self.tag}"}):
            self.client.images.remove(image.id, force=True)


@pytest.fixture
def state(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    return {"XDG_STATE_HOME": str(tmp_path / "state"), "PYTHONPATH": str(REPO)}


@pytest.fixture
def engine(docker_client):
    owned = Engine(docker_client, uuid.uuid4().hex[:8])
    try:
        yield owned
    finally:
        owned.remove_all()


def register_dead_run(run_id: str, run_dir: Path, env: dict) -> str:
    """Registered by a harness process that has ended since (as after SIGKILL); returns that process's lease."""
    run_dir.mkdir(parents=True)
    code = f"from chaos import ledger; ledger.register({run_id!r}, {str(run_dir)!r}); print(ledger.lease())"
    done = subprocess.run([sys.executable, "-c", code], env={**os.environ, **env}, check=True, timeout=60,
                          capture_output=True, text=True)
    return done.stdout.strip()


def game_day_between_steps(tmp_path: Path, env: dict) -> tuple[subprocess.Popen, str]:
    """A game day whose first step is done, pausing 300 s before its second; returns (process, day id)."""
    compose = tmp_path / "compose.yaml"
    compose.write_text(COMPOSE)
    (tmp_path / "step.yaml").write_text(STEP.format(compose=compose))
    (tmp_path / "day.yaml").write_text(DAY.format(compose=compose))
    process = chaos("gameday", "run", "day.yaml", "--now", env=env, cwd=tmp_path)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and process.poll() is None:
        for journal in (tmp_path / "reports" / "gamedays").glob("*/*/journal.jsonl"):
            if not journal.parent.is_symlink() and any(e["event"] == "pause_started" for e in read_journal(journal)):
                return process, journal.parent.name
        time.sleep(0.2)
    process.kill()
    raise AssertionError(f"the game day did not reach its pause: {process.communicate()[0]}")


def test_clean_removes_only_dead_runs_it_can_prove_it_owns(tmp_path, state, engine, docker_client):
    dead_id, live_id = f"dead-{engine.tag}", f"live-{engine.tag}"
    dead = engine.run_resources(dead_id)
    ended_lease = register_dead_run(dead_id, tmp_path / "runs" / dead_id, state)
    kept_by_ended_run = engine.run_resources(f"kept-{engine.tag}", lease=ended_lease)  # unregistered, lease over
    older = engine.run_resources(f"older-{engine.tag}")  # no lease, not registered: its owner is unknown
    live = engine.run_resources(live_id)
    ledger.register(live_id, tmp_path / "runs" / live_id)  # this process: its harness is alive
    users_own = [engine.plain_container(), engine.plain_container(engine.image_labelled_managed())]
    pool = SystemPool()
    day, day_id = None, None
    try:
        (tmp_path / "compose.yaml").write_text(COMPOSE)
        fixture_system = pool.acquire(SystemSpec.from_compose(tmp_path / "compose.yaml", links=()), "session")
        fixture_ids = list(fixture_system.system.containers.values()) + [fixture_system.system.network_id]
        (tmp_path / "day").mkdir()
        day, day_id = game_day_between_steps(tmp_path / "day", state)
        day_ids = [c.id for c in docker_client.containers.list(all=True, filters={"label": f"{RUN}={day_id}"})]
        assert day_ids, "the day's system is up between its steps"
        kept = live + older + users_own + fixture_ids + day_ids

        code, output = chaos_done("clean", env=state, cwd=tmp_path)
        assert code == 0, output
        assert not any(engine.exists(i) for i in dead + kept_by_ended_run), output
        assert all(engine.exists(i) for i in kept), output
        removed = [line for line in output.splitlines() if line.startswith("removed ")]
        assert len(removed) == 4, output  # the two runs' containers and networks, nothing of anyone else
        assert f"run {live_id} (pid {os.getpid()}) is still running" in output
        assert f"run older-{engine.tag}: left, its owner cannot be proven gone" in output

        code, output = chaos_done("clean", "--all", env=state, cwd=tmp_path)
        assert code == 2, output
        for named in (f"run {live_id}", f"game day {day_id}", f"pytest system {fixture_system.run_id}"):
            assert named in output, output
        assert all(engine.exists(i) for i in kept), output

        code, output = chaos_done("clean", "--all", "--run", live_id, env=state, cwd=tmp_path)
        assert code == 0, output
        assert not any(engine.exists(i) for i in live), output
        assert all(engine.exists(i) for i in older + users_own + fixture_ids + day_ids), output
    finally:
        ledger.unregister(live_id)
        if day is not None:
            day.send_signal(signal.SIGTERM)
            day.communicate(timeout=120)
        pool.close()
    assert not docker_client.containers.list(all=True, filters={"label": f"{RUN}={day_id}"}), "the day took its own down"
