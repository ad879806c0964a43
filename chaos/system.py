"""Docker targets and link ambassadors: start, wait healthy, stop, and clean up by label.

Interposition is transparent and directed: for a link ``api -> redis:6379`` a Toxiproxy
container listens on port 6379 and ``api`` alone resolves the name ``redis`` to it (an
``/etc/hosts`` entry set at container creation). Docker's DNS keeps answering ``redis`` with the
real container for everyone else, so no service needs a configuration change and other
clients of ``redis`` are untouched.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import docker
import docker.errors

from chaos import images
from chaos.errors import EnvironmentProblem
from chaos.plan import LinkPlan, Plan, TargetPlan, start_order
from chaos.toxiproxy import TOXIPROXY_API_PORT, ToxiproxyClient, ToxiproxyError

MANAGED = "chaos.managed"
RUN = "chaos.run"
EXPERIMENT = "chaos.experiment"
ROLE = "chaos.role"
NANOS = 1_000_000_000


def run_labels(plan: Plan, role: str) -> dict[str, str]:
    return {MANAGED: "true", RUN: plan.run_id, EXPERIMENT: plan.experiment, ROLE: role}


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
    address: str  # the ambassador's IP on the experiment network
    api_url: str  # Toxiproxy API on 127.0.0.1
    client: ToxiproxyClient
    edge_port: int | None = None  # loopback port of the edge listener

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
    containers: dict[str, str] = field(default_factory=dict)  # service -> container id
    attached: dict[str, tuple[str, str]] = field(default_factory=dict)  # service -> (its network, its address)
    clock_volume: object | None = None  # chaos.faults.clock.ClockVolume, when a target is `clock: skewable`

    @property
    def network_name(self) -> str:
        return f"chaos-{self.plan.run_id}"

    def container_name(self, role: str) -> str:
        return f"chaos-{self.plan.run_id}-{role}"

    # ---- preflight -------------------------------------------------------------------------

    def missing_images(self) -> list[str]:
        wanted = {t.image for t in self.plan.targets if not t.attached} | {images.TOXIPROXY_IMAGE}
        if any(t.clock == "skewable" for t in self.plan.targets) or \
                any(f.family in ("partition", "clock") for f in self.plan.faults):
            wanted.add(images.HELPER_IMAGE)  # iptables and libfaketime come from it
        return sorted(image for image in wanted if not self._has_image(image))

    def build_missing(self) -> list[str]:
        """Build the missing images that say how (compose ``build``); return the ones still missing."""
        buildable = {t.image: t.build for t in self.plan.targets if t.build}
        for image in self.missing_images():
            if image in buildable:
                spec = buildable[image]
                self.on_event("image_build", image=image, context=spec["context"])
                try:
                    self.client.images.build(path=spec["context"], dockerfile=spec.get("dockerfile"), tag=image,
                                             buildargs={k: str(v) for k, v in spec.get("args", {}).items()} or None,
                                             rm=True, labels={MANAGED: "true"})
                except (docker.errors.BuildError, docker.errors.APIError) as exc:
                    raise EnvironmentProblem(f"building image {image} failed: {exc}") from None
        return self.missing_images()

    def _has_image(self, image: str) -> bool:
        try:
            self.client.images.get(image)
            return True
        except docker.errors.ImageNotFound:
            return False

    # ---- up --------------------------------------------------------------------------------

    def up(self, health_timeout: float = 120.0) -> None:
        network = self.client.networks.create(self.network_name, driver="bridge",
                                              labels=run_labels(self.plan, "network"))
        self.network_id = network.id
        self._create_clock_volume()
        for target in self.plan.targets:
            if target.attached:
                self._adopt(target)
        for link in self.plan.links:
            self.proxies[link.name] = self._start_proxy(link)
        for target in start_order(self.plan.targets):
            if not target.attached:
                self._wait_dependencies(target, health_timeout)
                self._start_target(target)
        for target in self.plan.targets:
            if target.healthcheck:
                self._wait_healthy(target.name, health_timeout)
        if self.clock_volume:
            self.clock_volume.verify_preloaded({t.name: self.containers[t.name] for t in self.plan.targets
                                                if t.clock == "skewable"}, run_labels(self.plan, "probe"))
        self.on_event("system_healthy")

    def _create_clock_volume(self) -> None:
        """libfaketime and a timestamp file per skewable target, in a volume of this run (see faults/clock.py)."""
        skewable = [t.name for t in self.plan.targets if t.clock == "skewable"]
        if skewable:
            from chaos.faults.clock import ROLE_CLOCK, ClockVolume

            self.clock_volume = ClockVolume.create(self.client, self.container_name("clock"),
                                                   run_labels(self.plan, ROLE_CLOCK), skewable)
            self.on_event("clock_volume_created", volume=self.clock_volume.volume, services=skewable)

    def _start_proxy(self, link: LinkPlan) -> LinkProxy:
        ports = {f"{TOXIPROXY_API_PORT}/tcp": ("127.0.0.1", None)}
        if link.is_edge:
            ports[f"{link.port}/tcp"] = ("127.0.0.1", None)
        container = self.client.containers.run(
            images.TOXIPROXY_IMAGE, detach=True, name=self.container_name(f"link-{link.proxy_name}"),
            labels={**run_labels(self.plan, "link"), "chaos.link": link.name},
            network=self.network_name, ports=ports,
        )
        proxy = self._link_proxy(link, container)
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

    def _link_proxy(self, link: LinkPlan, container) -> LinkProxy:
        container.reload()
        address = container.attrs["NetworkSettings"]["Networks"][self.network_name]["IPAddress"]
        api_port = _published_port(container, TOXIPROXY_API_PORT)
        return LinkProxy(link, container.id, address, f"http://127.0.0.1:{api_port}",
                         ToxiproxyClient(f"http://127.0.0.1:{api_port}"))

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
            from chaos.faults.clock import ClockVolume

            self.clock_volume = ClockVolume.find(self.client, self.plan.run_id)
            if self.clock_volume is None:
                raise EnvironmentProblem(f"the running system {self.plan.run_id} has no clock volume: it was not "
                                         f"started with {', '.join(skewable)} skewable")
            for service in skewable:
                self.clock_volume.write(service, 0.0)  # no skew of an earlier session survives
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
        extra_hosts = {link.target: proxy.address for link_name, proxy in self.proxies.items()
                       if (link := proxy.link).source == target.name}
        healthcheck = None
        if target.healthcheck:
            hc = target.healthcheck
            healthcheck = {"test": hc["test"], "interval": int(hc["interval"] * NANOS),
                           "timeout": int(hc["timeout"] * NANOS), "retries": hc["retries"],
                           "start_period": int(hc["start_period"] * NANOS)}
        clock = self.clock_volume.target_options(target.name) if target.clock == "skewable" else {}
        try:
            container = self.client.containers.create(
                target.image, command=target.command, entrypoint=target.entrypoint,
                working_dir=target.working_dir, user=target.user,
                name=self.container_name(target.name), hostname=target.name, mounts=clock.get("mounts"),
                environment={**target.environment, **clock.get("environment", {})},
                labels={**target.labels, **run_labels(self.plan, "target"), "chaos.service": target.name},
                ports={f"{p}/tcp": ("127.0.0.1", None) for p in target.ports},
                extra_hosts=extra_hosts or None, healthcheck=healthcheck, detach=True,
                network=self.network_name,
                networking_config={self.network_name: self.client.api.create_endpoint_config(aliases=[target.name])},
            )
        except docker.errors.ImageNotFound:
            raise EnvironmentProblem(f"image {target.image} for service {target.name} is missing") from None
        self.containers[target.name] = container.id
        container.start()
        image_id = container.image.id if container.image else None
        self.on_event("target_started", service=target.name, image=target.image, image_id=image_id,
                      container_id=container.id)

    def _wait_dependencies(self, target: TargetPlan, timeout: float) -> None:
        for dependency, condition in target.depends_on.items():
            if condition == "service_healthy":
                self._wait_healthy(dependency, timeout)

    def _wait_healthy(self, service: str, timeout: float) -> None:
        container = self.client.containers.get(self.containers[service])

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
        return remove_run(self.client, self.plan.run_id)


def remove_run(client: docker.DockerClient, run_id: str | None = None, keep: frozenset[str] = frozenset()) -> list[str]:
    """Remove containers, networks and volumes labelled with ``run_id`` (or every managed run except the
    runs in ``keep``: those whose harness is still running)."""
    selector = f"{RUN}={run_id}" if run_id else f"{MANAGED}=true"
    removed = []
    for container in client.containers.list(all=True, filters={"label": selector}):
        if container.labels.get(RUN) in keep:
            continue
        try:
            container.remove(force=True, v=True)
            removed.append(f"container {container.name}")
        except docker.errors.NotFound:
            pass
    for network in client.networks.list(filters={"label": selector}):
        if (network.attrs.get("Labels") or {}).get(RUN) in keep:
            continue
        try:
            network.remove()
            removed.append(f"network {network.name}")
        except docker.errors.NotFound:
            pass
    for volume in client.volumes.list(filters={"label": selector}):
        if (volume.attrs.get("Labels") or {}).get(RUN) in keep:
            continue
        try:
            volume.remove(force=True)
            removed.append(f"volume {volume.name}")
        except docker.errors.NotFound:
            pass
    return removed


def _published_port(container, port: int) -> int:
    container.reload()
    bindings = container.attrs["NetworkSettings"]["Ports"].get(f"{port}/tcp") or []
    for binding in bindings:
        if binding.get("HostIp") in ("127.0.0.1", "") and binding.get("HostPort"):
            return int(binding["HostPort"])
    raise EnvironmentProblem(f"port {port} of {container.name} is not published on 127.0.0.1")


def _answers(client: ToxiproxyClient) -> bool:
    try:
        client.version()
        return True
    except ToxiproxyError:
        return False


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
