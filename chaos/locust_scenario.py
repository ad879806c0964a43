"""A load scenario written in YAML, loaded INSIDE Locust: ``ScenarioUser`` sends the weighted
requests of ``CHAOS_SCENARIO`` (JSON) and counts a status as success only if it is expected."""

from __future__ import annotations

import json
import os
import random

from locust import FastHttpUser, constant, task


def _requests() -> list[dict]:
    return json.loads(os.environ.get("CHAOS_SCENARIO", "[]"))


class ScenarioUser(FastHttpUser):
    wait_time = constant(0)

    def on_start(self):
        requests = _requests()
        self._weighted = [r for r in requests for _ in range(r["weight"])]

    @task
    def send(self):
        request = random.choice(self._weighted)
        with self.client.request(request["method"], request["path"], name=request["name"],
                                 headers=request["headers"] or None, json=request["json"],
                                 catch_response=True) as response:
            if response.status_code in request["expect"]:
                response.success()
            else:
                response.failure(f"HTTP {response.status_code}, expected {request['expect']}")
