"""Checks across sections once an experiment is loaded: names exist, files exist, fault windows and
thresholds make sense, compose keys do not conflict, the timeline stays a size anyone can follow."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from chaos import metrics, service_config
from chaos.errors import Problem, did_you_mean
from chaos.links import EDGE, Link
from chaos.spec.container_faults import TargetedFault
from chaos.spec.dns_faults import dns_fault_problems
from chaos.spec.experiment import Experiment
from chaos.spec.faults import FaultSpec
from chaos.spec.service_faults import Partition, service_fault_problems
from chaos.spec.targets import Service
from chaos.yamlsource import Source, dotted

if TYPE_CHECKING:
    from chaos.spec.loading import LoadedExperiment


def cross_check(loaded: LoadedExperiment) -> list[Problem]:
    """Checks across sections: names exist, files exist, fault windows and thresholds make sense."""
    exp, source, services = loaded.experiment, loaded.source, loaded.services
    problems: list[Problem] = []

    def name_problem(path, name, what):
        more = did_you_mean(name, services, f" (services: {', '.join(services)})")
        problems.append(source.problem(path, f"{what} {name!r} is not a service of this experiment{more}"))

    problems += _system_problems(loaded)
    problems += _compose_problems(loaded)
    problems += _reserved_name_problems(loaded)
    links = exp.link_names()
    for i, link in enumerate(map(Link.parse, links)):
        if link.source in exp.targets.attach:
            problems.append(source.problem(("links", i), f"{link.source!r} is attached: the harness cannot re-point "
                                           "a running container's name lookups without changing it; route links "
                                           "from services the harness starts, or use the edge link"))
        if not link.is_edge and link.source not in services:
            name_problem(("links", i), link.source, "link source")
        if link.target not in services:
            name_problem(("links", i), link.target, "link target")
    pairs: dict[tuple[str, str], int] = {}
    for i, text in enumerate(links):
        if text in links[:i]:
            problems.append(source.problem(("links", i), f"the same link as links[{links.index(text)}]"))
            continue
        link = Link.parse(text)
        first = pairs.setdefault((link.source, link.target), i)
        if first != i and not link.is_edge:
            # The source finds the target's proxy through one /etc/hosts entry, which holds one address per name.
            problems.append(source.problem(("links", i), f"{links[first]!r} already routes {link.source!r} to "
                                           f"{link.target!r}: one link per source and target (a second port of "
                                           "the same target cannot be interposed yet)"))
    target_service = exp.load.target.split(":")[0]
    if target_service not in services:
        name_problem(("load", "target"), target_service, "load target")
    if exp.load.locustfile and not loaded.path(exp.load.locustfile).is_file():
        problems.append(source.problem(("load", "locustfile"), f"file {exp.load.locustfile} not found"))
    routed = set(links) | {str(Link.edge(exp.load.target))}
    fault_end = 0.0
    for i, fault in enumerate(exp.faults):
        problems += _link_fault_problems(fault, i, routed, exp.http_links(), source)
        for path, message in fault.problems():
            problems.append(source.problem(("faults", i) + path, message))
        fault_end = max(fault_end, fault.at + fault.duration)
    problems += _timeline_size_problems(exp.faults, source)
    problems += _targeted_fault_problems(exp.faults, services, source)
    problems += service_fault_problems(loaded)
    problems += dns_fault_problems(loaded)
    names = [f.display_name() for f in exp.faults if f.display_name()]
    for i, fault in enumerate(exp.faults):
        given = fault.display_name()
        if given and names.count(given) > 1:
            field = "title" if fault.family == "dns" else "name"
            problems.append(source.problem(("faults", i, field), f"fault name {given!r} is used twice"))
    probe_names = [probe.name for probe in exp.probes]
    for i, probe in enumerate(exp.probes):
        if probe_names.count(probe.name) > 1:
            problems.append(source.problem(("probes", i, "name"), f"probe name {probe.name!r} is used twice"))
        if getattr(probe, "service", None) is not None and probe.service not in services:
            name_problem(("probes", i, "service"), probe.service, "probe service")
        if probe.timeout > probe.every:
            problems.append(source.problem(("probes", i, "timeout"), "must not be longer than 'every'"))
        for field_name in ("body_regex", "output_regex"):
            pattern = getattr(probe, field_name, None)
            if pattern is not None:
                try:
                    re.compile(pattern)
                except re.error as exc:
                    problems.append(source.problem(("probes", i, field_name), f"invalid regular expression ({exc})"))
        if probe.type == "python" and ":" not in probe.call:
            problems.append(source.problem(("probes", i, "call"), "expected module:function"))
    for i, hypothesis in enumerate(exp.steady_state):
        if hypothesis.probe is not None:
            if hypothesis.probe not in probe_names:
                more = did_you_mean(hypothesis.probe, probe_names, f" (probes: {', '.join(probe_names) or 'none'})")
                problems.append(source.problem(("steady_state", i, "probe"), f"no probe named {hypothesis.probe!r}{more}"))
            if hypothesis.metric not in metrics.PROBE:
                problems.append(source.problem(("steady_state", i, "metric"),
                                               f"a probe gives {', '.join(metrics.PROBE)}"))
        for which in ("max", "min"):
            try:
                hypothesis.bound(which)
            except ValueError as exc:
                problems.append(source.problem(("steady_state", i, which), str(exc)))
        if "fault" in hypothesis.phases and not exp.faults:
            default = "" if "phases" in hypothesis.model_fields_set else \
                " (phases default to baseline, fault, recovery: give phases: [baseline, recovery])"
            problems.append(source.problem(("steady_state", i, "phases"), f"phase 'fault' needs at least one fault{default}"))
    for i, rule in enumerate(exp.abort):
        try:
            rule.threshold()
        except ValueError as exc:
            problems.append(source.problem(("abort", i, "max"), str(exc)))
    if exp.phases.baseline <= 0:
        problems.append(source.problem(("phases", "baseline"), "a baseline of 0s leaves nothing to compare against"))
    problems += _window_and_threshold_problems(exp, source)
    return problems


def _service_location(loaded: LoadedExperiment, service_name: str, *field: str) -> tuple:
    """Where a service is written: the experiment's targets.services, or its compose project."""
    project = loaded.compose_project
    if service_name in loaded.experiment.targets.services or project is None or service_name not in project.services:
        return loaded.source, ("targets", "services", service_name, *field)
    return project, ("services", service_name, *field)


