"""Capacity load: users that send the next request as soon as the last one is answered, so the load
generator (not the tiny server behind it) is the bottleneck, and any cost the harness adds shows."""

import os
import time

from locust import FastHttpUser, constant, events, task


class Hammer(FastHttpUser):
    wait_time = constant(0)

    @task
    def index(self):
        self.client.get("/", name="GET /")


@events.test_start.add_listener
def _note_start(environment, **_kwargs):
    """For the bench's plain side: when the test started (after Locust's imports and start-up), the zero its
    window is measured from, as the harness's timeline starts at the same event."""
    path = os.environ.get("BENCH_LOCUST_STARTED_FILE")
    if path:
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(repr(time.time()))
