"""Docker targets and link ambassadors: start, wait healthy, stop, and clean up by label.

Interposition is transparent and directed: for a link ``api -> redis:6379`` a Toxiproxy
container listens on port 6379 and ``api`` alone resolves the name ``redis`` to it (an
``/etc/hosts`` entry set at container creation). Docker's DNS keeps answering ``redis`` with the
real container for everyone else, so no service needs a configuration change and other
clients of ``redis`` are untouched.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import platform
import tarfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import docker
import docker.errors

from chaos import httpproxy, images
from chaos.errors import EnvironmentProblem
from chaos.faults.clock import ROLE_CLOCK, ClockVolume
from chaos.faults.dns import DnsServer
from chaos.faults.partition import find_namespace_keepers, start_namespace_keepers
from chaos.httpproxy.client import HttpProxyClient, HttpProxyError
from chaos.labels import LEASE, ROLE, RUN, run_labels
from chaos.plan import LinkPlan, Plan, TargetPlan, one_shot_targets, start_order
from chaos.toxiproxy import TOXIPROXY_API_PORT, ToxiproxyClient, ToxiproxyError

NANOS = 1_000_000_000


def engine() -> docker.DockerClient:
    """The engine named by DOCKER_HOST / the current context; EnvironmentProblem when unreachable."""
    try:
        client = docker.from_env(timeout=30)
        client.ping()
        return client
    except (docker.errors.DockerException, OSError) as exc:
        raise EnvironmentProblem(
            f"docker engine unreachable ({exc.__class__.__name__}); start Docker or run `make setup`"
        ) from None


@dataclass
class LinkProxy:
    link: LinkPlan
    container_id: str
    address: str  # the ambassador's IP on the network its source reaches it through
    api_url: str  # Toxiproxy API on 127.0.0.1
    client: ToxiproxyClient | HttpProxyClient  # by the link's protocol
    edge_port: int | None = None  # loopback port of the edge listener
    addresses: list[str] = field(default_factory=list)  # its IP on every network it is on

    def where(self) -> dict[str, str]:
        """Where a user reaches this link from the host (journaled): its Toxiproxy API, and the edge listener."""
        found = {"api": self.api_url}
        if self.edge_port is not None:
            found["edge"] = f"127.0.0.1:{self.edge_port}"
        return found


@dataclass
class System:
    plan: Plan
    client: docker.DockerClient
    on_event: callable = lambda event, **fields: None
    network_id: str | None = None
    proxies: dict[str, LinkProxy] = field(default_factory=dict)
    containers: dict[str, str] = field(default_factory=dict)  # service -> container id (its first replica)
    replicas: dict[str, list[str]] = field(default_factory=dict)  # service -> every container id, in order
    attached: dict[str, tuple[str, str]] = field(default_factory=dict)  # service -> (its network, its address)
    clock_volume: ClockVolume | None = None  # when a target is `clock: skewable`
    dns_servers: dict[str, DnsServer] = field(default_factory=dict)  # service -> the DNS server it resolves through
    namespace_keepers: dict = field(default_factory=dict)  # target container id -> its keeper (plans with partitions)
    networks: dict[str, str] = field(default_factory=dict)  # compose network key -> engine network name
    volumes: dict[str, str] = field(default_factory=dict)  # compose volume key -> engine volume name
    images: dict[str, str] = field(default_factory=dict)  # service -> image built for it by the harness
    records_dir: Path | None = None  # where http faults write the requests they touched (the run dir's faults/)

    @property
    def network_name(self) -> str:
        return f"chaos-{self.plan.run_id}"

    def container_name(self, role: str) -> str:
        return f"chaos-{self.plan.run_id}-{role}"

    def instances(self) -> dict[str, str]:
        """Every container of the run's targets by instance name: ``web`` for a single container,
        ``web.1``, ``web.2`` ... for replicas (container faults pick among these)."""
        found = {}
        for service, first in self.containers.items():
            ids = self.replicas.get(service) or [first]
            if len(ids) == 1:
                found[service] = ids[0]
            else:
                found.update({f"{service}.{i + 1}": container_id for i, container_id in enumerate(ids)})
        return found

    # ---- preflight -------------------------------------------------------------------------

    def missing_images(self) -> list[str]:
        wanted = {self.image_of(t) for t in self.plan.targets if not t.attached and t.replicas} | \
            {images.TOXIPROXY_IMAGE}
        if any(link.is_http for link in self.plan.links):
            wanted.add(images.HTTP_PROXY_IMAGE)
        if any(t.clock == "skewable" for t in self.plan.targets) or \
                any(f.family in ("partition", "clock") for f in self.plan.faults):
            wanted.add(images.HELPER_IMAGE)  # iptables and libfaketime come from it
        if self.plan.dns_services:
            wanted.add(images.BASE_IMAGE)  # the DNS servers run from it (dnslib is copied in)
        return sorted(image for image in wanted if not self._has_image(image))

    def image_of(self, target: TargetPlan) -> str:
        """The image a target's containers are made from: a build-only compose service's is tagged by a
        digest of what its build reads, so an unchanged context is reused and a changed one rebuilt."""
        if target.name not in self.images and target.build and target.build.get("tag_by_context"):
            self.images[target.name] = f"{target.image}:ctx-{build_digest(target.build)}"
        return self.images.get(target.name, target.image)

    def build_missing(self) -> list[str]:
        """Build what compose ``build`` says how to build, pull what a registry has; return what is still
        missing."""
        buildable = {self.image_of(t): t.build for t in self.plan.targets if t.build and not t.attached}
        for image in self.missing_images():
            if image in buildable:
                self._build(image, buildable[image])
            else:
                self._pull(image)
        return self.missing_images()

    def _build(self, image: str, spec: dict) -> None:
        self.on_event("image_build", image=image, context=spec["context"])
        try:
            # No chaos.* label: the engine copies image labels onto every container made from the image,
            # and the user's own containers of it must never look like the harness's.
            self.client.images.build(path=spec["context"], dockerfile=spec.get("dockerfile"), tag=image,
                                     buildargs={k: str(v) for k, v in spec.get("args", {}).items()} or None,
                                     target=spec.get("target"), rm=True, pull=False)
        except (docker.errors.BuildError, docker.errors.APIError) as exc:
            raise EnvironmentProblem(f"building image {image} failed: {_one_line(exc)}") from None

    def _pull(self, image: str) -> None:
        try:
            self.on_event("image_pull", image=image)
            self.client.images.pull(image)
        except (docker.errors.APIError, docker.errors.ImageNotFound):
            pass  # still missing: the caller names it

    def _has_image(self, image: str) -> bool:
        try:
            self.client.images.get(image)
            return True
        except docker.errors.ImageNotFound:
            return False

    # ---- up --------------------------------------------------------------------------------

    def up(self, health_timeout: float = 120.0) -> None:
        self._create_networks()
        self._create_volumes()
        self._create_clock_volume()
        for target in self.plan.targets:
            if target.attached:
                self._adopt(target)
        for link in self.plan.links:
            self.proxies[link.name] = self._start_proxy(link)
        self._start_dns_servers()
        for target in start_order(self.plan.targets):
            if not target.attached:
                self._wait_dependencies(target, health_timeout)
                self._start_target(target)
        one_shots = one_shot_targets(self.plan.targets)
        for target in self.plan.targets:
            if target.name not in one_shots and not target.attached and self._has_healthcheck(target):
                self._wait_healthy(target.name, health_timeout)
        if self.clock_volume:
            self.clock_volume.verify_preloaded({t.name: self.containers[t.name] for t in self.plan.targets
                                                if t.clock == "skewable"}, run_labels(self.plan, "probe"))
        self._start_namespace_keepers()
        self.on_event("system_healthy")

    def _start_namespace_keepers(self) -> None:
        """Partitions then take one write each instead of a helper container each (see faults/partition.py)."""
        if any(f.family == "partition" for f in self.plan.faults):
            self.namespace_keepers = start_namespace_keepers(self)
            self.on_event("namespace_keepers_started", targets=sorted(
                service for service, container_id in self.containers.items() if container_id in self.namespace_keepers))

    def _network_keys(self) -> list[str]:
        """The compose networks the run's containers join; the default one always (proxies and fault
        helpers live there)."""
        keys = ["default"]
        for target in self.plan.targets:
            keys += [key for key in target.networks if key not in keys and not target.attached]
        return keys

    def _create_networks(self) -> None:
        for key in self._network_keys():
            settings = self.plan.networks.get(key) or {}
            if settings.get("external"):
                self.networks[key] = self._existing("network", settings, key)
                continue
            name = self.network_name if key == "default" else f"{self.network_name}-{key}"
            ipam = _ipam(settings.get("ipam"))
            network = self.client.networks.create(
                name, driver=settings.get("driver") or "bridge", options=settings.get("driver_opts") or None,
                internal=bool(settings.get("internal")), enable_ipv6=bool(settings.get("enable_ipv6")),
                attachable=bool(settings.get("attachable")), ipam=ipam,
                labels={**(settings.get("labels") or {}), **run_labels(self.plan, "network")})
            self.networks[key] = name
            if key == "default":
                self.network_id = network.id
        self.on_event("networks_created", networks=dict(self.networks))

    def _create_volumes(self) -> None:
        used = {m["source"] for t in self.plan.targets if not t.attached for m in t.mounts
                if m["type"] == "volume" and m.get("source")}
        for key in sorted(used):
            settings = self.plan.volumes.get(key) or {}
            if settings.get("external"):
                name = self._existing("volume", settings, key)
            else:
                name = self.container_name(f"volume-{key}")
                self.client.volumes.create(name, driver=settings.get("driver") or "local",
                                           driver_opts=settings.get("driver_opts") or None,
                                           labels={**(settings.get("labels") or {}),
                                                   **run_labels(self.plan, "volume")})
            self.volumes[key] = name
        if self.volumes:
            self.on_event("volumes_created", volumes=dict(self.volumes))

    def _existing(self, kind: str, settings: dict, key: str) -> str:
        """An external network or volume: used as it is, never created or removed; it must exist."""
        name = settings.get("name") or key
        try:
            (self.client.networks if kind == "network" else self.client.volumes).get(name)
        except docker.errors.NotFound:
            raise EnvironmentProblem(f"{kind} {name} (external in the compose file) does not exist: "
                                     f"create it first (docker {kind} create {name})") from None
        return name

    def _create_clock_volume(self) -> None:
        """libfaketime and a timestamp file per skewable target, in a volume of this run (see faults/clock.py)."""
        skewable = [t.name for t in self.plan.targets if t.clock == "skewable"]
        if skewable:
            self.clock_volume = ClockVolume.create(self.client, self.container_name("clock"),
                                                   run_labels(self.plan, ROLE_CLOCK), skewable)
            self.on_event("clock_volume_created", volume=self.clock_volume.volume, services=skewable)

    def _start_dns_servers(self) -> None:
        """A DNS server per service whose lookups dns faults change, before the service is created (its
        resolv.conf names the server); the service's links become the server's records (see faults/dns.py)."""
        by_name = {t.name: t for t in self.plan.targets}
        for service in self.plan.dns_services:
            target = by_name[service]
            if target.network_mode or target.attached:
                raise EnvironmentProblem(f"service {service}: dns faults need a service the harness starts on its "
                                         "own networks (not network_mode, not attached)")
            records = {proxy.link.target: proxy.address for proxy in self.proxies.values()
                       if proxy.link.source == service}
            networks = [self.networks[key] for key in target.networks]
            self.dns_servers[service] = DnsServer.start(self.client, self.plan, service, networks, records)
            self.on_event("dns_server_created", service=service, container_id=self.dns_servers[service].container_id,
                          address=self.dns_servers[service].address, control=self.dns_servers[service].control.url,
                          link_names=sorted(records))

    def _proxy_networks(self, link: LinkPlan) -> list[str]:
        """The networks a link's proxy joins: the source's first (it reaches the proxy there), then the
        target's (the proxy reaches the target by name there)."""
        by_name = {t.name: t for t in self.plan.targets}
        keys = []
        if not link.is_edge and link.source in by_name:
            keys += list(by_name[link.source].networks)[:1]
        if link.target in by_name and not by_name[link.target].attached:
            keys += [k for k in by_name[link.target].networks if k not in keys]
        return [self.networks[k] for k in keys or ["default"]]

    def _start_proxy(self, link: LinkPlan) -> LinkProxy:
        if link.is_http:
            return self._start_http_proxy(link)
        ports = {f"{TOXIPROXY_API_PORT}/tcp": ("127.0.0.1", None)}
        if link.is_edge:
            ports[f"{link.port}/tcp"] = ("127.0.0.1", None)
        networks = self._proxy_networks(link)
        container = self.client.containers.create(
            images.TOXIPROXY_IMAGE, detach=True, name=self.container_name(f"link-{link.proxy_name}"),
            labels={**run_labels(self.plan, "link"), "chaos.link": link.name},
            network=networks[0], ports=ports,
        )
        for name in networks[1:]:
            self.client.networks.get(name).connect(container)
        container.start()
        proxy = self._link_proxy(link, container, networks[0])
        _wait_for(lambda: _answers(proxy.client), 20.0, f"toxiproxy for link {link.name} did not answer")
        upstream = link.target
        if link.target in self.attached:
            # Our proxy joins the attached container's network; the attached container itself is not touched.
            network_name, upstream = self.attached[link.target]
            self.client.networks.get(network_name).connect(container)
        proxy.client.create_proxy(link.proxy_name, f"0.0.0.0:{link.port}", f"{upstream}:{link.port}")
        if link.is_edge:
            proxy.edge_port = _published_port(container, link.port)
        self.on_event("link_created", link=link.name, proxy=link.proxy_name, container_id=container.id,
                      **proxy.where())
        return proxy

    def _start_http_proxy(self, link: LinkPlan) -> LinkProxy:
        """An HTTP link: mitmproxy in reverse mode (chaos/httpproxy/server.py, copied in) listening on the link's
        port, its control endpoint published on 127.0.0.1. Same networks and name lookups as a Toxiproxy link."""
        ports = {f"{images.HTTP_PROXY_CONTROL_PORT}/tcp": ("127.0.0.1", None)}
        if link.is_edge:
            ports[f"{link.port}/tcp"] = ("127.0.0.1", None)
        networks = self._proxy_networks(link)
        upstream = self.attached[link.target][1] if link.target in self.attached else link.target
        container = self.client.containers.create(
            images.HTTP_PROXY_IMAGE, detach=True, name=self.container_name(f"link-{link.proxy_name}"),
            command=["python3", f"{images.HTTP_PROXY_HOME}/server.py", "--listen", str(link.port),
                     "--upstream", f"{upstream}:{link.port}", "--control", str(images.HTTP_PROXY_CONTROL_PORT)],
            labels={**run_labels(self.plan, "link"), "chaos.link": link.name, "chaos.protocol": "http"},
            network=networks[0], ports=ports,
        )
        for name in networks[1:]:
            self.client.networks.get(name).connect(container)
        if link.target in self.attached:
            self.client.networks.get(self.attached[link.target][0]).connect(container)
        container.put_archive(images.HTTP_PROXY_HOME, _tar_of_files(httpproxy.PROXY_FILES))
        container.start()
        proxy = self._link_proxy(link, container, networks[0])
        _wait_for(lambda: _answers(proxy.client), 30.0, f"the http proxy for link {link.name} did not answer")
        if link.is_edge:
            proxy.edge_port = _published_port(container, link.port)
        self.on_event("link_created", link=link.name, proxy=link.proxy_name, container_id=container.id,
                      protocol="http", **proxy.where())
        return proxy

    def _link_proxy(self, link: LinkPlan, container, network_name: str | None = None) -> LinkProxy:
        container.reload()
        networks = container.attrs["NetworkSettings"]["Networks"]
        home = networks.get(network_name or self.network_name) or next(iter(networks.values()))
        api_port = _published_port(container, images.HTTP_PROXY_CONTROL_PORT if link.is_http else TOXIPROXY_API_PORT)
        api_url = f"http://127.0.0.1:{api_port}"
        return LinkProxy(link, container.id, home["IPAddress"], api_url,
                         HttpProxyClient(api_url) if link.is_http else ToxiproxyClient(api_url),
                         addresses=sorted(n["IPAddress"] for n in networks.values() if n.get("IPAddress")))

    # ---- attach ----------------------------------------------------------------------------

    def attach(self) -> None:
        """Adopt the running system of this plan's run id (started earlier and kept) instead of starting
        one: every target and link of the plan must be there and running. Each link is reset (every
        toxic removed, the proxy enabled), so no fault of an earlier session survives."""
        selector = {"label": f"{RUN}={self.plan.run_id}"}
        networks = self.client.networks.list(filters=selector)
        if not networks:
            raise EnvironmentProblem(f"no running system with run id {self.plan.run_id} "
                                     f"(`docker ps --filter label={RUN}` lists the kept ones)")
        self.network_id = networks[0].id
        containers = self.client.containers.list(all=True, filters=selector)
        targets = {c.labels.get("chaos.service"): c for c in containers if c.labels.get(ROLE) == "target"}
        links = {c.labels.get("chaos.link"): c for c in containers if c.labels.get(ROLE) == "link"}
        missing = ([f"service {t.name}" for t in self.plan.targets if t.name not in targets]
                   + [f"link {link.name}" for link in self.plan.links if link.name not in links])
        stopped = [c.name for c in [*targets.values(), *links.values()] if c.status != "running"]
        if missing or stopped:
            problems = [f"it has no {', '.join(missing)}"] if missing else []
            problems += [f"not running: {', '.join(stopped)}"] if stopped else []
            raise EnvironmentProblem(f"the running system {self.plan.run_id} does not match: {'; '.join(problems)} "
                                     f"(it has services {', '.join(sorted(filter(None, targets)))} and links "
                                     f"{', '.join(sorted(filter(None, links)))})")
        for link in self.plan.links:
            proxy = self._link_proxy(link, links[link.name])
            proxy.client.reset()
            if link.is_edge:
                proxy.edge_port = _published_port(links[link.name], link.port)
            self.proxies[link.name] = proxy
            self.on_event("link_created", link=link.name, proxy=link.proxy_name, container_id=proxy.container_id,
                          adopted=True, **proxy.where())
        self.containers = {t.name: targets[t.name].id for t in self.plan.targets}
        for target in self.plan.targets:
            container = targets[target.name]
            self.on_event("target_started", service=target.name, image=target.image, container_id=container.id,
                          image_id=container.image.id if container.image else None, adopted=True)
        skewable = [t.name for t in self.plan.targets if t.clock == "skewable"]
        if skewable:
            self.clock_volume = ClockVolume.find(self.client, self.plan.run_id)
            if self.clock_volume is None:
                raise EnvironmentProblem(f"the running system {self.plan.run_id} has no clock volume: it was not "
                                         f"started with {', '.join(skewable)} skewable")
            for service in skewable:
                self.clock_volume.write(service, 0.0)  # no skew of an earlier session survives
        for service in self.plan.dns_services:
            server = DnsServer.find(self.client, self.plan.run_id, service)
            if server is None:
                raise EnvironmentProblem(f"the running system {self.plan.run_id} has no dns server for {service}: "
                                         "it was not started with dns faults on it")
            server.control.clear()  # no dns fault of an earlier session survives
            self.dns_servers[service] = server
        if any(f.family == "partition" for f in self.plan.faults):
            self.namespace_keepers = find_namespace_keepers(self.client, self.plan.run_id, list(self.containers.values()))
        self.on_event("system_attached", run_id=self.plan.run_id)

    def _adopt(self, target: TargetPlan) -> None:
        """Find the one running container the experiment names; never start, change or remove it."""
        if "name" in target.attach:
            wanted = target.attach["name"]
            found = [c for c in self.client.containers.list(all=True, filters={"name": wanted}) if c.name == wanted]
            what = f"named {wanted!r}"
        else:
            found = self.client.containers.list(all=True, filters={"label": target.attach["label"]})
            what = f"with label {target.attach['label']!r}"
        if len(found) != 1:
            names = ", ".join(c.name for c in found) or "none"
            raise EnvironmentProblem(f"attach {target.name}: expected one container {what}, found {names}")
        container = found[0]
        if container.status != "running":
            raise EnvironmentProblem(f"attach {target.name}: container {container.name} is {container.status}, "
                                     "not running (the harness does not start attached containers)")
        networks = {name: settings.get("IPAddress") for name, settings in
                    container.attrs["NetworkSettings"]["Networks"].items() if settings.get("IPAddress")}
        if not networks:
            raise EnvironmentProblem(f"attach {target.name}: container {container.name} has no network address")
        network_name = sorted(networks)[0]
        self.attached[target.name] = (network_name, networks[network_name])
        self.containers[target.name] = container.id
        self.on_event("target_attached", service=target.name, container_id=container.id, container=container.name,
                      image=container.attrs["Config"]["Image"], image_id=container.image.id if container.image else None)

    def _start_target(self, target: TargetPlan) -> None:
        ids = [self._create_container(target, index) for index in range(1, target.replicas + 1)]
        self.replicas[target.name] = ids
        if ids:
            self.containers[target.name] = ids[0]
        for container_id in ids:
            container = self.client.containers.get(container_id)
            container.start()
            image_id = container.image.id if container.image else None
            self.on_event("target_started", service=target.name, image=self.image_of(target), image_id=image_id,
                          container_id=container_id, **({"replica": ids.index(container_id) + 1}
                                                        if target.replicas > 1 else {}))

    def _create_container(self, target: TargetPlan, index: int) -> str:
        """One container of ``target`` (replica ``index``), created and wired, not started."""
        clock = self.clock_volume.target_options(target.name) if target.clock == "skewable" else {}
        dns_server = self.dns_servers.get(target.name)
        name = self.container_name(target.name if index == 1 else f"{target.name}.{index}")
        options = self._engine_options(target)
        network = self._network_settings(target)
        try:
            container = _create_container(
                self.client, self.image_of(target), command=target.command, entrypoint=target.entrypoint,
                working_dir=target.working_dir, user=target.user, name=name,
                mounts=self._mounts(target) + list(clock.get("mounts") or [])
                + (dns_server.target_mounts() if dns_server else []) or None,
                environment={**target.environment, **clock.get("environment", {})},
                labels={**target.labels, **run_labels(self.plan, "target"), "chaos.service": target.name,
                        **({"chaos.replica": str(index)} if target.replicas > 1 else {})},
                healthcheck=self._healthcheck(target), restart_policy=target.restart, detach=True,
                **network, **options,
            )
        except docker.errors.ImageNotFound:
            raise EnvironmentProblem(f"image {self.image_of(target)} for service {target.name} is missing") from None
        except docker.errors.APIError as exc:
            raise EnvironmentProblem(f"service {target.name}: the engine refused to create its container: "
                                     f"{_one_line(exc)}") from None
        if not target.network_mode:
            for key in list(target.networks)[1:]:
                self.client.networks.get(self.networks[key]).connect(
                    container, aliases=[target.name, *target.networks[key]])
        self._place_files(container, target)
        return container.id

    def _engine_options(self, target: TargetPlan) -> dict:
        options = dict(target.options)
        options.setdefault("hostname", target.name if not target.network_mode else None)
        if "ulimits" in options:
            options["ulimits"] = [docker.types.Ulimit(**u) for u in options["ulimits"]]
        # A link's name must reach its proxy: through /etc/hosts, or the service's DNS server when it has one.
        links = {link.target: proxy.address for proxy in self.proxies.values()
                 if (link := proxy.link).source == target.name and target.name not in self.dns_servers}
        hosts = {**options.pop("extra_hosts", {}), **links}
        if hosts:
            options["extra_hosts"] = hosts
        return {k: v for k, v in options.items() if v is not None}

    def _network_settings(self, target: TargetPlan) -> dict:
        mode = target.network_mode
        if mode:
            if mode.startswith("service:"):
                mode = f"container:{self.containers[mode.split(':', 1)[1]]}"
            return {"network_mode": mode}
        first = next(iter(target.networks))
        name = self.networks[first]
        return {"network": name, "ports": {f"{p}/tcp": ("127.0.0.1", None) for p in target.ports},
                "networking_config": {name: self.client.api.create_endpoint_config(
                    aliases=[target.name, *target.networks[first]])}}

    def _healthcheck(self, target: TargetPlan) -> dict | None:
        if target.healthcheck_disabled:
            return {"test": ["NONE"]}
        if not target.healthcheck:
            return None
        hc = target.healthcheck
        return {"test": hc["test"], "interval": int(hc["interval"] * NANOS), "timeout": int(hc["timeout"] * NANOS),
                "retries": hc["retries"], "start_period": int(hc["start_period"] * NANOS)}

    def _mounts(self, target: TargetPlan) -> list[docker.types.Mount]:
        mounts = []
        for m in target.mounts:
            source = m.get("source")
            if m["type"] == "volume" and source:
                source = self.volumes[source]
            if m["type"] == "bind" and m.get("create_host_path") and source and not os.path.exists(source):
                os.makedirs(source, exist_ok=True)  # as Compose does for a short-syntax bind
            mounts.append(docker.types.Mount(
                m["target"], source if m["type"] != "tmpfs" else None, type=m["type"], read_only=m["read_only"],
                propagation=m.get("propagation"), no_copy=bool(m.get("no_copy")),
                tmpfs_size=m.get("tmpfs_size"), tmpfs_mode=m.get("tmpfs_mode")))
        for placed in target.files:
            origin = self.plan.files.get(f"{placed['kind']}:{placed['source']}") or {}
            if "file" in origin:  # bound read-only, as Compose does outside Swarm
                mounts.append(docker.types.Mount(placed["target"], origin["file"], type="bind", read_only=True))
        return mounts

    def _place_files(self, container, target: TargetPlan) -> None:
        """Secrets from the environment and configs written inline have no file to bind: copy them in."""
        for placed in target.files:
            origin = self.plan.files.get(f"{placed['kind']}:{placed['source']}") or {}
            if "file" in origin:
                continue
            if "environment" in origin:
                content = os.environ.get(origin["environment"], "").encode()
            elif "content" in origin:
                content = str(origin["content"]).encode()
            else:
                raise EnvironmentProblem(f"service {target.name}: {placed['kind'][:-1]} {placed['source']} is "
                                         "external (a Swarm object): the harness can only place file, environment "
                                         "or inline ones")
            container.put_archive("/", _tar_of(placed, content))

    def _has_healthcheck(self, target: TargetPlan) -> bool:
        """The file's healthcheck, or the image's own HEALTHCHECK."""
        if target.healthcheck or not target.replicas:
            return bool(target.healthcheck and target.replicas)
        if target.healthcheck_disabled:
            return False
        config = self.client.api.inspect_container(self.containers[target.name])["Config"]
        test = (config.get("Healthcheck") or {}).get("Test") or []
        return bool(test) and test != ["NONE"]

    def _wait_dependencies(self, target: TargetPlan, timeout: float) -> None:
        for dependency, condition in target.depends_on.items():
            if dependency not in self.replicas and dependency not in self.containers:
                continue  # attached, or scaled to 0
            if condition == "service_healthy":
                self._wait_healthy(dependency, timeout)
            elif condition == "service_completed_successfully":
                self._wait_completed(dependency, timeout)

    def _wait_completed(self, service: str, timeout: float) -> None:
        for container_id in self.replicas.get(service) or [self.containers[service]]:
            container = self.client.containers.get(container_id)

            def exited() -> bool:
                container.reload()
                state = container.attrs["State"]
                if state["Status"] in ("exited", "dead"):
                    if state.get("ExitCode") != 0:
                        raise EnvironmentProblem(f"service {service} exited with code {state.get('ExitCode')} "
                                                 f"(others wait for it to complete successfully): "
                                                 f"{_last_log_line(container)}")
                    return True
                return False

            _wait_for(exited, timeout, f"service {service} did not complete within {timeout:.0f}s")

    def _wait_healthy(self, service: str, timeout: float) -> None:
        for container_id in self.replicas.get(service) or [self.containers[service]]:
            self._wait_container_healthy(service, self.client.containers.get(container_id), timeout)

    def _wait_container_healthy(self, service: str, container, timeout: float) -> None:
        def healthy() -> bool:
            container.reload()
            state = container.attrs["State"]
            if state["Status"] in ("exited", "dead"):
                raise EnvironmentProblem(f"service {service} exited with code {state.get('ExitCode')}: "
                                         f"{_last_log_line(container)}")
            health = state.get("Health", {}).get("Status")
            if health == "unhealthy":
                log = state["Health"].get("Log") or [{}]
                raise EnvironmentProblem(f"service {service} is unhealthy: {log[-1].get('Output', '').strip()[:200]}")
            return health == "healthy"

        _wait_for(healthy, timeout, f"service {service} did not become healthy within {timeout:.0f}s")

    # ---- access ----------------------------------------------------------------------------

    def edge_url(self, link: str | None = None) -> str:
        """The edge listener on 127.0.0.1: the plan's edge link, or ``link`` (a system shared by several plans)."""
        return f"http://127.0.0.1:{self.proxies[link or self.plan.edge.name].edge_port}"

    def published(self, service: str, port: int) -> int:
        return _published_port(self.client.containers.get(self.containers[service]), port)

    # ---- down ------------------------------------------------------------------------------

    def down(self) -> list[str]:
        for proxy in self.proxies.values():
            proxy.client.close()
        for held in self.namespace_keepers.values():
            held.keeper.close()
        if self.clock_volume:
            self.clock_volume.close()
        return remove_run(self.client, self.plan.run_id)


