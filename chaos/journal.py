"""The journal: the append-only record of one run (events, fault ledger, verdicts), one JSON per line."""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

from chaos.errors import EnvironmentProblem
from chaos.secrets import scrub, scrubbed_default

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
        events = read_journal_lines(path)[0] if path.exists() else []
        self._seq = max((e.get("seq", 0) for e in events), default=0)
        self._handle = open(path, "a", encoding="utf-8")
        if path.stat().st_size and not path.read_bytes().endswith(b"\n"):
            self._handle.write("\n")  # end a line torn by a crash, so it stays one unreadable line, not two

    def append(self, event: str, **fields) -> dict:
        with self._lock:
            self._seq += 1
            record = {"v": SCHEMA_VERSION, "seq": self._seq, "wall": time.time(), "mono": time.monotonic(),
                      "event": event, **fields}
            # scrubbed as values, then serialised: a secret such as `3600` never breaks the line's JSON
            line = json.dumps(scrub(record, self.secret_values), default=scrubbed_default(self.secret_values))
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


class UnreadableJournal(ValueError):
    """A journal line is not a JSON event (torn by a crash, or edited): what it held is unknown."""

    exit_code = 4

    def __init__(self, path: Path, lines: list[int]):
        self.path, self.lines = Path(path), list(lines)
        more = f" (and {len(lines) - 1} more)" if len(lines) > 1 else ""
        super().__init__(f"{path}:{lines[0]}: unreadable journal line{more}")


def parse_journal(text: str) -> tuple[list[dict], list[int]]:
    """Events (JSON objects with an ``event``) and the numbers of the lines that are not one."""
    events, unreadable = [], []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            event = json.loads(line)
        except json.JSONDecodeError:
            event = None
        if isinstance(event, dict) and "event" in event:
            events.append(event)
        else:
            unreadable.append(number)
    return events, unreadable


def read_journal_lines(path: Path) -> tuple[list[dict], list[int]]:
    return parse_journal(Path(path).read_text(encoding="utf-8", errors="replace"))


def unreadable_notes(path: Path, lines: list[int]) -> list[str]:
    """What a report says about the lines it could not read: ``journal.jsonl:17: unreadable line, skipped``."""
    return [f"{Path(path).name}:{number}: unreadable line, skipped" for number in lines]


def read_journal(path: Path) -> list[dict]:
    """Every event; raises ``UnreadableJournal`` (naming the line) rather than skip a line it cannot read:
    a skipped ``fault_ledgered`` would be a fault nobody reverts."""
    events, unreadable = read_journal_lines(path)
    if unreadable:
        raise UnreadableJournal(path, unreadable)
    return events
