"""3. Fault timing precision: scheduled against actual inject and revert times of many short repeated
faults in real `chaos run` runs, one run per family, with steady load on.

Scheduled times come from the run's plan.json (each occurrence's ``at`` and ``duration`` from the start
of the fault phase) and the journal's ``load_started`` (the timeline's zero); actual times are the
journal's ``fault_ledgered`` (the runner began the action), ``fault_injected`` and ``fault_reverted``
(the action returned: the fault is in effect, or undone). Lateness = actual - scheduled.

Baseline: a bare loop that sleeps to the same kind of absolute deadlines and makes the same engine,
Toxiproxy or keeper calls directly, on containers started with the docker SDK: the floor any scheduler on
this machine and engine could reach. For partitions and clock skew the same calls are the keepers' (see
chaos/faults/keeper.py): the same iptables-restore scripts written to a keeper in each namespace, the same
timestamp rewrite written to a clock keeper. The ratio is the harness's p99 lateness of "in effect" over
the bare loop's, for inject and revert; the headline ratio is the worst of them.

Like with like: every family is judged on when its action is done. A container with a healthcheck is
judged on when its undo is done (unpaused: ``undone_s`` in the journal), as the one without; how long it
then takes to be called healthy again is the container's own healthcheck, printed as its own figure.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from bench.common import (
    BASE_IMAGE, HEALTH_URL_CHECK, SERVER_PORT, WORKLOADS, Baseline, Result, Settings, first, load_average,
    percentile, published_port, run_chaos, server_command, wait_healthy, wait_http, with_load, write_experiment,
)

LOCUSTFILE = WORKLOADS / "steady_locustfile.py"
TARGET_MS = 50.0


@dataclass(frozen=True)
class Family:
    name: str
    fault: dict  # the fault without its schedule
    period: float  # seconds between occurrences
    duration: float  # of each occurrence
    baseline: str | None = None  # the bare loop that makes the same calls, if any
    peer_health: bool = True  # the faulted `peer` has a healthcheck (container reverts then wait for it)
    counts: tuple[int, int] | None = None  # (full, quick) when not the default
    targeted: bool = False  # under the p99 target
    # what the target judges of a revert: when it was done, or (when each revert then waits for the container
    # to be healthy again, a wait on the target's own healthcheck, not lateness) when its undo was done
    judged_revert: str = "reverted"


PAUSE = {"type": "pause", "service": "peer"}
FAMILIES = (
    Family("link", {"type": "latency", "link": f"load -> web:{SERVER_PORT}", "latency": "20ms"}, 0.5, 0.2,
           baseline="link", targeted=True),
    # The undo itself: a target without a healthcheck, so the revert does not wait for one.
    Family("container", PAUSE, 0.5, 0.2, baseline="container", peer_health=False, targeted=True),
    # The same fault on a target with a healthcheck (every 1 s): the revert waits until Docker calls it healthy
    # again, and Docker calls a paused container unhealthy at once. Spaced so one revert ends before the next
    # occurrence is due; fewer of them, to keep the bench short.
    Family("container healthchecked", PAUSE, 2.5, 0.2, counts=(24, 6), targeted=True, judged_revert="revert_undone"),
    Family("resources", {"type": "cpu", "service": "peer", "cpus": 0.5}, 0.5, 0.2, baseline="resources"),
    # one script per namespace written to its keeper per action (one iptables-restore each)
    Family("partition", {"type": "partition", "groups": [["web"], ["peer"]]}, 0.6, 0.25, baseline="partition",
           targeted=True),
    # one rewrite of the timestamp file written to the clock's keeper per action
    Family("clock", {"type": "clock_skew", "service": "web", "offset": "+30s"}, 0.6, 0.25, baseline="clock",
           targeted=True),
)


def _service(clock: str = "normal", health: bool = True) -> dict:
    service = {"image": BASE_IMAGE, "command": server_command(), "clock": clock}
    if health:
        service["healthcheck"] = {"test": HEALTH_URL_CHECK, "interval": "1s", "timeout": "1s", "retries": 30}
    return service


def slug(family: Family) -> str:
    return family.name.replace(", ", "-").replace(" ", "-")


def experiment(family: Family, count: int) -> dict:
    return {
        "name": f"bench-timing-{slug(family)}",
        "description": f"{count} short {family.fault['type']} faults, {family.period:g}s apart",
        "targets": {"services": {"web": _service("skewable" if family.name == "clock" else "normal"),
                                 "peer": _service(health=family.peer_health)}},
        "load": {"locustfile": str(LOCUSTFILE), "user_classes": ["Steady"], "target": f"web:{SERVER_PORT}",
                 "users": 10, "spawn_rate": 10},
        "phases": {"warmup": "2s", "baseline": "3s", "recovery": "1s"},
        "faults": [{**family.fault, "at": "0.5s", "duration": f"{family.duration:g}s", "repeat": f"{family.period:g}s",
                    "times": count}],
        "abort": [],
    }


def lateness(run) -> dict[str, list[float]]:
    """Seconds late per occurrence: ledgered (action began), injected and reverted (action returned)."""
    import json

    plan = json.loads((run.run_dir / "plan.json").read_text())
    zero = first(run.events, "load_started")["mono"]
    fault_start = next(w["start"] for w in plan["timeline"] if w["phase"] == "fault")
    due = {f["id"]: zero + fault_start + f["at"] for f in plan["faults"]}
    ends = {f["id"]: due[f["id"]] + f["duration"] for f in plan["faults"]}
    out = {"ledgered": [], "injected": [], "reverted": [], "revert_began": [], "revert_undone": []}
    for event in run.events:
        name, fault_id = event.get("event"), event.get("fault_id")
        if name in ("fault_ledgered", "fault_injected") and fault_id in due:
            out[name.removeprefix("fault_")].append(event["mono"] - due[fault_id])
        elif name == "fault_reverted" and fault_id in ends and event.get("reason") == "scheduled":
            out["reverted"].append(event["mono"] - ends[fault_id])
            if "ready_s" in event:  # container faults say how long the revert took: when it began follows
                began = event["mono"] - event["ready_s"]
                out["revert_began"].append(began - ends[fault_id])
                if "undone_s" in event:  # and how long its undo took, before the wait for healthy
                    out["revert_undone"].append(began + event["undone_s"] - ends[fault_id])
    return out


def harness_family(settings: Settings, family: Family, count: int) -> dict:
    load_before = load_average()
    run = run_chaos(settings, write_experiment(settings, f"bench-timing-{slug(family)}", experiment(family, count)))
    ended = first(run.events, "run_ended") or {}
    if run.run_dir is None or first(run.events, "load_started") is None:
        raise RuntimeError(f"{family.name}: chaos run failed (exit {run.exit_code}: {ended.get('error')}):\n"
                           f"{run.output[-2000:]}")
    late = lateness(run)
    if len(late["injected"]) < count or len(late["reverted"]) < count:
        raise RuntimeError(f"{family.name}: {len(late['injected'])} injected, {len(late['reverted'])} reverted of "
                           f"{count} (exit {run.exit_code}: {ended.get('error')})")
    return {**late, "load": (load_before, load_average()), "run_id": run.run_dir.name}


# ---- the bare loop -----------------------------------------------------------------------------


def bare_actions(settings: Settings, base: Baseline, family: str):
    """(inject, revert) callables making the same calls as the family's adapter, on SDK-started containers."""
    import requests

    from chaos.images import TOXIPROXY_IMAGE
    from chaos.toxiproxy import TOXIPROXY_API_PORT

    name = f"bench-{settings.bench_id}-bare-{family}"
    if family == "link":
        base.network(name)
        base.run(BASE_IMAGE, name=f"{name}-web", command=server_command(), network=name,
                 networking_config={name: base.client.api.create_endpoint_config(aliases=["web"])})
        proxy = base.run(TOXIPROXY_IMAGE, name=f"{name}-edge", network=name,
                         ports={f"{TOXIPROXY_API_PORT}/tcp": ("127.0.0.1", None)})
        api = f"http://127.0.0.1:{published_port(proxy, TOXIPROXY_API_PORT)}"
        wait_http(api + "/version")
        session = requests.Session()
        session.headers["User-Agent"] = "chaos-bench"
        session.post(f"{api}/proxies", json={"name": "edge", "listen": f"0.0.0.0:{SERVER_PORT}",
                                             "upstream": f"web:{SERVER_PORT}", "enabled": True}, timeout=2)
        toxic = {"name": "bench", "type": "latency", "stream": "downstream", "toxicity": 1.0,
                 "attributes": {"latency": 20, "jitter": 0}}
        return (lambda: session.post(f"{api}/proxies/edge/toxics", json=toxic, timeout=2).raise_for_status(),
                lambda: session.delete(f"{api}/proxies/edge/toxics/bench", timeout=2).raise_for_status())
    if family == "partition":
        return bare_partition(base, name)
    if family == "clock":
        return bare_clock(base, name)
    peer = base.run(BASE_IMAGE, name=f"{name}-peer", command=server_command(),
                    healthcheck={"test": HEALTH_URL_CHECK, "interval": 1_000_000_000, "timeout": 1_000_000_000,
                                 "retries": 30})
    wait_healthy(peer)
    if family == "container":
        return peer.pause, peer.unpause
    return (lambda: peer.update(cpu_period=100_000, cpu_quota=50_000),
            lambda: peer.update(cpu_quota=-1))


