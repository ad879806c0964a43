"""Experiment -> Plan: durations resolved, faults on one timeline, links and images fixed. Pure."""

from __future__ import annotations

import math
import secrets as _random
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from chaos import service_config, spec
from chaos.hypotheses import HypothesisPlan, PlannedCheck, planned_checks
from chaos.links import Link
from chaos.secrets import scrub, secret_env_values
from chaos.spec import LoadedExperiment


@dataclass(frozen=True)
class TargetPlan:
    name: str
    image: str
    command: list[str] | str | None
    entrypoint: list[str] | str | None
    environment: dict[str, str]
    ports: list[int]
    depends_on: dict[str, str]
    healthcheck: dict | None
    labels: dict[str, str]
    clock: str
    build: dict | None = None  # {context, dockerfile, args}: used only when the image is missing
    attach: dict | None = None  # {name} or {label}: adopt this running container, never start or remove it
    working_dir: str | None = None
    user: str | None = None
    # From a compose file (chaos.service_config.runtime); defaults are an inline service's.
    replicas: int = 1
    networks: dict[str, list[str]] = field(default_factory=lambda: {"default": []})  # network key -> aliases
    network_mode: str | None = None
    mounts: list[dict] = field(default_factory=list)  # volume sources are keys of Plan.volumes
    files: list[dict] = field(default_factory=list)  # secrets and configs: Plan.files[source] placed at target
    restart: dict | None = None  # the engine's RestartPolicy
    healthcheck_disabled: bool = False  # `disable: true`: the image's own HEALTHCHECK is off too
    options: dict = field(default_factory=dict)  # engine create options that need no translation

    @property
    def attached(self) -> bool:
        return self.attach is not None


@dataclass(frozen=True)
class LinkPlan:
    """A link as plan.json writes it: its canonical name beside its parts."""
    name: str  # "api -> redis:6379"
    source: str  # "api" or "load" for the edge link
    target: str
    port: int
    protocol: str = "tcp"  # "tcp": a Toxiproxy in the link; "http": a mitmproxy, which takes http faults

    @classmethod
    def parse(cls, text: str, protocol: str = "tcp") -> LinkPlan:
        """The one way a LinkPlan is made: from a link's text, named canonically."""
        link = Link.parse(text)
        return cls(str(link), link.source, link.target, link.port, protocol)

    @property
    def is_http(self) -> bool:
        return self.protocol == "http"

    @property
    def link(self) -> Link:
        return Link(self.source, self.target, self.port)

    @property
    def is_edge(self) -> bool:
        return self.link.is_edge

    @property
    def proxy_name(self) -> str:
        return self.link.proxy_name


@dataclass(frozen=True)
class FaultPlan:
    id: str
    name: str
    kind: str  # latency, down, ... (the experiment's `type`)
    family: str  # which module of chaos.faults injects it: link, ...
    target: str  # what it hits: a link name such as "api -> redis:6379", or a service selector
    params: dict  # family-specific, JSON-serialisable, already in the units the adapter needs
    at: float  # seconds from the start of the fault phase
    duration: float
    # changes while active, {"after": s from `at`, "set": {...}}: ramp steps, crash-loop kills
    updates: list[dict] = field(default_factory=list)

    @property
    def link(self) -> str | None:
        """The link this fault rides on (its toxics live in that link's Toxiproxy proxy, and go with it);
        None for a fault on targets."""
        return self.target if self.family in ("link", "http") else None

    @property
    def settings(self) -> str:
        """Its settings as a person wrote them: ``latency 300 ms, jitter 50 ms``."""
        return fault_settings(self.kind, self.params, self.updates)


# ---- a fault's settings in words, for every report and the console ----------------------------
# ``params`` are in the units the adapters take (milliseconds, KB/s, bytes, seconds, a slicer's delay in
# microseconds); these turn them back into the user's. The ledger's params (``prepare()``'s) are read too:
# they add what was decided at run time, such as the targets a partition cut off.


