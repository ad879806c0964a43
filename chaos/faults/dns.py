"""DNS faults: one service's lookups of chosen names, answered by a dnslib server of the run.

Docker's embedded DNS (127.0.0.11) answers the experiment network's names itself and forwards only other
names to a container's ``dns:`` servers, so ``dns:`` cannot reach service names. Instead a service that a
dns fault names is created with its own ``/etc/resolv.conf``, a file in a labelled volume of the run bound
read-only over Docker's, whose only nameserver is that service's DNS container (search and options lines as
Docker wrote them for a container on the same network). The DNS container (``chaos-<run>-dns-<service>``,
one per such service, from the base image with dnslib and chaos/dns/server.py copied in) joins the service's
networks and forwards every query no rule takes to Docker's embedded DNS in its own namespace, which knows the
same names; its answers go back unchanged.

Links: a link ``api -> inventory:8081`` normally reaches api through an /etc/hosts entry, which glibc reads
before any DNS server, so a dns fault could not touch it. For a service with a DNS server the link's names go
to that server instead, as records answered with the proxy's address; a matching fault rule is asked first,
so while it is active its answer wins (a wrong address bypasses the proxy, an NXDOMAIN fails the lookup), and
the link's path is back when the rule goes.

The bind's source is the volume's mountpoint as the engine reports it: a path on the engine's host, read by
the engine, so a remote engine works too. Inject sets the fault's rule through the server's control endpoint
(published on 127.0.0.1); revert removes it and returns the counts of queries it matched and acted on, which
the journal keeps (``fault_reverted``) and the report shows. Both are idempotent.
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
import time
from dataclasses import dataclass
from pathlib import Path

import docker.errors
import docker.types

from chaos import dns, images
from chaos.dns.client import DnsControlClient, DnsControlError
from chaos.errors import EnvironmentProblem
from chaos.faults import FaultAdapter, Gone
from chaos.labels import ROLE, RUN, run_labels
from chaos.plan import FaultPlan

ROLE_DNS = "dns"
SERVICE_LABEL = "chaos.dns-for"
READY_TIMEOUT_S = 30.0


# ---- pure ------------------------------------------------------------------------------------


def client_resolv_conf(docker_written: str, nameserver: str) -> str:
    """What Docker wrote for a container on the network, with the DNS server as the only nameserver: search
    domains and options (ndots, timeout) stay as Docker set them, so names resolve in the same order."""
    kept = [line for line in docker_written.splitlines() if line.split()[:1] != ["nameserver"]]
    return "\n".join([f"nameserver {nameserver}", *kept]).rstrip("\n") + "\n"


def rule_seed(plan_seed: int, fault_id: str) -> int:
    """Each fault's draws are their own seeded sequence: the same seed faults the same queries of a run."""
    return int(hashlib.sha256(f"{plan_seed}:{fault_id}".encode()).hexdigest()[:8], 16)


def rule_of(fault_id: str, params: dict) -> dict:
    return {"id": fault_id, "name": params["name"], "action": params["action"], "address": params.get("address"),
            "delay_s": params.get("delay_s") or 0.0, "probability": params.get("probability", 1.0),
            "seed": params.get("seed", 0)}


def _dnslib_files() -> list[tuple[str, Path]]:
    import dnslib

    package = Path(dnslib.__file__).parent
    return [(f"lib/dnslib/{path.name}", path) for path in sorted(package.glob("*.py")) if not path.name.startswith("test")]


def _tar(files: list[tuple[str, bytes]]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for name, data in files:
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), 0o644, int(time.time())
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


# ---- the DNS server of one service -------------------------------------------------------------