def bare_keeper(base: Baseline, **options):
    """A keeper started by the baseline (removed with it), attached."""
    from chaos.faults import keeper
    from chaos.images import HELPER_IMAGE

    container = base.run(HELPER_IMAGE, command=["sh", "-c", keeper.LOOP], stdin_open=True, **options)
    return keeper.Keeper(base.client, container.id).attach()


def bare_partition(base: Baseline, name: str):
    """web and peer cut from each other as the harness cuts them: a keeper in each namespace, both scripts
    written before either answer is awaited."""
    from chaos.faults import keeper
    from chaos.faults.partition import ChainRules, apply_script, chain_name, container_addresses, heal_script

    base.network(name)
    servers = {role: base.run(BASE_IMAGE, name=f"{name}-{role}", command=server_command(), network=name)
               for role in ("web", "peer")}
    keepers = {role: bare_keeper(base, network_mode=f"container:{c.id}", pid_mode=f"container:{c.id}",
                                 cap_add=["NET_ADMIN"]) for role, c in servers.items()}
    address = {role: container_addresses(base.client, c.id) for role, c in servers.items()}
    chain = chain_name(name, "bare")
    apply = {keepers[a]: apply_script(chain, ChainRules(address[b], address[b])) for a, b in (("web", "peer"),
                                                                                            ("peer", "web"))}
    heal = {k: heal_script(chain) for k in keepers.values()}

    def together(scripts):
        failures = keeper.run_together(scripts)
        if failures:
            raise RuntimeError(f"bare partition: {list(failures.values())[0]}")
    return lambda: together(apply), lambda: together(heal)


