"""`chaos run --baseline`: a run that is worse than its baseline exits 1 and says why, in report.md too."""

from __future__ import annotations

import json

from support.e2e import REPO, SHORT_PHASES, chaos_command, finish, only_run_dir, redis_latency_experiment
from support.from_outside import assert_nothing_left

GATE = redis_latency_experiment("e2e-gate", SHORT_PHASES, fault_for="6s")


def test_a_run_worse_than_its_baseline_exits_1(tmp_path, docker_client):
    experiment = tmp_path / "gate.yaml"
    experiment.write_text(GATE.replace("@REPO@", str(REPO)))
    code, output = finish(chaos_command("run", str(experiment), "--var", "LAT=1ms", "--report-dir", "baseline",
                                        cwd=tmp_path))
    assert code in (0, 5), output
    code, output = finish(chaos_command("run", str(experiment), "--var", "LAT=400ms", "--report-dir", "reports",
                                        "--baseline", "baseline", "--tolerance", "10%", cwd=tmp_path))
    run_dir = only_run_dir(tmp_path / "reports")
    assert code == 1, output
    assert "REGRESSION" in output and "WORSE" in output
    comparison = json.loads((run_dir / "compare.json").read_text())
    fault_p50 = next(row["changes"][1] for row in comparison["experiments"][0]["rows"]
                     if row["phase"] == "fault" and row["metric"] == "latency.p50")
    assert fault_p50["verdict"] == "worse" and fault_p50["ci_low"] > 1.0  # 400 ms of redis latency: far slower
    assert (run_dir / "compare.html").is_file()
    report_md = (run_dir / "report.md").read_text()
    assert "Against the baseline" in report_md and "🔴 worse" in report_md
    assert_nothing_left(docker_client, run_dir)


def test_a_baseline_without_runs_is_bad_input_and_starts_nothing(tmp_path):
    experiment = tmp_path / "gate.yaml"
    experiment.write_text(GATE.replace("@REPO@", str(REPO)))
    (tmp_path / "empty").mkdir()
    code, output = finish(chaos_command("run", str(experiment), "--var", "LAT=1ms", "--report-dir", "reports",
                                        "--baseline", "empty", cwd=tmp_path))
    assert code == 2, output
    assert "--baseline empty: " in output and "no run dirs here" in output
    assert not (tmp_path / "reports").exists()
