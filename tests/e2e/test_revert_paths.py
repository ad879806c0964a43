"""Every fault is reverted on every way a run can end, and nothing of the run is left behind."""

from __future__ import annotations

import json
import signal
import time

import pytest
from support.e2e import (assert_every_fault_reverted, chaos_command, finish, journal, only_run_dir, sigkill_when,
                         wait_for_event)
from support.from_outside import assert_nothing_left


def test_normal_end_held(experiment, tmp_path, docker_client):
    code, output = finish(chaos_command("run", str(experiment), "--report-dir", "reports", cwd=tmp_path,
                                        env={"CASE": "held", "LAT_MAX": "5s"}))
    run_dir = only_run_dir(tmp_path / "reports")
    assert code == 0, output
    events = journal(run_dir)
    assert_every_fault_reverted(events)
    assert events[-1]["event"] == "run_ended" and events[-1]["outcome"] == "completed"
    for name in ("summary.json", "report.html", "report.md", "junit.xml", "samples.parquet", "plan.json"):
        assert (run_dir / name).is_file(), name
    assert (tmp_path / "reports" / "e2e-held" / "latest").resolve() == run_dir.resolve()
    assert_nothing_left(docker_client, run_dir)


def test_deviated_run_exits_1_and_reverts(experiment, tmp_path, docker_client):
    code, output = finish(chaos_command("run", str(experiment), "--report-dir", "reports", cwd=tmp_path,
                                        env={"CASE": "deviated", "LAT_MAX": "100ms"}))
    run_dir = only_run_dir(tmp_path / "reports")
    assert code == 1, output
    assert "DEVIATED" in output and "reads fast [fault]" in output
    assert_every_fault_reverted(journal(run_dir))
    assert_nothing_left(docker_client, run_dir)


def test_abort_rule_reverts_at_once_and_exits_3(experiment, tmp_path, docker_client):
    # api -> redis down: the naive api answers 500 at once, so the error-rate rule trips within seconds.
    text = experiment.read_text()
    text = text.replace("    type: latency\n", "    type: down\n").replace("    latency: ${FAULT_LATENCY:-300ms}\n", "")
    text = text.replace("  - metric: latency.p99\n    max: ${ABORT_P99:-30s}", "  - metric: error_rate\n    max: 50%")
    experiment.write_text(text)
    code, output = finish(chaos_command("run", str(experiment), "--report-dir", "reports", cwd=tmp_path,
                                        env={"CASE": "abort", "FAULT_FOR": "20s"}))
    run_dir = only_run_dir(tmp_path / "reports")
    assert code == 3, output
    events = journal(run_dir)
    abort = next(e for e in events if e["event"] == "abort")
    revert = next(e for e in events if e["event"] == "fault_reverted")
    assert revert["reason"] == "abort" and revert["seq"] > abort["seq"]
    assert revert["mono"] - abort["mono"] < 1.0, "every fault reverted within 1 s of the trigger"
    inject = next(e for e in events if e["event"] == "fault_injected")
    assert abort["mono"] - inject["mono"] < 10, "the 20 s fault was cut short by the abort"
    assert abort["observed"] > 0.5
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["verdict"] == "aborted" and "error_rate" in summary["reason"]
    assert_nothing_left(docker_client, run_dir)


def test_exception_in_flight_reverts_and_exits_4(experiment, tmp_path, docker_client):
    # A locustfile whose process dies 3 s into the fault: the runner must notice, revert and tear down.
    crashing = tmp_path / "crashing_locustfile.py"
    crashing.write_text(
        "import os, gevent\n"
        "from locust import FastHttpUser, task, constant, events\n"
        "class ShopUser(FastHttpUser):\n"
        "    wait_time = constant(0.1)\n"
        "    @task\n"
        "    def read(self):\n"
        "        self.client.get('/products/1', name='GET /products/[id]')\n"
        "@events.test_start.add_listener\n"
        "def _die_later(**_):\n"
        "    gevent.spawn_later(9, os._exit, 1)\n"
    )
    code, output = finish(chaos_command("run", str(experiment), "--report-dir", "reports", cwd=tmp_path,
                                        env={"CASE": "crash", "LOCUSTFILE": str(crashing), "FAULT_FOR": "20s"}))
    run_dir = only_run_dir(tmp_path / "reports")
    assert code == 4, output
    assert "load generator stopped early" in output
    events = journal(run_dir)
    assert_every_fault_reverted(events)
    assert events[-1]["outcome"] == "error"
    assert_nothing_left(docker_client, run_dir)


@pytest.mark.parametrize("signum, expected", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_mid_fault_reverts_everything(experiment, tmp_path, docker_client, signum, expected):
    process = chaos_command("run", str(experiment), "--report-dir", "reports", cwd=tmp_path,
                            env={"CASE": f"signal-{signum}", "FAULT_FOR": "30s"})
    try:
        run_dir = wait_for_event(tmp_path / "reports", "fault_injected")
        process.send_signal(signum)
        code, output = finish(process, timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert code == expected, output
    events = journal(run_dir)
    assert_every_fault_reverted(events)
    assert events[-1]["outcome"] == "interrupted"
    assert_nothing_left(docker_client, run_dir)


def test_chaos_clean_after_sigkill_removes_everything(experiment, tmp_path, docker_client):
    process = chaos_command("run", str(experiment), "--report-dir", "reports", cwd=tmp_path,
                            env={"CASE": "sigkill", "FAULT_FOR": "30s"})
    run_dir = sigkill_when(process, lambda: wait_for_event(tmp_path / "reports", "fault_injected"))
    selector = {"label": f"chaos.run={run_dir.name}"}
    assert docker_client.containers.list(all=True, filters=selector), "SIGKILL leaves the system up"
    code, output = finish(chaos_command("clean", "--run", run_dir.name, cwd=tmp_path))
    assert code == 0, output
    assert "removed container" in output
    time.sleep(0.5)
    assert_nothing_left(docker_client, run_dir)
