"""Link faults through the link's own Toxiproxy server: every toxic it offers, and ``down``."""

from __future__ import annotations

from dataclasses import dataclass

from chaos.faults import FaultAdapter, Gone
from chaos.links import Link
from chaos.plan import FaultPlan
from chaos.toxiproxy import TOXIPROXY_API_PORT, Toxic, ToxiproxyClient


def build(plan: FaultPlan, system) -> "LinkFault":
    proxy = system.proxies[plan.target]
    return LinkFault(plan, proxy.client, proxy.link.proxy_name)


def from_ledger(plan: FaultPlan, client, run_id: str) -> LinkFault | Gone:
    """For `chaos clean`: the link's Toxiproxy container of that run, found by label, if it is still there."""
    containers = client.containers.list(filters={"label": [f"chaos.run={run_id}", f"chaos.link={plan.target}"]})
    if not containers:
        return Gone(plan)  # the proxy, and the fault in it, went with its container
    bindings = containers[0].attrs["NetworkSettings"]["Ports"].get(f"{TOXIPROXY_API_PORT}/tcp") or []
    port = next(int(b["HostPort"]) for b in bindings if b.get("HostPort"))
    proxy = Link.parse(plan.target).proxy_name
    return LinkFault(plan, ToxiproxyClient(f"http://127.0.0.1:{port}"), proxy)


@dataclass
class LinkFault(FaultAdapter):
    plan: FaultPlan
    client: ToxiproxyClient
    proxy: str

    def toxics(self, change: dict | None = None) -> list[Toxic]:
        params = {**self.plan.params, **(change or {})}
        stream, toxicity = params.pop("stream"), params.pop("toxicity")  # the rest are toxic attributes
        streams = ("upstream", "downstream") if stream == "both" else (stream,)
        return [Toxic(f"chaos-{self.plan.id}-{s}", self.plan.kind, s, toxicity, params) for s in streams]

    def inject(self) -> None:
        if self.plan.kind == "down":
            self.client.set_enabled(self.proxy, False)
            return
        for toxic in self.toxics():
            self.client.add_or_update_toxic(self.proxy, toxic)

    def update(self, change: dict) -> None:
        """A ramp step: the toxic's attributes changed in place (PATCH), the connections it holds stay."""
        for toxic in self.toxics(change):
            self.client.add_or_update_toxic(self.proxy, toxic)

    def revert(self) -> None:
        if self.plan.kind == "down":
            self.client.set_enabled(self.proxy, True)
            return
        for toxic in self.toxics():
            self.client.remove_toxic(self.proxy, toxic.name)
