"""The experiment format described for people and editors: a JSON Schema (`chaos schema`) and
the words the reference page uses, both derived from the pydantic models in ``chaos.spec``.

A field's description is its own ``Field(description=...)`` when it has one, else the entry in
:data:`DESCRIPTIONS` of the class that declares it (so a new fault type inherits the words for
``at``, ``duration``, ``link``...). Unit fields (durations, sizes, rates, fractions) are described
by the parser that reads them, with the pattern an editor can check as you type.
"""

from __future__ import annotations

import copy
import types
import typing

from pydantic import BaseModel
from pydantic.json_schema import GenerateJsonSchema

from chaos import links, spec, units
from chaos.spec_errors import Shape, field_annotation, shape_of

SCHEMA_ID = "https://chaos.invalid/schemas/experiment.json"  # a name, not a place: nothing is fetched

# ---- units: how each parser's values are written ---------------------------------------------

_NUMBER = r"\d+(\.\d+)?"
_DURATION_UNIT = r"(us|µs|ms|s|m|h)"


def _either(pattern: str, number: dict, examples: list, description: str) -> dict:
    return {"anyOf": [{"type": "string", "pattern": pattern}, number], "examples": examples,
            "description": description}


UNIT_KINDS: dict[str, dict] = {
    "duration": _either(rf"^\s*{_NUMBER}\s*{_DURATION_UNIT}?\s*$", {"type": "number", "minimum": 0},
                        ["250ms", "30s", "2m", "1h"],
                        "a duration: a number with us, ms, s, m or h; a bare number is seconds"),
    "milliseconds": _either(rf"^\s*{_NUMBER}\s*{_DURATION_UNIT}?\s*$", {"type": "number", "minimum": 0},
                            ["300ms", "1.5s", 300],
                            "a duration: a number with us, ms, s, m or h; a bare number is milliseconds"),
    "signed duration": _either(rf"^\s*[+-]?{_NUMBER}\s*{_DURATION_UNIT}?\s*$", {"type": "number"},
                               ["+30s", "-5s", "-250ms"], "a duration that may be negative: +30s, -250ms"),
    "fraction": _either(rf"^\s*({_NUMBER}\s*%|0(\.\d+)?|1(\.0+)?)\s*$", {"type": "number", "minimum": 0, "maximum": 1},
                        ["5%", "0.05", "100%"], "a share: a percentage (5%) or a number from 0 to 1"),
    "rate": _either(rf"^\s*{_NUMBER}\s*([kKmMgG]?[bB])/s\s*$", {"type": "number", "minimum": 0},
                    ["512KB/s", "2MB/s"], "a transfer rate: B/s, KB/s, MB/s or GB/s; a bare number is KB/s"),
    "size": _either(rf"^\s*{_NUMBER}\s*([kKmMgG]?[bB])?\s*$", {"type": "integer", "minimum": 0},
                    ["512", "64KB", "1MB"], "a size in bytes: a number with B, KB, MB or GB (1KB = 1024 bytes)"),
    "clock rate": _either(r"^\s*([+-]?\d+(\.\d+)?\s*ppm|\d+(\.\d+)?)\s*$", {"type": "number", "exclusiveMinimum": 0},
                          [1.05, 0.99, "200ppm"], "how fast a clock runs against real time: 1.05, 0.99 or 200ppm"),
    "signal": _either(r"^\s*(SIG)?[A-Za-z0-9+]+\s*$", {"type": "integer", "minimum": 1},
                      ["SIGKILL", "SIGTERM", "term", 15], "a signal by name (SIGKILL, term) or number (9)"),
}

# Which parser reads which kind; a parser not listed here keeps its own schema (and accepts text).
PARSERS: dict[object, str] = {
    units.parse_duration: "duration",
    units.parse_milliseconds: "milliseconds",
    units.parse_fraction: "fraction",
    units.parse_rate_kbps: "rate",
    units.parse_size_bytes: "size",
}
for _name, _kind in (("parse_signed_duration", "signed duration"), ("parse_clock_rate", "clock rate")):
    if hasattr(units, _name):
        PARSERS[getattr(units, _name)] = _kind
if hasattr(spec, "parse_signal"):
    PARSERS[spec.parse_signal] = "signal"


def unit_kind(annotation, metadata=()) -> str | None:
    """'duration', 'fraction', ... when a field is read by a unit parser, else None."""
    found = list(metadata)
    if typing.get_origin(annotation) is typing.Annotated:
        found += typing.get_args(annotation)[1:]
    elif typing.get_origin(annotation) in (typing.Union, types.UnionType):  # Duration | None
        return next((k for k in map(unit_kind, typing.get_args(annotation)) if k), None)
    for meta in found:
        kind = PARSERS.get(getattr(meta, "func", None))
        if kind:
            return kind
    return None


