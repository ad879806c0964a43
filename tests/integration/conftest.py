"""Integration tests run against the real Docker engine, Toxiproxy and Locust. Everything they start
is labelled with its own run id and removed by id afterwards; a leak fails the test."""

from __future__ import annotations

import textwrap
from contextlib import contextmanager
from pathlib import Path

import pytest

from chaos.plan import make_plan
from chaos.spec import load_experiment
from chaos.system import RUN, System

REPO = Path(__file__).resolve().parents[2]


def _leftovers(client, run_id: str) -> list[str]:
    selector = {"label": f"{RUN}={run_id}"}
    return ([f"container {c.name}" for c in client.containers.list(all=True, filters=selector)]
            + [f"network {n.name}" for n in client.networks.list(filters=selector)]
            + [f"volume {v.name}" for v in client.volumes.list(filters=selector)])


@pytest.fixture(scope="session")
def leftovers():
    """What a run left behind, by its run id: must be empty after every run."""
    return _leftovers


def _plan_from_text(text: str, folder: Path, variables: dict | None = None, run_id: str | None = None):
    path = folder / "experiment.yaml"
    path.write_text(textwrap.dedent(text).replace("@REPO@", str(REPO)))
    plan = make_plan(load_experiment(path, variables or {}), run_id=run_id)
    plan.with_report_dir(folder / "reports")
    return plan


@pytest.fixture
def make_test_plan(tmp_path):
    """Plan from an inline experiment text; the locustfile defaults to the shop's."""

    def build(text: str, variables: dict | None = None, run_id: str | None = None):
        return _plan_from_text(text, tmp_path, variables, run_id)

    return build


@pytest.fixture(scope="session")
def make_shared_plan(tmp_path_factory):
    """make_test_plan for a system that module- or session-scoped fixtures share: a fresh folder per plan."""

    def build(text: str, variables: dict | None = None, run_id: str | None = None):
        return _plan_from_text(text, tmp_path_factory.mktemp("plan"), variables, run_id)

    return build


@pytest.fixture(scope="session")
def running_system(docker_client, leftovers):
    """``with running_system(plan) as system:`` the plan's targets and links, up and healthy; on leaving,
    removed, and nothing left by the run's label. Usable from a fixture of any scope."""

    @contextmanager
    def up(plan, health_timeout: float = 60.0):
        system = System(plan, docker_client)
        try:
            system.up(health_timeout=health_timeout)
            yield system
        finally:
            system.down()
            assert leftovers(docker_client, plan.run_id) == []

    return up
