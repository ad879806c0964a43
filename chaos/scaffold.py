"""`chaos init COMPOSE_FILE`: a commented starter experiment for a compose file, which validates
as written. Pure: reads the compose file, returns text; the CLI writes it.

What it guesses, and says so in comments: a link per ``depends_on`` edge (the port from the
dependency's published ports, or from its image name for well-known servers), the edge link to
the entry service (one that publishes a port and that no other service depends on), open-model
load (a steady rate, so a stall shows), a latency fault on the first link, two hypotheses (fast
and correct) and the default abort rules.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from chaos import spec
from chaos.links import EDGE, Link
from chaos.spec import Service

# Ports of servers people run next to their services, guessed from the image name.
WELL_KNOWN_PORTS = {
    "redis": 6379, "valkey": 6379, "postgres": 5432, "mysql": 3306, "mariadb": 3306, "mongo": 27017,
    "memcached": 11211, "rabbitmq": 5672, "kafka": 9092, "elasticsearch": 9200, "opensearch": 9200,
    "nats": 4222, "etcd": 2379, "consul": 8500, "zookeeper": 2181, "minio": 9000, "clickhouse": 9000,
    "cassandra": 9042, "nginx": 80, "httpd": 80, "envoy": 10000,
}


@dataclass(frozen=True)
class DependencyLink:
    """A depends_on edge to offer as a link: its port may be unknown (None) or guessed."""
    source: str
    target: str
    port: int | None
    guessed: bool = False  # the port came from the image name, not from the compose file

    @property
    def text(self) -> str:
        return str(Link(self.source, self.target, self.port))


OVERRIDE_NAMES = ("compose.override.yaml", "compose.override.yml", "docker-compose.override.yaml",
                  "docker-compose.override.yml")


def compose_files_for(given: list[Path | str]) -> list[Path]:
    """The files to read, in order: those given, plus the override file beside a lone one, as `docker
    compose` without -f reads it."""
    files = [Path(f) for f in given]
    if len(files) == 1:
        override = next((files[0].parent / n for n in OVERRIDE_NAMES if (files[0].parent / n).is_file()), None)
        if override is not None and override.resolve() != files[0].resolve():
            files.append(override)
    return files


def starter_experiment(compose_file: Path | str | list, output: Path | str,
                       variables: dict[str, str] | None = None, profiles: tuple[str, ...] = ()) -> str:
    """The text of a starter experiment for the compose file(s), to be written at ``output``.
    Raises SpecError when the compose files cannot be read as the harness reads them."""
    files = compose_files_for(compose_file if isinstance(compose_file, list) else [compose_file])
    compose_file, output = files[0], Path(output)
    services = {name: service for name, service in spec.load_compose(files, variables, profiles).items()
                if _reachable(service)}
    links = dependency_links(services)
    entry, entry_port, entry_guessed = entry_point(services)
    shared = {link.target: sum(other.target == link.target for other in links) for link in links}
    # the entry's own dependencies first, the one most services share first among them: its slowness hurts most
    routed = sorted((link for link in links if link.port is not None),
                    key=lambda link: (link.source != entry, -shared[link.target]))
    return _render(
        name=experiment_name(compose_file),
        compose=[os.path.relpath(f.resolve(), output.resolve().parent) for f in files], profiles=list(profiles),
        locustfile=_locustfile_next_to(compose_file, output),
        services=services, links=links, entry=entry, entry_port=entry_port, entry_guessed=entry_guessed,
        fault_link=routed[0].text if routed else str(Link(EDGE, entry, entry_port)),
    )


def validated_starter(compose_file: Path | str | list, output: Path | str, variables: dict[str, str] | None = None,
                      profiles: tuple[str, ...] = ()) -> str:
    """:func:`starter_experiment`, checked as if it were already written at ``output``."""
    text = starter_experiment(compose_file, output, variables, profiles)
    spec.load_experiment(output, variables, text=text)  # raises SpecError: a bug here, never the user's
    return text


def experiment_name(compose_file: Path) -> str:
    """From the compose file's `name:` or its folder, in the characters an experiment name allows."""
    try:
        data = yaml.safe_load(compose_file.read_text(encoding="utf-8"))
        declared = data.get("name") if isinstance(data, dict) else None
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        declared = None
    base = str(declared) if isinstance(declared, str) and "${" not in declared else compose_file.resolve().parent.name
    text = re.sub(r"[^a-z0-9_.-]+", "-", base.lower()).strip("-._") or "system"
    return f"{text[:50]}-latency"


def _reachable(service: Service) -> bool:
    """On the experiment's networks with at least one container: a link or the load can reach it."""
    canonical = service.compose or {}
    replicas = ((canonical.get("deploy") or {}).get("replicas"))
    return not canonical.get("network_mode") and replicas != 0


def port_of(service: Service) -> tuple[int | None, bool]:
    """(port, guessed): the first published port, else a well-known port from the image name."""
    ports = service.container_ports()
    if ports:
        return ports[0], False
    image = service.image.rsplit("/", 1)[-1].split(":")[0].lower()
    for word, port in WELL_KNOWN_PORTS.items():
        if word in image:
            return port, True
    return None, False


