"""Network partitions between targets: iptables DROP rules in an owned chain inside each affected
target's network namespace, placed by a short-lived helper container that joins that namespace.

What is cut is decided per ordered pair of targets ``(a, b)``: "packets from a towards b are
dropped". Those packets leave ``a`` addressed to ``b`` itself, to the Toxiproxy of a link
``a -> b`` (``a`` resolves ``b`` to it), or to the Toxiproxy of a link ``b -> a`` (``a`` answers
the proxy that relays for ``b``). So the chain in ``a``'s namespace drops those addresses, and a
partition between ``api`` and ``redis`` also cuts ``api``'s path through its link proxy.

Two-way partitions drop both ordered pairs, each side dropping what it sends (``-d``) and what
it receives (``-s``). One-way partitions (``a`` to ``b``) drop only what ``a`` sends towards
``b``, in ``a``'s namespace: ``b``'s packets still reach ``a``. Under TCP this means neither side
can complete a new connection (``a``'s SYN-ACK or SYN never arrives), while on an established
connection ``b``'s requests reach ``a`` and are served but the answers are lost, which is what
makes one-way partitions worth testing.

Every chain is named after the run and the fault (``CHAOS-<8 hex>``), so healing removes exactly
what was added; healing twice, or healing a partition never applied, changes nothing. A target
that was restarted meanwhile has a new namespace without the chain: nothing to heal there.
"""

from __future__ import annotations

import hashlib
import shlex
from dataclasses import dataclass, field

import docker.errors

from chaos import images
from chaos.errors import EnvironmentProblem
from chaos.faults import FaultAdapter
from chaos.labels import MANAGED, ROLE, RUN, run_labels
from chaos.plan import FaultPlan, one_shot_targets

IPTABLES = ("iptables", "-w", "5")
HELPER_TIMEOUT_S = 30
CHAIN_PREFIX = "CHAOS-"
IPTABLES_CHAIN_MAX = 28  # iptables refuses longer chain names


# ---- pure: who may not talk to whom, and the iptables commands for it -----------------------


@dataclass(frozen=True)
class Network:
    """Addresses on the experiment network: each target, and each link proxy between targets."""

    addresses: dict[str, str]  # service -> IP
    links: tuple[tuple[str, str, str], ...] = ()  # (source service, target service, proxy IP)


@dataclass
class ChainRules:
    """What one target's namespace drops: packets it sends to ``drop_to``, packets from ``drop_from``."""

    drop_to: list[str] = field(default_factory=list)
    drop_from: list[str] = field(default_factory=list)

    def add(self, where: list[str], addresses: list[str]) -> None:
        where.extend(a for a in addresses if a not in where)


def chain_name(run_id: str, fault_id: str) -> str:
    digest = hashlib.sha256(f"{run_id}/{fault_id}".encode()).hexdigest()[:8]
    name = f"{CHAIN_PREFIX}{digest}"
    assert len(name) <= IPTABLES_CHAIN_MAX
    return name


def groups_of(params: dict, services: list[str]) -> tuple[list[list[str]], list[str]]:
    """The groups cut from each other, in order, and the bridge (targets in every group)."""
    if params.get("isolate"):
        isolated = list(params["isolate"])
        return [isolated, [s for s in services if s not in isolated]], []
    return [list(members) for members in params["groups"].values()], list(params.get("bridge") or [])


def cut_pairs(params: dict, services: list[str]) -> list[tuple[str, str]]:
    """Ordered pairs ``(a, b)``: packets from a towards b are dropped. A bridge is in no pair."""
    groups, bridge = groups_of(params, services)
    groups = [[s for s in group if s not in bridge] for group in groups]
    if params.get("direction") == "one-way":
        return [(a, b) for a in groups[0] for b in groups[1]]
    return [(a, b) for i, first in enumerate(groups) for j, second in enumerate(groups) if i != j
            for a in first for b in second]


def route_addresses(a: str, b: str, network: Network) -> list[str]:
    """Where packets between a and b go on a's side: b itself, and the proxies of links between them."""
    found = _ips(network.addresses[b])
    found += [ip for source, target, ips in network.links if (source, target) in ((a, b), (b, a))
              for ip in _ips(ips)]
    return found


