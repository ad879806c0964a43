"""What every benchmark shares: the result it reports, the machine's state next to each figure, harness
runs through the real `chaos` command, and Docker objects the baselines start themselves (labelled
``chaos.bench=<bench id>``, removed by id when the benchmark ends, or by label with ``--clean``).

Baselines deliberately do not carry ``chaos.managed``: `chaos clean` of another session must not
remove a baseline in the middle of a measurement, and the harness's teardown never sees them.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
WORKLOADS = Path(__file__).resolve().parent / "workloads"
SERVER_CODE = (WORKLOADS / "http_server.py").read_text()
SERVER_PORT = 8080
BASE_IMAGE = "chaos-base:bookworm"
BENCH_LABEL = "chaos.bench"
HEALTH_URL_CHECK = ["CMD", "python3", "-c",
                    "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/health', timeout=1)"]
assert "$" not in SERVER_CODE  # it goes through ${VAR} substitution inside experiment files


@dataclass
class Result:
    """One benchmark's answer: a ratio against a baseline measured in the same run, and the figures."""

    name: str
    title: str
    ratio: float | None
    ratio_means: str  # e.g. "harness rps / plain locust rps"
    target: str  # e.g ">= 0.9" or "" (no target)
    met: bool | None  # None: no target
    figures: dict[str, str] = field(default_factory=dict)  # label -> value with unit and the load average
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    run_ids: list[str] = field(default_factory=list)  # harness runs it started: checked for leftovers

    def lines(self) -> list[str]:
        verdict = "" if self.met is None else ("  target met" if self.met else "  TARGET MISSED")
        ratio = "n/a" if self.ratio is None else f"{self.ratio:.3f}"
        out = [f"[{self.name}] {self.title}",
               f"  ratio {ratio}  ({self.ratio_means})" + (f"  target {self.target}" if self.target else "") + verdict]
        out += [f"  {label}: {value}" for label, value in self.figures.items()]
        out += [f"  note: {note}" for note in self.notes]
        out.append(f"  ({self.seconds:.0f} s)")
        return out


class Settings:
    """What --quick changes: fewer repetitions, shorter phases, fewer faults. Never a different method."""

    def __init__(self, quick: bool, work: Path, bench_id: str, families: tuple[str, ...] = ()):
        self.quick = quick
        self.work = work
        self.bench_id = bench_id
        self.families = families  # fault_timing: only these (empty: all)

    def pick(self, full, quick):
        return quick if self.quick else full


# ---- the machine -----------------------------------------------------------------------------


def load_average() -> float:
    return os.getloadavg()[0]


def with_load(value: str, load: float | tuple[float, float]) -> str:
    if isinstance(load, tuple):
        return f"{value}  (load {load[0]:.1f}->{load[1]:.1f})"
    return f"{value}  (load {load:.1f})"


def percentile(values, q: float) -> float:
    import numpy as np

    return float(np.percentile(np.asarray(values, dtype=float), q)) if len(values) else float("nan")


def median(values) -> float:
    return percentile(values, 50)


# ---- harness runs ----------------------------------------------------------------------------


def write_experiment(settings: Settings, name: str, experiment: dict) -> Path:
    """An experiment file in the bench's work dir; its report dir is beside it."""
    folder = settings.work / "experiments"
    folder.mkdir(parents=True, exist_ok=True)
    experiment = {**experiment, "report": {"dir": str(settings.work / "reports"), **experiment.get("report", {})}}
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(experiment, sort_keys=False, width=200))
    return path


@dataclass
class HarnessRun:
    exit_code: int
    run_dir: Path | None
    launched_wall: float  # time.time() just before `chaos run` was started
    launched_mono: float
    events: list[dict]
    output: str


def chaos_command() -> list[str]:
    return [sys.executable, "-m", "chaos.cli"] if not (ROOT / ".venv/bin/chaos").exists() \
        else [str(ROOT / ".venv/bin/chaos")]


