"""The labels on everything the harness creates on the engine (containers, networks, volumes, images):
that the harness manages it, which run and experiment it belongs to, its role, and the lease of the
process that owns it, so that `chaos clean` removes only what a run that is gone left behind.

Its own module because the system and the fault families both label what they create, and the
system also holds a fault family's volume (the clock's): neither may import the other for these."""

from __future__ import annotations

from typing import TYPE_CHECKING

from chaos.ledger import lease

if TYPE_CHECKING:
    from chaos.plan import Plan

MANAGED = "chaos.managed"
RUN = "chaos.run"
EXPERIMENT = "chaos.experiment"
ROLE = "chaos.role"
LEASE = "chaos.lease"  # host/pid/start of the process that owns it: `chaos clean` leaves it while that one lives


def run_labels(plan: Plan, role: str) -> dict[str, str]:
    return {MANAGED: "true", RUN: plan.run_id, EXPERIMENT: plan.experiment, ROLE: role, LEASE: lease()}
