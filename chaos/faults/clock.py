"""Clock skew for targets declared ``clock: skewable``, through libfaketime.

Containers share the host kernel's clock, so nothing may set it. Instead each skewable target
is started with libfaketime preloaded (``LD_PRELOAD``) and a timestamp file of its own
(``FAKETIME_TIMESTAMP_FILE``) that the library re-reads on every clock call
(``FAKETIME_NO_CACHE=1``), so the harness changes a running target's wall clock by rewriting that
file. ``FAKETIME_DONT_FAKE_MONOTONIC=1`` leaves the monotonic clock, and so sleeps, timeouts and
rate limiters, alone: only ``time()``/``gettimeofday``/``CLOCK_REALTIME`` move.

The library and the files live in a named volume per run (labelled, removed with the run), filled
and rewritten through a small keeper container that mounts it read-write; targets mount it
read-only. Everything goes through the Docker API (no host paths), so a remote engine works too.
A rewrite is one short script written to the keeper's attached input (chaos/faults/keeper.py), not
an exec: an exec per write was 70 ms at the median. Where the keeper cannot take it (a keeper of an
older version, an engine transport that gives no socket), the rewrite is an exec, as before.
A rewrite is atomic (write a temporary file, then rename): libfaketime exits the target when it
reads an empty or half-written timestamp.

The file only ever holds a plain offset in seconds (``+30.000000``): a fixed ``offset`` is one
write; ``drift`` (a rate against real time) and ``strobe`` (swinging between +delta and -delta)
are timeline updates, each a new offset (see ``ClockSkew.updates`` in chaos/spec/service_faults.py). libfaketime's
own rate syntax (``x1.05``) is not used: it measures from each process's start and keeps the
rate after the file changes again, so a revert would not bring the clock back.

Which programs can be skewed is decided before anything starts (:func:`refuse_unskewable`): the
program the container execs is read from the image and must be a dynamically linked glibc ELF
program that is not Go and not setuid (see chaos/elfinfo.py). After the targets start, each
skewable target's process 1 must have the library mapped (:meth:`ClockVolume.verify_preloaded`),
which catches what a file cannot show (e.g. a glibc too old for the library).
"""

from __future__ import annotations

import io
import posixpath
import shlex
import tarfile
from dataclasses import dataclass

import docker.errors
import docker.types

from chaos import elfinfo, images
from chaos.errors import EnvironmentProblem
from chaos.faults import FaultAdapter, Gone, keeper
from chaos.labels import run_labels
from chaos.plan import FaultPlan

MOUNT = "/chaos-faketime"  # where a skewable target sees the clock volume (read-only)
KEEPER_DIR = "/faketime"  # the same volume in the keeper container (read-write)
LIBRARY_NAME = "libfaketime.so.1"
ROLE_CLOCK = "clock"
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
MAX_PROGRAM_BYTES = 512 * 1024 * 1024
MAX_HOPS = 8  # symlinks and #! lines followed to the program that really runs
HELPER_TIMEOUT_S = 30
ARCHITECTURES = {"amd64": "x86-64", "arm64": "aarch64", "386": "x86", "arm": "arm", "riscv64": "riscv64",
                 "ppc64le": "ppc64", "s390x": "s390x"}


# ---- pure ------------------------------------------------------------------------------------


def timestamp_text(offset_s: float) -> str:
    """The timestamp file's content for an offset: libfaketime reads ``+N``/``-N`` as seconds."""
    return f"{offset_s:+.6f}\n"


def write_script(path: str, text: str) -> str:
    """Shell: replace ``path`` by ``text`` atomically (write aside, then rename)."""
    aside = shlex.quote(path + ".new")
    return f"printf '%s\\n' {shlex.quote(text.rstrip(chr(10)))} > {aside}\nmv -f {aside} {shlex.quote(path)}\n"


def timestamp_file(service: str) -> str:
    return f"{service}.ts"


def preload_environment(service: str) -> dict[str, str]:
    return {
        "LD_PRELOAD": f"{MOUNT}/{LIBRARY_NAME}",
        "FAKETIME_TIMESTAMP_FILE": f"{MOUNT}/{timestamp_file(service)}",
        "FAKETIME_NO_CACHE": "1",
        "FAKETIME_DONT_FAKE_MONOTONIC": "1",
    }


def initial_offset(params: dict) -> float:
    """What inject writes: the offset itself, zero for a drift (it grows by updates), +delta for a strobe."""
    return {"offset": params.get("offset_s"), "drift": 0.0, "strobe": params.get("delta_s")}[params["mode"]]


def first_program(entrypoint, command, image_config: dict) -> str | None:
    """argv[0] of what the container will exec, with Docker's rules: an entrypoint given by the
    experiment drops the image's CMD; strings are split as docker-py splits them."""
    def words(value):
        return shlex.split(value) if isinstance(value, str) else list(value or [])

    if entrypoint is not None:
        argv = words(entrypoint) + words(command)
    else:
        argv = words(image_config.get("Entrypoint")) + (words(command) if command is not None
                                                         else words(image_config.get("Cmd")))
    return argv[0] if argv else None


