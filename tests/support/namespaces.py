"""A target's network namespace as a test sees it: its iptables rules, read by a one-shot helper."""

from __future__ import annotations

from chaos.faults.keeper import Script
from chaos.images import HELPER_IMAGE


def settle(system) -> None:
    """A heal answers once nothing is dropped, and its keeper deletes the emptied chain right after: a request
    to each keeper waits for that."""
    for held in system.namespace_keepers.values():
        if held.keeper.usable:
            held.keeper.run(Script("true"))


def chains_in(system, service: str) -> str:
    """`iptables -S` inside the service's namespace, as a one-shot helper sees it, once the keepers are done."""
    settle(system)
    return system.client.containers.run(
        HELPER_IMAGE, ["iptables", "-w", "5", "-S"], remove=True, network_mode=f"container:{system.containers[service]}",
        cap_add=["NET_ADMIN"], labels={"chaos.managed": "true", "chaos.run": system.plan.run_id}).decode()
