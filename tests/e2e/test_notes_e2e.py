"""The notes sample (nginx -> app -> PostgreSQL with a named volume, a secret, a one-shot migration,
two networks) through `chaos run` as a user runs it: PostgreSQL killed under load. A person watching
sees every request fail while the database is down and the app come back by itself with its data:
the verdict must say exactly that."""

from __future__ import annotations

import json

from support.e2e import REPO, assert_every_fault_reverted, chaos_command, finish, journal, only_run_dir
from support.from_outside import assert_nothing_left


def shortened(text: str) -> str:
    """The repository's experiment with a shorter baseline and absolute paths, written elsewhere. Its recovery keeps
    its 20 s: recovery is judged from the revert's start, so it holds PostgreSQL's restart and the few requests
    that fail in it; in 12 s one such failure among ~500 reads left the 1 % bound inside the interval (CI run)."""
    text = text.replace("../targets/", f"{REPO}/targets/").replace("dir: ../reports", "dir: reports")
    return text.replace("baseline: 15s", "baseline: 10s")


def test_killing_postgres_deviates_during_the_outage_and_recovers_with_its_data(tmp_path, docker_client):
    experiment = tmp_path / "notes-db-kill.yaml"
    experiment.write_text(shortened((REPO / "experiments" / "notes-db-kill.yaml").read_text()))
    code, output = finish(chaos_command("run", str(experiment), cwd=tmp_path), timeout=300)
    run_dir = only_run_dir(tmp_path / "reports")
    assert code == 1, output
    summary = json.loads((run_dir / "summary.json").read_text())
    verdicts = {(c["hypothesis"], c["phase"]): c["verdict"] for c in summary["checks"]}
    assert verdicts.pop(("no errors while the database is down", "fault")) == "deviated"
    # the health probe polls 4 times a second: in a shortened phase one slow answer on a busy machine can
    # leave its interval straddling 90 %; it must never deviate
    probe = {key: verdicts.pop(key) for key in list(verdicts) if key[0] == "the app says it is healthy again"}
    assert set(probe.values()) <= {"held", "inconclusive"}, probe
    # recovery is judged from the revert's start, so it holds PostgreSQL's restart: the experiment's recovery budgets
    # leave room for the restart's few failures and waits; every check but the probe's holds
    assert verdicts == {key: "held" for key in verdicts}, verdicts  # the load, baseline and recovery: all held
    assert ("most notes answer fast once the database is back", "recovery") in verdicts
    assert ("notes written before the kill are read back after it", "recovery") in verdicts
    events = journal(run_dir)
    assert_every_fault_reverted(events)
    started = [e for e in events if e["event"] == "target_started"]
    assert {e["service"] for e in started} == {"proxy", "app", "migrate", "db"}
    assert any(e["event"] == "volumes_created" for e in events)
    assert_nothing_left(docker_client, run_dir)