def search_path(environment: dict[str, str], image_env: list[str] | None) -> list[str]:
    path = environment.get("PATH")
    if path is None:
        path = next((item.split("=", 1)[1] for item in image_env or [] if item.startswith("PATH=")), DEFAULT_PATH)
    return [entry for entry in path.split(":") if entry]


# ---- preflight: which targets can be skewed ---------------------------------------------------


def refuse_unskewable(system) -> None:
    """Raise EnvironmentProblem naming every skewable target whose program libfaketime cannot reach."""
    skewable = [t for t in system.plan.targets if t.clock == "skewable"]
    if not skewable:
        return
    library_machine = ARCHITECTURES.get(system.client.images.get(images.HELPER_IMAGE).attrs.get("Architecture"))
    reasons = []
    for target in skewable:
        why = unskewable_reason(system.client, target, run_labels(system.plan, "probe"), library_machine)
        if why:
            reasons.append(f"service {target.name} ({target.image}) cannot have its clock skewed: {why}")
    if reasons:
        raise EnvironmentProblem("; ".join(reasons) + " (remove `clock: skewable` and its clock_skew faults, or use "
                                 "an image whose program is dynamically linked against glibc)")


def unskewable_reason(client, target, labels: dict[str, str], library_machine: str | None) -> str | None:
    image = client.images.get(target.image)
    config = image.attrs.get("Config") or {}
    program = first_program(target.entrypoint, target.command, config)
    if program is None:
        return "the image names no program to run"
    # Created, never started: only to read files out of the image.
    reader = client.containers.create(target.image, entrypoint=["/chaos-never-runs"], command=[], labels=labels,
                                      network_disabled=True)
    try:
        paths = search_path(target.environment, config.get("Env"))
        workdir = config.get("WorkingDir") or "/"
        for _ in range(MAX_HOPS):
            found = _locate(reader, program, paths, workdir)
            if found is None:
                return f"its program {program!r} is not in the image"
            path, data, setuid = found
            described = elfinfo.describe(data)
            if described.kind != "script":
                why = elfinfo.refusal(described, setuid, library_machine)
                return f"{path}: {why}" if why else None
            program = described.interpreter or ""
            if posixpath.basename(program) == "env":  # #!/usr/bin/env [-S] python3: the program is on PATH
                program = next((word for word in described.script_args if not word.startswith("-")), "")
        return f"more than {MAX_HOPS} links or #! lines before a program"
    finally:
        reader.remove(force=True)


def _locate(container, program: str, paths: list[str], workdir: str) -> tuple[str, bytes, bool] | None:
    if "/" in program:
        candidates = [posixpath.normpath(posixpath.join(workdir, program))]
    else:
        candidates = [posixpath.join(directory, program) for directory in paths]
    for candidate in candidates:
        found = _read_file(container, candidate)
        if found is not None:
            real, data, setuid = found
            return (candidate if real == candidate else f"{candidate} -> {real}"), data, setuid
    return None


def _read_file(container, path: str, hops: int = MAX_HOPS) -> tuple[str, bytes, bool] | None:
    """A regular file (symlinks followed inside the image): its real path, bytes, and whether it is setuid."""
    try:
        stream, _stat = container.get_archive(path)
    except docker.errors.NotFound:
        return None
    buffer = io.BytesIO()
    for chunk in stream:
        buffer.write(chunk)
        if buffer.tell() > MAX_PROGRAM_BYTES + 1024 * 1024:
            raise EnvironmentProblem(f"{path} in the image is larger than {MAX_PROGRAM_BYTES} bytes")
    buffer.seek(0)
    with tarfile.open(fileobj=buffer) as archive:
        member = archive.next()
        if member is None:
            return None
        if member.issym() and hops > 0:
            target = posixpath.normpath(posixpath.join(posixpath.dirname(path), member.linkname))
            return _read_file(container, target, hops - 1)
        if not member.isfile():
            return None
        return path, archive.extractfile(member).read(), bool(member.mode & 0o4000)


# ---- the run's clock volume -----------------------------------------------------------------


