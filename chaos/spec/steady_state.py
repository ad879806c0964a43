"""What healthy means: probes, hypotheses (a metric with bounds, per phase) and abort rules."""

from __future__ import annotations

from typing import Annotated, Literal, Union

from pydantic import Field, field_validator, model_validator

from chaos import metrics
from chaos.spec.base import PHASES, Duration, Strict


class ProbeSpec(Strict):
    """A measurement polled on a fixed schedule for the whole run, each try bounded by ``timeout``."""

    name: str
    every: Duration = Field(1.0, description="interval between tries")
    timeout: Duration = Field(1.0, description="a try slower than this fails; a hanging probe never hangs the run")

    @model_validator(mode="after")
    def _timeout_fits(self):
        if self.every <= 0 or self.timeout <= 0:
            raise ValueError("every and timeout must be longer than 0s")
        return self


class HttpProbe(ProbeSpec):
    type: Literal["http"]
    service: str = Field(description="reached on its port published on 127.0.0.1 (published for you)")
    port: int = Field(ge=1, le=65535)
    path: str = "/"
    method: Literal["GET", "HEAD", "POST"] = "GET"
    expect_status: list[int] | int = Field(default_factory=lambda: [200])
    body_regex: str | None = None
    json_path: str | None = Field(None, description="dotted path into a JSON body, e.g. status or checks.redis")
    equals: str | int | float | bool | None = Field(None, description="value expected at json_path")

    def statuses(self) -> list[int]:
        return [self.expect_status] if isinstance(self.expect_status, int) else list(self.expect_status)


class TcpProbe(ProbeSpec):
    type: Literal["tcp"]
    service: str
    port: int = Field(ge=1, le=65535)


class CommandProbe(ProbeSpec):
    type: Literal["command"]
    service: str
    command: list[str] | str
    expect_exit: int = 0
    output_regex: str | None = None


class PythonProbe(ProbeSpec):
    type: Literal["python"]
    call: str = Field(description="module:function, importable from the experiment's folder; truthy = success")


class ContainerProbe(ProbeSpec):
    type: Literal["container"]
    service: str
    expect: Literal["running", "healthy"] = "running"


Probe = Annotated[Union[HttpProbe, TcpProbe, CommandProbe, PythonProbe, ContainerProbe], Field(discriminator="type")]


class Hypothesis(Strict):
    name: str
    metric: Literal[metrics.METRICS]  # type: ignore[valid-type]
    max: float | str | None = None
    min: float | str | None = None
    phases: list[Literal[PHASES]] = Field(default_factory=lambda: ["baseline", "fault", "recovery"])  # type: ignore[valid-type]
    request: str | None = Field(None, description="only requests with this Locust name")
    probe: str | None = Field(None, description="judge this probe's results instead of the load's requests")
    weight: float = Field(1.0, gt=0)

    @model_validator(mode="after")
    def _one_bound(self):
        if self.max is None and self.min is None:
            raise ValueError("give max or min")
        return self

    def bound(self, which: str) -> float | None:
        return metrics.bound(self.metric, getattr(self, which))


class AbortRule(Strict):
    metric: Literal[metrics.METRICS]  # type: ignore[valid-type]
    max: float | str
    for_: Duration = Field(5.0, alias="for")

    @field_validator("metric")
    @classmethod
    def _judged_live(cls, value: str) -> str:
        reason = metrics.REGISTRY[value].not_live
        if reason:
            raise ValueError(f"an abort rule cannot watch {value}: {reason}")
        return value

    def threshold(self) -> float:
        return metrics.bound(self.metric, self.max)


DEFAULT_ABORT = (
    {"metric": "error_rate", "max": "5%", "for": "5s"},
    {"metric": "latency.p99", "max": "1000ms", "for": "5s"},
)
