"""Report renderers: files, JUnit validity, Markdown content, self-contained HTML, secrets, determinism."""

from __future__ import annotations

import json
import re
import shutil
import xml.etree.ElementTree as ET

import pytest

from chaos.analysis import analyse, load_run
from chaos.report import render_all
from chaos.report.junit import render_junit
from support.fakerun import hypothesis, make_run

pytestmark = pytest.mark.unit

SECRET = "hunter2-s3cr3t-Tok3n"


@pytest.fixture(scope="module")
def deviated_run(tmp_path_factory):
    """p99 and error rate break in the fault phase and are back at once after the revert."""
    run_dir = make_run(tmp_path_factory.mktemp("deviated"), fault_extra_ms=700, fault_error_rate=0.08)
    return run_dir, render_all(run_dir)


def read(paths, kind):
    return paths[kind].read_text(encoding="utf-8")


def test_render_all_writes_the_four_files(deviated_run):
    run_dir, paths = deviated_run
    assert {k: p.name for k, p in paths.items()} == {
        "html": "report.html", "md": "report.md", "junit": "junit.xml", "json": "summary.json"}
    assert all(p.parent == run_dir and p.stat().st_size > 0 for p in paths.values())
    assert not list(run_dir.glob(".*"))  # no temporary files left behind
    summary = json.loads(read(paths, "json"))
    assert summary["schema"] == "chaos.summary/1" and summary["verdict"] == "deviated"
    assert read(paths, "json").startswith('{\n  "schema": "chaos.summary/1"')


def test_render_all_can_render_a_subset_and_rejects_unknown_formats(tmp_path):
    run_dir = make_run(tmp_path)
    assert list(render_all(run_dir, formats=("md",))) == ["md"]
    assert [p.name for p in sorted(run_dir.glob("report*"))] == ["report.md"]
    with pytest.raises(ValueError, match="unknown report format"):
        render_all(run_dir, formats=("pdf",))


def test_junit_has_one_testcase_per_check_with_failures_and_skips(deviated_run):
    _, paths = deviated_run
    summary = json.loads(read(paths, "json"))
    root = ET.fromstring(paths["junit"].read_bytes())
    suite = root.find("testsuite")
    cases = suite.findall("testcase")
    assert len(cases) == len(summary["checks"]) == 6
    assert {c.get("classname") for c in cases} == {"shop-redis-latency"}
    names = [c.get("name") for c in cases]
    assert "orders stay fast [fault] latency.p99" in names and "few errors [baseline] error_rate" in names
    failed = {c.get("name"): c.find("failure") for c in cases if c.find("failure") is not None}
    assert set(failed) == {"orders stay fast [fault] latency.p99", "few errors [fault] error_rate"}
    message = failed["orders stay fast [fault] latency.p99"].get("message")
    assert "phase fault" in message and "latency.p99" in message and "<= 500 ms" in message
    observed = next(c for c in summary["checks"] if c["metric"] == "latency.p99" and c["phase"] == "fault")["observed"]
    assert f"{observed:.0f} ms" in message.replace(",", "")
    assert suite.get("tests") == "6" and suite.get("failures") == "2" and suite.get("skipped") == "0"
    props = {p.get("name"): p.get("value") for p in suite.iter("property")}
    assert props["verdict"] == "deviated" and props["seed"] == "7"


def test_junit_skips_inconclusive_and_reports_abort_as_error(tmp_path):
    summary = analyse(load_run(make_run(tmp_path, fault_extra_ms=900, fault_error_rate=0.2, abort_after_s=6)))
    root = ET.fromstring(render_junit(summary).encode())
    cases = root.iter("testcase")
    skipped = [c for c in root.iter("testcase") if c.find("skipped") is not None]
    assert skipped and all("[recovery]" in c.get("name") for c in skipped)
    errors = [c for c in cases if c.find("error") is not None]
    assert [c.get("name") for c in errors] == ["run aborted"]
    assert "error rate guard" in errors[0].find("error").get("message")


def test_junit_survives_control_characters_and_markup_in_names(tmp_path):
    steady = [hypothesis("<b>fast</b> & \x07 ok", "latency.p50", max=1000.0, phases=["baseline"])]
    summary = analyse(load_run(make_run(tmp_path, steady_state=steady)))
    case = ET.fromstring(render_junit(summary).encode()).find("testsuite/testcase")
    assert case.get("name") == "<b>fast</b> & \ufffd ok [baseline] latency.p50"


def test_markdown_is_a_short_step_summary(deviated_run):
    _, paths = deviated_run
    md = read(paths, "md")
    first = md.splitlines()[0]
    assert first.startswith("### ❌ DEVIATED · shop-redis-latency · score ")
    assert "/100" in first
    table_rows = [line for line in md.splitlines() if line.startswith("| ✅") or line.startswith("| ❌")]
    assert len(table_rows) == 6
    assert "| ❌ deviated | orders stay fast | p99 latency | fault |" in md
    fault_row = next(line for line in md.splitlines() if line.startswith("| f1 latency"))
    summary = json.loads(read(paths, "json"))
    assert f"| {summary['faults'][0]['recovery_time_s']:.0f} s |" in fault_row
    assert "`api -> redis:6379` | latency 700 ms |" in fault_row  # the settings in the user's units
    assert "exit code 1" in md
    assert len(md.splitlines()) < 25