def fault_settings(kind: str, params: dict, updates: list[dict] | tuple = ()) -> str:
    """A fault's settings in words: ``latency 300 ms, jitter 50 ms``, ``isolate db from api, web``,
    ``signal SIGKILL``, ``skew +100 s``. Which containers a fault hits is its target, not repeated here."""
    try:
        parts = _SETTINGS[kind](params, list(updates))
    except (KeyError, TypeError):  # a kind, or params, of another harness version (an old run dir): as they are
        parts = [f"{key} {value}" for key, value in params.items() if key not in _RUN_TIME_KEYS]
    return ", ".join(part for part in parts if part)


_RUN_TIME_KEYS = ("select", "containers", "chain", "rules")  # decided or recorded at run time, not settings


def _ms(value: float) -> str:
    return f"{value:g} ms"


def _s(value: float) -> str:
    if abs(value) >= 120:
        return f"{value / 60:g} min"
    return f"{value:g} s" if abs(value) >= 1 or value == 0 else f"{value * 1000:g} ms"


def _size(count: float) -> str:
    for unit, factor in (("GB", 1024**3), ("MB", 1024**2), ("KB", 1024)):
        if count >= factor:
            return f"{count / factor:.3g} {unit}"
    return f"{count:g} B"


def _rate(kbps: float) -> str:
    return f"{_size(kbps * 1024)}/s"


def _on_link(params: dict) -> list[str]:
    """What every link fault may add: the direction when not the default, and the share of connections."""
    stream = {"upstream": "upstream", "both": "both directions"}.get(params.get("stream"))
    toxicity = params.get("toxicity", 1.0)
    return [stream or "", f"on {toxicity * 100:g}% of connections" if toxicity < 1 else ""]


def _ramp(attribute: str, updates: list[dict], unit) -> str:
    """A ramp as its end and its length: ``rising to 900 ms over 10 s``."""
    steps = [u for u in updates if attribute in u["set"]]
    if not steps:
        return ""
    start, end = steps[0]["set"][attribute], steps[-1]["set"][attribute]
    way = "rising" if end > start else "falling"
    return f"{way} to {unit(end)} over {_s(steps[-1]['after'])}"


def _latency(params, updates):
    return [f"latency {_ms(params['latency'])}", f"jitter {_ms(params['jitter'])}" if params.get("jitter") else "",
            _ramp("latency", updates, _ms), *_on_link(params)]


def _bandwidth(params, updates):
    return [f"rate {_rate(params['rate'])}", _ramp("rate", updates, _rate), *_on_link(params)]


def _timeout(params, updates):
    after = f"closed after {_ms(params['timeout'])}" if params["timeout"] else "held open until reverted"
    return [f"data stopped, {after}", *_on_link(params)]


def _reset_peer(params, updates):
    when = f"after {_ms(params['timeout'])}" if params["timeout"] else "at once"
    return [f"connections reset {when}", *_on_link(params)]


def _slicer(params, updates):
    variation = f" ± {_size(params['size_variation'])}" if params.get("size_variation") else ""
    delay = f", {_ms(params['delay'] / 1000)} apart" if params.get("delay") else ""  # Toxiproxy's µs
    return [f"slices of {_size(params['average_size'])}{variation}{delay}", *_on_link(params)]


def _signal(params, updates):
    return [f"signal {params['signal']}"]


def _grace(params, updates):
    return [f"grace {_s(params['grace'])}"]


def _crash_loop(params, updates):
    return [f"signal {params['signal']} every {_s(params['every'])}",
            f"down {_s(params['down'])} each time" if params.get("down") else "started again at once"]


def _partition(params, updates):
    cut = params.get("containers") or {}  # the ledger's: every target given rules
    one_way = params.get("direction") == "one-way"
    if params.get("isolate"):
        isolated = list(params["isolate"])
        rest = [name for name in cut if name not in isolated]
        return [f"isolate {', '.join(isolated)} from {', '.join(rest) if rest else 'every other target'}",
                "one-way" if one_way else ""]
    sign = " -/-> " if one_way else " | "
    groups = sign.join(", ".join(members) for members in params["groups"].values())
    return [f"cut {groups}", f"bridge {', '.join(params['bridge'])}" if params.get("bridge") else ""]


