"""A paused container is the classic leak: whatever ends the run, inventory is unpaused before it is torn down."""

from __future__ import annotations

import signal
import threading

import docker
import pytest
from support.e2e import REPO, chaos_command, finish, journal, shop_head, sigkill_when, wait_for_event
from support.from_outside import assert_nothing_left

PAUSE = shop_head("e2e-pause-${CASE}", 3, link=False) + """\
faults:
  - {type: pause, service: inventory, at: 0s, duration: 30s}
abort:
  - {metric: latency.p99, max: 600s, for: 2s}
"""


@pytest.fixture
def pause_experiment(tmp_path):
    path = tmp_path / "pause.yaml"
    path.write_text(PAUSE.replace("@REPO@", str(REPO)))
    return path


class ContainerEvents:
    """Docker's event stream for one container, read live (the engine's event history is short and shared)."""

    def __init__(self, container_id: str):
        self.client = docker.from_env(timeout=60)
        self.stream = self.client.events(filters={"container": container_id}, decode=True)
        self.actions: list[str] = []
        self.destroyed = threading.Event()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        try:
            for event in self.stream:
                if event.get("Type") == "container":
                    self.actions.append(event["Action"])
                    if event["Action"] == "destroy":
                        self.destroyed.set()
                        return
        except Exception:  # noqa: BLE001 - the stream is closed under us at the end
            pass

    def wait_destroyed(self, timeout: float = 60) -> list[str]:
        self.destroyed.wait(timeout)
        self.stream.close()
        self.client.close()
        return self.actions


def paused_target(run_dir) -> tuple[str, dict]:
    ledgered = next(e for e in journal(run_dir) if e["event"] == "fault_ledgered")
    [chosen] = ledgered["params"]["containers"]
    assert chosen["service"] == "inventory"
    return chosen["id"], ledgered


def assert_unpaused_before_removal(actions: list[str]) -> None:
    assert "unpause" in actions and "destroy" in actions, actions
    assert actions.index("unpause") < min(actions.index(a) for a in ("kill", "die", "destroy") if a in actions), actions


def test_sigint_mid_pause_unpauses_before_teardown(pause_experiment, tmp_path, docker_client):
    state = tmp_path / "state"
    process = chaos_command("run", str(pause_experiment), "--report-dir", "reports", cwd=tmp_path,
                            env={"CASE": "sigint", "XDG_STATE_HOME": str(state)})
    try:
        run_dir = wait_for_event(tmp_path / "reports", "fault_injected")
        container_id, _ = paused_target(run_dir)
        assert docker_client.containers.get(container_id).attrs["State"]["Paused"] is True
        assert (state / "chaos" / "runs" / f"{run_dir.name}.json").is_file(), "the run is registered"
        events = ContainerEvents(container_id)
        process.send_signal(signal.SIGINT)
        code, output = finish(process, timeout=90)
    finally:
        if process.poll() is None:
            process.kill()
    assert code == 130, output
    actions = events.wait_destroyed()
    assert_unpaused_before_removal(actions)
    records = journal(run_dir)
    revert = next(e for e in records if e["event"] == "fault_reverted")
    stopped = next(e for e in records if e["event"] == "load_stopped")
    assert revert["fault_id"] == "f1" and revert["reason"] == "teardown" and revert["seq"] < stopped["seq"]
    assert "not_healthy" not in revert
    assert records[-1]["outcome"] == "interrupted"
    assert not (state / "chaos" / "runs" / f"{run_dir.name}.json").exists(), "a finished run is unregistered"
    assert_nothing_left(docker_client, run_dir)


def test_sigkill_mid_pause_then_chaos_clean_unpauses_from_the_ledger(pause_experiment, tmp_path, docker_client):
    state = tmp_path / "state"
    env = {"CASE": "sigkill", "XDG_STATE_HOME": str(state)}
    process = chaos_command("run", str(pause_experiment), "--report-dir", "reports", cwd=tmp_path, env=env)
    run_dir = sigkill_when(process, lambda: wait_for_event(tmp_path / "reports", "fault_injected"))
    container_id, _ = paused_target(run_dir)
    assert docker_client.containers.get(container_id).attrs["State"]["Paused"] is True, "SIGKILL leaves it paused"
    assert (state / "chaos" / "runs" / f"{run_dir.name}.json").is_file()
    events = ContainerEvents(container_id)

    code, output = finish(chaos_command("clean", "--run", run_dir.name, cwd=tmp_path, env=env))

    assert code == 0, output
    assert f"reverted f1 (pause on inventory) of run {run_dir.name}" in output
    assert "removed container" in output
    assert_unpaused_before_removal(events.wait_destroyed())
    records = journal(run_dir)
    assert records[-1]["event"] == "fault_reverted" and records[-1]["reason"] == "clean"
    assert [e["seq"] for e in records] == list(range(1, len(records) + 1)), "clean goes on numbering the journal"
    assert not (state / "chaos" / "runs" / f"{run_dir.name}.json").exists()
    assert_nothing_left(docker_client, run_dir)
    code, output = finish(chaos_command("clean", "--run", run_dir.name, cwd=tmp_path, env=env))
    assert code == 0 and "reverted" not in output  # nothing left to do: idempotent
