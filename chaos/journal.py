"""The journal: the append-only record of one run (events, fault ledger, verdicts), one JSON per line."""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

from chaos.errors import EnvironmentProblem
from chaos.plan import scrub

SCHEMA_VERSION = 1
# Written to disk (fsync) before the side effect happens, so `chaos clean` can find it after SIGKILL.
DURABLE = {"fault_ledgered", "link_created", "target_started", "run_started"}


class Journal:
    """A write that fails (a full disk) is kept in ``failed`` and every later line is dropped: the run ends on
    it (the runner checks), but its teardown still reverts and removes everything, journal or not. Only a
    ``DURABLE`` event raises: no side effect may happen that the journal could not record first."""

    def __init__(self, path: Path, secret_values: list[str] | None = None):
        self.path = path
        self.secret_values = list(secret_values or [])
        self.failed: OSError | None = None
        self._lock = threading.Lock()
        # Reopened (by `chaos clean`), it goes on numbering where the run left off.
        self._seq = max((e.get("seq", 0) for e in read_journal(path)), default=0) if path.exists() else 0
        self._handle = open(path, "a", encoding="utf-8")
        if self._seq and not path.read_bytes().endswith(b"\n"):
            self._handle.write("\n")  # end a line torn by a crash, so it stays one unreadable line, not two

    def append(self, event: str, **fields) -> dict:
        with self._lock:
            self._seq += 1
            record = {"v": SCHEMA_VERSION, "seq": self._seq, "wall": time.time(), "mono": time.monotonic(),
                      "event": event, **fields}
            line = scrub(json.dumps(record, default=str), self.secret_values)
            if self.failed is None:
                try:
                    self._handle.write(line + "\n")
                    self._handle.flush()
                    if event in DURABLE:
                        os.fsync(self._handle.fileno())
                except OSError as exc:
                    self.failed = exc
            if self.failed is not None and event in DURABLE:
                raise EnvironmentProblem(f"{self.failure()}: {event} not recorded, so not done")
            return record

    def failure(self) -> str:
        """One line on why the journal stopped being written (``failed`` is set)."""
        return f"{self.path} could not be written ({self.failed.strerror or self.failed})"

    def close(self) -> None:
        with self._lock:
            try:
                self._handle.close()
            except OSError as exc:  # what was still buffered could not be written either
                self.failed = self.failed or exc


def read_journal(path: Path) -> list[dict]:
    events = []
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            line = line.strip()
            if line:
                try:
                    events.append(json.loads(line))
                except json.JSONDecodeError:
                    continue  # a line torn by a crash (`chaos clean` may append after it): skip it
    return events
