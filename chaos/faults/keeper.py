"""A keeper: a long-lived helper container that runs the shell scripts the harness writes to its
standard input, one at a time, and answers each with one line. Partitions (iptables in a target's
network namespace) and clock skew (the timestamp files) use one so that a fault takes one write on
an attached socket, not a container start or an exec: an exec costs the engine a process spawn
through runc and several API calls, which is most of 100 ms on a busy machine.

Through the Docker API only (attach), so a remote engine works as a local one does. The container
keeps its standard input open when the harness detaches (``StdinOnce`` off), so a harness started
later (``chaos clean``, an attached run) can attach again. Whoever uses a keeper must be able to do
without it: when it is gone, or does not answer in time, the caller falls back to its one-shot way
(a helper container per action, an exec) and the keeper is not used again in this process.

Protocol (text, one request at a time per keeper): ``<tag> <n> <m>``, then a script's ``n`` lines
and an afterwards script's ``m`` lines; the keeper runs the first in a subshell with ``set -e`` (a
fork, no exec), answers ``<tag> ok`` or ``<tag> fail <last line of output>``, then runs the second (its outcome unreported: tidying that
must not delay the answer; the next request to the same keeper waits for it).
The tag names the request, so an answer to an earlier one that timed out is never taken for this
one, and two processes attached at once each read their own.
"""

from __future__ import annotations

import secrets
import select
import socket
import struct
import threading
import time
from contextlib import ExitStack
from dataclasses import dataclass, field

import docker.errors

from chaos import images

# Runs in the keeper: read a request's header and its two scripts' lines into files, run the first,
# answer one line, then run the second (tidying that need not hold up the answer).
LOOP = r"""
lines() {
  : > "$2"; i=0
  while [ "$i" -lt "$1" ]; do IFS= read -r line; printf '%s\n' "$line" >> "$2"; i=$((i + 1)); done
}
while IFS=' ' read -r tag now after; do
  lines "$now" /tmp/now
  lines "${after:-0}" /tmp/after
  (set -e; . /tmp/now) > /tmp/out 2>&1
  if [ "$?" = 0 ]; then echo "$tag ok"; else echo "$tag fail $(tail -n 1 /tmp/out | tr -d '\r')"; fi
  [ ! -s /tmp/after ] || (set -e; . /tmp/after) > /dev/null 2>&1 || true
done
"""
PROTOCOL_LABEL = "chaos.keeper"  # on a keeper container: the protocol it speaks
PROTOCOL = "1"
ANSWER_TIMEOUT_S = 5.0
ATTACH_TIMEOUT_S = 5.0


class KeeperUnavailable(Exception):
    """The keeper cannot take requests (gone, not attachable, silent): do it the one-shot way."""


class ScriptFailed(Exception):
    """The keeper ran the script and it failed; the message is its last line of output."""


# ---- pure ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Script:
    """What one request runs: ``now`` (answered when done) and ``after`` (run after the answer)."""

    now: str
    after: str = ""

    def whole(self) -> str:
        """Both parts as one script, for whoever runs it without a keeper (the tidying then best-effort)."""
        return self.now if not self.after.strip() else f"{self.now.rstrip()}\n( {self.after.rstrip()}\n) || true\n"


def _lines(text: str) -> list[str]:
    return text.rstrip("\n").split("\n") if text.strip() else []


def request_text(tag: str, script: Script) -> bytes:
    """The bytes of one request: its header and the scripts' lines (a script may not hold a NUL or a
    carriage return; the keeper reads lines)."""
    now, after = _lines(script.now), _lines(script.after)
    return (f"{tag} {len(now)} {len(after)}\n" + "".join(line + "\n" for line in now + after)).encode()


def parse_answer(line: str) -> tuple[str, bool, str]:
    """``(tag, ok, message)`` of one answer line."""
    tag, _, rest = line.strip().partition(" ")
    status, _, message = rest.partition(" ")
    return tag, status == "ok", message


def frames(buffer: bytearray) -> tuple[bytes, bytearray]:
    """The standard output in the complete frames of an attach stream without a TTY (8-byte header:
    stream, 3 zero bytes, big-endian length), and what is left of the buffer."""
    out = bytearray()
    while len(buffer) >= 8:
        stream, size = buffer[0], struct.unpack(">I", bytes(buffer[4:8]))[0]
        if len(buffer) < 8 + size:
            break
        if stream in (1, 2):
            out += buffer[8:8 + size]
        del buffer[:8 + size]
    return bytes(out), buffer


# ---- the container and the socket ---------------------------------------------------------------


def start(client, labels: dict[str, str], **options) -> str:
    """Start a keeper container (the helper image) with ``options`` (namespaces, mounts, capabilities);
    returns its id. Its labels are the run's, so `chaos clean` and the run's end remove it."""
    container = client.containers.run(
        images.HELPER_IMAGE, ["sh", "-c", LOOP], detach=True, stdin_open=True, tty=False,
        labels={**labels, PROTOCOL_LABEL: PROTOCOL}, **options)
    return container.id


def speaks_protocol(container) -> bool:
    return (container.labels or {}).get(PROTOCOL_LABEL) == PROTOCOL


