"""The journal: the append-only record of one run (events, fault ledger, verdicts), one JSON per line."""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

from chaos.plan import scrub

SCHEMA_VERSION = 1
# Written to disk (fsync) before the side effect happens, so `chaos clean` can find it after SIGKILL.
DURABLE = {"fault_ledgered", "link_created", "target_started", "run_started"}


class Journal:
    def __init__(self, path: Path, secret_values: list[str] | None = None):
        self.path = path
        self.secret_values = list(secret_values or [])
        self._lock = threading.Lock()
        self._seq = 0
        self._handle = open(path, "a", encoding="utf-8")

    def append(self, event: str, **fields) -> dict:
        with self._lock:
            self._seq += 1
            record = {"v": SCHEMA_VERSION, "seq": self._seq, "wall": time.time(), "mono": time.monotonic(),
                      "event": event, **fields}
            line = scrub(json.dumps(record, default=str), self.secret_values)
            self._handle.write(line + "\n")
            self._handle.flush()
            if event in DURABLE:
                os.fsync(self._handle.fileno())
            return record

    def close(self) -> None:
        with self._lock:
            self._handle.close()


def read_journal(path: Path) -> list[dict]:
    events = []
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            line = line.strip()
            if line:
                try:
                    events.append(json.loads(line))
                except json.JSONDecodeError:
                    break  # a torn last line after a crash: everything before it stands
    return events
