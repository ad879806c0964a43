"""YAML experiments as pytest items (pytester, no Docker: the runner is swapped for a fake that writes a
synthetic run dir; analysis, reports and the plugin are the real ones)."""

from __future__ import annotations

import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

REPO = Path(__file__).resolve().parents[2]
TESTS = Path(__file__).resolve().parents[1]

# The pytester project has no pyproject of ours, so its conftest puts tests/ on the path itself (for xdist workers too).
CONFTEST = f"""
import sys
sys.path.insert(0, {str(TESTS)!r})
from support.fake_runner import install


def pytest_configure(config):
    install(config)
"""

# The fake runner's story: 40 ms answers, +300 ms while the fault is active (fault phase).
EXPERIMENT = """\
name: {name}
targets:
  compose: {repo}/targets/shop/compose.yaml
links:
  - api -> redis:6379
load:
  locustfile: {repo}/targets/shop/locustfile.py
  target: api:8080
phases: {{warmup: 1s, baseline: 10s, recovery: {recovery}}}
faults:
  - type: latency
    link: api -> redis:6379
    latency: 300ms
    duration: 8s
steady_state:
  - name: few errors
    metric: error_rate
    max: 5%
    phases: [baseline, fault]
  - name: reads fast
    metric: latency.p50
    max: 100ms
    phases: [fault]
  - name: recovers
    metric: latency.p99
    max: 200ms
    phases: [recovery]
"""


@pytest.fixture(scope="module", autouse=True)
def modules_loaded_once(tmp_path_factory):
    """In-process pytester runs drop the modules they imported, and pandas' pyarrow types cannot be
    registered twice in one process: one fake run here loads (lazily imported parts included)
    everything the fake runs and the reports need, before any pytester run."""
    from support.fake_runner import FakeRunner

    from chaos.plan import make_plan
    from chaos.spec import load_experiment

    folder = tmp_path_factory.mktemp("warm")
    (folder / "warm.yaml").write_text(EXPERIMENT.format(name="warm", repo=REPO, recovery="0s"))
    plan = make_plan(load_experiment(folder / "warm.yaml"))
    plan.with_report_dir(folder / "reports")
    FakeRunner(plan).run()


@pytest.fixture
def project(pytester, monkeypatch, tmp_path):
    """A project folder with the fake runner; ``write(name)`` adds experiments/<name>.yaml.
    ``runs()`` lists the experiments the runner ran, across processes."""
    pytester.makeconftest(CONFTEST)
    runs_log = tmp_path / "runs.log"
    monkeypatch.setenv("CHAOS_FAKE_RUNS", str(runs_log))

    class Project:
        path = pytester.path
        reports = pytester.path / "reports"

        @staticmethod
        def write(name: str, folder: str = "experiments", recovery: str = "0s", file: str | None = None) -> Path:
            target = pytester.path / folder / (file or f"{name}.yaml")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(EXPERIMENT.format(name=name, repo=REPO, recovery=recovery))
            return target

        @staticmethod
        def run(*args: str):
            return pytester.runpytest("--chaos-report-dir", str(pytester.path / "reports"), "--chaos-seed", "7",
                                      *args)

        @staticmethod
        def runs() -> list[str]:
            return runs_log.read_text().split() if runs_log.exists() else []

    return Project


def node_ids(result) -> list[str]:
    return [line.strip() for line in result.outlines if "::" in line and not line.startswith(("FAILED", "ERROR"))]


def test_each_check_of_an_experiment_is_an_item(project):
    project.write("shop")
    result = project.run("--collect-only", "-q", "experiments")
    assert node_ids(result) == [
        "experiments/shop.yaml::few errors[baseline]",
        "experiments/shop.yaml::few errors[fault]",
        "experiments/shop.yaml::reads fast[fault]",
        "experiments/shop.yaml::recovers[recovery]",
    ]
    assert project.runs() == []  # collecting runs nothing


def test_only_files_matching_the_glob_are_experiments_unless_named(project, pytester):
    project.write("in-glob", folder="scenarios", file="a.chaos.yaml")
    project.write("not-in-glob", folder="scenarios", file="b.yaml")
    (pytester.path / "compose.yaml").write_text("services: {}\n")  # a YAML file that is not an experiment
    pytester.makeini("[pytest]\nchaos_experiments = scenarios/*.chaos.yaml\n")
    result = project.run("--collect-only", "-q")
    assert node_ids(result) == [f"scenarios/a.chaos.yaml::{name}" for name in
                                ("few errors[baseline]", "few errors[fault]", "reads fast[fault]", "recovers[recovery]")]
    named = project.run("--collect-only", "-q", "scenarios/b.yaml")  # named on the command line: collected
    assert node_ids(named)[0] == "scenarios/b.yaml::few errors[baseline]"


