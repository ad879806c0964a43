"""Fixtures the unit tests share (their shared helpers are plain modules in tests/support)."""

from __future__ import annotations

import pytest


@pytest.fixture
def state_home(tmp_path, monkeypatch):
    """Where run registrations live (``$XDG_STATE_HOME/chaos/runs``), in the test's own folder."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    return tmp_path / "state" / "chaos" / "runs"
