"""Network partitions between targets: iptables DROP rules in an owned chain inside each affected
target's network namespace, placed by a helper container that joins that namespace.

The helper is long-lived when the plan has a partition: a keeper (chaos/faults/keeper.py) per target
namespace, started with the system, applies each injection or heal as one script with ONE
iptables-restore, written to its attached input: no container start or exec while faults are due.
Where there is no keeper (a target restarted since, the keeper removed, a pytest fixture's system,
`chaos clean` after the run's keepers went), a short-lived helper runs the same script, as before.
A target is never exec'd into: a paused target stays untouched.

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
Both scripts read the chain's state first (iptables-save) so that they stay idempotent as one
iptables-restore transaction.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass, field

import docker.errors

from chaos import images
from chaos.errors import EnvironmentProblem
from chaos.faults import FaultAdapter, keeper
from chaos.labels import MANAGED, ROLE, RUN, run_labels
from chaos.plan import FaultPlan, one_shot_targets

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


HOOKS = ("INPUT", "OUTPUT")
RESTORE = "iptables-restore -w 5 --noflush"


def restore_lines(chain: str, rules: ChainRules) -> list[str]:
    """The rules of ``chain`` in iptables-restore's format. Declaring a chain under ``--noflush`` creates
    it, or empties one that exists, so a re-apply replaces the addresses rather than adding to them."""
    return ([f":{chain} - [0:0]"] + [f"-A {chain} -d {ip}/32 -j DROP" for ip in rules.drop_to]
            + [f"-A {chain} -s {ip}/32 -j DROP" for ip in rules.drop_from])


def _jumps_to(chain: str) -> str:
    """grep for the jumps to ``chain`` in iptables-save's output, one ``-A HOOK -j CHAIN`` line each."""
    return f"grep -x -E -- '-A ({'|'.join(HOOKS)}) -j {chain}'"


def _restore(lines: list[str]) -> str:
    """Shell: one iptables-restore of ``lines`` in the filter table: one transaction, all or nothing."""
    return f"{RESTORE} <<'RULES'\n" + "\n".join(["*filter", *lines, "COMMIT"]) + "\nRULES\n"


def apply_script(chain: str, rules: ChainRules) -> keeper.Script:
    """Shell: build ``chain`` and jump to it first from INPUT and OUTPUT in ONE iptables-restore (one
    transaction: the cut starts all at once in the namespace). Its ``-N`` fails where the chain exists
    already (applied before: a retry, `chaos clean`); then the chain is refilled and a jump added only
    where it is missing, after reading the table. Idempotent either way."""
    fresh = [f"-N {chain}", *restore_lines(chain, rules)[1:], *(f"-I {hook} 1 -j {chain}" for hook in HOOKS)]
    body = "\n".join(["*filter", *restore_lines(chain, rules)])
    inserts = "\n".join(f'case "$present" in *"-A {hook} -j {chain}"*) ;; *) echo "-I {hook} 1 -j {chain}" ;; esac'
                        for hook in HOOKS)
    refill = (f"present=$(iptables-save -t filter | {_jumps_to(chain)} || true)\n"
              f"{{\ncat <<'RULES'\n{body}\nRULES\n{inserts}\necho COMMIT\n}} | {RESTORE}\n")
    return keeper.Script(f"if ! {{ {_restore(fresh)}}} 2>/dev/null; then\n{refill}fi\n")


def heal_script(chain: str) -> keeper.Script:
    """Shell: end the cut, then tidy. The cut ends with ONE iptables-restore that only adds (a RETURN first
    in ``chain``: nothing is dropped past it), since removing rules is the slow part of an nf_tables
    transaction (the kernel waits out a grace period); the jumps and the chain are deleted afterwards, by
    :func:`tidy_script`. Where ``chain`` is absent (never applied, healed already, a new namespace) the
    tidying runs at once and finds nothing to do."""
    now = f"if ! {{ {_restore([f'-I {chain} 1 -j RETURN'])}}} 2>/dev/null; then\n{tidy_script(chain)}fi\n"
    return keeper.Script(now, after=tidy_script(chain))


