"""The combined report of a game day: a pure function of the day's folder (``render_day(day_dir)``).

The folder holds ``agenda.json`` (the plan as it was resolved), ``journal.jsonl`` (the day's events) and
``steps/<experiment>/<run id>/`` (each step's own run dir, with its own reports). Out come the same four
formats as a single run: ``report.html`` (self-contained), ``report.md``, ``junit.xml`` (one test suite
per step) and ``summary.json`` (schema ``chaos.gameday/1``).
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from datetime import datetime, timezone
from pathlib import Path

from chaos import __version__
from chaos.metrics import format_value
from chaos.plan import fault_settings
from chaos.journal import read_journal_lines, unreadable_notes

SCHEMA = "chaos.gameday/1"
FILES = {"html": "report.html", "md": "report.md", "junit": "junit.xml", "json": "summary.json"}
RANK = {"held": 0, "inconclusive": 1, "deviated": 2, "aborted": 3}
EXIT = {"held": 0, "deviated": 1, "aborted": 3, "inconclusive": 5}
SIGNAL_EXIT = {"SIGINT": 130, "SIGTERM": 143}
UTC = timezone.utc


# ---- the day's summary -------------------------------------------------------------------------


def _journal(path: Path) -> tuple[list[dict], list[str]]:
    """A day's or a step's events, and a note for each line that could not be read (never skipped silently)."""
    if not path.is_file():
        return [], []
    events, unreadable = read_journal_lines(path)
    return events, unreadable_notes(path, unreadable)


def summarise(day_dir: str | Path) -> dict:
    day_dir = Path(day_dir)
    agenda = json.loads((day_dir / "agenda.json").read_text(encoding="utf-8"))
    events, warnings = _journal(day_dir / "journal.jsonl")
    first = _first(events, "day_started") or (events[0] if events else {})
    day0 = first.get("wall")
    steps = [_step(day_dir, planned, events, day0) for planned in agenda["steps"]]
    ended = _first(events, "day_ended")
    stopped = _first(events, "day_stopped")
    stopped_by = stopped.get("by") if stopped else None
    verdict = _verdict(steps, stopped_by, ended)
    ran = [s for s in steps if s["status"] == "ran"]
    scores = [s["score"] for s in ran if s["score"] is not None]
    last_wall = ended.get("wall") if ended else (events[-1]["wall"] if events else None)
    summary = {
        "schema": SCHEMA,
        "day_id": agenda["day_id"], "name": agenda["name"], "title": agenda["title"],
        "description": agenda.get("description") or "", "owners": agenda.get("owners") or [],
        "plan_file": agenda.get("plan_file"), "rehearse": bool(agenda.get("rehearse")),
        "stop_on": agenda.get("stop_on"),
        "verdict": verdict,
        "reason": _reason(steps, stopped_by, stopped, verdict, bool(agenda.get("rehearse"))),
        "score": round(sum(scores) / len(scores), 1) if scores else None,
        "score_formula": "the mean of the scores of the steps that ran (each step's own score: 100 × Σ weight × "
                         "(held + ½ inconclusive) / Σ weight; an aborted step scores 0)",
        "outcome": (ended or {}).get("outcome"),
        "exit_code": _exit_code(verdict, stopped_by, steps, ended),
        "scheduled_start": agenda.get("scheduled_start"),
        "started_at": _iso(day0), "ended_at": _iso(last_wall),
        "duration_s": (last_wall - day0) if day0 is not None and last_wall is not None else None,
        "planned_s": (agenda.get("agenda") or {}).get("total_s"),
        "stopped_by": stopped_by, "stop_reason": stopped.get("reason") if stopped else None,
        "system": {**(agenda.get("system") or {}), "up_s": (_first(events, "system_up") or {}).get("seconds"),
                   "targets": [{"service": e.get("service"), "image": e.get("image"), "image_id": e.get("image_id")}
                               for e in events if e.get("event") == "target_started"]},
        "counts": {v: sum(s["verdict"] == v for s in ran) for v in ("held", "deviated", "inconclusive", "aborted")}
        | {"not_run": sum(s["status"] == "not run" for s in steps)},
        "steps": steps,
        "held": [c for s in steps for c in s["checks"] if c["verdict"] == "held"],
        "deviations": [c for s in steps for c in s["checks"] if c["verdict"] == "deviated"],
        "recovery": [f for s in steps for f in s["faults"]],
        "follow_ups": _follow_ups(steps, events),
        "timeline": _timeline(events, steps, day0),
        "notifications": _notifications(events),
        "warnings": warnings + [f"step {s['index']}: {note}" for s in steps for note in s.get("warnings", [])],
        "harness_version": agenda.get("harness_version") or __version__,
        "started_by": first.get("started_by"),
    }
    return summary


def _first(events: list[dict], kind: str) -> dict:
    return next((e for e in events if e.get("event") == kind), {})


def _iso(wall: float | None) -> str | None:
    if wall is None:
        return None
    return datetime.fromtimestamp(wall, tz=UTC).isoformat(timespec="seconds")


def _step(day_dir: Path, planned: dict, events: list[dict], day0: float | None) -> dict:
    index = planned["index"]
    started = next((e for e in events if e.get("event") == "step_started" and e.get("step") == index), None)
    ended = next((e for e in events if e.get("event") == "step_ended" and e.get("step") == index), None)
    not_run = next((e for e in events if e.get("event") == "step_not_run" and e.get("step") == index), None)
    base = {"index": index, "title": planned["title"], "experiment": planned["experiment"],
            "run_id": planned.get("run_id"), "runbook": planned.get("runbook") or "",
            "experiment_file": planned.get("experiment_file"), "checks": [], "faults": [], "aborts": [],
            "phases": [], "score": None, "summary": None}
    if started is None:
        return {**base, "status": "not run", "verdict": "not run", "outcome": None,
                "reason": (not_run or {}).get("reason") or "the day ended before this step",
                "run_dir": None, "report": None, "start_s": None, "end_s": None}
    run_dir, link = _step_dir(day_dir, started.get("run_dir"))
    summary = _step_summary(run_dir) if run_dir else None
    record = ended or {}
    verdict = record.get("verdict") or (summary or {}).get("verdict") or "inconclusive"
    rel = lambda wall: (wall - day0) if (wall is not None and day0 is not None) else None  # noqa: E731
    step_events, step_warnings = _journal(run_dir / "journal.jsonl") if run_dir else ([], [
        f"its run dir {started.get('run_dir')!r} is not inside the day dir: not read, not linked"])
    step = {
        **base, "status": "ran", "verdict": verdict, "outcome": record.get("outcome"),
        "reason": record.get("reason") or (summary or {}).get("reason") or "",
        "score": record.get("score") if record.get("score") is not None else (summary or {}).get("score"),
        "error": record.get("error"),
        "run_dir": link,
        "report": f"{link}/report.html" if run_dir and (run_dir / "report.html").is_file() else None,
        "start_s": rel(started.get("wall")), "end_s": rel((ended or {}).get("wall")),
        "rehearsed": bool(started.get("rehearse")),
        "summary": summary,
        "warnings": step_warnings,
    }
    step["phases"] = _phases(step_events, rel)
    step["checks"] = [_check(step, check) for check in (summary or {}).get("checks") or []]
    step["faults"] = _faults(step, step_events, summary, rel)
    step["aborts"] = list(((summary or {}).get("run") or {}).get("aborts") or [])
    return step


def _step_dir(day_dir: Path, recorded) -> tuple[Path | None, str | None]:
    """A step's run dir as the day journal records it, and the relative link to it; (None, None) unless it is
    inside the day dir: a report links to, and reads, nothing else (`../..`, an absolute path, a symlink out)."""
    if not isinstance(recorded, str) or not recorded:
        return None, None
    root = day_dir.resolve()
    path = (root / recorded).resolve()
    if path == root or not path.is_relative_to(root):
        return None, None
    return path, path.relative_to(root).as_posix()


def _step_summary(run_dir: Path) -> dict | None:
    path = run_dir / "summary.json"
    if path.is_file():
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except ValueError:
            pass
    try:
        from chaos.analysis import analyse, load_run

        return analyse(load_run(run_dir))
    except Exception:  # noqa: BLE001 - a step cut short may have no samples: the day's report still renders
        return None


def _phases(events: list[dict], rel) -> list[dict]:
    phases, open_ = [], {}
    for event in events:
        if event.get("event") == "phase_started":
            open_[event["phase"]] = event["wall"]
        elif event.get("event") == "phase_ended" and event.get("phase") in open_:
            phases.append({"name": event["phase"], "start_s": rel(open_.pop(event["phase"])),
                           "end_s": rel(event["wall"])})
    last = events[-1]["wall"] if events else None
    phases += [{"name": name, "start_s": rel(wall), "end_s": rel(last)} for name, wall in open_.items()]
    return phases


def _check(step: dict, check: dict) -> dict:
    metric = check["metric"]
    ci = (f"{format_value(metric, check.get('ci_low'))} – {format_value(metric, check.get('ci_high'))}"
          if check.get("ci_low") is not None else "")
    op = {"<=": "≤", ">=": "≥"}.get(check.get("op"), check.get("op") or "")
    return {"step": step["index"], "step_title": step["title"], "experiment": step["experiment"],
            "hypothesis": check["hypothesis"], "phase": check["phase"], "metric": metric,
            "verdict": check["verdict"], "observed": format_value(metric, check.get("observed")), "ci": ci,
            "threshold": f"{op} {format_value(metric, check.get('threshold'))}", "samples": check.get("samples"),
            "reason": check.get("reason") or "", "report": step["report"]}


def _faults(step: dict, events: list[dict], summary: dict | None, rel) -> list[dict]:
    by_id = {f["id"]: f for f in (summary or {}).get("faults") or []}
    faults: dict[str, dict] = {}
    for event in events:
        fid, kind = event.get("fault_id"), event.get("event")
        if fid is None:
            continue
        if kind == "fault_ledgered":
            faults[fid] = {"step": step["index"], "step_title": step["title"], "id": fid, "kind": event.get("kind"),
                           "target": event.get("target"), "params": event.get("params") or {},
                           "rehearsed": bool(event.get("rehearsed")), "injected_s": None, "reverted_s": None,
                           "revert_reason": None}
        elif kind in ("fault_injected", "fault_rehearsed") and fid in faults:
            faults[fid]["injected_s"] = rel(event.get("wall"))
        elif kind == "fault_reverted" and fid in faults:
            faults[fid].update(reverted_s=rel(event.get("wall")), revert_reason=event.get("reason"))
    for fid, fault in faults.items():
        judged = by_id.get(fid) or {}
        # the step's analysis read its planned ramps too; a step with no summary has the ledger's params alone
        fault["settings"] = judged.get("settings") or fault_settings(fault["kind"] or "", fault["params"])
        fault["time_to_degrade_s"] = judged.get("time_to_degrade_s")
        fault["recovery_time_s"] = judged.get("recovery_time_s")
        fault["note"] = "rehearsed: not injected" if fault["rehearsed"] else (judged.get("note") or "")
        fault["reverted"] = fault["reverted_s"] is not None
    return list(faults.values())


def _verdict(steps: list[dict], stopped_by: dict | None, ended: dict | None) -> str:
    if ended and ended.get("verdict") in RANK:
        return ended["verdict"]
    if stopped_by and stopped_by.get("kind") in ("command", "signal"):
        return "aborted"
    verdicts = [s["verdict"] for s in steps if s["status"] == "ran"]
    return max(verdicts, key=lambda v: RANK.get(v, 1)) if verdicts else "inconclusive"


def _exit_code(verdict: str, stopped_by: dict | None, steps: list[dict], ended: dict | None) -> int:
    if stopped_by and stopped_by.get("kind") in ("command", "signal"):
        return SIGNAL_EXIT.get(stopped_by.get("signal"), 130)
    if (ended or {}).get("outcome") == "error" or any(s.get("outcome") == "error" for s in steps):
        return 4
    return EXIT.get(verdict, 5)


def _reason(steps: list[dict], stopped_by: dict | None, stopped: dict, verdict: str, rehearse: bool) -> str:
    ran = [s for s in steps if s["status"] == "ran"]
    not_run = [s for s in steps if s["status"] == "not run"]
    parts = []
    if stopped_by and stopped_by.get("kind") in ("command", "signal"):
        parts.append(_sentence(stopped.get("reason") or "The day was stopped"))
    bad = sorted((s for s in ran if s["verdict"] != "held"), key=lambda s: -RANK.get(s["verdict"], 1))
    if ran and not bad:
        parts.append(f"All {len(ran)} step{'s' if len(ran) != 1 else ''} that ran held." if not_run
                     else f"All {len(ran)} steps held.")
    elif bad:
        worst = bad[0]
        held = sum(s["verdict"] == "held" for s in ran)
        parts.append(f"{held} of {len(ran)} step{'s' if len(ran) != 1 else ''} held; step {worst['index']} "
                     f"({worst['title']}) {worst['verdict']}: {_unsentence(worst['reason'])}.")
    if stopped_by and stopped_by.get("kind") == "stop_on":
        parts.append(f"stop_on: {stopped_by.get('rule')} ended the day after step {stopped_by.get('step')}.")
    if not_run:
        parts.append(f"{len(not_run)} step{'s' if len(not_run) != 1 else ''} not run.")
    if rehearse:
        parts.append("Rehearsal: no fault was injected.")
    return " ".join(parts) or "No step ran."


def _sentence(text: str) -> str:
    text = text.strip()
    text = text[:1].upper() + text[1:]
    return text if text.endswith(".") else text + "."


def _unsentence(text: str) -> str:
    return (text or "").strip().rstrip(".")


def _follow_ups(steps: list[dict], events: list[dict]) -> list[dict]:
    items: list[dict] = []
    for step in steps:
        where = {"step": step["index"], "step_title": step["title"], "report": step.get("report"),
                 "runbook": step.get("runbook") or ""}
        if step["status"] == "not run":
            items.append({**where, "kind": "not run", "severity": "low",
                          "title": f"Step {step['index']} ({step['title']}) did not run",
                          "text": f"{_sentence(step['reason'])} Schedule it again.", "evidence": []})
            continue
        if step.get("outcome") == "error":
            items.append({**where, "kind": "error", "severity": "high",
                          "title": f"Step {step['index']} ({step['title']}) ended with an error",
                          "text": _sentence(step.get("error") or step["reason"]), "evidence": []})
        for abort in step["aborts"]:
            items.append({**where, "kind": "abort", "severity": "high",
                          "title": f"Step {step['index']} was aborted by a safety rule",
                          "text": f"{abort.get('rule') or abort.get('metric')}: observed "
                                  f"{format_value(abort.get('metric') or '', abort.get('observed'))}, limit "
                                  f"{format_value(abort.get('metric') or '', abort.get('threshold'))}, at "
                                  f"{abort.get('at_s', 0):.0f} s into the step's load.", "evidence": []})
        for check in step["checks"]:
            if check["verdict"] != "deviated":
                continue
            active = [f for f in step["faults"] if check["phase"] == "fault" or check["phase"] == "recovery"]
            evidence = [f"observed {check['observed']}" + (f" (95 % CI {check['ci']})" if check["ci"] else "")
                        + f", threshold {check['threshold']}, {check['samples']} requests, phase {check['phase']}"]
            evidence += [f"fault {f['id']} {f['kind']} on {f['target']}"
                         + (f" ({f['settings']})" if f["settings"] else "")
                         + (f"; recovered in {f['recovery_time_s']:.0f} s" if f.get("recovery_time_s") is not None
                            else "; did not recover before the step ended" if not f["rehearsed"] else "")
                         for f in active]
            items.append({**where, "kind": "deviation", "severity": "high",
                          "title": f"{check['hypothesis']}: {check['metric']} in phase {check['phase']} "
                                   f"(step {step['index']}, {step['title']})",
                          "text": _sentence(check["reason"]), "evidence": evidence})
        for fault in step["faults"]:
            if fault["rehearsed"]:
                continue
            if not fault["reverted"]:
                items.append({**where, "kind": "not reverted", "severity": "high",
                              "title": f"Fault {fault['id']} ({fault['kind']} on {fault['target']}) has no revert in "
                                       "the journal", "text": "Check the target; `chaos clean` reverts from the "
                                                              "ledger.", "evidence": []})
            elif fault["injected_s"] is not None and fault["recovery_time_s"] is None and fault["note"]:
                items.append({**where, "kind": "recovery", "severity": "medium",
                              "title": f"No recovery seen after {fault['kind']} on {fault['target']} "
                                       f"(step {step['index']})", "text": _sentence(fault["note"]), "evidence": []})
        undecided = [c for c in step["checks"] if c["verdict"] == "inconclusive"]
        if undecided:
            items.append({**where, "kind": "inconclusive", "severity": "low",
                          "title": f"{len(undecided)} check(s) of step {step['index']} were inconclusive",
                          "text": "Longer phases or more load give the statistics enough to decide: "
                                  + "; ".join(f"{c['hypothesis']} [{c['phase']}]: {_unsentence(c['reason'])}"
                                              for c in undecided[:3]) + ".", "evidence": []})
    failed = [e for e in events if e.get("event") == "notification" and not e.get("ok")]
    if failed:
        items.append({"step": None, "step_title": None, "report": None, "runbook": "", "kind": "notification",
                      "severity": "low", "title": f"{len(failed)} notification(s) were not delivered",
                      "text": "; ".join(f"{e.get('channel')} {e.get('notification')}: {e.get('error')}"
                                        f" after {e.get('attempts', 1)} attempt(s)" for e in failed[:5]) + ".",
                      "evidence": []})
    order = {"high": 0, "medium": 1, "low": 2}
    return sorted(items, key=lambda i: order[i["severity"]])


def _timeline(events: list[dict], steps: list[dict], day0: float | None) -> list[dict]:
    if day0 is None:
        return []
    rel = lambda wall: wall - day0  # noqa: E731
    segments = []
    up = _first(events, "system_up")
    if up:
        segments.append({"kind": "system", "label": "system", "start_s": 0.0, "end_s": rel(up["wall"])})
    pause_start = None
    for event in events:
        if event.get("event") == "pause_started":
            pause_start = event["wall"]
        elif event.get("event") == "pause_ended" and pause_start is not None:
            segments.append({"kind": "pause", "label": "pause", "start_s": rel(pause_start),
                             "end_s": rel(event["wall"])})
            pause_start = None
    for step in steps:
        if step["status"] == "ran" and step["start_s"] is not None:
            end = step["end_s"] if step["end_s"] is not None else step["start_s"]
            segments.append({"kind": "step", "label": f"{step['index']}. {step['title']}", "start_s": step["start_s"],
                             "end_s": end, "verdict": step["verdict"], "step": step["index"]})
    down = _first(events, "system_down")
    stopped = _first(events, "day_stopped")
    if down:
        last_end = max((s["end_s"] for s in segments), default=0.0)
        segments.append({"kind": "teardown", "label": "down", "start_s": last_end, "end_s": rel(down["wall"])})
    if stopped:
        at = rel(stopped["wall"])
        segments.append({"kind": "stop", "label": "stop", "start_s": at, "end_s": at})
    return sorted(segments, key=lambda s: s["start_s"])


def _notifications(events: list[dict]) -> dict:
    deliveries = [{"channel": e.get("channel"), "event": e.get("notification"), "ok": bool(e.get("ok")),
                   "attempts": e.get("attempts"), "status": e.get("status"), "error": e.get("error"),
                   "at": _iso(e.get("wall"))} for e in events if e.get("event") == "notification"]
    return {"sent": sum(d["ok"] for d in deliveries), "failed": sum(not d["ok"] for d in deliveries),
            "deliveries": deliveries}


# ---- rendering -----------------------------------------------------------------------------------


def render_day(day_dir: str | Path, formats=("html", "md", "junit", "json"), secrets=()) -> dict[str, Path]:
    from chaos.report import write_texts
    from chaos.secrets import scrub

    unknown = [f for f in formats if f not in FILES]
    if unknown:
        raise ValueError(f"unknown report format(s): {', '.join(unknown)}; choose from {', '.join(FILES)}")
    day_dir = Path(day_dir)
    summary = scrub(summarise(day_dir), secrets)  # as values: report.json stays JSON
    renderers = {"html": render_html, "md": render_markdown, "junit": render_junit, "json": render_json}
    return write_texts(day_dir, FILES, {fmt: renderers[fmt](summary) for fmt in formats})


def render_json(summary: dict) -> str:
    """summary.json: everything but the step summaries themselves (each step's own summary.json has them)."""
    slim = {**summary, "steps": [{k: v for k, v in s.items() if k != "summary"} for s in summary["steps"]]}
    return json.dumps(slim, indent=2, ensure_ascii=False, allow_nan=False, default=str) + "\n"


def render_markdown(summary: dict) -> str:
    from chaos.report.markdown import cell
    from chaos.report.view import VERDICT_EMOJI

    emoji = {**VERDICT_EMOJI, "not run": "⏭️"}
    score = "–" if summary["score"] is None else f"{summary['score']:.0f}"
    lines = [f"### {emoji.get(summary['verdict'], '')} {summary['verdict'].upper()} · game day "
             f"{cell(summary['title'])} · score {score}/100" + (" · REHEARSAL" if summary["rehearse"] else ""), "",
             cell(summary["reason"]), "",
             "| Step | Experiment | Verdict | Score | Why | Recovery |", "| --- | --- | --- | ---: | --- | --- |"]
    for step in summary["steps"]:
        recovery = ", ".join(f"{f['kind']} {_seconds(f['recovery_time_s'])}" for f in step["faults"]
                             if not f["rehearsed"]) or "–"
        step_score = "–" if step["score"] is None else f"{step['score']:.0f}"
        lines.append(f"| {step['index']}. {cell(step['title'])} | `{cell(step['experiment'])}` "
                     f"| {emoji.get(step['verdict'], '')} {step['verdict']} | {step_score} | {cell(step['reason'])} "
                     f"| {cell(recovery)} |")
    lines.append("")
    if summary["follow_ups"]:
        lines += ["**Follow-ups**", ""]
        for item in summary["follow_ups"]:
            lines.append(f"- **{cell(item['title'])}** ({item['severity']}): {cell(item['text'])}")
            for evidence in item["evidence"]:
                lines.append(f"  - {cell(evidence)}")
        lines.append("")
    lines += [f"> ⚠️ {cell(note)}" for note in summary.get("warnings") or []]
    if summary.get("stopped_by"):
        by = summary["stopped_by"]
        who = f"{by.get('user')}@{by.get('host')} pid {by.get('pid')}" if by.get("user") else by.get("kind")
        lines.append(f"> stopped: {cell(summary.get('stop_reason') or '')} ({cell(who)})")
        lines.append("")
    lines.append(f"<sub>day {summary['day_id']} · owners {cell(', '.join(summary['owners']))} · "
                 f"{summary['counts']['not_run']} not run · chaos {summary['harness_version']} · exit code "
                 f"{summary['exit_code']} · full report: report.html</sub>")
    return "\n".join(lines) + "\n"


def render_junit(summary: dict) -> str:
    """One test suite per step: the step's own checks (as in its junit.xml); a step not run is skipped."""
    from chaos.report.junit import render_junit as step_junit

    root = ET.Element("testsuites", {"name": f"chaos game day {summary['title']}"})
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for step in summary["steps"]:
        name = f"step {step['index']}: {step['title']} ({step['experiment']})"
        if step["status"] == "ran" and step.get("summary"):
            suites = ET.fromstring(step_junit(step["summary"]).split("\n", 1)[1])
            for suite in suites.findall("testsuite"):
                suite.set("name", name)
                root.append(suite)
                for key in totals:
                    totals[key] += int(suite.get(key, "0"))
            continue
        suite = ET.SubElement(root, "testsuite", {"name": name, "tests": "1", "failures": "0",
                                                  "errors": "1" if step["status"] == "ran" else "0",
                                                  "skipped": "0" if step["status"] == "ran" else "1", "time": "0"})
        case = ET.SubElement(suite, "testcase", {"classname": step["experiment"], "name": "step", "time": "0"})
        if step["status"] == "ran":
            ET.SubElement(case, "error", {"message": step["reason"], "type": step.get("outcome") or "error"})
            totals["errors"] += 1
        else:
            ET.SubElement(case, "skipped", {"message": f"not run: {step['reason']}"})
            totals["skipped"] += 1
        totals["tests"] += 1
    for key, value in totals.items():
        if key != "skipped":  # the JUnit schema (Jenkins' junit-10.xsd) has no `skipped` on <testsuites>
            root.set(key, str(value))
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _seconds(value: float | None) -> str:
    from chaos.report.view import seconds

    return seconds(value) if value is not None else "none seen"


def render_html(summary: dict) -> str:
    from chaos.gameday import report_html

    return report_html.render(summary)
