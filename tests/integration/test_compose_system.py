"""A compose file using most of the Compose Specification, started twice on the real engine: by the
harness and by `docker compose up` itself. The containers must agree on everything the file says
(commands, environment, users, mounts, resources, healthchecks, networks, replicas, restart
policy), the system must work (secrets and configs readable, a one-shot job's volume data seen by
its dependents, an internal network), and named-volume data must survive kill, stop and restart."""

from __future__ import annotations

import secrets
import subprocess
import textwrap
import urllib.request

import pytest

from chaos import compose, spec
from chaos.errors import EnvironmentProblem
from chaos.faults import build
from chaos.plan import FaultPlan, make_plan
from chaos.spec import load_experiment
from chaos.labels import MANAGED, ROLE, RUN
from chaos.system import System

pytestmark = pytest.mark.integration

DOCKERFILE = """\
FROM chaos-base:bookworm AS base
RUN mkdir -p /srv/site && echo base > /srv/site/stage.txt
FROM base AS web
ARG GREETING=none
RUN echo "$GREETING" > /srv/site/greeting.txt
FROM base AS other
RUN echo other > /srv/site/stage.txt
"""

COMPOSE = """\
name: richapp
x-base: &base
  image: chaos-base:bookworm
  networks: [back]
services:
  web:
    build: {context: ., target: web, args: {GREETING: "${GREETING:-unset}"}}
    command: ["python3", "-m", "http.server", "8000", "--directory", "/srv/site"]
    working_dir: /srv
    user: "65534:65534"
    env_file: web.env
    environment:
      LITERAL: "costs $$5"
      FROM_DOTENV: ${FROM_DOTENV}
    hostname: webhost
    domainname: example.test
    cap_drop: [NET_RAW]
    cap_add: [CHOWN]
    ulimits: {nofile: {soft: 1024, hard: 2048}, nproc: 512}
    sysctls: {net.ipv4.ip_unprivileged_port_start: "0"}
    init: true
    stop_signal: SIGINT
    stop_grace_period: 7s
    tmpfs: ["/run/extra:size=1m"]
    volumes:
      - data:/data
      - ./files:/srv/files:ro
      - {type: tmpfs, target: /scratch}
    secrets: [token, {source: token, target: token2}]
    configs: [{source: settings, target: /etc/settings.ini}, {source: inline, target: /etc/inline.txt}]
    deploy:
      replicas: 2
      resources: {limits: {cpus: "0.5", memory: 128M, pids: 64}, reservations: {memory: 32M}}
    networks: {front: {aliases: [www]}, back: null}
    ports: ["127.0.0.1::8000"]
    healthcheck:
      test: python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/')"
      interval: 1s
      timeout: 2s
      retries: 30
    depends_on:
      seed: {condition: service_completed_successfully}
      cache: {condition: service_healthy}
    restart: unless-stopped
  seed:
    <<: *base
    command: ["sh", "-c", "echo seeded > /data/seed.txt"]
    volumes: [data:/data]
  cache:
    <<: *base
    command: [redis-server, --save, "", --appendonly, "no", --protected-mode, "no"]
    volumes: [data:/data]
    healthcheck: {test: [CMD, redis-cli, ping], interval: 1s, retries: 30}
  locked:
    image: chaos-base:bookworm
    command: [sleep, infinity]
    read_only: true
    tmpfs: [/tmp]
    healthcheck: {disable: true}
    network_mode: none
  sidecar:
    image: chaos-base:bookworm
    command: [sleep, infinity]
    network_mode: host    # no fault or link touches it: it runs as Compose would run it
volumes:
  data: {}
networks:
  front: {}
  back: {internal: true}
secrets:
  token: {file: ./token.txt}
configs:
  settings: {file: ./settings.ini}
  inline: {content: "written inline"}
"""

