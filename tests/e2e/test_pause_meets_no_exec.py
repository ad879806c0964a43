"""Pause never meets an exec: a command probe polls redis every 0.2 s while the run pauses redis again and
again. Every try that falls in a pause is recorded as failed, with the reason, and never reaches the engine as
an exec; the run ends with its verdict and exit, no exec is left hanging, and redis runs unpaused (checked from
outside, on the kept system)."""

from __future__ import annotations

import time

import pandas as pd
from support.e2e import REPO, chaos_command, finish, journal, only_run_dir, shop_head
from support.from_outside import service_container

EXPERIMENT = shop_head("e2e-pause-exec", 6, "{warmup: 2s, baseline: 6s, recovery: 6s}", link=False).replace(
    "@REPO@", str(REPO)) + """\
faults:
  - {type: pause, service: redis, at: 0s, duration: 700ms, repeat: 1500ms, times: 4}
probes:
  - {name: redis-cmd, type: command, service: redis, command: [redis-cli, ping], output_regex: PONG,
      every: 200ms, timeout: 200ms}
steady_state:
  - {name: shop answers, metric: error_rate, max: 50%, phases: [baseline]}
abort:
  - {metric: error_rate, max: 100%, for: 5s}
"""


def test_a_command_probe_never_execs_into_the_paused_target(tmp_path, docker_client):
    path = tmp_path / "pause-exec.yaml"
    path.write_text(EXPERIMENT)
    code, output = finish(chaos_command("run", str(path), "--report-dir", "reports", "--keep-system", cwd=tmp_path,
                                        env={"XDG_STATE_HOME": str(tmp_path / "state")}), timeout=180)
    run_dir = only_run_dir(tmp_path / "reports")
    try:
        assert code == 0, output
        assert "Traceback" not in output
        reverted = sorted(e["fault_id"] for e in journal(run_dir) if e["event"] == "fault_reverted")
        assert reverted == ["f1.1", "f1.2", "f1.3", "f1.4"], reverted
        errors = pd.read_parquet(run_dir / "probes.parquet").error.dropna()
        refused = errors.str.contains(r"^ProbeFailed: not run: redis is paused by fault f1\.\d$")
        assert refused.any(), errors.value_counts().to_dict()
        # a try that did meet a pause: the engine's refusal of an exec into a paused container, or an exec error
        met = errors.str.contains("unpause the container|APIError|ReadTimeout")
        assert not met.any(), errors.value_counts().to_dict()
        redis = service_container(docker_client, run_dir.name, "redis")
        redis.reload()
        assert redis.attrs["State"]["Status"] == "running" and not redis.attrs["State"]["Paused"]
        # Docker's own health check (redis-cli ping every second) may be running at this instant: an exec still
        # running 5 s later is one that hangs
        execs = redis.attrs.get("ExecIDs") or []
        deadline = time.monotonic() + 5
        while (running := [e for e in map(docker_client.api.exec_inspect, execs) if e["Running"]]) \
                and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not running, f"an exec into redis is still hanging: {running}"
    finally:
        code, output = finish(chaos_command("clean", "--run", run_dir.name, cwd=tmp_path,
                                            env={"XDG_STATE_HOME": str(tmp_path / "state")}))
        assert code == 0, output
