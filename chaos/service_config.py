"""A compose service in Compose's canonical form → what the harness starts. Pure.

Two outputs: the fields every part of the harness reads about a service (image, command,
environment, ports, dependencies, healthcheck: :func:`service_fields`, validated as a
``spec.Service``), and how its containers are made (:func:`runtime`: mounts, secrets and
configs, networks, replicas, restart policy and the engine options that need no translation).
What the harness does differently from ``docker compose up``, and why, is in :data:`ADJUSTED`.
"""

from __future__ import annotations

import re

CLOCK_LABEL = "chaos.clock"  # `labels: {chaos.clock: skewable}`: Compose drops x- keys inside services
DEFAULT_NETWORK = "default"

# Keys Compose accepts that the harness applies differently, with the reason (docs and warnings).
ADJUSTED = {
    "ports": "published on 127.0.0.1 with a free host port, whatever host address and port the file asks for: "
             "runs never collide and nothing is reachable from outside the machine; the harness reads the port back",
    "container_name": "containers are named chaos-<run id>-<service> so runs never collide",
    "logging": "containers log with the engine's default driver, so the harness can read their logs",
    "pull_policy": "an image that is missing is built (if the service says how) or pulled, once",
    "develop": "watch mode is for development sessions, not experiments",
    "post_start": "lifecycle hooks are not run",
    "pre_stop": "lifecycle hooks are not run",
    "scale": "use deploy.replicas",
    "gpus": "GPU reservations are not applied",
}
# Of those, the ones a person should hear about when a file uses them (the others are routine).
WARNED = ("post_start", "pre_stop", "gpus")
# Keys that need something the harness cannot give: refused where a fault would need it (see spec).
UNSUPPORTED = {
    "provider": "services run by a provider plugin are not containers the harness can fault",
    "models": "model runners are not containers the harness can fault",
}

_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_FACTORS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def go_duration(text: str | int | float | None) -> float | None:
    """Seconds from a Go duration as Compose writes it (``1m30s``, ``500ms``); None stays None."""
    if text is None:
        return None
    if isinstance(text, (int, float)):
        return float(text)
    parts = _DURATION.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text.strip().lstrip("+"):
        raise ValueError(f"{text!r} is not a duration")
    return sum(float(number) * _FACTORS[unit] for number, unit in parts)


def default_image(project: str, service: str) -> str:
    """The tag a service with ``build`` and no ``image`` gets, as Compose names it."""
    return f"{project}-{service}".lower()


# ---- what every part of the harness reads ----------------------------------------------------


def unescape(value):
    """``$$`` is how a compose file writes a literal ``$``; `config` keeps the escape, `up` removes it."""
    if isinstance(value, str):
        return value.replace("$$", "$")
    if isinstance(value, list):
        return [unescape(v) for v in value]
    if isinstance(value, dict):
        return {k: unescape(v) for k, v in value.items()}
    return value


def service_fields(project: str, name: str, service: dict) -> dict:
    """The data of a ``spec.Service`` for one canonical compose service."""
    service = {key: unescape(service.get(key)) if key in _ESCAPED else service.get(key) for key in service}
    labels = dict(service.get("labels") or {})
    fields = {
        "image": service.get("image") or default_image(project, name),
        "command": service.get("command"),
        "entrypoint": service.get("entrypoint"),
        "environment": {k: "" if v is None else str(v) for k, v in (service.get("environment") or {}).items()},
        "ports": [f"127.0.0.1::{p['target']}" for p in service.get("ports") or []
                  if p.get("protocol", "tcp") == "tcp"],
        "depends_on": {dep: {"condition": spec.get("condition", "service_started")}
                       for dep, spec in (service.get("depends_on") or {}).items()},
        "healthcheck": healthcheck(service.get("healthcheck")),
        "labels": labels,
        "working_dir": service.get("working_dir"),
        "user": service.get("user"),
        "clock": "skewable" if labels.get(CLOCK_LABEL) == "skewable" else "normal",
    }
    build = service.get("build")
    if build:
        fields["build"] = {"context": build.get("context", "."), "dockerfile": build.get("dockerfile"),
                           "args": {k: "" if v is None else v for k, v in (build.get("args") or {}).items()},
                           "target": build.get("target")}
    return fields