def _clock_skew(params, updates):
    if params["mode"] == "offset":
        return [f"skew {'+' if params['offset_s'] > 0 else '-'}{_s(abs(params['offset_s']))}"]
    if params["mode"] == "drift":
        fast = (params["rate"] - 1) * 100
        return [f"drift ×{params['rate']:g} ({abs(fast):.3g}% {'fast' if fast > 0 else 'slow'})"]
    return [f"swing ±{_s(params['delta_s'])} every {_s(params['period_s'])}"]


def _dns(params, updates):
    """``inventory: NXDOMAIN``, ``inventory: answered 127.0.0.1``, ``*.example.com: 2 s late``; the share when not all."""
    action = params["action"]
    if action == "address":
        what = f"answered {params.get('address') or 'the address of ' + str(params.get('address_of'))}"
    elif action == "delay":
        what = f"{_s(params['delay_s'])} late"
    elif action == "timeout":
        what = "no answer"
    else:
        what = action.upper()
    share = params.get("probability", 1.0)
    return [f"lookups of {params['name']}: {what}", f"on {share * 100:g}% of queries" if share < 1 else ""]


_SETTINGS = {
    "latency": _latency,
    "bandwidth": _bandwidth,
    "slow_close": lambda params, updates: [f"close delayed {_ms(params['delay'])}", *_on_link(params)],
    "timeout": _timeout,
    "reset_peer": _reset_peer,
    "slicer": _slicer,
    "limit_data": lambda params, updates: [f"closed after {_size(params['bytes'])}", *_on_link(params)],
    "down": lambda params, updates: ["link down"],  # the whole proxy is off: no stream, no share
    "kill": _signal,
    "stop": _grace,
    "restart": _grace,
    "pause": lambda params, updates: ["paused"],
    "crash_loop": _crash_loop,
    "cpu": lambda params, updates: [f"{params['cpus']:g} CPUs"],
    "memory": lambda params, updates: [f"memory {_size(params['memory_bytes'])}"],
    "partition": _partition,
    "clock_skew": _clock_skew,
    "http": lambda params, updates: http_settings(params, updates),
    "dns": _dns,
}


def http_settings(params: dict, updates: list[dict]) -> list[str]:
    """``503 (Retry-After) to GET /stock/* on 20% of requests``, ``reset, first 5``, ``delay 300 ms``."""
    what = []
    if params.get("status") is not None:
        extra = f" ({', '.join(params['headers'])})" if params.get("headers") else ""
        what.append(f"status {params['status']}{extra}")
    if params.get("abort"):
        what.append({"close": "closed unanswered", "reset": "reset unanswered",
                     "mid_body": "answer cut mid-body"}[params["abort"]])
    if params.get("rewrite"):
        what.append(f"rewrite {params['rewrite'][0]!r} -> {params['rewrite'][1]!r}")
    if params.get("corrupt"):
        what.append(f"corrupt {params['corrupt']} bytes")
    if params.get("delay_ms"):
        where = " before answering" if params.get("delay_at") == "response" else ""
        what.append(f"delay {_ms(params['delay_ms'])}{where}")
    match = params.get("match") or {}
    route = " ".join(p for p in (match.get("method"), match.get("path") or (
        f"~{match['path_regex']}" if match.get("path_regex") else None)) if p)
    extra = [f"{k}: {v}" for k, v in (match.get("headers") or {}).items()]
    extra += [f"?{k}={v}" for k, v in (match.get("query") or {}).items()]
    which = [f"on {' '.join([route, *extra]).strip()}" if route or extra else ""]
    if params.get("first"):
        which.append(f"first {params['first']}")
    if params.get("every"):
        which.append(f"every {params['every']}th")
    if params.get("probability", 1.0) < 1:
        which.append(f"{params['probability'] * 100:g}% of requests")
    ramps = [_ramp("probability", updates, lambda p: f"{p * 100:g}%"), _ramp("delay_ms", updates, _ms)]
    return [" and ".join(what), *which, *ramps]


