"""A hypothesis as the checks it makes: one per phase it names and bound it sets (pure).

The analysis judges these checks and the pytest items of a YAML experiment are made from them, so
both list the same checks in the same order from this one place.
"""

from __future__ import annotations

from dataclasses import dataclass

BOUNDS = (("<=", "max"), (">=", "min"))
WARMUP = "warmup"


@dataclass(frozen=True)
class PlannedCheck:
    index: int  # position among every check of the plan: the summary lists them in this order
    hypothesis: str
    metric: str
    phase: str
    op: str  # "<=" for a max, ">=" for a min
    threshold: float
    request: str | None  # the request name the hypothesis is about; None: every request
    probe: str | None
    entry: int  # index of its hypothesis in steady_state
    weight: float  # the hypothesis's weight, shared evenly among its checks


def planned_checks(steady_state: list[dict], phase_names: list[str] | None = None) -> list[PlannedCheck]:
    """Every check of ``steady_state`` (a plan's hypotheses as plain data). A hypothesis naming no phase is
    judged in each of ``phase_names`` but the warmup."""
    out: list[PlannedCheck] = []
    for position, entry in enumerate(steady_state or []):
        phases = entry.get("phases") or [p for p in phase_names or [] if p != WARMUP]
        bounds = [(op, entry[key]) for op, key in BOUNDS if entry.get(key) is not None]
        weight = float(entry["weight"]) if entry.get("weight") is not None else 1.0
        share = weight / max(1, len(phases) * len(bounds))
        name = str(entry.get("name") or entry.get("metric", ""))
        request = (entry.get("filter") or {}).get("name")
        for phase in phases:
            for op, threshold in bounds:
                out.append(PlannedCheck(len(out), name, entry.get("metric", ""), phase, op, float(threshold), request,
                                        entry.get("probe"), position, share))
    return out