_ESCAPED = ("command", "entrypoint", "environment", "healthcheck", "labels", "working_dir", "user")


def healthcheck(canonical: dict | None) -> dict | None:
    """The healthcheck as the harness's model holds it; 0 where the file says nothing (the engine's own
    defaults then apply, as with `docker compose up`). A disabled one, or none, is None (see
    :func:`runtime` for the image's own HEALTHCHECK)."""
    if not canonical or canonical.get("disable") or not canonical.get("test"):
        return None
    test = canonical["test"]
    if test == ["NONE"]:
        return None
    return {"test": test, "interval": go_duration(canonical.get("interval")) or 0.0,
            "timeout": go_duration(canonical.get("timeout")) or 0.0,
            "retries": int(canonical.get("retries") or 0),
            "start_period": go_duration(canonical.get("start_period")) or 0.0}


# ---- how its containers are made -------------------------------------------------------------


def runtime(service: dict) -> dict:
    """The TargetPlan fields beyond the common ones, all plain JSON data."""
    deploy = service.get("deploy") or {}
    replicas = deploy.get("replicas", service.get("scale", 1))
    return {
        "replicas": 1 if replicas is None else int(replicas),
        "networks": _networks(service),
        "network_mode": service.get("network_mode"),
        "mounts": [_mount(v) for v in service.get("volumes") or []],
        "files": [_file("secrets", s) for s in service.get("secrets") or []]
                 + [_file("configs", c) for c in service.get("configs") or []],
        "restart": _restart(service.get("restart"), deploy.get("restart_policy")),
        "healthcheck_disabled": bool((service.get("healthcheck") or {}).get("disable")),
        "options": options(service),
    }


def _networks(service: dict) -> dict[str, list[str]]:
    if service.get("network_mode"):
        return {}
    networks = service.get("networks") or {DEFAULT_NETWORK: None}
    return {key: list((settings or {}).get("aliases") or []) for key, settings in networks.items()}


def _mount(volume: dict) -> dict:
    mount = {"type": volume["type"], "target": volume["target"], "source": volume.get("source"),
             "read_only": bool(volume.get("read_only"))}
    if volume["type"] == "volume" and (volume.get("volume") or {}).get("nocopy"):
        mount["no_copy"] = True
    if volume["type"] == "volume" and (volume.get("volume") or {}).get("subpath"):
        mount["subpath"] = volume["volume"]["subpath"]
    if volume["type"] == "bind":
        bind = volume.get("bind") or {}
        mount["propagation"] = bind.get("propagation")
        mount["create_host_path"] = bind.get("create_host_path", True)
    if volume["type"] == "tmpfs":
        tmpfs = volume.get("tmpfs") or {}
        mount["tmpfs_size"] = int(tmpfs["size"]) if tmpfs.get("size") else None
        mount["tmpfs_mode"] = tmpfs.get("mode")
    return mount


def _file(kind: str, reference: dict) -> dict:
    """A secret or config to place in the container: compose's default target for each kind."""
    source = reference["source"]
    target = reference.get("target") or f"/{source}"
    if kind == "secrets" and not target.startswith("/"):
        target = f"/run/secrets/{target}"
    mode = reference.get("mode")
    return {"kind": kind, "source": source, "target": target,
            "mode": int(str(mode), 8) if mode is not None else 0o444,
            "uid": int(reference["uid"]) if reference.get("uid") else 0,
            "gid": int(reference["gid"]) if reference.get("gid") else 0}


def _restart(policy: str | None, deploy_policy: dict | None) -> dict | None:
    if policy:
        name, _, count = policy.partition(":")
        return {"Name": name, "MaximumRetryCount": int(count or 0)} if name != "no" else None
    if deploy_policy:
        condition = deploy_policy.get("condition", "any")
        names = {"any": "always", "on-failure": "on-failure", "none": None}
        name = names.get(condition)
        return {"Name": name, "MaximumRetryCount": int(deploy_policy.get("max_attempts") or 0)} if name else None
    return None


