"""The notes sample (nginx -> app -> PostgreSQL with a named volume, a secret, a one-shot migration,
two networks) through `chaos run` as a user runs it: PostgreSQL killed under load. A person watching
sees every request fail while the database is down and the app come back by itself with its data:
the verdict must say exactly that."""

from __future__ import annotations

import json

import pandas as pd

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
    # Recovery is judged from the revert's start, so it holds PostgreSQL's restart: a burst of 503s in its first 2 s,
    # 1 to 67 requests in 5 runs. Under the 10 % budget, but a burst in 2 of 20 windows leaves the error rate's
    # interval wide: held, or inconclusive when the burst is large; never deviated, and under the budget as measured.
    errors = {key: verdicts.pop(key) for key in list(verdicts)
              if key[1] == "recovery" and key[0] in ("the app serves notes again once the database is back",
                                                     "notes written before the kill are read back after it")}
    assert len(errors) == 2 and set(errors.values()) <= {"held", "inconclusive"}, errors
    assert all(c["observed"] < c["threshold"] for c in summary["checks"] if (c["hypothesis"], c["phase"]) in errors)
    assert verdicts == {key: "held" for key in verdicts}, verdicts  # the load, the baseline, recovery's latency
    assert ("most notes answer fast once the database is back", "recovery") in verdicts
    # Every note written before the kill is read back: no acknowledged write was lost (a lost one reads as a 404).
    samples = pd.read_parquet(run_dir / "samples.parquet")
    failed_reads = samples[(samples["name"] == "GET /notes/[id]") & ~samples["success"]]
    assert set(failed_reads["status"]) <= {503}, failed_reads["error"].value_counts()
    assert len(samples[samples["phase"] == "recovery"]) > 500
    events = journal(run_dir)
    assert_every_fault_reverted(events)
    started = [e for e in events if e["event"] == "target_started"]
    assert {e["service"] for e in started} == {"proxy", "app", "migrate", "db"}
    assert any(e["event"] == "volumes_created" for e in events)
    assert_nothing_left(docker_client, run_dir)
