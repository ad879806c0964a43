"""Signals while the runner reverts: an abort reverts every fault at once in threads, and a Ctrl-C that arrives
meanwhile must not break out of it (which would leave those threads reverting while the teardown iterates the
same faults). No Docker: the faults are fakes whose revert is where the signal arrives."""

from __future__ import annotations

import os
import signal
import threading
import time

from chaos.faults import FaultAdapter
from chaos.journal import Journal, read_journal
from chaos.plan import AbortRulePlan
from chaos.runner import BrokenRule, Runner
from chaos.signals import StopSignals


class SlowFault(FaultAdapter):
    """Reverting takes a moment; the first one to revert sends this process a SIGINT."""

    def __init__(self, fault_id: str, signal_on_revert: bool):
        self.plan = type("Plan", (), {"id": fault_id, "name": fault_id})()
        self.signal_on_revert = signal_on_revert
        self.reverts = 0

    def revert(self):
        self.reverts += 1
        if self.signal_on_revert:
            os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.3)


def bare_runner(tmp_path, faults) -> Runner:
    runner = Runner.__new__(Runner)  # only what _abort, _revert_all and the signal handler use
    runner.journal = Journal(tmp_path / "journal.jsonl")
    runner.active = {fault.plan.id: fault for fault in faults}
    runner.revert_errors = {}
    runner.system = runner.shared_system = None
    runner.rehearse = runner.keep_system = False
    runner.late_signal = None
    runner.lost_links = set()
    runner.messages = []
    runner.on_progress = runner.messages.append
    runner._signals = StopSignals(on_ignored=runner._on_late_signal)
    return runner


def test_ctrl_c_during_an_abort_revert_is_ignored_and_every_fault_is_reverted_once(tmp_path):
    assert threading.current_thread() is threading.main_thread()
    faults = [SlowFault("f1", signal_on_revert=True), SlowFault("f2", signal_on_revert=False)]
    runner = bare_runner(tmp_path, faults)
    runner._signals.install()
    try:
        runner._abort(BrokenRule(AbortRulePlan("error_rate", 0.5, 2.0), observed=0.9))
    finally:
        runner._signals.restore()
        runner.journal.close()
    assert runner.active == {}
    assert [fault.reverts for fault in faults] == [1, 1]
    assert runner.late_signal == signal.SIGINT
    assert any("SIGINT ignored" in message for message in runner.messages), runner.messages
    reverted = [e for e in read_journal(tmp_path / "journal.jsonl") if e["event"] == "fault_reverted"]
    assert sorted(e["fault_id"] for e in reverted) == ["f1", "f2"] and {e["reason"] for e in reverted} == {"abort"}
