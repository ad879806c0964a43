"""What comparisons say about this machine's noise, on synthetic runs: stored baselines say how many runs their
spread asks for instead of a bare "inconclusive"; ``chaos calibrate`` judges A/A rounds as gates would (identical
sides rarely fail, a shifted side is caught) and measures margins and the smallest change a gate catches."""

from __future__ import annotations

import json
import math

import pytest

from chaos.compare import Settings, compare
from chaos.compare.calibration import calibration, gate_rates
from chaos.compare.runs_needed import baseline_runs_needed, runs_needed_text
from chaos.report.calibration_text import render_calibration_text
from support.fakerun import make_run

QUIET = {"rps": 60.0, "sigma": 0.2, "fault_extra_ms": 150.0}


def _change(effect: float, band: float = 0.10, verdict: str = "inconclusive") -> dict:
    return {"verdict": verdict, "effect": effect, "band_high": band, "kind": "relative", "family": 15}


def test_the_runs_needed_follow_the_spread_between_runs():
    # 10 % band, no change seen: z * s * sqrt(1/m + 1/k) must fit in log(1.1) = 0.0953
    assert baseline_runs_needed(_change(0.0), spread=0.04, baseline_runs=2, candidate_runs=1) == 3
    # three candidate runs: the two baseline runs kept already suffice, what keeps it open is not between runs
    assert baseline_runs_needed(_change(0.0), spread=0.04, baseline_runs=2, candidate_runs=3) is None
    assert baseline_runs_needed(_change(0.0), spread=0.10, baseline_runs=2, candidate_runs=1) == 0  # never enough
    assert baseline_runs_needed(_change(0.0), spread=0.01, baseline_runs=2, candidate_runs=1) is None  # not the runs
    assert baseline_runs_needed(_change(0.0, verdict="no change"), 0.04, 2, 1) is None
    # towards worse, at Holm's strictest level over 15 metrics
    assert baseline_runs_needed(_change(0.40), spread=0.07, baseline_runs=2, candidate_runs=1) == 3
    assert baseline_runs_needed(_change(0.40), spread=0.12, baseline_runs=2, candidate_runs=1) == 0


def test_the_words_name_the_spread_and_what_to_do():
    assert "about 3 baseline runs" in runs_needed_text(3, 0.04, "relative", 2)
    never = runs_needed_text(0, math.log(1.25), "relative", 3)
    assert "±25%" in never and "chaos ab" in never and "candidate several times" in never
    assert runs_needed_text(None, 0.1, "relative", 2) == ""


def _side(tmp_path, name: str, bases: list[float], **extra) -> object:
    for i, base in enumerate(bases):
        run_id = f"2026010{i}T000000Z-{name[:4]:0<4}"
        make_run(tmp_path / name / run_id, seed=10 + i + 7 * len(name), run_id=run_id, base_ms=base,
                 **{**QUIET, **extra})
    return tmp_path / name


def test_stored_baselines_say_how_many_runs_their_spread_asks_for(tmp_path):
    baseline = _side(tmp_path, "base", [30.0, 36.0, 27.0])  # the same version, run at three busy moments
    candidate = make_run(tmp_path / "cand", seed=99, base_ms=31.0, **QUIET)
    comparison = compare([baseline, candidate], Settings(last=3))
    rows = [row["changes"][1] for row in comparison["experiments"][0]["rows"]]
    open_rows = [row for row in rows if row["verdict"] == "inconclusive" and row["effect"] is not None]
    assert open_rows, [row["verdict"] for row in rows]
    assert all("baseline runs" in row["reason"] or "longer phases" in row["reason"] for row in open_rows)
    never = [row for row in open_rows if row.get("baseline_runs_needed") == 0]
    assert never and all("run the candidate several times" in row["reason"] for row in never)


def test_one_run_per_side_says_it_knows_nothing_of_the_spread(tmp_path):
    a = make_run(tmp_path / "a", seed=1, base_ms=30.0, **QUIET)
    b = make_run(tmp_path / "b", seed=2, base_ms=45.0, window_noise=0.6, **QUIET)
    rows = [row["changes"][1] for row in compare([a, b])["experiments"][0]["rows"]]
    open_rows = [row for row in rows if row["verdict"] == "inconclusive" and row["effect"] is not None]
    assert open_rows and all("keep several baseline runs" in row["reason"] for row in open_rows)


