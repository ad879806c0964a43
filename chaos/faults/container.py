"""Container faults on the run's own targets: kill (any signal), stop, restart, pause, crash_loop.

Every revert leaves the chosen containers running (unpaused for ``pause``) and, when they have a
healthcheck, waits until they are healthy again, so the recovery phase starts from a system that
is back. The chosen containers are in the ledger (``prepare``), so ``chaos clean`` can revert
after the harness was killed. Slow calls (a graceful ``stop`` or ``restart`` can take the whole grace
period; a crash loop's comeback takes a start) run in a thread per container and never hold up the
timeline; a revert waits for them, then for the container's health (bounded by its healthcheck).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

import docker
import docker.errors

from chaos.errors import EnvironmentProblem
from chaos.faults import FaultAdapter
from chaos.faults.gate import GATE
from chaos.faults.targets import select
from chaos.plan import FaultPlan

POLL = 0.05
SIGNAL_SETTLE = 2.0  # a process still up this long after its signal (at revert time) took it and lived
EXIT_WAIT = 5.0  # crash loop: how long a killed container may take to exit before it is started again
RUNNING_WAIT = 15.0
HEALTH_WAIT_MAX = 60.0
STARTABLE = ("created", "exited")


def build(plan: FaultPlan, system) -> ContainerFault:
    return ContainerFault(plan, system.client, system.instances(), system.plan.seed)


def from_ledger(plan: FaultPlan, client: docker.DockerClient, run_id: str) -> ContainerFault:
    """For `chaos clean`: the containers are the ledger's own; reverting just brings them back, no health wait
    (the label-based removal follows)."""
    return ContainerFault(plan, client, {}, 0, wait_healthy=False, chosen=list(plan.params.get("containers") or []))


@dataclass
class ContainerFault(FaultAdapter):
    plan: FaultPlan
    client: docker.DockerClient
    candidates: dict[str, str]  # service -> container id: the run's targets and nothing else
    seed: int
    wait_healthy: bool = True
    chosen: list[dict] | None = None  # [{"service", "id"}]: decided once, in prepare(), written to the ledger
    _slow: dict[str, threading.Thread] = field(default_factory=dict)  # container id -> a slow call in flight
    _signalled: dict[str, str] = field(default_factory=dict)  # container id -> StartedAt when it was signalled

    def prepare(self) -> dict:
        """Choose the containers, and note which process each runs, so that a revert (even `chaos clean`'s) can
        tell the process the fault signalled from one started since."""
        if self.chosen is None:
            chosen = select(self.plan, self.client, self.candidates, self.seed)
            if self.plan.kind != "pause":  # a pause signals nothing: no process to tell apart at revert
                for entry in chosen:
                    entry["started_at"] = self.client.containers.get(entry["id"]).attrs["State"]["StartedAt"]
            self.chosen = chosen
        return {**self.plan.params, "containers": self.chosen}

    # ---- inject ----------------------------------------------------------------------------

    def inject(self) -> None:
        self.prepare()
        kind, params = self.plan.kind, self.plan.params
        # a signal acts the moment the engine sends it, well before its call returns: the fault is in effect
        # from here (the runner journals it, so the fault phase is judged from when the system was hit)
        self.in_effect_at = time.monotonic()
        if kind == "pause":
            self._pause_all()
            return
        for container in self._containers():
            if kind in ("kill", "crash_loop"):
                self._kill(container, params["signal"])
                if kind == "crash_loop" and params["down"] == 0:
                    self._in_background(container, lambda c=container: self._start_after_exit(c))
            elif kind == "stop":
                self._in_background(container, lambda c=container: c.stop(timeout=round(params["grace"])))
            elif kind == "restart":
                self._in_background(container, lambda c=container: c.restart(timeout=round(params["grace"])))
            else:
                raise ValueError(f"unknown container fault {kind!r}")

    def update(self, change: dict) -> None:
        """A crash loop's next kill (``{"kill": n}``) or its comeback after ``down`` (``{"start": n}``)."""
        for container in self._containers():
            self._join(container.id, EXIT_WAIT)  # the previous comeback, long done at a beat of a second or more
            if "kill" in change:
                self._kill(container, self.plan.params["signal"])
            if "start" in change or ("kill" in change and self.plan.params["down"] == 0):
                self._in_background(container, lambda c=container: self._start_after_exit(c))

    # ---- revert ----------------------------------------------------------------------------

    def revert(self) -> dict | None:
        """Idempotent. Returns for the journal how long the containers took to be back (``ready_s``), how long
        the undo itself took (``undone_s``: unpaused, or started; before the wait for running and healthy),
        and ``not_healthy`` when one runs but did not become healthy in time."""
        if self.chosen is None:
            return None  # never prepared, so never injected
        started = time.monotonic()
        for container_id in list(self._slow):
            self._join(container_id, self.plan.params.get("grace", 0) + 30.0)
        undone = None
        if self.plan.kind == "pause":
            self._unpause_all()
            undone = time.monotonic()
        containers = self._containers()
        for container in containers:
            if self.plan.kind != "pause":
                self._settle(container, self._signalled.get(container.id) or self._started_at(container.id))
                if _status(container) in STARTABLE:
                    container.start()
        undone = undone or time.monotonic()
        deadline = time.monotonic() + max((_health_budget(c.attrs["Config"].get("Healthcheck") or {})
                                            for c in containers), default=0.0)
        unhealthy = [c.labels.get("chaos.service", c.name) for c in containers if not self._ready(c, deadline)]
        outcome = {"ready_s": round(time.monotonic() - started, 3), "undone_s": round(undone - started, 3)}
        return {**outcome, "not_healthy": unhealthy} if unhealthy else outcome

    # ---- steps -----------------------------------------------------------------------------

    def _pause_all(self) -> None:
        """One engine call per container, as pause and unpause are on the timeline's critical path. The engine
        refuses a pause of a paused container and an unpause of a running one (with codes that differ between
        the two): only then is the state looked at, so both stay idempotent."""
        for chosen in self.chosen or []:
            with GATE.freezing(chosen["id"], f"paused by fault {self.plan.id}"):  # never while an exec starts
                self._paused_or_not(chosen["id"], self.client.api.pause, wanted=True)

    def _unpause_all(self) -> None:
        for chosen in self.chosen or []:
            self._paused_or_not(chosen["id"], self.client.api.unpause, wanted=False)
            GATE.thawed(chosen["id"])

    def _paused_or_not(self, container_id: str, call, wanted: bool) -> None:
        try:
            call(container_id)
        except docker.errors.NotFound:
            if wanted:
                raise
            # removed already (e.g. `chaos clean` after teardown got that far): nothing to revert
        except docker.errors.APIError as exc:
            state = self.client.api.inspect_container(container_id)["State"]
            if bool(state.get("Paused")) == wanted:
                return
            if not wanted:  # the engine marks it paused and its runtime will not resume it: say so, by name
                raise EnvironmentProblem(
                    f"unpause of container {container_id[:12]} failed: the engine still marks it paused but its "
                    f"runtime refused to resume it ({exc.explanation or exc}); its state disagrees with the "
                    f"runtime's: `docker restart {container_id[:12]}` (or restart the engine)") from exc
            raise

    def _containers(self) -> list:
        found = []
        for chosen in self.chosen or []:
            try:
                found.append(self.client.containers.get(chosen["id"]))
            except docker.errors.NotFound:
                pass  # removed already (e.g. `chaos clean` after teardown got that far): nothing to revert
        return found

    def _kill(self, container, signal: str) -> None:
        container.reload()
        if container.attrs["State"]["Status"] != "running":
            return  # already down: killing twice is the same fault
        self._signalled[container.id] = container.attrs["State"]["StartedAt"]
        try:
            container.kill(signal=signal)
        except docker.errors.APIError as exc:
            if exc.status_code != 409:  # 409: it stopped in between
                raise

    def _in_background(self, container, action) -> None:
        """Slow Docker calls (a graceful stop, a start after a crash) run off the timeline, one at a time per
        container; the next step on that container, and the revert, wait for them first."""
        self._join(container.id, EXIT_WAIT)

        def run() -> None:
            try:
                action()
            except docker.errors.APIError:
                pass  # the revert looks at the container's state, whatever happened here

        thread = threading.Thread(target=run, name=f"chaos-{self.plan.kind}-{container.short_id}", daemon=True)
        self._slow[container.id] = thread
        thread.start()

    def _join(self, container_id: str, timeout: float) -> None:
        thread = self._slow.get(container_id)
        if thread is not None:
            thread.join(timeout)
            if not thread.is_alive():
                del self._slow[container_id]

    def _started_at(self, container_id: str) -> str | None:
        return next((c.get("started_at") for c in self.chosen or [] if c["id"] == container_id), None)

    def _settle(self, container, started_at: str | None) -> None:
        """After a kill with a catchable signal (or a graceful stop that `chaos clean` cannot join) the process
        may still be on its way out: starting it before it is gone would do nothing, and then it would stay
        down. A process still up after its grace and a little more took the signal and lived."""
        deadline = time.monotonic() + SIGNAL_SETTLE + self.plan.params.get("grace", 0)
        while started_at and time.monotonic() < deadline:
            container.reload()
            state = container.attrs["State"]
            if state["Status"] != "running" or state["StartedAt"] != started_at:
                return
            time.sleep(POLL)

    def _start_after_exit(self, container) -> None:
        deadline = time.monotonic() + EXIT_WAIT
        while _status(container) in ("running", "restarting") and time.monotonic() < deadline:
            time.sleep(POLL)
        if _status(container) in STARTABLE:
            container.start()

    def _ready(self, container, health_deadline: float) -> bool:
        """Running, and healthy when it has a healthcheck (unless this revert does not wait for health).
        An "unhealthy" container may still come back (a paused one fails its checks): wait to the deadline."""
        deadline = time.monotonic() + RUNNING_WAIT
        while container.attrs["State"]["Status"] != "running" and _status(container) != "running":
            if time.monotonic() > deadline or container.attrs["State"]["Status"] in ("exited", "dead"):
                return False
            time.sleep(POLL)
        if not self.wait_healthy or "Health" not in container.attrs["State"]:
            return True
        while container.attrs["State"].get("Health", {}).get("Status") != "healthy":
            if time.monotonic() > health_deadline or container.attrs["State"]["Status"] != "running":
                return False
            time.sleep(POLL * 4)
            container.reload()
        return True


def _status(container) -> str:
    container.reload()
    return container.attrs["State"]["Status"]


def _health_budget(healthcheck: dict) -> float:
    """How long the container's own healthcheck may take to call it healthy, capped."""
    seconds = lambda key, default: (healthcheck.get(key) or default) / 1e9  # noqa: E731 - Docker gives ns
    retries = healthcheck.get("Retries") or 3
    budget = seconds("StartPeriod", 0) + (seconds("Interval", 30e9) + seconds("Timeout", 30e9)) * (retries + 1)
    return min(HEALTH_WAIT_MAX, budget)