def bare_clock(base: Baseline, name: str):
    """The timestamp file rewritten as the clock's keeper rewrites it (a tmpfs here: no volume to remove)."""
    from chaos.faults import keeper
    from chaos.faults.clock import KEEPER_DIR, timestamp_text, write_script

    writer = bare_keeper(base, name=f"{name}-keeper", network_mode="none", tmpfs={KEEPER_DIR: ""})
    path = f"{KEEPER_DIR}/web.ts"
    return (lambda: writer.run(keeper.Script(write_script(path, timestamp_text(30.0)))),
            lambda: writer.run(keeper.Script(write_script(path, timestamp_text(0.0)))))


def bare_family(settings: Settings, family: str, count: int) -> dict:
    load_before = load_average()
    period, duration = 0.2, 0.08
    with Baseline(settings) as base:
        inject, revert = bare_actions(settings, base, family)
        zero = time.monotonic() + 0.2
        injected, reverted = [], []
        for k in range(count):
            for due, action, out in ((zero + k * period, inject, injected),
                                     (zero + k * period + duration, revert, reverted)):
                time.sleep(max(0.0, due - time.monotonic()))
                action()
                out.append(time.monotonic() - due)
    return {"injected": injected, "reverted": reverted, "load": (load_before, load_average())}


def _ms(values: list[float]) -> str:
    return (f"p50 {percentile(values, 50) * 1000:.1f} ms, p99 {percentile(values, 99) * 1000:.1f} ms, "
            f"max {max(values) * 1000:.1f} ms (n={len(values)})")


