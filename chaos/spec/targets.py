"""The targets section: services the harness starts (or attaches to), as in compose."""

from __future__ import annotations

import os
from typing import Literal

from pydantic import Field, PrivateAttr, field_validator, model_validator

from chaos.spec.base import Duration, Strict


class Healthcheck(Strict):
    test: list[str] | str
    interval: Duration = 1.0
    timeout: Duration = 1.0
    retries: int = Field(30, ge=0, description="0: the engine's default (3)")
    start_period: Duration = 0.0


class DependsOn(Strict):
    condition: Literal["service_started", "service_healthy", "service_completed_successfully"] = "service_started"


class Build(Strict):
    context: str = "."
    dockerfile: str | None = None
    args: dict[str, str | int | float] = Field(default_factory=dict)
    target: str | None = Field(None, description="the build stage to stop at (a multi-stage Dockerfile)")


class Service(Strict):
    image: str
    build: Build | str | None = Field(None, description="used when the image is not present locally")
    command: list[str] | str | None = None
    entrypoint: list[str] | str | None = None
    environment: dict[str, str | int | float | bool | None] | list[str] = Field(default_factory=dict)
    ports: list[str | int] = Field(default_factory=list)
    depends_on: list[str] | dict[str, DependsOn] = Field(default_factory=list)
    healthcheck: Healthcheck | None = None
    labels: dict[str, str] | list[str] = Field(default_factory=dict)
    clock: Literal["normal", "skewable"] = "normal"
    attach: Attach | None = Field(None, exclude=True, description="set through targets.attach")
    working_dir: str | None = Field(None, description="working directory of the main process, as in compose")
    user: str | None = Field(None, description="user (name or uid[:gid]) the main process runs as, as in compose")
    # Compose keys accepted so existing compose files load, and deliberately not applied:
    container_name: str | None = Field(None, description="ignored: containers are named per run so runs never collide")
    restart: str | None = Field(None, description="ignored: the harness owns the lifecycle; a restart policy would "
                                                  "undo kill and stop faults behind its back")
    networks: list[str] | dict[str, dict | None] | None = Field(None, description="ignored: every target joins the "
                                                                 "experiment's own network")
    expose: list[str | int] | None = Field(None, description="ignored: every port is reachable on the experiment network")
    # The service in Compose's canonical form, when it came from a compose file (chaos.service_config).
    _compose: dict | None = PrivateAttr(None)

    @property
    def compose(self) -> dict | None:
        return self._compose

    def env(self) -> dict[str, str]:
        if isinstance(self.environment, list):
            pairs = (item.split("=", 1) for item in self.environment)
            return {p[0]: (p[1] if len(p) > 1 else os.environ.get(p[0], "")) for p in pairs}
        return {k: "" if v is None else str(v).lower() if isinstance(v, bool) else str(v) for k, v in self.environment.items()}

    def dependencies(self) -> dict[str, str]:
        if isinstance(self.depends_on, list):
            return {name: "service_started" for name in self.depends_on}
        return {name: dep.condition for name, dep in self.depends_on.items()}

    def container_ports(self) -> list[int]:
        """Container ports to publish on 127.0.0.1 (compose short syntax; host part ignored)."""
        result = []
        for spec in self.ports:
            text = str(spec).split("/")[0]
            result.append(int(text.rsplit(":", 1)[-1]))
        return result

    @field_validator("ports")
    @classmethod
    def _ports_parse(cls, ports):
        for spec in ports:
            text = str(spec).split("/")[0]
            if not text.rsplit(":", 1)[-1].isdigit():
                raise ValueError(f"port {spec!r} is not in compose short syntax (e.g. 8080 or 127.0.0.1::8080)")
        return ports


class Attach(Strict):
    """An already-running container to adopt instead of starting one: by exact name or by one label."""

    name: str | None = Field(None, description="the container's name")
    label: str | None = Field(None, description="key=value; exactly one running container must carry it")

    @model_validator(mode="after")
    def _exactly_one(self):
        if (self.name is None) == (self.label is None):
            raise ValueError("give either name or label (exactly one)")
        if self.label is not None and "=" not in self.label:
            raise ValueError(f"label {self.label!r} must be key=value")
        return self


class Targets(Strict):
    compose: str | list[str] | None = Field(None, description="compose file(s), in order, as `docker compose -f a -f b`")
    profiles: list[str] = Field(default_factory=list, description="compose profiles to enable")
    services: dict[str, Service] = Field(default_factory=dict)
    attach: dict[str, Attach] = Field(default_factory=dict, description="service name -> running container to adopt; "
                                      "the harness never starts, stops or removes it")
