"""Checks the compose corpus against Docker Compose itself (the Compose Specification's reference
implementation): every valid project must pass `docker compose config --format json`, every invalid
one must fail with the message the manifest expects.

Run it as a script (`python tests/support/check_corpus.py [-v] [PROJECT ...]`, exit 0 when the
corpus holds) or import it (`check_all()`, `canonical()`); tests/unit/test_compose_corpus.py does both.

The Compose binary is, in this order: the CHAOS_COMPOSE environment variable (a path, or a command
such as "docker compose"), `docker compose` when that plugin works, the standalone binary that setup
builds into .cache/compose-v5.6.0/docker-compose of the checkout.

Compose runs with a minimal environment (PATH and HOME only), so that only the project's `.env`
decides its variables: a variable of the person's shell must not make an unset one set.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import yaml

UNSET_WARNING = re.compile(r'The \\?"(\w+)\\?" variable is not set')

REPO = Path(__file__).resolve().parents[2]
CORPUS = REPO / "tests" / "compose_corpus"
MANIFEST = CORPUS / "corpus.yaml"
FALLBACK_BINARIES = (REPO / ".cache" / "compose-v5.6.0" / "docker-compose",)
TIMEOUT_S = 60


@dataclass(frozen=True)
class Project:
    name: str
    kind: str  # "valid" or "invalid"
    folder: Path
    files: tuple[str, ...]
    profiles: tuple[str, ...] = ()
    covers: tuple[str, ...] = ()
    unset_variables: tuple[str, ...] = ()  # valid only: what Compose must warn about, no more
    error: dict = field(default_factory=dict)  # invalid only: file, line, key, compose_says

    def compose_args(self) -> list[str]:
        args = ["--project-directory", str(self.folder)]
        for name in self.files:
            args += ["-f", str(self.folder / name)]
        for profile in self.profiles:
            args += ["--profile", profile]
        return args


@dataclass(frozen=True)
class Outcome:
    project: Project
    ok: bool
    problem: str = ""


def load_manifest(path: Path = MANIFEST) -> list[Project]:
    data = yaml.safe_load(path.read_text())
    projects = []
    for kind in ("valid", "invalid"):
        for name, entry in (data.get(kind) or {}).items():
            projects.append(Project(
                name=name, kind=kind, folder=CORPUS / kind / name,
                files=tuple(entry.get("files") or ["compose.yaml"]),
                profiles=tuple(entry.get("profiles") or ()),
                covers=tuple(entry.get("covers") or ()),
                unset_variables=tuple(entry.get("unset_variables") or ()),
                error=dict(entry.get("error") or {}),
            ))
    return projects


def _works(command: list[str]) -> bool:
    try:
        done = subprocess.run([*command, "version"], capture_output=True, timeout=TIMEOUT_S)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def find_compose() -> list[str] | None:
    """The Compose command to run, as argv, or None when none works here."""
    chosen = os.environ.get("CHAOS_COMPOSE")
    if chosen:
        command = shlex.split(chosen)
        return command if _works(command) else None
    if shutil.which("docker") and _works(["docker", "compose"]):
        return ["docker", "compose"]
    for binary in FALLBACK_BINARIES:
        if binary.is_file() and os.access(binary, os.X_OK) and _works([str(binary)]):
            return [str(binary)]
    return None


def missing_reason() -> str:
    """Why find_compose() found nothing, in words a person can act on."""
    chosen = os.environ.get("CHAOS_COMPOSE")
    if chosen:
        return f"CHAOS_COMPOSE={chosen!r} does not run `version`: point it at a working Compose binary"
    return ("no Compose binary: set CHAOS_COMPOSE, install the docker compose plugin, or run setup "
            "(it builds .cache/compose-v5.6.0/docker-compose)")


def _environment() -> dict[str, str]:
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/root")}


def run_config(compose: list[str], project: Project) -> subprocess.CompletedProcess:
    return subprocess.run([*compose, *project.compose_args(), "config", "--format", "json"],
                          capture_output=True, text=True, timeout=TIMEOUT_S, env=_environment(),
                          cwd=project.folder)


def canonical(compose: list[str], project: Project) -> dict:
    """Compose's canonical model of a valid project (what `config --format json` prints)."""
    done = run_config(compose, project)
    if done.returncode != 0:
        raise RuntimeError(f"{project.name}: compose config failed: {done.stderr.strip()}")
    return json.loads(done.stdout)


def check(compose: list[str], project: Project) -> Outcome:
    done = run_config(compose, project)
    if project.kind == "valid":
        if done.returncode != 0:
            return Outcome(project, False, f"Compose refused it: {done.stderr.strip()}")
        try:
            model = json.loads(done.stdout)
        except json.JSONDecodeError as error:
            return Outcome(project, False, f"Compose printed no JSON: {error}")
        if not model.get("services"):
            return Outcome(project, False, "Compose resolved no service (wrong profiles?)")
        warned = set(UNSET_WARNING.findall(done.stderr))
        if warned != set(project.unset_variables):
            return Outcome(project, False, f"Compose warned of unset {sorted(warned)}, "
                                           f"the manifest names {sorted(project.unset_variables)}")
        return Outcome(project, True)
    if done.returncode == 0:
        return Outcome(project, False, "Compose accepted it; the manifest says it is invalid")
    expected = project.error.get("compose_says", "")
    if expected not in done.stderr:
        return Outcome(project, False, f"Compose failed, but not with {expected!r}: {done.stderr.strip()}")
    return Outcome(project, True)


def check_all(compose: list[str], projects: list[Project] | None = None, workers: int = 2) -> list[Outcome]:
    projects = load_manifest() if projects is None else projects
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(lambda project: check(compose, project), projects))


def main(argv: list[str]) -> int:
    verbose = "-v" in argv
    wanted = [arg for arg in argv if not arg.startswith("-")]
    compose = find_compose()
    if compose is None:
        print(missing_reason(), file=sys.stderr)
        return 2
    projects = [p for p in load_manifest() if not wanted or p.name in wanted]
    outcomes = check_all(compose, projects)
    for outcome in outcomes:
        if verbose or not outcome.ok:
            state = "ok  " if outcome.ok else "FAIL"
            print(f"{state} {outcome.project.kind}/{outcome.project.name} {outcome.problem}".rstrip())
    failed = [o for o in outcomes if not o.ok]
    print(f"{len(outcomes) - len(failed)} passed, {len(failed)} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
