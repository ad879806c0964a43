"""Fixtures for the end-to-end tests; the helpers they share live in tests/support (support.e2e and
support.from_outside)."""

from __future__ import annotations

import pytest
from support.e2e import REPO, SHORT


@pytest.fixture
def experiment(tmp_path):
    path = tmp_path / "short.yaml"
    path.write_text(SHORT.replace("@REPO@", str(REPO)))
    return path


