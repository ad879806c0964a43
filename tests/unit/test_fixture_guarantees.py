"""The pytest fixture and the game day get the runner's guarantees (no Docker): a test's run is registered in the
ledger while it runs, its journal, plan and reports are scrubbed of the system's secrets, a Ctrl-C during a
revert waits for the revert; notifications are scrubbed before any channel sees them."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path
from types import SimpleNamespace

import pytest

from chaos import ledger
from chaos.faults import FaultAdapter
from chaos.gameday.notify import Notifier
from chaos.plan import FaultPlan, make_system_plan
from chaos.spec import load_compose
from chaos.testkit import Chaos, FaultContext, ResolvedSystem, RunningSystem

REPO = Path(__file__).resolve().parents[2]
SECRET = "s3cr3t-token-value"


def a_test(tmp_path, description: str = "tests/t.py::t") -> Chaos:
    services = load_compose(REPO / "targets" / "shop" / "compose.yaml")
    plan = make_system_plan("shop", services, ["load -> api:8080"], run_id="sys1")
    plan.secret_values = [SECRET]
    system = RunningSystem(resolved=ResolvedSystem("shop", services, ["load -> api:8080"], "api:8080", {}),
                           system=SimpleNamespace(plan=plan, client=None), events=[])
    return Chaos(system, tmp_path / "t" / "run1", name="t", description=description, seed=3, formats=("json", "md"))


class InterruptedRevert(FaultAdapter):
    """A revert during which Ctrl-C arrives (SIGINT to this very process), and that then finishes."""

    def __init__(self, plan):
        self.plan, self.calls = plan, []

    def inject(self):
        self.calls.append("inject")

    def revert(self):
        os.kill(os.getpid(), signal.SIGINT)
        self.calls.append("revert finished")


def test_a_test_run_is_registered_while_it_runs_and_scrubbed_everywhere(tmp_path, state_home):
    chaos = a_test(tmp_path, description=f"tests/t.py::t[{SECRET}]")
    [entry] = ledger.registered()
    assert (entry["run_id"], entry["system_run_id"], entry["what"]) == ("run1", "sys1", "pytest test")
    chaos.close()
    assert ledger.registered() == [], "ended with no fault active: forgotten"
    for name in ("journal.jsonl", "plan.json", "summary.json", "report.md"):
        assert SECRET not in (chaos.run_dir / name).read_text(), name
    assert json.loads((chaos.run_dir / "plan.json").read_text())["description"] == "tests/t.py::t[***]"


def test_ctrl_c_during_a_revert_waits_for_it_and_then_stops_the_test(tmp_path, state_home):
    chaos = a_test(tmp_path)
    plan = FaultPlan("f1", "pause on api", "pause", "container", "api", {}, 0.0, 0.0)
    adapter = InterruptedRevert(plan)
    fault = FaultContext(chaos, plan, adapter)
    chaos.faults.append(fault)
    fault.inject()
    with pytest.raises(KeyboardInterrupt):
        fault.revert()
    assert adapter.calls == ["inject", "revert finished"]
    assert chaos.active == {} and [r["fault_id"] for r in chaos.records if r["event"] == "fault_reverted"] == ["f1"]
    chaos.close()


def test_notifications_are_scrubbed_before_any_channel_and_stay_json(tmp_path):
    lines = []
    notify = SimpleNamespace(stdout=True, jsonl="notifications.jsonl", webhook=None)
    notifier = Notifier(notify, tmp_path, {"id": "d1", "title": f"day of {SECRET}"}, SimpleNamespace(
        append=lambda *a, **k: None), lines.append, secrets=[SECRET, "3600"])
    notifier.send("step_verdict", f"step 1 failed: {SECRET} rejected", timeout=3600, ok=True)
    notifier.close()
    body = json.loads((tmp_path / "notifications.jsonl").read_text())
    assert SECRET not in json.dumps(body) and SECRET not in lines[0]
    assert body["text"] == "step 1 failed: *** rejected" and body["day"]["title"] == "day of ***"
    assert body["timeout"] == 3600 and body["ok"] is True, "numbers and booleans are not texts: left as they are"
