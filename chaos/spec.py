"""The experiment language: one strict typed model, loaded from YAML with source positions.

``load_experiment`` returns an :class:`Experiment` or raises :class:`SpecError` listing every
problem as ``FILE:LINE:COLUMN: field.path: message`` in one pass.
"""

from __future__ import annotations

import difflib
import os
import re
from pathlib import Path
from typing import Annotated, ClassVar, Literal, Union

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from chaos import units
from chaos.errors import Problem, SpecError
from chaos.yamlsource import Source, dotted, load_yaml

Duration = Annotated[float, BeforeValidator(units.parse_duration)]
Milliseconds = Annotated[float, BeforeValidator(units.parse_milliseconds)]
Fraction = Annotated[float, BeforeValidator(units.parse_fraction)]
RateKBps = Annotated[float, BeforeValidator(units.parse_rate_kbps)]
Bytes = Annotated[int, BeforeValidator(units.parse_size_bytes)]

NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,62}$")
LINK = re.compile(r"^\s*([A-Za-z0-9_.-]+)\s*->\s*([A-Za-z0-9_.-]+):(\d{1,5})\s*$")
METRICS = (
    "count", "throughput", "error_rate", "success_rate",
    "latency.p50", "latency.p90", "latency.p95", "latency.p99", "latency.p999",
    "latency.max", "latency.mean",
)
PHASES = ("warmup", "baseline", "fault", "recovery")
EDGE = "load"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


# ---- targets -----------------------------------------------------------------------------


class Healthcheck(Strict):
    test: list[str] | str
    interval: Duration = 1.0
    timeout: Duration = 1.0
    retries: int = Field(30, ge=1)
    start_period: Duration = 0.0


class DependsOn(Strict):
    condition: Literal["service_started", "service_healthy"] = "service_started"


class Build(Strict):
    context: str = "."
    dockerfile: str | None = None
    args: dict[str, str | int | float] = Field(default_factory=dict)


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


class Targets(Strict):
    compose: str | None = None
    services: dict[str, Service] = Field(default_factory=dict)


# ---- load --------------------------------------------------------------------------------


class Load(Strict):
    locustfile: str
    user_classes: list[str] = Field(default_factory=list)
    target: str = Field(description="service:port the load generator drives through the edge link")
    users: int = Field(10, ge=1, le=100_000)
    spawn_rate: float = Field(10.0, gt=0)
    model: Literal["closed"] = "closed"

    @field_validator("target")
    @classmethod
    def _target_shape(cls, value: str) -> str:
        if not re.match(r"^[A-Za-z0-9_.-]+:\d{1,5}$", value):
            raise ValueError(f"{value!r} is not service:port (e.g. api:8080)")
        return value


# ---- phases, faults, hypotheses, abort rules -----------------------------------------------


class Phases(Strict):
    warmup: Duration = 5.0
    baseline: Duration = 20.0
    recovery: Duration = 20.0


Stream = Literal["upstream", "downstream", "both"]


class FaultSpec(Strict):
    """What every fault has: a name, a schedule inside the fault phase, a family and a target."""

    family: ClassVar[str]
    name: str | None = None
    at: Duration = 0.0
    duration: Duration

    def target(self) -> str:
        raise NotImplementedError

    def params(self) -> dict:
        raise NotImplementedError


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
        if not LINK.match(value):
            raise ValueError(f"{value!r} is not a link (expected 'from -> to:port', e.g. 'api -> redis:6379')")
        return normalise_link(value)

    def toxic_attributes(self) -> dict[str, float | int]:
        return {}


class Latency(LinkFault):
    type: Literal["latency"]
    latency: Milliseconds
    jitter: Milliseconds = 0.0

    def toxic_attributes(self):
        return {"latency": round(self.latency), "jitter": round(self.jitter)}


class Bandwidth(LinkFault):
    type: Literal["bandwidth"]
    rate: RateKBps

    def toxic_attributes(self):
        return {"rate": max(1, round(self.rate))}


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


Fault = Annotated[
    Union[Latency, Bandwidth, SlowClose, Timeout, ResetPeer, Slicer, LimitData, Down],
    Field(discriminator="type"),
]
FAULT_TYPES = ("latency", "bandwidth", "slow_close", "timeout", "reset_peer", "slicer", "limit_data", "down")


