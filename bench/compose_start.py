"""7. System start of a compose file: `chaos run` against `docker compose up -d --wait` of the same file on
the same engine, for the notes sample (targets/notes: nginx -> app -> PostgreSQL 15 with a named volume,
a one-shot migration, a secret, two networks) and the shop (targets/shop: redis, inventory, api).

Harness side: a fresh ``chaos run`` process, as a user starts it, on an experiment with the system and its
edge link only (``load -> proxy:80`` / ``load -> api:8080``), timed from process start until
``system_healthy`` is in its journal; the run is then stopped with SIGINT (it reverts and tears down as
for a Ctrl-C). Only the edge link, because it is the one link every experiment has and Compose has no
counterpart of the others: what is compared is starting the user's file. (The shipped notes-db-kill
experiment has exactly this system start; the shop's experiments add one ``api -> redis`` link proxy.)

Baseline side: ``docker compose -p chaos-bench-<id>-<system> -f FILE up -d --wait`` (the Compose the
harness itself reads files with), timed from process start to exit; ``down -v`` follows, untimed.

Images are built before anything is timed: one untimed warm-up round per system (the harness builds its
``<project>-<service>:ctx-<digest>`` tags, ``compose build`` builds ``<project>-<service>``), which also
warms the page cache and Python's bytecode for both sides. Then rounds alternate which side goes first,
systems interleaved, so drift in the machine's load hits both sides. The ratio per system is the median
of the per-round ratios (adjacent in time); both medians are printed too.

Profile figures: the harness's journal events, and each service's container start, first ``healthy`` and
exit as the engine's event stream reports them (the same way on both sides), in seconds after launch.
"""

from __future__ import annotations

import os
import resource
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from bench.common import (
    COMPOSE_PROJECT_LABEL, ROOT, Result, Settings, compose_project_prefix, first, load_average, median, run_chaos,
    with_load, write_experiment,
)

TARGET = 1.2
UP_TIMEOUT_S = 300
JOURNAL_STEPS = ("run_started", "networks_created", "volumes_created", "link_created")


@dataclass(frozen=True)
class SampleSystem:
    name: str
    compose_file: Path
    edge: str  # the load's target: the edge link
    locustfile: Path
    user_class: str


SYSTEMS = (
    SampleSystem("notes", ROOT / "targets/notes/compose.yaml", "proxy:80", ROOT / "targets/notes/locustfile.py",
                 "NotesUser"),
    SampleSystem("shop", ROOT / "targets/shop/compose.yaml", "api:8080", ROOT / "targets/shop/locustfile.py",
                 "ShopUser"),
)


def compose_project(settings: Settings, system: SampleSystem) -> str:
    """One project name per bench and system: rounds run one after the other, each ends with ``down -v``."""
    return f"{compose_project_prefix(settings.bench_id)}{system.name}"


def experiment(system: SampleSystem) -> dict:
    return {
        "name": f"bench-compose-start-{system.name}",
        "description": f"system start of {system.name}; stopped once healthy",
        "targets": {"compose": str(system.compose_file)},
        "load": {"locustfile": str(system.locustfile), "user_classes": [system.user_class], "target": system.edge,
                 "users": 1, "spawn_rate": 1},
        "phases": {"warmup": "2s", "baseline": "30s", "recovery": "0s"},
    }


# ---- harness side ------------------------------------------------------------------------------


def harness_side(settings: Settings, system: SampleSystem, experiment_file: Path) -> dict:
    process: dict = {}

    def remember(pid: int, _events) -> None:
        process.setdefault("pid", pid)

    def healthy(events: list[dict]) -> bool:
        if first(events, "system_healthy") is None:
            return False
        process["cpu"] = _cpu_seconds(process.get("pid"))
        return True

    load_before = load_average()
    with EventTape({"label": f"chaos.experiment={experiment(system)['name']}"}, "chaos.service") as tape:
        run = run_chaos(settings, experiment_file, stop_when=healthy, watch=remember)
    done = first(run.events, "system_healthy")
    if done is None:
        raise RuntimeError(f"chaos run never reported system_healthy (exit {run.exit_code}):\n{run.output[-2000:]}")
    launched = run.launched_wall
    steps = {}
    for name in JOURNAL_STEPS:
        event = first(run.events, name)
        if event is not None:
            steps[name] = event["wall"] - launched
    ends = [e["wall"] for e in run.events if e.get("event") == "run_ended"]
    return {
        "seconds": done["wall"] - launched,
        "load": (load_before, load_average()),
        "run_id": run.run_dir.name,
        "steps": steps,
        "services": tape.timeline(launched, until=done["wall"]),
        "teardown": (ends[0] - done["wall"]) if ends else float("nan"),
        "cpu": process.get("cpu", float("nan")),
        "built": [e["image"] for e in run.events if e.get("event") == "image_build"],
    }


# ---- baseline side -----------------------------------------------------------------------------


