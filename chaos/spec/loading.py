"""Loading: YAML (with positions) -> validated Experiment, its services resolved from compose files
and inline definitions, cross-checked; every problem raised at once as a SpecError."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import BaseModel, ValidationError

from chaos import compose, service_config, spec_errors
from chaos.errors import Problem, SpecError
from chaos.spec.checks import cross_check
from chaos.spec.experiment import Experiment
from chaos.spec.targets import Service
from chaos.yamlsource import Source, load_yaml, load_yaml_text


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
