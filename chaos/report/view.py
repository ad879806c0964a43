"""Summary -> display rows shared by the HTML and Markdown renderers (text only, no markup)."""

from __future__ import annotations

import math

from chaos.analysis import exit_code
from chaos.metrics import describe, format_range, format_value, has_interval

VERDICT_LABEL = {"held": "HELD", "deviated": "DEVIATED", "inconclusive": "INCONCLUSIVE", "aborted": "ABORTED"}
VERDICT_EMOJI = {"held": "✅", "deviated": "❌", "inconclusive": "⚠️", "aborted": "🛑"}
OP_SIGN = {"<=": "≤", ">=": "≥"}


def seconds(value: float | None, digits: int = 0) -> str:
    if value is None:
        return "–"
    if value >= 120:
        minutes, rest = divmod(value, 60)
        return f"{minutes:.0f} min {rest:.0f} s"
    return f"{value:.{digits}f} s"


def score_text(summary: dict) -> str:
    score = summary.get("score")
    return "–" if score is None else f"{score:.0f}"


def verdict_counts(summary: dict) -> dict[str, int]:
    counts = {"held": 0, "deviated": 0, "inconclusive": 0}
    for check in summary.get("checks") or []:
        counts[check["verdict"]] = counts.get(check["verdict"], 0) + 1
    return counts


def counts_text(summary: dict) -> str:
    counts = verdict_counts(summary)
    total = sum(counts.values())
    if not total:
        return "no checks"
    parts = [f"{n} {v}" for v, n in counts.items() if n]
    return f"{total} check{'s' if total != 1 else ''}: " + ", ".join(parts)


def code(summary: dict) -> int:
    return exit_code(summary)


def check_rows(summary: dict) -> list[dict]:
    rows = []
    for check in summary.get("checks") or []:
        metric = check["metric"]
        has_ci = check["ci_low"] is not None and has_interval(metric)
        rows.append({
            "verdict": check["verdict"],
            "hypothesis": check["hypothesis"],
            "what": describe(metric, check.get("filter")),
            "phase": check["phase"],
            "observed": format_value(metric, check["observed"]),
            "ci": format_range(metric, check["ci_low"], check["ci_high"]) if has_ci else "",
            "threshold": f"{OP_SIGN.get(check['op'], check['op'])} {format_value(metric, check['threshold'])}",
            "samples": f"{check['samples']:,}" + (f" + {check['waiting']:,} waiting" if check.get("waiting") else ""),
            "reason": check["reason"],
            "gauge": _gauge(check),
        })
    return rows


def _gauge(check: dict) -> dict | None:
    """Positions (percent of the bar) of the interval, the observed value and the threshold."""
    observed, threshold = check["observed"], check["threshold"]
    if observed is None:
        return None
    lo = check["ci_low"] if check["ci_low"] is not None else observed
    hi = check["ci_high"] if check["ci_high"] is not None else observed
    left, right = min(lo, threshold, observed), max(hi, threshold, observed)
    pad = (right - left) * 0.15 or abs(threshold) * 0.2 or 1.0
    left, right = (max(0.0, left - pad) if left >= 0 else left - pad), right + pad
    span = right - left

    def at(value: float) -> float:
        return round(100 * (value - left) / span, 2)

    bad_from, bad_to = (at(threshold), 100.0) if check["op"] == "<=" else (0.0, at(threshold))
    return {"ci_left": at(lo), "ci_width": max(at(hi) - at(lo), 0.8), "observed": at(observed),
            "threshold": at(threshold), "bad_left": bad_from, "bad_width": round(bad_to - bad_from, 2)}


def fault_rows(summary: dict) -> list[dict]:
    rows = []
    for fault in summary.get("faults") or []:
        if not fault["injected"]:
            recovery = "–"
        elif fault["recovery_time_s"] is not None:
            recovery = seconds(fault["recovery_time_s"])
        else:
            recovery = "not reverted" if not fault["reverted"] else "never"
        window = (f"{seconds(fault['injected_s'], 1)} → {seconds(fault['reverted_s'], 1)}"
                  if fault["injected_s"] is not None else "not injected")
        rows.append({
            "id": fault["id"], "kind": fault.get("kind") or "", "target": fault.get("target") or "",
            "settings": (fault.get("settings") or "") + touched_words(fault.get("hits")), "window": window,
            "degrade": seconds(fault["time_to_degrade_s"]) if fault["time_to_degrade_s"] is not None
            else ("no degradation seen" if fault["injected"] and not fault["note"] else "–"),
            "degraded_by": fault.get("degraded_by") or "",
            "recovery": recovery, "recovered": fault["recovery_time_s"] is not None,
            "note": fault.get("note") or "", "reverted": fault["reverted"],
            "revert_reason": fault.get("revert_reason") or "",
        })
    return rows


def _metric(phase: dict, metric: str) -> str:
    return format_value(metric, phase["metrics"][metric]["value"])


def _interval(phase: dict, metric: str) -> str:
    """``CI 66.8–98.6 ms`` (under its value in the table, which then fits the page), or "" without one."""
    cell = phase["metrics"][metric]
    if cell["ci_low"] is None or cell["value"] is None:
        return ""
    return f"CI {format_range(metric, cell['ci_low'], cell['ci_high'])}"


def status_parts(status: dict) -> list[str]:
    """``["2xx 1,215", "5xx 23"]``: each status class seen, with its count."""
    labels = {"none": "no response"}
    return [f"{labels.get(k, k)} {n:,}" for k, n in status.items() if n]


def status_text(status: dict) -> str:
    return " · ".join(status_parts(status)) or "–"


