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
                    continue  # a line torn by a crash (`chaos clean` may append after it): skip it
    return events
