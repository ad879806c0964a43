"""chaos ab's paired judgement on synthetic rounds: common-mode drift between rounds cancels in the pairs, a
shifted side is worse, too few rounds is inconclusive and says how many would do; Student's t as tabulated."""

from __future__ import annotations

import numpy as np
import pytest

from chaos.analysis.summary import PhaseWindows
from chaos.compare import Settings, holm
from chaos.compare.paired import judge_paired, round_order, rounds_needed, settle_text
from chaos.compare.resampling import phase_side
from chaos.stats import student_t_quantile, student_t_sf

SECONDS = 20
RATE = 50  # requests per 1 s window


def cell(rng, median_ms: float, error_rate: float = 0.0, rate: int = RATE):
    """One run's phase: ``rate`` requests a second for SECONDS, log-normal latencies around ``median_ms``."""
    n = rate * SECONDS
    latency = median_ms * np.exp(rng.normal(0, 0.25, n))
    ok = rng.random(n) >= error_rate
    window = np.repeat(np.arange(SECONDS), rate)
    return phase_side([PhaseWindows("fault", latency, ok, window, np.ones(SECONDS), 0.0, float(SECONDS))])


def rounds(seed: int, count: int, shift: float = 1.0, drift: float = 0.6):
    """``count`` rounds whose machine speed swings by up to ``drift`` (log scale) from round to round, felt
    alike by A and B; B's latency is ``shift`` times A's."""
    rng = np.random.default_rng(seed)
    speed = np.exp(rng.uniform(-drift, drift, count))
    a = [cell(rng, 40 * s) for s in speed]
    b = [cell(rng, 40 * s * shift) for s in speed]
    return a, b


def judged(metrics, a, b, settings=Settings()):
    rows = [judge_paired(metric, a, b, settings) | {"phase": "fault"} for metric in metrics]
    holm(rows)
    for row in rows:
        row["rounds_needed"] = rounds_needed(row)
    return rows


METRICS = ("error_rate", "latency.p50", "latency.p95", "latency.p99", "throughput")


@pytest.mark.parametrize("seed", range(5))
def test_identical_sides_with_strong_drift_are_no_change(seed):
    a, b = rounds(seed, 6)
    spread_of_a = np.ptp([c.observed("latency.p50") for c in a]) / np.median([c.observed("latency.p50") for c in a])
    assert spread_of_a > 0.3  # the machine's swing alone would break a 10 % tolerance between unpaired runs
    rows = judged(METRICS, a, b, Settings(tolerance=0.15))
    assert {r["metric"]: r["verdict"] for r in rows}["latency.p50"] == "no change"
    assert not any(r["verdict"] in ("worse", "better") for r in rows)


@pytest.mark.parametrize("seed", range(5))
def test_a_shifted_side_is_worse(seed):
    a, b = rounds(seed, 6, shift=1.5)
    rows = {r["metric"]: r for r in judged(METRICS, a, b)}
    for metric in ("latency.p50", "latency.p95"):
        assert rows[metric]["verdict"] == "worse", rows[metric]["reason"]
        assert 0.3 < rows[metric]["effect"] < 0.7
        assert rows[metric]["ci_low"] > rows[metric]["band_high"]
    assert rows["throughput"]["verdict"] != "worse"


def test_a_faster_side_is_better_and_a_slower_one_mirrors_it():
    a, b = rounds(7, 6, shift=0.6)
    assert judged(["latency.p50"], a, b)[0]["verdict"] == "better"
    assert judged(["latency.p50"], b, a)[0]["verdict"] == "worse"


def test_a_higher_error_rate_is_worse_but_zero_errors_everywhere_proves_little():
    rng = np.random.default_rng(3)
    a = [cell(rng, 40) for _ in range(6)]
    b = [cell(rng, 40, error_rate=0.2) for _ in range(6)]
    row = judged(["error_rate"], a, b)[0]
    assert row["verdict"] == "worse" and row["kind"] == "absolute" and 0.15 < row["effect"] < 0.25
    small = [cell(rng, 40, rate=5) for _ in range(2)]  # 100 requests a side, no error: Newcombe keeps it wide
    row = judged(["error_rate"], small, small)[0]
    assert row["effect"] == 0 and row["ci_high"] > 0.005 and row["verdict"] == "inconclusive"


def test_one_round_is_inconclusive_and_asks_for_rounds():
    a, b = rounds(1, 1)
    row = judged(["latency.p50"], a, b)[0]
    assert row["verdict"] == "inconclusive" and row["rounds_used"] == 1 and row["p"] is None
    assert "at least 2" in row["reason"] and settle_text(row) == "run at least 3 rounds"


