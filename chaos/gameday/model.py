"""The game-day plan: a strict typed model, loaded from YAML with source positions, like an experiment.

``load_gameday`` returns a :class:`LoadedGameDay` (the plan, each step's experiment loaded with its
overrides, the day's system) or raises :class:`SpecError` with every problem found, in the plan and in
the experiments it names, as ``FILE:LINE:COLUMN: field.path: message``. Pure: reads files only.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from pydantic import BeforeValidator, Field, field_validator, model_validator

from chaos import spec, units
from chaos.errors import Problem, SpecError, did_you_mean
from chaos.gameday import schedule
from chaos.links import EDGE, Link, canonical
from chaos.secrets import MIN_DETECTED_LENGTH
from chaos.spec import LoadedExperiment, Strict
from chaos.yamlsource import Source, load_yaml

Duration = Annotated[float, BeforeValidator(units.parse_duration)]
ATTACHED = "(attached)"  # the image the experiment model gives a service it adopts instead of starting
Scalar = str | int | float | bool


def _moment(value: object) -> datetime | date:
    """A date-time (ISO, with or without an offset) or a whole day (YYYY-MM-DD), kept as written."""
    if isinstance(value, (datetime, date)):
        return value
    if isinstance(value, str):
        text = value.strip()
        try:
            return date.fromisoformat(text) if len(text) == 10 else datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            pass
    raise ValueError(f"{value!r} is not an ISO date (2026-12-08) or date-time (2026-12-08T10:00:00+01:00)")


def _instant(value: object) -> datetime:
    moment = _moment(value)
    if not isinstance(moment, datetime):
        raise ValueError(f"{value!r} is a day; give a date-time such as {moment.isoformat()}T10:00:00+01:00")
    return moment


Moment = Annotated[object, BeforeValidator(_moment)]
Instant = Annotated[object, BeforeValidator(_instant)]


class SystemSpec(Strict):
    """The system every step runs against: ``targets`` as an experiment has them (compose, services, and
    containers the user runs under ``attach``), started once for the day; or ``attach``, the run id of a
    system kept running by an earlier session (e.g. pytest --chaos-keep-system), adopted and left running."""

    targets: spec.Targets | None = None
    attach: str | None = Field(None, description="run id of a running system (labels chaos.run=<id>)")
    links: list[str] = Field(default_factory=list, description="links beyond the steps' own (added for you)")

    @model_validator(mode="after")
    def _one_source(self):
        if (self.targets is None) == (self.attach is None):
            raise ValueError("give either targets (the day starts the system) or attach (a running one)")
        return self

    @field_validator("links")
    @classmethod
    def _links_shape(cls, links: list[str]) -> list[str]:
        return [canonical(link) for link in links]


class PhaseOverrides(Strict):
    warmup: Duration | None = None
    baseline: Duration | None = None
    recovery: Duration | None = None

    @field_validator("baseline")
    @classmethod
    def _baseline_positive(cls, value):
        if value is not None and value <= 0:
            raise ValueError("a baseline of 0s leaves nothing to compare against")
        return value


class StepSpec(Strict):
    experiment: str = Field(description="experiment file, relative to the plan")
    name: str | None = Field(None, description="how the agenda and the report call this step")
    vars: dict[str, Scalar] = Field(default_factory=dict, description="${VAR} values for this experiment")
    phases: PhaseOverrides | None = None
    users: int | None = Field(None, ge=1, le=100_000)
    rate: float | None = Field(None, gt=0, le=1_000_000, description="open model: requests per second")
    seed: int | None = None
    pause_after: Duration | None = Field(None, description="pause after this step (default: the plan's pause)")
    runbook: str = Field("", description="notes for the people running this step")


class Blackout(Strict):
    from_: Moment = Field(alias="from")
    until: Moment
    reason: str = ""


class ScheduleSpec(Strict):
    at: Instant | None = Field(None, description="ISO date-time with a time zone offset")
    cron: str | None = Field(None, description="minute hour day-of-month month day-of-week")
    timezone: str | None = Field(None, description="IANA zone the cron rule is read in, e.g. Europe/Berlin")
    from_: Moment | None = Field(None, alias="from", description="a cron rule's first possible day")
    until: Moment | None = Field(None, description="a cron rule's last possible day")
    blackouts: list[Blackout] = Field(default_factory=list)

    @model_validator(mode="after")
    def _one_rule(self):
        if (self.at is None) == (self.cron is None):
            raise ValueError("give either at (one date-time) or cron (a rule with a timezone)")
        return self


class Webhook(Strict):
    url: str
    timeout: Duration = 5.0
    retries: int = Field(3, ge=0, le=10)
    headers: spec.Headers = Field(default_factory=dict)

    @field_validator("url")
    @classmethod
    def _http(cls, value: str) -> str:
        if not re.match(r"^https?://[^\s/]+", value):
            raise ValueError("must be an http:// or https:// URL")
        return value

    @field_validator("timeout")
    @classmethod
    def _timeout_positive(cls, value: float) -> float:
        if value <= 0 or value > 60:
            raise ValueError("must be more than 0s and at most 60s")
        return value


class Notify(Strict):
    stdout: bool = True
    jsonl: str | None = Field(None, description="file to append one JSON line per notification to")
    webhook: Webhook | None = None


class GameDaySpec(Strict):
    title: str
    name: str | None = Field(None, description="names the report directory (default: the file's name)")
    description: str = ""
    owners: list[str] = Field(min_length=1)
    secrets: list[str] = Field(default_factory=list, description="names of variables whose values are secret")
    vars: dict[str, Scalar] = Field(default_factory=dict, description="${VAR} values for the system and every step")
    system: SystemSpec
    steps: list[StepSpec] = Field(min_length=1)
    pause: Duration = Field(10.0, description="between steps")
    stop_on: Literal["deviated", "aborted", "never"] = "deviated"
    schedule: ScheduleSpec | None = None
    notify: Notify = Field(default_factory=Notify)
    report: spec.Report = Field(default_factory=spec.Report)

    @field_validator("name")
    @classmethod
    def _name_shape(cls, value: str | None) -> str | None:
        if value is not None and not spec.NAME.match(value):
            raise ValueError("use lower-case letters, digits, '-', '_' or '.' (it names the report directory)")
        return value


# ---- what loading gives --------------------------------------------------------------------


@dataclass
class LoadedStep:
    index: int  # 1-based, as people count steps
    spec: StepSpec
    loaded: LoadedExperiment
    variables: dict[str, str]

    @property
    def title(self) -> str:
        return self.spec.name or self.loaded.experiment.name


@dataclass
class LoadedGameDay:
    spec: GameDaySpec
    source: Source
    name: str
    steps: list[LoadedStep]
    services: dict[str, spec.Service] | None  # None when attaching: the running system says
    secret_values: list[str] = field(default_factory=list)

    @property
    def base_dir(self) -> Path:
        return Path(self.source.file).resolve().parent

    def path(self, relative: str) -> Path:
        return (self.base_dir / relative).resolve()

    def links(self) -> list[str]:
        """Every link the day's system needs: the plan's own and each step's, edge links included."""
        names = list(self.spec.system.links)
        for step in self.steps:
            experiment = step.loaded.experiment
            for link in [*experiment.links, str(Link.edge(experiment.load.target))]:
                if link not in names:
                    names.append(link)
        return names

    def rule(self) -> schedule.Rule | None:
        return schedule_rule(self.spec.schedule)


