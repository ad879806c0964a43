"""The analysis benchmark as pytest-benchmark cases: summary + every report of a 1-million-sample run, and a
compare of two such runs, in this process (imports warm, unlike `python -m bench`, which times the
commands as a user runs them).

Not part of the test suite (testpaths is tests/): ``.venv/bin/python -m pytest bench/ --benchmark-only``
(``make bench-pytest``; ``CHAOS_BENCH_SAMPLES=20000`` for a smoke run). Asserts what was computed, never
how fast: the figures are the benchmark's.
"""

from __future__ import annotations

import json
import os
import resource

import pytest

from bench.synthetic import make_run

SAMPLES = int(os.environ.get("CHAOS_BENCH_SAMPLES", "1000000"))  # smaller for a smoke run


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    reports = tmp_path_factory.mktemp("analysis")
    a = make_run(reports, "bench-analysis", "20260101T000000-aaaa", SAMPLES, seed=1)
    b = make_run(reports, "bench-analysis", "20260101T010000-bbbb", SAMPLES, seed=2, slower=1.05)
    return a, b


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def test_report_of_a_million_samples(benchmark, runs):
    from chaos.report import render_all

    run_dir = runs[0]
    written = benchmark.pedantic(render_all, args=(run_dir,), rounds=3, iterations=1, warmup_rounds=0)
    benchmark.extra_info["peak_rss_mib"] = round(_peak_mib())
    summary = json.loads(written["json"].read_text())
    assert sorted(written) == ["html", "json", "junit", "md"]
    assert sum(phase["metrics"]["count"]["value"] for phase in summary["phases"]) == SAMPLES
    assert summary["verdict"] == "deviated"  # the synthetic faults break the error-rate and p99 bounds


def test_compare_of_two_million_sample_runs(benchmark, runs, tmp_path):
    from chaos.compare import compare
    from chaos.report import write_comparison

    def compare_and_write():
        comparison = compare([str(runs[0]), str(runs[1])])
        return comparison, write_comparison(comparison, tmp_path)

    comparison, written = benchmark.pedantic(compare_and_write, rounds=3, iterations=1, warmup_rounds=0)
    benchmark.extra_info["peak_rss_mib"] = round(_peak_mib())
    assert sorted(written) == ["html", "json", "md"]
    assert comparison["verdict"] in ("worse", "inconclusive")  # the second run is 5 % slower
