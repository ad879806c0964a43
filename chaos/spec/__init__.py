"""The experiment language: one strict typed model, loaded from YAML with source positions.

``load_experiment`` returns an :class:`Experiment` or raises :class:`SpecError` listing every
problem as ``FILE:LINE:COLUMN: field.path: message`` in one pass.
"""

from __future__ import annotations

import math
import os
import re
import signal as _signal
from pathlib import Path
from typing import Annotated, ClassVar, Literal, Union

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from chaos import compose, metrics, service_config, spec_errors, units
from chaos.errors import Problem, SpecError, did_you_mean
from chaos.links import EDGE, Link
from chaos.yamlsource import Source, dotted, load_yaml, load_yaml_text
from chaos.spec.base import Bytes, Duration, Fraction, HEADER_NAME, Headers, LinkText, Milliseconds, NAME, PHASES, RateKBps, Strict, link_text  # noqa: F401
from chaos.spec.targets import Attach, Build, DependsOn, Healthcheck, Service, Targets  # noqa: F401
from chaos.spec.load import Load, ScenarioRequest  # noqa: F401
from chaos.spec.faults import FaultSpec  # noqa: F401
from chaos.spec.link_faults import Bandwidth, Down, Latency, LatencyRamp, LimitData, LinkFault, RAMP_MIN_STEP, RateRamp, ResetPeer, Slicer, SlowClose, Stream, Timeout, ramp_problems, ramp_update_count, ramp_updates  # noqa: F401
from chaos.spec.container_faults import CRASH_LOOP_MIN_EVERY, ContainerFault, Cpu, CrashLoop, FREEZING_SIGNALS, Kill, LABEL, MEMORY_MIN_BYTES, Memory, Pause, ResourceFault, Restart, Signal, Stop, TargetedFault, parse_signal  # noqa: F401
from chaos.spec.service_faults import ClockRate, ClockSkew, DRIFT_MAX_UPDATES, DRIFT_STEP, Groups, Partition, STROBE_MIN_PERIOD, SignedDuration, Strobe, service_fault_problems  # noqa: F401
from chaos.spec.steady_state import AbortRule, CommandProbe, ContainerProbe, DEFAULT_ABORT, HttpProbe, Hypothesis, Probe, ProbeSpec, PythonProbe, TcpProbe  # noqa: F401
from chaos.spec.experiment import Experiment, FAULT_MODELS, FAULT_TYPES, Fault, Phases, Report  # noqa: F401
from chaos.spec.checks import HARNESS_ROLES, HARNESS_ROLE_PREFIXES, MAX_TIMELINE_STEPS, candidate_services, cross_check, describe_field, service_labels  # noqa: F401



# ---- targets -----------------------------------------------------------------------------




# ---- load --------------------------------------------------------------------------------




# ---- phases, faults, hypotheses, abort rules -----------------------------------------------









# ---- container and resource faults: which of this run's targets they hit --------------------



# ---- partitions and clock skew (faults on services, not on links) ---------------------------














# ---- loading -----------------------------------------------------------------------------


class LoadedExperiment:
    """An experiment with where it came from: its file, resolved services and secret values."""

    def __init__(self, experiment: Experiment, source: Source, services: dict[str, Service],
                 compose_project: compose.Project | None):
        self.experiment = experiment
        self.source = source
        self.services = services
        self.compose_project = compose_project
        self.compose_file = Path(compose_project.files[0]) if compose_project else None
        self.warnings: list[str] = compose_warnings(compose_project) if compose_project else []
        self.base_dir = Path(source.file).resolve().parent
        self.secret_values = sorted(
            {value for name, value in source.used_variables.items() if name in experiment.secrets and value}
        )

    def path(self, relative: str) -> Path:
        return (self.base_dir / relative).resolve()


def load_experiment(file: Path | str, variables: dict[str, str] | None = None, *,
                    text: str | None = None) -> LoadedExperiment:
    """Load, validate and cross-check one experiment file. Raises SpecError with every problem.
    With ``text``, that is the file's content (not read): relative paths still resolve from ``file``."""
    env = dict(os.environ)
    env.update(variables or {})
    source = load_yaml(file, env) if text is None else load_yaml_text(text, str(file), env)
    experiment = validate(Experiment, source)
    services, project, problems = _resolve_services(experiment, source, env)
    loaded = LoadedExperiment(experiment, source, services, project)
    # a secret may be used only in the compose file: take every listed variable's value
    loaded.secret_values = sorted(set(loaded.secret_values) | {env[n] for n in experiment.secrets if env.get(n)})
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
        raise SpecError(spec_errors.problems(model, source, prefix, data, exc.errors())) from None


def compose_files(experiment: Experiment, base_dir: Path) -> list[Path]:
    declared = experiment.targets.compose
    names = [declared] if isinstance(declared, str) else list(declared or [])
    return [(base_dir / name).resolve() for name in names]


def _resolve_services(experiment: Experiment, source: Source, env: dict[str, str]):
    """Services from the compose files (if any) overlaid with inline ones (inline wins)."""
    services: dict[str, Service] = {}
    project = None
    problems: list[Problem] = []
    files = compose_files(experiment, Path(source.file).resolve().parent)
    declared = experiment.targets.compose
    for i, file in enumerate(files):
        if not file.is_file():
            listed = isinstance(declared, list)
            written = declared[i] if listed else declared
            problems.append(source.problem(("targets", "compose") + ((i,) if listed else ()),
                                           f"compose file {written} not found"))
    if files and not problems:
        try:
            project = compose.read_project(files, env, experiment.targets.profiles)
            services.update(compose_services(project))
        except SpecError as exc:
            problems += exc.problems
    services.update(experiment.targets.services)
    for name, selector in experiment.targets.attach.items():
        if name in services:
            problems.append(source.problem(("targets", "attach", name), f"{name!r} is also a service the harness starts"))
        services[name] = Service(image="(attached)", attach=selector)
    if not services and not problems:
        problems.append(source.problem(("targets",), "no services: give targets.compose, targets.services or "
                                                     "targets.attach"))
    return services, project, problems


def load_compose(file: Path | str | list, variables: dict[str, str] | None = None,
                 profiles: list[str] | tuple = ()) -> dict[str, Service]:
    """The services of compose file(s) read as an experiment reads them: by Docker Compose, with
    ``variables`` over the environment. Raises SpecError with every problem."""
    env = dict(os.environ)
    env.update(variables or {})
    files = [file] if isinstance(file, (str, Path)) else list(file)
    return compose_services(compose.read_project(files, env, profiles))


def compose_warnings(project: compose.Project) -> list[str]:
    """Compose's own warnings, and keys the harness does not apply that a person should hear about."""
    return list(project.warnings) + [
        str(project.problem(("services", name, key), f"not applied: {service_config.ADJUSTED[key]}"))
        for name, canonical in project.services.items() for key in service_config.WARNED if canonical.get(key)]


def compose_services(project: compose.Project) -> dict[str, Service]:
    """Each canonical compose service as the harness's Service, its canonical form kept beside it."""
    services, problems = {}, []
    for name, canonical in project.services.items():
        try:
            service = Service.model_validate(service_config.service_fields(project.name, name, canonical))
        except ValidationError as exc:
            first = exc.errors()[0]
            path = ("services", name, *[p for p in first["loc"] if isinstance(p, str)][:1])
            problems.append(project.problem(path, f"the harness cannot start this service: {first['msg']}"))
            continue
        service._compose = canonical
        services[name] = service
    if problems:
        raise SpecError(problems)
    return services