def schedule_rule(plan: ScheduleSpec | None) -> schedule.Rule | None:
    if plan is None:
        return None
    zone_name = plan.timezone or ("UTC" if plan.cron else _zone_name_of(plan.at))
    zone = ZoneInfo(zone_name)
    blackouts = tuple(schedule.Blackout(schedule.as_aware(b.from_, zone),
                                        schedule.as_aware(b.until, zone, end_of_day=True), b.reason)
                      for b in plan.blackouts)
    return schedule.Rule(
        timezone=zone_name,
        # an `at` keeps the offset it was written with, unless a timezone says where it is
        at=(plan.at if plan.at is not None and plan.at.tzinfo is not None and plan.timezone is None
            else schedule.as_aware(plan.at, zone) if plan.at is not None else None),
        cron=plan.cron,
        not_before=schedule.as_aware(plan.from_, zone) if plan.from_ is not None else None,
        until=schedule.as_aware(plan.until, zone, end_of_day=True) if plan.until is not None else None,
        blackouts=blackouts,
    )


def _zone_name_of(moment: datetime | None) -> str:
    """An `at` shown in its own zone: an IANA zone when it carries one, else UTC (its offset is kept)."""
    key = getattr(getattr(moment, "tzinfo", None), "key", None)
    return key or "UTC"


# ---- loading --------------------------------------------------------------------------------