def dependency_links(services: dict[str, Service]) -> list[DependencyLink]:
    links = []
    for name, service in services.items():
        for dependency, condition in service.dependencies().items():
            # a one-shot job (a migration) has finished before the load starts: nothing to slow down
            if dependency in services and dependency != name and condition != "service_completed_successfully":
                port, guessed = port_of(services[dependency])
                links.append(DependencyLink(name, dependency, port, guessed))
    return links


def entry_point(services: dict[str, Service]) -> tuple[str, int, bool]:
    """(service, port, guessed) the load drives: a service with a published port that nothing
    depends on, else the first with a published port, else the first service."""
    depended_on = {d for s in services.values() for d in s.dependencies()}
    published = [name for name, s in services.items() if s.container_ports()]
    entry = next((name for name in published if name not in depended_on), published[0] if published else None)
    if entry is None:
        entry = next(iter(services))
        port, guessed = port_of(services[entry])
        return entry, port or 8080, True
    return entry, services[entry].container_ports()[0], False


def _locustfile_next_to(compose_file: Path, output: Path) -> str | None:
    candidate = compose_file.resolve().parent / "locustfile.py"
    return os.path.relpath(candidate, output.resolve().parent) if candidate.is_file() else None


def _scalar(text: str) -> str:
    """``text`` as a YAML scalar that reads back as the same text."""
    plain = text.strip() == text and "#" not in text and ": " not in text
    try:
        if plain and yaml.safe_load(text) == text:
            return text
    except yaml.YAMLError:
        pass
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _render(*, name, compose, profiles, locustfile, services, links, entry, entry_port, entry_guessed, fault_link) -> str:
    out = [
        f"# A starter experiment for {', '.join(compose)} (written by `chaos init`).",
        "# Check it:  chaos validate THIS_FILE      Run it:  chaos run THIS_FILE   (--dry-run prints the timeline)",
        "# Reference: docs/experiment-reference.md  (every key, with an example)",
    ]
    unhealthy = [n for n, s in services.items() if s.healthcheck is None]
    if unhealthy:
        out.append(f"# No healthcheck on: {', '.join(unhealthy)}. The harness waits for healthchecks before the load "
                   "starts; add them to the compose file.")
    listed = _scalar(compose[0]) if len(compose) == 1 else "[" + ", ".join(_scalar(c) for c in compose) + "]"
    out += [f"name: {_scalar(name)}",
            "description: 300 ms of latency on one dependency; the entry service must stay fast and correct.",
            "",
            "targets:",
            f"  compose: {listed}" + ("   # read in this order, as docker compose -f ... -f ..." if len(compose) > 1
                                     else ""),
            *([f"  profiles: [{', '.join(_scalar(p) for p in profiles)}]"] if profiles else []),
            "",
            "# Links run through Toxiproxy: one per depends_on edge. Faults can only hit listed links.",
            "# Only the 'from' service's path changes; the other services reach the target directly."]
    routed = [link for link in links if link.port is not None]
    if routed:
        out.append("links:")
        for link in links:
            if link.port is None:
                out.append(f"  # - {link.source} -> {link.target}:PORT   # {link.target} publishes no port and its "
                           "image says none: write the port it listens on")
            else:
                note = "   # port guessed from the image name" if link.guessed else ""
                out.append(f"  - {_scalar(link.text)}{note}")
    else:
        out.append("links: []   # no depends_on edge with a known port: add 'from -> to:port' lines")
        for link in links:
            out.append(f"  # - {link.source} -> {link.target}:PORT")
    out += ["",
            "load:"]
    if locustfile:
        out.append(f"  locustfile: {_scalar(locustfile)}")
    else:
        out += ["  scenario:                       # the requests to send; or give a locustfile: instead",
                "    - path: /",
                "      expect: [200]"]
    note = "   # port guessed: set the port the load should drive" if entry_guessed else ""
    out += [f"  target: {_scalar(f'{entry}:{entry_port}')}{note}",
            "  # open: a steady rate whatever happens; closed (model: closed, users: N) sends less when the system "
            "slows, hiding stalls",
            "  model: open",
            "  rate: 20                        # requests per second: about what the service sees in production",
            "  max_in_flight: 400              # arrivals beyond this many unanswered are failures, never skipped",
            "  timeout: 10s                    # a request unanswered this long counts as failed",
            "",
            "phases: {warmup: 5s, baseline: 20s, recovery: 20s}",
            "",
            "faults:",
            "  - type: latency                 # also bandwidth, timeout, reset_peer, down, kill, pause, partition...",
            f"    link: {_scalar(fault_link)}",
            "    latency: 300ms",
            "    jitter: 20ms",
            "    at: 0s                         # from the start of the fault phase",
            "    duration: 20s",
            "",
            "steady_state:",
            "  - name: answers fast",
            "    metric: latency.p99",
            "    max: 500ms",
            "    phases: [baseline, fault, recovery]",
            "  - name: answers correctly",
            "    metric: error_rate",
            "    max: 1%",
            "    phases: [baseline, fault, recovery]",
            "",
            "# Safety rules (these are the defaults): a broken rule reverts every fault and ends the run.",
            "abort:"]
    for rule in spec.DEFAULT_ABORT:
        out.append(f"  - {{metric: {rule['metric']}, max: {rule['max']}, for: {rule['for']}}}")
    return "\n".join(out) + "\n"
