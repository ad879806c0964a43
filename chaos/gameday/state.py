"""How a running game day is reached from another terminal: a state file per day, and stop requests.

A day writes ``${XDG_STATE_HOME:-~/.local/state}/chaos/gamedays/<day id>.json`` (pid, plan, its folder,
the step in progress), rewritten atomically at each change and removed at the end. `chaos gameday stop`
writes ``<day id>.stop.json`` (who asks: user, host, pid; why) and sends the day SIGTERM; the day reverts
at once and records the request as the reason it ended. `chaos gameday status` reads the state files and
the journal of the step in progress: nothing here talks to the day process but the signal.
"""

from __future__ import annotations

import getpass
import json
import os
import signal
import socket
import time
from pathlib import Path

from chaos import ledger
from chaos.journal import read_journal_lines, unreadable_notes

STOP_SUFFIX = ".stop.json"


def state_dir() -> Path:
    return ledger.state_dir().parent / "gamedays"


def whoami() -> dict:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = str(os.getuid())
    return {"user": user, "host": socket.gethostname(), "pid": os.getpid()}


def _process_start(pid: int) -> str | None:
    """Start time of a process (Linux /proc), so a later process with the same pid is not taken for the day."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def _write_atomically(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}")
    partial.write_text(json.dumps(data, default=str) + "\n")
    partial.replace(path)


def _read(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


class DayState:
    """The running day's own state file."""

    def __init__(self, day_id: str, fields: dict):
        self.path = state_dir() / f"{day_id}.json"
        self.data = {"day_id": day_id, "pid": os.getpid(), "pid_started": _process_start(os.getpid()),
                     "updated": time.time(), **fields}
        self.stop_path().unlink(missing_ok=True)  # a request left from a day with this id long ago is not ours
        _write_atomically(self.path, self.data)

    def stop_path(self) -> Path:
        return self.path.with_name(self.path.name.removesuffix(".json") + STOP_SUFFIX)

    def update(self, **fields) -> None:
        self.data.update(fields, updated=time.time())
        _write_atomically(self.path, self.data)

    def stop_request(self) -> dict | None:
        return _read(self.stop_path())

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)
        self.stop_path().unlink(missing_ok=True)


def running_days() -> list[dict]:
    """State of every day whose process is still there (stale files of killed days are skipped)."""
    folder = state_dir()
    days = []
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        if path.name.endswith(STOP_SUFFIX):
            continue
        data = _read(path)
        if data and ledger.owner_alive(data):
            days.append(data)
    return days


def request_stop(day: dict, reason: str | None) -> dict:
    """Write who asks to stop ``day`` and signal it. Returns the request."""
    request = {**whoami(), "reason": reason or "", "requested_wall": time.time()}
    path = state_dir() / f"{day['day_id']}{STOP_SUFFIX}"
    _write_atomically(path, request)
    os.kill(int(day["pid"]), signal.SIGTERM)
    return request


def step_faults(run_dir: str | Path | None) -> dict:
    """What a step's journal says now: its phase, and every fault with its ledger, inject and revert times."""
    path = Path(run_dir) / "journal.jsonl" if run_dir else None
    if path is None or not path.is_file():
        return {"phase": None, "faults": [], "unreadable": []}
    events, unreadable = read_journal_lines(path)  # a line it cannot read may hide a fault: named, not skipped
    phase = None
    faults: dict[str, dict] = {}
    for event in events:
        kind = event.get("event")
        if kind == "phase_started":
            phase = {"name": event.get("phase"), "since_wall": event.get("wall")}
        elif kind == "phase_ended" and phase and phase["name"] == event.get("phase"):
            phase = None
        elif kind == "fault_ledgered":
            faults[event["fault_id"]] = {"id": event["fault_id"], "kind": event.get("kind"),
                                         "target": event.get("target"), "rehearsed": bool(event.get("rehearsed")),
                                         "ledgered_wall": event.get("wall"), "injected_wall": None,
                                         "reverted_wall": None, "revert_reason": None}
        elif kind in ("fault_injected", "fault_rehearsed") and event.get("fault_id") in faults:
            faults[event["fault_id"]]["injected_wall"] = event.get("wall")
        elif kind == "fault_reverted" and event.get("fault_id") in faults:
            faults[event["fault_id"]].update(reverted_wall=event.get("wall"), revert_reason=event.get("reason"))
    return {"phase": phase, "faults": list(faults.values()), "unreadable": unreadable_notes(path, unreadable)}


def day_faults(day_dir: str | Path) -> list[dict]:
    """Every fault of every step so far, from the day's journal (where its steps are) and theirs."""
    journal = Path(day_dir) / "journal.jsonl"
    if not journal.is_file():
        return []
    found = []
    for event in read_journal_lines(journal)[0]:
        if event.get("event") == "step_started":
            for fault in step_faults(Path(day_dir) / event["run_dir"])["faults"]:
                found.append({**fault, "step": event.get("step"), "experiment": event.get("experiment")})
    return found
