"""Timing a link from the test's side: one redis PING round trip through it."""

from __future__ import annotations

import socket
import time


def redis_ping_ms(sock: socket.socket) -> float:
    """One redis PING round trip over an open connection (through a link's edge listener, say), in ms."""
    started = time.monotonic()
    sock.sendall(b"PING\r\n")
    assert sock.recv(64).startswith(b"+PONG")
    return (time.monotonic() - started) * 1000