def test_too_few_rounds_for_a_noisy_metric_say_how_many_would_do():
    a, b = rounds(11, 2, shift=1.03, drift=0.6)
    rng = np.random.default_rng(5)  # B's own noise: rounds disagree by several percent
    b = [cell(rng, c.observed("latency.p50") * f) for c, f in zip(a, (1.0, 1.12))]
    row = judged(["latency.p50"], a, b, Settings(tolerance=0.10))[0]
    assert row["verdict"] == "inconclusive" and row["rounds_used"] == 2
    assert row["rounds_needed"] is not None and row["rounds_needed"] > 2
    assert f"about {row['rounds_needed']} rounds" in settle_text(row)


def test_a_phase_too_short_for_p99_asks_for_longer_phases():
    rng = np.random.default_rng(2)
    a = [cell(rng, 40, rate=2) for _ in range(4)]  # 40 requests a run: p99 needs 100
    row = judged(["latency.p99"], a, a)[0]
    assert row["verdict"] == "inconclusive" and "needs at least 100" in row["reason"]
    assert settle_text(row) == "longer phases would give it enough data"


def test_rounds_alternate_which_side_goes_first():
    assert [round_order(i) for i in range(4)] == [("a", "b"), ("b", "a"), ("a", "b"), ("b", "a")]


@pytest.mark.parametrize("df, expected", [(1, 12.706), (2, 4.303), (4, 2.776), (9, 2.262), (30, 2.042)])
def test_student_t_quantiles_match_the_tables(df, expected):
    assert student_t_quantile(0.975, df) == pytest.approx(expected, abs=1e-3)
    assert student_t_sf(expected, df) == pytest.approx(0.025, abs=1e-4)
    assert student_t_sf(-expected, df) == pytest.approx(0.975, abs=1e-4)


# ---- the chaos.ab/1 document and its reports, from synthetic run dirs ----

def ab_rounds(tmp_path, count: int, b_extra_ms: float, outcomes=None):
    """Rounds of fake runs whose whole latency scales by a drift per round (common to A and B)."""
    from support.fakerun import make_run

    rounds = []
    for index in range(count):
        order = round_order(index)
        drift = 1.0 + 0.5 * (index % 2)
        record = {"round": index + 1, "order": list(order)}
        for side, extra in (("a", 300.0), ("b", 300.0 + b_extra_ms)):
            run_id = f"2025010{index}T12000{side}"
            path = make_run(tmp_path / side / run_id, seed=10 * index + (side == "b"), base_ms=40 * drift,
                            fault_extra_ms=extra * drift, rps=40.0, run_id=run_id)
            outcome = (outcomes or {}).get((index, side), "completed")
            record[side] = {"run_id": run_id, "path": str(path), "outcome": outcome, "exit_code": 0}
        rounds.append(record)
    return rounds


def test_the_ab_document_pairs_rounds_and_renders(tmp_path):
    from chaos.compare.interleaved import SCHEMA, ab_comparison
    from chaos.report import write_comparison

    rounds = ab_rounds(tmp_path, 4, b_extra_ms=300.0)
    comparison = ab_comparison("shop-redis-latency", rounds)
    assert comparison["schema"] == SCHEMA and comparison["verdict"] == "worse"
    assert comparison["pairing"]["order"] == "AB BA AB BA" and comparison["pairing"]["judged"] == 4
    fault = {row["metric"]: row["changes"][1] for row in comparison["experiments"][0]["rows"]
             if row["phase"] == "fault"}
    assert fault["latency.p50"]["verdict"] == "worse" and len(fault["latency.p50"]["rounds"]) == 4
    written = write_comparison(comparison, tmp_path / "out")
    html = written["html"].read_text()
    assert "Rounds" in html and "paired" in html and "rounds: " in html and "block-bootstrap" not in html
    assert "4 round(s) judged (AB BA AB BA)" in written["md"].read_text()


def test_rounds_that_did_not_complete_on_both_sides_are_left_out(tmp_path):
    from chaos.compare.interleaved import ab_comparison

    rounds = ab_rounds(tmp_path, 3, b_extra_ms=0.0, outcomes={(2, "b"): "interrupted"})
    comparison = ab_comparison("shop-redis-latency", rounds)
    assert comparison["pairing"]["judged"] == 2
    assert "Judged on 2 of 3 round(s)" in comparison["reason"]
    assert comparison["verdict"] in ("no change", "inconclusive")