class Hypothesis(Strict):
    name: str
    metric: Literal[METRICS]  # type: ignore[valid-type]
    max: float | str | None = None
    min: float | str | None = None
    phases: list[Literal[PHASES]] = Field(default_factory=lambda: ["baseline", "fault", "recovery"])  # type: ignore[valid-type]
    request: str | None = Field(None, description="only requests with this Locust name")
    weight: float = Field(1.0, gt=0)

    @model_validator(mode="after")
    def _one_bound(self):
        if self.max is None and self.min is None:
            raise ValueError("give max or min")
        return self

    def bound(self, which: str) -> float | None:
        return metric_value(self.metric, getattr(self, which))


class AbortRule(Strict):
    metric: Literal[METRICS]  # type: ignore[valid-type]
    max: float | str
    for_: Duration = Field(5.0, alias="for")

    def threshold(self) -> float:
        return metric_value(self.metric, self.max)


def metric_value(metric: str, value: float | str | None) -> float | None:
    """A threshold in the metric's own unit: fractions for rates, milliseconds for latency."""
    if value is None:
        return None
    if metric in ("error_rate", "success_rate"):
        return units.parse_fraction(value)
    if metric.startswith("latency."):
        return units.parse_milliseconds(value)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    raise ValueError(f"{value!r} is not a number")


class Report(Strict):
    dir: str = "reports"
    formats: list[Literal["html", "md", "junit", "json"]] = Field(default_factory=lambda: ["html", "md", "junit", "json"])


DEFAULT_ABORT = (
    {"metric": "error_rate", "max": "5%", "for": "5s"},
    {"metric": "latency.p99", "max": "1000ms", "for": "5s"},
)


class Experiment(Strict):
    name: str
    description: str = ""
    secrets: list[str] = Field(default_factory=list, description="names of variables whose values are secret")
    targets: Targets
    links: list[str] = Field(default_factory=list)
    load: Load
    phases: Phases = Field(default_factory=Phases)
    faults: list[Fault] = Field(default_factory=list)
    steady_state: list[Hypothesis] = Field(default_factory=list)
    abort: list[AbortRule] = Field(default_factory=lambda: [AbortRule(**rule) for rule in DEFAULT_ABORT])
    report: Report = Field(default_factory=Report)

    @field_validator("name")
    @classmethod
    def _name_shape(cls, value: str) -> str:
        if not NAME.match(value):
            raise ValueError("use lower-case letters, digits, '-', '_' or '.' (it names the report directory)")
        return value

    @field_validator("links")
    @classmethod
    def _links_shape(cls, links: list[str]) -> list[str]:
        for link in links:
            if not LINK.match(link):
                raise ValueError(f"{link!r} is not a link (expected 'from -> to:port', e.g. 'api -> redis:6379')")
        return [normalise_link(link) for link in links]


def normalise_link(text: str) -> str:
    source, target, port = LINK.match(text).groups()
    return f"{source} -> {target}:{port}"


# ---- loading -----------------------------------------------------------------------------


class LoadedExperiment:
    """An experiment with where it came from: its file, resolved services and secret values."""

    def __init__(self, experiment: Experiment, source: Source, services: dict[str, Service], compose_file: Path | None):
        self.experiment = experiment
        self.source = source
        self.services = services
        self.compose_file = compose_file
        self.base_dir = Path(source.file).resolve().parent
        self.secret_values = sorted(
            {value for name, value in source.used_variables.items() if name in experiment.secrets and value}
        )

    def path(self, relative: str) -> Path:
        return (self.base_dir / relative).resolve()


def load_experiment(file: Path | str, variables: dict[str, str] | None = None) -> LoadedExperiment:
    """Load, validate and cross-check one experiment file. Raises SpecError with every problem."""
    env = dict(os.environ)
    env.update(variables or {})
    source = load_yaml(file, env)
    experiment = validate(Experiment, source)
    services, compose_file, problems = _resolve_services(experiment, source, env)
    loaded = LoadedExperiment(experiment, source, services, compose_file)
    if not problems:  # cross-checks against a half-read system would only add noise
        problems = cross_check(loaded)
    if problems:
        raise SpecError(problems)
    return loaded


def validate(model: type[BaseModel], source: Source, prefix: tuple = ()):
    data = source.data
    for part in prefix:
        data = data[part]
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise SpecError([_problem(source, prefix, error, data) for error in exc.errors()]) from None