def load_gameday(file: Path | str, variables: dict[str, str] | None = None) -> LoadedGameDay:
    """Load and check a game-day plan and every experiment it names. Raises SpecError with every problem.

    Variables: the plan's ``vars`` < a step's ``vars`` < ``variables`` (the command line's ``--var``)."""
    cli_vars = {k: str(v) for k, v in (variables or {}).items()}
    env = {**os.environ, **cli_vars}
    source = load_yaml(file, env)
    plan = spec.validate(GameDaySpec, source)
    problems: list[Problem] = _schedule_problems(plan, source)
    day_vars = {**{k: _text(v) for k, v in plan.vars.items()}, **cli_vars}
    services, more = _system_services(plan, source, day_vars)
    problems += more
    steps: list[LoadedStep] = []
    for i, step in enumerate(plan.steps):
        loaded_step, more = _load_step(i, step, source, {**day_vars, **{k: _text(v) for k, v in step.vars.items()},
                                                          **cli_vars})
        problems += more
        if loaded_step:
            steps.append(loaded_step)
    if not problems:
        problems += _cross_check(plan, source, services, steps)
    if problems:
        raise SpecError(problems)
    name = plan.name or _slug(Path(str(file)).stem)
    secrets = {value for key, value in source.used_variables.items() if key in plan.secrets and value}
    for step in steps:
        secrets.update(step.loaded.secret_values)
    if plan.notify.webhook:  # a webhook URL often carries a token: never written anywhere
        secrets.add(plan.notify.webhook.url)
        # a header value too short to be a credential ("1", "no") would blank that text out everywhere
        secrets.update(v for v in plan.notify.webhook.headers.values() if v and len(v) >= MIN_DETECTED_LENGTH)
    return LoadedGameDay(plan, source, name, steps, services, sorted(secrets, key=len, reverse=True))


def _text(value: Scalar) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def _slug(text: str) -> str:
    slug = re.sub(r"[^a-z0-9_.-]+", "-", text.lower()).strip("-.")
    return (slug or "gameday")[:63]


