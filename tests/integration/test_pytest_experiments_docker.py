"""`pytest experiments/` for real: a short experiment on the shop (v1) run by the plugin against the real
engine, Toxiproxy and Locust; one held, one deviated and one inconclusive check, a second experiment
that -k leaves out (and that therefore never starts), JUnit XML, and nothing left behind."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

pytest_plugins = ["pytester"]

REPO = Path(__file__).resolve().parents[2]

# 5 users on api v1: 300 ms on api -> redis makes every read slower than 100 ms (several round trips).
SHORT = f"""\
name: {{name}}
targets:
  compose: {REPO}/targets/shop/compose.yaml
links:
  - api -> redis:6379
load:
  locustfile: {REPO}/targets/shop/locustfile.py
  user_classes: [ShopUser]
  target: api:8080
  users: 5
  spawn_rate: 5
phases: {{{{warmup: 2s, baseline: 6s, recovery: 4s}}}}
faults:
  - name: slow redis
    type: latency
    link: api -> redis:6379
    latency: 300ms
    duration: 6s
steady_state:
  - name: few errors
    metric: error_rate
    max: 50%
    phases: [baseline]
  - name: fast under fault
    metric: latency.p50
    max: 100ms
    phases: [fault]
  - name: tail known
    metric: latency.p999
    max: 10s
    phases: [recovery]
abort:
  - {{{{metric: latency.p99, max: 30s, for: 2s}}}}
"""


def test_an_experiment_file_runs_as_pytest_items(pytester, docker_client, leftovers, monkeypatch):
    monkeypatch.setenv("API_VERSION", "v1")
    folder = pytester.path / "experiments"
    folder.mkdir()
    (folder / "short.yaml").write_text(SHORT.format(name="short"))
    (folder / "other.yaml").write_text(SHORT.format(name="other"))
    reports = pytester.path / "reports"
    junit = pytester.path / "junit.xml"
    result = pytester.runpytest_subprocess("experiments", "-k", "short", "--chaos-report-dir", str(reports),
                                           f"--junitxml={junit}", "-rA", timeout=300)
    result.assert_outcomes(passed=1, failed=1, skipped=1)
    result.stdout.fnmatch_lines(["collected 6 items / 3 deselected / 3 selected"])
    assert [p.name for p in reports.iterdir()] == ["short"]  # the deselected experiment never started
    (run_dir,) = [p for p in (reports / "short").iterdir() if not p.is_symlink()]
    report = run_dir / "report.html"
    assert report.is_file()
    result.stdout.fnmatch_lines([
        "*_ short: fast under fault?fault? _*",
        "hypothesis 'fast under fault' deviated in phase fault",
        "  metric:    latency.p50 (p50 latency)",
        "  observed:  * ms (95 % CI *ms)",
        "  threshold: <= 100 ms",
        "  requests:  * in 6 one-second window(s)",
        "  reason:    p50 latency in phase fault was * ms *, above 100 ms*",
        f"  report:    {report}",
    ])
    result.stdout.fnmatch_lines(["PASSED experiments/short.yaml::few errors?baseline?",
                                 "SKIPPED [[]1] experiments/short.yaml:*: inconclusive: p99.9 latency in phase "
                                 "recovery could not be judged: *"])
    cases = {c.get("name"): c for c in ET.parse(junit).getroot().iter("testcase")}
    assert set(cases) == {"few errors[baseline]", "fast under fault[fault]", "tail known[recovery]"}
    assert cases["fast under fault[fault]"].find("failure").get("message").startswith(
        "hypothesis 'fast under fault' deviated in phase fault")
    assert cases["tail known[recovery]"].find("skipped") is not None
    properties = {p.get("name"): p.get("value") for p in cases["few errors[baseline]"].iter("property")}
    assert properties["chaos_verdict"] == "held" and properties["chaos_report"] == str(report)
    assert leftovers(docker_client, run_dir.name) == []