def compose(system: SampleSystem, project: str, *args: str, timeout: float = UP_TIMEOUT_S):
    from chaos.compose import _COMPOSE_STEERING, compose_command

    # As the harness runs Compose: no variable may point it at other files, profiles or project names.
    env = {k: v for k, v in os.environ.items() if k not in _COMPOSE_STEERING}
    return subprocess.run([*compose_command(), "-p", project, "-f", str(system.compose_file), *args],
                          capture_output=True, text=True, env=env, timeout=timeout, stdin=subprocess.DEVNULL)


def compose_side(settings: Settings, system: SampleSystem) -> dict:
    project = compose_project(settings, system)
    load_before = load_average()
    with EventTape({"label": f"{COMPOSE_PROJECT_LABEL}={project}"}, "com.docker.compose.service") as tape:
        cpu_before = _children_cpu()
        launched_wall, launched = time.time(), time.monotonic()
        up = compose(system, project, "up", "-d", "--wait")
        seconds = time.monotonic() - launched
        cpu = _children_cpu() - cpu_before
    load_after = load_average()
    try:
        if up.returncode != 0:
            raise RuntimeError(f"docker compose up --wait failed (exit {up.returncode}):\n{up.stderr[-2000:]}")
    finally:
        down_started = time.monotonic()
        compose_down(system, project)
        down_seconds = time.monotonic() - down_started
    return {"seconds": seconds, "load": (load_before, load_after), "teardown": down_seconds, "cpu": cpu,
            "services": tape.timeline(launched_wall, until=launched_wall + seconds)}


def compose_down(system: SampleSystem, project: str, *extra: str) -> None:
    down = compose(system, project, "down", "-v", "--remove-orphans", *extra)
    if down.returncode != 0:
        raise RuntimeError(f"docker compose down failed (exit {down.returncode}):\n{down.stderr[-2000:]}")


# ---- the engine's view, the same for both sides --------------------------------------------------


def _docker():
    import docker

    return docker.from_env(timeout=60)


def _cpu_seconds(pid: int | None) -> float:
    """User + system CPU of a running process and of its children it has waited for."""
    import psutil

    try:
        times = psutil.Process(pid).cpu_times()
    except (psutil.Error, ValueError):
        return float("nan")
    return times.user + times.system + times.children_user + times.children_system


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


class EventTape:
    """The engine's container events of one side (start, health_status: healthy, die), streamed while it
    runs: read live, because the engine keeps only its last 256 events and healthcheck execs on a shared
    engine fill that in seconds."""

    WANTED = ("start", "health_status: healthy", "die")

    def __init__(self, filters: dict, service_label: str):
        self.filters = {"type": "container", **filters}
        self.service_label = service_label
        self.seen: list[tuple[float, str, str]] = []  # (epoch seconds, action, service)

    def __enter__(self) -> EventTape:
        self.stream = _docker().events(decode=True, filters=self.filters)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        return self

    def _read(self) -> None:
        try:
            for event in self.stream:
                action = event.get("Action") or event.get("status") or ""
                if action in self.WANTED:
                    attributes = event.get("Actor", {}).get("Attributes") or {}
                    service = attributes.get(self.service_label) or f"link {attributes.get('chaos.link', '?')}"
                    self.seen.append((event["timeNano"] / 1e9, action, service))
        except Exception:  # noqa: BLE001 - the stream closed under us: the tape ends there
            pass

    def __exit__(self, *_exc) -> None:
        time.sleep(0.2)  # events of the last moment are on their way
        self.stream.close()
        self.reader.join(timeout=5)

    def timeline(self, origin: float, until: float) -> dict[str, dict[str, float]]:
        """Per service, seconds after ``origin`` of its first start, healthy and exit up to ``until``."""
        names = {"start": "started", "health_status: healthy": "healthy", "die": "exited"}
        found: dict[str, dict[str, float]] = {}
        for moment, action, service in sorted(self.seen):
            if moment <= until + 0.05:
                found.setdefault(service, {}).setdefault(names[action], moment - origin)
        return found


# ---- the benchmark -----------------------------------------------------------------------------


def run(settings: Settings) -> Result:
    started = time.monotonic()
    rounds = settings.pick(3, 1)
    files = {s.name: write_experiment(settings, f"bench-compose-start-{s.name}", experiment(s)) for s in SYSTEMS}
    measured = {s.name: {"harness": [], "compose": []} for s in SYSTEMS}
    run_ids, built = [], []
    try:
        for system in SYSTEMS:
            warm = harness_side(settings, system, files[system.name])
            run_ids.append(warm["run_id"])
            built += warm["built"]
            _prebuild_compose(settings, system)
            compose_side(settings, system)
        for index in range(rounds):
            for offset, system in enumerate(SYSTEMS):
                harness_first = (index + offset) % 2 == 1
                for side in ("harness", "compose") if harness_first else ("compose", "harness"):
                    if side == "harness":
                        result = harness_side(settings, system, files[system.name])
                        run_ids.append(result["run_id"])
                    else:
                        result = compose_side(settings, system)
                    result["first"] = side == ("harness" if harness_first else "compose")
                    measured[system.name][side].append(result)
    finally:
        for system in SYSTEMS:  # Compose's per-bench images (``--rmi local``: those without an image: name)
            compose_down(system, compose_project(settings, system), "--rmi", "local")
        _remove_images(built)
    return _result(measured, rounds, run_ids, built, time.monotonic() - started)