def test_an_invalid_experiment_is_a_collection_error_with_file_line_and_field(project):
    path = project.write("shop")
    path.write_text(path.read_text().replace("metric: latency.p50", "metric: latency.p50\n    maxx: 1s"))
    result = project.run("experiments")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines(["*ERROR collecting experiments/shop.yaml*",
                                 "*invalid experiment (nothing was started):",
                                 "*experiments/shop.yaml:22:5: steady_state[[]1].maxx: unknown field (did you mean 'max'?)"])
    assert "Traceback" not in result.stdout.str()
    assert project.runs() == []


def test_held_passes_deviated_fails_with_the_whole_story_inconclusive_skips(project):
    project.write("shop")
    result = project.run("experiments", "-rA")
    result.assert_outcomes(passed=2, failed=1, skipped=1)
    assert project.runs() == ["shop"]  # one run for all four checks
    report = next(project.reports.glob("shop/*/report.html"))
    result.stdout.fnmatch_lines([
        "*_ shop: reads fast?fault? _*",
        "hypothesis 'reads fast' deviated in phase fault",
        "  metric:    latency.p50 (p50 latency)",
        "  observed:  3?? ms (95 % CI 3??–3?? ms)",
        "  threshold: <= 100 ms",
        "  requests:  * in 8 one-second window(s)",
        "  reason:    p50 latency in phase fault was 3?? ms (CI 3??–3?? ms), above 100 ms*",
        f"  report:    {report}",
    ])
    result.stdout.fnmatch_lines([
        "PASSED experiments/shop.yaml::few errors?baseline?",
        "PASSED experiments/shop.yaml::few errors?fault?",
        # the skip points at the hypothesis' line in the experiment file
        "SKIPPED [[]1] experiments/shop.yaml:24: inconclusive: p99 latency in phase recovery: the phase did not run "
        f"(report: {report})",
        "FAILED experiments/shop.yaml::reads fast?fault? - hypothesis*",
    ])
    result.stdout.fnmatch_lines(["*- chaos reports -*", f"DEVIATED     experiments/shop.yaml: {report}"])


@pytest.mark.parametrize(("how", "outcomes"), [
    (("--chaos-inconclusive", "xfail"), {"xfailed": 1}),
    (("--chaos-inconclusive", "fail"), {"failed": 2}),
    (("-o", "chaos_inconclusive=xfail"), {"xfailed": 1}),
])
def test_inconclusive_maps_to_xfail_or_fail_by_option(project, how, outcomes):
    project.write("shop")
    result = project.run("experiments", *how)
    result.assert_outcomes(**{"passed": 2, "failed": 1, **outcomes})
    if "failed" in outcomes and outcomes["failed"] == 2:
        result.stdout.fnmatch_lines(["*_ shop: recovers?recovery? _*",
                                     "hypothesis 'recovers' inconclusive in phase recovery",
                                     "  reason:    p99 latency in phase recovery: the phase did not run"])


def test_a_bad_inconclusive_policy_is_a_usage_error(project):
    result = project.run("-o", "chaos_inconclusive=maybe")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*chaos_inconclusive = 'maybe': use one of skip, xfail, fail*"])


def test_k_selects_checks_and_a_wholly_deselected_experiment_never_runs(project):
    project.write("shop")
    project.write("payments")
    result = project.run("experiments", "-k", "shop and errors", "-v")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["*shop.yaml::few errors?baseline? PASSED*", "*shop.yaml::few errors?fault? PASSED*"])
    assert project.runs() == ["shop"]  # payments was deselected: never started
    by_metric = project.run("experiments", "-k", "latency.p50 and payments", "-q")
    by_metric.assert_outcomes(failed=1)
    assert project.runs() == ["shop", "payments"]


def test_junit_xml_has_a_testcase_per_check_with_messages_and_properties(project, pytester):
    project.write("shop")
    junit = pytester.path / "junit.xml"
    project.run("experiments", f"--junitxml={junit}")
    cases = {case.get("name"): case for case in ET.parse(junit).getroot().iter("testcase")}
    assert set(cases) == {"few errors[baseline]", "few errors[fault]", "reads fast[fault]", "recovers[recovery]"}
    assert {case.get("classname") for case in cases.values()} == {"experiments.shop.yaml"}
    failure = cases["reads fast[fault]"].find("failure")
    assert failure.get("message").startswith("hypothesis 'reads fast' deviated in phase fault\n  metric:    latency.p50")
    assert "threshold: <= 100 ms" in failure.get("message")
    assert "inconclusive: p99 latency in phase recovery" in cases["recovers[recovery]"].find("skipped").get("message")
    properties = {p.get("name"): p.get("value") for p in cases["reads fast[fault]"].iter("property")}
    report = next(project.reports.glob("shop/*/report.html"))
    assert properties["chaos_verdict"] == "deviated"
    assert properties["chaos_report"] == str(report)
    assert properties["chaos_run_dir"] == str(report.parent)
    assert properties["chaos_threshold"] == "<= 100 ms"
    assert properties["chaos_observed"].endswith(" ms)") and "95 % CI" in properties["chaos_observed"]


