"""Compose files read by Docker Compose itself: the reference implementation of the Compose
Specification, run as ``docker compose config --format json``.

Everything Compose does to a file before it starts anything (``.env`` and ``env_file``, variable
rules, ``extends``, ``include``, ``profiles``, anchors and merge keys, several ``-f`` files) is
Compose's own code; this module only runs it, locates its complaints in the user's files, and
hands the canonical model on. Pure apart from that one subprocess (no engine is needed).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from chaos.errors import EnvironmentProblem, Problem, SpecError, did_you_mean
from chaos.images import COMPOSE_VERSION
from chaos.yamlsource import load_yaml_text

REPO = Path(__file__).resolve().parent.parent
# Where `make setup` puts the Compose binary it builds from the Go module proxy.
BUILT_COMPOSE = REPO / ".cache" / f"compose-v{COMPOSE_VERSION}" / "docker-compose"
CONFIG_TIMEOUT_S = 60.0
# Variables that would make Compose read other files or profiles than the experiment says.
_COMPOSE_STEERING = ("COMPOSE_FILE", "COMPOSE_PROFILES", "COMPOSE_PROJECT_NAME", "COMPOSE_PATH_SEPARATOR")


@dataclass(frozen=True)
class Project:
    """A compose project in Compose's canonical form, with the files it came from."""

    name: str
    files: tuple[str, ...]
    services: dict[str, dict]
    volumes: dict[str, dict] = field(default_factory=dict)
    networks: dict[str, dict] = field(default_factory=dict)
    secrets: dict[str, dict] = field(default_factory=dict)
    configs: dict[str, dict] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()

    def problem(self, path: tuple, message: str) -> Problem:
        """A problem located at ``path`` (e.g. ``("services", "web", "network_mode")``) in the first file
        that has it, or at the top of the first file."""
        for file in reversed(self.files):  # later files override earlier ones, so they are likelier
            line, column = locate(file, path)
            if (line, column) != (0, 0):
                return Problem(file, line, column, _dotted(path), message)
        return Problem(self.files[0], 1, 1, _dotted(path), message)


# ---- the Compose binary --------------------------------------------------------------------


def compose_command() -> list[str]:
    """How to run Compose here: $CHAOS_COMPOSE, the user's `docker compose` or `docker-compose` (v2 or
    newer), or the one `make setup` built. EnvironmentProblem when there is none."""
    explicit = os.environ.get("CHAOS_COMPOSE")
    if explicit:
        return explicit.split()
    if shutil.which("docker") and _answers(["docker", "compose"]):
        return ["docker", "compose"]
    standalone = shutil.which("docker-compose")
    if standalone and _answers([standalone]):
        return [standalone]
    if BUILT_COMPOSE.is_file() and os.access(BUILT_COMPOSE, os.X_OK):
        return [str(BUILT_COMPOSE)]
    raise EnvironmentProblem("reading a compose file needs Docker Compose v2 or newer: install the docker compose "
                             "plugin, or run `make setup`, which builds it")


_ANSWERED: dict[tuple[str, ...], bool] = {}


def _answers(command: list[str]) -> bool:
    """`version` works and is v2 or newer (v1, the Python one, reads files differently)."""
    key = tuple(command)
    if key not in _ANSWERED:
        try:
            done = subprocess.run([*command, "version", "--short"], capture_output=True, text=True, timeout=20)
            version = done.stdout.strip().lstrip("v")
            _ANSWERED[key] = done.returncode == 0 and version[:1].isdigit() and int(version.split(".")[0]) >= 2
        except (OSError, subprocess.TimeoutExpired, ValueError):
            _ANSWERED[key] = False
    return _ANSWERED[key]


# ---- reading a project ---------------------------------------------------------------------

_CACHE: dict[str, Project] = {}


def read_project(files: list[Path | str], env: dict[str, str], profiles: list[str] | tuple = ()) -> Project:
    """The canonical project of ``files`` (in order, as ``docker compose -f a -f b``), variables from
    ``env`` and the project directory's ``.env``. Raises SpecError located in the user's files."""
    paths = [str(Path(f).resolve()) for f in files]
    missing = [p for p in paths if not Path(p).is_file()]
    if missing:
        raise SpecError([Problem(p, 1, 1, "", "compose file not found") for p in missing])
    key = _cache_key(paths, env, profiles)
    if key not in _CACHE:
        if len(_CACHE) > 64:
            _CACHE.clear()
        _CACHE[key] = _run_config(paths, env, profiles)
    return _CACHE[key]