def run_chaos(settings: Settings, experiment_file: Path, *, stop_when=None, watch=None, timeout: float = 900.0,
              extra_args: tuple[str, ...] = ()) -> HarnessRun:
    """``chaos run FILE`` as a user runs it. ``stop_when(events)`` is polled on the journal while the run
    goes on; when it returns true the run is sent SIGINT (it reverts, tears down and still writes its files).
    ``watch(pid, events)`` is called about every 0.25 s while it runs (e.g. to read CPU times).
    """
    reports = settings.work / "reports"
    before = set(reports.glob("*/*/journal.jsonl")) if reports.exists() else set()
    command = [*chaos_command(), "run", str(experiment_file), *extra_args]
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "NO_COLOR": "1", "TERM": "dumb"}
    launched_wall, launched_mono = time.time(), time.monotonic()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, cwd=str(ROOT))
    output_path = settings.work / f"chaos-run-{process.pid}.log"
    journal = None
    stopped = False
    deadline = launched_mono + timeout
    next_watch = 0.0
    with open(output_path, "wb") as log:
        os.set_blocking(process.stdout.fileno(), False)
        while process.poll() is None:
            chunk = process.stdout.read()
            if chunk:
                log.write(chunk)
            if journal is None and reports.exists():
                fresh = set(reports.glob("*/*/journal.jsonl")) - before
                journal = next(iter(fresh), None)
            if stop_when and not stopped and journal is not None and stop_when(read_events(journal)):
                process.send_signal(signal.SIGINT)
                stopped = True
            if watch and journal is not None and time.monotonic() >= next_watch:
                next_watch = time.monotonic() + 0.25
                watch(process.pid, read_events(journal))
            if time.monotonic() > deadline:
                process.kill()
                break
            time.sleep(0.02)
        rest = process.stdout.read()
        if rest:
            log.write(rest)
    process.wait()
    if journal is None and reports.exists():
        journal = next(iter(set(reports.glob("*/*/journal.jsonl")) - before), None)
    run_dir = journal.parent if journal else None
    return HarnessRun(process.returncode, run_dir, launched_wall, launched_mono,
                      read_events(journal) if journal else [], output_path.read_text(errors="replace"))


def read_events(journal: Path) -> list[dict]:
    events = []
    try:
        text = journal.read_text()
    except OSError:
        return events
    for line in text.splitlines():
        try:
            events.append(json.loads(line))
        except json.JSONDecodeError:
            continue  # the line being written right now
    return events


def first(events: list[dict], name: str, **match) -> dict | None:
    return next((e for e in events if e.get("event") == name and all(e.get(k) == v for k, v in match.items())), None)


# ---- Docker objects of the baselines -----------------------------------------------------------


class Baseline:
    """Containers and networks a baseline starts itself, with the docker SDK, removed by id on exit."""

    def __init__(self, settings: Settings, client=None):
        import docker

        self.client = client or docker.from_env(timeout=60)
        self.labels = {BENCH_LABEL: settings.bench_id}
        self.containers: list = []
        self.networks: list = []

    def __enter__(self) -> Baseline:
        return self

    def __exit__(self, *_exc) -> None:
        self.remove()

    def network(self, name: str):
        network = self.client.networks.create(name, driver="bridge", labels=self.labels)
        self.networks.append(network)
        return network

    def run(self, image: str, **kwargs):
        kwargs["labels"] = {**kwargs.get("labels", {}), **self.labels}
        container = self.client.containers.create(image, detach=True, **kwargs)
        self.containers.append(container)
        container.start()
        return container

    def toxiproxy(self, name: str, network: str, proxy: str):
        """A Toxiproxy server on ``network`` with one proxy ``proxy`` to web:SERVER_PORT, its API and listener
        published on 127.0.0.1; returns the container once the proxy listens."""
        from chaos.images import TOXIPROXY_IMAGE
        from chaos.toxiproxy import TOXIPROXY_API_PORT, ToxiproxyClient

        container = self.run(TOXIPROXY_IMAGE, name=name, network=network,
                             ports={f"{TOXIPROXY_API_PORT}/tcp": ("127.0.0.1", None),
                                    f"{SERVER_PORT}/tcp": ("127.0.0.1", None)})
        api = f"http://127.0.0.1:{published_port(container, TOXIPROXY_API_PORT)}"
        wait_http(api + "/version")
        client = ToxiproxyClient(api)
        client.create_proxy(proxy, f"0.0.0.0:{SERVER_PORT}", f"web:{SERVER_PORT}")
        client.close()
        return container

    def remove(self) -> None:
        import docker.errors

        for container in reversed(self.containers):
            try:
                container.remove(force=True, v=True)
            except docker.errors.NotFound:
                pass
        for network in reversed(self.networks):
            try:
                network.remove()
            except docker.errors.NotFound:
                pass
        self.containers, self.networks = [], []


