"""chaos compare: run selection, intervals, Kayenta-style verdicts, Holm, exit codes, renderers, the CI gate."""

from __future__ import annotations

import json
import re
import shutil
import xml.etree.ElementTree as ET

import pytest
from click.testing import CliRunner

from chaos.cli import main
from chaos.compare import (
    ALPHA,
    CompareInputError,
    Settings,
    baseline_side,
    collect_side,
    compare,
    compare_sides,
    exit_code,
    gate_exit_code,
    holm,
    parse_tolerances,
)
from chaos.report import render_all, write_comparison
from chaos.report.compare_html import render_compare_html
from chaos.report.compare_markdown import render_compare_markdown
from support.fakerun import make_run

pytestmark = pytest.mark.unit

# Enough requests and little drift: every metric can be pinned inside ±10 %.
STABLE = dict(rps=200.0, phases=(("warmup", 3.0), ("baseline", 30.0), ("fault", 30.0), ("recovery", 30.0)),
              base_ms=20.0, sigma=0.3, window_noise=0.03)
# The flagship's shape: 20 s phases, a few ms of latency that drifts from second to second.
SHOP_LIKE = dict(rps=150.0, phases=(("warmup", 5.0), ("baseline", 20.0), ("fault", 20.0), ("recovery", 15.0)),
                 base_ms=12.0, sigma=0.5, window_noise=0.08, base_error_rate=0.0005, fault_error_rate=0.003)


def changes(comparison: dict, candidate: int = 1) -> dict[tuple[str, str], dict]:
    return {(row["phase"], row["metric"]): row["changes"][candidate]
            for e in comparison["experiments"] for row in e["rows"]}


def verdicts(comparison: dict, candidate: int = 1) -> dict[tuple[str, str], str]:
    return {key: change["verdict"] for key, change in changes(comparison, candidate).items()}


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    """v1-like (slow under the fault, errors) and v2-like (barely affected) runs, two of each."""
    root = tmp_path_factory.mktemp("runs")
    runs = {}
    for version, extra, errors in (("v1", 700.0, 0.06), ("v2", 30.0, 0.0)):
        for i in range(2):
            runs[f"{version}-{i}"] = make_run(
                root / f"shop-{version}" / f"2026010{i}T000000Z-000{i}", seed=11 + 7 * i + (version == "v2"),
                experiment=f"shop-{version}", run_id=f"2026010{i}T000000Z-000{i}",
                fault_extra_ms=extra, fault_error_rate=errors, **STABLE)
    return root, runs


# ---------------------------------------------------------------- verdicts

def test_two_runs_of_the_same_version_are_no_change_on_every_metric(shop):
    _, runs = shop
    comparison = compare([runs["v2-0"], runs["v2-1"]])
    assert set(verdicts(comparison).values()) == {"no change"}, verdicts(comparison)
    assert comparison["verdict"] == "no change"
    assert comparison["pairs"][0]["counts"]["no change"] == 15 and comparison["pairs"][0]["family"] == 15
    for change in changes(comparison).values():
        assert change["band_low"] <= change["ci_low"] <= change["effect"] <= change["ci_high"] <= change["band_high"]


def test_v1_against_v2_is_worse_on_fault_p99_and_error_rate_and_mirrors(shop):
    _, runs = shop
    worse = compare([runs["v2-0"], runs["v1-0"]])
    v = verdicts(worse)
    assert v[("fault", "latency.p99")] == v[("fault", "error_rate")] == v[("fault", "latency.p50")] == "worse"
    assert v[("baseline", "latency.p99")] == v[("fault", "throughput")] == "no change"  # fakerun's load is open
    p99 = changes(worse)[("fault", "latency.p99")]
    assert p99["kind"] == "relative" and 5 < p99["ci_low"] < p99["effect"] < p99["ci_high"] < 20
    errors = changes(worse)[("fault", "error_rate")]
    assert errors["kind"] == "absolute" and 0.04 < errors["ci_low"] < errors["effect"] < errors["ci_high"] < 0.08
    assert worse["verdict"] == "worse" and "worse" in worse["reason"]
    better = compare([runs["v1-0"], runs["v2-0"]])
    mirrored = {"worse": "better", "better": "worse", "no change": "no change", "inconclusive": "inconclusive"}
    assert verdicts(better) == {k: mirrored[x] for k, x in v.items()}
    assert better["verdict"] == "better"


