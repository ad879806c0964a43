"""A link: the directed path ``source -> target:port`` that a Toxiproxy is put in. Pure.

Experiments, game days, the pytest fixtures and the ledger all write links as text; this is the
one place that reads that text (:meth:`Link.parse`) and writes it back (``str(link)``), so every
layer agrees on what a link is called. ``load -> service:port`` is the edge link: the load
generator's way in.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

EDGE = "load"  # the source of the edge link: the load generator, never a service
PATTERN = re.compile(r"^\s*([A-Za-z0-9_.-]+)\s*->\s*([A-Za-z0-9_.-]+):(\d{1,5})\s*$")


@dataclass(frozen=True)
class Link:
    source: str  # a service, or EDGE
    target: str
    port: int

    @classmethod
    def parse(cls, text: str) -> Link:
        """``"api -> redis:6379"`` (white space around the arrow optional); ValueError, worded for the
        user, on anything else. The port's range is checked where the problem can be pointed at."""
        match = PATTERN.match(text)
        if not match:
            raise ValueError(f"{text!r} is not a link (expected 'from -> to:port', e.g. 'api -> redis:6379')")
        source, target, port = match.groups()
        return cls(source, target, int(port))

    @classmethod
    def edge(cls, load_target: str) -> Link:
        """The edge link to ``service:port``, the load's target."""
        return cls.parse(f"{EDGE} -> {load_target}")

    def __str__(self) -> str:
        return f"{self.source} -> {self.target}:{self.port}"

    @property
    def is_edge(self) -> bool:
        return self.source == EDGE

    @property
    def proxy_name(self) -> str:
        """The link's proxy inside its Toxiproxy server (and part of that container's name)."""
        return f"{self.source}-to-{self.target}-{self.port}"


def canonical(text: str) -> str:
    """The link's text as every layer writes it; ValueError as :meth:`Link.parse`."""
    return str(Link.parse(text))
