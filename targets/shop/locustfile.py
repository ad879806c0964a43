"""Load for the shop: mostly product reads, some orders, a few health checks.

A 200 that says it is degraded is a success: serving stale data quickly is the
resilient behaviour under test. Any non-2xx (including a 503 on orders) fails.
"""

import random
import uuid

from locust import FastHttpUser, between, task

PRODUCT_IDS = range(1, 101)


def _judge(response):
    if 200 <= response.status_code < 300:
        response.success()
    else:
        response.failure(f"HTTP {response.status_code}")


class ShopUser(FastHttpUser):
    wait_time = between(0.05, 0.2)

    @task(80)
    def view_product(self):
        product_id = random.choice(PRODUCT_IDS)
        with self.client.get(f"/products/{product_id}", name="GET /products/[id]",
                             catch_response=True) as response:
            _judge(response)

    @task(15)
    def place_order(self):
        order = {"product_id": random.choice(PRODUCT_IDS), "qty": 1}
        headers = {"Idempotency-Key": str(uuid.uuid4())}
        with self.client.post("/orders", json=order, headers=headers, name="POST /orders",
                              catch_response=True) as response:
            _judge(response)

    @task(5)
    def check_health(self):
        with self.client.get("/health", name="GET /health", catch_response=True) as response:
            _judge(response)
