"""Fault families, and the one contract between them and whoever drives a fault: the runner, the
pytest fixture (``testkit``) and ``chaos clean`` (``ledger``). Each family's adapter subclasses
``FaultAdapter``; its callers call the members below directly, never probing for one.

Each module has ``build(plan, system)`` and ``from_ledger(plan, client, run_id)``, the latter
rebuilding an adapter that can revert from a ledger entry alone (`chaos clean` after the harness
was killed).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from chaos.plan import FaultPlan


class FaultAdapter:
    """One planned fault on a running system. ``inject()`` and ``revert()`` are idempotent; the caller
    writes ``prepare()``'s params to the fault ledger before ``inject()`` is called.

    Call order: ``prepare()``, ``inject()``, any number of ``update(change)``, ``revert()``; an adapter
    rebuilt by ``from_ledger`` is only ever reverted."""

    plan: FaultPlan

    # Monotonic seconds at which the fault acted, set by an ``inject()`` whose fault acts before the call
    # returns (a signal); the runner journals it with ``fault_injected``. None: in effect once inject returned.
    in_effect_at: float | None = None

    # Whether ``revert()`` waits for the targets to be healthy again. A family that waits declares it True;
    # the runner clears it when the system is removed right after (nobody waits on its health then).
    wait_healthy: bool = False

    @property
    def id(self) -> str:
        return self.plan.id

    def prepare(self) -> dict:
        """Decide what the fault hits and read what its revert must restore; returns the ledger's params.
        By default nothing is decided at run time: the plan's params are the ledger's."""
        return self.plan.params

    def inject(self) -> None:
        raise NotImplementedError(f"{type(self).__name__} cannot inject")

    def update(self, change: dict) -> None:
        """Apply a timeline update (a ramp step, a crash loop's beat, a drift's next offset). Only faults
        whose plan has updates get one."""
        raise NotImplementedError(f"{self.plan.family} fault {self.plan.kind} does not change while active")

    def revert(self) -> dict | None:
        """Undo the fault. May return facts for the journal's ``fault_reverted`` (e.g. ``ready_s``)."""
        raise NotImplementedError(f"{type(self).__name__} cannot revert")


@dataclass
class Gone(FaultAdapter):
    """For `chaos clean`: what held the fault went with the run (a link's Toxiproxy container, a clock
    keeper), and the fault with it: reverting is a no-op."""

    plan: FaultPlan

    def revert(self) -> None:
        return None


def build(plan, system) -> FaultAdapter:
    """The adapter for one planned fault, from the module of its family (``chaos.faults.<family>``)."""
    from importlib import import_module

    return import_module(f"chaos.faults.{plan.family}").build(plan, system)


def from_ledger(plan, client, run_id: str) -> FaultAdapter:
    """An adapter rebuilt from a ``fault_ledgered`` entry (``plan.params`` are the ledger's params)."""
    from importlib import import_module

    return import_module(f"chaos.faults.{plan.family}").from_ledger(plan, client, run_id)