# The harness names its own containers and volumes chaos-<run id>-<role> (chaos.system.System.container_name),
# as it names a target's: a service called like a role would be given the harness's container, or take it.
# Roles: the clock keeper and volume, each link's Toxiproxy, probe helpers, a service's DNS server ("load" is
# refused as the edge).
HARNESS_ROLES = ("clock", "probe")
HARNESS_ROLE_PREFIXES = ("link-", "probe-", "dns-")


def _reserved_name_problems(loaded: LoadedExperiment) -> list[Problem]:
    problems = []
    for name, service in loaded.services.items():
        if service.attach or not (name in HARNESS_ROLES or name.startswith(HARNESS_ROLE_PREFIXES)):
            continue
        file, path = _service_location(loaded, name)
        problems.append(file.problem(path, f"service name {name!r} is one the harness gives its own containers "
                                           f"(chaos-<run>-{name}): rename the service"))
    return problems


def _link_fault_problems(fault: FaultSpec, i: int, routed: set[str], http: set[str], source: Source) -> list[Problem]:
    """A link fault needs its link routed, and the right kind of proxy in it: Toxiproxy's toxics on a TCP link,
    http faults on an HTTP link (mitmproxy)."""
    if fault.family not in ("link", "http"):
        return []
    path = ("faults", i, "link")
    if fault.family == "http" and fault.link not in http:
        how = "listed as a TCP link" if fault.link in routed else "not in 'links'"
        return [source.problem(path, f"link {fault.link!r} does not carry HTTP ({how}): write it in 'links' as "
                                     f"{{link: {fault.link}, protocol: http}}")]
    if fault.family == "http":
        return []
    if fault.link not in routed:
        return [source.problem(path, f"link {fault.link!r} is not routed through Toxiproxy (add it to 'links')")]
    if fault.link in http:
        return [source.problem(path, f"link {fault.link!r} carries HTTP (its proxy is mitmproxy, not Toxiproxy): "
                                     f"its faults are type: http (e.g. delay: 300ms for latency)")]
    return []


