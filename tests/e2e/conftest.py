"""Fixtures for the end-to-end tests; the helpers they share live in e2e_support."""

from __future__ import annotations

import docker
import pytest
from e2e_support import REPO, SHORT


@pytest.fixture(scope="session")
def docker_client():
    client = docker.from_env(timeout=60)
    client.ping()
    yield client
    client.close()


@pytest.fixture
def experiment(tmp_path):
    path = tmp_path / "short.yaml"
    path.write_text(SHORT.replace("@REPO@", str(REPO)))
    return path