def remove_run(client: docker.DockerClient, run_id: str) -> list[str]:
    """Remove the containers, networks and volumes of ``run_id``. Only what proves it is ours: the run label and
    a role label, both set by the harness itself; a container whose run label came from its image (Docker copies
    image labels onto every container made from it) proves nothing and stays."""
    selector = {"label": [f"{RUN}={run_id}", ROLE]}
    removed = []
    for container in client.containers.list(all=True, filters=selector):
        if not _run_label_from_image(client, container):
            removed += _remove(container, f"container {container.name}", lambda c: c.remove(force=True, v=True))
    for network in client.networks.list(filters=selector):
        removed += _remove(network, f"network {network.name}", lambda n: n.remove())
    for volume in client.volumes.list(filters=selector):
        removed += _remove(volume, f"volume {volume.name}", lambda v: v.remove(force=True))
    return removed


def _create_container(client: docker.DockerClient, image: str, **kwargs):
    """``containers.create`` plus the engine's StopTimeout (compose ``stop_grace_period``), which the SDK's
    high-level call does not pass through; its own argument translation is reused for the rest."""
    stop_timeout = kwargs.pop("stop_timeout", None)
    if stop_timeout is None:
        return client.containers.create(image, **kwargs)
    from docker.models.containers import _create_container_args  # the SDK's translation, not ours to copy

    created = client.api.create_container(**_create_container_args({**kwargs, "image": image, "version": client.api._version}),
                                          stop_timeout=stop_timeout)
    return client.containers.get(created["Id"])


