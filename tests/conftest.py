"""Marks every test by its folder, so `pytest -m unit` needs no Docker and `-m integration` is the rest; and the
one Docker client the integration and e2e tests share."""

from pathlib import Path

import pytest

_FOLDER_MARKS = {"unit": pytest.mark.unit, "integration": pytest.mark.integration, "e2e": pytest.mark.integration}


def pytest_collection_modifyitems(items):
    for item in items:
        folder = Path(str(item.fspath)).parent.name
        mark = _FOLDER_MARKS.get(folder)
        if mark and not any(m.name == mark.name for m in item.iter_markers()):
            item.add_marker(mark)


@pytest.fixture(scope="session")
def docker_client():
    import docker  # here, not at the top: unit tests never ask for it

    client = docker.from_env(timeout=60)
    client.ping()
    yield client
    client.close()
