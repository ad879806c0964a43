"""The experiment language: one strict typed model, loaded from YAML with source positions.

``load_experiment`` returns a :class:`LoadedExperiment` (the :class:`Experiment` with where it came
from) or raises :class:`SpecError` listing every problem as ``FILE:LINE:COLUMN: field.path: message``
in one pass.

``chaos.spec`` is the entry point: every name below is read from here. The modules, one section of
the language each:

- ``base``: the field types every section shares (durations, sizes, headers, names, phases, a link
  as written) and ``Strict``, the base model that refuses unknown keys;
- ``targets``: the services the harness starts or attaches to;
- ``load``: what Locust drives through the edge link;
- ``faults``: ``FaultSpec``, what every fault has (schedule, timeline updates, its own checks);
- ``link_faults``, ``container_faults``, ``service_faults``, ``http_faults``, ``dns_faults``: the fault families
  (Toxiproxy toxics and ``down``; container and resource faults; partitions and clock skew; HTTP links and http
  faults; a service's lookups);
- ``steady_state``: probes, hypotheses and abort rules;
- ``experiment``: the ``Experiment`` model and the union of fault types;
- ``checks``: the checks across sections once the services are known;
- ``loading``: YAML -> a validated, resolved, cross-checked experiment; compose services.
"""

from chaos.errors import SpecError  # what load_experiment raises, read from here by callers
from chaos.spec.base import (
    HEADER_NAME, NAME, PHASES, Bytes, Duration, Fraction, Headers, LinkText, Milliseconds, RateKBps, Strict,
    link_text,
)
from chaos.spec.targets import Attach, Build, DependsOn, Healthcheck, Service, Targets
from chaos.spec.load import Load, ScenarioRequest
from chaos.spec.faults import FaultSpec
from chaos.spec.link_faults import (
    RAMP_MIN_STEP, Bandwidth, Down, Latency, LatencyRamp, LimitData, LinkFault, RateRamp, ResetPeer, Slicer,
    SlowClose, Stream, Timeout, ramp_problems, ramp_update_count, ramp_updates,
)
from chaos.spec.container_faults import (
    CRASH_LOOP_MIN_EVERY, FREEZING_SIGNALS, LABEL, MEMORY_MIN_BYTES, ContainerFault, Cpu, CrashLoop, Kill, Memory,
    Pause, ResourceFault, Restart, Signal, Stop, TargetedFault, parse_signal,
)
from chaos.spec.http_faults import HTTP_DEFAULT_DURATION, PROTOCOLS, Http, HttpMatch, HttpRamp, LinkSpec, Rewrite
from chaos.spec.service_faults import (
    DRIFT_MAX_UPDATES, DRIFT_STEP, STROBE_MIN_PERIOD, ClockRate, ClockSkew, Groups, Partition, SignedDuration,
    Strobe, service_fault_problems,
)
from chaos.spec.dns_faults import Dns, dns_fault_problems
from chaos.spec.steady_state import (
    DEFAULT_ABORT, AbortRule, CommandProbe, ContainerProbe, HttpProbe, Hypothesis, Probe, ProbeSpec, PythonProbe,
    TcpProbe,
)
from chaos.spec.experiment import FAULT_MODELS, FAULT_TYPES, Experiment, Fault, Phases, Report
from chaos.spec.checks import (
    HARNESS_ROLES, HARNESS_ROLE_PREFIXES, MAX_TIMELINE_STEPS, candidate_services, cross_check, describe_field,
    service_labels,
)
from chaos.spec.loading import (
    LoadedExperiment, compose_files, compose_services, compose_warnings, load_compose, load_experiment, validate,
)

__all__ = [
    "AbortRule", "Attach", "Bandwidth", "Build", "Bytes", "CRASH_LOOP_MIN_EVERY", "ClockRate", "ClockSkew",
    "CommandProbe", "ContainerFault", "ContainerProbe", "Cpu", "CrashLoop", "DEFAULT_ABORT", "DRIFT_MAX_UPDATES",
    "DRIFT_STEP", "DependsOn", "Dns", "Down", "Duration", "Experiment", "FAULT_MODELS", "FAULT_TYPES", "FREEZING_SIGNALS",
    "Fault", "FaultSpec", "Fraction", "Groups", "HARNESS_ROLES", "HARNESS_ROLE_PREFIXES", "HEADER_NAME", "Headers",
    "HTTP_DEFAULT_DURATION", "Healthcheck", "Http", "HttpMatch", "HttpProbe", "HttpRamp", "LinkSpec", "PROTOCOLS",
    "Rewrite", "Hypothesis", "Kill", "LABEL", "Latency", "LatencyRamp", "LimitData", "LinkFault",
    "LinkText", "Load", "LoadedExperiment", "MAX_TIMELINE_STEPS", "MEMORY_MIN_BYTES", "Memory", "Milliseconds",
    "NAME", "PHASES", "Partition", "Pause", "Phases", "Probe", "ProbeSpec", "PythonProbe", "RAMP_MIN_STEP",
    "RateKBps", "RateRamp", "Report", "ResetPeer", "ResourceFault", "Restart", "STROBE_MIN_PERIOD",
    "ScenarioRequest", "Service", "Signal", "SignedDuration", "Slicer", "SlowClose", "SpecError", "Stop", "Stream",
    "Strict", "Strobe", "TargetedFault", "Targets", "TcpProbe", "Timeout", "candidate_services", "compose_files",
    "compose_services", "compose_warnings", "cross_check", "describe_field", "dns_fault_problems", "link_text", "load_compose",
    "load_experiment", "parse_signal", "ramp_problems", "ramp_update_count", "ramp_updates",
    "service_fault_problems", "service_labels", "validate",
]
