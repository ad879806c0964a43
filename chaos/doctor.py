"""`chaos doctor`: is this machine ready to run experiments? One line per requirement.

Each check talks to the Docker engine the harness would use (`DOCKER_HOST`, Docker
contexts), so a failure here is the failure `chaos run` would meet, said earlier and with a
fix. Containers started here carry the harness labels and are removed by id.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from enum import Enum
from typing import Callable

from rich.console import Console
from rich.text import Text

from chaos.images import (
    BASE_IMAGE,
    FAKETIME_LIBRARY,
    FAKETIME_SOURCE_VERSION,
    HELPER_IMAGE,
    REQUIRED_IMAGES,
    SHOP_IMAGES,
    TOXIPROXY_API_PORT,
    TOXIPROXY_IMAGE,
    TOXIPROXY_VERSION,
)

DOCKER_API_TIMEOUT_S = 20
TOXIPROXY_ANSWER_TIMEOUT_S = 15
HELPER_RUN_TIMEOUT_S = 30
DEFAULT_ENGINE_ADDRESS = "unix:///var/run/docker.sock"

SETUP_HINT = "run `make setup`"
ENGINE_NAME = "docker engine"
PERMISSION_NAME = "docker permission"
TOXIPROXY_RUN_NAME = "toxiproxy runs"
IPTABLES_NAME = "iptables in helper"
FAKETIME_NAME = "libfaketime in helper"
FAKETIME_PROBE_OFFSET_S = 100
# Inside the helper: the real clock from `date`, then a preloaded Python reading the skewed wall
# clock, sleeping and waiting (the calls bookworm's own libfaketime breaks) on the monotonic clock.
FAKETIME_PROBE = (
    f"echo +{FAKETIME_PROBE_OFFSET_S} > /tmp/skew && date +%s.%N && "
    f"test -f {FAKETIME_LIBRARY} && "
    f"LD_PRELOAD={FAKETIME_LIBRARY} FAKETIME_TIMESTAMP_FILE=/tmp/skew FAKETIME_NO_CACHE=1 "
    "FAKETIME_DONT_FAKE_MONOTONIC=1 python3 -c 'import threading,time; w=time.time(); m=time.monotonic(); "
    "time.sleep(0.05); threading.Event().wait(0.05); print(w, time.monotonic()-m)'"
)


class Status(str, Enum):
    PASS = "ok"
    FAIL = "FAIL"
    SKIP = "skip"


@dataclass(frozen=True)
class Check:
    name: str
    status: Status
    detail: str
    hint: str | None = None


# ---------------------------------------------------------------- pure parts


def engine_error_is_permission(error: str) -> bool:
    return "permission denied" in error.lower()


def describe_engine_error(error: str) -> str:
    """A short reason from the docker SDK's long, nested error text."""
    lowered = error.lower()
    reasons = (
        ("permission denied", "permission denied"),
        ("no such file or directory", "socket not found"),
        ("connection refused", "connection refused"),
        ("timed out", "timed out"),
        ("name or service not known", "host name not known"),
    )
    for needle, reason in reasons:
        if needle in lowered:
            return reason
    first_line = error.strip().splitlines()[0] if error.strip() else "unknown error"
    return first_line[:160]


def engine_unreachable_hint(docker_host: str | None) -> str:
    if docker_host:
        return f"start the engine at DOCKER_HOST={docker_host}, or unset DOCKER_HOST to use the local one"
    return (
        "start Docker: as root on Debian `make setup` installs and starts dockerd; "
        "elsewhere `sudo systemctl start docker` or start Docker Desktop"
    )


def permission_hint() -> str:
    return "add yourself to the docker group (`sudo usermod -aG docker $USER`, then log in again) or run as root"


def image_hint(image: str) -> str:
    if image in SHOP_IMAGES:
        return f"{SETUP_HINT} (it builds the shop images with targets/shop/build.sh)"
    return SETUP_HINT


def toxiproxy_unreachable_hint(docker_host: str | None) -> str:
    if docker_host and not docker_host.startswith("unix://"):
        return (
            f"the engine at {docker_host} is remote: its loopback ports are not reachable from here; "
            "run chaos on the engine's machine"
        )
    return f"check `docker logs` of a container from {TOXIPROXY_IMAGE}; rebuild it with `docker rmi {TOXIPROXY_IMAGE}` and {SETUP_HINT}"