def _system_problems(loaded: LoadedExperiment) -> list[Problem]:
    """Dependencies that name no service or go round in a cycle; links and the load target that
    cannot be routed (ports out of range, a service linked to itself, an edge link to a service the
    load does not drive). Compose services are pointed at in the compose file."""
    exp, source, services = loaded.experiment, loaded.source, loaded.services
    problems: list[Problem] = []

    def where(service_name: str, *field: str) -> tuple:
        return _service_location(loaded, service_name, *field)

    for service_name, service in services.items():
        for dependency in service.dependencies():
            if dependency not in services:
                file, path = where(service_name, "depends_on")
                more = did_you_mean(dependency, services, f" (services: {', '.join(services)})")
                problems.append(file.problem(path, f"dependency {dependency!r} is not a service "
                                                   f"of this experiment{more}"))
    cycle = _dependency_cycle({name: [d for d in s.dependencies() if d in services] for name, s in services.items()})
    if cycle:
        file, path = where(cycle[0], "depends_on")
        problems.append(file.problem(path, f"dependency cycle: {' -> '.join(cycle)} (no start order exists)"))
    if EDGE in services:
        file, path = where(EDGE)
        problems.append(file.problem(path, f"a service cannot be named {EDGE!r}: links from {EDGE!r} "
                                           "are the load generator's"))
    edge = Link.edge(exp.load.target)
    for i, link in enumerate(map(Link.parse, exp.link_names())):
        if not 1 <= link.port <= 65535:
            problems.append(source.problem(("links", i), f"port {link.port} is out of range (1..65535)"))
        if link.source == link.target:
            problems.append(source.problem(("links", i), "a link goes from one service to another, not to itself"))
        if link.is_edge and link != edge:
            problems.append(source.problem(("links", i), f"the load drives {exp.load.target} (load.target): "
                                                         f"its edge link is '{edge}'"))
    if not 1 <= int(exp.load.target.rsplit(":", 1)[1]) <= 65535:
        problems.append(source.problem(("load", "target"), "port is out of range (1..65535)"))
    return problems


def _compose_problems(loaded: LoadedExperiment) -> list[Problem]:
    """Compose keys that conflict with what the experiment asks of a service: a service outside the
    experiment's networks (network_mode) cannot be on a link or in a partition; a partition cuts
    one container per service; a service scaled to 0 has no container to reach."""
    project, exp = loaded.compose_project, loaded.experiment
    if project is None:
        return []
    needs_network: dict[str, str] = {}
    for link in map(Link.parse, [*exp.link_names(), str(Link.edge(exp.load.target))]):
        for name in (link.source, link.target):
            needs_network.setdefault(name, f"the link {link}")
    partitioned = {name: f"faults[{i}] (partition)" for i, fault in enumerate(exp.faults)
                   if isinstance(fault, Partition) for _, name in fault.services()}
    for name, why in partitioned.items():
        needs_network.setdefault(name, why)
    problems = []
    for name, service in loaded.services.items():
        canonical = service.compose
        if canonical is None:
            continue
        mode = canonical.get("network_mode")
        if mode and name in needs_network:
            problems.append(project.problem(("services", name, "network_mode"), (
                f"network_mode: {mode} takes {name!r} off the experiment's networks, but {needs_network[name]} "
                "needs it there: remove network_mode from this service (an override file is enough), or drop "
                "the link or fault")))
        runtime = service_config.runtime(canonical)
        if runtime["replicas"] > 1 and name in partitioned:
            problems.append(project.problem(("services", name, "deploy", "replicas"), (
                f"{name!r} runs {runtime['replicas']} replicas and {partitioned[name]} cuts it off: partitions "
                "apply to one container per service; use one replica in the experiment (an override file)")))
        if runtime["replicas"] == 0 and name in needs_network:
            problems.append(project.problem(("services", name, "deploy", "replicas"), (
                f"{name!r} is scaled to 0 replicas, but {needs_network[name]} needs it running")))
        for key, reason in service_config.UNSUPPORTED.items():
            if canonical.get(key):
                problems.append(project.problem(("services", name, key), f"not supported: {reason}"))
        for kind in ("secrets", "configs"):
            defined = getattr(project, kind)
            for reference in canonical.get(kind) or []:
                if (defined.get(reference["source"]) or {}).get("external"):
                    problems.append(project.problem((kind, reference["source"], "external"), (
                        f"{name!r} uses the external {kind[:-1]} {reference['source']!r}: external ones are Swarm "
                        "objects the harness cannot read; give it a file, environment or content")))
    return problems


def _dependency_cycle(graph: dict[str, list[str]]) -> list[str]:
    """One dependency cycle as [a, b, a], or [] (a service depending on itself is [a, a])."""
    state: dict[str, str] = {}

    def visit(name: str, trail: list[str]) -> list[str]:
        state[name] = "open"
        trail = trail + [name]
        for dependency in graph.get(name, []):
            if state.get(dependency) == "open":
                return trail[trail.index(dependency):] + [dependency]
            if dependency not in state:
                found = visit(dependency, trail)
                if found:
                    return found
        state[name] = "done"
        return []

    for name in graph:
        if name not in state:
            found = visit(name, [])
            if found:
                return found
    return []


