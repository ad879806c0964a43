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
from chaos.spec.loading import LoadedExperiment, compose_files, compose_services, compose_warnings, load_compose, load_experiment, validate  # noqa: F401



# ---- targets -----------------------------------------------------------------------------




# ---- load --------------------------------------------------------------------------------




# ---- phases, faults, hypotheses, abort rules -----------------------------------------------









# ---- container and resource faults: which of this run's targets they hit --------------------



# ---- partitions and clock skew (faults on services, not on links) ---------------------------














# ---- loading -----------------------------------------------------------------------------