def _rounds(tmp_path, name: str, count: int, b_extra_ms: float = 0.0) -> list[dict]:
    """Rounds of a side-by-side ab: both sides drift alike from round to round (the machine), B maybe slower."""
    rounds = []
    for i in range(count):
        drift = 1.0 + 0.3 * math.sin(i * 1.7)  # common mode: hits both sides of a round
        record = {"round": i + 1, "order": ["a|b"]}
        for side, extra in (("a", 0.0), ("b", b_extra_ms)):
            run_id = f"2026010{i % 10}T0{i // 10}0000Z-{side}{name[:3]}"
            path = make_run(tmp_path / name / side / run_id, seed=1000 * (side == "b") + i + len(name),
                            run_id=run_id, base_ms=30.0 * drift + extra, **QUIET)
            record[side] = {"run_id": run_id, "path": str(path), "outcome": "completed", "exit_code": 0}
        rounds.append(record)
    return rounds


@pytest.fixture(scope="module")
def aa_rounds(tmp_path_factory):
    return _rounds(tmp_path_factory.mktemp("aa"), "aa", 8)


def test_calibration_of_identical_sides_rarely_fails_and_suggests_margins(aa_rounds):
    document = calibration(aa_rounds, gate_rounds=4, experiment="shop", design="side-by-side")
    assert document["comparisons"] == math.comb(8, 4) and document["disjoint_comparisons"] == 2
    assert document["at_tolerance"]["gate_fails"] <= 0.10
    assert document["at_margins"]["no_change"] >= document["at_tolerance"]["no_change"]  # margins only widen
    p50 = next(m for m in document["metrics"] if (m["phase"], m["metric"]) == ("baseline", "latency.p50"))
    assert p50["rounds_used"] == 8 and p50["mde"] > p50["margin"] * 0  # measured, and positive
    assert p50["mde"] > 0.10  # the gate cannot see below its own tolerance band
    text = render_calibration_text(document)
    assert "shop: 8 A/A round(s) side-by-side" in text and "--tolerance p50=" in text


def test_gates_catch_a_shifted_side_that_drifts_with_its_pair(tmp_path):
    slower = _rounds(tmp_path, "slow", 6, b_extra_ms=20.0)  # +20 ms on ~30 ms: +67 % in the baseline phase
    rates = gate_rates(slower, gate_rounds=4)
    assert rates["gate_fails"] >= 0.8
    assert rates["per_metric"]["baseline latency.p50"]["worse"] >= 0.8


def test_too_few_rounds_for_the_gate_asked_is_a_clear_error(aa_rounds):
    with pytest.raises(ValueError, match="8 completed round"):
        calibration(aa_rounds, gate_rounds=9)


def test_calibrate_from_an_earlier_ab_dir_judges_its_rounds_again(aa_rounds, tmp_path):
    from click.testing import CliRunner

    from chaos.cli import main

    ab_dir = tmp_path / "shop-ab-1"
    ab_dir.mkdir()
    (ab_dir / "ab.json").write_text(json.dumps({"experiment": "shop", "design": "side-by-side",
                                                "rounds": aa_rounds}))
    result = CliRunner().invoke(main, ["calibrate", "--from", str(ab_dir), "--rounds", "4"])
    assert result.exit_code == 0, result.output
    assert "shop: 8 A/A round(s) side-by-side, judged as gates of 4 rounds (70 comparisons" in result.output
    written = json.loads((ab_dir / "calibration.json").read_text())
    assert written["schema"] == "chaos.calibration/1" and (ab_dir / "calibration.txt").is_file()
    too_many = CliRunner().invoke(main, ["calibrate", "--from", str(ab_dir), "--rounds", "9"])
    assert too_many.exit_code == 5 and "8 completed round(s)" in too_many.output
    not_ab = CliRunner().invoke(main, ["calibrate", "--from", str(tmp_path)])
    assert not_ab.exit_code == 2 and "no ab.json" in not_ab.output
