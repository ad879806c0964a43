"""Fault families. Each fault has idempotent ``inject()`` and ``revert()``; the runner writes it to
the fault ledger before ``inject()`` is called.

Optional, per family: ``prepare() -> dict`` decides what the fault hits and reads what its revert must
restore, and returns the ledger's params; ``update(change)`` applies a timeline update (a ramp step);
``revert()`` may return a dict of facts for the journal; an adapter whose fault acts before ``inject()``
returns (a signal) sets ``in_effect_at`` (monotonic seconds), which the runner journals with
``fault_injected``. Each module has ``build(plan, system)`` and
``from_ledger(plan, client, run_id)``, the latter rebuilding an adapter that can revert from a ledger
entry alone (`chaos clean` after the harness was killed).
"""

from __future__ import annotations

from typing import Protocol


class Fault(Protocol):
    id: str

    def inject(self) -> None: ...

    def revert(self) -> None: ...


def build(plan, system) -> Fault:
    """The adapter for one planned fault, from the module of its family (``chaos.faults.<family>``)."""
    from importlib import import_module

    return import_module(f"chaos.faults.{plan.family}").build(plan, system)


def from_ledger(plan, client, run_id: str) -> Fault:
    """An adapter rebuilt from a ``fault_ledgered`` entry (``plan.params`` are the ledger's params)."""
    from importlib import import_module

    return import_module(f"chaos.faults.{plan.family}").from_ledger(plan, client, run_id)