# ---- descriptions ----------------------------------------------------------------------------

MODEL_DESCRIPTIONS = {
    "Experiment": "One experiment: the system to start, the load to drive, the faults to inject and when, "
                  "and what healthy means.",
    "Targets": "The services the harness starts for this run (and the containers it adopts).",
    "Service": "One service, in the compose file's own words (the subset the harness understands).",
    "Build": "How to build the image when it is not present locally.",
    "DependsOn": "A dependency in compose's long form.",
    "Healthcheck": "How the harness knows a service is ready; it waits for every service that has one.",
    "Load": "The load Locust drives through the edge link, from a locustfile or a YAML scenario.",
    "Phases": "Lengths of the phases around the fault phase (which lasts as long as the faults).",
    "Hypothesis": "One check of the steady-state hypothesis: a metric, a bound, the phases it is judged in.",
    "AbortRule": "A safety rule: when the metric stays beyond max for the window, every fault is reverted at once "
                 "and the run ends as aborted.",
    "Report": "Where and in which formats the reports are written.",
    "Latency": "Delays the data on a link (Toxiproxy latency toxic).",
    "Bandwidth": "Limits a link's throughput (Toxiproxy bandwidth toxic).",
    "SlowClose": "Delays closing connections on a link (Toxiproxy slow_close toxic).",
    "Timeout": "Stops all data on a link and closes connections after a timeout (Toxiproxy timeout toxic).",
    "ResetPeer": "Resets connections on a link, after an optional timeout (Toxiproxy reset_peer toxic).",
    "Slicer": "Slices data on a link into small packets, with an optional delay between them (Toxiproxy slicer).",
    "LimitData": "Closes connections on a link once this many bytes went through (Toxiproxy limit_data toxic).",
    "Down": "Takes a link down: its proxy stops listening and drops its connections.",
    "Stop": "Stops the containers (the stop signal, then SIGKILL after grace); revert starts them again.",
    "Restart": "Restarts the containers once, at the start of the fault; revert waits until they are healthy.",
    "Pause": "Freezes every process of the containers (cgroup freezer); revert unpauses them.",
    "Strobe": "A clock that swings back and forth.",
    "HttpProbe": "An HTTP request to a service; success is the expected status (and body).",
    "TcpProbe": "A TCP connection to a service's port.",
    "CommandProbe": "A command run inside a service's container; success is the expected exit code (and output).",
    "PythonProbe": "A Python function called by the harness.",
    "ContainerProbe": "The state of a service's container: running, or healthy.",
    "Http": "Per request on an HTTP link (mitmproxy): a made-up status, an abort, a delay, or a rewritten or "
            "corrupted answer, on the requests it matches, with a probability, the first N or every Nth.",
    "Rewrite": "Text replaced in the upstream's answer body.",
}

