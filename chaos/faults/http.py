"""http faults through the link's own mitmproxy: inject sets the fault's rule, revert removes it; both are
idempotent. On revert the requests the rule touched are fetched into the run dir (``faults/http-<id>.jsonl``)
and counted per route for the journal and the report."""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from chaos.atomic import written_atomically
from chaos.faults import FaultAdapter, Gone
from chaos.httpproxy.client import HttpProxyClient
from chaos.httpproxy.rules import Rule
from chaos.images import HTTP_PROXY_CONTROL_PORT
from chaos.plan import FaultPlan

NUMBER = re.compile(r"/[0-9]+(?=/|$)")


def build(plan: FaultPlan, system) -> HttpFault:
    proxy = system.proxies[plan.target]
    return HttpFault(plan, proxy.client, system.records_dir)


def from_ledger(plan: FaultPlan, client, run_id: str) -> HttpFault | Gone:
    """For `chaos clean`: the link's proxy container of that run, found by label, if it is still there."""
    containers = client.containers.list(filters={"label": [f"chaos.run={run_id}", f"chaos.link={plan.target}"]})
    if not containers:
        return Gone(plan)  # the proxy, and the rule in it, went with its container
    bindings = containers[0].attrs["NetworkSettings"]["Ports"].get(f"{HTTP_PROXY_CONTROL_PORT}/tcp") or []
    port = next(int(b["HostPort"]) for b in bindings if b.get("HostPort"))
    return HttpFault(plan, HttpProxyClient(f"http://127.0.0.1:{port}"), None)


def rule_of(plan: FaultPlan, change: dict | None = None) -> Rule:
    """The fault's rule as the proxy takes it: its params (with a ramp step's change) under the fault's id."""
    return Rule.from_json({**plan.params, **(change or {}), "id": plan.id})


def route(method: str, path: str) -> str:
    """A request's route: its method and path, numbers in the path as ``[n]`` (``GET /stock/[n]``)."""
    return f"{method} {NUMBER.sub('/[n]', path)}"


def hits_by_route(records: list[dict]) -> dict[str, int]:
    """How many requests the fault touched per route, most first."""
    counts = Counter(route(r["method"], r["path"]) for r in records)
    return dict(counts.most_common())


@dataclass
class HttpFault(FaultAdapter):
    plan: FaultPlan
    client: HttpProxyClient
    records_dir: Path | None  # None: nothing written (`chaos clean`, or the pytest fixture without a run dir)
    change: dict | None = None  # the last ramp step's change, so a rule put again stays where the ramp is

    def inject(self) -> None:
        self.client.put_rule(rule_of(self.plan, self.change))

    def update(self, change: dict) -> None:
        """A ramp step: the rule changed in place; its count of requests goes on (``first``, the seeded draws)."""
        self.change = {**(self.change or {}), **change}
        self.client.put_rule(rule_of(self.plan, self.change))

    def revert(self) -> dict:
        self.client.remove_rule(self.plan.id)
        return self.collect()

    def collect(self) -> dict:
        """The requests the rule touched, written to the run dir; their count (and per route) for the journal."""
        records = self.client.records(fault=self.plan.id)
        if self.records_dir is not None:
            self.records_dir.mkdir(parents=True, exist_ok=True)
            with written_atomically(self.records_dir / f"http-{self.plan.id}.jsonl") as partial:
                partial.write_text("".join(json.dumps(r, sort_keys=True) + "\n" for r in records), encoding="utf-8")
        routes = hits_by_route(records)
        return {"hits": len(records), "hits_by_route": dict(list(routes.items())[:20]),
                "routes": len(routes)}
