"""Capacity load: users that send the next request as soon as the last one is answered, so the load
generator (not the tiny server behind it) is the bottleneck, and any cost the harness adds shows."""

from locust import FastHttpUser, constant, task


class Hammer(FastHttpUser):
    wait_time = constant(0)

    @task
    def index(self):
        self.client.get("/", name="GET /")