def test_too_few_requests_is_inconclusive_with_the_reason(tmp_path):
    a = make_run(tmp_path / "a", seed=1, rps=3.0)
    b = make_run(tmp_path / "b", seed=2, rps=3.0)
    c = changes(compare([a, b]))
    p99 = c[("baseline", "latency.p99")]
    assert p99["verdict"] == "inconclusive" and "p99 needs at least 100" in p99["reason"]
    assert p99["p"] is None  # not part of the Holm family


def test_noisy_short_runs_are_inconclusive_not_alarms(tmp_path):
    a = make_run(tmp_path / "a", seed=3, rps=40.0, sigma=0.9, window_noise=0.5)
    b = make_run(tmp_path / "b", seed=4, rps=40.0, sigma=0.9, window_noise=0.5)
    c = changes(compare([a, b]))
    p99 = c[("recovery", "latency.p99")]
    assert p99["verdict"] == "inconclusive" and "too noisy to tell" in p99["reason"]
    assert not any(x["verdict"] in ("worse", "better") for x in c.values())


def test_zero_errors_in_few_requests_do_not_prove_no_change(tmp_path):
    """0 of ~400 errors on one side: Newcombe's interval reaches past ±0.5 pp, the bootstrap alone would not."""
    a = make_run(tmp_path / "a", seed=5, rps=20.0, base_ms=5.0)
    b = make_run(tmp_path / "b", seed=6, rps=200.0, base_ms=5.0)
    change = changes(compare([a, b]))[("fault", "error_rate")]
    assert change["effect"] == 0 and change["verdict"] == "inconclusive"
    assert change["ci_low"] < -0.005


def test_false_alarm_rate_on_identical_shop_like_runs_is_low(tmp_path):
    alarms, uncorrected, pairs = 0, 0, 12
    for i in range(pairs):
        a = make_run(tmp_path / f"{i}a", seed=500 + 2 * i, **SHOP_LIKE)
        b = make_run(tmp_path / f"{i}b", seed=501 + 2 * i, **SHOP_LIKE)
        c = changes(compare([a, b]))
        alarms += any(x["verdict"] in ("worse", "better") for x in c.values())
        uncorrected += any(x["p"] is not None and x["p"] <= ALPHA for x in c.values())
    assert alarms <= 1, f"{alarms} of {pairs} identical pairs flagged"
    assert uncorrected >= alarms


# ---------------------------------------------------------------- multiple comparisons

def _row(p: float, effect: float = 0.3) -> dict:
    return {"p": p, "direction": "worse", "tolerance": 0.1, "band_low": -0.0909, "band_high": 0.1,
            "ci_low": effect - 0.2, "ci_high": effect + 0.2, "effect": effect, "verdict": "inconclusive"}


def test_holm_needs_more_evidence_as_the_family_grows():
    alone = [_row(0.01)]
    holm(alone)
    assert alone[0]["verdict"] == "worse" and alone[0]["p_adjusted"] == pytest.approx(0.01)
    family = [_row(0.01) for _ in range(15)]  # each significant at 5 % on its own
    holm(family)
    assert {r["verdict"] for r in family} == {"inconclusive"}
    assert all(r["p_adjusted"] == pytest.approx(0.15) for r in family)


def test_holm_steps_down_and_stops_at_the_first_failure():
    rows = [_row(0.001), _row(0.03), _row(0.004), _row(0.5, effect=0.0)]
    rows[3].update(ci_low=-0.05, ci_high=0.05)
    holm(rows)
    # sorted: 0.001 <= .05/4, 0.004 <= .05/3, 0.03 > .05/2 -> stop
    assert [r["verdict"] for r in rows] == ["worse", "inconclusive", "worse", "no change"]
    assert rows[1]["p_adjusted"] == pytest.approx(0.06)