EXPERIMENT = """\
name: compose-rich
targets:
  compose: compose.yaml
load:
  scenario: [{path: /greeting.txt}]
  target: web:8000
"""


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    folder = tmp_path_factory.mktemp("richapp")
    (folder / "Dockerfile").write_text(DOCKERFILE)
    (folder / "compose.yaml").write_text(COMPOSE)
    (folder / ".env").write_text("FROM_DOTENV=dotenv-value\nGREETING=hello\n")
    (folder / "web.env").write_text("FROM_ENV_FILE=env-file-value\n")
    (folder / "token.txt").write_text("s3cret-token\n")
    (folder / "settings.ini").write_text("[app]\nmode=test\n")
    (folder / "files").mkdir()
    (folder / "files" / "hello.txt").write_text("hello from a bind mount\n")
    (folder / "experiment.yaml").write_text(EXPERIMENT)
    return folder


@pytest.fixture(scope="module")
def harness(project, docker_client, leftovers):
    system = System(make_plan(load_experiment(project / "experiment.yaml", {}), seed=3), docker_client)
    try:
        assert system.build_missing() == []
        system.up(health_timeout=120)
        yield system
    finally:
        system.down()
        assert leftovers(docker_client, system.plan.run_id) == []


@pytest.fixture(scope="module")
def composed(project, docker_client):
    """The same file started by `docker compose up --wait`; its containers by service, in replica order."""
    name = f"chaos-test-{secrets.token_hex(3)}"
    command = [*compose.compose_command(), "-p", name, "-f", str(project / "compose.yaml")]
    try:
        subprocess.run([*command, "up", "--wait", "--quiet-pull"], check=True, capture_output=True, timeout=300,
                       cwd=project)
        found: dict[str, list] = {}
        listed = docker_client.containers.list(all=True, filters={"label": f"com.docker.compose.project={name}"})
        for container in sorted(listed, key=lambda c: int(c.labels["com.docker.compose.container-number"])):
            found.setdefault(container.labels["com.docker.compose.service"], []).append(container)
        yield found
    finally:
        subprocess.run([*command, "down", "--volumes", "--rmi", "local", "--timeout", "2"], capture_output=True,
                       timeout=300, cwd=project)


def ours(system: System) -> dict[str, list]:
    return {service: [system.client.containers.get(i) for i in ids] for service, ids in system.replicas.items()}


def essentials(container) -> dict:
    """What a compose file decides about a container, with the names of the project taken out."""
    config, host = container.attrs["Config"], container.attrs["HostConfig"]
    networks = container.attrs["NetworkSettings"]["Networks"]
    same = {  # written two ways the engine treats alike: CAP_CHOWN and CHOWN, ulimits in any order
        "CapAdd": sorted(c.removeprefix("CAP_") for c in host.get("CapAdd") or []),
        "CapDrop": sorted(c.removeprefix("CAP_") for c in host.get("CapDrop") or []),
        "Ulimits": sorted(host.get("Ulimits") or [], key=lambda u: u["Name"]),
    }
    return {
        "Cmd": config.get("Cmd"), "Entrypoint": config.get("Entrypoint"), "Env": sorted(config.get("Env") or []),
        "User": config.get("User"), "WorkingDir": config.get("WorkingDir"),
        "Domainname": config.get("Domainname"), "StopSignal": config.get("StopSignal"),
        "StopTimeout": config.get("StopTimeout"), "Healthcheck": config.get("Healthcheck"),
        **same,
        **{key: host.get(key) for key in ("Sysctls", "Init", "ReadonlyRootfs",
                                          "NanoCpus", "Memory", "MemoryReservation", "PidsLimit", "Tmpfs",
                                          "RestartPolicy")},
        "NetworkMode": host.get("NetworkMode") if host.get("NetworkMode") in ("none", "host") else "networks",
        "Mounts": sorted((m["Type"], m["Destination"], m["RW"]) for m in container.attrs["Mounts"]),
        "Networks": sorted(name.rsplit("_", 1)[-1].rsplit("-", 1)[-1] for name in networks if name != "none"),
        "Aliases": sorted({a for n in networks.values() for a in (n.get("Aliases") or [])
                           if a in ("web", "www", "seed", "cache")}),
    }