def run(settings: Settings) -> Result:
    started = time.monotonic()
    default = settings.pick(200, 40)
    figures, notes, ratios, run_ids, missed = {}, [], {}, [], []
    for family in FAMILIES:
        if settings.families and family.name not in settings.families:
            continue
        count = settings.pick(*family.counts) if family.counts else default
        try:
            measured = harness_family(settings, family, count)
        except Exception as exc:  # noqa: BLE001 - one family that cannot run must not hide the others
            notes.append(f"{family.name}: not measured: {str(exc).splitlines()[0][:300]}")
            if family.targeted:
                missed.append(f"{family.name} (not measured)")
            continue
        run_ids.append(measured["run_id"])
        label = f"{family.name} ({family.fault['type']} x{count}, every {family.period:g}s)"
        figures[f"{label} inject began"] = with_load(_ms(measured["ledgered"]), measured["load"])
        figures[f"{family.name} inject in effect"] = _ms(measured["injected"])
        if measured["revert_began"]:
            figures[f"{family.name} revert began"] = _ms(measured["revert_began"])
        if family.judged_revert == "revert_undone":
            figures[f"{family.name} revert undone (unpaused)"] = _ms(measured["revert_undone"])
            figures[f"{family.name} healthy again (its own figure: the container's healthcheck)"] = \
                _ms(measured["reverted"])
        else:
            figures[f"{family.name} revert done"] = _ms(measured["reverted"])
        p99 = max(percentile(measured["injected"], 99), percentile(measured[family.judged_revert], 99)) * 1000
        if family.targeted and p99 > TARGET_MS:
            missed.append(f"{family.name} p99 {p99:.1f} ms ({p99 - TARGET_MS:+.1f} ms over {TARGET_MS:g} ms)")
        if family.baseline:
            bare = bare_family(settings, family.baseline, count)
            figures[f"{family.name} bare loop inject"] = with_load(_ms(bare["injected"]), bare["load"])
            figures[f"{family.name} bare loop revert"] = _ms(bare["reverted"])
            for what in ("injected", "reverted"):
                ratios[f"{family.name} {what[:-2]}"] = (percentile(measured[what], 99)
                                                         / max(percentile(bare[what], 99), 1e-4))
    figures["p99 ratios vs bare loop"] = ", ".join(f"{k} {v:.2f}" for k, v in ratios.items())
    notes.append("lateness = journal time - scheduled time; 'in effect'/'done' = the action returned")
    notes.append("harness runs carry steady load (10 users through the edge link); the bare loops run without")
    notes.append("target: p99 of 'in effect' and of 'revert done' ('revert undone' where each revert then waits "
                 "for the container's own healthcheck: the unpause returned, as 'revert done' of the container without)")
    if missed:
        notes.append("missed: " + "; ".join(missed))
    ratio = max(ratios.values()) if ratios else None
    result = Result("fault_timing", f"Fault timing: lateness of {default} faults per family", ratio,
                    "worst p99 lateness harness / bare loop (link, container, resources, partition, clock)",
                    f"p99 <= {TARGET_MS:g} ms (every family but resources)", not missed, figures, notes)
    result.run_ids = run_ids
    result.seconds = time.monotonic() - started
    return result
