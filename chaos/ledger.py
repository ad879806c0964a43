"""The fault ledger after the harness is gone: which runs are active, and how `chaos clean` reverts what a
killed run left injected.

Every run registers a small state file, ``${XDG_STATE_HOME:-~/.local/state}/chaos/runs/<run id>.json``,
pointing at its run dir, and removes it when it ends with no fault left active. `chaos clean` reads
the journal of every registered run whose harness is gone, and reverts each ``fault_ledgered`` that
has no ``fault_reverted``, newest first, with the adapter its family rebuilds from the ledger entry
alone; each revert is journaled as ``fault_reverted`` with reason ``clean``. Reverts are idempotent,
so running `chaos clean` twice, or after a partial teardown, is safe. Label-based removal follows.
A run whose journal has a line that cannot be read is never forgotten: that line may be a fault still
injected. Its readable faults are reverted, and it stays registered, named with the file and line.
"""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path

from chaos import faults as fault_families
from chaos.journal import Journal, read_journal_lines
from chaos.plan import FaultPlan

JOURNAL = "journal.jsonl"


def state_dir() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "chaos" / "runs"


def register(run_id: str, run_dir: Path | None, system_run_id: str | None = None, what: str = "run") -> Path:
    """Written before anything is started (atomically: a reader never sees half a file). ``run_dir`` None: an
    owner with no journal of its own (a pytest pool's system: its faults are in each test's run dir), registered
    so that `chaos clean` leaves its containers alone while its owner lives. ``what`` names the owner to people."""
    folder = state_dir()
    folder.mkdir(parents=True, exist_ok=True)
    entry = {"run_id": run_id, "run_dir": str(Path(run_dir).resolve()) if run_dir else None, "pid": os.getpid(),
             "pid_started": _process_start(os.getpid()), "registered": time.time(), "what": what}
    if system_run_id:
        entry["system_run_id"] = system_run_id  # the run id its containers carry (a game day's system)
    path = folder / f"{run_id}.json"
    partial = folder / f".{run_id}.json.{os.getpid()}"
    partial.write_text(json.dumps(entry) + "\n")
    partial.replace(path)
    return path


def unregister(run_id: str) -> None:
    (state_dir() / f"{run_id}.json").unlink(missing_ok=True)


def registered() -> list[dict]:
    folder = state_dir()
    entries = []
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            entries.append(json.loads(path.read_text()))
        except (OSError, ValueError):
            continue  # not ours, or being replaced
    return entries


def owner_alive(entry: dict) -> bool:
    """The harness process of that run still exists (the same process, not a later one with its pid)."""
    pid = entry.get("pid")
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, owned by someone else
    started = _process_start(pid)
    return started is None or entry.get("pid_started") in (None, started)


def unreverted(events: list[dict]) -> list[dict]:
    """Ledger entries with no revert after them, in ledger order. One with no ``fault_injected`` counts: the
    harness may have died inside ``inject()``. A rehearsal's entries never touched anything."""
    open_faults: dict[str, dict] = {}
    for event in events:
        if event.get("event") == "fault_ledgered" and not event.get("rehearsed"):
            open_faults[event["fault_id"]] = event
        elif event.get("event") == "fault_reverted":
            open_faults.pop(event.get("fault_id"), None)
    return list(open_faults.values())


def replay(run_dir: Path, run_id: str, client) -> tuple[list[str], bool]:
    """Revert every fault the run's journal leaves injected. Returns (messages, all reverted)."""
    path = Path(run_dir) / JOURNAL
    if not path.is_file():
        return [f"run {run_id}: no journal at {path}: no faults to revert from it"], True
    events, unreadable = read_journal_lines(path)
    messages, complete = [], True
    if unreadable:
        complete = False
        messages.append(f"run {run_id}: {path}:{unreadable[0]}: unreadable journal line (a fault it recorded may "
                        f"still be active): the run stays registered; repair or delete that line, then "
                        f"`chaos clean --run {run_id}`")
    pending = unreverted(events)
    if not pending:
        return messages, complete
    journal = Journal(path)
    try:
        for entry in reversed(pending):  # newest first, as the runner's teardown does
            plan = plan_from_ledger(entry)
            try:
                outcome = fault_families.from_ledger(plan, client, run_id).revert() or {}
            except Exception as exc:  # noqa: BLE001 - the next fault must still be reverted; this one is kept
                complete = False
                journal.append("clean_error", fault_id=plan.id, error=f"{exc.__class__.__name__}: {exc}")
                messages.append(f"run {run_id}: could not revert {plan.id} ({plan.kind} on {plan.target}): {exc}")
                continue
            journal.append("fault_reverted", fault_id=plan.id, reason="clean", **outcome)
            messages.append(f"reverted {plan.id} ({plan.kind} on {plan.target}) of run {run_id}")
    finally:
        journal.close()
    return messages, complete


