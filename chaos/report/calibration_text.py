"""A ``chaos calibrate`` document (``chaos.calibration/1``) as the text the terminal shows and calibration.txt
keeps: what the gate sees on this machine, per metric, and the ``--tolerance`` flags that fit it."""

from __future__ import annotations

from chaos.metrics import REGISTRY


def render_calibration_text(document: dict) -> str:
    gate = document["gate_rounds"]
    lines = [
        f"{document['experiment']}: {document['rounds']} A/A round(s) {document['design']}, judged as gates of "
        f"{gate} rounds ({document['comparisons']} comparisons from them, {document['disjoint_comparisons']} of "
        f"them disjoint)",
        f"  at the tolerance asked: {_rates(document['at_tolerance'])}",
        "",
        f"  {'phase':<9} {'metric':<12} {'rounds':>6} {'A/A mean':>9} {'spread':>8} {'vs base':>8} {'MDE':>9} "
        f"{'margin':>8}   "
        f"at the tolerance asked: no change / inconclusive / worse / better",
    ]
    for row in document["metrics"]:
        shares = row["at_tolerance"]
        lines.append(
            f"  {row['phase']:<9} {REGISTRY[row['metric']].short:<12} {row['rounds_used']:>6} "
            f"{_change(row['mean'], row['kind']):>9} {_spread(row.get('spread'), row['kind']):>8} "
            f"{_spread(row.get('spread_vs_baseline'), row['kind']):>8} {_change(row['mde'], row['kind']):>9} "
            f"{_change(row['margin'], row['kind']):>8}   "
            f"{shares['no change']:.0%} / {shares['inconclusive']:.0%} / {shares['worse']:.0%} / {shares['better']:.0%}"
            + (f"   ({row['why']})" if row.get("why") else ""))
    lines += [
        "",
        "  spread: of the rounds' differences; vs base: of the same differences taken against each run's own "
        "baseline phase.",
        f"  MDE: the smallest change a gate of {gate} rounds catches 4 times in 5; margin: the tolerance at which "
        "identical versions come out \"no change\" 9 times in 10 (never below the tolerance asked).",
    ]
    if document["margins"]:
        flags = " ".join(f"--tolerance {REGISTRY[m].short}={v:.0%}" for m, v in sorted(document["margins"].items()))
        lines += [f"  tolerances that fit this machine: {flags}",
                  f"  at those tolerances: {_rates(document['at_margins'])}"]
    return "\n".join(lines)


def _rates(summary: dict) -> str:
    no_change = summary["no_change"]
    return (f"the gate fails {summary['gate_fails']:.1%} of A/A comparisons, claims a change in "
            f"{summary['claims_change']:.1%}; \"no change\" on {no_change:.0%} of metrics"
            if no_change is not None else "nothing judged")


def _change(value: float | None, kind: str) -> str:
    if value is None:
        return "–"
    return f"{value * 100:+.1f} pp" if kind == "absolute" else f"{value * 100:+.1f} %"


def _spread(value: float | None, kind: str) -> str:
    if value is None:
        return "–"
    return f"{value * 100:.1f} pp" if kind == "absolute" else f"±{value * 100:.1f} %"
