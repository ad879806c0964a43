"""Chaos inside ordinary Python tests: a system started once and shared, fault contexts that always
revert, load in Locust's own process, results judged like YAML hypotheses, a run dir and a report
per test.

This is the interactive counterpart of ``runner.py`` and, like it, the only place here with side
effects (through ``system``, ``faults`` and ``load``). The pytest plugin wires it into fixtures;
nothing in this package imports pytest, and nothing imports Locust or gevent.

Links: a fault on ``api -> redis`` needs a Toxiproxy in that path, and ambassadors exist only for
the links the system was started with. ``SystemSpec.links`` says which: by default
``("dependencies",)``, every ``depends_on`` edge of the compose file, to every port its target
publishes or its image exposes, plus the edge link ``load -> service:port`` that load drives.

``chaos.testkit`` is the entry point: every name below is read from here. The modules, one job each:
``usage`` (``UsageProblem``), ``system_spec`` (describing a system and resolving it against its
files), ``pool`` (running systems, started once per spec and owner), ``fixture`` (what one test
holds: ``Chaos``, fault contexts, loads), ``load_results`` (a load's result judged in memory, the
test's samples), ``rundirs`` (a test's run dir and seed).
"""

from chaos.testkit.fixture import DEFAULT_MAX_LOAD, FIRST_SAMPLE_TIMEOUT, Chaos, FaultContext, LoadRun
from chaos.testkit.load_results import SYSTEM_EVENTS, load_result, merge_samples
from chaos.testkit.pool import RunningSystem, SystemPool, engine, image_exposed_ports
from chaos.testkit.rundirs import new_run_dir_for, seed_for, slug_for
from chaos.testkit.system_spec import DEPENDENCIES, SCOPES, ResolvedSystem, SystemSpec
from chaos.testkit.usage import UsageProblem

__all__ = [
    "DEFAULT_MAX_LOAD", "DEPENDENCIES", "FIRST_SAMPLE_TIMEOUT", "SCOPES", "SYSTEM_EVENTS", "Chaos", "FaultContext",
    "LoadRun", "ResolvedSystem", "RunningSystem", "SystemPool", "SystemSpec", "UsageProblem", "engine",
    "image_exposed_ports", "load_result", "merge_samples", "new_run_dir_for", "seed_for", "slug_for",
]