def test_the_harness_starts_what_compose_starts(harness, composed):
    mine = ours(harness)
    assert {s: len(c) for s, c in mine.items()} == {s: len(c) for s, c in composed.items()}
    for service in composed:
        for replica, (theirs, own) in enumerate(zip(composed[service], mine[service])):
            assert essentials(own) == essentials(theirs), f"{service} replica {replica + 1}"
    web = mine["web"][0].attrs["Config"]
    assert web["Hostname"] == "webhost"
    assert "LITERAL=costs $5" in web["Env"] and "FROM_DOTENV=dotenv-value" in web["Env"]
    assert "FROM_ENV_FILE=env-file-value" in web["Env"]


def test_the_started_system_works(harness, docker_client):
    web = docker_client.containers.get(harness.containers["web"])
    read = {path: web.exec_run(["cat", path]).output.decode() for path in (
        "/run/secrets/token", "/run/secrets/token2", "/etc/settings.ini", "/etc/inline.txt", "/data/seed.txt",
        "/srv/files/hello.txt", "/srv/site/greeting.txt", "/srv/site/stage.txt")}
    assert read == {"/run/secrets/token": "s3cret-token\n", "/run/secrets/token2": "s3cret-token\n",
                    "/etc/settings.ini": "[app]\nmode=test\n", "/etc/inline.txt": "written inline",
                    "/data/seed.txt": "seeded\n", "/srv/files/hello.txt": "hello from a bind mount\n",
                    "/srv/site/greeting.txt": "hello\n", "/srv/site/stage.txt": "base\n"}
    port = harness.published("web", 8000)
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/greeting.txt", timeout=5) as response:
        assert response.read() == b"hello\n"
    # the edge link reaches the replicas through the service name
    with urllib.request.urlopen(f"{harness.edge_url()}/greeting.txt", timeout=5) as response:
        assert response.status == 200
    seed = docker_client.containers.get(harness.containers["seed"])
    assert seed.attrs["State"]["ExitCode"] == 0
    # back is internal: the cache reaches web by name there, and nothing outside
    cache = docker_client.containers.get(harness.containers["cache"])
    assert cache.exec_run(["getent", "hosts", "web"]).exit_code == 0
    assert harness.client.networks.get(harness.networks["back"]).attrs["Internal"] is True
    locked = docker_client.containers.get(harness.containers["locked"])
    assert locked.exec_run(["touch", "/etc/x"]).exit_code != 0  # read_only
    assert locked.exec_run(["touch", "/tmp/x"]).exit_code == 0  # its tmpfs


def test_an_image_built_for_a_build_only_service_is_reused_and_carries_no_run_label(harness, project):
    image = harness.client.images.get(harness.image_of(next(t for t in harness.plan.targets if t.name == "web")))
    # the engine copies image labels onto every container made from it, the user's own ones too
    assert not {MANAGED, RUN, ROLE} & set(image.labels or {})
    again = System(harness.plan, harness.client)
    assert again.build_missing() == []
    assert again.images["web"] == harness.images["web"]  # same context: same tag, nothing rebuilt
    (project / "files" / "new.txt").write_text("changed context\n")
    try:
        changed = System(harness.plan, harness.client)
        changed.build_missing()
        assert changed.images["web"] != harness.images["web"]
    finally:
        (project / "files" / "new.txt").unlink()
        harness.client.images.remove(changed.images["web"], noprune=False)