# ---- the plan's other sections: load, probes, abort rules, report --------------------------------
# Built once, here; the runner, the load, the probes, the test kit and the CLI read their attributes.
# Hypotheses (HypothesisPlan) live with the checks they make, in chaos.hypotheses.


@dataclass(frozen=True)
class LoadPlan:
    """The load to drive, its fields in plan.json's order and units (timeout in seconds)."""

    locustfile: str | None  # an absolute path; None: the scenario's requests
    user_classes: list[str]
    scenario: list[dict] | None  # scenario_request() of each request
    users: int
    spawn_rate: float
    model: str  # "closed": users wait for answers; "open": a constant arrival rate
    rate: float | None  # open model: requests per second
    max_in_flight: int
    workers: int
    timeout: float
    target: str  # service:port of the edge link

    @classmethod
    def from_spec(cls, load: spec.Load, locustfile: str | None) -> LoadPlan:
        """From the experiment's (or a test's) load section; ``locustfile`` resolved by the caller."""
        return cls(locustfile=locustfile, user_classes=list(load.user_classes),
                   scenario=[scenario_request(r) for r in load.scenario] if load.scenario else None,
                   users=load.users, spawn_rate=load.spawn_rate, model=load.model, rate=load.rate,
                   max_in_flight=load.max_in_flight, workers=load.workers, timeout=load.timeout, target=load.target)

    def share(self, parts: int) -> LoadPlan:
        """One of ``parts`` systems' share of this load, run at the same time (``chaos ab`` side by side): the users
        (rounded up: 5 users give 3 on each of 2 sides), the spawn rate, an open model's rate and its bound on
        requests in flight, and the local workers; never below one user or one request in flight."""
        def part(n: int) -> int:
            return max(1, math.ceil(n / parts))

        return replace(self, users=part(self.users), spawn_rate=self.spawn_rate / parts,
                       rate=None if self.rate is None else self.rate / parts,
                       max_in_flight=part(self.max_in_flight), workers=math.ceil(self.workers / parts))


@dataclass(frozen=True)
class ProbePlan:
    name: str
    type: str  # http, tcp, command, python, container
    every: float  # seconds between tries
    timeout: float  # seconds a try may take
    params: dict  # type-specific, as chaos.probes reads them


@dataclass(frozen=True)
class AbortRulePlan:
    """Stop the run when ``metric`` over the trailing ``for_`` seconds is above ``max`` (the metric's unit)."""

    metric: str
    max: float
    for_: float

    def to_json(self) -> dict:
        return {"metric": self.metric, "max": self.max, "for": self.for_}


@dataclass(frozen=True)
class ReportPlan:
    dir: str  # run dirs go to DIR/EXPERIMENT/RUN_ID
    formats: list[str]


ALL_FORMATS = ["html", "md", "junit", "json"]


@dataclass(frozen=True)
class Window:
    phase: str
    start: float  # seconds from load start
    end: float