def plan_from_ledger(entry: dict) -> FaultPlan:
    return FaultPlan(id=entry["fault_id"], name=entry["fault_id"], kind=entry["kind"],
                     family=entry.get("family") or "link", target=entry.get("target") or "",
                     params=entry.get("params") or {}, at=0.0, duration=0.0)


def clean(client, run_id: str | None = None, include_live: bool = False) -> list[str]:
    """Replay the ledger of each registered run whose harness is gone (only ``run_id``'s when given).
    ``include_live``: also runs whose harness is still running (it reverts again at its end: reverts are
    idempotent); otherwise each of those is named as skipped, with why."""
    messages = []
    for entry in registered():
        if run_id and entry.get("run_id") != run_id:
            continue
        alive = owner_alive(entry)
        if alive and not include_live:
            messages.append(f"{describe(entry)} is still running: skipped, its owner reverts its own faults and "
                            f"removes its own system (`chaos clean --all --run {entry['run_id']}` cleans it anyway)")
            continue
        complete = True
        if entry.get("run_dir"):  # a game day's step runs on the day's system: its containers carry the day's run id
            more, complete = replay(Path(entry["run_dir"]), entry.get("system_run_id") or entry["run_id"], client)
            messages += more
        if complete and not alive:  # a live run may inject more yet: it stays registered until it ends
            unregister(entry["run_id"])
    return messages


def describe(entry: dict) -> str:
    """``run ID (pid N)``, or ``game day ID (pid N)``, ``pytest system ID (pid N)``."""
    return f"{entry.get('what') or 'run'} {entry['run_id']} (pid {entry.get('pid')})"


def live_entries() -> list[dict]:
    return [entry for entry in registered() if owner_alive(entry)]


def lease() -> str:
    """This process as the owner of what it creates: host/pid/start (a label value)."""
    return f"{socket.gethostname()}/{os.getpid()}/{_process_start(os.getpid()) or ''}"


def lease_state(value: str) -> str:
    """``alive`` or ``gone`` for a process of this host; ``unknown`` for another host's, or no lease at all."""
    host, _, rest = (value or "").partition("/")
    pid, _, started = rest.partition("/")
    if host != socket.gethostname() or not pid.isdigit():
        return "unknown"
    return "alive" if owner_alive({"pid": int(pid), "pid_started": started or None}) else "gone"


def gone_runs() -> set[str]:
    """Registered runs whose owner has ended (and the systems they ran on)."""
    return {found for entry in registered() if not owner_alive(entry)
            for found in (entry["run_id"], entry.get("system_run_id")) if found}


def removable(run_leases: dict[str, set[str]], gone: set[str], live: frozenset[str], run_id: str | None,
              include_live: bool) -> tuple[list[str], list[str]]:
    """Which runs `chaos clean` removes, and a line for each it leaves. Named (``run_id``): removed unless its
    owner is alive (``include_live``: even then). Unnamed: only runs whose owner is proven gone, by the ledger
    (``gone``: registered runs whose harness ended) or by the leases on all their things."""
    remove, skipped = [], []
    for found, values in sorted(run_leases.items()):
        states = {lease_state(value) for value in values}
        alive = found in live or "alive" in states
        if run_id is not None:
            if found == run_id and (include_live or not alive):
                remove.append(found)
        elif not alive and (found in gone or states == {"gone"}):
            remove.append(found)
        elif not alive:
            skipped.append(f"run {found}: left, its owner cannot be proven gone (another host's, another user's or "
                           f"an older harness's): `chaos clean --run {found}` removes it")
    return remove, skipped


def live_runs() -> frozenset[str]:
    """Run ids (and the system run ids they use) whose harness process is still alive."""
    ids = set()
    for entry in live_entries():
        ids.add(entry["run_id"])
        if entry.get("system_run_id"):
            ids.add(entry["system_run_id"])
    return frozenset(ids)


def _process_start(pid: int) -> str | None:
    """Start time of a process in clock ticks since boot (Linux); None where /proc does not say."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]  # field 22; the name in parentheses may hold spaces
