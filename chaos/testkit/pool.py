"""Running systems: a started (or adopted) system and the pool that starts one per spec and owner,
keeps or removes it at its owner's end, and turns SIGTERM into KeyboardInterrupt while systems run."""

from __future__ import annotations

import signal
import threading
from dataclasses import dataclass

from chaos import ledger
from chaos.errors import ChaosError, EnvironmentProblem, SpecError
from chaos.plan import Plan, make_system_plan
from chaos.testkit.system_spec import DEPENDENCIES, ResolvedSystem, SystemSpec
from chaos.testkit.usage import UsageProblem


@dataclass
class RunningSystem:
    """A started (or adopted) system: what tests and fault contexts reach it through."""

    resolved: ResolvedSystem
    system: object  # chaos.system.System
    events: list[dict]  # what starting it journaled: copied into each test's journal
    reused: bool = False

    def __repr__(self) -> str:
        return f"<system {self.name} run {self.run_id}{' (reused)' if self.reused else ''}: {', '.join(self.services)}>"

    @property
    def plan(self) -> Plan:
        return self.system.plan

    @property
    def run_id(self) -> str:
        return self.plan.run_id

    @property
    def name(self) -> str:
        return self.plan.experiment

    @property
    def services(self) -> list[str]:
        return [t.name for t in self.plan.targets]

    @property
    def links(self) -> list[str]:
        return [link.name for link in self.plan.links]

    @property
    def edge_url(self) -> str:
        if not any(link.is_edge for link in self.plan.links):
            raise UsageProblem(f"system {self.name} has no edge link, so there is nothing to drive load "
                               f"at: give SystemSpec(edge='service:port') or chaos_edge in the pytest configuration")
        return self.system.edge_url()

    def url(self, service: str, port: int | None = None) -> str:
        """``http://127.0.0.1:<host port>`` of a target port published on loopback."""
        target = next((t for t in self.plan.targets if t.name == service), None)
        if target is None:
            raise UsageProblem(f"{service!r} is not a service of {self.name} (services: {', '.join(self.services)})")
        if port is None:
            if len(target.ports) != 1:
                raise UsageProblem(f"service {service} publishes ports {target.ports}: name one")
            port = target.ports[0]
        return f"http://127.0.0.1:{self.system.published(service, port)}"

    def link(self, source: str, target: str, port: int | None = None) -> str:
        """The routed link ``source -> target[:port]``, or a UsageProblem saying how to route it."""
        if ":" in target and port is None:
            target, port_text = target.rsplit(":", 1)
            port = int(port_text)
        found = [link for link in self.plan.links if link.source == source and link.target == target
                 and (port is None or link.port == int(port))]
        if len(found) == 1:
            return found[0].name
        wanted = f"{source} -> {target}" + (f":{port}" if port is not None else "")
        if not found:
            raise UsageProblem(f"link {wanted} is not routed through Toxiproxy in system {self.name} "
                               f"(routed: {', '.join(self.links) or 'none'}); add it to SystemSpec(links=[...]) "
                               f"or chaos_links in the pytest configuration")
        raise UsageProblem(f"{wanted} matches several links ({', '.join(f.name for f in found)}): give port=")


def engine():
    from chaos.system import engine as docker_engine

    return docker_engine()


def image_exposed_ports(client):
    def exposed(image: str) -> list[int]:
        try:
            config = client.images.get(image).attrs.get("Config") or {}
        except Exception:  # noqa: BLE001 - a missing image exposes nothing; starting it will say so
            return []
        return sorted(int(key.split("/")[0]) for key, _ in (config.get("ExposedPorts") or {}).items()
                      if key.endswith("/tcp"))

    return exposed