def test_html_is_self_contained(deviated_run):
    _, paths = deviated_run
    html = read(paths, "html")
    assert html.startswith("<!doctype html>")
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", html, re.I)
    assert not re.search(r"<script|<link|<iframe|<img|@import|url\(\s*['\"]?(https?:)?//", html, re.I)
    assert "http://" not in html and "https://" not in html
    assert html.count("<svg") == 4  # latency, throughput, errors, status charts inline
    assert "<style>" in html


def test_html_banner_checks_faults_and_environment(deviated_run):
    _, paths = deviated_run
    html = read(paths, "html")
    summary = json.loads(read(paths, "json"))
    banner = html[html.index('<header class="banner verdict-deviated">'):html.index("</header>")]
    assert 'class="verdict-word">DEVIATED<' in banner
    assert "shop-redis-latency" in banner
    assert f"{summary['score']:.0f}<span>/100" in banner
    assert summary["reason"] in banner
    assert html.count('<tr class="check ') == 6
    assert html.count('<span class="badge deviated">') == 2
    assert "f1</b> latency" in html and "api -&gt; redis:6379" in html
    assert '<td class="settings">latency 700 ms</td>' in html
    for value in ("0123abcd", "chaos-shop-api:v1", "20250101T120000Z-a1b2", "users 20", "model closed"):
        assert value in html
    assert "score = 100 × Σ weight" in html  # the formula is explained


def test_html_escapes_what_comes_from_the_run(tmp_path):
    evil = '<script>alert("x")</script>'
    run_dir = make_run(tmp_path, names=(evil, "GET /"))
    html = render_all(run_dir, formats=("html",))["html"].read_text()
    assert evil not in html and "&lt;script&gt;" in html


def test_secrets_never_reach_any_output(tmp_path):
    run_dir = make_run(tmp_path, secrets=[SECRET], run_error=f"login failed for {SECRET}",
                       names=(f"GET /orders?key={SECRET}", "GET /items"),
                       plan_extra={"description": f"token {SECRET} in description"})
    journal = (run_dir / "journal.jsonl").read_text().replace('"kind": "latency"', f'"kind": "latency", "note": "{SECRET}"')
    (run_dir / "journal.jsonl").write_text(journal)
    paths = render_all(run_dir)
    for path in paths.values():
        text = path.read_text()
        assert SECRET not in text, path.name
        assert SECRET.lower() not in text.lower()
    assert "GET /orders?key=***" in paths["html"].read_text()


def test_target_environment_is_never_rendered(deviated_run):
    _, paths = deviated_run
    for path in paths.values():
        assert "production-eu-7" not in path.read_text()  # fakerun's api target env value


def test_secret_looking_target_env_values_are_scrubbed(tmp_path):
    password = "pa55-w0rd-value"
    run_dir = make_run(tmp_path, names=(f"GET /login?p={password}",),
                       plan_extra={"targets": {"api": {"image": "x", "env": {"DB_PASSWORD": password}}}})
    for path in render_all(run_dir).values():
        assert password not in path.read_text()


def test_rerendering_is_byte_identical_and_pure(deviated_run, tmp_path):
    run_dir, paths = deviated_run
    first = {k: p.read_bytes() for k, p in paths.items()}
    again = render_all(run_dir)
    assert {k: p.read_bytes() for k, p in again.items()} == first
    # an old run dir alone (copied elsewhere, reports removed) renders the same reports
    copy = tmp_path / "old-run"
    shutil.copytree(run_dir, copy)
    for p in copy.glob("report.*"):
        p.unlink()
    (copy / "junit.xml").unlink()
    (copy / "summary.json").unlink()
    assert {k: p.read_bytes() for k, p in render_all(copy).items()} == first


def test_aborted_run_report(tmp_path):
    run_dir = make_run(tmp_path, fault_extra_ms=900, fault_error_rate=0.2, abort_after_s=6)
    paths = render_all(run_dir)
    html, md = read(paths, "html"), read(paths, "md")
    assert 'class="verdict-word">ABORTED<' in html and 'class="tl-abort"' in html
    assert md.startswith("### 🛑 ABORTED") and "score 0/100" in md
    assert "> 🛑 abort at 40.0 s: error_rate > 0.05 for 5s" in md


def test_run_without_samples_still_renders(tmp_path):
    run_dir = make_run(tmp_path)
    (run_dir / "samples.parquet").unlink()
    paths = render_all(run_dir)
    html = read(paths, "html")
    assert "INCONCLUSIVE" in html and "samples.parquet is missing" in html
    assert ET.fromstring(paths["junit"].read_bytes()).find("testsuite").get("skipped") == "6"
