"""Fault families. Each fault has idempotent ``inject()`` and ``revert()``; the runner writes it to
the fault ledger before ``inject()`` is called."""

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
