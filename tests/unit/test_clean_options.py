"""`chaos clean` options: --faults-only removes nothing, --all includes runs whose harness is alive, bad --run
values are bad usage (exit 2). Docker is faked: what matters is which calls the command makes."""

from __future__ import annotations

import os

import pytest
from click.testing import CliRunner
from fake_engine import FakeClient, FakeContainer, state_home  # noqa: F401 - state_home is a fixture

from chaos import ledger
from chaos import system as chaos_system
from chaos.cli import main
from chaos.journal import Journal


def live_run_with_a_pause(tmp_path, run_id: str = "live-1"):
    """A run registered by this very process (so its harness is alive) with a pause still injected."""
    run_dir = tmp_path / run_id
    run_dir.mkdir()
    journal = Journal(run_dir / "journal.jsonl")
    journal.append("fault_ledgered", fault_id="f1", kind="pause", family="container", target="inventory",
                   params={"select": {}, "containers": [{"service": "inventory", "id": "c" * 64}]})
    journal.append("fault_injected", fault_id="f1")
    journal.close()
    ledger.register(run_id, run_dir)
    return run_dir


def test_a_live_run_is_skipped_and_named_unless_all(tmp_path, state_home):
    live_run_with_a_pause(tmp_path)
    container = FakeContainer()

    skipped = ledger.clean(FakeClient(container), None)
    assert len(skipped) == 1 and "live-1 is still running" in skipped[0] and "--all" in skipped[0], skipped
    assert container.calls == []

    cleaned = ledger.clean(FakeClient(container), None, include_live=True)
    assert cleaned == ["reverted f1 (pause on inventory) of run live-1"]
    assert container.calls == ["unpause"]
    assert [e["run_id"] for e in ledger.registered()] == ["live-1"], "a live run may inject more: still registered"
    assert ledger.clean(FakeClient(container), None, include_live=True) == [], "idempotent"
    assert container.calls == ["unpause"]


@pytest.fixture
def fake_engine(monkeypatch):
    removals = []
    monkeypatch.setattr(chaos_system, "engine", lambda: FakeClient(FakeContainer()))

    def remove_run(client, run_id=None, keep=frozenset()):
        removals.append((run_id, keep))
        return [f"container chaos-{run_id or 'any'}-api"]

    monkeypatch.setattr(chaos_system, "remove_run", remove_run)
    return removals


def test_faults_only_reverts_and_removes_nothing(tmp_path, state_home, fake_engine):
    result = CliRunner().invoke(main, ["clean", "--run", "r1", "--faults-only"])
    assert result.exit_code == 0, result.output
    assert fake_engine == []
    assert "faults only, nothing removed" in result.output and "chaos clean --run r1" in result.output


def test_clean_keeps_live_runs_unless_all(tmp_path, state_home, fake_engine):
    ledger.register("alive", tmp_path / "alive")
    assert CliRunner().invoke(main, ["clean"]).exit_code == 0
    assert CliRunner().invoke(main, ["clean", "--run", "alive"]).exit_code == 0
    assert CliRunner().invoke(main, ["clean", "--all"]).exit_code == 0
    assert fake_engine == [(None, frozenset({"alive"})), ("alive", frozenset({"alive"})), (None, frozenset())]
    assert os.getpid()  # the registered harness is this process: alive throughout


@pytest.mark.parametrize("bad", ["", "../etc", "a b", "-x", "r/1"])
def test_a_bad_run_id_is_bad_usage(state_home, fake_engine, bad):
    result = CliRunner().invoke(main, ["clean", "--run", bad])
    assert result.exit_code == 2, result.output
    assert "is not a run id" in result.output
    assert fake_engine == []
