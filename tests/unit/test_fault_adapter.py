"""The fault adapter contract: every family's adapter declares what the runner, the pytest fixture and
`chaos clean` call, and the defaults journal exactly what a family without that member always did."""

import importlib
import pkgutil
import typing

import pytest

from chaos import faults
from chaos.faults import FaultAdapter, Gone
from chaos.journal import Journal, read_journal
from chaos.plan import FaultPlan
from chaos.runner import Runner


def a_plan(family="link", kind="latency", params=None, fault_id="f1") -> FaultPlan:
    return FaultPlan(fault_id, f"{kind} on x", kind, family, "x", {"latency": 300} if params is None else params,
                     0.0, 0.0)


class Bare(FaultAdapter):
    """Only what every family must write itself."""

    def __init__(self, plan, in_effect_at=None):
        self.plan, self.calls = plan, []
        if in_effect_at is not None:
            self.in_effect_at = in_effect_at

    def inject(self):
        self.calls.append("inject")

    def revert(self):
        self.calls.append("revert")


def family_modules():
    for info in pkgutil.iter_modules(faults.__path__):
        module = importlib.import_module(f"chaos.faults.{info.name}")
        if hasattr(module, "build"):
            yield info.name, module


def test_every_family_builds_and_rebuilds_a_fault_adapter():
    names = [name for name, _ in family_modules()]
    assert {"link", "container", "resources", "partition", "clock"} <= set(names), names
    for name, module in family_modules():
        for builder in (module.build, module.from_ledger):
            built = typing.get_type_hints(builder).get("return")
            assert built is not None, f"{name}.{builder.__name__} declares no adapter type"
            kinds = typing.get_args(built) or (built,)
            assert all(issubclass(kind, FaultAdapter) for kind in kinds), f"{name}.{builder.__name__}: {built}"


def test_the_defaults_decide_nothing_at_run_time():
    plan = a_plan()
    adapter = Bare(plan)
    assert adapter.id == "f1"
    assert adapter.prepare() is plan.params
    assert adapter.in_effect_at is None
    assert adapter.wait_healthy is False
    with pytest.raises(NotImplementedError, match="link fault latency does not change while active"):
        adapter.update({"latency": 400})


def test_a_fault_whose_holder_is_gone_reverts_to_nothing():
    assert Gone(a_plan()).revert() is None


def runner_journaling_to(path) -> Runner:
    runner = Runner.__new__(Runner)  # only what _inject and _revert use
    runner.journal = Journal(path)
    runner.active, runner.rehearse, runner.lost_links = {}, False, set()
    runner.on_progress = lambda message: None
    return runner


def test_the_runner_journals_the_defaults_as_before(tmp_path):
    runner = runner_journaling_to(tmp_path / "journal.jsonl")
    plain = Bare(a_plan())
    signalled = Bare(a_plan("container", "kill", {"signal": "SIGKILL"}, fault_id="f2"), in_effect_at=12.5)
    for adapter in (plain, signalled):
        runner._inject(adapter)
        runner._revert(adapter.id, "scheduled")
    runner.journal.close()
    events = [{k: v for k, v in e.items() if k not in ("v", "seq", "wall", "mono", "t")}
              for e in read_journal(tmp_path / "journal.jsonl")]
    injected = [e for e in events if e["event"] == "fault_injected"]
    assert injected == [{"event": "fault_injected", "fault_id": "f1"},
                        {"event": "fault_injected", "fault_id": "f2", "in_effect_mono": 12.5}]
    ledgered = [e["params"] for e in events if e["event"] == "fault_ledgered"]
    assert ledgered == [{"latency": 300}, {"signal": "SIGKILL"}]
    reverted = [e for e in events if e["event"] == "fault_reverted"]
    assert reverted == [{"event": "fault_reverted", "fault_id": "f1", "reason": "scheduled"},
                        {"event": "fault_reverted", "fault_id": "f2", "reason": "scheduled"}]
    assert plain.calls == signalled.calls == ["inject", "revert"]
