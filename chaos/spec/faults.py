"""What every fault has: a name, a schedule inside the fault phase (at, duration, repeat), its
timeline updates and the checks of the fault alone. The families subclass it."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from chaos import units
from chaos.spec.base import Duration, Strict


class FaultSpec(Strict):
    """What every fault has: a name, a schedule inside the fault phase, a family and a target."""

    family: ClassVar[str]
    name: str | None = None
    at: Duration = 0.0
    duration: Duration
    repeat: Duration | None = Field(None, description="inject again every this long from `at` (with `times`)")
    times: int | None = Field(None, ge=1, le=1000, description="how many occurrences a repeated fault has")

    def target(self) -> str:
        raise NotImplementedError

    def display_name(self) -> str | None:
        """The name the user gave the fault, if any (a dns fault's ``name`` is the name looked up)."""
        return self.name

    def params(self) -> dict:
        raise NotImplementedError

    def occurrences(self) -> list[float]:
        """When each occurrence starts, in seconds from the start of the fault phase."""
        if self.repeat is None or self.times is None:
            return [self.at]
        return [self.at + k * self.repeat for k in range(self.times)]  # k * repeat: no float drift

    def updates(self) -> list[dict]:
        """Changes made while one occurrence is active: ``{"after": s, "set": {...}}`` (ramps, crash loops)."""
        return []

    def update_count(self) -> int:
        """How many ``updates()`` one occurrence has, counted without building them (an upper bound)."""
        return 0

    def step_count(self) -> int:
        """The timeline steps of this fault (inject, revert and every update of every occurrence), counted
        from its fields alone: validation bounds the plan before anything is built."""
        return (self.times or 1) * (2 + self.update_count())

    def problems(self) -> list[tuple[tuple, str]]:
        """Checks of this fault alone, as (field path inside the fault, message)."""
        found = []
        if self.duration <= 0:
            found.append((("duration",), "must be longer than 0s"))
        if (self.repeat is None) != (self.times is None):
            which = ("times",) if self.repeat is None else ("repeat",)
            found.append((which, "repeat and times go together: repeat: 10s, times: 3 injects 3 times, 10s apart"))
        elif self.repeat is not None:
            if self.repeat <= 0:
                found.append((("repeat",), "must be longer than 0s"))
            elif self.repeat < self.duration:
                found.append((("repeat",), f"occurrences would overlap: repeat {units.format_duration(self.repeat)} "
                                           f"is shorter than duration {units.format_duration(self.duration)}"))
        return found
