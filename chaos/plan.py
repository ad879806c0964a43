"""Experiment -> Plan: durations resolved, faults on one timeline, links and images fixed. Pure."""

from __future__ import annotations

import json
import secrets as _random
import time
from dataclasses import asdict, dataclass, field

from chaos import spec
from chaos.spec import LoadedExperiment


@dataclass(frozen=True)
class TargetPlan:
    name: str
    image: str
    command: list[str] | str | None
    entrypoint: list[str] | str | None
    environment: dict[str, str]
    ports: list[int]
    depends_on: dict[str, str]
    healthcheck: dict | None
    labels: dict[str, str]
    clock: str
    build: dict | None = None  # {context, dockerfile, args}: used only when the image is missing


@dataclass(frozen=True)
class LinkPlan:
    name: str  # "api -> redis:6379"
    source: str  # "api" or "load" for the edge link
    target: str
    port: int

    @property
    def is_edge(self) -> bool:
        return self.source == spec.EDGE

    @property
    def proxy_name(self) -> str:
        return f"{self.source}-to-{self.target}-{self.port}"


@dataclass(frozen=True)
class FaultPlan:
    id: str
    name: str
    kind: str  # latency, down, ... (the experiment's `type`)
    family: str  # which module of chaos.faults injects it: link, ...
    target: str  # what it hits: a link name such as "api -> redis:6379", or a service selector
    params: dict  # family-specific, JSON-serialisable, already in the units the adapter needs
    at: float  # seconds from the start of the fault phase
    duration: float


@dataclass(frozen=True)
class Window:
    phase: str
    start: float  # seconds from load start
    end: float


@dataclass
class Plan:
    experiment: str
    description: str
    run_id: str
    seed: int
    source_file: str
    targets: list[TargetPlan]
    links: list[LinkPlan]
    load: dict
    phases: dict[str, float]
    timeline: list[Window]
    faults: list[FaultPlan]
    steady_state: list[dict]
    abort: list[dict]
    report: dict
    secret_values: list[str] = field(default_factory=list, repr=False)

    @property
    def edge(self) -> LinkPlan:
        return next(link for link in self.links if link.is_edge)

    @property
    def duration(self) -> float:
        return self.timeline[-1].end

    def to_json(self) -> dict:
        """What goes to plan.json: everything but secret values and target environment values."""
        data = asdict(self)
        data.pop("secret_values")
        for target in data["targets"]:
            target["environment"] = {key: "<set>" for key in target["environment"]}
        data["phases"] = dict(self.phases)
        return json.loads(scrub(json.dumps(data), self.secret_values))


def scrub(text: str, secret_values: list[str]) -> str:
    for value in secret_values:
        text = text.replace(value, "***")
    return text


def new_run_id(now: float | None = None) -> str:
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(now if now is not None else time.time()))
    return f"{stamp}-{_random.token_hex(2)}"


def make_plan(loaded: LoadedExperiment, run_id: str | None = None, seed: int | None = None) -> Plan:
    exp = loaded.experiment
    faults = [_fault_plan(i, fault) for i, fault in enumerate(exp.faults)]
    fault_span = max((f.at + f.duration for f in faults), default=0.0)
    phases = {"warmup": exp.phases.warmup, "baseline": exp.phases.baseline,
              "fault": fault_span, "recovery": exp.phases.recovery}
    return Plan(
        experiment=exp.name,
        description=exp.description,
        run_id=run_id or new_run_id(),
        seed=seed if seed is not None else _random.randbelow(2**31),
        source_file=str(loaded.source.file),
        targets=[_target_plan(name, service) for name, service in loaded.services.items()],
        links=_links(exp),
        load={
            "locustfile": str(loaded.path(exp.load.locustfile)),
            "user_classes": list(exp.load.user_classes),
            "users": exp.load.users,
            "spawn_rate": exp.load.spawn_rate,
            "model": exp.load.model,
            "target": exp.load.target,
        },
        phases=phases,
        timeline=timeline(phases),
        faults=faults,
        steady_state=[_hypothesis(h) for h in exp.steady_state],
        abort=[{"metric": r.metric, "max": r.threshold(), "for": r.for_} for r in exp.abort],
        report={"dir": str(loaded.path(exp.report.dir)), "formats": list(exp.report.formats)},
        secret_values=loaded.secret_values,
    )


def timeline(phases: dict[str, float]) -> list[Window]:
    windows, start = [], 0.0
    for phase in spec.PHASES:
        length = phases.get(phase, 0.0)
        if length > 0:
            windows.append(Window(phase, start, start + length))
            start += length
    return windows


def _links(exp: spec.Experiment) -> list[LinkPlan]:
    names = list(exp.links)
    edge = f"{spec.EDGE} -> {exp.load.target}"
    if edge not in names:
        names.append(edge)
    result = []
    for name in names:
        source, target, port = spec.LINK.match(name).groups()
        result.append(LinkPlan(name, source, target, int(port)))
    return result


def _fault_plan(index: int, fault: spec.FaultSpec) -> FaultPlan:
    return FaultPlan(
        id=f"f{index + 1}",
        name=fault.name or f"{fault.type} on {fault.target()}",
        kind=fault.type,
        family=fault.family,
        target=fault.target(),
        params=fault.params(),
        at=fault.at,
        duration=fault.duration,
    )


def _target_plan(name: str, service: spec.Service) -> TargetPlan:
    healthcheck = None
    if service.healthcheck:
        test = service.healthcheck.test
        healthcheck = {
            "test": ["CMD-SHELL", test] if isinstance(test, str) else list(test),
            "interval": service.healthcheck.interval,
            "timeout": service.healthcheck.timeout,
            "retries": service.healthcheck.retries,
            "start_period": service.healthcheck.start_period,
        }
    labels = service.labels if isinstance(service.labels, dict) else dict(
        item.split("=", 1) if "=" in item else (item, "") for item in service.labels)
    return TargetPlan(
        name=name, image=service.image, command=service.command, entrypoint=service.entrypoint,
        environment=service.env(), ports=service.container_ports(), depends_on=service.dependencies(),
        healthcheck=healthcheck, labels=dict(labels), clock=service.clock,
        build=service.build.model_dump() if service.build else None,
    )


def _hypothesis(h: spec.Hypothesis) -> dict:
    return {"name": h.name, "metric": h.metric, "max": h.bound("max"), "min": h.bound("min"),
            "phases": list(h.phases), "filter": {"name": h.request}, "weight": h.weight}


def start_order(targets: list[TargetPlan]) -> list[TargetPlan]:
    """Targets in dependency order (dependencies first); a cycle is a spec problem caught earlier."""
    by_name = {t.name: t for t in targets}
    ordered, seen = [], set()

    def visit(name: str, stack: tuple[str, ...]):
        if name in seen:
            return
        if name in stack:
            raise ValueError(f"dependency cycle: {' -> '.join(stack + (name,))}")
        for dependency in by_name[name].depends_on:
            visit(dependency, stack + (name,))
        seen.add(name)
        ordered.append(by_name[name])

    for target in targets:
        visit(target.name, ())
    return ordered
