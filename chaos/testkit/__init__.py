"""Chaos inside ordinary Python tests: a system started once and shared, fault contexts that always
revert, load in Locust's own process, results judged like YAML hypotheses, a run dir and a report
per test.

This is the interactive counterpart of ``runner.py`` and, like it, the only place here with side
effects (through ``system``, ``faults`` and ``load``). The pytest plugin wires it into fixtures;
nothing in this module imports pytest, and nothing imports Locust or gevent.

Links: a fault on ``api -> redis`` needs a Toxiproxy in that path, and ambassadors exist only for
the links the system was started with. ``SystemSpec.links`` says which: by default
``("dependencies",)``, every ``depends_on`` edge of the compose file, to every port its target
publishes or its image exposes, plus the edge link ``load -> service:port`` that load drives.
"""

from __future__ import annotations

import json
import os
import platform
import re
import signal
import threading
import time
import zlib
from dataclasses import asdict, dataclass
from pathlib import Path

from chaos import __version__, compose, ledger, spec
from chaos.errors import ChaosError, EnvironmentProblem, SpecError
from chaos.faults import FaultAdapter
from chaos.journal import Journal
from chaos.links import Link, canonical
from chaos.plan import FaultPlan, Plan, scenario_request, make_plan, make_system_plan
from chaos.results import LoadResult, ResultPolicy
from chaos.signals import shielded
from chaos.testkit.usage import UsageProblem  # noqa: F401
from chaos.testkit.system_spec import DEPENDENCIES, ResolvedSystem, SCOPES, SystemSpec  # noqa: F401
from chaos.testkit.pool import RunningSystem, SystemPool, engine, image_exposed_ports  # noqa: F401
from chaos.testkit.rundirs import new_run_dir_for, seed_for, slug_for  # noqa: F401
from chaos.testkit.load_results import SYSTEM_EVENTS, load_result, merge_samples  # noqa: F401
from chaos.testkit.fixture import Chaos, DEFAULT_MAX_LOAD, FIRST_SAMPLE_TIMEOUT, FaultContext, LoadRun  # noqa: F401





# ---------------------------------------------------------------- describing a system



# ---------------------------------------------------------------- running systems



# ---------------------------------------------------------------- one test





# ---------------------------------------------------------------- run dirs



__all__ = ["Chaos", "DEPENDENCIES", "FaultContext", "LoadRun", "RunningSystem", "SystemPool", "SystemSpec",
           "UsageProblem"]