def iptables_hint(output: str) -> str:
    lowered = output.lower()
    if "not found" in lowered:
        return f"the helper image lacks iptables: `docker rmi {BASE_IMAGE} {HELPER_IMAGE}` and {SETUP_HINT}"
    return (
        "iptables fails inside containers on this engine: partition faults need netfilter "
        "in the kernel and NET_ADMIN (rootless engines do not grant it)"
    )


def faketime_hint(output: str) -> str:
    if "no such file" in output.lower() or "exit 1" in output.lower():
        return f"the helper image lacks {FAKETIME_LIBRARY}: `docker rmi {HELPER_IMAGE}` and {SETUP_HINT}"
    return f"rebuild libfaketime: `rm -rf .cache/faketime`, `docker rmi {HELPER_IMAGE}` and {SETUP_HINT}"


def judge_faketime_probe(output: str) -> tuple[bool, str]:
    """From the probe's output (real time, then skewed time and monotonic elapsed): works, and why."""
    try:
        real_line, faked_line = output.strip().splitlines()[-2:]
        real = float(real_line)
        faked, elapsed = (float(x) for x in faked_line.split())
    except ValueError:
        return False, f"unexpected output: {output.strip()[-160:] or 'none'}"
    skew = faked - real
    if not FAKETIME_PROBE_OFFSET_S - 5 <= skew <= FAKETIME_PROBE_OFFSET_S + 5:
        return False, f"wall clock moved {skew:+.1f}s, expected +{FAKETIME_PROBE_OFFSET_S}s"
    if not 0.09 <= elapsed < 5:
        return False, f"sleep and wait took {elapsed:.3f}s on the monotonic clock, expected about 0.1s"
    return True, f"{FAKETIME_SOURCE_VERSION}: wall clock {skew:+.1f}s, sleeps and monotonic clock intact"


def parse_toxiproxy_version(body: str) -> str:
    """`GET /version` answers JSON ({"version": ...}) in newer servers, plain text in older ones."""
    try:
        parsed = json.loads(body)
    except ValueError:
        return body.strip()
    if isinstance(parsed, dict) and "version" in parsed:
        return str(parsed["version"])
    return body.strip()


def image_detail(short_id: str, size_bytes: int) -> str:
    return f"present ({short_id.removeprefix('sha256:')}, {size_bytes / 1_000_000:.0f} MB)"


def exit_code(checks: list[Check]) -> int:
    return 0 if checks and all(check.status is Status.PASS for check in checks) else 1


def summary(checks: list[Check]) -> str:
    failed = sum(check.status is Status.FAIL for check in checks)
    skipped = sum(check.status is Status.SKIP for check in checks)
    if not failed and not skipped:
        return f"all {len(checks)} requirements met"
    parts = [f"{failed} of {len(checks)} requirements not met"]
    if skipped:
        parts.append(f"{skipped} not checked")
    return "; ".join(parts)


def format_line(check: Check, name_width: int) -> Text:
    """One requirement as a styled line; `.plain` is what a log or a pipe receives."""
    styles = {Status.PASS: "green", Status.FAIL: "bold red", Status.SKIP: "yellow"}
    line = Text()
    line.append(f"{check.status.value:<4}", style=styles[check.status])
    line.append(f"  {check.name:<{name_width}}  {check.detail}")
    if check.hint and check.status is not Status.PASS:
        line.append("  fix: ", style="bold")
        line.append(check.hint)
    return line


def render(checks: list[Check]) -> list[Text]:
    name_width = max((len(check.name) for check in checks), default=0)
    lines = [format_line(check, name_width) for check in checks]
    lines.append(Text(summary(checks), style="bold" if exit_code(checks) == 0 else "bold red"))
    return lines


# ---------------------------------------------------------------- checks against the engine


def _engine_address() -> str:
    docker_host = os.environ.get("DOCKER_HOST")
    if docker_host:
        return docker_host
    try:
        from docker.context import ContextAPI

        return ContextAPI.get_current_context().Host or DEFAULT_ENGINE_ADDRESS
    except Exception:
        return DEFAULT_ENGINE_ADDRESS


def _doctor_labels() -> dict[str, str]:
    from chaos.labels import EXPERIMENT, MANAGED, RUN

    return {MANAGED: "true", RUN: f"doctor-{os.getpid()}", EXPERIMENT: "doctor"}