def test_x_stops_at_the_first_failure_and_lf_reruns_only_the_failed_check(project):
    project.write("shop")
    first = project.run("experiments", "-x", "-p", "cacheprovider")
    first.assert_outcomes(passed=2, failed=1)  # recovers[recovery] never reached
    assert "recovers" not in "".join(l for l in first.outlines if "PASSED" in l or "SKIPPED" in l)
    again = project.run("experiments", "--lf", "-v")
    again.assert_outcomes(failed=1)
    again.stdout.fnmatch_lines(["*reads fast?fault? FAILED*"])
    assert "few errors" not in again.stdout.str()
    assert project.runs() == ["shop", "shop"]


def test_an_aborted_run_fails_every_check_and_one_that_cannot_start_is_an_error(project):
    project.write("aborted-shop")
    project.write("broken-shop")
    result = project.run("experiments", "-q")
    result.assert_outcomes(failed=4, errors=4)
    output = result.stdout.str()
    assert "experiment aborted-shop was aborted: Aborted at" in output
    result.stdout.fnmatch_lines(["*ERROR at setup of broken-shop: few errors?baseline?*",
                                 "experiment broken-shop could not run: docker engine unreachable (FileNotFoundError)",
                                 "  run dir:   */reports/broken-shop/*"])
    assert "Traceback" not in output
    assert project.runs() == ["aborted-shop", "broken-shop"]  # one try each, not one per check


def test_every_experiment_check_carries_the_chaos_marker(project, pytester):
    project.write("shop")
    pytester.makepyfile(test_plain="def test_plain():\n    pass\n")
    only_chaos = project.run("-m", "chaos", "--collect-only", "-q", "experiments", "test_plain.py")
    assert len(node_ids(only_chaos)) == 4
    no_chaos = project.run("-m", "not chaos", "--collect-only", "-q", "experiments", "test_plain.py")
    assert node_ids(no_chaos) == ["test_plain.py::test_plain"]


@pytest.mark.skipif("xdist" not in sys.modules and not __import__("importlib").util.find_spec("xdist"),
                    reason="pytest-xdist is not installed")
def test_xdist_refuses_to_split_an_experiment_and_runs_each_file_once_with_loadfile(project, pytester):
    project.write("shop")
    project.write("payments")
    split = pytester.runpytest_subprocess("experiments", "-n", "2", "--chaos-report-dir", str(project.reports))
    split.assert_outcomes(errors=8)
    split.stdout.fnmatch_lines(["chaos: with pytest-xdist, YAML experiments need --dist loadfile: "
                                "--dist load would split one experiment's checks over several workers*Nothing was "
                                "started."])
    assert project.runs() == []
    by_group = pytester.runpytest_subprocess("experiments", "-n", "2", "--dist", "loadgroup",
                                             "--chaos-report-dir", str(project.reports))
    by_group.assert_outcomes(errors=8)  # xdist 3.8 under pytest 9 spreads a group over the workers
    assert project.runs() == []
    grouped = pytester.runpytest_subprocess("experiments", "-n", "2", "--dist", "loadfile",
                                            "--chaos-report-dir", str(project.reports))
    grouped.assert_outcomes(passed=4, failed=2, skipped=2)
    assert sorted(project.runs()) == ["payments", "shop"]


def test_fixture_tests_carry_the_chaos_marker_and_a_missing_system_says_what_to_configure(project, pytester):
    pytester.makepyfile(test_uses="def test_uses(chaos_system):\n    pass\n\n\ndef test_plain():\n    pass\n")
    marked = project.run("-m", "chaos", "--collect-only", "-q", "test_uses.py")
    assert node_ids(marked) == ["test_uses.py::test_uses"]
    result = project.run("test_uses.py")
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["chaos: no system to start: set chaos_compose (or chaos_experiment) in the pytest "
                                 "configuration, or override the chaos_system_spec fixture (see docs/pytest.md)"])
    assert "Traceback" not in result.stdout.str()