def _prebuild_compose(settings: Settings, system: SampleSystem) -> None:
    build = compose(system, compose_project(settings, system), "build", timeout=900)
    if build.returncode != 0:
        raise RuntimeError(f"docker compose build failed (exit {build.returncode}):\n{build.stderr[-2000:]}")


def _remove_images(images: list[str]) -> None:
    """The ctx-tagged images the warm-up run had to build (kept when they were there before the bench)."""
    import docker.errors

    client = _docker()
    for image in images:
        try:
            client.images.remove(image)
        except docker.errors.APIError:
            pass  # in use by someone else's container, or already gone


def _result(measured: dict, rounds: int, run_ids: list[str], built: list[str], seconds: float) -> Result:
    figures, ratios = {}, {}
    for system in SYSTEMS:
        harness, base = measured[system.name]["harness"], measured[system.name]["compose"]
        pair_ratios = [h["seconds"] / b["seconds"] for h, b in zip(harness, base)]
        ratios[system.name] = median(pair_ratios)
        h_med, b_med = median([h["seconds"] for h in harness]), median([b["seconds"] for b in base])
        figures[f"{system.name}: ratio"] = (f"{ratios[system.name]:.3f} (median of round ratios "
                                            f"{', '.join(f'{r:.3f}' for r in pair_ratios)}); "
                                            f"ratio of medians {h_med / b_med:.3f}")
        figures[f"{system.name}: medians"] = f"chaos run {h_med:.2f} s, docker compose up --wait {b_med:.2f} s"
        for i, (h, b) in enumerate(zip(harness, base), 1):
            order = "compose first" if b["first"] else "harness first"
            figures[f"{system.name} round {i} docker compose up --wait"] = with_load(
                f"{b['seconds']:.2f} s ({order})", b["load"])
            figures[f"{system.name} round {i} chaos run"] = with_load(f"{h['seconds']:.2f} s", h["load"])
        figures[f"{system.name}: CPU until healthy (median, the command's own process and children)"] = (
            f"chaos run {median([h['cpu'] for h in harness]):.2f} s, "
            f"docker compose {median([b['cpu'] for b in base]):.2f} s")
        figures[f"{system.name}: harness journal (median s after launch)"] = _journal_profile(harness)
        figures[f"{system.name}: services (median s after launch, harness | compose)"] = \
            _start_profile(harness, base)
        figures[f"{system.name}: teardown (median, untimed)"] = (
            f"chaos run after SIGINT {median([h['teardown'] for h in harness]):.2f} s, "
            f"compose down -v {median([b['teardown'] for b in base]):.2f} s")
    worst = max(ratios.values())
    notes = [f"{rounds} round(s) per system after one untimed warm-up round each (images built, caches warm); "
             "order alternates per round, systems interleaved",
             "harness: fresh `chaos run` on the system with its edge link only (proxy:80 / api:8080), launch -> "
             "journal system_healthy; compose: `docker compose -p <bench project> -f FILE up -d --wait`, "
             "launch -> exit",
             "ratio: the worse system's median of per-round ratios"]
    if built:
        notes.append(f"warm-up built (removed at the end): {', '.join(built)}")
    result = Result("compose_start", "System start of a compose file: chaos run vs docker compose up --wait",
                    worst, "chaos run seconds / docker compose up --wait seconds (worse of notes, shop)",
                    f"<= {TARGET}", worst <= TARGET, figures, notes)
    result.run_ids = run_ids
    result.seconds = seconds
    return result


def _journal_profile(harness: list[dict]) -> str:
    parts = []
    for name in JOURNAL_STEPS:
        values = [h["steps"][name] for h in harness if name in h["steps"]]
        if values:
            parts.append(f"{name} {median(values):.2f}")
    parts.append(f"system_healthy {median([h['seconds'] for h in harness]):.2f}")
    return ", ".join(parts)


def _start_profile(harness: list[dict], base: list[dict]) -> str:
    """Per service, in the harness's start order: median seconds after launch it started, was healthy, exited."""
    order = {s: median([h["services"].get(s, {}).get("started", float("inf")) for h in harness])
             for side in (harness, base) for r in side for s in r["services"]}
    parts = []
    for service in sorted(order, key=order.get):
        cells = []
        for side in (harness, base):
            marks = []
            for mark in ("started", "healthy", "exited"):
                values = [r["services"][service][mark] for r in side if mark in r["services"].get(service, {})]
                if values:
                    marks.append(f"{mark} {median(values):.2f}")
            cells.append(" ".join(marks) or "-")
        parts.append(f"{service}: {cells[0]} | {cells[1]}")
    return "; ".join(parts)