def _ips(addresses: str | list[str] | tuple) -> list[str]:
    """A target or proxy on several networks has an address on each; packets may take any of them."""
    return [addresses] if isinstance(addresses, str) else list(addresses)


def chain_rules(params: dict, services: list[str], network: Network) -> dict[str, ChainRules]:
    """Per target whose namespace gets a chain: the addresses it drops. Pure."""
    rules: dict[str, ChainRules] = {}
    two_way = params.get("direction") != "one-way"
    for a, b in cut_pairs(params, services):
        route = route_addresses(a, b, network)
        chain = rules.setdefault(a, ChainRules())
        chain.add(chain.drop_to, route)
        if two_way:
            chain.add(chain.drop_from, route)
    return rules


def apply_commands(chain: str, rules: ChainRules) -> list[list[str]]:
    """iptables commands that (re)build ``chain`` and jump to it first from INPUT and OUTPUT.

    Idempotent as a script (see :func:`script`): an existing chain is flushed and refilled, a jump
    is inserted only where it is missing."""
    commands = [[*IPTABLES, "-N", chain, QUIET, "||", *IPTABLES, "-F", chain]]
    commands += [[*IPTABLES, "-A", chain, "-d", f"{ip}/32", "-j", "DROP"] for ip in rules.drop_to]
    commands += [[*IPTABLES, "-A", chain, "-s", f"{ip}/32", "-j", "DROP"] for ip in rules.drop_from]
    for hook in ("INPUT", "OUTPUT"):
        commands.append([*IPTABLES, "-C", hook, "-j", chain, QUIET, "||", *IPTABLES, "-I", hook, "1", "-j", chain])
    return commands


def heal_commands(chain: str) -> list[list[str]]:
    """Delete every jump to ``chain``, then the chain itself; nothing else, and nothing if it is absent."""
    commands = [["while", *IPTABLES, "-D", hook, "-j", chain, QUIET, ";", "do", ":", ";", "done"]
                for hook in ("INPUT", "OUTPUT")]
    commands.append(["if", *IPTABLES, "-n", "-L", chain, SILENT, ";", "then", *IPTABLES, "-F", chain, "&&",
                     *IPTABLES, "-X", chain, ";", "fi"])
    return commands


QUIET = "2>/dev/null"  # "chain exists" / "no such rule" are the expected answers of a check
SILENT = ">/dev/null 2>&1"
SHELL_WORDS = {"||", "&&", ";", "while", "do", "done", "if", "then", "fi", ":", QUIET, SILENT}


def script(commands: list[list[str]]) -> str:
    """One shell script, one command per line; shell keywords and operators stay unquoted."""
    lines = [" ".join(word if word in SHELL_WORDS else shlex.quote(word) for word in command) for command in commands]
    return "set -e\n" + "\n".join(lines) + "\n"


# ---- adapter: the engine ---------------------------------------------------------------------


def build(plan: FaultPlan, system) -> "PartitionFault":
    return PartitionFault(plan, system.client, system.plan.run_id, run_labels(system.plan, "helper"),
                          started_containers(system), network=lambda: network_of(system))


def from_ledger(plan: FaultPlan, client, run_id: str) -> "PartitionFault":
    """For `chaos clean`: the ledger names the chain and the containers that got one."""
    rules = {service: ChainRules(**r) for service, r in (plan.params.get("rules") or {}).items()}
    return PartitionFault(plan, client, run_id, {MANAGED: "true", RUN: run_id, ROLE: "helper"},
                          dict(plan.params.get("containers") or {}), rules=rules)


