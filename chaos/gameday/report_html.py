"""The game day's summary -> one self-contained HTML page (inline CSS and SVG, no script, nothing fetched)."""

from __future__ import annotations

import math
from pathlib import Path

import jinja2

from chaos import __version__
from chaos.report import charts, view

TEMPLATES = Path(__file__).resolve().parent.parent / "report" / "templates"
VERDICT_LABEL = {**view.VERDICT_LABEL, "not run": "NOT RUN"}


def render(summary: dict) -> str:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True, trim_blocks=True,
                             lstrip_blocks=True, undefined=jinja2.StrictUndefined)
    env.globals["phase_color"] = charts.phase_color
    env.filters["secs"] = lambda value, digits=0: view.seconds(value, digits)
    template = env.get_template("gameday.html.j2")
    steps = [_step_view(step) for step in summary["steps"]]
    return template.render(
        s=summary, version=__version__, verdict_label=VERDICT_LABEL[summary["verdict"]],
        score="–" if summary["score"] is None else f"{summary['score']:.0f}",
        steps=steps, timeline=_timeline(summary), stopped_by=_stopped_by(summary.get("stopped_by")),
        recovery=[_recovery_row(f) for f in summary["recovery"]],
        duration=view.seconds(summary.get("duration_s"), 0),
        planned=view.seconds(summary.get("planned_s"), 0),
    )


def _step_view(step: dict) -> dict:
    summary = step.get("summary")
    return {
        **{k: v for k, v in step.items() if k != "summary"},
        "label": VERDICT_LABEL.get(step["verdict"], step["verdict"].upper()),
        "checks": view.check_rows(summary) if summary else [],
        "fault_rows": view.fault_rows(summary) if summary else [],
        "charts": _charts(summary),
        "requests": (summary or {}).get("run", {}).get("requests"),
        "window": (f"{view.seconds(step['start_s'], 0)} → {view.seconds(step['end_s'], 0)}"
                   if step.get("start_s") is not None and step.get("end_s") is not None else ""),
    }


def _charts(summary: dict | None) -> dict:
    if not summary:
        return {}
    every = charts.all_charts(summary)
    return {key: every[key] for key in ("latency", "errors") if key in every}


def _recovery_row(fault: dict) -> dict:
    if fault["rehearsed"]:
        recovery, degrade = "rehearsed", "–"
    else:
        recovery = view.seconds(fault["recovery_time_s"]) if fault["recovery_time_s"] is not None else (
            "not reverted" if not fault["reverted"] else "not seen")
        degrade = view.seconds(fault["time_to_degrade_s"]) if fault["time_to_degrade_s"] is not None else (
            "no degradation seen" if not fault["note"] else "–")
    return {**fault, "recovery": recovery, "degrade": degrade,
            "recovered": fault["recovery_time_s"] is not None}


def _stopped_by(by: dict | None) -> str | None:
    if not by:
        return None
    if by.get("kind") == "command":
        text = (f"`chaos gameday stop` by {by.get('user')} on {by.get('host')} (pid {by.get('pid')})"
                + (f": “{by['reason']}”" if by.get("reason") else ""))
    elif by.get("kind") == "signal":
        who = f" by {by.get('user')} on {by.get('host')}" if by.get("user") else ""
        text = f"{by.get('signal')}{who}" + (f" ({by['note']})" if by.get("note") else "")
    elif by.get("kind") == "stop_on":
        text = f"stop_on: {by.get('rule')} after step {by.get('step')} ({by.get('verdict')})"
    else:
        text = f"error: {by.get('error')}"
    return text


def _timeline(summary: dict) -> dict:
    segments = summary["timeline"]
    total = max([s["end_s"] for s in segments] + [summary.get("duration_s") or 0.0, 1e-9])

    def pct(value: float | None) -> float:
        return round(100 * min(max(value or 0.0, 0.0), total) / total, 3)

    day = [{**s, "left": pct(s["start_s"]), "width": max(round(pct(s["end_s"]) - pct(s["start_s"]), 3), 0.4),
            "title": f"{s['label']}: {view.seconds(s['start_s'], 0)} → {view.seconds(s['end_s'], 0)}"}
           for s in segments if s["kind"] != "stop"]
    stops = [{"left": pct(s["start_s"]), "title": f"stopped at {view.seconds(s['start_s'], 0)}"}
             for s in segments if s["kind"] == "stop"]
    phases, faults = [], []
    for step in summary["steps"]:
        for phase in step["phases"]:
            if phase["start_s"] is None or phase["end_s"] is None:
                continue
            phases.append({"name": phase["name"], "left": pct(phase["start_s"]),
                           "width": max(round(pct(phase["end_s"]) - pct(phase["start_s"]), 3), 0.2),
                           "title": f"step {step['index']} {phase['name']}: {view.seconds(phase['start_s'], 0)} → "
                                    f"{view.seconds(phase['end_s'], 0)}"})
        for fault in step["faults"]:
            if fault["injected_s"] is None:
                continue
            end = fault["reverted_s"] if fault["reverted_s"] is not None else total
            faults.append({"label": f"{step['index']}·{fault['id']} {fault['kind']}", "left": pct(fault["injected_s"]),
                           "width": max(round(pct(end) - pct(fault["injected_s"]), 3), 0.3),
                           "rehearsed": fault["rehearsed"],
                           "title": f"step {step['index']} {fault['id']} {fault['kind']} on {fault['target']}"
                                    f"{' (rehearsed: not injected)' if fault['rehearsed'] else ''}: "
                                    f"{view.seconds(fault['injected_s'], 0)} → "
                                    f"{view.seconds(fault['reverted_s'], 0)}"})
    step_seconds = _tick_step(total)
    ticks = [{"left": pct(i * step_seconds), "label": _tick_label(i * step_seconds)}
             for i in range(int(total // step_seconds) + 1)]
    return {"day": day, "stops": stops, "phases": phases, "faults": faults, "ticks": ticks}


def _tick_step(total: float) -> float:
    for step in (5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600):
        if total / step <= 12:
            return float(step)
    return float(math.ceil(total / 12 / 3600) * 3600)


def _tick_label(seconds: float) -> str:
    whole = int(seconds)
    return f"{whole // 60}:{whole % 60:02d}" if whole >= 60 else f"{whole} s"
