"""A comparison in words: changes (``+12.3 %``, ``+0.42 pp``), tolerances, each change's reason, row labels,
a candidate's overall verdict and the comparison's headline."""

from __future__ import annotations

from chaos.metrics import describe


def format_change(row: dict, *values: float | None) -> str:
    """``+12.3 %`` for relative changes, ``+0.42 pp`` for error-rate differences; ``–`` when unknown."""
    if not values or any(v is None for v in values):
        return "–"
    if row["kind"] == "absolute":
        return " … ".join(_signed(v * 100, _digits(v * 100)) for v in values) + " pp"
    return " … ".join(_signed(v * 100, _digits(v * 100)) for v in values) + " %"


def _digits(value: float) -> int:
    return 0 if abs(value) >= 100 else 1 if abs(value) >= 1 else 2


def _signed(value: float, digits: int) -> str:
    text = f"{value:+,.{digits}f}"
    return "±0" if float(text.replace(",", "")) == 0 else text.replace("-", "−")


def tolerance_text(row: dict) -> str:
    if row.get("tolerance") is None:
        return "–"
    unit = " pp" if row["kind"] == "absolute" else " %"
    return f"±{row['tolerance'] * 100:.{_digits(row['tolerance'] * 100)}f}{unit}"


def change_reason(row: dict) -> str:
    what = f"{describe(row['metric'])} in phase {row['phase']}"
    change = format_change(row, row["effect"])
    ci = format_change(row, row["ci_low"], row["ci_high"])
    tolerance = tolerance_text(row)
    if row["verdict"] in ("worse", "better"):
        return (f"{what}: {change} (CI {ci}), {row['verdict']} beyond the {tolerance} tolerance "
                f"(Holm-adjusted p = {row['p_adjusted']:.2g} over {row['family']} metrics)")
    if row["verdict"] == "no change":
        return f"{what}: {change} (CI {ci}) lies within the {tolerance} tolerance"
    beyond = row["ci_low"] > row["band_high"] or row["ci_high"] < row["band_low"]
    if beyond:
        return (f"{what}: {change} (CI {ci}) is beyond the {tolerance} tolerance at 95 %, but not after "
                f"the Holm correction over {row['family']} metrics")
    return f"{what}: {change} (CI {ci}) reaches past the {tolerance} tolerance: too noisy to tell"


def row_label(row: dict) -> str:
    return f"{row['phase']} · {describe(row['metric'])}"


def overall_verdict(counts: dict) -> str:
    if counts["worse"]:
        return "worse"
    if counts["better"]:
        return "better"
    if counts["inconclusive"]:
        return "inconclusive"
    return "no change"


def headline(pairs: list[dict], experiments: list[dict]) -> str:
    parts = []
    for index, pair in enumerate(pairs, start=1):
        rows = [row["changes"][index] for e in experiments for row in e["rows"]]
        worst = [r for r in rows if r["verdict"] == pair["verdict"]]
        counts = ", ".join(f"{n} {v}" for v, n in pair["counts"].items() if n)
        lead = f"{pair['candidate']} against {pair['baseline']}: {counts}"
        if pair["verdict"] in ("worse", "better") and worst:
            top = max(worst, key=lambda r: abs(r["effect"] / r["tolerance"]) if r["tolerance"] else 0)
            lead += f"; largest: {describe(top['metric'])} in {top['phase']} {format_change(top, top['effect'])}"
        parts.append(lead + ".")
    return " ".join(parts)
