"""Pause never meets an exec (chaos/faults/gate.py): an exec into a container the harness pauses is refused with
the reason and never reaches the engine; a pause waits for the exec in flight; a hanging try never keeps the
process alive. Threads and a fake container only: no Docker."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from chaos.faults.gate import GATE, ContainerGate, Frozen
from chaos.plan import ProbePlan
from chaos.probes import Prober, ProbeFailed, check


def test_an_exec_is_refused_from_the_pause_until_the_unpause():
    gate = ContainerGate()
    with gate.freezing("c1", "paused by fault f1"):
        pass
    with pytest.raises(Frozen, match="paused by fault f1"):
        with gate.exec_into("c1"):
            pytest.fail("an exec started into a paused container")
    with gate.exec_into("c2"):
        pass  # another container is not affected
    gate.thawed("c1")
    with gate.exec_into("c1"):
        pass


def test_a_pause_waits_for_the_exec_in_flight():
    gate = ContainerGate(drain=30.0)
    in_exec, finish_exec, paused = threading.Event(), threading.Event(), threading.Event()

    def exec_one():
        with gate.exec_into("c1"):
            in_exec.set()
            finish_exec.wait(30)

    def pause():
        with gate.freezing("c1", "paused by fault f1"):
            paused.set()

    threading.Thread(target=exec_one, daemon=True).start()
    assert in_exec.wait(5)
    threading.Thread(target=pause, daemon=True).start()
    assert not paused.wait(0.3), "the pause went ahead while an exec was in flight"
    with pytest.raises(Frozen):  # and meanwhile no new exec starts
        with gate.exec_into("c1"):
            pass
    finish_exec.set()
    assert paused.wait(5)


def test_an_exec_stuck_past_the_drain_does_not_hold_the_pause_forever():
    gate = ContainerGate(drain=0.1)
    stuck, release = threading.Event(), threading.Event()

    def exec_one():
        with gate.exec_into("c1"):
            stuck.set()
            release.wait(30)

    threading.Thread(target=exec_one, daemon=True).start()
    assert stuck.wait(5)
    paused = threading.Event()

    def pause():
        with gate.freezing("c1", "paused by fault f1"):
            paused.set()

    threading.Thread(target=pause, daemon=True).start()
    assert paused.wait(5)
    release.set()


class ExecCountingContainer:
    def __init__(self, paused: bool = False):
        self.attrs = {"State": {"Paused": paused}}
        self.execs = []

    # the engine API's three exec calls, as the probe makes them
    def exec_create(self, container_id, command):
        self.execs.append(command)
        return {"Id": f"exec-{len(self.execs)}"}

    def exec_start(self, exec_id):
        return b"ok"

    def exec_inspect(self, exec_id):
        return {"Running": False, "ExitCode": 0}


class OneContainerSystem:
    """``system.containers`` (service -> id) and ``system.client.containers.get``, on one container."""

    def __init__(self, container, container_id: str = "c" * 64):
        self.containers = {"inventory": container_id}
        self.client = type("Client", (), {"containers": self, "api": container})()
        self.container = container

    def get(self, container_id):
        return self.container


COMMAND_PROBE = ProbePlan("inventory-true", "command", 1.0, 1.0,
                          {"service": "inventory", "command": ["true"], "expect_exit": 0})


def test_a_command_probe_of_a_target_the_harness_paused_fails_without_an_exec():
    container = ExecCountingContainer()
    system = OneContainerSystem(container, "paused-by-us")
    with GATE.freezing("paused-by-us", "paused by fault f2.1"):
        pass
    try:
        with pytest.raises(ProbeFailed, match="not run: inventory is paused by fault f2.1"):
            check(COMMAND_PROBE, system)
    finally:
        GATE.thawed("paused-by-us")
    assert container.execs == []
    assert check(COMMAND_PROBE, system) == "ok"
    assert container.execs == [["true"]]


def test_a_command_probe_of_a_container_paused_by_someone_else_fails_without_an_exec():
    container = ExecCountingContainer(paused=True)
    with pytest.raises(ProbeFailed, match="not run: inventory is paused"):
        check(COMMAND_PROBE, OneContainerSystem(container))
    assert container.execs == []


HANGING_PROBER = """
import threading, time
from chaos.plan import ProbePlan
from chaos.probes import Prober
hang = threading.Event()
prober = Prober([ProbePlan("hangs", "fake", 0.05, 0.05, {})], None,
                lambda probe, system: hang.wait(600))
prober.start()
time.sleep(0.3)
prober.stop()
print("stopped", flush=True)
"""


def test_a_hanging_try_never_keeps_the_process_alive():
    """The process ends when its main thread does, though a try still hangs (as an exec into a container the
    engine no longer answers for did); before, the worker pool was joined at exit, for as long as the hang."""
    done = subprocess.run([sys.executable, "-c", HANGING_PROBER], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])})
    assert done.returncode == 0 and done.stdout == "stopped\n", done.stderr