class SystemPool:
    """Running systems, one per (spec, owner): owner ``session`` or a module's node id. Systems are
    removed when their owner ends (``release``) and at ``close``, unless kept; a reused system is
    adopted, never started nor removed."""

    def __init__(self, keep: bool = False, reuse: str | None = None, worker: str | None = None):
        self.keep, self.reuse, self.worker = keep, reuse, worker
        self.systems: dict[tuple, RunningSystem] = {}
        self.failures: dict[tuple, BaseException] = {}
        self.kept: list[RunningSystem] = []
        self._client = None
        self._previous_sigterm = None

    @property
    def client(self):
        if self._client is None:
            self._client = engine()
        return self._client

    def acquire(self, system_spec: SystemSpec, owner: str = "session") -> RunningSystem:
        key = (system_spec, owner)
        if key in self.failures:  # a system that failed to start fails every test that wants it, fast
            raise self.failures[key]
        if key not in self.systems:
            try:
                self.systems[key] = self._start(system_spec)
            except (ChaosError, SpecError) as exc:
                self.failures[key] = exc
                raise
        return self.systems[key]

    def release(self, owner: str) -> None:
        self._stop_all([k for k in self.systems if k[1] == owner])

    def close(self) -> None:
        try:
            self._stop_all(list(self.systems))
        finally:
            self._restore_sigterm()
            if self._client is not None:
                self._client.close()
                self._client = None

    def _stop_all(self, keys: list[tuple]) -> None:
        """Every system goes, even if removing an earlier one failed (that failure is raised after)."""
        errors = []
        for key in keys:
            try:
                self._stop(self.systems.pop(key))
            except Exception as exc:  # noqa: BLE001 - the others must still be removed
                errors.append(exc)
        if errors:
            raise errors[0]

    def _start(self, system_spec: SystemSpec) -> RunningSystem:
        from chaos.system import System

        resolved = system_spec.resolve(image_exposed_ports(self.client))
        name = f"{resolved.name}-{self.worker}" if self.worker else resolved.name
        events: list[dict] = []

        def record(event: str, **fields) -> None:
            events.append({"event": event, **fields})

        if self.reuse:
            plan = make_system_plan(name, resolved.services, resolved.links, http_links=resolved.http_links,
                                    run_id=self.reuse, project=resolved.project, dns=resolved.dns)
            system = System(plan, self.client, on_event=record)
            ledger.register(plan.run_id, None, what="pytest system (reused)")  # in use: `chaos clean` leaves it
            system.attach()
            return RunningSystem(resolved, system, events, reused=True)
        draft = System(make_system_plan(name, resolved.services, [], project=resolved.project), self.client,
                       on_event=record)
        missing = draft.build_missing()
        if missing:
            raise EnvironmentProblem(f"image(s) not found: {', '.join(missing)} (run `make setup`, or build them)")
        if DEPENDENCIES in system_spec.links:  # the images exist now: the ports they expose count
            resolved = system_spec.resolve(image_exposed_ports(self.client))
        plan = make_system_plan(name, resolved.services, resolved.links, http_links=resolved.http_links,
                                project=resolved.project, dns=resolved.dns)
        system = System(plan, self.client, on_event=record)
        self._install_sigterm()
        ledger.register(plan.run_id, None, what="pytest system")  # before it starts: `chaos clean` leaves it alone
        try:
            system.up()
        except BaseException:
            system.down()
            ledger.unregister(plan.run_id)
            raise
        return RunningSystem(resolved, system, events)

    def _stop(self, running: RunningSystem) -> None:
        if running.reused:
            for proxy in running.system.proxies.values():
                proxy.client.close()
        elif self.keep:
            self.kept.append(running)
        else:
            running.system.down()
        ledger.unregister(running.run_id)  # kept or reused: no owner any more (`chaos clean --run ID` removes it)

    # SIGTERM (CI cancelling a job) would kill pytest with no teardown: while systems run it
    # becomes KeyboardInterrupt, so contexts revert and fixtures remove what they started.
    def _install_sigterm(self) -> None:
        if self._previous_sigterm is None and threading.current_thread() is threading.main_thread():
            self._previous_sigterm = signal.signal(signal.SIGTERM, _sigterm_to_interrupt)

    def _restore_sigterm(self) -> None:
        if self._previous_sigterm is not None:
            signal.signal(signal.SIGTERM, self._previous_sigterm)
            self._previous_sigterm = None


def _sigterm_to_interrupt(signum, frame):
    raise KeyboardInterrupt("SIGTERM")