@dataclass
class Plan:
    experiment: str
    description: str
    run_id: str
    seed: int
    source_file: str
    targets: list[TargetPlan]
    links: list[LinkPlan]
    load: LoadPlan | None  # None: a system plan (the pytest fixtures' system), or a test that drove no load
    phases: dict[str, float]
    timeline: list[Window]
    faults: list[FaultPlan]
    steady_state: list[HypothesisPlan]
    abort: list[AbortRulePlan]
    report: ReportPlan
    secret_values: list[str] = field(default_factory=list, repr=False)
    probes: list[ProbePlan] = field(default_factory=list)
    # The compose project's top-level volumes, networks, secrets and configs, canonical (key -> settings).
    volumes: dict[str, dict] = field(default_factory=dict)
    networks: dict[str, dict] = field(default_factory=dict)
    files: dict[str, dict] = field(default_factory=dict)  # "secrets:NAME" / "configs:NAME" -> {file|environment|content}
    dns: list[str] = field(default_factory=list)  # services started resolving through the run's DNS (fixtures)

    @property
    def dns_services(self) -> list[str]:
        """Services whose lookups go through a DNS server of the run: those a dns fault names, and those a
        system plan (the pytest fixtures') was given."""
        named = [fault.target for fault in self.faults if fault.family == "dns"] + list(self.dns)
        return list(dict.fromkeys(named))

    @property
    def edge(self) -> LinkPlan:
        return next(link for link in self.links if link.is_edge)

    @property
    def duration(self) -> float:
        return self.timeline[-1].end

    @property
    def run_dir(self) -> Path:
        return Path(self.report.dir) / self.experiment / self.run_id

    def with_report_dir(self, directory: str | Path) -> None:
        """Run dirs go under ``directory`` instead (``--report-dir``, a game day's steps)."""
        self.report = replace(self.report, dir=str(directory))

    def checks(self) -> list[PlannedCheck]:
        """Every check of the steady state, in the order the analysis judges and the summary lists them."""
        return planned_checks(self.steady_state, [window.phase for window in self.timeline])

    def to_json(self) -> dict:
        """What goes to plan.json: everything but secret values and target environment values."""
        data = asdict(self)
        data.pop("secret_values")
        data["load"] = data["load"] or {}
        data["steady_state"] = [hypothesis.to_json() for hypothesis in self.steady_state]
        data["abort"] = [rule.to_json() for rule in self.abort]
        for target in data["targets"]:
            target["environment"] = {key: "<set>" for key in target["environment"]}
        data["phases"] = dict(self.phases)
        return scrub(data, self.secret_values)


RUN_ID_RANDOM_BYTES = 4  # 32 bits: runs started in the same second on one engine (a CI matrix) never share one


def new_run_id(now: float | None = None) -> str:
    """The run's id, which names its containers, networks, volumes and run dir: unique across concurrent runs."""
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(now if now is not None else time.time()))
    return f"{stamp}-{_random.token_hex(RUN_ID_RANDOM_BYTES)}"


def make_plan(loaded: LoadedExperiment, run_id: str | None = None, seed: int | None = None) -> Plan:
    exp = loaded.experiment
    seed = seed if seed is not None else _random.randbelow(2**31)
    faults = [plan for i, fault in enumerate(exp.faults) for plan in _fault_plans(i, fault, seed)]
    fault_span = max((f.at + f.duration for f in faults), default=0.0)
    phases = {"warmup": exp.phases.warmup, "baseline": exp.phases.baseline,
              "fault": fault_span, "recovery": exp.phases.recovery}
    return Plan(
        experiment=exp.name,
        description=exp.description,
        run_id=run_id or new_run_id(),
        seed=seed,
        source_file=str(loaded.source.file),
        targets=[_with_probe_ports(_target_plan(name, service), exp.probes)
                 for name, service in loaded.services.items()],
        links=_links(exp),
        load=LoadPlan.from_spec(exp.load, str(loaded.path(exp.load.locustfile)) if exp.load.locustfile else None),
        phases=phases,
        timeline=timeline(phases),
        faults=faults,
        steady_state=[_hypothesis(h) for h in exp.steady_state],
        abort=[AbortRulePlan(r.metric, r.threshold(), r.for_) for r in exp.abort],
        report=ReportPlan(str(loaded.path(exp.report.dir)), list(exp.report.formats)),
        secret_values=sorted(set(loaded.secret_values) | {
            value for service in loaded.services.values() for value in secret_env_values(service.env())}),
        probes=[_probe(p, loaded.base_dir) for p in exp.probes],
        **project_resources(loaded.compose_project),
    )


