"""junit.xml read by a real JUnit consumer (junitparser): counts, one test case per check, messages, names."""

from __future__ import annotations

import json
from datetime import datetime

import pytest
from junitparser import Error, Failure, JUnitXml, Skipped

from chaos.analysis import format_value
from chaos.report import render_all
from chaos.report.junit import case_names
from support.fakerun import hypothesis, make_run

pytestmark = pytest.mark.unit

RESULT = {"deviated": Failure, "inconclusive": Skipped}
RUNS = {
    "held": dict(fault_extra_ms=10),
    "deviated": dict(fault_extra_ms=700, fault_error_rate=0.08),
    "inconclusive": dict(rps=2.0),
    "aborted": dict(fault_extra_ms=900, fault_error_rate=0.2, abort_after_s=6),
    "failed": dict(fault_extra_ms=10, outcome="error", run_error="the engine went away"),
}


@pytest.fixture(scope="module", params=list(RUNS))
def rendered(request, tmp_path_factory):
    run_dir = make_run(tmp_path_factory.mktemp(request.param), **RUNS[request.param])
    paths = render_all(run_dir, formats=("junit", "json"))
    summary = json.loads(paths["json"].read_text(encoding="utf-8"))
    return request.param, summary, JUnitXml.fromfile(str(paths["junit"]))


def expected_counts(summary: dict) -> dict[str, int]:
    checks = summary["checks"]
    extra = summary["verdict"] == "aborted" or summary["run"]["outcome"] == "error"
    return {"tests": len(checks) + extra, "failures": sum(c["verdict"] == "deviated" for c in checks),
            "errors": int(extra), "skipped": sum(c["verdict"] == "inconclusive" for c in checks)}


def test_the_verdict_each_run_is_built_for(rendered):
    kind, summary, _ = rendered
    assert summary["verdict"] == {"failed": "inconclusive"}.get(kind, kind)


def test_declared_counts_match_what_the_consumer_counts(rendered):
    _, summary, xml = rendered
    [suite] = list(xml)
    declared = {key: getattr(suite, key) for key in ("tests", "failures", "errors", "skipped")}
    assert declared == expected_counts(summary)
    assert {k: getattr(xml, k) for k in ("tests", "failures", "errors")} == {
        k: v for k, v in declared.items() if k != "skipped"}
    xml = JUnitXml.fromstring(xml.tostring())  # a copy: update_statistics rewrites the shared fixture
    [suite] = list(xml)
    xml.update_statistics()  # junitparser counts the test cases and results itself
    assert {key: getattr(suite, key) for key in declared} == declared
    assert {k: getattr(xml, k) for k in declared} == declared


def test_every_check_is_one_test_case_with_its_verdict(rendered):
    _, summary, xml = rendered
    [suite] = list(xml)
    cases = list(suite)
    checks = summary["checks"]
    assert [c.name for c in cases[:len(checks)]] == case_names(checks)
    assert {c.classname for c in cases} == {summary["experiment"]}
    for case, check in zip(cases, checks):
        results = case.result
        if check["verdict"] == "held":
            assert case.is_passed and results == []
            continue
        [result] = results
        assert isinstance(result, RESULT[check["verdict"]])
        metric = check["metric"]
        for part in (f"phase {check['phase']}", metric, format_value(metric, check["observed"]),
                     f"{check['op']} {format_value(metric, check['threshold'])}"):
            assert part in result.message
        assert check["reason"] in result.text


def test_a_run_that_did_not_end_as_planned_is_one_error_case(rendered):
    kind, summary, xml = rendered
    [suite] = list(xml)
    errors = [c for c in suite if any(isinstance(r, Error) for r in c.result)]
    if kind not in ("aborted", "failed"):
        assert errors == []
        return
    [case] = errors
    assert case.name == {"aborted": "run aborted", "failed": "run failed"}[kind]
    [error] = case.result
    assert error.message == summary["reason"] and error.type == summary["run"]["outcome"]
    if kind == "aborted":
        assert "guard" in error.message
    else:
        assert "the engine went away" in error.message


def test_times_and_timestamp_are_what_ci_servers_read(rendered):
    _, summary, xml = rendered
    [suite] = list(xml)
    assert suite.time == pytest.approx(summary["run"]["duration_s"], abs=0.001) and xml.time == suite.time
    case_total = sum(c.time for c in suite)
    judged = sum(p["duration_s"] for p in summary["phases"] if any(c["phase"] == p["name"] for c in summary["checks"]))
    assert case_total == pytest.approx(judged, abs=0.01) and case_total <= suite.time
    assert datetime.fromisoformat(suite.timestamp).tzinfo is not None
    props = {p.name: p.value for p in suite.properties()}
    assert props["verdict"] == summary["verdict"] and props["run_id"] == summary["run_id"]
    assert props["schema"] == "chaos.summary/1"


def test_names_with_quotes_markup_and_unicode_survive_the_round_trip(tmp_path):
    name = 'say "hi" & <b>don\'t</b> — naïve 日本 🚀'
    experiment = 'shop "v2" <&> ünï'
    steady = [hypothesis(name, "latency.p50", max=1.0, phases=["baseline"]),
              hypothesis("tab\tand\x07bell", "error_rate", max=0.5, phases=["baseline"])]
    run_dir = make_run(tmp_path, steady_state=steady, experiment=experiment, fault_extra_ms=10)
    xml = JUnitXml.fromfile(str(render_all(run_dir, formats=("junit",))["junit"]))
    [suite] = list(xml)
    first, second = list(suite)
    assert suite.name == experiment and first.classname == experiment
    assert first.name == f"{name} [baseline] latency.p50"
    assert second.name == "tab\tand\ufffdbell [baseline] error_rate"
    [failure] = first.result  # 40 ms is far above 1 ms
    assert isinstance(failure, Failure) and failure.message.startswith("phase baseline: latency.p50 observed ")


def test_a_hypothesis_with_both_bounds_gets_distinct_case_names(tmp_path):
    steady = [hypothesis("steady throughput", "throughput", min=10.0, max=1000.0, phases=["baseline"]),
              hypothesis("dup", "error_rate", max=0.5, phases=["baseline"]),
              hypothesis("dup", "error_rate", max=0.6, phases=["baseline"])]
    run_dir = make_run(tmp_path, steady_state=steady, fault_extra_ms=10)
    xml = JUnitXml.fromfile(str(render_all(run_dir, formats=("junit",))["junit"]))
    names = [c.name for c in next(iter(xml))]
    assert names == ["steady throughput [baseline] throughput (max)", "steady throughput [baseline] throughput (min)",
                     "dup [baseline] error_rate (max)", "dup [baseline] error_rate (max) #2"]
