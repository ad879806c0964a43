"""Describing a system for tests: which targets to start (a compose file or an experiment file), which
links to route through Toxiproxy (``dependencies`` expanded to every depends_on edge), the edge link
and load defaults; resolved against the files (pure: Docker is asked only for an image's ports)."""

from __future__ import annotations

import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

from chaos import compose, spec
from chaos.links import Link, canonical
from chaos.plan import make_plan
from chaos.testkit.usage import UsageProblem


DEPENDENCIES = "dependencies"
SCOPES = ("session", "module")


@dataclass(frozen=True)
class SystemSpec:
    """Which targets to start, which links to route through Toxiproxy, and load defaults.

    Build one with ``SystemSpec.from_compose(...)`` or ``SystemSpec.from_experiment(...)``; relative
    paths are taken from the current directory at that moment (pass ``base=`` to change that).
    Equal specs share one running system."""

    compose: str | None = None
    experiment: str | None = None
    links: tuple[str, ...] = (DEPENDENCIES,)
    edge: str | None = None
    variables: tuple[tuple[str, str], ...] = ()
    locustfile: str | None = None
    user_classes: tuple[str, ...] = ()
    name: str | None = None
    scope: str | None = None
    dns: tuple[str, ...] = ()  # services started resolving through a DNS server of the run (chaos.dns faults)

    @classmethod
    def from_compose(cls, compose: str | Path, *, links=(DEPENDENCIES,), edge: str | None = None,
                     variables: dict[str, str] | None = None, locustfile: str | Path | None = None,
                     user_classes=(), name: str | None = None, scope: str | None = None,
                     base: str | Path | None = None, dns=()) -> "SystemSpec":
        """Targets from a compose file. ``links``: ``"from -> to:port"`` strings and/or ``"dependencies"``
        (every depends_on edge); ``edge``: the ``service:port`` that load drives (default: the one
        service nobody depends on, when it has a single port); ``dns``: services whose lookups
        ``chaos.dns(...)`` may fault (each gets a DNS server of the run before it starts)."""
        root = Path(base) if base else Path.cwd()
        links = (links,) if isinstance(links, str) else tuple(links)
        return cls(compose=str((root / compose).resolve()), links=links, edge=edge,
                   variables=tuple(sorted((variables or {}).items())),
                   locustfile=str((root / locustfile).resolve()) if locustfile else None,
                   user_classes=tuple(user_classes), name=name, scope=_scope(scope), dns=_names(dns))

    @classmethod
    def from_experiment(cls, experiment: str | Path, *, links=(), variables: dict[str, str] | None = None,
                        name: str | None = None, scope: str | None = None,
                        base: str | Path | None = None, dns=()) -> "SystemSpec":
        """Targets, links, edge and load (locustfile, users) of an experiment file; its faults,
        phases and hypotheses are not used. ``links`` adds links to the experiment's own."""
        root = Path(base) if base else Path.cwd()
        links = (links,) if isinstance(links, str) else tuple(links)
        return cls(experiment=str((root / experiment).resolve()), links=links,
                   variables=tuple(sorted((variables or {}).items())), name=name, scope=_scope(scope),
                   dns=_names(dns))

    def resolve(self, exposed_ports=lambda image: []) -> "ResolvedSystem":
        """Read the files and fix the links. ``exposed_ports(image)`` lists ports an image exposes
        (Docker knows; tests pass a stub). Raises SpecError or UsageProblem."""
        variables = dict(self.variables)
        load: dict = {}
        if self.experiment:
            loaded = spec.load_experiment(self.experiment, variables)
            services, experiment, project = loaded.services, loaded.experiment, loaded.compose_project
            explicit, edge = experiment.link_names(), self.edge or experiment.load.target
            http = set(experiment.http_links())
            load = asdict(make_plan(loaded).load)
            name = self.name or experiment.name
        elif self.compose:
            env = {**os.environ, **variables}
            project = compose.read_project([self.compose], env)
            services = spec.compose_services(project)
            explicit, edge = [], self.edge
            name = self.name or Path(self.compose).parent.name
            if self.locustfile:
                load = {"locustfile": self.locustfile, "user_classes": list(self.user_classes)}
        else:
            raise UsageProblem("a SystemSpec needs a compose file or an experiment file")
        # An entry "http: api -> inventory:8081" is an HTTP link (mitmproxy in it, http faults on it).
        http = (http if self.experiment else set()) | {canonical(e.removeprefix(HTTP_PREFIX)) for e in self.links
                                                       if e.startswith(HTTP_PREFIX)}
        entries = [e.removeprefix(HTTP_PREFIX) for e in self.links]
        links = explicit + [link for entry in entries for link in _expand(entry, services, exposed_ports)]
        edge = edge or _inferred_edge(services, exposed_ports)
        if edge:
            links.append(str(Link.edge(edge)))
        links = list(dict.fromkeys(canonical(link) for link in links))
        _check_links(links, services)
        unknown = [service for service in self.dns if service not in services]
        if unknown:
            raise UsageProblem(f"dns: {', '.join(map(repr, unknown))} not a service of the system "
                               f"(services: {', '.join(services)})")
        return ResolvedSystem(_label_safe(name), services, links, edge, load, project, frozenset(http),
                              list(self.dns))