def server_command(port: int = SERVER_PORT) -> list[str]:
    return ["python3", "-c", SERVER_CODE, str(port)]


def published_port(container, port: int) -> int:
    container.reload()
    for binding in container.attrs["NetworkSettings"]["Ports"].get(f"{port}/tcp") or []:
        if binding.get("HostIp") in ("127.0.0.1", "") and binding.get("HostPort"):
            return int(binding["HostPort"])
    raise RuntimeError(f"port {port} of {container.name} is not published on 127.0.0.1")


def wait_healthy(container, timeout: float = 120.0, interval: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while True:
        container.reload()
        state = container.attrs["State"]
        if state.get("Health", {}).get("Status") == "healthy":
            return
        if state["Status"] in ("exited", "dead") or time.monotonic() > deadline:
            raise RuntimeError(f"{container.name} did not become healthy ({state['Status']})")
        time.sleep(interval)


def wait_http(url: str, timeout: float = 30.0) -> None:
    import requests

    deadline = time.monotonic() + timeout
    while True:
        try:
            if requests.get(url, timeout=1).ok:
                return
        except requests.RequestException:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{url} did not answer")
        time.sleep(0.05)


def clean(bench_id: str | None = None) -> list[str]:
    """Remove what baselines left (a bench killed mid-way), by label."""
    import docker

    client = docker.from_env(timeout=60)
    selector = f"{BENCH_LABEL}={bench_id}" if bench_id else BENCH_LABEL
    removed = []
    for container in client.containers.list(all=True, filters={"label": selector}):
        container.remove(force=True, v=True)
        removed.append(f"container {container.name}")
    for network in client.networks.list(filters={"label": selector}):
        network.remove()
        removed.append(f"network {network.name}")
    return removed + _clean_compose_projects(client, bench_id)


# Compose projects a baseline starts with `docker compose -p chaos-bench-<bench id>-...` carry Compose's own
# labels, not chaos.bench (the compose file is the user's, unchanged): found by their project name.
COMPOSE_PROJECT_LABEL = "com.docker.compose.project"


def compose_project_prefix(bench_id: str | None) -> str:
    return f"chaos-bench-{bench_id}-" if bench_id else "chaos-bench-"


def _compose_objects(client, bench_id: str | None) -> tuple[list, list, list]:
    prefix = compose_project_prefix(bench_id)
    filters = {"label": COMPOSE_PROJECT_LABEL}

    def ours(labels) -> bool:
        return (labels or {}).get(COMPOSE_PROJECT_LABEL, "").startswith(prefix)

    return ([c for c in client.containers.list(all=True, filters=filters) if ours(c.labels)],
            [n for n in client.networks.list(filters=filters) if ours(n.attrs.get("Labels"))],
            [v for v in client.volumes.list(filters=filters) if ours(v.attrs.get("Labels"))])


def _clean_compose_projects(client, bench_id: str | None) -> list[str]:
    containers, networks, volumes = _compose_objects(client, bench_id)
    removed = []
    for container in containers:
        container.remove(force=True, v=True)
        removed.append(f"container {container.name}")
    for network in networks:
        network.remove()
        removed.append(f"network {network.name}")
    for volume in volumes:
        volume.remove(force=True)
        removed.append(f"volume {volume.name}")
    return removed


def leftovers(bench_id: str, run_ids: list[str]) -> list[str]:
    """Anything still there from this bench: its baselines, and the harness runs it started."""
    import docker

    client = docker.from_env(timeout=60)
    found = [c.name for c in client.containers.list(all=True, filters={"label": f"{BENCH_LABEL}={bench_id}"})]
    for run_id in run_ids:
        found += [c.name for c in client.containers.list(all=True, filters={"label": f"chaos.run={run_id}"})]
        found += [n.name for n in client.networks.list(filters={"label": f"chaos.run={run_id}"})]
        found += [v.name for v in client.volumes.list(filters={"label": f"chaos.run={run_id}"})]
    return found + [o.name for group in _compose_objects(client, bench_id) for o in group]
