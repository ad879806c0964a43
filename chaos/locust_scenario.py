"""A load scenario written in YAML, loaded INSIDE Locust: ``ScenarioUser`` sends the weighted
requests of ``CHAOS_SCENARIO`` (JSON) and counts a status as success only if it is expected. A
request unanswered after ``load.timeout`` is cut there and fails."""

from __future__ import annotations

import json
import os
import random

from locust import FastHttpUser, constant, task

from chaos.load_protocol import DEFAULT_TIMEOUT, TIMEOUT_ENV


def _requests() -> list[dict]:
    return json.loads(os.environ.get("CHAOS_SCENARIO", "[]"))


def _timeout() -> float:
    return float(os.environ.get(TIMEOUT_ENV, DEFAULT_TIMEOUT))


class ScenarioUser(FastHttpUser):
    wait_time = constant(0)
    network_timeout = connection_timeout = _timeout()

    # Built once, not in on_start: the open model runs tasks of pooled instances whose on_start never ran.
    _weighted = [request for request in _requests() for _ in range(request["weight"])]

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