@dataclass
class PartitionFault(FaultAdapter):
    plan: FaultPlan
    client: object  # docker.DockerClient
    run_id: str
    labels: dict[str, str]  # for helper containers: the run's own, so `chaos clean` finds a left one
    containers: dict[str, str]  # service -> container id, the run's targets
    network: object = None  # () -> Network, where addresses can be read (a live system)
    rules: dict[str, ChainRules] | None = None

    @property
    def chain(self) -> str:
        return self.plan.params.get("chain") or chain_name(self.run_id, self.plan.id)

    def prepare(self) -> dict:
        """Addresses are read now (a restarted target may have a new one); the ledger keeps the rules."""
        self.rules = chain_rules(self.plan.params, list(self.containers), self.network())
        return {**self.plan.params, "chain": self.chain,
                "rules": {s: {"drop_to": r.drop_to, "drop_from": r.drop_from} for s, r in self.rules.items()},
                "containers": {s: self.containers[s] for s in self.rules}}

    def inject(self) -> None:
        if self.rules is None:
            self.prepare()
        scripts = {self.containers[s]: script(apply_commands(self.chain, rules)) for s, rules in self.rules.items()}
        failures = run_in_namespaces(self.client, self.labels, scripts, self.plan.id)
        if failures:
            raise EnvironmentProblem(f"partition {self.plan.name}: iptables failed in {_describe(failures)}")

    def revert(self) -> None:
        affected = list(self.rules) if self.rules is not None else \
            sorted({a for a, _ in cut_pairs(self.plan.params, list(self.containers))})
        heal = script(heal_commands(self.chain))
        scripts = {self.containers[s]: heal for s in affected if s in self.containers}
        failures = run_in_namespaces(self.client, self.labels, scripts, self.plan.id, skip_stopped=True)
        if failures:
            raise EnvironmentProblem(f"healing partition {self.plan.name} failed in {_describe(failures)}")


def started_containers(system) -> dict[str, str]:
    """The targets the run started and that keep running: attached containers are never changed, so never
    partitioned (not even as "every other target" of an isolate), and a one-shot job (a migration) has
    finished, with no network left to cut."""
    left_out = set(getattr(system, "attached", {})) | one_shot_targets(system.plan.targets)
    return {service: container_id for service, container_id in system.containers.items()
            if service not in left_out}


def network_of(system) -> Network:
    """Addresses of the run's targets (read from the engine now) and of the link proxies between them."""
    addresses = {service: container_addresses(system.client, container_id)
                 for service, container_id in started_containers(system).items()}
    links = tuple((p.link.source, p.link.target, tuple(p.addresses)) for p in system.proxies.values()
                  if p.link.source in addresses and p.link.target in addresses)
    return Network(addresses, links)


def container_addresses(client, container_id: str) -> list[str]:
    """The container's address on each network it is on (a compose service may be on several)."""
    attrs = client.api.inspect_container(container_id)
    found = sorted(settings["IPAddress"] for settings in attrs["NetworkSettings"]["Networks"].values()
                   if settings.get("IPAddress"))
    if not found:
        raise EnvironmentProblem(f"container {attrs['Name'].lstrip('/')} has no network address (is it running?)")
    return found


def run_in_namespaces(client, labels: dict[str, str], scripts: dict[str, str], fault_id: str,
                      skip_stopped: bool = False) -> dict[str, str]:
    """Run one script per container inside that container's network namespace, all at once (so a cut
    starts at nearly the same moment everywhere); returns the failures by container id.

    A helper container joins the namespace (``network_mode=container:<id>``) with NET_ADMIN, carries
    the run's labels (so `chaos clean` removes one a killed harness left) and is removed after use.
    ``skip_stopped``: a container that is not running has no namespace left, so nothing to heal there.
    """
    helpers, failures = {}, {}
    try:
        for container_id, text in scripts.items():
            if skip_stopped and not _running(client, container_id):
                continue
            try:
                helpers[container_id] = client.containers.run(
                    images.HELPER_IMAGE, ["sh", "-c", text], detach=True, network_mode=f"container:{container_id}",
                    cap_add=["NET_ADMIN"], labels={**labels, "chaos.fault": fault_id})
            except docker.errors.APIError as exc:
                failures[container_id] = _short(str(exc))
        for container_id, helper in helpers.items():
            result = helper.wait(timeout=HELPER_TIMEOUT_S)
            if result.get("StatusCode") != 0:
                output = _short(helper.logs().decode(errors="replace"))
                failures[container_id] = output or f"exit {result.get('StatusCode')}"
    finally:
        for helper in helpers.values():
            try:
                helper.remove(force=True)
            except docker.errors.NotFound:
                pass
    return failures


def _running(client, container_id: str) -> bool:
    try:
        return client.api.inspect_container(container_id)["State"]["Running"]
    except docker.errors.NotFound:
        return False


def _describe(failures: dict[str, str]) -> str:
    return "; ".join(f"container {container_id[:12]}: {why}" for container_id, why in failures.items())


def _short(text: str) -> str:
    lines = text.strip().splitlines()
    return lines[-1][:200] if lines else ""
