"""Steady background load for timing benchmarks: a realistic request rate, not a capacity test."""

from locust import FastHttpUser, between, task


class Steady(FastHttpUser):
    wait_time = between(0.02, 0.05)

    @task
    def index(self):
        self.client.get("/", name="GET /")