def _problem(source: Source, prefix: tuple, error: dict, data) -> Problem:
    path = prefix + _data_path(error["loc"], data)
    kind = error["type"]
    if kind == "extra_forbidden":
        key = path[-1]
        siblings = _fields_at(source, path[:-1])
        hint = difflib.get_close_matches(str(key), siblings, n=1)
        more = f" (did you mean '{hint[0]}'?)" if hint else (f" (expected one of: {', '.join(siblings)})" if siblings else "")
        return source.problem(path, f"unknown field{more}")
    if kind == "missing":
        return source.problem(path, "is required")
    if kind == "union_tag_invalid":
        tag = error.get("ctx", {}).get("tag")
        hint = difflib.get_close_matches(str(tag), FAULT_TYPES, n=1)
        more = f"did you mean '{hint[0]}'?" if hint else f"expected one of: {', '.join(FAULT_TYPES)}"
        return source.problem(path + ("type",), f"unknown fault type {tag!r} ({more})")
    if kind == "union_tag_not_found":
        return source.problem(path, f"needs a 'type' (one of: {', '.join(FAULT_TYPES)})")
    message = error["msg"]
    for prefix_text in ("Value error, ", "Assertion failed, "):
        message = message.removeprefix(prefix_text)
    return source.problem(path, message)


def _data_path(loc: tuple, data) -> tuple:
    """Drop the parts of a pydantic location that are not keys in the data (union tags, 'str')."""
    path, node = [], data
    for part in loc:
        if isinstance(node, dict) and part in node:
            path.append(part)
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            path.append(part)
            node = node[part]
        elif isinstance(node, dict) and part not in node and isinstance(part, str) and part not in _union_tags(node):
            path.append(part)  # a missing or unknown field: point at its parent's position
            node = None
    return tuple(path)


def _union_tags(node: dict) -> set[str]:
    return {str(node.get("type"))} | {"str", "list[str]", "float", "int", "dict[str,DependsOn]", "list[str | int]"}


def _fields_at(source: Source, path: tuple) -> list[str]:
    model = _model_at(path)
    return list(model.model_fields_set_names()) if model else []


def _model_at(path: tuple):
    """The model that validates the mapping at ``path``, for 'did you mean' hints."""
    model: type[BaseModel] | None = Experiment
    node_types = {
        ("targets",): Targets, ("load",): Load, ("phases",): Phases, ("report",): Report,
    }
    key = tuple(p for p in path if not isinstance(p, int))
    if key in node_types:
        return _Fields(node_types[key])
    if not path:
        return _Fields(Experiment)
    if key == ("faults",):
        return _Fields(Latency, Bandwidth, SlowClose, Timeout, ResetPeer, Slicer, LimitData, Down)
    if key == ("steady_state",):
        return _Fields(Hypothesis)
    if key == ("abort",):
        return _Fields(AbortRule)
    if len(key) == 3 and key[:2] == ("targets", "services"):
        return _Fields(Service)
    if len(key) == 4 and key[:2] == ("targets", "services") and key[3] == "healthcheck":
        return _Fields(Healthcheck)
    return model and None


class _Fields:
    def __init__(self, *models: type[BaseModel]):
        self.models = models

    def model_fields_set_names(self) -> list[str]:
        names: list[str] = []
        for model in self.models:
            for name, info in model.model_fields.items():
                shown = info.alias or name
                if shown not in names:
                    names.append(shown)
        return names


def _resolve_services(experiment: Experiment, source: Source, env: dict[str, str]):
    """Services from the compose file (if any) overlaid with inline ones (inline wins)."""
    services: dict[str, Service] = {}
    compose_file = None
    problems: list[Problem] = []
    if experiment.targets.compose:
        compose_file = (Path(source.file).resolve().parent / experiment.targets.compose).resolve()
        if not compose_file.is_file():
            problems.append(source.problem(("targets", "compose"), f"compose file {experiment.targets.compose} not found"))
        else:
            try:
                compose = load_yaml(compose_file, env)
                services.update(_compose_services(compose))
            except SpecError as exc:
                problems += exc.problems
    services.update(experiment.targets.services)
    if compose_file and services:
        services = {name: _with_build_context(service, compose_file.parent) for name, service in services.items()}
    if not services and not problems:
        problems.append(source.problem(("targets",), "no services: give targets.compose or targets.services"))
    return services, compose_file, problems