def _engine_checks(connect: Callable[[], object]):
    """Returns (client or None, [engine check, permission check])."""
    address = _engine_address()
    docker_host = os.environ.get("DOCKER_HOST")
    try:
        client = connect()
        version = client.version()
    except Exception as error:  # the SDK raises several unrelated types for "no engine"
        message = str(error)
        reason = describe_engine_error(message)
        if engine_error_is_permission(message):
            return None, [
                Check(ENGINE_NAME, Status.SKIP, f"not asked: no permission on {address}"),
                Check(PERMISSION_NAME, Status.FAIL, f"{address}: permission denied", permission_hint()),
            ]
        return None, [
            Check(ENGINE_NAME, Status.FAIL, f"no answer at {address} ({reason})", engine_unreachable_hint(docker_host)),
            Check(PERMISSION_NAME, Status.SKIP, "not checked: no engine"),
        ]
    engine = Check(
        ENGINE_NAME,
        Status.PASS,
        f"server {version.get('Version', '?')} (API {version.get('ApiVersion', '?')}) at {address}",
    )
    try:
        client.containers.list(limit=1)
        rootless = any("rootless" in option for option in client.info().get("SecurityOptions", []))
        permission = Check(PERMISSION_NAME, Status.PASS, "may use the engine" + (" (rootless)" if rootless else ""))
    except Exception as error:
        permission = Check(PERMISSION_NAME, Status.FAIL, describe_engine_error(str(error)), permission_hint())
    return client, [engine, permission]


def _image_check(client, image: str) -> Check:
    import docker.errors

    name = f"image {image}"
    try:
        found = client.images.get(image)
    except docker.errors.ImageNotFound:
        return Check(name, Status.FAIL, "missing", image_hint(image))
    except Exception as error:
        return Check(name, Status.FAIL, f"cannot inspect: {describe_engine_error(str(error))}", image_hint(image))
    return Check(name, Status.PASS, image_detail(found.short_id, found.attrs.get("Size", 0)))


def _published_port(container, deadline: float) -> int:
    key = f"{TOXIPROXY_API_PORT}/tcp"
    while True:
        container.reload()
        if container.status == "exited":
            raise RuntimeError(f"container exited: {container.logs(tail=3).decode(errors='replace').strip()}")
        bindings = (container.ports or {}).get(key)
        if bindings:
            return int(bindings[0]["HostPort"])
        if time.monotonic() > deadline:
            raise TimeoutError(f"no host port published for {key}")
        time.sleep(0.1)


def _toxiproxy_version_at(port: int, deadline: float) -> str:
    url = f"http://127.0.0.1:{port}/version"
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return parse_toxiproxy_version(response.read().decode(errors="replace"))
        except (urllib.error.URLError, ConnectionError, TimeoutError) as error:
            if time.monotonic() > deadline:
                raise TimeoutError(f"no answer from {url}: {error}") from error
            time.sleep(0.2)


def _toxiproxy_check(client, labels: dict[str, str]) -> Check:
    deadline = time.monotonic() + TOXIPROXY_ANSWER_TIMEOUT_S
    container = None
    try:
        container = client.containers.run(
            TOXIPROXY_IMAGE,
            detach=True,
            labels=labels,
            ports={f"{TOXIPROXY_API_PORT}/tcp": ("127.0.0.1", None)},
        )
        port = _published_port(container, deadline)
        answered = _toxiproxy_version_at(port, deadline)
    except Exception as error:
        return Check(
            TOXIPROXY_RUN_NAME,
            Status.FAIL,
            str(error).splitlines()[0][:200] if str(error) else type(error).__name__,
            toxiproxy_unreachable_hint(os.environ.get("DOCKER_HOST")),
        )
    finally:
        if container is not None:
            _remove_quietly(container)
    if answered != TOXIPROXY_VERSION:
        return Check(
            TOXIPROXY_RUN_NAME,
            Status.FAIL,
            f"API answers version {answered!r}, expected {TOXIPROXY_VERSION}",
            f"`docker rmi {TOXIPROXY_IMAGE}` and {SETUP_HINT}",
        )
    return Check(TOXIPROXY_RUN_NAME, Status.PASS, f"API on 127.0.0.1:{port} answers version {answered}")


def _iptables_check(client, labels: dict[str, str]) -> Check:
    container = None
    try:
        container = client.containers.run(
            HELPER_IMAGE,
            ["sh", "-c", "iptables --version && iptables -w 5 -L -n >/dev/null"],
            detach=True,
            labels=labels,
            cap_add=["NET_ADMIN"],
            network_mode="none",
        )
        result = container.wait(timeout=HELPER_RUN_TIMEOUT_S)
        output = container.logs().decode(errors="replace").strip()
    except Exception as error:
        return Check(IPTABLES_NAME, Status.FAIL, describe_engine_error(str(error)), iptables_hint(str(error)))
    finally:
        if container is not None:
            _remove_quietly(container)
    lines = output.splitlines() or ["no output"]
    if result.get("StatusCode") != 0:
        return Check(IPTABLES_NAME, Status.FAIL, f"exit {result.get('StatusCode')}: {lines[-1]}", iptables_hint(output))
    return Check(IPTABLES_NAME, Status.PASS, f"{lines[0]}, rules listable with NET_ADMIN")


