"""The combined game-day report: a pure function of a day's folder (synthetic steps from fakerun)."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from junitparser import JUnitXml
from support.fakerun import WALL0, make_run

from chaos.gameday.report import render_day, summarise


def event(at: float, name: str, **fields) -> dict:
    return {"v": 1, "seq": 0, "wall": WALL0 + at, "mono": 1000.0 + at, "event": name, **fields}


def make_day(tmp_path: Path, *, stopped_by: dict | None = None, third: str = "not run") -> Path:
    day = tmp_path / "gamedays" / "q4" / "20260101T100000-abcd"
    steps = [("slow redis", "shop-redis-latency", 40.0), ("inventory lost", "shop-inventory-down", 900.0),
             ("thin pipe", "shop-bandwidth", 40.0)]
    agenda = {"schema": "chaos.gameday.agenda/1", "day_id": day.name, "name": "q4", "title": "Q4 day",
              "description": "three steps", "owners": ["sre@example.invalid"], "plan_file": "gamedays/q4.yaml",
              "stop_on": "deviated", "rehearse": False, "scheduled_start": None,
              "system": {"attach": None, "services": ["api", "inventory", "redis"],
                         "links": ["api -> redis:6379", "load -> api:8080"]},
              "steps": [{"index": i + 1, "title": title, "experiment": experiment, "run_id": f"{day.name}-{i + 1}",
                         "runbook": f"watch {title}", "experiment_file": f"experiments/{experiment}.yaml"}
                        for i, (title, experiment, _) in enumerate(steps)],
              "agenda": {"total_s": 400.0, "items": []}, "harness_version": "0.1.0"}
    day.mkdir(parents=True)
    (day / "agenda.json").write_text(json.dumps(agenda))
    events = [event(-2, "day_started", day_id=day.name, started_by={"user": "ana", "host": "box", "pid": 7}),
              event(-1, "target_started", service="api", image="chaos-shop-api:v2", image_id="sha256:1"),
              event(0, "system_up", seconds=2.0)]
    ran = 2 if third == "not run" else 3
    for i in range(ran):
        title, experiment, extra = steps[i]
        rel = f"steps/{experiment}/{day.name}-{i + 1}"
        make_run(day / rel, seed=i + 3, fault_extra_ms=extra, experiment=experiment, run_id=f"{day.name}-{i + 1}",
                 phases=(("warmup", 2.0), ("baseline", 20.0), ("fault", 10.0), ("recovery", 15.0)))
        from chaos.report import render_all

        render_all(day / rel, formats=("json",))  # the step's own html is not under test here
        (day / rel / "report.html").write_text("<html></html>")
        summary = json.loads((day / rel / "summary.json").read_text())
        events += [event(0.5, "step_started", step=i + 1, title=title, experiment=experiment, run_dir=rel),
                   event(49, "step_ended", step=i + 1, title=title, experiment=experiment, outcome="completed",
                         verdict=summary["verdict"], reason=summary["reason"], score=summary["score"], exit_code=1,
                         error=None)]
        if i == 0:
            events += [event(50, "pause_started", after_step=1, seconds=5), event(55, "pause_ended", after_step=1)]
    events.append(event(56, "notification", channel="webhook", notification="step_verdict", ok=False, attempts=4,
                        status=500, error="HTTP 500"))
    if stopped_by:
        events.append(event(60, "day_stopped", by=stopped_by, reason=stopped_by.pop("_reason")))
    else:
        events.append(event(60, "day_stopped", by={"kind": "stop_on", "rule": "deviated", "step": 2,
                                                    "verdict": "deviated"}, reason="stop_on: deviated"))
    if third == "not run":
        events.append(event(60, "step_not_run", step=3, title="thin pipe", experiment="shop-bandwidth",
                            reason="stop_on: deviated (step 2 inventory lost deviated)"))
    events += [event(62, "system_down"), event(62, "day_ended", outcome="stopped", verdict=None)]
    for n, e in enumerate(events):
        e["seq"] = n + 1
    (day / "journal.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
    return day


@pytest.fixture(scope="module")
def stopped_on_deviation(tmp_path_factory) -> Path:
    return make_day(tmp_path_factory.mktemp("day"))


def test_the_day_summary_says_what_held_what_deviated_and_what_did_not_run(stopped_on_deviation):
    day = stopped_on_deviation
    summary = summarise(day)
    assert summary["schema"] == "chaos.gameday/1"
    assert summary["verdict"] == "deviated" and summary["exit_code"] == 1
    assert [s["status"] for s in summary["steps"]] == ["ran", "ran", "not run"]
    assert summary["steps"][0]["verdict"] == "held" and summary["steps"][1]["verdict"] == "deviated"
    assert summary["counts"] == {"held": 1, "deviated": 1, "inconclusive": 0, "aborted": 0, "not_run": 1}
    assert summary["score"] == round((summary["steps"][0]["score"] + summary["steps"][1]["score"]) / 2, 1)
    assert "step 2 (inventory lost) deviated" in summary["reason"] and "1 step not run" in summary["reason"]
    assert summary["held"] and all(c["step"] == 1 or c["verdict"] == "held" for c in summary["held"])
    assert summary["deviations"] and all(c["step"] == 2 for c in summary["deviations"])
    kinds = [f["kind"] for f in summary["follow_ups"]]
    assert "deviation" in kinds and "not run" in kinds and "notification" in kinds
    deviation = next(f for f in summary["follow_ups"] if f["kind"] == "deviation")
    assert deviation["report"].endswith("report.html") and deviation["runbook"] == "watch inventory lost"
    assert any("threshold ≤" in e for e in deviation["evidence"])
    assert any("fault f1 latency on api -> redis:6379 (latency 900 ms)" in e for e in deviation["evidence"])
    assert [f["severity"] for f in summary["follow_ups"]] == sorted(
        (f["severity"] for f in summary["follow_ups"]), key=["high", "medium", "low"].index)
    recovery = summary["recovery"]
    assert len(recovery) == 2 and recovery[0]["recovery_time_s"] is not None
    kinds = [s["kind"] for s in summary["timeline"]]
    assert kinds == ["system", "step", "step", "pause", "stop", "teardown"] or set(kinds) == {
        "system", "step", "pause", "stop", "teardown"}


def test_render_day_writes_the_four_formats_and_is_pure(stopped_on_deviation):
    day = stopped_on_deviation
    written = render_day(day)
    assert set(written) == {"html", "md", "junit", "json"}
    html = (day / "report.html").read_text()
    for text in ("Executive summary", "What held", "What deviated", "Recovery times", "Timeline", "Follow-ups",
                 "Step 1: slow redis", "Step 3: thin pipe", "watch inventory lost", "Notifications", "<svg"):
        assert text in html, text
    assert "<script" not in html and "src=\"http" not in html
    first = html
    render_day(day)
    assert (day / "report.html").read_text() == first, "same folder, same page"

    suites = ET.parse(day / "junit.xml").getroot()
    assert [s.get("name").split(":")[0] for s in suites.findall("testsuite")] == ["step 1", "step 2", "step 3"]
    assert suites.findall("testsuite")[2].find("testcase/skipped") is not None
    assert int(suites.get("failures")) >= 1 and suites.get("skipped") is None
    assert sum(int(s.get("skipped")) for s in suites.findall("testsuite")) >= 1
    consumed = JUnitXml.fromfile(str(day / "junit.xml"))  # a real consumer reads it as CI systems do
    assert [suite.name for suite in consumed] == [s.get("name") for s in suites.findall("testsuite")]
    assert sum(suite.skipped for suite in consumed) >= 1

    markdown = (day / "report.md").read_text()
    assert markdown.startswith("### ❌ DEVIATED · game day Q4 day")
    assert "| 3. thin pipe | `shop-bandwidth` | ⏭️ not run |" in markdown
    data = json.loads((day / "summary.json").read_text())
    assert "summary" not in data["steps"][0], "each step's own summary.json holds its details"


def test_a_day_stopped_from_another_terminal_is_aborted_and_says_who(tmp_path):
    by = {"kind": "command", "signal": "SIGTERM", "user": "bob", "host": "ops-1", "pid": 4242,
          "reason": "orders failing", "requested_wall": WALL0 + 59.9,
          "_reason": "stopped by bob@ops-1 (pid 4242) with `chaos gameday stop`: orders failing"}
    day = make_day(tmp_path, stopped_by=by)
    summary = summarise(day)
    assert summary["verdict"] == "aborted" and summary["exit_code"] == 143
    assert summary["reason"].startswith("Stopped by bob@ops-1 (pid 4242)")
    render_day(day)
    html = (day / "report.html").read_text()
    assert "`chaos gameday stop` by bob on ops-1 (pid 4242)" in html and "orders failing" in html


@pytest.mark.parametrize("where", ["../../../outside", "/etc", "steps/../../elsewhere", "."])
def test_a_day_report_links_and_reads_only_run_dirs_inside_the_day_dir(tmp_path, where):
    day = make_day(tmp_path)
    outside = tmp_path / "outside"
    outside.mkdir(exist_ok=True)
    (outside / "report.html").write_text("<html>not the day's</html>")
    journal = day / "journal.jsonl"
    events = [json.loads(line) for line in journal.read_text().splitlines()]
    for e in events:
        if e["event"] == "step_started" and e["step"] == 1:
            e["run_dir"] = where  # a journal edited by hand, or written by another tool
    journal.write_text("".join(json.dumps(e) + "\n" for e in events))
    summary = summarise(day)
    step = summary["steps"][0]
    assert step["report"] is None and step["run_dir"] is None and step["summary"] is None
    assert f"step 1: its run dir {where!r} is not inside the day dir: not read, not linked" in summary["warnings"]
    assert summary["steps"][1]["report"].startswith("steps/") and summary["steps"][1]["report"].endswith(".html")
    render_day(day)
    html = (day / "report.html").read_text()
    hrefs = [part.split('"')[0] for part in html.split('href="')[1:]]
    assert hrefs and all(not h.startswith(("/", "..")) and ".." not in h for h in hrefs), hrefs