def _cache_key(paths: list[str], env: dict[str, str], profiles) -> str:
    digest = hashlib.sha256()
    folder = Path(paths[0]).parent
    for path in [*paths, str(folder / ".env")]:
        try:
            stat = os.stat(path)
            digest.update(f"{path}:{stat.st_mtime_ns}:{stat.st_size};".encode())
        except OSError:
            digest.update(f"{path}:-;".encode())
    digest.update(json.dumps(sorted(env.items())).encode())
    digest.update(json.dumps(list(profiles)).encode())
    return digest.hexdigest()


def _run_config(paths: list[str], env: dict[str, str], profiles) -> Project:
    command = [*compose_command(), "--project-directory", str(Path(paths[0]).parent)]
    for path in paths:
        command += ["-f", path]
    for profile in profiles:
        command += ["--profile", profile]
    command += ["config", "--format", "json"]
    clean_env = {k: v for k, v in env.items() if k not in _COMPOSE_STEERING}
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=CONFIG_TIMEOUT_S, env=clean_env,
                              stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise EnvironmentProblem(f"docker compose config did not answer within {CONFIG_TIMEOUT_S:.0f} s") from None
    warnings, errors = _split_stderr(done.stderr)
    if done.returncode != 0:
        syntax = [p for p in map(yaml_syntax_problem, paths) if p is not None]
        if syntax:  # said in the harness's own words, at the token where reading stopped
            raise SpecError(syntax[:1])
        message = " ".join(errors) or f"docker compose config failed with exit code {done.returncode}"
        raise SpecError([locate_error(message, paths)])
    data = json.loads(done.stdout)
    return Project(name=data.get("name", ""), files=tuple(paths), services=data.get("services") or {},
                   volumes=data.get("volumes") or {}, networks=data.get("networks") or {},
                   secrets=data.get("secrets") or {}, configs=data.get("configs") or {},
                   warnings=tuple(_warning_problem(w, paths) for w in warnings))


_LOG_LINE = re.compile(r'^time="[^"]*" level=(\w+) msg="(.*)"$')


def _split_stderr(stderr: str) -> tuple[list[str], list[str]]:
    warnings, errors = [], []
    for line in stderr.splitlines():
        if not line.strip():
            continue
        logged = _LOG_LINE.match(line.strip())
        if logged:
            text = logged.group(2).replace('\\"', '"')
            (warnings if logged.group(1) in ("warning", "info") else errors).append(text)
        else:
            errors.append(line.strip())
    return warnings, errors


def _warning_problem(text: str, paths: list[str]) -> str:
    return str(locate_error(text, paths))


# ---- locating Compose's complaints in the user's files -------------------------------------

_AT_LINE_COLUMN = re.compile(r"\bat L(\d+)\.C(\d+)")
_LINE = re.compile(r"\bline (\d+)\b")
_DOTTED = re.compile(r"'?\b((?:services|volumes|networks|secrets|configs)(?:\[[^\]\s]+\]|\.[A-Za-z0-9_\-]+)+)'?")
_SERVICE = re.compile(r'service "([^"]+)"')
_FALSE_SCHEMA = re.compile(r"^(?P<path>\S+) false schema$")
_ADDITIONAL = re.compile(r"^(?P<path>\S+) additional properties? '(?P<key>[^']+)' not allowed$")


def locate_error(message: str, paths: list[str]) -> Problem:
    """Compose's message as ``FILE:LINE:COL: key: message``: the file it names (else the first), the line
    it names or the line of the key it names."""
    file = next((p for p in paths if p in message), paths[0])
    culprit = _culprit(message)
    text = _strip_file_prefix(message, paths)
    path = _path_in(text)
    line = column = 0
    duplicate = _DUPLICATE.search(text)
    found = _AT_LINE_COLUMN.search(text)
    if duplicate:
        line, column = int(duplicate.group(1)), 1
        text = f"duplicate key {duplicate.group(2)!r}: already at line {duplicate.group(3)}"
    elif found:
        line, column = int(found.group(1)), int(found.group(2))
    elif _LINE.search(text):
        line, column = int(_LINE.findall(text)[-1]), 1
    if line == 0:
        for candidate in ([file] + [p for p in reversed(paths) if p != file]):
            line, column, path = _find(candidate, path, culprit)
            if line:
                file = candidate
                break
    text = _plain_message(text.replace(os.path.dirname(paths[0]) + os.sep, ""), path)
    return Problem(file, line or 1, column or 1, _dotted(path) if path else "", text)


