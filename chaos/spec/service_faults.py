"""Partitions and clock skew: faults on services, not on links, and the checks of the services they name."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, ClassVar, Literal, Union

from pydantic import BeforeValidator, Field

from chaos import units
from chaos.errors import Problem, did_you_mean
from chaos.spec.base import Duration, Strict
from chaos.spec.faults import FaultSpec

if TYPE_CHECKING:
    from chaos.spec.loading import LoadedExperiment


Groups = Union[list[list[str]], dict[str, list[str]]]


class Partition(FaultSpec):
    """Targets in different groups cannot exchange packets (iptables DROP inside their network
    namespaces, direct and through link proxies). Targets named nowhere keep every path."""

    family: ClassVar[str] = "partition"
    type: Literal["partition"]
    groups: Groups | None = Field(None, description="[[a], [b]] or {left: [a], right: [b]}: groups cut from each other")
    isolate: list[str] | str | None = Field(None, description="these targets against every other target")
    bridge: str | None = Field(None, description="a target that sees every group while the groups do not see each other")
    direction: Literal["both", "one-way"] = Field("both", description="one-way: only packets from the first group "
                                                                      "to the second are dropped")

    def named_groups(self) -> dict[str, list[str]]:
        """Groups by name (``1``, ``2``... for a list); isolate gives ``isolated`` and ``rest`` (filled in later)."""
        if self.isolate is not None:
            return {"isolated": self.isolated(), "rest": []}
        if isinstance(self.groups, dict):
            return {name: list(members) for name, members in self.groups.items()}
        return {str(i + 1): list(members) for i, members in enumerate(self.groups or [])}

    def isolated(self) -> list[str]:
        return [self.isolate] if isinstance(self.isolate, str) else list(self.isolate or [])

    def target(self) -> str:
        if self.isolate is not None:
            return f"isolate {', '.join(self.isolated())}" + (" (one-way)" if self.direction == "one-way" else "")
        cut = " -/-> " if self.direction == "one-way" else " | "
        text = cut.join(", ".join(members) for members in self.named_groups().values())
        return text + (f", bridge {self.bridge}" if self.bridge else "")

    def params(self) -> dict:
        return {"groups": {} if self.isolate is not None else self.named_groups(), "isolate": self.isolated(),
                "bridge": [self.bridge] if self.bridge else [], "direction": self.direction}

    def services(self) -> list[tuple[tuple, str]]:
        """Every service named, with its field path inside the fault."""
        named = []
        if isinstance(self.isolate, str):
            named.append((("isolate",), self.isolate))
        else:
            named += [(("isolate", k), name) for k, name in enumerate(self.isolate or [])]
        keys = self.groups.keys() if isinstance(self.groups, dict) else range(len(self.groups or []))
        for key in keys:
            named += [(("groups", key, k), name) for k, name in enumerate(self.groups[key])]
        if self.bridge:
            named.append((("bridge",), self.bridge))
        return named

    def problems(self):
        found = super().problems()
        if (self.groups is None) == (self.isolate is None):
            found.append(((), "give either groups (targets cut from each other) or isolate (targets cut from all others)"))
            return found
        if self.isolate is not None:
            if not self.isolated():
                found.append((("isolate",), "name at least one service"))
            if self.bridge:
                found.append((("bridge",), "a bridge needs groups to stand between (use groups, not isolate)"))
            return found + _repeated_names(self.services())
        groups = self.named_groups()
        if len(groups) < 2:
            found.append((("groups",), "a partition needs at least two groups"))
        for key, members in zip(self.groups.keys() if isinstance(self.groups, dict) else range(len(groups)),
                                groups.values()):
            if not members:
                found.append((("groups", key), "an empty group cuts nothing"))
        if self.direction == "one-way" and len(groups) != 2:
            found.append((("direction",), "one-way needs exactly two groups: packets from the first to the second "
                                          "are dropped"))
        return found + _repeated_names(self.services())


def _repeated_names(named: list[tuple[tuple, str]]) -> list[tuple[tuple, str]]:
    seen, found = set(), []
    for path, name in named:
        if name in seen:
            found.append((path, f"{name!r} is named twice: a service belongs to one group (a bridge to none)"))
        seen.add(name)
    return found


SignedDuration = Annotated[float, BeforeValidator(units.parse_signed_duration)]
ClockRate = Annotated[float, BeforeValidator(units.parse_clock_rate)]
STROBE_MIN_PERIOD = 0.25  # each swing is one rewrite of the timestamp file through the engine
DRIFT_STEP = 0.5  # a drift is written as a new offset this often (libfaketime's own rate cannot be reverted)
DRIFT_MAX_UPDATES = 2000


def _steps(every: float, duration: float) -> list[tuple[int, float]]:
    """(k, k * every) for k = 1, 2, ... strictly inside the duration (the revert comes at its end)."""
    result, k = [], 1
    while round(k * every, 9) < duration:
        result.append((k, round(k * every, 9)))
        k += 1
    return result


class Strobe(Strict):
    delta: Duration = Field(description="the clock swings between +delta and -delta")
    period: Duration = Field(description="time between swings")


class ClockSkew(FaultSpec):
    """The wall clock of one `clock: skewable` service, through libfaketime: offset, drift or strobe."""

    family: ClassVar[str] = "clock"
    type: Literal["clock_skew"]
    service: str
    offset: SignedDuration | None = Field(None, description="a fixed step: +30s, -5s")
    drift: ClockRate | None = Field(None, description="runs at this rate against real time: 1.05, 0.99, 200ppm")
    strobe: Strobe | None = None

    def target(self) -> str:
        return self.service

    def params(self) -> dict:
        if self.offset is not None:
            return {"mode": "offset", "offset_s": self.offset}
        if self.drift is not None:
            return {"mode": "drift", "rate": self.drift}
        return {"mode": "strobe", "delta_s": self.strobe.delta, "period_s": self.strobe.period}

    def updates(self) -> list[dict]:
        """The offsets written while active: a drift grows stepwise, a strobe swings every period."""
        if self.strobe is not None and self.strobe.period >= STROBE_MIN_PERIOD:
            swings = _steps(self.strobe.period, self.duration)
            return [{"after": after, "set": {"offset_s": self.strobe.delta * (-1) ** k}} for k, after in swings]
        if self.drift is not None:
            step = max(DRIFT_STEP, self.duration / DRIFT_MAX_UPDATES)
            return [{"after": after, "set": {"offset_s": round((self.drift - 1.0) * after, 6)}}
                    for _, after in _steps(step, self.duration)]
        return []

    def problems(self):
        found = super().problems()
        given = [name for name in ("offset", "drift", "strobe") if getattr(self, name) is not None]
        if len(given) != 1:
            found.append(((given[1],) if given else (), "give exactly one of offset, drift or strobe"))
        elif self.offset == 0:
            found.append((("offset",), "an offset of 0s changes nothing"))
        elif self.drift == 1.0:
            found.append((("drift",), "a rate of 1 changes nothing (e.g. 1.05 runs 5 % fast, 200ppm 0.02 % fast)"))
        elif self.strobe is not None:
            if self.strobe.delta <= 0:
                found.append((("strobe", "delta"), "must be longer than 0s"))
            if self.strobe.period < STROBE_MIN_PERIOD:
                found.append((("strobe", "period"), f"must be at least {units.format_duration(STROBE_MIN_PERIOD)}"))
        return found


def service_fault_problems(loaded: LoadedExperiment) -> list[Problem]:
    """Partitions and clock skews name services: they must exist, and a skewed one must be skewable."""
    exp, source, services = loaded.experiment, loaded.source, loaded.services
    problems: list[Problem] = []

    def unknown(path: tuple, name: str) -> Problem:
        more = did_you_mean(name, services, f" (services: {', '.join(services)})")
        return source.problem(path, f"{name!r} is not a service of this experiment{more}")

    skew_windows: dict[str, list[tuple[float, float, int]]] = {}
    for i, fault in enumerate(exp.faults):
        if isinstance(fault, Partition):
            problems += [unknown(("faults", i, *path), name) for path, name in fault.services() if name not in services]
            problems += [source.problem(("faults", i, *path), f"{name!r} is attached: a partition changes a "
                                        "container's network namespace, and attached containers are never changed")
                         for path, name in fault.services() if name in services and services[name].attach]
            if fault.isolate is not None and set(fault.isolated()) >= set(services):
                problems.append(source.problem(("faults", i, "isolate"), "isolates every service: nobody is left "
                                                                         "on the other side"))
        elif isinstance(fault, ClockSkew):
            if fault.service not in services:
                problems.append(unknown(("faults", i, "service"), fault.service))
            elif services[fault.service].attach:
                problems.append(source.problem(("faults", i, "service"), f"{fault.service!r} is attached: only a "
                                               "service the harness starts can be started with libfaketime"))
            elif services[fault.service].clock != "skewable":
                problems.append(source.problem(
                    ("faults", i, "service"),
                    f"service {fault.service!r} is not declared skewable: add `clock: skewable` to its definition "
                    "(the harness must start it with libfaketime preloaded; only glibc-linked, dynamically linked "
                    "programs can be skewed)"))
            for start in fault.occurrences():
                skew_windows.setdefault(fault.service, []).append((start, start + fault.duration, i))
    for service, windows in skew_windows.items():
        windows.sort()
        for (_, end, _), (start, _, i) in zip(windows, windows[1:]):
            if start < end:
                problems.append(source.problem(("faults", i, "at"), f"overlaps another clock skew of {service!r}: "
                                                                    "a service has one clock"))
    return problems