HTTP_PREFIX = "http: "  # SystemSpec(links=["http: api -> inventory:8081"]): an HTTP link


@dataclass
class ResolvedSystem:
    name: str
    services: dict[str, spec.Service]
    links: list[str]
    edge: str | None
    load: dict  # defaults for chaos.load(): locustfile, user_classes, users, ...
    project: object = None  # chaos.compose.Project: its volumes, networks, secrets and configs
    http_links: frozenset = frozenset()  # links that carry HTTP: mitmproxy in them, http faults on them
    dns: list[str] = field(default_factory=list)  # services resolving through a DNS server of the run


def _names(names) -> tuple[str, ...]:
    return (names,) if isinstance(names, str) else tuple(names)


def _scope(scope: str | None) -> str | None:
    if scope is not None and scope not in SCOPES:
        raise UsageProblem(f"scope {scope!r}: use one of {', '.join(SCOPES)}")
    return scope


def _ports(service: spec.Service, exposed_ports) -> list[int]:
    return list(dict.fromkeys(service.container_ports() + list(exposed_ports(service.image))))


def _expand(entry: str, services: dict[str, spec.Service], exposed_ports) -> list[str]:
    if entry != DEPENDENCIES:
        try:
            Link.parse(entry)
        except ValueError:
            raise UsageProblem(f"link {entry!r} is not 'from -> to:port' (e.g. 'api -> redis:6379') "
                               f"nor {DEPENDENCIES!r}") from None
        return [entry]
    links = []
    for name, service in services.items():
        for dependency in service.dependencies():
            ports = _ports(services[dependency], exposed_ports)
            links += [str(Link(name, dependency, port)) for port in ports]
    return links


def _inferred_edge(services: dict[str, spec.Service], exposed_ports) -> str | None:
    """The one service that nothing depends on, if it has exactly one port: what clients talk to."""
    depended = {d for s in services.values() for d in s.dependencies()}
    tops = [name for name in services if name not in depended]
    if len(tops) == 1:
        ports = _ports(services[tops[0]], exposed_ports)
        if len(ports) == 1:
            return f"{tops[0]}:{ports[0]}"
    return None


def _check_links(links: list[str], services: dict[str, spec.Service]) -> None:
    problems = []
    for text in links:
        link = Link.parse(text)
        if not link.is_edge and link.source not in services:
            problems.append(f"link {text!r}: {link.source!r} is not a service (services: {', '.join(services)})")
        if link.target not in services:
            problems.append(f"link {text!r}: {link.target!r} is not a service (services: {', '.join(services)})")
    if problems:
        raise UsageProblem("; ".join(problems))


def _label_safe(name: str) -> str:
    return re.sub(r"[^a-z0-9_.-]+", "-", name.lower()).strip("-.")[:60] or "system"
