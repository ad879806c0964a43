"""The Experiment model: its sections, the phases' lengths, which faults it may hold, the report."""

from __future__ import annotations

from typing import Annotated, Literal, Union

from pydantic import Field, field_validator

from chaos.spec.base import NAME, Duration, LinkText, Strict
from chaos.spec.container_faults import Cpu, CrashLoop, Kill, Memory, Pause, Restart, Stop
from chaos.spec.dns_faults import Dns
from chaos.spec.http_faults import Http, LinkSpec
from chaos.spec.link_faults import Bandwidth, Down, Latency, LimitData, ResetPeer, Slicer, SlowClose, Timeout
from chaos.spec.load import Load
from chaos.spec.service_faults import ClockSkew, Partition
from chaos.spec.steady_state import DEFAULT_ABORT, AbortRule, Hypothesis, Probe
from chaos.spec.targets import Targets


class Phases(Strict):
    warmup: Duration = 5.0
    baseline: Duration = 20.0
    recovery: Duration = 20.0



FAULT_MODELS = (Latency, Bandwidth, SlowClose, Timeout, ResetPeer, Slicer, LimitData, Down,
                Kill, Stop, Restart, Pause, CrashLoop, Cpu, Memory, Partition, ClockSkew, Http, Dns)
Fault = Annotated[
    Union[Latency, Bandwidth, SlowClose, Timeout, ResetPeer, Slicer, LimitData, Down,
          Kill, Stop, Restart, Pause, CrashLoop, Cpu, Memory, Partition, ClockSkew, Http, Dns],
    Field(discriminator="type"),
]
FAULT_TYPES = ("latency", "bandwidth", "slow_close", "timeout", "reset_peer", "slicer", "limit_data", "down",
               "kill", "stop", "restart", "pause", "crash_loop", "cpu", "memory", "partition", "clock_skew", "http",
               "dns")


class Report(Strict):
    dir: str = "reports"
    formats: list[Literal["html", "md", "junit", "json"]] = Field(default_factory=lambda: ["html", "md", "junit", "json"])


class Experiment(Strict):
    name: str
    description: str = ""
    secrets: list[str] = Field(default_factory=list, description="names of variables whose values are secret")
    targets: Targets
    links: list[LinkText | LinkSpec] = Field(default_factory=list, description="from -> to:port, or "
                                             "{link: from -> to:port, protocol: http} for an HTTP link")
    load: Load
    phases: Phases = Field(default_factory=Phases)
    faults: list[Fault] = Field(default_factory=list)
    probes: list[Probe] = Field(default_factory=list)
    steady_state: list[Hypothesis] = Field(default_factory=list)
    abort: list[AbortRule] = Field(default_factory=lambda: [AbortRule(**rule) for rule in DEFAULT_ABORT])
    report: Report = Field(default_factory=Report)

    def link_names(self) -> list[str]:
        """Every link of the `links` section as its canonical text, in order."""
        return [link if isinstance(link, str) else link.link for link in self.links]

    def http_links(self) -> set[str]:
        """The links that carry HTTP (``protocol: http``): their proxy is mitmproxy, and they take http faults."""
        return {link.link for link in self.links if isinstance(link, LinkSpec) and link.protocol == "http"}

    @field_validator("name")
    @classmethod
    def _name_shape(cls, value: str) -> str:
        if not NAME.match(value):
            raise ValueError("use lower-case letters, digits, '-', '_' or '.' (it names the report directory)")
        return value