# Compose key -> docker SDK `containers.create` keyword, for values that pass through unchanged.
_SAME = {
    "hostname": "hostname", "domainname": "domainname", "cap_add": "cap_add", "cap_drop": "cap_drop",
    "privileged": "privileged", "read_only": "read_only", "init": "init", "stop_signal": "stop_signal",
    "tty": "tty", "stdin_open": "stdin_open", "dns": "dns", "dns_search": "dns_search", "dns_opt": "dns_opt",
    "security_opt": "security_opt", "group_add": "group_add", "ipc": "ipc_mode", "pid": "pid_mode",
    "uts": "uts_mode", "userns_mode": "userns_mode", "cgroup_parent": "cgroup_parent", "cgroup": "cgroupns",
    "oom_score_adj": "oom_score_adj", "oom_kill_disable": "oom_kill_disable", "mac_address": "mac_address",
    "cpu_shares": "cpu_shares", "cpuset": "cpuset_cpus", "cpu_period": "cpu_period", "cpu_quota": "cpu_quota",
    "cpu_rt_period": "cpu_rt_period", "cpu_rt_runtime": "cpu_rt_runtime", "pids_limit": "pids_limit",
    "runtime": "runtime", "isolation": "isolation", "storage_opt": "storage_opt", "sysctls": "sysctls",
    "device_cgroup_rules": "device_cgroup_rules", "mem_swappiness": "mem_swappiness", "platform": "platform",
}
_BYTES = {"mem_limit": "mem_limit", "mem_reservation": "mem_reservation", "memswap_limit": "memswap_limit",
          "shm_size": "shm_size"}


def options(service: dict) -> dict:
    """Keyword arguments for the engine's create call that depend on nothing but the service."""
    found = {sdk: service[key] for key, sdk in _SAME.items() if service.get(key) not in (None, [], {})}
    found.update({sdk: int(service[key]) for key, sdk in _BYTES.items() if service.get(key) not in (None, "", 0)})
    if service.get("cpus"):
        found["nano_cpus"] = int(float(service["cpus"]) * 1e9)
    if service.get("tmpfs"):
        found["tmpfs"] = dict(_tmpfs(entry) for entry in service["tmpfs"])
    if service.get("ulimits"):
        found["ulimits"] = [_ulimit(name, value) for name, value in service["ulimits"].items()]
    if service.get("extra_hosts"):
        found["extra_hosts"] = _extra_hosts(service["extra_hosts"])
    if service.get("devices"):
        found["devices"] = [_device(d) for d in service["devices"]]
    if service.get("stop_grace_period"):
        found["stop_timeout"] = int(round(go_duration(service["stop_grace_period"])))
    if service.get("volumes_from"):
        found["volumes_from"] = list(service["volumes_from"])
    found.update(_deploy_resources((service.get("deploy") or {}).get("resources") or {}))
    return found


def _tmpfs(entry: str) -> tuple[str, str]:
    path, _, settings = entry.partition(":")
    return path, settings


def _ulimit(name: str, value) -> dict:
    if isinstance(value, dict):
        return {"name": name, "soft": int(value.get("soft", 0)), "hard": int(value.get("hard", 0))}
    return {"name": name, "soft": int(value), "hard": int(value)}


def _extra_hosts(hosts) -> dict[str, str]:
    if isinstance(hosts, dict):
        return {name: (ips[0] if isinstance(ips, list) else ips) for name, ips in hosts.items()}
    pairs = (re.split(r"[:=]", entry, maxsplit=1) for entry in hosts)
    return {name: address for name, address in pairs}


def _device(device) -> str:
    if isinstance(device, str):
        return device
    return ":".join(filter(None, (device.get("source"), device.get("target"), device.get("permissions"))))


def _deploy_resources(resources: dict) -> dict:
    found = {}
    limits, reservations = resources.get("limits") or {}, resources.get("reservations") or {}
    if limits.get("cpus"):
        found["nano_cpus"] = int(float(limits["cpus"]) * 1e9)
    if limits.get("memory"):
        found["mem_limit"] = int(limits["memory"])
    if limits.get("pids"):
        found["pids_limit"] = int(limits["pids"])
    if reservations.get("memory"):
        found["mem_reservation"] = int(reservations["memory"])
    return found