@dataclass
class ClockVolume:
    """The run's volume holding libfaketime and one timestamp file per skewable target."""

    client: object  # docker.DockerClient
    volume: str
    keeper_id: str
    writer: keeper.Keeper | None = None  # attached to the keeper's input; None: an exec per write

    @classmethod
    def create(cls, client, name: str, labels: dict[str, str], services: list[str]) -> "ClockVolume":
        client.volumes.create(name, labels=labels)
        keeper_id = keeper.start(client, labels, name=name, network_mode="none",
                                 mounts=[docker.types.Mount(KEEPER_DIR, name, type="volume")])
        volume = cls(client, name, keeper_id, _attached(client, keeper_id))
        files = " ".join(shlex.quote(f"{KEEPER_DIR}/{timestamp_file(s)}") for s in services)
        try:
            volume._exec(f"cp {images.FAKETIME_LIBRARY} {KEEPER_DIR}/{LIBRARY_NAME} && "
                         f"for f in {files}; do printf '+0\\n' > \"$f\"; done")
        except EnvironmentProblem as exc:
            raise EnvironmentProblem(f"{exc} ({images.HELPER_IMAGE} must carry {images.FAKETIME_LIBRARY}: "
                                     "run `make setup`; `chaos doctor` checks it)") from None
        return volume

    @classmethod
    def find(cls, client, run_id: str) -> "ClockVolume | None":
        """The keeper of a run (for `chaos clean`, or a kept system), if it is still there."""
        keepers = client.containers.list(filters={"label": [f"chaos.run={run_id}", f"chaos.role={ROLE_CLOCK}"]})
        if not keepers:
            return None
        found = keepers[0]
        return cls(client, found.name, found.id, _attached(client, found.id) if keeper.speaks_protocol(found) else None)

    def target_options(self, service: str) -> dict:
        """What a skewable target is created with: the volume read-only and the preload environment."""
        return {"environment": preload_environment(service),
                "mounts": [docker.types.Mount(MOUNT, self.volume, type="volume", read_only=True)]}

    def write(self, service: str, offset_s: float) -> None:
        """Atomic rewrite: libfaketime must never read a missing, empty or half-written file. One write to
        the keeper's input; an exec into the keeper where it cannot take one (an older run's keeper, an
        engine transport without an attach socket)."""
        script = write_script(f"{KEEPER_DIR}/{timestamp_file(service)}", timestamp_text(offset_s))
        if self.writer is not None and self.writer.usable:
            try:
                self.writer.run(keeper.Script(script))
                return
            except keeper.KeeperUnavailable:
                pass  # the exec below says what is wrong, if anything is
            except keeper.ScriptFailed as exc:
                raise EnvironmentProblem(f"clock volume {self.volume}: {exc}") from None
        self._exec(script)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()

    def read(self, service: str) -> str:
        return self._exec(f"cat {shlex.quote(f'{KEEPER_DIR}/{timestamp_file(service)}')}")

    def verify_preloaded(self, containers: dict[str, str], labels: dict[str, str]) -> None:
        """Process 1 of each skewable target must have libfaketime mapped; ld.so only warns when a
        preload fails and the program then runs with the real clock."""
        failed = []
        for service, container_id in containers.items():
            checker = self.client.containers.run(
                images.HELPER_IMAGE, ["grep", "-q", LIBRARY_NAME, "/proc/1/maps"], detach=True, labels=labels,
                pid_mode=f"container:{container_id}", network_mode="none", cap_add=["SYS_PTRACE"])
            try:
                code = checker.wait(timeout=HELPER_TIMEOUT_S).get("StatusCode")
            finally:
                checker.remove(force=True)
            if code != 0:
                failed.append(f"{service} ({_preload_complaint(self.client, container_id)})")
        if failed:
            raise EnvironmentProblem("libfaketime is not loaded in " + ", ".join(failed) +
                                     ": its clock cannot be skewed (is the image glibc 2.34 or newer?)")

    def _exec(self, shell: str, *args: str) -> str:
        code, output = self.client.containers.get(self.keeper_id).exec_run(["sh", "-c", shell, "sh", *args])
        if code != 0:
            raise EnvironmentProblem(f"clock volume {self.volume}: {output.decode(errors='replace').strip()[:200]}")
        return output.decode(errors="replace")


def _attached(client, keeper_id: str) -> keeper.Keeper | None:
    try:
        return keeper.Keeper(client, keeper_id).attach()
    except keeper.KeeperUnavailable:
        return None


def _preload_complaint(client, container_id: str) -> str:
    try:
        logs = client.containers.get(container_id).logs(tail=20).decode(errors="replace")
    except docker.errors.APIError:
        return "no logs"
    line = next((l for l in logs.splitlines() if "LD_PRELOAD" in l or "libfaketime" in l), "")
    return line.strip()[:160] or "library not mapped in process 1"


# ---- the fault -------------------------------------------------------------------------------


def build(plan: FaultPlan, system) -> "ClockFault":
    if system.clock_volume is None:
        raise EnvironmentProblem(f"fault {plan.id}: service {plan.target} was not started skewable")
    return ClockFault(plan, system.clock_volume)


def from_ledger(plan: FaultPlan, client, run_id: str) -> ClockFault | Gone:
    """For `chaos clean`: reset the file through the run's keeper, if the run is still there."""
    volume = ClockVolume.find(client, run_id)
    return ClockFault(plan, volume) if volume else Gone(plan)


@dataclass
class ClockFault(FaultAdapter):
    plan: FaultPlan
    volume: ClockVolume

    @property
    def service(self) -> str:
        return self.plan.target

    def inject(self) -> None:
        self.volume.write(self.service, initial_offset(self.plan.params))

    def update(self, change: dict) -> None:
        self.volume.write(self.service, change["offset_s"])

    def revert(self) -> None:
        self.volume.write(self.service, 0.0)
