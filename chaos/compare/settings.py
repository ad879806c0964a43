"""What a comparison is asked: the tolerance (default and per metric), resamples, floors, phases; and the
error for sides that cannot be compared."""

from __future__ import annotations

from dataclasses import dataclass

from chaos.metrics import COMPARED, REGISTRY
from chaos.spans import WINDOW_S
from chaos.stats import CONFIDENCE

SKIPPED_PHASES = ("warmup",)
RESAMPLES = 4000
ALPHA = 0.05  # family-wise, per candidate
DEFAULT_TOLERANCE = 0.10
ERROR_FLOOR = 0.005  # 0.5 percentage points
LATENCY_FLOOR_MS = 1.0
VERDICTS = ("worse", "better", "no change", "inconclusive")
VERDICT_RANK = {"no change": 0, "inconclusive": 1, "better": 2, "worse": 3}


class CompareInputError(ValueError):
    """A path is not a run dir nor a directory of runs, or nothing can be compared."""


def parse_tolerances(values: list[str] | tuple[str, ...]) -> tuple[float, tuple[tuple[str, float], ...]]:
    """``["10%", "p99=25%"]`` -> (0.10, (("latency.p99", 0.25),)); ValueError on anything else."""
    from chaos.units import parse_fraction

    default, per_metric = DEFAULT_TOLERANCE, {}
    for value in values:
        name, _, amount = value.rpartition("=")
        fraction = parse_fraction(amount)
        if not 0 <= fraction < 10:
            raise ValueError(f"{value!r}: a tolerance is a fraction such as 10% or 0.1")
        if not name:
            default = fraction
            continue
        metric = next((m for m in COMPARED if name in (m, REGISTRY[m].short)), None)
        if metric is None:
            raise ValueError(f"{value!r}: unknown metric {name!r} "
                             f"(one of {', '.join(COMPARED)}; p50, p95, p99 also work)")
        per_metric[metric] = fraction
    return default, tuple(sorted(per_metric.items()))


@dataclass(frozen=True)
class Settings:
    tolerance: float = DEFAULT_TOLERANCE
    per_metric: tuple[tuple[str, float], ...] = ()  # (metric, tolerance) overrides, e.g. a wider one for p99
    last: int = 1
    phases: tuple[str, ...] | None = None  # None: every phase but warmup
    resamples: int = RESAMPLES
    error_floor: float = ERROR_FLOOR
    latency_floor_ms: float = LATENCY_FLOOR_MS

    def tolerance_for(self, metric: str) -> float:
        return dict(self.per_metric).get(metric, self.tolerance)

    def to_json(self) -> dict:
        return {"tolerance": self.tolerance, "per_metric": dict(self.per_metric), "last": self.last,
                "phases": list(self.phases) if self.phases else None,
                "resamples": self.resamples, "error_floor": self.error_floor,
                "latency_floor_ms": self.latency_floor_ms, "confidence": CONFIDENCE, "alpha": ALPHA,
                "correction": "holm", "window_s": WINDOW_S, "method": "block bootstrap over 1 s windows"}
