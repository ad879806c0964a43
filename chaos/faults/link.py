"""Link faults through the link's own Toxiproxy server: every toxic it offers, and ``down``."""

from __future__ import annotations

from dataclasses import dataclass

from chaos.plan import FaultPlan
from chaos.toxiproxy import Toxic, ToxiproxyClient


@dataclass
class LinkFault:
    plan: FaultPlan
    client: ToxiproxyClient
    proxy: str

    @property
    def id(self) -> str:
        return self.plan.id

    def toxics(self) -> list[Toxic]:
        streams = ("upstream", "downstream") if self.plan.stream == "both" else (self.plan.stream,)
        return [Toxic(f"chaos-{self.plan.id}-{stream}", self.plan.kind, stream, self.plan.toxicity,
                      dict(self.plan.attributes)) for stream in streams]

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