# "Class.field": words for fields that carry no description of their own. The class is the one
# that declares the field, so subclasses (every fault type) share the entry.
DESCRIPTIONS = {
    "Experiment.name": "names the run and the report directory: lower-case letters, digits, '-', '_', '.'",
    "Experiment.description": "one sentence for the report",
    "Experiment.secrets": "names of variables whose values never reach plan.json, journals or reports",
    "Experiment.targets": "the services to start",
    "Experiment.links": "directed TCP paths routed through Toxiproxy, as 'from -> to:port'; only the 'from' "
                        "service's path is affected",
    "Experiment.load": "the load to drive",
    "Experiment.phases": "lengths of warmup, baseline and recovery",
    "Experiment.faults": "what to inject, and when within the fault phase",
    "Experiment.probes": "measurements polled during the whole run, besides the load's own requests",
    "Experiment.steady_state": "the checks that must hold: the steady-state hypothesis",
    "Experiment.abort": "safety rules checked every 0.5 s after warmup (default: error rate above 5% or p99 "
                        "above 1s, for 5s)",
    "Experiment.report": "where reports go",
    "Targets.compose": "a compose file whose services are started (relative to this file)",
    "Targets.services": "services defined here; a service with the name of a compose service replaces it",
    "Service.image": "the image to run; built from build when it is not present locally",
    "Service.command": "the command, as a list or one string (compose's meaning)",
    "Service.entrypoint": "the entrypoint, as a list or one string",
    "Service.environment": "environment variables: a mapping, or a list of NAME=value",
    "Service.ports": "container ports to publish on 127.0.0.1 (compose short syntax; the host part is ignored)",
    "Service.depends_on": "services to start first: a list, or a mapping with a condition each",
    "Service.healthcheck": "how to tell the service is ready",
    "Service.labels": "labels for the container (a mapping or a list of key=value); faults can select by label",
    "Service.clock": "skewable: started with libfaketime preloaded, so clock_skew faults can change its clock",
    "Build.context": "the build context (relative to the compose file)",
    "Build.dockerfile": "the Dockerfile, relative to the context",
    "Build.args": "build arguments",
    "DependsOn.condition": "wait until the dependency has started, or until it is healthy",
    "Healthcheck.test": "the check: [CMD, ...] or [CMD-SHELL, ...] or one shell command string",
    "Healthcheck.interval": "time between checks",
    "Healthcheck.timeout": "a check slower than this fails",
    "Healthcheck.retries": "failed checks in a row before the service counts as unhealthy",
    "Healthcheck.start_period": "failures during this first period do not count",
    "Load.user_classes": "Locust user classes to run (default: every class in the locustfile)",
    "Load.spawn_rate": "users started per second, closed model",
    "ScenarioRequest.method": "HTTP method",
    "ScenarioRequest.weight": "how often this request is picked against the others",
    "ScenarioRequest.headers": "HTTP headers to send",
    "ScenarioRequest.json_body": "a JSON body to send",
    "Phases.warmup": "load runs, nothing is judged (caches and connections warm up)",
    "Phases.baseline": "load runs without faults: the reference for the fault phase",
    "Phases.recovery": "load runs after the last fault is reverted: does the system come back?",
    "FaultSpec.name": "a name for reports (default: '<type> on <target>')",
    "FaultSpec.at": "when the fault starts, from the start of the fault phase",
    "FaultSpec.duration": "how long the fault lasts; it is reverted after that",
    "LinkFault.link": "the link, as listed in links, or the edge link 'load -> <load.target>'",
    "LinkFault.stream": "downstream: replies (server to client); upstream: requests; both",
    "LinkFault.toxicity": "the share of connections affected, drawn once per connection",
    "Latency.latency": "added delay",
    "Latency.jitter": "random variation added to or taken from the delay",
    "Latency.ramp": "moves the delay to another value during the fault, step by step",
    "LatencyRamp.to": "the delay at the end of the ramp",
    "LatencyRamp.over": "how long the ramp takes, from the fault's start",
    "LatencyRamp.step": "time between two changes (at least 100ms)",
    "Bandwidth.rate": "the link's throughput limit",
    "Bandwidth.ramp": "moves the rate to another value during the fault, step by step",
    "RateRamp.to": "the rate at the end of the ramp",
    "RateRamp.over": "how long the ramp takes, from the fault's start",
    "RateRamp.step": "time between two changes (at least 100ms)",
    "SlowClose.delay": "delay before a connection is closed",
    "Timeout.timeout": "close connections after this long; 0 holds them open (no data) until the fault ends",
    "ResetPeer.timeout": "reset connections after this long; 0 resets at once",
    "Slicer.average_size": "average size of a slice",
    "Slicer.size_variation": "random variation of the slice size",
    "Slicer.delay": "delay between slices",
    "LimitData.bytes": "bytes let through before the connection is closed",
    "TargetedFault.service": "the service to hit",
    "TargetedFault.services": "several services to hit",
    "TargetedFault.pick": "all matching containers, one of them, or a random share (drawn with the run's seed)",
    "Kill.signal": "the signal to send",
    "CrashLoop.every": "time between kills (at least 1s)",
    "CrashLoop.signal": "the signal to send each time",
    "Memory.memory": "the memory limit (at least 6MB); swap is limited to the same value",
    "ClockSkew.service": "a service declared with clock: skewable",
    "ClockSkew.strobe": "a clock swinging between +delta and -delta every period",
    "ProbeSpec.name": "the probe's name, used by steady_state checks (probe: NAME)",
    "HttpProbe.port": "the container port",
    "HttpProbe.path": "URL path",
    "HttpProbe.method": "HTTP method",
    "HttpProbe.expect_status": "status codes that count as success",
    "HttpProbe.body_regex": "a regular expression the body must match",
    "TcpProbe.service": "the service to connect to",
    "TcpProbe.port": "the container port",
    "CommandProbe.service": "the service whose container runs the command",
    "CommandProbe.command": "the command, as a list or one shell string",
    "CommandProbe.expect_exit": "the exit code that counts as success",
    "CommandProbe.output_regex": "a regular expression the output must match",
    "ContainerProbe.service": "the service whose container is checked",
    "ContainerProbe.expect": "running, or healthy (by its healthcheck)",
    "Hypothesis.name": "the check's name in reports",
    "Hypothesis.metric": "what is measured, per phase",
    "Hypothesis.max": "the highest good value (a duration for latency, a fraction for rates, 10/s for throughput, "
                      "a number otherwise)",
    "Hypothesis.min": "the lowest good value (same units as max)",
    "Hypothesis.phases": "the phases the check is judged in",
    "Hypothesis.weight": "the check's weight in the resilience score",
    "AbortRule.metric": "what is watched (any metric but count)",
    "AbortRule.max": "the limit (a duration for latency, a fraction for rates, 10/s for throughput)",
    "AbortRule.for_": "the trailing window the metric is computed over (at least 5 requests in it)",
    "Report.dir": "where run directories are written (relative to this file)",
    "Report.formats": "which reports to render",
    "Http.link": "the HTTP link (from -> to:port, listed with protocol: http) whose requests it acts on",
    "Http.match": "which requests: method, path glob or regex, headers, query (all given must match)",
    "Http.delay": "hold each matching request this long (before forwarding, or before answering: delay_at)",
    "Http.probability": "the share of matching requests it acts on, drawn per request from the plan's seed",
    "Http.ramp": "moves the probability and/or the delay from their start values to these over a time",
    "HttpRamp.delay": "the delay at the end of the ramp",
    "HttpRamp.probability": "the probability at the end of the ramp",
    "HttpRamp.over": "how long the ramp takes",
    "HttpRamp.step": "how often the values change during the ramp",
    "LinkSpec.link": "from -> to:port: the from service's path to to:port goes through the link's proxy",
    "LinkSpec.protocol": "tcp (Toxiproxy, the default) or http (mitmproxy: http faults per request)",
    "Rewrite.find": "the text to find in the answer body",
    "Rewrite.replace": "what replaces it",
}


