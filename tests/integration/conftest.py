"""Integration tests run against the real Docker engine, Toxiproxy and Locust. Everything they start
is labelled with its own run id and removed by id afterwards; a leak fails the test."""

from __future__ import annotations

import textwrap
from pathlib import Path

import docker
import pytest

from chaos.plan import make_plan
from chaos.spec import load_experiment
from chaos.system import RUN

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def docker_client():
    client = docker.from_env(timeout=60)
    client.ping()
    yield client
    client.close()


def _leftovers(client, run_id: str) -> list[str]:
    selector = {"label": f"{RUN}={run_id}"}
    return ([f"container {c.name}" for c in client.containers.list(all=True, filters=selector)]
            + [f"network {n.name}" for n in client.networks.list(filters=selector)]
            + [f"volume {v.name}" for v in client.volumes.list(filters=selector)])


@pytest.fixture(scope="session")
def leftovers():
    """What a run left behind, by its run id: must be empty after every run."""
    return _leftovers


@pytest.fixture
def make_test_plan(tmp_path):
    """Plan from an inline experiment text; the locustfile defaults to the shop's."""

    def build(text: str, variables: dict | None = None, run_id: str | None = None):
        path = tmp_path / "experiment.yaml"
        path.write_text(textwrap.dedent(text).replace("@REPO@", str(REPO)))
        plan = make_plan(load_experiment(path, variables or {}), run_id=run_id)
        plan.report["dir"] = str(tmp_path / "reports")
        return plan

    return build
