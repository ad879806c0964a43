"""Container and resource faults: which of this run's targets they hit (service, services or label;
all, one or a random fraction), signals, kills, stops, pauses, crash loops, CPU and memory limits."""

from __future__ import annotations

import math
import re
import signal as _signal
from typing import Annotated, ClassVar, Literal

from pydantic import BeforeValidator, Field, field_validator

from chaos import units
from chaos.errors import did_you_mean
from chaos.spec.base import Bytes, Duration, Fraction
from chaos.spec.faults import FaultSpec


# These stop the process in a way `docker start` cannot undo (the container stays "running"): use pause.
FREEZING_SIGNALS = ("SIGSTOP", "SIGTSTP", "SIGTTIN", "SIGTTOU")


def parse_signal(value: object) -> str:
    """A signal name as Docker takes it (``SIGTERM``) from ``SIGTERM``, ``term`` or ``15``."""
    if isinstance(value, bool):
        raise ValueError("expected a signal like SIGKILL or SIGTERM")
    if isinstance(value, int):
        try:
            name = _signal.Signals(value).name
        except ValueError:
            raise ValueError(f"{value} is not a signal number") from None
    else:
        text = str(value).strip().upper()
        name = text if text.startswith("SIG") else f"SIG{text}"
        if name not in _signal.Signals.__members__:
            more = did_you_mean(name, _signal.Signals.__members__, " (e.g. SIGKILL, SIGTERM, SIGINT, SIGHUP)")
            raise ValueError(f"{value!r} is not a signal{more}")
    if name in FREEZING_SIGNALS:
        raise ValueError(f"{name} freezes the process and starting the container cannot undo it: use type: pause")
    return name


Signal = Annotated[str, BeforeValidator(parse_signal)]
LABEL = re.compile(r"^[^=\s]+=[^\s]*$")


class TargetedFault(FaultSpec):
    """A fault on containers: one service, a list, or a label among this run's own targets; all, one
    or a random fraction of them, drawn with the plan's seed."""

    service: str | None = None
    services: list[str] | None = None
    label: str | None = Field(None, description="key=value, matched among this run's targets only")
    pick: Literal["one", "all", "random"] = "all"
    fraction: Fraction | None = Field(None, description="with pick: random, the share of matching containers")

    @field_validator("label")
    @classmethod
    def _label_shape(cls, value: str | None) -> str | None:
        if value is not None and not LABEL.match(value):
            raise ValueError(f"{value!r} is not key=value (e.g. tier=backend)")
        return value

    def selection(self) -> dict:
        services = [self.service] if self.service else (list(self.services) if self.services else None)
        fraction = (0.5 if self.fraction is None else self.fraction) if self.pick == "random" else None
        return {"services": services, "label": self.label, "pick": self.pick, "fraction": fraction}

    def target(self) -> str:
        chosen = self.selection()
        what = ", ".join(chosen["services"]) if chosen["services"] else f"label {self.label}"
        if self.pick == "one":
            return f"one of {what}"
        if self.pick == "random":
            return f"random {chosen['fraction'] * 100:g}% of {what}"
        return what

    def params(self) -> dict:
        return {"select": self.selection(), **self.kind_params()}

    def kind_params(self) -> dict:
        return {}

    def problems(self):
        found = super().problems()
        given = [key for key in ("service", "services", "label") if getattr(self, key) is not None]
        if not given:
            found.append(((), "say which containers: service, services or label"))
        elif len(given) > 1:
            found.append(((given[1],), f"give only one of service, services or label (also given: {given[0]})"))
        if self.services is not None and not self.services:
            found.append((("services",), "is empty"))
        if self.fraction is not None and self.pick != "random":
            found.append((("fraction",), "applies to pick: random only"))
        elif self.fraction is not None and self.fraction <= 0:
            found.append((("fraction",), "must be more than 0%"))
        return found


class ContainerFault(TargetedFault):
    family: ClassVar[str] = "container"


class Kill(ContainerFault):
    """Signal the container's main process; revert starts it again (and waits until healthy)."""

    type: Literal["kill"]
    signal: Signal = "SIGKILL"

    def kind_params(self):
        return {"signal": self.signal}


class Stop(ContainerFault):
    type: Literal["stop"]
    grace: Duration = Field(10.0, description="time between the stop signal and SIGKILL")

    def kind_params(self):
        return {"grace": self.grace}


class Restart(ContainerFault):
    type: Literal["restart"]
    grace: Duration = Field(10.0, description="time between the stop signal and SIGKILL")

    def kind_params(self):
        return {"grace": self.grace}


class Pause(ContainerFault):
    type: Literal["pause"]


CRASH_LOOP_MIN_EVERY = 1.0  # a kill and a start take a good part of a second on a busy engine


class CrashLoop(ContainerFault):
    """Kill every ``every`` seconds for the fault's duration; the container comes back ``down`` after each kill."""

    type: Literal["crash_loop"]
    every: Duration
    down: Duration = Field(0.0, description="how long it stays down after each kill before it is started again")
    signal: Signal = "SIGKILL"

    def kind_params(self):
        return {"signal": self.signal, "every": self.every, "down": self.down}

    def updates(self):
        result = [{"after": self.down, "set": {"start": 1}}] if 0 < self.down < self.duration else []
        k = 1
        while round(k * self.every, 9) < self.duration:
            after = round(k * self.every, 9)
            result.append({"after": after, "set": {"kill": k + 1}})
            if self.down > 0 and after + self.down < self.duration:
                result.append({"after": round(after + self.down, 9), "set": {"start": k + 1}})
            k += 1
        return result

    def update_count(self):
        return 2 * math.ceil(self.duration / self.every) if self.every > 0 and self.duration > 0 else 0

    def problems(self):
        found = super().problems()
        if self.every < CRASH_LOOP_MIN_EVERY:
            found.append((("every",), f"must be at least {units.format_duration(CRASH_LOOP_MIN_EVERY)}"))
        elif self.every >= self.duration > 0:
            found.append((("every",), "kills only once within the duration: make it shorter, or use type: kill"))
        if self.down >= self.every:
            found.append((("down",), "must be shorter than every"))
        return found


class ResourceFault(TargetedFault):
    family: ClassVar[str] = "resources"


class Cpu(ResourceFault):
    """Limit the containers' CPU at run time (docker update); revert restores the limits read before."""

    type: Literal["cpu"]
    cpus: float = Field(gt=0, le=1024, description="CPUs the container may use, e.g. 0.2")

    def kind_params(self):
        return {"cpus": self.cpus}

    def problems(self):
        found = super().problems()
        if self.cpus < 0.01:
            found.append((("cpus",), "must be at least 0.01 (Docker's smallest CPU quota)"))
        return found


MEMORY_MIN_BYTES = 6 * 1024 * 1024  # Docker refuses smaller limits


class Memory(ResourceFault):
    """Limit the containers' memory (and swap, to the same value) at run time; revert restores them."""

    type: Literal["memory"]
    memory: Bytes

    def kind_params(self):
        return {"memory_bytes": self.memory}

    def problems(self):
        found = super().problems()
        if self.memory < MEMORY_MIN_BYTES:
            found.append((("memory",), "must be at least 6MB (Docker's smallest memory limit)"))
        return found