def test_shortfall_rows_are_not_in_the_family():
    rows = [_row(0.01), {"p": None, "verdict": "inconclusive"}]
    holm(rows)
    assert rows[0]["verdict"] == "worse" and rows[0]["family"] == 1


# ---------------------------------------------------------------- picking runs

def test_a_directory_uses_its_newest_completed_run_and_notes_skipped_ones(tmp_path):
    exp = tmp_path / "shop"
    make_run(exp / "20260101T000000Z-aaaa", seed=1, run_id="20260101T000000Z-aaaa")
    make_run(exp / "20260102T000000Z-bbbb", seed=2, run_id="20260102T000000Z-bbbb")
    make_run(exp / "20260103T000000Z-cccc", seed=3, run_id="20260103T000000Z-cccc", abort_after_s=5)
    (exp / "latest").symlink_to("20260103T000000Z-cccc")
    side = collect_side(exp)
    assert [r.run_id for r in side.experiments["shop-redis-latency"]] == ["20260102T000000Z-bbbb"]
    assert side.notes == ["shop-redis-latency: skipped run 20260103T000000Z-cccc (aborted)"]
    pooled = collect_side(exp, last=5)
    assert [r.run_id for r in pooled.experiments["shop-redis-latency"]] == [
        "20260102T000000Z-bbbb", "20260101T000000Z-aaaa"]
    # a run dir given directly is compared even if it aborted, with a note
    direct = collect_side(exp / "latest")
    assert direct.notes and "aborted" in direct.notes[0]


def test_directories_of_experiments_are_matched_by_name(tmp_path):
    for version, extra in (("v1", 600.0), ("v2", 300.0)):
        for name in ("checkout", "browse"):
            make_run(tmp_path / version / name / "20260101T000000Z-0001", seed=len(name), experiment=name,
                     run_id="20260101T000000Z-0001", fault_extra_ms=extra)
    make_run(tmp_path / "v2" / "only-in-v2" / "20260101T000000Z-0001", seed=9, experiment="only-in-v2")
    comparison = compare([tmp_path / "v1", tmp_path / "v2"])
    names = [e["name"] for e in comparison["experiments"]]
    assert names == ["browse", "checkout", "only-in-v2"]
    assert [s["label"] for s in comparison["sides"]] == ["v1", "v2"]
    missing = changes({"experiments": [comparison["experiments"][2]]})[("fault", "latency.p99")]
    assert missing["verdict"] == "inconclusive" and "did not run in v1" in missing["reason"]
    # 2 experiments x 3 phases x 5 metrics judged together
    assert comparison["pairs"][0]["family"] == 30


def test_pooled_runs_widen_the_interval_when_runs_disagree(tmp_path):
    def side(name, seeds, base):
        for i, seed in enumerate(seeds):
            make_run(tmp_path / name / f"2026010{i}T000000Z-0000", seed=seed, run_id=f"2026010{i}T000000Z-0000",
                     base_ms=base[i], **{k: v for k, v in STABLE.items() if k != "base_ms"})
        return tmp_path / name
    steady = side("steady", (1, 2), (20.0, 20.0))
    drifting = side("drifting", (3, 4), (16.0, 25.0))  # the same version on a busy and a quiet machine
    reference = make_run(tmp_path / "ref", seed=5, **STABLE)
    narrow = changes(compare([reference, steady], Settings(last=2)))[("baseline", "latency.p50")]
    wide = changes(compare([reference, drifting], Settings(last=2)))[("baseline", "latency.p50")]
    assert (wide["ci_high"] - wide["ci_low"]) > 3 * (narrow["ci_high"] - narrow["ci_low"])
    assert narrow["verdict"] == "no change" and wide["verdict"] == "inconclusive"


