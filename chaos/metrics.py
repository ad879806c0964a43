"""The metrics hypotheses, abort rules, comparisons and reports speak of: one registry.

A metric says how its bounds are written (its unit: ``max: 500ms``, ``max: 5%``, ``min: 10/s``),
how it is named and shown, whether a 95 % interval goes with it, and how it is computed from the
requests of a window (a phase, or the trailing window of an abort rule). Everything else reads
it: the experiment model and its reference page, the analysis, the comparison, the reports, the
pytest results and the runner's live view and abort rules.

Pure, and light to import (numpy only once a value is computed): the experiment model loads it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass

from chaos import units


# ---------------------------------------------------------------- units


def _number_bound(value: object) -> float:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    raise ValueError(f"{value!r} is not a number")


_PER_SECOND = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(?:req\s*)?/\s*s\s*$", re.IGNORECASE)


def _rate_bound(value: object) -> float:
    """Requests per second: ``10/s``, ``10 req/s`` or a bare number."""
    match = _PER_SECOND.match(value) if isinstance(value, str) else None
    if match:
        return float(match.group(1))
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    raise ValueError(f"{value!r} is not a rate (expected e.g. 10/s, or a bare number of requests per second)")


def _top(values) -> float:
    return max((abs(v) for v in values if v is not None), default=0.0)


def _ms_scale(values) -> tuple[float, str, int]:
    top = _top(values)
    if top >= 1000:
        return 1000.0, " s", 2
    return 1.0, " ms", 0 if top >= 100 else 1 if top >= 10 else 2


def _percent_scale(values) -> tuple[float, str, int]:
    top = _top(values) * 100
    return 0.01, " %", 1 if top >= 10 else 2 if top >= 0.1 else 3


@dataclass(frozen=True)
class Unit:
    """How a bound of a metric is written (``parse``), said (``written``) and shown (``scale``)."""

    written: str  # for the reference page: what a bound means and how to write it
    parse: Callable[[object], float]
    scale: Callable[[list], tuple[float, str, int]]  # values -> (divide by, suffix, digits) shared by all


REQUESTS = Unit("requests", _number_bound, lambda values: (1.0, "", 0))
PER_SECOND = Unit("requests per second (write `10/s` or a bare number)", _rate_bound,
                  lambda values: (1.0, " req/s", 1))
FRACTION = Unit("fraction of requests (write `1%` or `0.01`)", units.parse_fraction, _percent_scale)
MILLISECONDS = Unit("milliseconds (write `500ms`, `1s` or a bare number of ms)", units.parse_milliseconds, _ms_scale)


# ---------------------------------------------------------------- the registry


def _count(latencies, ok, seconds: float) -> float:
    return float(len(latencies))


def _throughput(latencies, ok, seconds: float) -> float | None:
    return len(latencies) / seconds if seconds > 0 else None


def _error_rate(latencies, ok, seconds: float) -> float:
    return float(1.0 - ok.mean())


def _success_rate(latencies, ok, seconds: float) -> float:
    return float(ok.mean())


def _max(latencies, ok, seconds: float) -> float:
    return float(latencies.max())


def _mean(latencies, ok, seconds: float) -> float:
    return float(latencies.mean())


@dataclass(frozen=True)
class Metric:
    name: str
    label: str  # in sentences and tables: "p99 latency"
    unit: Unit
    compute: Callable | None = None  # (latencies ms, success flags, seconds) -> value; None: the quantile
    quantile: float | None = None  # latency quantiles: q of p_q
    interval: bool = True  # count and max are descriptive: one request over the bound *is* a deviation
    higher_is_better: bool = False
    not_live: str = ""  # why it cannot be judged over an abort rule's trailing window; "" when it can

    @property
    def live(self) -> bool:
        """Means over an abort rule's trailing window what it means over a phase."""
        return not self.not_live

    @property
    def counts_waiting(self) -> bool:
        """A request still waiting has a latency of at least its wait so far: a live latency metric counts it (its
        outcome is not known yet, so rates and throughput do not)."""
        return self.name.startswith("latency.")

    @property
    def short(self) -> str:
        """The name without its family: ``p99`` for ``latency.p99``."""
        return self.name.removeprefix("latency.")

    @property
    def needs_requests(self) -> int:
        """Fewest requests that say anything: below ceil(1 / (1 - q)) a quantile q is simply the maximum."""
        if self.quantile is None:
            return 1
        return math.ceil(1 / min(self.quantile, 1 - self.quantile) - 1e-9)

    def bound(self, value: object) -> float | None:
        """A bound as written (``500ms``, ``5%``, ``10/s``) in the metric's own unit; ValueError if it is not one."""
        return None if value is None else self.unit.parse(value)

    def of(self, latencies, ok, seconds: float) -> float | None:
        """The value over requests that took ``seconds`` (latencies in ms, success flags); None with no request,
        except for the count and the throughput, which are 0 then."""
        if self.compute in (_count, _throughput):
            return self.compute(latencies, ok, seconds)
        if not len(latencies):
            return None
        if self.compute is not None:
            return self.compute(latencies, ok, seconds)
        import numpy as np  # here: the experiment model imports this module and needs no numpy

        return float(np.quantile(latencies, self.quantile))