def tidy_script(chain: str) -> str:
    """Shell: delete every jump to ``chain``, then the chain, in one iptables-restore; nothing else, and
    nothing at all where the chain is absent. Reads the table first, so a jump there twice goes too."""
    return (f"saved=$(iptables-save -t filter)\n"
            f'case "$saved" in *":{chain} "*) ;; *) exit 0 ;; esac\n'
            f"{{\necho '*filter'\nprintf '%s\\n' \"$saved\" | {_jumps_to(chain)} | sed 's/^-A /-D /'\n"
            f"echo '-F {chain}'\necho '-X {chain}'\necho COMMIT\n}} | {RESTORE}\n")


# ---- adapter: the engine ---------------------------------------------------------------------


def build(plan: FaultPlan, system) -> "PartitionFault":
    return PartitionFault(plan, system.client, system.plan.run_id, run_labels(system.plan, "helper"),
                          started_containers(system), network=lambda: network_of(system),
                          keepers=getattr(system, "namespace_keepers", None) or {})


def from_ledger(plan: FaultPlan, client, run_id: str) -> "PartitionFault":
    """For `chaos clean`: the ledger names the chain and the containers that got one; the run's keepers
    are used where they are still there, one-shot helpers elsewhere."""
    rules = {service: ChainRules(**r) for service, r in (plan.params.get("rules") or {}).items()}
    containers = dict(plan.params.get("containers") or {})
    return PartitionFault(plan, client, run_id, {MANAGED: "true", RUN: run_id, ROLE: "helper"}, containers,
                          rules=rules, keepers=find_namespace_keepers(client, run_id, list(containers.values())))


@dataclass
class PartitionFault(FaultAdapter):
    plan: FaultPlan
    client: object  # docker.DockerClient
    run_id: str
    labels: dict[str, str]  # for helper containers: the run's own, so `chaos clean` finds a left one
    containers: dict[str, str]  # service -> container id, the run's targets
    network: object = None  # () -> Network, where addresses can be read (a live system)
    rules: dict[str, ChainRules] | None = None
    keepers: dict[str, NamespaceKeeper] = field(default_factory=dict)  # container id -> its namespace's keeper

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
        scripts = {self.containers[s]: apply_script(self.chain, rules) for s, rules in self.rules.items()}
        failures = self._run(scripts, skip_stopped=False)
        if failures:
            raise EnvironmentProblem(f"partition {self.plan.name}: iptables failed in {_describe(failures)}")

    def revert(self) -> None:
        affected = list(self.rules) if self.rules is not None else \
            sorted({a for a, _ in cut_pairs(self.plan.params, list(self.containers))})
        heal = heal_script(self.chain)
        scripts = {self.containers[s]: heal for s in affected if s in self.containers}
        failures = self._run(scripts, skip_stopped=True)
        if failures:
            raise EnvironmentProblem(f"healing partition {self.plan.name} failed in {_describe(failures)}")

    def _run(self, scripts: dict[str, keeper.Script], skip_stopped: bool) -> dict[str, str]:
        """Each script in its container's namespace: through the namespace's keeper (one write), or a
        one-shot helper where there is none or it cannot answer (its target was restarted, it was removed).
        Returns the failures by container id."""
        kept = {self.keepers[c].keeper: c for c in scripts if c in self.keepers and self.keepers[c].keeper.usable}
        failures, one_shot = {}, {c: text for c, text in scripts.items() if c not in kept.values()}
        for held, exc in keeper.run_together({k: scripts[c] for k, c in kept.items()}).items():
            if isinstance(exc, keeper.KeeperUnavailable):
                one_shot[kept[held]] = scripts[kept[held]]
            else:
                failures[kept[held]] = _short(str(exc))
        if one_shot:
            whole = {c: script.whole() for c, script in one_shot.items()}
            failures.update(run_in_namespaces(self.client, self.labels, whole, self.plan.id, skip_stopped))
        return failures


# ---- keepers: one long-lived helper per target namespace ---------------------------------------