def _schedule_problems(plan: GameDaySpec, source: Source) -> list[Problem]:
    rule = plan.schedule
    if rule is None:
        return []
    problems = []
    where = ("schedule",)
    if rule.timezone is not None:
        try:
            ZoneInfo(rule.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            more = did_you_mean(rule.timezone, sorted(available_timezones()),
                                " (an IANA name such as Europe/Berlin or UTC)")
            problems.append(source.problem(where + ("timezone",), f"unknown time zone {rule.timezone!r}{more}"))
    if rule.cron is not None:
        message = schedule.cron_problem(rule.cron)
        if message:
            problems.append(source.problem(where + ("cron",), message))
        if rule.timezone is None:
            problems.append(source.problem(where + ("timezone",), "a cron rule needs a timezone (e.g. Europe/Berlin, "
                                                                   "or UTC): 10:00 is not the same hour everywhere"))
    if rule.at is not None:
        if rule.at.tzinfo is None and rule.timezone is None:
            problems.append(source.problem(where + ("at",), "give a time zone: an offset such as +01:00 or Z, "
                                                            "or a schedule.timezone"))
        for key in ("from_", "until"):
            if getattr(rule, key) is not None:
                shown = key.rstrip("_")
                problems.append(source.problem(where + (shown,), f"{shown} applies to a cron rule only"))
    for i, blackout in enumerate(rule.blackouts):
        naive = [k for k in ("from_", "until") if isinstance(getattr(blackout, k), datetime)
                 and getattr(blackout, k).tzinfo is None]
        if naive and rule.timezone is None:
            problems.append(source.problem(where + ("blackouts", i, naive[0].rstrip("_")),
                                           "give a time zone offset, or a schedule.timezone"))
    if problems:
        return problems
    resolved = schedule_rule(rule)
    for i, blackout in enumerate(resolved.blackouts):
        if blackout.end <= blackout.start:
            problems.append(source.problem(where + ("blackouts", i, "until"), "must be after from"))
    if resolved.not_before and resolved.until and resolved.until <= resolved.not_before:
        problems.append(source.problem(where + ("until",), "must be after from"))
    if resolved.at is not None:
        hit = next((b for b in resolved.blackouts if b.start <= resolved.at < b.end), None)
        if hit:
            problems.append(source.problem(where + ("at",), f"falls into the blackout {hit.start.isoformat()} – "
                                                            f"{hit.end.isoformat()}" + (f" ({hit.reason})" if hit.reason
                                                                                       else "")))
    return problems


def _system_services(plan: GameDaySpec, source: Source, variables: dict[str, str]):
    system = plan.system
    if system.targets is None:
        return None, []
    services: dict[str, spec.Service] = {}
    problems: list[Problem] = []
    base = Path(source.file).resolve().parent
    if system.targets.compose:
        compose = base / system.targets.compose
        if not compose.is_file():
            problems.append(source.problem(("system", "targets", "compose"),
                                           f"compose file {system.targets.compose} not found"))
        else:
            try:
                services.update(spec.load_compose(compose, variables))
            except SpecError as exc:
                problems += exc.problems
    services.update(system.targets.services)
    for name, selector in system.targets.attach.items():  # containers the user runs: adopted, never removed
        if name in services:
            problems.append(source.problem(("system", "targets", "attach", name),
                                           f"{name!r} is also a service the day starts"))
        services[name] = spec.Service(image=ATTACHED, attach=selector)
    if not services and not problems:
        problems.append(source.problem(("system", "targets"), "no services: give compose, services or attach"))
    return services, problems


def _load_step(i: int, step: StepSpec, source: Source, variables: dict[str, str]):
    where = ("steps", i, "experiment")
    path = Path(source.file).resolve().parent / step.experiment
    if not path.is_file():
        return None, [source.problem(where, f"experiment file {step.experiment} not found")]
    try:
        loaded = spec.load_experiment(path, variables)
    except SpecError as exc:
        return None, exc.problems + [source.problem(where, f"experiment {step.experiment} has "
                                                           f"{len(exc.problems)} problem(s), listed above")]
    return LoadedStep(i + 1, step, _with_overrides(loaded, step), variables), []


def _with_overrides(loaded: LoadedExperiment, step: StepSpec) -> LoadedExperiment:
    experiment = loaded.experiment
    changes: dict = {}
    if step.phases is not None:
        given = step.phases.model_dump(exclude_none=True)
        changes["phases"] = experiment.phases.model_copy(update=given)
    load_changes = {k: v for k, v in (("users", step.users), ("rate", step.rate)) if v is not None}
    if load_changes:
        changes["load"] = experiment.load.model_copy(update=load_changes)
    if not changes:
        return loaded
    result = LoadedExperiment(experiment.model_copy(update=changes), loaded.source, loaded.services,
                              loaded.compose_project)
    result.secret_values = loaded.secret_values
    return result


def _cross_check(plan: GameDaySpec, source: Source, services: dict[str, spec.Service] | None,
                 steps: list[LoadedStep]) -> list[Problem]:
    problems: list[Problem] = []
    titles = [step.title for step in steps]
    for step in steps:
        i = step.index - 1
        if titles.count(step.title) > 1:
            problems.append(source.problem(("steps", i, "name"), f"two steps are called {step.title!r}: give "
                                                                 "each a name"))
        if step.spec.rate is not None and step.loaded.experiment.load.model != "open":
            problems.append(source.problem(("steps", i, "rate"), "rate applies to the open load model only"))
        if services is None:
            continue
        for name, wanted in step.loaded.services.items():
            have = services.get(name)
            if have is None:
                more = did_you_mean(name, services, f" (it has: {', '.join(services)})")
                problems.append(source.problem(("steps", i, "experiment"), f"the experiment uses service {name!r}, "
                                                                           f"which the day's system has not{more}"))
            elif have.image != wanted.image and ATTACHED not in (have.image, wanted.image):
                problems.append(source.problem(("steps", i, "experiment"), (
                    f"the experiment expects {name} as {wanted.image}, the day's system runs {have.image} "
                    f"(set the same variables, e.g. in the plan's vars)")))
            elif have.clock != wanted.clock:
                problems.append(source.problem(("steps", i, "experiment"), (
                    f"the experiment needs {name} with clock: {wanted.clock}; the day's system starts it with "
                    f"clock: {have.clock}")))
    if services is not None:
        for i, link in enumerate(map(Link.parse, plan.system.links)):
            for which in {link.source, link.target} - {EDGE}:
                if which not in services:
                    problems.append(source.problem(("system", "links", i), f"{which!r} is not a service of the "
                                                                           "day's system"))
    if plan.notify.jsonl is not None and not Path(source.file).resolve().parent.joinpath(
            plan.notify.jsonl).parent.is_dir():
        problems.append(source.problem(("notify", "jsonl"), "its folder does not exist"))
    return problems
