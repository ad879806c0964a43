"""An abort rule on a metric other than the error rate and the p99 really aborts a run on the shop."""

from __future__ import annotations

import json

from support.e2e import assert_every_fault_reverted, chaos_command, finish, journal, only_run_dir
from support.from_outside import assert_nothing_left


def test_abort_rule_on_p95_latency_aborts_the_run_and_says_why(experiment, tmp_path, docker_client):
    # 1.5 s on api -> redis: most product reads wait for redis, so the p95 passes 1 s within seconds (and a
    # busy machine's baseline stays far below it).
    text = experiment.read_text().replace("  - metric: latency.p99\n    max: ${ABORT_P99:-30s}",
                                          "  - metric: latency.p95\n    max: 1s")
    assert "metric: latency.p95" in text
    experiment.write_text(text)
    code, output = finish(chaos_command("run", str(experiment), "--report-dir", "reports", cwd=tmp_path,
                                        env={"CASE": "abort-p95", "FAULT_LATENCY": "1500ms", "FAULT_FOR": "20s",
                                             "LAT_MAX": "5s"}))
    run_dir = only_run_dir(tmp_path / "reports")
    assert code == 3, output
    events = journal(run_dir)
    abort = next(e for e in events if e["event"] == "abort")
    assert abort["metric"] == "latency.p95" and abort["observed"] > 1000 and abort["threshold"] == 1000
    inject = next(e for e in events if e["event"] == "fault_injected")
    assert abort["seq"] > inject["seq"] and abort["mono"] - inject["mono"] < 10, "the 20 s fault was cut short"
    assert next(e for e in events if e["event"] == "fault_reverted")["reason"] == "abort"
    assert_every_fault_reverted(events)
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["verdict"] == "aborted"
    assert "p95 latency guard" in summary["reason"] and "limit 1 s" in summary["reason"], summary["reason"]
    assert_nothing_left(docker_client, run_dir)