def build_digest(build: dict) -> str:
    """A digest of what a build reads: the context's files (path, size, modification time), the
    Dockerfile, the stage and the arguments. Same digest, same image: no rebuild."""
    digest = hashlib.sha256(json.dumps({k: build.get(k) for k in ("dockerfile", "target", "args")},
                                       sort_keys=True, default=str).encode())
    root = build["context"]
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d != ".git")
        for name in sorted(files):
            path = os.path.join(folder, name)
            try:
                stat = os.stat(path)
            except OSError:
                continue
            digest.update(f"{os.path.relpath(path, root)}:{stat.st_size}:{stat.st_mtime_ns};".encode())
    return digest.hexdigest()[:12]


def _tar_of(placed: dict, content: bytes) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        info = tarfile.TarInfo(placed["target"].lstrip("/"))
        info.size, info.mode, info.uid, info.gid = len(content), placed["mode"], placed["uid"], placed["gid"]
        info.mtime = int(time.time())
        archive.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


def _ipam(ipam: dict | None):
    if not ipam or not ipam.get("config"):
        return None
    pools = [docker.types.IPAMPool(subnet=c.get("subnet"), iprange=c.get("ip_range"), gateway=c.get("gateway"))
             for c in ipam["config"]]
    return docker.types.IPAMConfig(driver=ipam.get("driver") or "default", pool_configs=pools)


