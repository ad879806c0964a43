"""A Docker engine with one container, for tests of what `chaos clean` and the ledger call (the ``state_home``
fixture they use with it is in tests/unit/conftest.py)."""

from __future__ import annotations


class FakeContainer:
    def __init__(self, status: str = "paused"):
        self.id, self.short_id, self.name, self.labels = "c" * 64, "c" * 12, "x", {"chaos.service": "inventory"}
        self.attrs = {"State": {"Status": status, "StartedAt": "t0"}, "Config": {}}
        self.calls = []

    def reload(self):
        pass

    def unpause(self):
        self.calls.append("unpause")
        self.attrs["State"]["Status"] = "running"


class FakeClient:
    """The models API (``containers.get``) and the low-level one (``api.unpause``), both on one container."""

    def __init__(self, container):
        self.containers = self
        self.api = self
        self.container = container

    def get(self, container_id):
        assert container_id == self.container.id, "only the ledger's container is touched"
        return self.container

    def unpause(self, container_id):
        self.get(container_id).unpause()

    def inspect_container(self, container_id):
        return self.get(container_id).attrs
