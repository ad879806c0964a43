"""A hypothesis of a plan, and the checks it makes: one per phase it names and bound it sets (pure).

The analysis judges these checks and the pytest items of a YAML experiment are made from them, so
both list the same checks in the same order from this one place.
"""

from __future__ import annotations

from dataclasses import dataclass, field

BOUNDS = (("<=", "max"), (">=", "min"))
WARMUP = "warmup"


@dataclass(frozen=True)
class HypothesisPlan:
    """One steady-state hypothesis, its bounds already numbers in the metric's unit (``max: 500ms`` is 500.0)."""

    name: str
    metric: str
    max: float | None
    min: float | None
    phases: list[str] = field(default_factory=list)  # empty: every phase of the run but the warmup
    request: str | None = None  # only requests with this Locust name; None: every request
    probe: str | None = None  # judge this probe's results instead of the load's requests
    weight: float = 1.0

    def bounds(self) -> list[tuple[str, float]]:
        """(op, threshold) of each bound it sets: ``<=`` for a max, ``>=`` for a min."""
        return [(op, float(getattr(self, key))) for op, key in BOUNDS if getattr(self, key) is not None]

    def to_json(self) -> dict:
        """As plan.json holds it (the request as ``filter.name``)."""
        return {"name": self.name, "metric": self.metric, "max": self.max, "min": self.min,
                "phases": list(self.phases), "filter": {"name": self.request}, "probe": self.probe,
                "weight": self.weight}

    @classmethod
    def from_json(cls, entry: dict) -> HypothesisPlan:
        """From plan.json, of this version or an older one (keys may be missing)."""
        weight = entry.get("weight")
        return cls(name=str(entry.get("name") or ""), metric=entry.get("metric", ""), max=entry.get("max"),
                   min=entry.get("min"), phases=list(entry.get("phases") or []),
                   request=(entry.get("filter") or {}).get("name"), probe=entry.get("probe"),
                   weight=float(weight) if weight is not None else 1.0)


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


def planned_checks(hypotheses: list[HypothesisPlan], phase_names: list[str] | None = None) -> list[PlannedCheck]:
    """Every check of ``hypotheses`` (a plan's steady state). A hypothesis naming no phase is judged in each
    of ``phase_names`` but the warmup."""
    out: list[PlannedCheck] = []
    for position, hypothesis in enumerate(hypotheses or []):
        phases = hypothesis.phases or [p for p in phase_names or [] if p != WARMUP]
        bounds = hypothesis.bounds()
        share = hypothesis.weight / max(1, len(phases) * len(bounds))
        name = hypothesis.name or hypothesis.metric
        for phase in phases:
            for op, threshold in bounds:
                out.append(PlannedCheck(len(out), name, hypothesis.metric, phase, op, threshold, hypothesis.request,
                                        hypothesis.probe, position, share))
    return out
