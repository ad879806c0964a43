"""The notes sample system (targets/notes) on the real engine, without the harness: its images build
FROM the local base, the database initialises its volume on first start, the migration is a one-shot that
exits 0 (again on a second run), and notes written before PostgreSQL is killed are read back once the same
container is started again, through an app that reconnects by itself.

Started by hand with the docker SDK (what compose.yaml describes, minus the proxy), labelled with this
test's own run id and removed by id; a leak fails the test."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest

from chaos.labels import RUN

NOTES = Path(__file__).resolve().parents[2] / "targets" / "notes"
PASSWORD_FILE = NOTES / "secrets" / "db_password.txt"
DB_ENV = {"DB_NAME": "notes", "DB_USER": "notes", "DB_PASSWORD_FILE": "/run/secrets/db_password"}


def http(method: str, url: str, body: dict | None = None, timeout: float = 10.0) -> tuple[int, dict]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def wait_until(check, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.3)
    raise AssertionError(f"{what} within {timeout:.0f}s")


def health(container) -> str:
    container.reload()
    return container.attrs["State"].get("Health", {}).get("Status", "")


@pytest.fixture(scope="module")
def notes_images(docker_client):
    """db, migrate and app images, as compose builds them (the last two are targets of one Dockerfile)."""
    tag = uuid.uuid4().hex[:8]
    images = {
        "db": docker_client.images.build(path=str(NOTES / "db"), tag=f"chaos-notes-test-db:{tag}", rm=True)[0],
        "migrate": docker_client.images.build(path=str(NOTES / "app"), target="migrate",
                                              tag=f"chaos-notes-test-migrate:{tag}", rm=True)[0],
        "app": docker_client.images.build(path=str(NOTES / "app"), target="app",
                                          tag=f"chaos-notes-test-app:{tag}", rm=True)[0],
    }
    yield {name: image.tags[0] for name, image in images.items()}
    for image in images.values():
        docker_client.images.remove(image.tags[0], noprune=False)


def test_notes_survive_a_killed_database_and_the_app_recovers(docker_client, notes_images, leftovers):
    run_id = f"notes-sample-{uuid.uuid4().hex[:8]}"
    labels = {RUN: run_id, "chaos.managed": "true"}
    secret = {str(PASSWORD_FILE): {"bind": "/run/secrets/db_password", "mode": "ro"}}
    created = []
    network = docker_client.networks.create(f"{run_id}-backend", labels=labels)
    volume = docker_client.volumes.create(f"{run_id}-pgdata", labels=labels)

    def run(image: str, name: str, **options):
        container = docker_client.containers.run(image, name=f"{run_id}-{name}", detach=True, labels=labels,
                                                 network=network.name, **options)
        created.append(container)
        return container

    def migrate(attempt: int) -> str:
        container = run(notes_images["migrate"], f"migrate-{attempt}", volumes=secret,
                        environment={**DB_ENV, "DB_HOST": db_host})
        assert container.wait(timeout=60)["StatusCode"] == 0, container.logs().decode()
        return container.logs().decode()

    db_host = f"{run_id}-db"  # the container's name, resolved by the network's DNS
    try:
        db = run(notes_images["db"], "db", environment=DB_ENV,
                 volumes={volume.name: {"bind": "/var/lib/postgresql/data", "mode": "rw"},
                          str(NOTES / "db" / "init.sql"): {"bind": "/etc/notes-db/init.sql", "mode": "ro"}, **secret},
                 healthcheck={"test": ["CMD-SHELL", 'pg_isready -q -h 127.0.0.1 -U "$DB_USER" -d "$DB_NAME"'],
                              "interval": 500_000_000, "timeout": 2_000_000_000, "retries": 120})
        wait_until(lambda: health(db) == "healthy", 90, "db did not become healthy")

        assert "applied [2]" in migrate(1)
        app = run(notes_images["app"], "app", volumes=secret, ports={"8000/tcp": ("127.0.0.1", None)},
                  environment={**DB_ENV, "DB_HOST": db_host, "RES_OPTIONS": "timeout:1 attempts:1"})
        app.reload()
        base = f"http://127.0.0.1:{app.ports['8000/tcp'][0]['HostPort']}"
        wait_until(lambda: _answers(f"{base}/health"), 30, "the app did not answer /health")

        written = {http("POST", f"{base}/notes", {"title": f"note {i}", "body": f"body {i}"})[1]["id"]: i
                   for i in range(5)}
        assert http("GET", f"{base}/notes/1")[1]["title"] == "Welcome"  # from init.sql, run once

        db.kill()
        # An answer, not a hung request (http() gives up after 10 s and fails the test).
        assert http("GET", f"{base}/notes/{next(iter(written))}") == (503, {"error": "database unavailable"})
        assert http("GET", f"{base}/health")[0] == 503

        db_id = db.id
        db.start()
        wait_until(lambda: health(db) == "healthy", 90, "db did not become healthy after the kill")
        assert db.id == db_id  # restarted, not recreated: the same volume
        for note_id, i in written.items():
            status, note = http("GET", f"{base}/notes/{note_id}")
            assert (status, note["title"], note["body"]) == (200, f"note {i}", f"body {i}")
        assert http("GET", f"{base}/health")[0] == 200
        assert "already at version 2" in migrate(2)
    finally:
        for container in created:
            container.remove(force=True)
        network.remove()
        volume.remove(force=True)
    assert leftovers(docker_client, run_id) == []


def _answers(url: str) -> bool:
    try:
        return http("GET", url, timeout=2)[0] == 200
    except OSError:
        return False