def _window_and_threshold_problems(exp: Experiment, source: Source) -> list[Problem]:
    """A link cannot be down twice at once (the first revert would bring it up); a bound pair must
    leave room (min above max holds for no value); an abort rule needs a window to look at."""
    problems: list[Problem] = []
    downs = [(i, f) for i, f in enumerate(exp.faults) if getattr(f, "type", None) == "down"]
    for n, (i, fault) in enumerate(downs):
        for j, other in downs[:n]:
            if fault.link == other.link and _windows_overlap(fault, other):
                problems.append(source.problem(("faults", i, "at"), f"overlaps fault #{j + 1} (down on the same "
                                                                    "link): the first revert would bring it up"))
    for i, hypothesis in enumerate(exp.steady_state):
        try:
            low, high = hypothesis.bound("min"), hypothesis.bound("max")
        except ValueError:
            continue  # reported by cross_check
        if low is not None and high is not None and low > high:
            problems.append(source.problem(("steady_state", i, "min"), "is above max: no value could hold"))
    for i, rule in enumerate(exp.abort):
        if rule.for_ <= 0:
            problems.append(source.problem(("abort", i, "for"), "must be longer than 0s (the window the rule "
                                                                "looks at)"))
    return problems


def candidate_services(fault: TargetedFault, services: dict[str, Service]) -> list[str]:
    """The services a container or resource fault may hit, before `pick` draws among them."""
    chosen = fault.selection()
    if chosen["services"]:
        return [name for name in chosen["services"] if name in services]
    key, _, value = (fault.label or "").partition("=")
    return [name for name, service in services.items() if service_labels(name, service).get(key) == value]


def service_labels(name: str, service: Service) -> dict[str, str]:
    """The labels its container will carry that a fault may select on (chaos.service is set by the harness)."""
    labels = service.labels if isinstance(service.labels, dict) else dict(
        item.split("=", 1) if "=" in item else (item, "") for item in service.labels)
    return {**labels, "chaos.service": name}


MAX_TIMELINE_STEPS = 20_000  # inject, revert and in-place updates: 5.5 hours of one-second ramp steps


def _timeline_size_problems(faults: list, source: Source) -> list[Problem]:
    """A plan with more steps than anyone can follow (a 0.1s ramp over days, repeated) is refused here, from the
    fields alone, before a step is built: building them would exhaust memory first."""
    counts = [fault.step_count() for fault in faults]
    total = sum(counts)
    if total <= MAX_TIMELINE_STEPS:
        return []
    largest = counts.index(max(counts))
    fault = faults[largest]
    path = ("faults", largest) + (("ramp", "step") if getattr(fault, "ramp", None) else
                                  ("every",) if hasattr(fault, "every") else ("times",) if fault.times else ())
    return [source.problem(path, f"the timeline would have {total:,} steps (at most {MAX_TIMELINE_STEPS:,}; this "
                                 f"fault makes {counts[largest]:,}): make the step longer, the fault shorter or "
                                 "times smaller")]


def _targeted_fault_problems(faults: list, services: dict[str, Service], source: Source) -> list[Problem]:
    """Unknown services, labels that match nothing, and two faults holding one container at once."""
    problems: list[Problem] = []
    targeted = [(i, fault) for i, fault in enumerate(faults) if isinstance(fault, TargetedFault)]
    for i, fault in targeted:
        names = [("service", fault.service)] if fault.service else \
            [(("services", j), name) for j, name in enumerate(fault.services or [])]
        for where, name in names:
            if name not in services:
                more = did_you_mean(name, services, f" (services: {', '.join(services)})")
                path = ("faults", i) + (where if isinstance(where, tuple) else (where,))
                problems.append(source.problem(path, f"{name!r} is not a service of this experiment{more}"))
        if fault.label and not candidate_services(fault, services):
            problems.append(source.problem(("faults", i, "label"),
                                           f"no service of this experiment has the label {fault.label}"))
    for n, (i, fault) in enumerate(targeted):
        for j, other in targeted[:n]:
            same_state = fault.family == other.family == "container" or (
                fault.family == other.family == "resources" and fault.type == other.type)
            shared = set(candidate_services(fault, services)) & set(candidate_services(other, services))
            if same_state and shared and _windows_overlap(fault, other):
                problems.append(source.problem(("faults", i), (
                    f"overlaps faults[{j}] ({other.type}) on {', '.join(sorted(shared))}: two {fault.family} "
                    "faults holding one container at once could not both be reverted exactly")))
    return problems


def _windows_overlap(a: FaultSpec, b: FaultSpec) -> bool:
    return any(sa < sb + b.duration and sb < sa + a.duration for sa in a.occurrences() for sb in b.occurrences())


def describe_field(path: tuple) -> str:
    return dotted(path)
