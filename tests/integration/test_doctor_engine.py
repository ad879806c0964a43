"""`chaos doctor` against the real engine, and against an engine that is not there."""

import os
import subprocess
import sys

import docker
import pytest

from chaos import doctor
from chaos.doctor import Status
from chaos.images import REQUIRED_IMAGES

pytestmark = pytest.mark.integration


def _run_doctor(env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "chaos.doctor"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_doctor_passes_on_a_machine_after_setup():
    checks = doctor.run_checks()
    unmet = [f"{c.status.value} {c.name}: {c.detail}" for c in checks if c.status is not Status.PASS]
    assert unmet == [], "run `make setup` first:\n" + "\n".join(unmet)


def test_doctor_leaves_no_container_behind():
    client = docker.from_env(timeout=30)
    try:
        before = {c.id for c in client.containers.list(all=True, filters={"label": "chaos.experiment=doctor"})}
        doctor.run_checks()
        after = {c.id for c in client.containers.list(all=True, filters={"label": "chaos.experiment=doctor"})}
    finally:
        client.close()
    assert after - before == set()


def test_doctor_exits_zero_and_prints_one_line_per_requirement():
    result = _run_doctor(dict(os.environ))
    lines = result.stdout.splitlines()
    assert result.returncode == 0, result.stdout + result.stderr
    assert "\x1b" not in result.stdout
    requirements = 2 + len(REQUIRED_IMAGES) + 4  # engine, permission, images, toxiproxy run, iptables, faketime, compose
    assert len(lines) == requirements + 1  # and the summary
    assert lines[-1].startswith("all ") and lines[-1].endswith(" requirements met")


def test_doctor_names_the_engine_when_docker_host_points_at_nothing():
    env = dict(os.environ, DOCKER_HOST="unix:///tmp/nonexistent.sock")
    env.pop("DOCKER_CONTEXT", None)
    result = _run_doctor(env)
    assert result.returncode != 0
    engine_line = next(line for line in result.stdout.splitlines() if "docker engine" in line)
    assert engine_line.startswith("FAIL")
    assert "unix:///tmp/nonexistent.sock" in engine_line
    assert "Traceback" not in result.stderr