@dataclass(frozen=True)
class NamespaceKeeper:
    """The keeper in one target's namespaces, and the target's addresses read when the keeper started:
    still true while the keeper lives (it ends with the target's process 1)."""

    keeper: keeper.Keeper
    addresses: tuple[str, ...] = ()


KEEPER_ROLE = "keeper"
KEEPER_OF = "chaos.namespace-of"  # on a namespace keeper: the id of the target whose namespaces it shares


def namespaces_cut(faults, containers: dict[str, str]) -> list[str]:
    """The containers (of ``containers``: service -> id) in whose namespaces the plan's partitions put a
    chain: the sending side of every pair one of them cuts. Pure."""
    services = list(containers)
    cut = {a for fault in faults if fault.family == "partition" for a, _ in cut_pairs(fault.params, services)}
    return [containers[service] for service in services if service in cut]


def start_namespace_keepers(system) -> dict[str, NamespaceKeeper]:
    """A keeper in each namespace the plan's partitions cut in: started together, after the targets. It also
    shares the target's process namespace, so it ends with the target's process 1: a keeper never outlives
    its namespace (a restarted target gets a new one, reached one-shot), and is then removed by the engine.
    A keeper that cannot start is left out (its target is reached one-shot)."""
    labels = run_labels(system.plan, KEEPER_ROLE)
    targets = namespaces_cut(system.plan.faults, started_containers(system))
    found: dict[str, NamespaceKeeper] = {}

    def start_one(container_id: str) -> None:
        try:
            # auto_remove: a keeper that ended with its target (killed, stopped, restarted) leaves no container
            keeper_id = keeper.start(system.client, {**labels, KEEPER_OF: container_id},
                                     network_mode=f"container:{container_id}", pid_mode=f"container:{container_id}",
                                     cap_add=["NET_ADMIN"], auto_remove=True)
            attached = keeper.Keeper(system.client, keeper_id).attach()
            # Read after the keeper started: if the target restarted before, the keeper shares the new one.
            found[container_id] = NamespaceKeeper(attached, tuple(container_addresses(system.client, container_id)))
        except (docker.errors.APIError, keeper.KeeperUnavailable, EnvironmentProblem):
            pass

    threads = [threading.Thread(target=start_one, args=(c,), daemon=True) for c in targets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(HELPER_TIMEOUT_S)
    return found


def find_namespace_keepers(client, run_id: str, container_ids: list[str]) -> dict[str, NamespaceKeeper]:
    """The run's running keepers of these targets, attached (for `chaos clean` and an attached system)."""
    found = {}
    try:
        listed = client.containers.list(filters={"label": [f"{RUN}={run_id}", f"{ROLE}={KEEPER_ROLE}"]})
    except docker.errors.APIError:
        return found
    for container in listed:
        target = (container.labels or {}).get(KEEPER_OF)
        if target in container_ids and keeper.speaks_protocol(container):
            try:
                found[target] = NamespaceKeeper(keeper.Keeper(client, container.id).attach())
            except keeper.KeeperUnavailable:
                pass
    return found


def started_containers(system) -> dict[str, str]:
    """The targets the run started and that keep running: attached containers are never changed, so never
    partitioned (not even as "every other target" of an isolate), and a one-shot job (a migration) has
    finished, with no network left to cut."""
    left_out = set(getattr(system, "attached", {})) | one_shot_targets(system.plan.targets)
    return {service: container_id for service, container_id in system.containers.items()
            if service not in left_out}


def network_of(system) -> Network:
    """Addresses of the run's targets and of the link proxies between them. A target's are read from the
    engine now, unless its keeper is alive: then they are those read when the keeper started (the target
    has not been restarted since), which saves an engine call per target when a partition is due."""
    keepers = getattr(system, "namespace_keepers", None) or {}

    def addresses_of(container_id: str) -> list[str]:
        held = keepers.get(container_id)
        if held is not None and held.addresses and held.keeper.alive():
            return list(held.addresses)
        return container_addresses(system.client, container_id)

    addresses = {service: addresses_of(container_id) for service, container_id in started_containers(system).items()}
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
                    images.HELPER_IMAGE, ["sh", "-ec", text], detach=True, network_mode=f"container:{container_id}",
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
