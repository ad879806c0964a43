"""Link faults: every Toxiproxy toxic and ``down`` on a link, and ramps moved in place."""

from __future__ import annotations

import math
from typing import ClassVar, Literal

from pydantic import field_validator

from chaos import units
from chaos.spec.base import Bytes, Duration, Fraction, Milliseconds, RateKBps, Strict, link_text
from chaos.spec.faults import FaultSpec


Stream = Literal["upstream", "downstream", "both"]


class LinkFault(FaultSpec):
    family: ClassVar[str] = "link"
    link: str
    stream: Stream = "downstream"
    toxicity: Fraction = 1.0

    def target(self) -> str:
        return self.link

    def params(self) -> dict:
        return {"stream": self.stream, "toxicity": self.toxicity, **self.toxic_attributes()}

    @field_validator("link")
    @classmethod
    def _link_shape(cls, value: str) -> str:
        return link_text(value)

    def toxic_attributes(self) -> dict[str, float | int]:
        return {}


class LatencyRamp(Strict):
    """Moves the latency from the fault's own value to ``to`` over ``over``, one in-place update per ``step``."""

    to: Milliseconds
    over: Duration
    step: Duration = 1.0


class RateRamp(Strict):
    """Moves the rate from the fault's own value to ``to`` over ``over``, one in-place update per ``step``."""

    to: RateKBps
    over: Duration
    step: Duration = 1.0


RAMP_MIN_STEP = 0.1  # one Toxiproxy PATCH per step and link: at most ten a second


def ramp_updates(attribute: str, start: int, end: int, ramp, duration: float) -> list[dict]:
    """The in-place updates of a linear ramp; times are ``k * step`` (no accumulated drift), values monotone."""
    updates, last, k = [], start, 1
    while True:
        after = min(round(k * ramp.step, 9), ramp.over)
        if after >= duration:
            break  # the revert comes first
        value = round(start + (end - start) * after / ramp.over)
        if value != last:
            updates.append({"after": after, "set": {attribute: value}})
            last = value
        if after >= ramp.over:
            break
        k += 1
    return updates


def ramp_update_count(ramp) -> int:
    if ramp is None or ramp.step <= 0 or ramp.over <= 0:
        return 0  # refused by ramp_problems
    return math.ceil(ramp.over / ramp.step) + 1


def ramp_problems(start: int, end: int, ramp, duration: float) -> list[tuple[tuple, str]]:
    found = []
    if ramp.over <= 0:
        found.append((("ramp", "over"), "must be longer than 0s"))
    elif ramp.over > duration:
        found.append((("ramp", "over"), f"the ramp outlasts the fault (duration {units.format_duration(duration)})"))
    if ramp.step < RAMP_MIN_STEP:
        found.append((("ramp", "step"), f"must be at least {units.format_duration(RAMP_MIN_STEP)} "
                                        "(each step is one update of the toxic)"))
    elif ramp.over > 0 and ramp.step > ramp.over:
        found.append((("ramp", "step"), "is longer than the ramp itself (over)"))
    if start == end:
        found.append((("ramp", "to"), "equals the fault's own value: a ramp must move one way, up or down"))
    return found


class Latency(LinkFault):
    type: Literal["latency"]
    latency: Milliseconds
    jitter: Milliseconds = 0.0
    ramp: LatencyRamp | None = None

    def toxic_attributes(self):
        return {"latency": round(self.latency), "jitter": round(self.jitter)}

    def updates(self):
        return ramp_updates("latency", round(self.latency), round(self.ramp.to), self.ramp, self.duration) \
            if self.ramp else []

    def update_count(self):
        return ramp_update_count(self.ramp)

    def problems(self):
        ramp = ramp_problems(round(self.latency), round(self.ramp.to), self.ramp, self.duration) if self.ramp else []
        return super().problems() + ramp


class Bandwidth(LinkFault):
    type: Literal["bandwidth"]
    rate: RateKBps
    ramp: RateRamp | None = None

    def toxic_attributes(self):
        return {"rate": max(1, round(self.rate))}

    def updates(self):
        return ramp_updates("rate", max(1, round(self.rate)), max(1, round(self.ramp.to)), self.ramp, self.duration) \
            if self.ramp else []

    def update_count(self):
        return ramp_update_count(self.ramp)

    def problems(self):
        ramp = ramp_problems(max(1, round(self.rate)), max(1, round(self.ramp.to)), self.ramp, self.duration) \
            if self.ramp else []
        return super().problems() + ramp


class SlowClose(LinkFault):
    type: Literal["slow_close"]
    delay: Milliseconds

    def toxic_attributes(self):
        return {"delay": round(self.delay)}


class Timeout(LinkFault):
    type: Literal["timeout"]
    timeout: Milliseconds = 0.0

    def toxic_attributes(self):
        return {"timeout": round(self.timeout)}


class ResetPeer(LinkFault):
    type: Literal["reset_peer"]
    timeout: Milliseconds = 0.0

    def toxic_attributes(self):
        return {"timeout": round(self.timeout)}


class Slicer(LinkFault):
    type: Literal["slicer"]
    average_size: Bytes
    size_variation: Bytes = 0
    delay: Milliseconds = 0.0

    def toxic_attributes(self):
        return {"average_size": self.average_size, "size_variation": self.size_variation,
                "delay": round(self.delay * 1000)}  # Toxiproxy's slicer delay is in microseconds


class LimitData(LinkFault):
    type: Literal["limit_data"]
    bytes: Bytes

    def toxic_attributes(self):
        return {"bytes": self.bytes}


class Down(LinkFault):
    type: Literal["down"]
