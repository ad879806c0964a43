"""A comparison (``chaos.compare/1``) -> display rows shared by the HTML and Markdown renderers."""

from __future__ import annotations

import math

from chaos.compare import format_change, tolerance_text
from chaos.metrics import describe, format_value, number, scale

VERDICT_LABEL = {"worse": "REGRESSION", "better": "IMPROVEMENT", "no change": "NO CHANGE",
                 "inconclusive": "INCONCLUSIVE"}
VERDICT_EMOJI = {"worse": "🔴", "better": "🟢", "no change": "⚪", "inconclusive": "🟡"}
VERDICT_CLASS = {"worse": "worse", "better": "better", "no change": "same", "inconclusive": "unsure"}
SIDE_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def letter(index: int) -> str:
    return SIDE_LETTERS[index] if index < len(SIDE_LETTERS) else f"S{index + 1}"


def side_rows(comparison: dict) -> list[dict]:
    rows = []
    for index, side in enumerate(comparison["sides"]):
        runs = [run for e in comparison["experiments"] for run in e["runs"][index]]
        donors = {e["drift_from"][str(index)] for e in comparison["experiments"]
                  if str(index) in e.get("drift_from", {})}
        rows.append({"letter": letter(index), "label": side["label"], "role": side["role"], "path": side["path"],
                     "runs": ", ".join(dict.fromkeys(r["run_id"] for r in runs)) or "–",
                     "pooled": len(runs) > len(comparison["experiments"]) and "pairing" not in comparison,
                     "drift_from": ", ".join(letter(d) for d in sorted(donors)), "notes": side.get("notes") or []})
    return rows


def metric_rows(experiment: dict) -> list[dict]:
    rows = []
    for row in experiment["rows"]:
        metric = row["metric"]
        values = []
        for value in row["values"]:
            if value is None:
                values.append({"text": "–", "ci": "", "requests": ""})
                continue
            text, ci = _value_and_interval(metric, value)
            values.append({"text": text, "ci": ci, "requests": f"{value['requests']:,}"})
        changes = []
        for change in row["changes"][1:]:
            changes.append({
                "verdict": change["verdict"], "css": VERDICT_CLASS[change["verdict"]],
                "effect": format_change(change, change["effect"]),
                "ci": "" if change["ci_low"] is None else format_change(change, change["ci_low"], change["ci_high"]),
                "tolerance": tolerance_text(change),
                "p": "–" if change.get("p_adjusted") is None else f"{change['p_adjusted']:.2g}",
                "reason": change["reason"], "gauge": gauge(change), "rounds": round_differences(change),
            })
        rows.append({"phase": row["phase"], "metric": describe(metric), "values": values, "changes": changes})
    return rows


def _value_and_interval(metric: str, value: dict) -> tuple[str, str]:
    """The value and its interval in one unit (not ``997 ms`` over ``0.97–1.01 s``)."""
    if value["value"] is None:
        return "–", ""
    if value["ci_low"] is None:
        return format_value(metric, value["value"]), ""
    divide, unit, digits = scale(metric, [value["value"], value["ci_low"], value["ci_high"]])
    return (number(value["value"] / divide, digits) + unit,
            f"{number(value['ci_low'] / divide, digits)}–{number(value['ci_high'] / divide, digits)}{unit}")


def gauge(change: dict) -> dict | None:
    """Positions (percent of the bar) of the tolerance band, zero, the interval and the change.

    Relative changes are placed on a log scale (×2 and ÷2 equally far from zero, -99 % visible).
    """
    if change["effect"] is None or change["ci_low"] is None:
        return None
    scale = (lambda v: math.log1p(max(v, -0.9999))) if change["kind"] == "relative" else (lambda v: v)
    low, high = scale(change["band_low"]), scale(change["band_high"])
    points = [scale(change[k]) for k in ("ci_low", "ci_high", "effect")]
    reach = max(*(abs(p) for p in points), 3 * high) * 1.08

    def at(value: float) -> float:
        return round(100 * (value + reach) / (2 * reach), 2)

    # the bad side is to the right for latency and errors, to the left for throughput
    bad_right = change["metric"] != "throughput"
    return {"band_left": at(low), "band_width": round(at(high) - at(low), 2), "zero": at(0.0),
            "ci_left": at(points[0]), "ci_width": max(round(at(points[1]) - at(points[0]), 2), 0.8),
            "effect": at(points[2]), "bad_right": bad_right}