def _with_build_context(service: Service, base: Path) -> Service:
    """Build contexts resolved against the compose file's folder, as compose does."""
    if service.build is None:
        return service
    build = Build(context=service.build) if isinstance(service.build, str) else service.build
    return service.model_copy(update={"build": build.model_copy(update={"context": str((base / build.context).resolve())})})


COMPOSE_IGNORED = ("version", "name", "networks", "volumes", "x-chaos")


def _compose_services(compose: Source) -> dict[str, Service]:
    data = compose.data
    if not isinstance(data, dict) or not isinstance(data.get("services"), dict):
        raise SpecError([compose.problem(("services",), "a compose file needs a 'services' mapping")])
    unknown = [key for key in data if key not in COMPOSE_IGNORED + ("services",)]
    problems = [compose.problem((key,), "unknown top-level compose key") for key in unknown]
    services = {}
    for name in data["services"]:
        try:
            services[name] = validate(Service, compose, ("services", name))
        except SpecError as exc:
            problems += exc.problems
    if problems:
        raise SpecError(problems)
    return services


def cross_check(loaded: LoadedExperiment) -> list[Problem]:
    """Checks across sections: names exist, files exist, fault windows and thresholds make sense."""
    exp, source, services = loaded.experiment, loaded.source, loaded.services
    problems: list[Problem] = []

    def name_problem(path, name, what):
        hint = difflib.get_close_matches(name, list(services), n=1)
        more = f" (did you mean '{hint[0]}'?)" if hint else f" (services: {', '.join(services)})"
        problems.append(source.problem(path, f"{what} {name!r} is not a service of this experiment{more}"))

    for service_name, service in services.items():
        for dependency in service.dependencies():
            if dependency not in services:
                name_problem(("targets", "services", service_name, "depends_on"), dependency, "dependency")
    for i, link in enumerate(exp.links):
        source_name, target_name, _ = LINK.match(link).groups()
        if source_name != EDGE and source_name not in services:
            name_problem(("links", i), source_name, "link source")
        if target_name not in services:
            name_problem(("links", i), target_name, "link target")
    if len(set(exp.links)) != len(exp.links):
        problems.append(source.problem(("links",), "the same link is listed twice"))
    target_service = exp.load.target.split(":")[0]
    if target_service not in services:
        name_problem(("load", "target"), target_service, "load target")
    if not loaded.path(exp.load.locustfile).is_file():
        problems.append(source.problem(("load", "locustfile"), f"file {exp.load.locustfile} not found"))
    routed = set(exp.links) | {f"{EDGE} -> {exp.load.target}"}
    fault_end = 0.0
    for i, fault in enumerate(exp.faults):
        if fault.family == "link" and fault.link not in routed:
            problems.append(source.problem(("faults", i, "link"),
                                           f"link {fault.link!r} is not routed through Toxiproxy (add it to 'links')"))
        if fault.duration <= 0:
            problems.append(source.problem(("faults", i, "duration"), "must be longer than 0s"))
        fault_end = max(fault_end, fault.at + fault.duration)
    names = [f.name for f in exp.faults if f.name]
    for i, fault in enumerate(exp.faults):
        if fault.name and names.count(fault.name) > 1:
            problems.append(source.problem(("faults", i, "name"), f"fault name {fault.name!r} is used twice"))
    for i, hypothesis in enumerate(exp.steady_state):
        for which in ("max", "min"):
            try:
                hypothesis.bound(which)
            except ValueError as exc:
                problems.append(source.problem(("steady_state", i, which), str(exc)))
        if "fault" in hypothesis.phases and not exp.faults:
            problems.append(source.problem(("steady_state", i, "phases"), "phase 'fault' needs at least one fault"))
    for i, rule in enumerate(exp.abort):
        try:
            rule.threshold()
        except ValueError as exc:
            problems.append(source.problem(("abort", i, "max"), str(exc)))
    if exp.phases.baseline <= 0:
        problems.append(source.problem(("phases", "baseline"), "a baseline of 0s leaves nothing to compare against"))
    return problems


def describe_field(path: tuple) -> str:
    return dotted(path)
