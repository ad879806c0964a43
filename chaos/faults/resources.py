"""Resource pressure: a CPU or memory limit set on running targets with `docker update`, and on revert the
values read just before, written back.

Docker's update API treats 0 as "leave unchanged", so a limit can never be set back to 0 ("none").
A container that had no limit gets the kernel's own "no limit" instead, which the cgroup cannot tell
from the original: CPU quota -1, memory 9223372036854771712 bytes (the page-aligned maximum), swap -1.
Limits a container had are restored exactly. The CPU limit goes through the CFS quota (CpuQuota /
CpuPeriod) unless the container already used NanoCpus (`--cpus`), because NanoCpus, once set,
could not be cleared again; both are what `--cpus` does underneath.
"""

from __future__ import annotations

from dataclasses import dataclass

import docker
import docker.errors

from chaos.errors import EnvironmentProblem
from chaos.faults import FaultAdapter
from chaos.faults.targets import select
from chaos.plan import FaultPlan

CPU_PERIOD_US = 100_000  # the kernel's default CFS period
MIN_CPU_QUOTA_US = 1_000
UNLIMITED_MEMORY = 9_223_372_036_854_771_712
FIELDS = {"cpu": ("NanoCpus", "CpuQuota", "CpuPeriod"), "memory": ("Memory", "MemorySwap")}


def build(plan: FaultPlan, system) -> ResourceFault:
    return ResourceFault(plan, system.client, system.instances(), system.plan.seed)


def from_ledger(plan: FaultPlan, client: docker.DockerClient, run_id: str) -> ResourceFault:
    return ResourceFault(plan, client, {}, 0, chosen=list(plan.params.get("containers") or []))


# ---- the update bodies (pure) --------------------------------------------------------------


def limit_body(kind: str, before: dict, params: dict) -> dict:
    if kind == "cpu":
        if before.get("NanoCpus"):
            return {"NanoCpus": round(params["cpus"] * 1e9)}
        period = before.get("CpuPeriod") or CPU_PERIOD_US
        return {"CpuPeriod": period, "CpuQuota": max(MIN_CPU_QUOTA_US, round(params["cpus"] * period))}
    limit = params["memory_bytes"]
    return {"Memory": limit, "MemorySwap": limit}  # swap = memory: the pressure is real, not paged away


def restore_bodies(kind: str, before: dict) -> list[dict]:
    """The updates, in order, that write ``before`` back."""
    if kind == "cpu":
        if before.get("NanoCpus"):
            return [{"NanoCpus": before["NanoCpus"]}]
        body = {"CpuQuota": before.get("CpuQuota") or -1}
        if before.get("CpuPeriod"):
            body["CpuPeriod"] = before["CpuPeriod"]
        return [body]
    memory = before.get("Memory") or UNLIMITED_MEMORY
    swap = before.get("MemorySwap") or -1
    if swap == -1:
        # runc writes the memory limit before an unlimited swap limit, and the kernel refuses a memory limit
        # above the current memory+swap one: raise both to a number first, then lift swap.
        return [{"Memory": memory, "MemorySwap": UNLIMITED_MEMORY}, {"MemorySwap": -1}]
    return [{"Memory": memory, "MemorySwap": swap}]


# ---- the adapter ---------------------------------------------------------------------------


@dataclass
class ResourceFault(FaultAdapter):
    plan: FaultPlan
    client: docker.DockerClient
    candidates: dict[str, str]
    seed: int
    chosen: list[dict] | None = None  # [{"service", "id", "before": {...}}]: the ledger's restore values

    def prepare(self) -> dict:
        if self.chosen is None:
            chosen = select(self.plan, self.client, self.candidates, self.seed)
            for entry in chosen:
                config = self.client.containers.get(entry["id"]).attrs["HostConfig"]
                entry["before"] = {name: config.get(name) or 0 for name in FIELDS[self.plan.kind]}
            self.chosen = chosen
        return {**self.plan.params, "containers": self.chosen}

    def inject(self) -> None:
        self.prepare()
        for entry in self.chosen:
            try:
                update_resources(self.client, entry["id"], limit_body(self.plan.kind, entry["before"],
                                                                       self.plan.params))
            except docker.errors.APIError as exc:
                if isinstance(exc, docker.errors.NotFound):
                    raise
                # e.g. a memory limit below what the container already uses: the kernel refuses it
                raise EnvironmentProblem(f"{self.plan.kind} fault on {entry['service']}: the engine refused the "
                                         f"limit: {exc.explanation or exc}") from exc

    def revert(self) -> None:
        for entry in self.chosen or []:
            try:
                for body in restore_bodies(self.plan.kind, entry["before"]):
                    update_resources(self.client, entry["id"], body)
            except docker.errors.NotFound:
                pass  # gone: nothing left to restore


def update_resources(client: docker.DockerClient, container_id: str, body: dict) -> None:
    """POST /containers/{id}/update with the engine's own field names: the SDK's update() has no NanoCpus."""
    api = client.api
    response = api.post(f"{api.base_url}/v{api.api_version}/containers/{container_id}/update", json=body,
                        timeout=api.timeout)
    if response.status_code == 404:
        raise docker.errors.NotFound(f"container {container_id[:12]} not found", response=response)
    if response.status_code >= 400:
        try:
            message = response.json().get("message", response.text)
        except ValueError:
            message = response.text.strip()[:200] or response.reason
        raise docker.errors.APIError(f"docker update {container_id[:12]} {body}", response=response,
                                     explanation=message)
