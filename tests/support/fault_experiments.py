"""Spec tests of faults: an experiment is a head (everything up to `faults:`) plus the faults under test, written
to a test's temporary folder next to an empty locustfile."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from chaos.errors import SpecError
from chaos.spec import load_experiment


def shop_head(name: str, services: str) -> str:
    """An experiment's head on the shop's services (``services``: their YAML, dedented here): the link
    api -> redis, load on the api, short phases, and the `faults:` key the faults under test go below."""
    return (f"name: {name}\ntargets:\n  services:\n" + textwrap.indent(textwrap.dedent(services), "    ") +
            "links:\n  - api -> redis:6379\nload:\n  locustfile: locustfile.py\n  target: api:8080\n"
            "phases: {warmup: 1s, baseline: 4s, recovery: 2s}\nfaults:\n")


def write_experiment(folder: Path, head: str, faults: str) -> Path:
    """``faults``: YAML list items, indented as they read best in the test (dedented here)."""
    (folder / "locustfile.py").write_text("")
    path = folder / "exp.yaml"
    path.write_text(head + textwrap.indent(textwrap.dedent(faults), "  "))
    return path


def load_faults(folder: Path, head: str, faults: str):
    return load_experiment(write_experiment(folder, head, faults), {})


def fault_problems(folder: Path, head: str, faults: str) -> list[str]:
    """The problems the experiment is refused with, one `FILE:LINE:COL: field: message` each."""
    with pytest.raises(SpecError) as info:
        load_faults(folder, head, faults)
    return [str(p) for p in info.value.problems]
