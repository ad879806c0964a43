"""Attach mode: adopt a container the user already runs, fault it, and leave it exactly as found."""

from __future__ import annotations

import json
import uuid

import pytest
from support.e2e import REPO, chaos_command, finish, journal, only_run_dir
from support.from_outside import assert_nothing_left

EXPERIMENT = """\
name: e2e-attach
targets:
  attach:
    web: {{name: {name}}}
load:
  scenario:
    - {{path: /, name: "GET /"}}
  target: web:8000
  users: 3
phases: {{warmup: 1s, baseline: 5s, recovery: 3s}}
faults:
  - {{type: latency, link: "load -> web:8000", latency: 200ms, duration: 8s}}
  - {{type: pause, service: web, at: 1s, duration: 1s}}
steady_state:
  - {{name: fast, metric: latency.p50, max: 100ms, phases: [baseline, fault]}}
abort:
  - {{metric: error_rate, max: 100%, for: 5s}}
"""


@pytest.fixture
def users_container(docker_client):
    """A container the user started themselves, on their own network: the harness must not keep anything of it."""
    tag = f"chaos-test-attach-{uuid.uuid4().hex[:8]}"
    network = docker_client.networks.create(tag, labels={"chaos.test": tag})
    container = docker_client.containers.run(
        "chaos-base:bookworm", ["python3", "-m", "http.server", "8000"], name=tag, detach=True, network=tag,
        labels={"chaos.test": tag})
    try:
        yield container
    finally:
        container.remove(force=True)
        network.remove()


def test_attached_container_is_faulted_and_left_as_found(tmp_path, docker_client, users_container):
    path = tmp_path / "attach.yaml"
    path.write_text(EXPERIMENT.format(name=users_container.name))
    users_container.reload()
    before = {"labels": dict(users_container.labels), "id": users_container.id,
              "started": users_container.attrs["State"]["StartedAt"]}
    code, output = finish(chaos_command("run", str(path), "--report-dir", "reports", cwd=tmp_path))
    run_dir = only_run_dir(tmp_path / "reports")
    assert code == 1, output  # 200 ms on the edge link breaks the 100 ms hypothesis in the fault phase
    events = journal(run_dir)
    assert any(e["event"] == "target_attached" and e["container_id"] == users_container.id for e in events)
    reverted = {e["fault_id"] for e in events if e["event"] == "fault_reverted"}
    assert reverted == {"f1", "f2"}
    users_container.reload()
    assert users_container.status == "running", "the attached container is unpaused and still running"
    assert set(users_container.attrs["NetworkSettings"]["Networks"]) == {users_container.name}
    after = {"labels": dict(users_container.labels), "id": users_container.id,
             "started": users_container.attrs["State"]["StartedAt"]}
    assert after == before, "same container, same labels, never restarted"
    checks = {c["phase"]: c["verdict"] for c in json.loads((run_dir / "summary.json").read_text())["checks"]}
    assert checks == {"baseline": "held", "fault": "deviated"}
    assert_nothing_left(docker_client, run_dir)
    code, output = finish(chaos_command("clean", "--run", run_dir.name, cwd=tmp_path))
    users_container.reload()
    assert users_container.status == "running", "chaos clean never touches what it did not start"


def test_attach_to_a_missing_container_is_an_environment_error(tmp_path):
    path = tmp_path / "attach.yaml"
    path.write_text(EXPERIMENT.format(name="no-such-container-" + uuid.uuid4().hex[:6]))
    code, output = finish(chaos_command("run", str(path), "--report-dir", "reports", cwd=tmp_path))
    assert code == 4, output
    assert "expected one container named" in output