def test_bad_paths_are_input_errors(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(CompareInputError, match="no run dirs here"):
        collect_side(tmp_path / "empty")
    with pytest.raises(CompareInputError, match="at least two"):
        compare([tmp_path / "empty"])


def test_baseline_side_matches_the_experiment_by_name_or_takes_the_only_one(tmp_path):
    make_run(tmp_path / "all" / "a" / "r1", seed=1, experiment="a", run_id="r1")
    make_run(tmp_path / "all" / "b" / "r1", seed=2, experiment="b", run_id="r1")
    assert list(baseline_side(tmp_path / "all", "b").experiments) == ["b"]
    with pytest.raises(CompareInputError, match="no run of c here; found a, b"):
        baseline_side(tmp_path / "all", "c")
    assert list(baseline_side(tmp_path / "all" / "a", "shop-v2").experiments) == ["a"]


# ---------------------------------------------------------------- tolerances, exit codes, CLI

def test_parse_tolerances():
    assert parse_tolerances([]) == (0.10, ())
    assert parse_tolerances(["5%", "p99=25%", "error_rate=0.2"]) == (
        0.05, (("error_rate", 0.2), ("latency.p99", 0.25)))
    with pytest.raises(ValueError, match="unknown metric"):
        parse_tolerances(["p42=5%"])


def test_a_per_metric_tolerance_turns_inconclusive_p99_into_no_change(tmp_path):
    a = make_run(tmp_path / "a", seed=21, **SHOP_LIKE)
    b = make_run(tmp_path / "b", seed=22, **SHOP_LIKE)
    strict = changes(compare([a, b]))[("baseline", "latency.p99")]
    loose = changes(compare([a, b], Settings(per_metric=(("latency.p99", 0.6),))))[("baseline", "latency.p99")]
    assert strict["verdict"] == "inconclusive" and loose["verdict"] == "no change"
    assert loose["tolerance"] == 0.6


def test_exit_codes_and_the_gate(shop):
    _, runs = shop
    regression = compare([runs["v2-0"], runs["v1-0"]])
    improvement = compare([runs["v1-0"], runs["v2-0"]])
    assert exit_code(regression, ("worse",)) == 1 and exit_code(improvement, ("worse",)) == 0
    assert exit_code(improvement, ("change",)) == 1 and exit_code(regression, ()) == 0
    assert gate_exit_code(0, regression) == 1 and gate_exit_code(5, regression) == 1
    assert gate_exit_code(0, improvement) == 0 and gate_exit_code(3, regression) == 3
    assert gate_exit_code(4, improvement) == 4


def test_cli_compare_writes_files_and_exits_by_fail_on(shop, tmp_path):
    _, runs = shop
    cli = CliRunner()
    out = tmp_path / "out"
    result = cli.invoke(main, ["compare", str(runs["v2-0"]), str(runs["v1-0"]), "--out", str(out),
                               "--fail-on", "worse", "--tolerance", "10%", "--tolerance", "p99=20%"])
    assert result.exit_code == 1, result.output
    assert "REGRESSION" in result.output and "WORSE" in result.output
    assert sorted(p.name for p in out.iterdir()) == ["compare.html", "compare.json", "compare.md"]
    data = json.loads((out / "compare.json").read_text())
    assert data["schema"] == "chaos.compare/1" and data["settings"]["per_metric"] == {"latency.p99": 0.2}
    ok = cli.invoke(main, ["compare", str(runs["v1-0"]), str(runs["v2-0"]), "--out", str(out), "--fail-on", "worse"])
    assert ok.exit_code == 0, ok.output
    bad = cli.invoke(main, ["compare", str(runs["v1-0"]), str(tmp_path), "--out", str(out)])
    assert bad.exit_code == 2 and "no run dirs here" in bad.output
    one = cli.invoke(main, ["compare", str(runs["v1-0"])])
    assert one.exit_code == 2
    typo = cli.invoke(main, ["compare", str(runs["v1-0"]), str(runs["v2-0"]), "--tolerance", "p98=5%"])
    assert typo.exit_code == 2 and "unknown metric" in typo.output


def test_report_and_compare_name_the_journal_line_they_could_not_read(shop, tmp_path):
    _, runs = shop
    torn = tmp_path / "torn"
    shutil.copytree(runs["v1-0"], torn)
    number = len((torn / "journal.jsonl").read_text().splitlines()) + 1
    with open(torn / "journal.jsonl", "a") as journal:
        journal.write('{"v": 1, "seq": 99, "event": "fau')
    cli = CliRunner()
    shown = cli.invoke(main, ["report", str(torn)])
    assert shown.exit_code == 0, shown.output
    assert f"{torn}/journal.jsonl:{number}: unreadable line, skipped" in shown.output
    compared = cli.invoke(main, ["compare", str(runs["v2-0"]), str(torn), "--out", str(tmp_path / "out")])
    assert compared.exit_code == 0, compared.output
    assert f"journal.jsonl:{number}: unreadable line, skipped" in compared.output
    data = json.loads((tmp_path / "out" / "compare.json").read_text())
    assert data["sides"][1]["notes"] == [f"run 20260100T000000Z-0000: journal.jsonl:{number}: unreadable line, skipped"]


# ---------------------------------------------------------------- renderers

def test_html_is_self_contained_and_explains_the_rule(shop):
    _, runs = shop
    html = render_compare_html(compare([runs["v2-0"], runs["v1-0"], runs["v2-1"]]))
    assert "<script" not in html and not re.search(r"(src|href)=\"https?:", html)
    assert "REGRESSION" in html and "Holm" in html and "tolerance" in html
    assert html.count("<svg") == 4  # p99, p50, error rate, throughput overlays
    assert "C against A" in html and "B against A" in html  # one table per candidate
    ET.fromstring(re.search(r"<svg.*?</svg>", html, re.S).group(0))  # inline SVG is well-formed


def test_markdown_has_one_row_per_phase_and_metric(shop):
    _, runs = shop
    md = render_compare_markdown(compare([runs["v2-0"], runs["v1-0"]]))
    table = [line for line in md.splitlines() if line.startswith("| ")]
    assert len(table) == 2 + 15
    assert "| fault | p99 latency |" in md and "🔴 worse" in md
    assert md.splitlines()[0].startswith("### 🔴 REGRESSION")


def test_report_md_carries_the_baseline_comparison(shop, tmp_path):
    _, runs = shop
    run_dir = tmp_path / "run"
    shutil.copytree(runs["v1-1"], run_dir)
    comparison = compare_sides([baseline_side(runs["v2-0"], "shop-v1"), collect_side(run_dir, label="this run")])
    write_comparison(comparison, run_dir)
    md = render_all(run_dir, formats=("md",))["md"].read_text()
    assert "#### 🔴 REGRESSION · Against the baseline" in md
    assert md.index("Against the baseline") > md.index("| Verdict | Hypothesis")


def test_rendering_is_deterministic(shop):
    _, runs = shop
    first = compare([runs["v2-0"], runs["v1-0"]])
    assert compare([runs["v2-0"], runs["v1-0"]]) == first
    assert render_compare_html(first) == render_compare_html(first)


def test_a_single_run_borrows_the_run_to_run_drift_of_a_pooled_baseline(tmp_path):
    """A run 25 % slower than the baseline's average: worse against a steady baseline, but not
    against a baseline whose own runs differ that much from each other."""
    rest = {k: v for k, v in STABLE.items() if k != "base_ms"}

    def runs(name, bases):
        for i, base in enumerate(bases):
            make_run(tmp_path / name / f"2026010{i}T000000Z-0000", seed=30 + i, run_id=f"2026010{i}T000000Z-0000",
                     base_ms=base, **rest)
        return tmp_path / name
    steady = runs("steady", (20.0, 20.0, 20.0))
    drifting = runs("drifting", (15.0, 20.0, 26.0))
    candidate = make_run(tmp_path / "candidate", seed=40, base_ms=25.0, **rest)
    against_steady = compare([steady, candidate], Settings(last=3))
    against_drifting = compare([drifting, candidate], Settings(last=3))
    assert verdicts(against_steady)[("baseline", "latency.p50")] == "worse"
    assert verdicts(against_drifting)[("baseline", "latency.p50")] == "inconclusive"
    assert against_drifting["experiments"][0]["drift_from"] == {"1": 0}
    assert not any(v in ("worse", "better") for v in verdicts(against_drifting).values())
