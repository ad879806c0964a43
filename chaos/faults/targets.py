"""Which containers a container or resource fault hits: a service, a list, or a label, always among the
run's own targets (never a container the run did not start or attach to), then all, one, or a random
fraction of them, drawn from the plan's seed so that a run can be reproduced."""

from __future__ import annotations

import math
import random

import docker
import docker.errors

from chaos.errors import EnvironmentProblem
from chaos.plan import FaultPlan


def pick(names: list[str], how: str, fraction: float | None, seed: int, key: str) -> list[str]:
    """Pure: ``how`` is all, one or random (``fraction`` of them, rounded up, at least one)."""
    ordered = sorted(names)
    if how == "all" or not ordered:
        return ordered
    draw = random.Random(f"{seed}:{key}")  # a str seed is hashed the same way in every process
    if how == "one":
        return [draw.choice(ordered)]
    count = max(1, math.ceil((fraction if fraction is not None else 0.5) * len(ordered) - 1e-9))
    return sorted(draw.sample(ordered, min(count, len(ordered))))


def service_of(instance: str, candidates: dict[str, str]) -> str:
    """``web.2`` is replica 2 of ``web`` (see System.instances); a service named ``web.2`` stays itself."""
    base, dot, number = instance.rpartition(".")
    return base if dot and number.isdigit() and f"{base}.1" in candidates else instance


def select(plan: FaultPlan, client: docker.DockerClient, candidates: dict[str, str], seed: int) -> list[dict]:
    """``[{"service", "id"}]`` chosen for this occurrence; ``candidates`` maps the run's containers by
    instance name (a service, or ``service.N`` for its replicas) to their ids: pick draws among them."""
    selection = plan.params["select"]
    if selection["services"]:
        names = [name for name in candidates if service_of(name, candidates) in selection["services"]]
    else:
        key, _, value = selection["label"].partition("=")
        names = [name for name, container_id in candidates.items()
                 if _labels(client, container_id).get(key) == value]
    if not names:
        raise EnvironmentProblem(f"fault {plan.id} ({plan.name}): no container of this run matches {plan.target}")
    chosen = pick(names, selection["pick"], selection["fraction"], seed, plan.id)
    return [{"service": service_of(name, candidates), "id": candidates[name],
             **({"instance": name} if service_of(name, candidates) != name else {})} for name in chosen]


def _labels(client: docker.DockerClient, container_id: str) -> dict[str, str]:
    try:
        return client.containers.get(container_id).labels
    except docker.errors.NotFound:
        return {}
