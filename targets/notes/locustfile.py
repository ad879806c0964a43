"""Load for the notes app: write notes, read them back, list the recent ones, check health.

Each user reads back notes it wrote itself, so a 404 for one of them means a write that was
acknowledged (201) was lost: that counts as a failure like any non-2xx, including a 503
while the database is unreachable.
"""

import random

from locust import FastHttpUser, between, task

KEEP_IDS = 200  # ids a user remembers to read back (the most recent ones)


def _judge(response):
    if 200 <= response.status_code < 300:
        response.success()
    else:
        response.failure(f"HTTP {response.status_code}")


class NotesUser(FastHttpUser):
    wait_time = between(0.05, 0.2)

    def on_start(self):
        self.note_ids = []

    @task(20)
    def write_note(self):
        note = {"title": f"note {random.randrange(1_000_000)}", "body": "x" * random.randrange(20, 400)}
        with self.client.post("/notes", json=note, name="POST /notes", catch_response=True) as response:
            _judge(response)
            if response.status_code == 201:
                self.note_ids.append(response.json()["id"])
                del self.note_ids[:-KEEP_IDS]

    @task(60)
    def read_note(self):
        if not self.note_ids:
            self.write_note()
            return
        note_id = random.choice(self.note_ids)
        with self.client.get(f"/notes/{note_id}", name="GET /notes/[id]", catch_response=True) as response:
            _judge(response)

    @task(15)
    def list_recent(self):
        with self.client.get("/notes?limit=20", name="GET /notes", catch_response=True) as response:
            _judge(response)

    @task(5)
    def check_health(self):
        with self.client.get("/health", name="GET /health", catch_response=True) as response:
            _judge(response)