@pytest.mark.parametrize("kind", ["kill", "stop", "restart"])
def test_named_volume_data_survives_container_faults(harness, docker_client, kind):
    cache = docker_client.containers.get(harness.containers["cache"])
    assert cache.exec_run(["sh", "-c", f"echo kept-{kind} > /data/{kind}.txt"]).exit_code == 0
    model = {"kill": spec.Kill(type="kill", service="cache", duration=1),
             "stop": spec.Stop(type="stop", service="cache", grace=1, duration=1),
             "restart": spec.Restart(type="restart", service="cache", grace=1, duration=1)}[kind]
    plan = FaultPlan("f1", f"{kind} cache", model.type, model.family, model.target(), model.params(), 0.0,
                     model.duration, model.updates())
    adapter = build(plan, harness)
    adapter.inject()
    adapter.revert()
    cache.reload()
    assert cache.id == harness.containers["cache"] and cache.status == "running"  # restarted, not recreated
    assert cache.exec_run(["cat", f"/data/{kind}.txt"]).output == f"kept-{kind}\n".encode()


def test_a_replicated_service_is_faulted_replica_by_replica(harness):
    instances = harness.instances()
    assert {"web.1", "web.2"} <= set(instances)
    model = spec.Pause(type="pause", service="web", pick="one", duration=1)
    plan = FaultPlan("f2", "pause one web", model.type, model.family, model.target(), model.params(), 0.0,
                     model.duration, model.updates())
    adapter = build(plan, harness)
    adapter.inject()
    try:
        paused = [name for name, cid in instances.items()
                  if harness.client.api.inspect_container(cid)["State"]["Paused"]]
        assert len(paused) == 1 and paused[0].startswith("web.")
    finally:
        adapter.revert()
    assert not any(harness.client.api.inspect_container(cid)["State"]["Paused"] for cid in instances.values())


def test_network_mode_on_a_linked_service_is_refused_before_anything_starts(project, tmp_path):
    experiment = tmp_path / "experiment.yaml"
    experiment.write_text(EXPERIMENT.replace("compose: compose.yaml", f"compose: {project / 'compose.yaml'}")
                          + "links: [web -> locked:6379]\n")
    with pytest.raises(spec.SpecError) as refused:
        load_experiment(experiment, {})
    line = str(refused.value).splitlines()[0]
    assert "compose.yaml:" in line and "services.locked.network_mode" in line and "the link web -> locked" in line


def test_external_volumes_and_networks_are_used_and_kept(tmp_path, docker_client, leftovers):
    """`external: true` is the user's: joined and used, never created or removed; a missing one is named."""
    tag = secrets.token_hex(3)
    volume = docker_client.volumes.create(f"chaos-test-ext-{tag}", labels={"chaos.test": "external"})
    network = docker_client.networks.create(f"chaos-test-ext-{tag}", labels={"chaos.test": "external"})
    try:
        (tmp_path / "compose.yaml").write_text(textwrap.dedent(f"""\
            services:
              box:
                image: chaos-base:bookworm
                command: [sleep, infinity]
                volumes: [keep:/keep]
                networks: [outside]
            volumes:
              keep: {{external: true, name: {volume.name}}}
            networks:
              outside: {{external: true, name: {network.name}}}
            """))
        (tmp_path / "experiment.yaml").write_text("name: ext\ntargets: {compose: compose.yaml}\n"
                                                  "load: {scenario: [{path: /}], target: box:80}\n")
        system = System(make_plan(load_experiment(tmp_path / "experiment.yaml", {})), docker_client)
        try:
            system.up(health_timeout=30)
            box = docker_client.containers.get(system.containers["box"])
            assert box.exec_run(["sh", "-c", "echo mine > /keep/file"]).exit_code == 0
            assert network.name in box.attrs["NetworkSettings"]["Networks"]
        finally:
            system.down()
        assert leftovers(docker_client, system.plan.run_id) == []
        docker_client.volumes.get(volume.name)  # still there
        docker_client.networks.get(network.name)
        volume.remove()
        missing = System(make_plan(load_experiment(tmp_path / "experiment.yaml", {})), docker_client)
        with pytest.raises(EnvironmentProblem, match=f"volume {volume.name} .external in the compose file. "
                                                     "does not exist"):
            missing.up(health_timeout=30)
        missing.down()
    finally:
        network.remove()
        for leftover in docker_client.volumes.list(filters={"label": "chaos.test=external"}):
            leftover.remove(force=True)
