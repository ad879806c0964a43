"""Checks in words, the overall verdict with its reason, the resilience score and the exit code.

See "Resilience score" and "Overall verdict" in ``chaos.analysis``.
"""

from __future__ import annotations

import math
import re

from chaos import metrics
from chaos.metrics import describe, format_range, format_value

VERDICT_RANK = {"held": 0, "inconclusive": 1, "deviated": 2, "aborted": 3}
EXIT_CODES = {"held": 0, "deviated": 1, "aborted": 3, "inconclusive": 5}


def check_reason(check: dict, shortfall: str | None) -> str:
    what = f"{describe(check['metric'], check['filter'])} in phase {check['phase']}"
    metric, op, threshold = check["metric"], check["op"], check["threshold"]
    bound = format_value(metric, threshold)
    if shortfall:
        return f"{what} could not be judged: {shortfall}"
    observed = format_value(metric, check["observed"])
    has_ci = check["ci_low"] is not None and metrics.has_interval(metric)
    ci = f" (CI {format_range(metric, check['ci_low'], check['ci_high'])})" if has_ci else ""
    side = {"held": "under" if op == "<=" else "over",
            "deviated": "above" if op == "<=" else "below"}.get(check["verdict"])
    sentence = (f"{what} was {observed}{ci}, {side} {bound}" if side
                else f"{what} was {observed}{ci}: the interval straddles {bound}, so it cannot be called")
    evidence = check.get("evidence")
    if evidence:
        kind = "slower" if evidence["kind"] == "slower_than_threshold" else "faster"
        sentence += (f"; {format_value('error_rate', evidence['fraction'])} of requests {kind} than "
                     f"{bound} (CI {format_range('error_rate', evidence['ci_low'], evidence['ci_high'])}, "
                     f"allowed {format_value('error_rate', evidence['allowed'])})")
    return sentence


def _margin(check: dict) -> float:
    """How far the observed value is past (positive) or inside (negative) its threshold."""
    if check["observed"] is None:
        return -math.inf
    scale = abs(check["threshold"]) or 1.0
    past = (check["observed"] - check["threshold"]) / scale
    return past if check["op"] == "<=" else -past


def overall(checks: list[dict], aborts: list[dict], outcome: str | None, error: str | None):
    if aborts or outcome in ("aborted", "interrupted"):
        if aborts:
            a = aborts[0]
            metric = a.get("metric") or ""
            return "aborted", (f"Aborted at {a['at_s']:.0f} s by the {describe(metric)} guard"
                               f" ({a.get('rule') or metric}): observed {format_value(metric, a.get('observed'))},"
                               f" limit {format_value(metric, a.get('threshold'))}.")
        return "aborted", f"The run was {outcome}" + (f": {error}." if error else ".")
    deviated = [c for c in checks if c["verdict"] == "deviated"]
    if deviated:
        return "deviated", _sentence(_headline(max(deviated, key=_margin)))
    undecided = [c for c in checks if c["verdict"] == "inconclusive"]
    if undecided:
        return "inconclusive", _sentence(undecided[0]["reason"])
    if not checks:
        return "inconclusive", "No steady-state hypothesis to judge."
    if outcome == "error":
        return "inconclusive", "The run ended with an error" + (f": {error}." if error else ".")
    closest = max(checks, key=_margin)
    return "held", f"All {len(checks)} checks held; closest to its limit: {_headline(closest)}."


def _headline(check: dict) -> str:
    """The reason without its exceedance detail: short enough for a banner."""
    return check["reason"].split("; ")[0]


def _sentence(text: str) -> str:
    if not re.match(r"p\d", text):  # "p99 latency" keeps its lower-case p
        text = text[:1].upper() + text[1:]
    return text if text.endswith(".") else text + "."


def score(checks: list[dict], aborted: bool) -> float | None:
    if aborted:
        return 0.0
    if not checks:
        return None
    credit = {"held": 1.0, "inconclusive": 0.5, "deviated": 0.0}
    total = sum(c["weight"] for c in checks)
    if total <= 0:
        return None
    return round(100 * sum(c["weight"] * credit[c["verdict"]] for c in checks) / total, 1)


SCORE_FORMULA = ("score = 100 × Σ weight × (held + 0.5 × inconclusive) / Σ weight over all checks; "
                 "a hypothesis' weight is shared equally by its checks; deviated counts 0; an aborted run scores 0")


def exit_code(summary: dict) -> int:
    checks = summary.get("checks") or []
    if summary.get("verdict") == "aborted":
        return EXIT_CODES["aborted"]
    if any(c.get("verdict") == "deviated" for c in checks) or summary.get("verdict") == "deviated":
        return EXIT_CODES["deviated"]
    if summary.get("verdict") == "held":
        return EXIT_CODES["held"]
    return EXIT_CODES["inconclusive"]
