"""Link faults through the link's own Toxiproxy server: every toxic it offers, and ``down``."""

from __future__ import annotations

from dataclasses import dataclass

from chaos.plan import FaultPlan
from chaos.toxiproxy import Toxic, ToxiproxyClient


def build(plan: FaultPlan, system) -> "LinkFault":
    proxy = system.proxies[plan.target]
    return LinkFault(plan, proxy.client, proxy.link.proxy_name)


@dataclass
class LinkFault:
    plan: FaultPlan
    client: ToxiproxyClient
    proxy: str

    @property
    def id(self) -> str:
        return self.plan.id

    def toxics(self) -> list[Toxic]:
        params = dict(self.plan.params)
        stream, toxicity = params.pop("stream"), params.pop("toxicity")  # the rest are toxic attributes
        streams = ("upstream", "downstream") if stream == "both" else (stream,)
        return [Toxic(f"chaos-{self.plan.id}-{s}", self.plan.kind, s, toxicity, params) for s in streams]

    def inject(self) -> None:
        if self.plan.kind == "down":
            self.client.set_enabled(self.proxy, False)
            return
        for toxic in self.toxics():
            self.client.add_or_update_toxic(self.proxy, toxic)

    def revert(self) -> None:
        if self.plan.kind == "down":
            self.client.set_enabled(self.proxy, True)
            return
        for toxic in self.toxics():
            self.client.remove_toxic(self.proxy, toxic.name)
