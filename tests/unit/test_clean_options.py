"""`chaos clean`'s rules without an engine: which runs it may remove (ledger.removable), --all needs --run, bad
--run values are bad usage (exit 2). The real-engine test of plain clean and --all is
tests/integration/test_clean_ownership.py."""

from __future__ import annotations

import os

import pytest
from click.testing import CliRunner
from support.fake_engine import FakeClient, FakeContainer

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
    assert len(skipped) == 1 and "run live-1 (pid " in skipped[0] and "is still running" in skipped[0] and "--all" in skipped[0], skipped
    assert container.calls == []

    cleaned = ledger.clean(FakeClient(container), None, include_live=True)
    assert cleaned == ["reverted f1 (pause on inventory) of run live-1"]
    assert container.calls == ["unpause"]
    assert [e["run_id"] for e in ledger.registered()] == ["live-1"], "a live run may inject more: still registered"
    assert ledger.clean(FakeClient(container), None, include_live=True) == [], "idempotent"
    assert container.calls == ["unpause"]


def test_plain_clean_removes_only_runs_proven_over():
    me = ledger.lease()
    host = me.split("/")[0]
    ended = f"{host}/999999999/1"  # a pid this host never had
    run_leases = {"mine-live": {me}, "mine-dead": {ended}, "registered-dead": {""}, "older": {""},
                  "other-host": {"elsewhere/12/3"}, "half": {ended, ""}}
    remove, skipped = ledger.removable(run_leases, gone={"registered-dead"}, live=frozenset(), run_id=None,
                                       include_live=False)
    assert remove == ["mine-dead", "registered-dead"]
    assert sorted(line.split(":")[0] for line in skipped) == ["run half", "run older", "run other-host"]


def test_a_named_run_is_removed_unless_its_owner_lives_and_all_takes_it_anyway():
    run_leases = {"mine-live": {ledger.lease()}, "registered-live": {""}, "older": {""}}
    live = frozenset({"registered-live"})
    assert ledger.removable(run_leases, set(), live, "older", False) == (["older"], [])
    assert ledger.removable(run_leases, set(), live, "mine-live", False) == ([], [])
    assert ledger.removable(run_leases, set(), live, "registered-live", False) == ([], [])
    assert ledger.removable(run_leases, set(), live, "mine-live", True) == (["mine-live"], [])


def test_all_without_a_run_is_refused_and_names_the_live_owners(tmp_path, state_home, monkeypatch):
    monkeypatch.setattr(chaos_system, "engine", lambda: pytest.fail("nothing may be cleaned"))
    ledger.register("day-1", tmp_path / "day", what="game day")
    result = CliRunner().invoke(main, ["clean", "--all"])
    assert result.exit_code == 2, result.output
    assert f"game day day-1 (pid {os.getpid()})" in result.output and "--run ID" in result.output


@pytest.mark.parametrize("bad", ["", "../etc", "a b", "-x", "r/1"])
def test_a_bad_run_id_is_bad_usage(state_home, monkeypatch, bad):
    monkeypatch.setattr(chaos_system, "engine", lambda: pytest.fail("nothing may be cleaned"))
    result = CliRunner().invoke(main, ["clean", "--run", bad])
    assert result.exit_code == 2, result.output
    assert "is not a run id" in result.output