def make_system_plan(name: str, services: dict[str, spec.Service], links: list[str], run_id: str | None = None,
                     source_file: str = "", project=None, http_links=frozenset(), dns=()) -> Plan:
    """A Plan of targets and links only (no load, timeline, faults or hypotheses): the system that the
    pytest fixtures start once and inject faults into test by test. ``links`` are ``from -> to:port``,
    the edge link (``load -> service:port``) among them if load is to be driven."""
    return Plan(experiment=name, description="", run_id=run_id or new_run_id(), seed=0, source_file=source_file,
                targets=[_target_plan(service_name, service) for service_name, service in services.items()],
                links=[LinkPlan.parse(link, "http" if link in http_links else "tcp") for link in links], load=None,
                phases={}, timeline=[], faults=[],
                steady_state=[], abort=[], report=ReportPlan("reports", list(ALL_FORMATS)),
                dns=list(dns), **project_resources(project))


def scenario_request(request: spec.ScenarioRequest) -> dict:
    """One scenario request as the plan (and the process that runs Locust) holds it: its name and statuses filled in."""
    return {"method": request.method, "path": request.path, "name": request.name or f"{request.method} {request.path}",
            "weight": request.weight, "expect": request.statuses(), "headers": dict(request.headers),
            "json": request.json_body}


def timeline(phases: dict[str, float]) -> list[Window]:
    windows, start = [], 0.0
    for phase in spec.PHASES:
        length = phases.get(phase, 0.0)
        if length > 0:
            windows.append(Window(phase, start, start + length))
            start += length
    return windows


def _links(exp: spec.Experiment) -> list[LinkPlan]:
    names = exp.link_names()
    edge = str(Link.edge(exp.load.target))
    if edge not in names:
        names.append(edge)
    http = exp.http_links()
    return [LinkPlan.parse(name, "http" if name in http else "tcp") for name in names]


def _fault_plans(index: int, fault: spec.FaultSpec, seed: int = 0) -> list[FaultPlan]:
    """One FaultPlan per occurrence: a repeated fault ``f2`` becomes ``f2.1``, ``f2.2``, ... each ledgered and
    reverted on its own. An http fault's rule also carries its place among the faults (rules on one link are
    checked in the experiment's order) and the plan's seed (its probability picks the same requests each run)."""
    starts = fault.occurrences()
    name = fault.display_name() or f"{fault.type} on {fault.target()}"
    params = {**fault.params(), "order": index, "seed": seed} if fault.family == "http" else fault.params()
    return [FaultPlan(
        id=f"f{index + 1}" if len(starts) == 1 else f"f{index + 1}.{k + 1}",
        name=name if len(starts) == 1 else f"{name} ({k + 1}/{len(starts)})",
        kind=fault.type,
        family=fault.family,
        target=fault.target(),
        params=params,
        at=start,
        duration=fault.duration,
        updates=fault.updates(),
    ) for k, start in enumerate(starts)]


def _target_plan(name: str, service: spec.Service) -> TargetPlan:
    healthcheck = None
    if service.healthcheck:
        test = service.healthcheck.test
        healthcheck = {
            "test": ["CMD-SHELL", test] if isinstance(test, str) else list(test),
            "interval": service.healthcheck.interval,
            "timeout": service.healthcheck.timeout,
            "retries": service.healthcheck.retries,
            "start_period": service.healthcheck.start_period,
        }
    labels = service.labels if isinstance(service.labels, dict) else dict(
        item.split("=", 1) if "=" in item else (item, "") for item in service.labels)
    return TargetPlan(
        name=name, image=service.image, command=service.command, entrypoint=service.entrypoint,
        environment=service.env(), ports=service.container_ports(), depends_on=service.dependencies(),
        healthcheck=healthcheck, labels=dict(labels), clock=service.clock,
        build=_build(service),
        attach=service.attach.model_dump(exclude_none=True) if service.attach else None,
        working_dir=service.working_dir, user=service.user,
        **(service_config.runtime(service.compose) if service.compose else {}),
    )


def _build(service: spec.Service) -> dict | None:
    if not service.build:
        return None
    build = service.build.model_dump()
    if service.compose is not None and not service.compose.get("image"):
        build["tag_by_context"] = True  # Compose names it; the harness tags it by what the build reads
    return build