@dataclass(eq=False)  # a keeper is itself, not its fields: run_together keys a dict by it
class Keeper:
    """This process's attachment to one keeper container. Thread-safe: one request at a time."""

    client: object  # docker.DockerClient
    container_id: str
    _sock: object = None
    _stream: object = None  # the SDK's object around the socket: kept, as it holds the HTTP response open
    _pending: bytearray = field(default_factory=bytearray)
    _lines: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _broken: bool = False
    _prefix: str = field(default_factory=lambda: secrets.token_hex(3))
    _count: int = 0

    def attach(self) -> "Keeper":
        try:
            raw = self.client.api.attach_socket(self.container_id,
                                                params={"stdin": 1, "stdout": 1, "stderr": 1, "stream": 1})
        except (docker.errors.APIError, OSError) as exc:
            self._broken = True
            raise KeeperUnavailable(f"keeper {self.container_id[:12]}: cannot attach: {exc}") from None
        self._stream = raw
        self._sock = getattr(raw, "_sock", raw)  # the socket under the SDK's file object
        if not all(hasattr(self._sock, name) for name in ("sendall", "recv", "settimeout")):
            self.close()
            raise KeeperUnavailable(f"keeper {self.container_id[:12]}: this engine transport gives no socket")
        return self

    @property
    def usable(self) -> bool:
        return self._sock is not None and not self._broken

    def alive(self) -> bool:
        """Usable, and its stream has not ended: a keeper that shares a target's process namespace ends with
        the target's process 1, so a live one proves the target was not restarted since. No engine call:
        only a look at what the socket has received (peeked, not consumed)."""
        sock = self._sock
        if sock is None or self._broken:
            return False
        if not isinstance(sock, socket.socket):
            return False  # an SSH channel cannot be peeked at: not known to be alive, so not trusted to be
        try:
            readable, _, _ = select.select([sock], [], [], 0)
            if readable and sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b"":
                self._broken = True
        except (OSError, ValueError):
            self._broken = True
        return not self._broken

    def run(self, script: Script, timeout: float = ANSWER_TIMEOUT_S) -> None:
        """Run one script in the keeper; raise ScriptFailed if it failed, KeeperUnavailable if the keeper
        could not answer (then it is not used again)."""
        with self._lock:
            tag = self.send(script)
            self.receive(tag, time.monotonic() + timeout)

    def send(self, script: Script) -> str:
        """Write one request (the caller holds ``lock``); returns its tag."""
        if not self.usable:
            raise KeeperUnavailable(f"keeper {self.container_id[:12]} is not usable")
        self._count += 1
        tag = f"{self._prefix}-{self._count}"
        try:
            self._sock.sendall(request_text(tag, script))
        except OSError as exc:
            self._fail()
            raise KeeperUnavailable(f"keeper {self.container_id[:12]}: {exc}") from None
        return tag

    def receive(self, tag: str, deadline: float) -> None:
        """Wait for the answer to ``tag`` (the caller holds ``lock``)."""
        while True:
            for index, line in enumerate(self._lines):
                got, ok, message = parse_answer(line)
                if got == tag:
                    del self._lines[:index + 1]
                    if not ok:
                        raise ScriptFailed(message or "failed")
                    return
            self._read_more(deadline)

    def _read_more(self, deadline: float) -> None:
        left = deadline - time.monotonic()
        if left <= 0:
            self._fail()
            raise KeeperUnavailable(f"keeper {self.container_id[:12]} did not answer in time")
        try:
            self._sock.settimeout(left)
            chunk = self._sock.recv(65536)
        except (OSError, socket.timeout) as exc:
            self._fail()
            raise KeeperUnavailable(f"keeper {self.container_id[:12]}: {exc or 'no answer'}") from None
        if not chunk:
            self._fail()
            raise KeeperUnavailable(f"keeper {self.container_id[:12]} is gone (its target stopped?)")
        self._pending += chunk
        out, self._pending = frames(self._pending)
        text = out.decode(errors="replace")
        if self._lines and not self._lines[-1].endswith("\n"):
            text = self._lines.pop() + text
        self._lines += text.splitlines(keepends=True)

    @property
    def lock(self) -> threading.Lock:
        return self._lock

    def _fail(self) -> None:
        self._broken = True
        self.close()

    def close(self) -> None:
        for held in (self._sock, self._stream):
            if held is not None:
                try:
                    held.close()
                except OSError:
                    pass
        self._sock = self._stream = None


def run_together(requests: dict[Keeper, Script], timeout: float = ANSWER_TIMEOUT_S) -> dict[Keeper, Exception]:
    """Run one script per keeper, written to all before any answer is awaited (so a cut starts at nearly
    the same moment in every namespace); returns the failures (ScriptFailed or KeeperUnavailable)."""
    failures: dict[Keeper, Exception] = {}
    ordered = sorted(requests, key=lambda k: k.container_id)  # one lock order: no deadlock between faults
    with ExitStack() as stack:
        for keeper in ordered:
            stack.enter_context(keeper.lock)
        tags = {}
        for keeper in ordered:
            try:
                tags[keeper] = keeper.send(requests[keeper])
            except KeeperUnavailable as exc:
                failures[keeper] = exc
        deadline = time.monotonic() + timeout
        for keeper, tag in tags.items():
            try:
                keeper.receive(tag, deadline)
            except (ScriptFailed, KeeperUnavailable) as exc:
                failures[keeper] = exc
    return failures
