"""One run through the CLI with every kind of schedule: a repeated pause, a latency ramp, a CPU limit and a crash
loop, overlapping. Every occurrence is ledgered and reverted, every step lands on its absolute deadline."""

from __future__ import annotations

import json

from support.e2e import REPO, chaos_command, finish, journal, only_run_dir, shop_head
from support.from_outside import assert_nothing_left

SCHEDULES = shop_head("e2e-schedules", 3) + """\
faults:
  - {type: pause, service: inventory, at: 3s, duration: 1s, repeat: 2s, times: 2}
  - {type: latency, link: api -> redis:6379, latency: 50ms, duration: 3s, ramp: {to: 250ms, over: 2s, step: 1s}}
  - {type: cpu, service: api, cpus: 0.5, at: 500ms, duration: 1s}
  - {type: crash_loop, service: inventory, every: 1s, at: 8s, duration: 2500ms}
abort:
  - {metric: error_rate, max: 100%, for: 2s}
"""


def test_every_occurrence_ramp_step_and_kill_runs_on_time_and_is_reverted(tmp_path, docker_client):
    path = tmp_path / "schedules.yaml"
    path.write_text(SCHEDULES.replace("@REPO@", str(REPO)))
    dry = finish(chaos_command("run", str(path), "--dry-run", cwd=tmp_path))[1]
    assert "pause on inventory (2/2)" in dry and "latency=250" in dry and "kill=3" in dry, dry

    code, output = finish(chaos_command("run", str(path), "--report-dir", "reports", cwd=tmp_path,
                                        env={"XDG_STATE_HOME": str(tmp_path / "state")}), timeout=180)
    run_dir = only_run_dir(tmp_path / "reports")
    # No hypothesis to judge and an abort rule that cannot fire (an error rate over 100%): inconclusive, always.
    assert code == 5, output
    assert json.loads((run_dir / "summary.json").read_text())["verdict"] == "inconclusive"
    events = journal(run_dir)
    ledgered = {e["fault_id"]: e for e in events if e["event"] == "fault_ledgered"}
    reverted = {e["fault_id"]: e for e in events if e["event"] == "fault_reverted"}
    assert set(ledgered) == set(reverted) == {"f1.1", "f1.2", "f2", "f3", "f4"}
    assert all(e["reason"] == "scheduled" for e in reverted.values())
    assert ledgered["f3"]["params"]["containers"][0]["before"] == {"NanoCpus": 0, "CpuQuota": 0, "CpuPeriod": 0}
    updates = [(e["fault_id"], e["set"]) for e in events if e["event"] == "fault_updated"]
    assert updates == [("f2", {"latency": 150}), ("f2", {"latency": 250}), ("f4", {"kill": 2}), ("f4", {"kill": 3})]

    # Absolute deadlines: a step is late only by what ran just before it (a container revert waits for health:
    # the pauses' reverts hold the timeline about one healthcheck interval), never by the sum of all before.
    # The ramp steps and the crash loop's kills have nothing slow before them: they are on time.
    plan = json.loads((run_dir / "plan.json").read_text())
    assert [f["id"] for f in plan["faults"]] == ["f1.1", "f1.2", "f2", "f3", "f4"]
    t0 = next(e["mono"] for e in events if e["event"] == "load_started")
    fault_phase = next(e["mono"] for e in events if e["event"] == "phase_started" and e["phase"] == "fault") - t0
    planned = {("f2", 150): 1.0, ("f2", 250): 2.0, ("f4", 2): 9.0, ("f4", 3): 10.0}
    for event in (e for e in events if e["event"] == "fault_updated"):
        key = (event["fault_id"], next(iter(event["set"].values())))
        lateness = event["mono"] - t0 - (fault_phase + planned[key])
        assert -0.05 < lateness < 1.0, (key, lateness)
    assert all("not_healthy" not in e for e in reverted.values())
    inventory = docker_client.containers.list(all=True, filters={"label": [f"chaos.run={run_dir.name}"]})
    assert inventory == [], "torn down"
    assert (run_dir / "report.html").is_file()
    assert_nothing_left(docker_client, run_dir)
