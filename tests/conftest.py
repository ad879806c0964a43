"""Marks every test by its folder, so `pytest -m unit` needs no Docker and `-m integration` is the rest; marks the
integration tests that need the machine to themselves; and the one Docker client the integration and e2e tests
share."""

from pathlib import Path

import pytest

_FOLDER_MARKS = {"unit": pytest.mark.unit, "integration": pytest.mark.integration, "e2e": pytest.mark.integration}

# Integration tests that time what they see to tens of milliseconds (a toxic's added latency, a clock's skew, how
# soon a revert or a stop returns, Locust's own timer against the request's): on a 2-core machine a second test
# beside them moves those figures, so `make test` runs them after the others, one at a time (marked `alone`).
# Listed here, by module or by test, so one place says what needs the machine to itself.
_ALONE = {
    "tests/integration/test_link_toxics.py",
    "tests/integration/test_links.py",
    "tests/integration/test_link_ramp.py",
    "tests/integration/test_load.py",
    "tests/integration/test_load_no_answer.py",
    "tests/integration/test_clock_skew.py",
    "tests/integration/test_container_faults.py",
    "tests/e2e/test_gameday_e2e.py::test_stop_from_a_second_terminal_reverts_within_a_second",
}


def pytest_collection_modifyitems(config, items):
    root = Path(str(config.rootpath))
    for item in items:
        folder = Path(str(item.fspath)).parent.name
        mark = _FOLDER_MARKS.get(folder)
        if mark and not any(m.name == mark.name for m in item.iter_markers()):
            item.add_marker(mark)
        module = _module_path(item, root)
        if module in _ALONE or f"{module}::{item.originalname}" in _ALONE:
            item.add_marker(pytest.mark.alone)


def _module_path(item, root: Path) -> str:
    path = Path(str(item.fspath))
    return path.relative_to(root).as_posix() if path.is_relative_to(root) else str(path)


@pytest.fixture(scope="session")
def docker_client():
    import docker  # here, not at the top: unit tests never ask for it

    client = docker.from_env(timeout=60)
    client.ping()
    yield client
    client.close()