def owner(model: type[BaseModel], field_name: str) -> type[BaseModel]:
    """The class that declares ``field_name`` (a fault type's ``at`` is declared by FaultSpec)."""
    return next(c for c in model.__mro__ if field_name in c.__dict__.get("__annotations__", {}))


def field_description(model: type[BaseModel], field_name: str) -> str | None:
    info = model.model_fields[field_name]
    if info.description:
        return info.description
    for cls in model.__mro__:
        text = DESCRIPTIONS.get(f"{cls.__name__}.{field_name}")
        if text:
            return text
    discriminator = discriminator_field(model)
    if discriminator == field_name:
        return f"`{discriminator}: {tags_of(model)[0]}` selects this kind"
    return None


def model_description(model: type[BaseModel]) -> str | None:
    own = model.__dict__.get("__doc__")
    if own and own.strip():
        return " ".join(own.replace("``", "`").split())
    return MODEL_DESCRIPTIONS.get(model.__name__)


def discriminator_field(model: type[BaseModel]) -> str | None:
    """'type' for a fault or probe model: a field whose annotation is a single Literal tag."""
    info = model.model_fields.get("type")
    if info is not None and typing.get_origin(info.annotation) is typing.Literal:
        return "type"
    return None


def tags_of(model: type[BaseModel]) -> list[str]:
    return [str(tag) for tag in typing.get_args(model.model_fields["type"].annotation)]


# ---- the models, walked from Experiment ---------------------------------------------------------


def reachable_models(root: type[BaseModel] = spec.Experiment) -> list[type[BaseModel]]:
    """Every model a file can contain, in first-seen order."""
    found: list[type[BaseModel]] = []

    def visit(annotation, discriminator=None):
        shape = shape_of(annotation, discriminator)
        if shape.kind == "model":
            if shape.model in found:
                return
            found.append(shape.model)
            for info in shape.model.model_fields.values():
                visit(field_annotation(shape.model, info), info.discriminator if isinstance(info.discriminator, str) else None)
        elif shape.kind in ("list", "dict"):
            visit(shape.item)
        elif shape.kind in ("tagged", "union"):
            for member in shape.members:
                visit(member)

    visit(root)
    return found


def tagged_unions(root: type[BaseModel] = spec.Experiment) -> dict[str, Shape]:
    """The lists of tagged variants at the top level: {'faults': shape, 'probes': shape}."""
    result = {}
    for name, info in root.model_fields.items():
        shape = shape_of(info.annotation)
        if shape.kind == "list":
            inner = shape_of(shape.item)
            if inner.kind == "tagged":
                result[info.alias or name] = inner
    return result