def _one_line(exc: Exception) -> str:
    return " ".join(str(getattr(exc, "explanation", None) or exc).split())[:300]


def leases(client: docker.DockerClient) -> dict[str, set[str]]:
    """Every run on the engine that carries the harness's run and role labels -> the leases its things carry."""
    found: dict[str, set[str]] = {}
    selector = {"label": [RUN, ROLE]}
    for labels in ([c.labels for c in client.containers.list(all=True, filters=selector)]
                   + [n.attrs.get("Labels") or {} for n in client.networks.list(filters=selector)]
                   + [v.attrs.get("Labels") or {} for v in client.volumes.list(filters=selector)]):
        found.setdefault(labels[RUN], set()).add(labels.get(LEASE) or "")
    return found


def _remove(item, what: str, remove) -> list[str]:
    try:
        remove(item)
        return [what]
    except docker.errors.NotFound:
        return []


def _run_label_from_image(client: docker.DockerClient, container) -> bool:
    try:
        image_labels = client.images.get(container.attrs["Image"]).labels or {}
    except docker.errors.ImageNotFound:
        return False
    return image_labels.get(RUN) == container.labels.get(RUN)


def _published_port(container, port: int) -> int:
    container.reload()
    bindings = container.attrs["NetworkSettings"]["Ports"].get(f"{port}/tcp") or []
    for binding in bindings:
        if binding.get("HostIp") in ("127.0.0.1", "") and binding.get("HostPort"):
            return int(binding["HostPort"])
    raise EnvironmentProblem(f"port {port} of {container.name} is not published on 127.0.0.1")


def _answers(client: ToxiproxyClient | HttpProxyClient) -> bool:
    try:
        client.version()
        return True
    except (ToxiproxyError, HttpProxyError):
        return False


def _tar_of_files(paths) -> bytes:
    """Files as a tar archive of their names alone, for ``put_archive`` into one folder."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for path in paths:
            archive.add(str(path), arcname=path.name)
    return buffer.getvalue()


def _wait_for(condition, timeout: float, message: str, interval: float = 0.1) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if condition():
            return
        if time.monotonic() > deadline:
            raise EnvironmentProblem(message)
        time.sleep(interval)


def _last_log_line(container) -> str:
    try:
        lines = container.logs(tail=3).decode(errors="replace").strip().splitlines()
        return lines[-1][:200] if lines else "(no output)"
    except docker.errors.APIError:
        return "(no logs)"


def host_facts(client) -> dict:
    """What a run's journal says of the machine it ran on (`run_started`), for reports and comparisons; the engine's
    version is None when ``client`` cannot say (or is None)."""
    try:
        docker_version = client.version().get("Version")
    except Exception:  # noqa: BLE001 - informational only
        docker_version = None
    return {"cores": os.cpu_count(), "python": platform.python_version(), "docker_version": docker_version}
