"""`chaos ab` on the shop: api v1 against v2 under the redis latency fault, side by side, is B worse (exit 1),
with every run a normal run (its faults reverted, its system removed) on one timeline with its pair; a signal
reaches both runs of a round once; interleaved rounds judge what completed; bad input starts nothing."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

from support.e2e import (
    QUICK_PHASES,
    REPO,
    assert_every_fault_reverted,
    chaos_command,
    finish,
    journal,
    redis_latency_experiment,
)
from support.from_outside import assert_nothing_left

# Short phases: baseline and recovery have too few 1 s windows to judge (they say "longer phases"); the
# 10 s fault phase is what is judged, 5 metrics in Holm's family. (With 6 s, a busy machine left v1's fault
# phase with fewer than 5 windows with requests in one round: that round was dropped, 2 rounds stayed, and
# one degree of freedom cannot pass Holm: inconclusive, as it should be.)
AB = redis_latency_experiment("e2e-ab", QUICK_PHASES, fault_for="10s")


def test_v1_against_v2_side_by_side_is_worse_on_one_timeline_and_every_run_is_cleaned(tmp_path, docker_client):
    experiment = tmp_path / "ab.yaml"
    experiment.write_text(AB.replace("@REPO@", str(REPO)))
    code, output = finish(chaos_command("ab", str(experiment), "--a", "API_VERSION=v2", "--b", "API_VERSION=v1",
                                        "--var", "LAT=300ms", "--rounds", "3", "--seed", "7",
                                        "--report-dir", "reports", cwd=tmp_path), timeout=300)
    [ab_dir] = (tmp_path / "reports").glob("e2e-ab-ab-*")
    assert code == 1 and "Traceback" not in output, output  # 1 is also what an uncaught exception exits with
    comparison = json.loads((ab_dir / "compare.json").read_text())
    assert comparison["schema"] == "chaos.ab/1" and comparison["verdict"] == "worse"
    assert comparison["pairing"]["order"] == "A|B A|B A|B" and comparison["pairing"]["judged"] == 3
    rows = {(row["phase"], row["metric"]): row["changes"][1] for row in comparison["experiments"][0]["rows"]}
    fault_p95 = rows[("fault", "latency.p95")]  # v1 waits out the 300 ms per redis call; v2 gives up early
    assert fault_p95["verdict"] == "worse" and fault_p95["ci_low"] > 0.5, fault_p95["reason"]
    assert all(change["verdict"] != "better" for (phase, metric), change in rows.items() if metric != "error_rate")
    assert rows[("baseline", "latency.p50")]["settle"] == "longer phases would give it enough data"
    assert (ab_dir / "compare.html").is_file() and "REGRESSION" in output
    run_dirs = [Path(r[side]["path"]) for r in comparison["pairing"]["rounds"] for side in ("a", "b")]
    assert len(run_dirs) == 6 and all((d / "report.html").is_file() for d in run_dirs)
    for run_dir in run_dirs:
        assert_every_fault_reverted(journal(run_dir))
        assert_nothing_left(docker_client, run_dir)
    for record in comparison["pairing"]["rounds"]:  # one timeline: each fault in at the same moment on both sides
        a, b = (_injected_at(journal(Path(record[side]["path"]))) for side in ("a", "b"))
        assert abs(a - b) < 0.5, (a, b)
        assert json.loads((Path(record["a"]["path"]) / "plan.json").read_text())["load"]["users"] == 3  # 5 split


def test_sigterm_side_by_side_reaches_both_runs_once_and_both_revert(tmp_path, docker_client):
    code, output = _sigterm_aa(tmp_path, "side-by-side", when=lambda: _runs_with_fault(tmp_path / "reports", "*") >= 2)
    assert code == 143, output
    [ab_dir] = (tmp_path / "reports").glob("e2e-ab-ab-*")
    [first] = json.loads((ab_dir / "ab.json").read_text())["rounds"]
    for side in ("a", "b"):
        assert first[side]["outcome"] == "interrupted", first
        events = journal(Path(first[side]["path"]))
        assert_every_fault_reverted(events)
        assert_nothing_left(docker_client, Path(first[side]["path"]))
        ended = [e for e in events if e["event"] == "run_ended"]
        assert ended[0]["error"] == "stopped by SIGTERM"
    assert "ignored" not in output  # delivered once, not by the terminal and by chaos ab both
    assert not (ab_dir / "compare.json").exists()  # no round completed on both sides: nothing judged


def test_a_side_with_a_bad_value_is_bad_input_and_starts_nothing(tmp_path):
    experiment = tmp_path / "ab.yaml"
    experiment.write_text(AB.replace("@REPO@", str(REPO)))
    code, output = finish(chaos_command("ab", str(experiment), "--a", "LAT=300ms", "--b", "LAT=fast",
                                        "--report-dir", "reports", cwd=tmp_path))
    assert code == 2, output
    assert "ab.yaml:" in output and "latency" in output and len(output.strip().splitlines()) == 1
    assert not (tmp_path / "reports").exists()


def test_sigterm_in_an_interleaved_round_reverts_its_run_judges_what_completed_and_exits_143(tmp_path, docker_client):
    # round 2 starts with B: stop it once its fault is in, round 1 having completed
    code, output = _sigterm_aa(tmp_path, "interleaved", when=lambda: _runs_with_fault(tmp_path / "reports", "b") >= 2)
    assert code == 143, output
    [ab_dir] = (tmp_path / "reports").glob("e2e-ab-ab-*")
    rounds = json.loads((ab_dir / "ab.json").read_text())["rounds"]
    assert [r["round"] for r in rounds] == [1, 2] and rounds[1]["b"]["outcome"] == "interrupted"
    assert rounds[1]["a"] is None  # round 2's A never started
    comparison = json.loads((ab_dir / "compare.json").read_text())
    assert comparison["pairing"]["judged"] == 1 and comparison["pairing"]["stopped"].startswith("stopped by signal 15")
    assert comparison["verdict"] == "inconclusive"  # one round has no spread to judge by
    for record in (rounds[0]["a"], rounds[0]["b"], rounds[1]["b"]):
        run_dir = Path(record["path"])
        assert_every_fault_reverted(journal(run_dir))
        assert_nothing_left(docker_client, run_dir)


def _sigterm_aa(tmp_path: Path, design: str, when) -> tuple[int, str]:
    """An A/A `chaos ab` of 2 rounds, sent SIGTERM once ``when()`` holds; its exit code and output."""
    experiment = tmp_path / "ab.yaml"
    experiment.write_text(AB.replace("@REPO@", str(REPO)))
    process = chaos_command("ab", str(experiment), "--a", "API_VERSION=v2", "--b", "API_VERSION=v2",
                            "--var", "LAT=100ms", "--rounds", "2", "--design", design,
                            "--report-dir", "reports", cwd=tmp_path)
    try:
        assert _wait_for(when, timeout=240), "the moment to stop never came"
        process.send_signal(signal.SIGTERM)
        return finish(process, timeout=120)
    finally:
        if process.poll() is None:
            process.kill()


def _runs_with_fault(reports: Path, side: str) -> int:
    count = 0
    for path in reports.glob(f"*/{side}/*/*/journal.jsonl"):
        try:
            count += not path.parent.is_symlink() and any(e["event"] == "fault_injected" for e in journal(path.parent))
        except json.JSONDecodeError:  # a line being written
            pass
    return count


def _wait_for(ready, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ready():
            return True
        time.sleep(0.2)
    return False


def _injected_at(events: list[dict]) -> float:
    return next(e["mono"] for e in events if e["event"] == "fault_injected")