def missing_descriptions() -> list[str]:
    """'Model.field' for every field (and 'Model' for every model) a reader would find unexplained."""
    missing = []
    for model in reachable_models():
        if not model_description(model):
            missing.append(model.__name__)
        for name in model.model_fields:
            if not field_description(model, name):
                missing.append(f"{owner(model, name).__name__}.{name}")
    return sorted(set(missing))


# ---- JSON Schema -------------------------------------------------------------------------------


LINK_SCHEMA = {"type": "string", "pattern": links.PATTERN.pattern, "examples": ["api -> redis:6379"]}
# Text fields checked by a validator of their own, with the shape an editor can check.
FIELD_SCHEMAS = {
    "LinkFault.link": LINK_SCHEMA,
    "Load.target": {"type": "string", "pattern": r"^[A-Za-z0-9_.-]+:\d{1,5}$", "examples": ["api:8080"]},
    "Experiment.name": {"type": "string", "pattern": spec.NAME.pattern, "examples": ["shop-redis-latency"]},
}


class _Generator(GenerateJsonSchema):
    """Unit fields become 'text with this pattern, or a number'; other parsers accept text too."""

    def function_after_schema(self, schema):
        if schema.get("function", {}).get("function") is getattr(spec, "link_text", None):
            return dict(LINK_SCHEMA)
        return super().function_after_schema(schema)

    def function_before_schema(self, schema):
        kind = PARSERS.get(schema.get("function", {}).get("function"))
        if kind:
            return copy.deepcopy(UNIT_KINDS[kind])
        inner = super().function_before_schema(schema)
        return inner if inner.get("type") == "string" else {"anyOf": [inner, {"type": "string"}]}


def experiment_schema() -> dict:
    """The JSON Schema (draft 2020-12) of an experiment file, for editors and CI linters."""
    schema = spec.Experiment.model_json_schema(by_alias=True, mode="validation", schema_generator=_Generator)
    definitions = schema.get("$defs", {})
    for model in reachable_models():
        target = schema if model is spec.Experiment else definitions.get(model.__name__)
        if target is None:
            continue
        if not target.get("description") and model_description(model):
            target["description"] = model_description(model)
        for name, info in model.model_fields.items():
            prop = target.get("properties", {}).get(info.alias or name)
            if prop is None:
                continue
            prop.pop("title", None)
            prop.update(FIELD_SCHEMAS.get(f"{owner(model, name).__name__}.{name}", {}))
            text = field_description(model, name) or ""
            kind = unit_kind(info.annotation, info.metadata)
            if kind:
                text = f"{text} ({UNIT_KINDS[kind]['description']})" if text else UNIT_KINDS[kind]["description"]
            if text:
                prop["description"] = text
    allow_variables(schema)
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": SCHEMA_ID,
            "title": "chaos experiment", **{k: v for k, v in schema.items() if k != "title"}}


# A value with a ${VAR} in it is checked after substitution, not by the editor.
VARIABLE = {"type": "string", "pattern": r"\$\{[A-Za-z_]", "description": "a value given by a ${VARIABLE}"}
_SHAPED = ("integer", "number", "boolean")
_KEEP_OUTSIDE = ("description", "default", "examples", "title")


def allow_variables(node) -> None:
    """Let every number, enum and patterned text also be written as ${VAR} (in place)."""
    if isinstance(node, list):
        for item in node:
            allow_variables(item)
        return
    if not isinstance(node, dict):
        return
    for key in ("properties", "$defs"):
        for name, child in node.get(key, {}).items():
            if key == "properties" and name == "type" and ("const" in child or len(child.get("enum", [])) == 1):
                continue  # a fault's or probe's tag: the editor picks the variant by it
            _wrap(child)
    for key in ("items", "additionalProperties"):
        if isinstance(node.get(key), dict):
            _wrap(node[key])
    for key in ("anyOf", "oneOf"):
        allow_variables(node.get(key))


def _wrap(node: dict) -> None:
    if "anyOf" in node:
        if VARIABLE not in node["anyOf"] and any(_is_shaped(member) for member in node["anyOf"]):
            node["anyOf"].append(dict(VARIABLE))
        allow_variables(node["anyOf"])
    elif _is_shaped(node):
        inner = {key: node.pop(key) for key in list(node) if key not in _KEEP_OUTSIDE}
        node["anyOf"] = [inner, dict(VARIABLE)]
    else:
        allow_variables(node)


def _is_shaped(node: dict) -> bool:
    return node.get("type") in _SHAPED or "enum" in node or "pattern" in node or "const" in node