def _latency(key: str, q: float, label: str) -> Metric:
    return Metric(f"latency.{key}", f"{label} latency", MILLISECONDS, quantile=q)


REGISTRY: dict[str, Metric] = {m.name: m for m in (
    Metric("count", "request count", REQUESTS, _count, interval=False,
           not_live="a request count is a phase's total: over the rule's trailing window it grows with the "
                    "window (watch throughput instead)"),
    Metric("throughput", "throughput", PER_SECOND, _throughput, higher_is_better=True),
    Metric("error_rate", "error rate", FRACTION, _error_rate),
    Metric("success_rate", "success rate", FRACTION, _success_rate, higher_is_better=True),
    _latency("p50", 0.5, "p50"), _latency("p90", 0.9, "p90"), _latency("p95", 0.95, "p95"),
    _latency("p99", 0.99, "p99"), _latency("p999", 0.999, "p99.9"),
    Metric("latency.max", "max latency", MILLISECONDS, _max, interval=False),
    Metric("latency.mean", "mean latency", MILLISECONDS, _mean),
)}
METRICS = tuple(REGISTRY)
QUANTILES = {m.short: m.quantile for m in REGISTRY.values() if m.quantile is not None}
LIVE = tuple(name for name, m in REGISTRY.items() if m.live)
# a probe's tries have a latency and a success, but no error rate or throughput of their own
PROBE = ("success_rate", "latency.p50", "latency.p90", "latency.p95", "latency.p99", "latency.max", "latency.mean",
         "count")
# what `chaos compare` judges, in the order of its tables
COMPARED = ("error_rate", "latency.p50", "latency.p95", "latency.p99", "throughput")


def metric(name: str) -> Metric:
    """The registered metric called ``name``; ValueError naming the known ones otherwise."""
    found = REGISTRY.get(name)
    if found is None:
        raise ValueError(f"unknown metric {name!r} (one of: {', '.join(METRICS)})")
    return found


def bound(name: str, value: object) -> float | None:
    """A threshold in the metric's own unit: fractions for rates, milliseconds for latency."""
    return metric(name).bound(value)


def has_interval(name: str) -> bool:
    found = REGISTRY.get(name)
    return found is None or found.interval


def live_value(name: str, latencies, ok, seconds: float) -> float | None:
    """A metric over a live window (no interval: verdicts come from the analysis); None with no request."""
    if not len(latencies):
        return None
    return REGISTRY[name].of(latencies, ok, seconds)


# ---------------------------------------------------------------- wording (reports, failures, the console)


def describe(name: str, name_filter: str | None = None) -> str:
    found = REGISTRY.get(name)
    label = found.label if found else name
    return f"{label} of {name_filter}" if name_filter else label


def scale(name: str, values) -> tuple[float, str, int]:
    """(divide by, unit suffix, digits) to show these values of one metric in one shared unit."""
    found = REGISTRY.get(name)
    return found.unit.scale(values) if found else (1.0, "", 0)


def format_value(name: str, value: float | None) -> str:
    return format_range(name, value)


def format_range(name: str, *values: float | None) -> str:
    """Values of one metric in one shared unit: ``880–990 ms``; ``–`` when unknown."""
    if not values or all(v is None for v in values):
        return "–"
    divide, unit, digits = scale(name, values)
    text = "–".join("?" if v is None else number(v / divide, digits) for v in values)
    return text + unit


def number(value: float, digits: int) -> str:
    text = f"{value:,.{digits}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text