def _faketime_check(client, labels: dict[str, str]) -> Check:
    container = None
    try:
        container = client.containers.run(HELPER_IMAGE, ["sh", "-c", FAKETIME_PROBE], detach=True, labels=labels,
                                          network_mode="none")
        result = container.wait(timeout=HELPER_RUN_TIMEOUT_S)
        output = container.logs().decode(errors="replace")
    except Exception as error:
        return Check(FAKETIME_NAME, Status.FAIL, describe_engine_error(str(error)), faketime_hint(str(error)))
    finally:
        if container is not None:
            _remove_quietly(container)
    if result.get("StatusCode") != 0:
        return Check(FAKETIME_NAME, Status.FAIL, f"exit {result.get('StatusCode')}: {output.strip()[-160:]}",
                     faketime_hint(f"exit {result.get('StatusCode')} {output}"))
    works, detail = judge_faketime_probe(output)
    return Check(FAKETIME_NAME, Status.PASS if works else Status.FAIL, detail, None if works else faketime_hint(output))


def _remove_quietly(container) -> None:
    try:
        container.remove(force=True)
    except Exception:
        pass  # already gone; nothing of ours is left


def _connect():
    import docker

    return docker.from_env(timeout=DOCKER_API_TIMEOUT_S)


COMPOSE_NAME = "docker compose"


def compose_check() -> Check:
    """Compose reads the users' compose files (no engine needed for that)."""
    from chaos.compose import compose_command
    from chaos.errors import EnvironmentProblem

    try:
        command = compose_command()
        done = subprocess.run([*command, "version", "--short"], capture_output=True, text=True, timeout=20)
    except (EnvironmentProblem, OSError, subprocess.TimeoutExpired) as exc:
        return Check(COMPOSE_NAME, Status.FAIL, str(exc).split(":")[0],
                     "install the docker compose plugin (v2+), or run `make setup` (it builds Compose from source)")
    where = "plugin" if command[:2] == ["docker", "compose"] else os.path.basename(command[0])
    return Check(COMPOSE_NAME, Status.PASS, f"{done.stdout.strip()} ({where}), reads compose files")


def run_checks(connect: Callable[[], object] = _connect) -> list[Check]:
    return [*_engine_and_image_checks(connect), compose_check()]


def _engine_and_image_checks(connect: Callable[[], object]) -> list[Check]:
    client, checks = _engine_checks(connect)
    if client is None or checks[-1].status is not Status.PASS:
        checks += [Check(f"image {image}", Status.SKIP, "not checked: no engine") for image in REQUIRED_IMAGES]
        checks.append(Check(TOXIPROXY_RUN_NAME, Status.SKIP, "not checked: no engine"))
        checks.append(Check(IPTABLES_NAME, Status.SKIP, "not checked: no engine"))
        checks.append(Check(FAKETIME_NAME, Status.SKIP, "not checked: no engine"))
        return checks
    try:
        image_checks = {image: _image_check(client, image) for image in REQUIRED_IMAGES}
        checks += image_checks.values()
        labels = _doctor_labels()
        if image_checks[TOXIPROXY_IMAGE].status is Status.PASS:
            checks.append(_toxiproxy_check(client, labels))
        else:
            checks.append(Check(TOXIPROXY_RUN_NAME, Status.SKIP, "not checked: image missing"))
        if image_checks[HELPER_IMAGE].status is Status.PASS:
            checks.append(_iptables_check(client, labels))
            checks.append(_faketime_check(client, labels))
        else:
            checks.append(Check(IPTABLES_NAME, Status.SKIP, "not checked: image missing"))
            checks.append(Check(FAKETIME_NAME, Status.SKIP, "not checked: image missing"))
    finally:
        client.close()
    return checks


def doctor_command(console: Console | None = None) -> int:
    """Prints one line per requirement and returns the exit code (0 only when all are met)."""
    console = console or Console(soft_wrap=True, highlight=False, emoji=False)
    checks = run_checks()
    for line in render(checks):
        console.print(line)
    return exit_code(checks)


if __name__ == "__main__":
    sys.exit(doctor_command())