def _find(file: str, path: tuple, culprit: str | None) -> tuple[int, int, tuple]:
    """Where the culprit value stands (under ``path`` when known, else anywhere), or the key at ``path``."""
    if culprit and os.path.isabs(culprit):
        culprit = os.path.relpath(culprit, os.path.dirname(file))  # as the file writes it
    if culprit:
        root = _node(file)
        within = _descend(root, path) if path else root
        hit = _scalar_containing(within, culprit, path) if within is not None else None
        if hit is None and path:
            hit = _scalar_containing(root, culprit, ())
        if hit is not None:
            return hit
    if path:
        line, column = locate(file, path)
        return line, column, path
    return 0, 0, path


def _node(file: str):
    try:
        return yaml.compose(Path(file).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return None


def _descend(node, path: tuple):
    for part in path:
        if not isinstance(node, yaml.MappingNode):
            return None
        node = next((v for k, v in _mapping_items(node) if str(k.value) == str(part)), None)
    return node


def _scalar_containing(node, culprit: str, path: tuple):
    """(line, column, path) of the first scalar equal to the culprit (else ending with it), depth first."""
    exact, partial = [], []

    def visit(current, where: tuple):
        if isinstance(current, yaml.ScalarNode):
            value = str(current.value)
            if value == culprit or value.startswith(f"{culprit}:"):
                exact.append((current.start_mark.line + 1, current.start_mark.column + 1, where))
            elif culprit in value:
                partial.append((current.start_mark.line + 1, current.start_mark.column + 1, where))
        elif isinstance(current, yaml.SequenceNode):
            for i, item in enumerate(current.value):
                visit(item, where + (i,))
        elif isinstance(current, yaml.MappingNode):
            for key, value in _mapping_items(current):
                if str(key.value) == culprit:
                    exact.append((key.start_mark.line + 1, key.start_mark.column + 1, where + (key.value,)))
                visit(value, where + (key.value,))

    if node is not None:
        visit(node, path)
    found = exact or partial
    return found[0] if found else None


def _strip_file_prefix(message: str, paths: list[str]) -> str:
    text = " ".join(message.split())
    for prefix in ("validating ", "failed to parse ", "parsing "):
        for path in paths:
            if text.startswith(f"{prefix}{path}: "):
                return text[len(prefix) + len(path) + 2:]
    for path in paths:
        text = text.replace(path, os.path.basename(path))
    return text


# Messages that name a service and mean one of its keys.
_SERVICE_KEY_MESSAGES = (
    (re.compile(r"dependency cycle detected: ([^\s]+) ->"), "depends_on"),
    (re.compile(r'service "([^"]+)" depends on undefined service'), "depends_on"),
    (re.compile(r'service "([^"]+)" refers to undefined volume'), "volumes"),
    (re.compile(r'service "([^"]+)" refers to undefined network'), "networks"),
    (re.compile(r'service "([^"]+)" refers to undefined secret'), "secrets"),
    (re.compile(r'service "([^"]+)" refers to undefined config'), "configs"),
    (re.compile(r'cannot extend service "([^"]+)"'), "extends"),
    (re.compile(r"service ([^\s]+) declares mutually exclusive `network_mode` and `networks`"), "network_mode"),
)


# What a message names as the wrong value, to find its line (the entry, not only its key).
_CULPRITS = (
    re.compile(r'The "(\w+)" variable is not set'),
    re.compile(r"dependency cycle detected: [^\s]+ -> ([^\s]+)"),
    re.compile(r'depends on undefined service "([^"]+)"'),
    re.compile(r"refers to undefined (?:volume|network|secret|config) ([^\s:]+)"),
    re.compile(r'service "([^"]+)" not found'),
    re.compile(r"env file (\S+) not found"),
    re.compile(r"invalid IP address: (\S+)"),
    re.compile(r"invalid (?:containerPort|hostPort|port): (\S+)"),
)
_DUPLICATE = re.compile(r'line (\d+): mapping key "([^"]+)" already defined at line (\d+)')


def _culprit(text: str) -> str | None:
    for pattern in _CULPRITS:
        found = pattern.search(text)
        if found:
            return found.group(1)
    return None


def _path_in(text: str) -> tuple:
    for pattern, key in _SERVICE_KEY_MESSAGES:
        found = pattern.search(text)
        if found:
            return ("services", found.group(1), key)
    dotted = _DOTTED.search(text)
    if dotted:
        parts = []
        for piece in re.findall(r"\[([^\]]+)\]|\.?([A-Za-z0-9_\-]+)", dotted.group(1)):
            parts.append(piece[0] or piece[1])
        return tuple(parts)
    service = _SERVICE.search(text)
    if service:
        return ("services", service.group(1))
    return ()


_CYCLE = re.compile(r"^dependency cycle detected: (.*)$")
_UNDEFINED_DEPENDENCY = re.compile(r'^service "[^"]+" depends on undefined service "([^"]+)"')


def _plain_message(text: str, path: tuple) -> str:
    """Compose's schema words into plain ones, with a did-you-mean for an unknown service key."""
    text = text.removesuffix(": invalid compose project")
    cycle = _CYCLE.match(text)
    if cycle:
        return f"dependency cycle: {cycle.group(1)} (no start order exists)"
    missing_env = re.match(r"^env file (\S+) not found", text)
    if missing_env:
        return f"env file {missing_env.group(1)} not found"
    undefined = _UNDEFINED_DEPENDENCY.match(text)
    if undefined:
        return f"dependency {undefined.group(1)!r} is not a service of this project"
    unknown = _FALSE_SCHEMA.match(text)
    if unknown and len(path) == 3 and path[0] == "services":
        return f"unknown key {path[2]!r}: not in the Compose Specification{did_you_mean(path[2], SERVICE_KEYS)}"
    if unknown:
        return f"unknown key {path[-1]!r}: not in the Compose Specification" if path else text
    additional = _ADDITIONAL.match(text)
    if additional:
        return f"unknown key {additional.group('key')!r}: not in the Compose Specification"
    return text


def yaml_syntax_problem(file: str) -> Problem | None:
    """The file's YAML syntax problem, if it has one (the harness's YAML reader names the token)."""
    try:
        text = Path(file).read_text(encoding="utf-8")
        load_yaml_text(text, file, _AnyValue())
    except (OSError, UnicodeDecodeError):
        return None
    except SpecError as exc:
        first = exc.problems[0]
        return first if first.message.startswith(("invalid YAML", "not UTF-8", "the file is")) else None
    return None


class _AnyValue(dict):
    """Variables for reading positions only: every name has a value."""

    def get(self, key, default=None):
        return "x"

    def __contains__(self, key):
        return True

    def __getitem__(self, key):
        return "x"


def locate(file: str, path: tuple) -> tuple[int, int]:
    """1-based (line, column) of the key at ``path`` in ``file`` (its deepest existing part); (0, 0) when
    the file has none of it. Reads positions only: no variable is substituted."""
    try:
        node = yaml.compose(Path(file).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return (0, 0)
    found = (0, 0)
    for part in path:
        if not isinstance(node, yaml.MappingNode):
            break
        match = next(((k, v) for k, v in _mapping_items(node) if str(k.value) == str(part)), None)
        if match is None:
            break
        found = (match[0].start_mark.line + 1, match[0].start_mark.column + 1)
        node = match[1]
    return found


def _mapping_items(node: yaml.MappingNode):
    for key, value in node.value:
        if key.tag == "tag:yaml.org,2002:merge":
            merged = value.value if isinstance(value, yaml.SequenceNode) else [value]
            for source in merged:
                if isinstance(source, yaml.MappingNode):
                    yield from _mapping_items(source)
        else:
            yield key, value


def _dotted(path: tuple) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


# Every key a service may have in the Compose Specification (for did-you-mean only; Compose validates).
SERVICE_KEYS = (
    "annotations", "attach", "blkio_config", "build", "cap_add", "cap_drop", "cgroup", "cgroup_parent", "command",
    "configs", "container_name", "cpu_count", "cpu_percent", "cpu_period", "cpu_quota", "cpu_rt_period",
    "cpu_rt_runtime", "cpu_shares", "cpus", "cpuset", "credential_spec", "depends_on", "deploy", "develop",
    "device_cgroup_rules", "devices", "dns", "dns_opt", "dns_search", "domainname", "entrypoint", "env_file",
    "environment", "expose", "extends", "external_links", "extra_hosts", "gpus", "group_add", "healthcheck",
    "hostname", "image", "init", "ipc", "isolation", "label_file", "labels", "links", "logging", "mac_address",
    "mem_limit", "mem_reservation", "mem_swappiness", "memswap_limit", "network_mode", "networks", "oom_kill_disable",
    "oom_score_adj", "pid", "pids_limit", "platform", "ports", "post_start", "pre_stop", "privileged", "profiles",
    "provider", "pull_policy", "read_only", "restart", "runtime", "scale", "secrets", "security_opt", "shm_size",
    "stdin_open", "stop_grace_period", "stop_signal", "storage_opt", "sysctls", "tmpfs", "tty", "ulimits", "use_api_socket",
    "user", "userns_mode", "uts", "volumes", "volumes_from", "working_dir",
)