@dataclass
class DnsServer:
    """The DNS container of one service: its control client, its address, and the resolv.conf its service mounts."""

    service: str
    container_id: str
    address: str  # on the service's first network: its nameserver
    control: DnsControlClient
    resolv_conf_path: str | None = None  # on the engine's host: the bind's source

    @classmethod
    def start(cls, client, plan, service: str, networks: list[str], records: dict[str, str]) -> "DnsServer":
        name = f"chaos-{plan.run_id}-dns-{service}"
        labels = {**run_labels(plan, ROLE_DNS), SERVICE_LABEL: service}
        client.volumes.create(name, labels=labels)
        home = dns.HOME.lstrip("/")
        container = client.containers.create(
            images.BASE_IMAGE, ["python3", f"{dns.HOME}/server.py", "--control", str(dns.CONTROL_PORT),
                                "--records", json.dumps(records, sort_keys=True)],
            name=name, labels=labels, detach=True, network=networks[0], working_dir=dns.HOME,
            environment={"PYTHONPATH": f"{dns.HOME}/lib:{dns.HOME}", "PYTHONDONTWRITEBYTECODE": "1"},
            ports={f"{dns.CONTROL_PORT}/tcp": ("127.0.0.1", None)},
            mounts=[docker.types.Mount(dns.CONF_DIR, name, type="volume")])
        for network in networks[1:]:
            client.networks.get(network).connect(container)
        files = [(f"{home}/{path.name}", path.read_bytes()) for path in dns.SERVER_FILES]
        files += [(f"{home}/{arcname}", path.read_bytes()) for arcname, path in _dnslib_files()]
        container.put_archive("/", _tar(files))
        container.start()
        server = cls._of(client, container, networks[0], service)
        server._wait_ready(container)
        server._write_resolv_conf(client, container, name)
        return server

    @classmethod
    def find(cls, client, run_id: str, service: str) -> "DnsServer | None":
        """The running DNS server of a run's service (`chaos clean`, a kept system), if it is still there."""
        found = client.containers.list(filters={"label": [f"{RUN}={run_id}", f"{ROLE}={ROLE_DNS}",
                                                          f"{SERVICE_LABEL}={service}"]})
        if not found:
            return None
        return cls._of(client, found[0], None, service)

    @classmethod
    def _of(cls, client, container, network: str | None, service: str) -> "DnsServer":
        container.reload()
        networks = container.attrs["NetworkSettings"]["Networks"]
        home = networks.get(network) if network else next(iter(networks.values()), None)
        bindings = container.attrs["NetworkSettings"]["Ports"].get(f"{dns.CONTROL_PORT}/tcp") or []
        port = next((b["HostPort"] for b in bindings if b.get("HostIp") in ("127.0.0.1", "")), None)
        if port is None:
            raise EnvironmentProblem(f"dns server {container.name}: its control port is not published on 127.0.0.1")
        return cls(service, container.id, (home or {}).get("IPAddress", ""), DnsControlClient(f"http://127.0.0.1:{port}"))

    def _wait_ready(self, container) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while True:
            try:
                self.control.health()
                return
            except DnsControlError:
                container.reload()
                if container.status != "running" or time.monotonic() > deadline:
                    logs = container.logs(tail=5).decode(errors="replace").strip().splitlines()
                    raise EnvironmentProblem(f"the dns server of {self.service} did not answer: "
                                             f"{(logs or ['no output'])[-1][:200]}") from None
                time.sleep(0.1)

    def _write_resolv_conf(self, client, container, volume: str) -> None:
        stream, _ = container.get_archive("/etc/resolv.conf")
        with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as archive:
            written = archive.extractfile(archive.next()).read().decode()
        content = client_resolv_conf(written, self.address).encode()
        container.put_archive(dns.CONF_DIR, _tar([("resolv.conf", content)]))
        self.resolv_conf_path = client.volumes.get(volume).attrs["Mountpoint"] + "/resolv.conf"

    def target_mounts(self) -> list[docker.types.Mount]:
        """What the service's containers are created with: the server as their only nameserver."""
        return [docker.types.Mount("/etc/resolv.conf", self.resolv_conf_path, type="bind", read_only=True)]


# ---- the fault -------------------------------------------------------------------------------


def build(plan: FaultPlan, system) -> "DnsFault":
    server = system.dns_servers.get(plan.params["service"])
    if server is None:
        raise EnvironmentProblem(f"fault {plan.id}: service {plan.params['service']} was not started resolving "
                                 "through a DNS server of the run")
    return DnsFault(plan, server, system.plan.seed, lambda service: _address_of(system, service, server))


def from_ledger(plan: FaultPlan, client, run_id: str) -> "DnsFault | Gone":
    """For `chaos clean`: remove the rule through the run's DNS server, if it is still there (it goes with
    the run anyway)."""
    server = DnsServer.find(client, run_id, plan.params["service"])
    return DnsFault(plan, server, 0, None) if server else Gone(plan)


def _address_of(system, service: str, server: DnsServer) -> str:
    """A service's address where the faulted service reaches it: on the DNS server's first network."""
    container = system.client.containers.get(system.containers[service])
    networks = container.attrs["NetworkSettings"]["Networks"]
    dns_networks = system.client.containers.get(server.container_id).attrs["NetworkSettings"]["Networks"]
    shared = [name for name in dns_networks if name in networks] or list(networks)
    return networks[shared[0]]["IPAddress"]


@dataclass
class DnsFault(FaultAdapter):
    plan: FaultPlan
    server: DnsServer
    plan_seed: int
    address_of: object  # service -> its address, for `answer: <service>`; None when rebuilt from the ledger
    params: dict | None = None  # the ledger's, once prepared

    def prepare(self) -> dict:
        """The ledger holds the rule as sent: its seed, and the address a service name stood for."""
        params = {**self.plan.params, "seed": rule_seed(self.plan_seed, self.plan.id)}
        if params.get("address_of") and not params.get("address"):
            params["address"] = self.address_of(params["address_of"])
        self.params = params
        return params

    def inject(self) -> None:
        self.server.control.put_rule(rule_of(self.plan.id, self.params or self.prepare()))

    def revert(self) -> dict | None:
        counts = self.server.control.remove_rule(self.plan.id)
        if not counts.get("removed"):
            return None  # reverted before, or never injected
        return {"queries": {"matched": counts["matched"], "faulted": counts["faulted"]}}
