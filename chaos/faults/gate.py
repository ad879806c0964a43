"""Pause must never meet an exec. Freezing a container while an exec into it is starting can leave the engine
unable to inspect or unpause it (seen with runc and the cgroup v1 freezer: "container not paused" on resume,
then inspect hanging). So, per container and per harness process: a pause waits for the execs in flight into
that container (bounded), and from the moment a pause begins until its unpause succeeded no exec starts, it is
refused with the reason instead. ``faults/container.py`` pauses through ``freezing``/``thawed``; ``probes.py``
execs through ``exec_into``.
"""

from __future__ import annotations

import threading
from contextlib import contextmanager

# An exec in flight this long is running its command, past the start a freeze must not meet: pause anyway.
EXEC_DRAIN = 10.0


class Frozen(Exception):
    """An exec was refused: the harness has paused (or is pausing) the container."""


class ContainerGate:
    def __init__(self, drain: float = EXEC_DRAIN):
        self.drain = drain
        self._changed = threading.Condition()
        self._frozen: dict[str, str] = {}  # container id -> who froze it (a fault)
        self._execs: dict[str, int] = {}  # container id -> execs in flight

    def frozen_by(self, container_id: str) -> str | None:
        with self._changed:
            return self._frozen.get(container_id)

    @contextmanager
    def exec_into(self, container_id: str):
        """Around one exec; raises Frozen (before any engine call) when the container is paused or pausing."""
        with self._changed:
            if container_id in self._frozen:
                raise Frozen(self._frozen[container_id])
            self._execs[container_id] = self._execs.get(container_id, 0) + 1
        try:
            yield
        finally:
            with self._changed:
                self._execs[container_id] -= 1
                self._changed.notify_all()

    @contextmanager
    def freezing(self, container_id: str, by: str):
        """Around one pause: no exec starts from here on, and the pause waits for the ones in flight. The mark
        stays after the block, whatever it raised (a failed pause may still have frozen): only ``thawed`` lifts it."""
        with self._changed:
            self._frozen[container_id] = by
            self._changed.wait_for(lambda: not self._execs.get(container_id), timeout=self.drain)
        yield

    def thawed(self, container_id: str) -> None:
        """The unpause succeeded (or the container is gone): execs may start again."""
        with self._changed:
            self._frozen.pop(container_id, None)


GATE = ContainerGate()  # one per process: the runner's faults and its probes share it