def _planned(phase: dict) -> str:
    """The phase's planned edges, when the judged ones moved (faults in effect late, a revert's seconds)."""
    planned = (phase.get("planned_start_s"), phase.get("planned_end_s"))
    if None in planned or [round(v, 1) for v in planned] == [round(phase["start_s"], 1), round(phase["end_s"], 1)]:
        return ""
    return f"planned {seconds(planned[0], 1)} → {seconds(planned[1], 1)}"


def _waiting(phase: dict) -> str:
    if not phase.get("waiting"):
        return ""
    stalled = f"; no answer at all for {seconds(phase['stalled_s'])}" if phase.get("stalled_s") else ""
    return f"+ {phase['waiting']:,} waiting{stalled}"


def phase_rows(summary: dict) -> list[dict]:
    return [{
        "name": phase["name"],
        "window": f"{seconds(phase['start_s'], 1)} → {seconds(phase['end_s'], 1)}",
        "planned": _planned(phase),
        "waiting": _waiting(phase),
        "duration": seconds(phase["duration_s"], 1),
        "requests": f"{phase['metrics']['count']['value']:,.0f}",
        "throughput": _metric(phase, "throughput"),
        "error_rate": _metric(phase, "error_rate"),
        "error_rate_ci": _interval(phase, "error_rate"),
        "p50": _metric(phase, "latency.p50"),
        "p95": _metric(phase, "latency.p95"),
        "p99": _metric(phase, "latency.p99"),
        "p99_ci": _interval(phase, "latency.p99"),
        "max": _metric(phase, "latency.max"),
        "status": status_parts(phase["metrics"]["status"]) or ["–"],
    } for phase in summary.get("phases") or []]


def request_tables(summary: dict) -> list[dict]:
    tables = []
    for phase in summary.get("phases") or []:
        rows = [{
            "name": r["name"] or "(unnamed)", "count": f"{r['count']:,}",
            "throughput": format_value("throughput", r["throughput"]),
            "error_rate": format_value("error_rate", r["error_rate"]),
            **{k: format_value(f"latency.{k}", r[f"latency.{k}"]) for k in ("p50", "p90", "p95", "p99")},
            "max": format_value("latency.max", r["latency.max"]),
            "mean": format_value("latency.mean", r["latency.mean"]),
            "status": status_text(r["status"]),
        } for r in phase["requests"]]
        tables.append({"phase": phase["name"], "rows": rows})
    return tables


def _tick_step(total: float) -> float:
    for step in (1, 2, 5, 10, 15, 20, 30, 60, 120, 300, 600, 900, 1800, 3600):
        if total / step <= 12:
            return float(step)
    return float(math.ceil(total / 12 / 3600) * 3600)


def timeline(summary: dict) -> dict:
    total = max(summary["run"]["duration_s"] or 0.0, 1e-9)

    def pct(value: float) -> float:
        return round(100 * min(max(value, 0.0), total) / total, 3)

    phases = [{"name": p["name"], "left": pct(s["start_s"]), "width": round(pct(s["end_s"]) - pct(s["start_s"]), 3),
               "title": f"{p['name']}: {seconds(s['start_s'], 1)} → {seconds(s['end_s'], 1)}"}
              for p in summary.get("phases") or [] for s in p["segments"]]
    faults = []
    for f in summary.get("faults") or []:
        if f["injected_s"] is None:
            continue
        end = f["reverted_s"] if f["reverted_s"] is not None else total
        faults.append({"label": f"{f['id']} {f.get('kind') or ''}".strip(), "left": pct(f["injected_s"]),
                       "width": max(round(pct(end) - pct(f["injected_s"]), 3), 0.3),
                       "title": f"{f['id']} {f.get('kind') or ''} on {f.get('target') or '?'}: "
                                f"{seconds(f['injected_s'], 1)} → {seconds(f['reverted_s'], 1)}"})
    aborts = [{"left": pct(a["at_s"]), "title": f"abort at {seconds(a['at_s'], 1)}: {a.get('rule') or a.get('metric')}"}
              for a in summary["run"].get("aborts") or []]
    step = _tick_step(total)
    ticks = [{"left": pct(i * step), "label": f"{i * step:.0f} s"} for i in range(int(total // step) + 1)]
    return {"phases": phases, "faults": faults, "aborts": aborts, "ticks": ticks}


def environment_rows(summary: dict) -> list[tuple[str, str]]:
    env = summary.get("environment") or {}
    host = env.get("host") or {}
    load = env.get("load") or {}
    rows = [
        ("experiment", summary.get("experiment") or "–"),
        ("run id", env.get("run_id") or "–"),
        ("started at (UTC)", env.get("started_at") or "–"),
        ("harness version", env.get("harness_version") or "–"),
        ("git revision", env.get("git_rev") or "–"),
        ("seed", str(env.get("seed"))),
        ("load", " · ".join(f"{k.replace('_', ' ')} {v}" for k, v in load.items() if v is not None) or "–"),
        ("host", " · ".join(f"{k.replace('_', ' ')} {v}" for k, v in host.items()) or "–"),
    ]
    for link in env.get("links") or []:
        rows.append(("link", str(link)))
    return rows


__all__ = [
    "VERDICT_LABEL", "VERDICT_EMOJI", "check_rows", "fault_rows", "phase_rows",
    "request_tables", "timeline", "environment_rows", "seconds", "score_text", "counts_text",
]


def touched_words(hits: dict | None) -> str:
    """What an http fault did, from the requests its rule touched: ``; touched 41 requests (GET /stock/[n] 30,
    POST /reservations 11)``. Empty for other faults."""
    if not hits:
        return ""
    routes = ", ".join(f"{route} {count}" for route, count in list(hits["by_route"].items())[:5])
    more = ", ..." if len(hits["by_route"]) > 5 else ""
    return f"; touched {hits['count']} request{'s' if hits['count'] != 1 else ''}" + (
        f" ({routes}{more})" if routes else "")
