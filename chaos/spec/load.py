"""The load section: what Locust drives through the edge link (a locustfile or a YAML scenario)."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from chaos.spec.base import Duration, Headers, Strict


class ScenarioRequest(Strict):
    """One request of a load scenario written in YAML instead of a locustfile."""

    path: str = Field(description="URL path, e.g. /products/1")
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"] = "GET"
    name: str | None = Field(None, description="name in reports (default: METHOD path)")
    weight: int = Field(1, ge=1, le=10_000)
    expect: list[int] | int = Field(default_factory=lambda: [200], description="status codes that count as success")
    headers: Headers = Field(default_factory=dict)
    json_body: dict | list | None = Field(None, alias="json")

    def statuses(self) -> list[int]:
        return [self.expect] if isinstance(self.expect, int) else list(self.expect)


class Load(Strict):
    locustfile: str | None = Field(None, description="a Locust file; or give `scenario` instead")
    user_classes: list[str] = Field(default_factory=list)
    scenario: list[ScenarioRequest] | None = Field(None, description="requests to send, weighted, instead of a locustfile")
    target: str = Field(description="service:port the load generator drives through the edge link")
    users: int = Field(10, ge=1, le=100_000, description="closed model: concurrent users")
    spawn_rate: float = Field(10.0, gt=0)
    model: Literal["closed", "open"] = Field("closed", description="closed: users wait for answers; open: constant "
                                             "arrival rate, latency from the intended send time")
    rate: float | None = Field(None, gt=0, le=1_000_000, description="open model: requests per second")
    max_in_flight: int = Field(1000, ge=1, le=100_000, description="open model: arrivals beyond this are failures")
    workers: int = Field(0, ge=0, le=64, description="local Locust worker processes (0: one local process)")
    timeout: Duration = Field(10.0, gt=0, description="a request unanswered this long counts as failed (no answer); "
                              "scenario requests are also cut there")

    @field_validator("target")
    @classmethod
    def _target_shape(cls, value: str) -> str:
        if not re.match(r"^[A-Za-z0-9_.-]+:\d{1,5}$", value):
            raise ValueError(f"{value!r} is not service:port (e.g. api:8080)")
        return value

    @model_validator(mode="after")
    def _one_source_and_a_rate(self):
        if (self.locustfile is None) == (self.scenario is None):
            raise ValueError("give either locustfile or scenario (exactly one)")
        if self.model == "open" and self.rate is None:
            raise ValueError("the open model needs a rate (requests per second)")
        return self