def pair_rows(comparison: dict) -> list[dict]:
    return [{**pair, "css": VERDICT_CLASS[pair["verdict"]], "label": VERDICT_LABEL[pair["verdict"]],
             "counts_text": ", ".join(f"{n} {v}" for v, n in pair["counts"].items() if n) or "nothing judged"}
            for pair in comparison["pairs"]]


def settings_text(comparison: dict) -> str:
    s = comparison["settings"]
    family = max((p["family"] for p in comparison["pairs"]), default=0)
    overrides = "".join(f", {describe(m)} ±{t * 100:g} %" for m, t in (s.get("per_metric") or {}).items())
    tolerance = (f"tolerance ±{s['tolerance'] * 100:g} %{overrides} (latency at least ±{s['latency_floor_ms']:g} ms, "
                 f"error rate at least ±{s['error_floor'] * 100:g} pp)")
    if "pairing" in comparison:  # chaos ab: the interval is over rounds, not windows
        rounds = comparison["pairing"]["judged"]
        return (f"{tolerance} · {int(s['confidence'] * 100)} % t intervals of the mean paired difference over "
                f"{rounds} round(s) ({comparison['pairing']['order']}) · Holm over {family} metrics")
    return (f"{tolerance} · {int(s['confidence'] * 100)} % block-bootstrap "
            f"intervals over {s['window_s']:g} s windows, {s['resamples']} resamples · Holm over {family} metrics "
            f"per candidate")


def pairing_rows(comparison: dict) -> list[dict]:
    """chaos ab: one row per round, its order and each side's run and outcome ([] for other comparisons)."""
    pairing = comparison.get("pairing")
    if not pairing:
        return []
    rows = []
    for r in pairing["rounds"]:
        sides = {s: (r.get(s) or {}) for s in ("a", "b")}
        rows.append({"round": r["round"], "order": " ".join(x.upper() for x in r["order"]),
                     "a": sides["a"].get("run_id", "not run"), "a_outcome": sides["a"].get("outcome", "–"),
                     "b": sides["b"].get("run_id", "not run"), "b_outcome": sides["b"].get("outcome", "–")})
    return rows


def round_differences(change: dict) -> str:
    """chaos ab: each round's difference of one metric, in the change's unit ('' for other comparisons)."""
    values = [r["difference"] for r in change.get("rounds") or [] if r.get("used") and "difference" in r]
    return " · ".join(format_change(change, v) for v in values)


def render_compare_text(comparison: dict) -> str:
    """Plain text for the terminal: the verdict, then one line per metric that is not 'no change'."""
    sides = side_rows(comparison)
    lines = [f"{VERDICT_LABEL[comparison['verdict']]}  " + "  ".join(f"{s['letter']}={s['label']}" for s in sides)]
    for pair in pair_rows(comparison):
        lines.append(f"  {pair['candidate']} against {pair['baseline']}: {pair['verdict']} ({pair['counts_text']})")
    for experiment in comparison["experiments"]:
        for row in metric_rows(experiment):
            for index, change in enumerate(row["changes"], start=1):
                if change["verdict"] == "no change":
                    continue
                mark = {"worse": "WORSE ", "better": "better", "inconclusive": "??    "}[change["verdict"]]
                values = " -> ".join(v["text"] for v in (row["values"][0], row["values"][index]))
                ci = f" (CI {change['ci']})" if change["ci"] else ""
                lines.append(f"  {mark} {letter(index)} {row['phase']:<9} {row['metric']:<12} {values:<22} "
                             f"{change['effect']}{ci}" + ("" if change["ci"] else f"  {change['reason']}"))
    for side in sides:
        lines += [f"  note {side['letter']}: {note}" for note in side["notes"]]
    return "\n".join(lines)