def project_resources(project) -> dict:
    """Plan fields for a compose project's top-level volumes, networks, secrets and configs."""
    if project is None:
        return {}
    files = {f"secrets:{name}": _file_source(entry) for name, entry in project.secrets.items()}
    files.update({f"configs:{name}": _file_source(entry) for name, entry in project.configs.items()})
    return {"volumes": dict(project.volumes), "networks": dict(project.networks), "files": files}


def _file_source(entry: dict) -> dict:
    """Where a secret's or config's content comes from: a file, an environment variable, or inline text."""
    for key in ("file", "environment", "content"):
        if entry.get(key) is not None:
            return {key: entry[key]}
    return {"external": entry.get("name", "")}


def _hypothesis(h: spec.Hypothesis) -> HypothesisPlan:
    return HypothesisPlan(name=h.name, metric=h.metric, max=h.bound("max"), min=h.bound("min"), phases=list(h.phases),
                          request=h.request, probe=h.probe, weight=h.weight)


def _probe(probe, base_dir) -> ProbePlan:
    params = probe.model_dump(exclude={"name", "type", "every", "timeout"})
    if probe.type == "http":
        params["expect_status"] = probe.statuses()
    if probe.type == "python":
        params["path"] = str(base_dir)
    return ProbePlan(name=probe.name, type=probe.type, every=probe.every, timeout=probe.timeout, params=params)


def _with_probe_ports(target: TargetPlan, probes) -> TargetPlan:
    """HTTP and TCP probes reach a service from the harness: publish their ports on 127.0.0.1 too."""
    wanted = [p.port for p in probes if p.type in ("http", "tcp") and p.service == target.name]
    missing = [port for port in wanted if port not in target.ports]
    if not missing:
        return target
    return replace(target, ports=[*target.ports, *sorted(set(missing))])


def one_shot_targets(targets: list[TargetPlan]) -> set[str]:
    """Targets another waits on to complete (a migration job): they run once and are gone."""
    return {name for t in targets for name, condition in t.depends_on.items()
            if condition == "service_completed_successfully"}


def start_order(targets: list[TargetPlan]) -> list[TargetPlan]:
    """Targets in dependency order (dependencies first); a cycle is a spec problem caught earlier."""
    by_name = {t.name: t for t in targets}
    ordered, seen = [], set()

    def visit(name: str, stack: tuple[str, ...]):
        if name in seen:
            return
        if name in stack:
            raise ValueError(f"dependency cycle: {' -> '.join(stack + (name,))}")
        for dependency in by_name[name].depends_on:
            visit(dependency, stack + (name,))
        seen.add(name)
        ordered.append(by_name[name])

    for target in targets:
        visit(target.name, ())
    return ordered


# ---- the timeline as actions ------------------------------------------------------------

@dataclass
class Step:
    at: float  # seconds from load start: an absolute deadline, so lateness never accumulates
    order: int  # phase ends before faults revert before phases start before faults inject before updates
    action: str
    subject: str
    detail: dict | None = None  # for "update": what changes (a ramp's next value, a crash loop's next kill)


def steps(plan: Plan) -> list[Step]:
    """The whole timeline as ordered actions: phases, every fault occurrence, every ramp step and crash-loop
    kill (pure; `chaos run --dry-run` prints the same)."""
    result = []
    fault_start = next((w.start for w in plan.timeline if w.phase == "fault"), None)
    for window in plan.timeline:
        result.append(Step(window.start, 2, "phase_start", window.phase))
        result.append(Step(window.end, 0, "phase_end", window.phase))
    for fault in plan.faults:
        start = fault_start + fault.at
        result.append(Step(start, 3, "inject", fault.id))
        result.append(Step(start + fault.duration, 1, "revert", fault.id))
        result += [Step(start + update["after"], 4, "update", fault.id, update["set"]) for update in fault.updates]
    return sorted(result, key=lambda s: (s.at, s.order))
