"""Which values are secret, and that they are scrubbed from JSON, the samples and the logs of a run dir."""

from __future__ import annotations

import json
import textwrap

from types import SimpleNamespace

import pandas as pd
import pytest

from chaos.gameday.notify import Notifier
from chaos.journal import Journal, read_journal
from chaos.plan import make_plan
from chaos.report import render_all
from chaos.secrets import REDACTED, scrub, scrub_run_files, secret_env_values
from chaos.spec import load_experiment
from support.fakerun import make_run

pytestmark = pytest.mark.unit

EXPERIMENT = """\
name: demo
secrets: [TOKEN]
targets:
  compose: compose.yaml
links:
  - api -> redis:6379
load:
  locustfile: locustfile.py
  target: api:8080
"""
COMPOSE = """\
services:
  redis:
    image: chaos-shop-redis:1
  api:
    image: chaos-shop-api:v1
    environment:
      API_TOKEN: "${TOKEN}"
      DB_PASSWORD: literal-pw-4711
      STORE_URL: "postgres://shop:url-pw-5522@db:5432/shop"
      REDIS_HOST: redis
"""


def test_secret_env_values_by_key_and_by_url_password():
    env = {"DB_PASSWORD": "pw-123456", "api_key": "k-abcdef", "REDIS_HOST": "redis", "PORT": "6379",
           "URL": "https://user:url-secret@host/x", "PLAIN_URL": "http://host/x", "PASSWORD": "x"}
    assert sorted(secret_env_values(env)) == ["k-abcdef", "pw-123456", "url-secret"]  # "x" is too short


def test_numbers_and_booleans_are_never_secret_by_their_key_name_alone():
    env = {"SESSION_TIMEOUT": "3600", "AUTH_ENABLED": "true", "SESSION_TTL": 3600, "COOKIE_SECURE": False,
           "TOKEN_RATIO": "0.25", "KEY_ROTATION": "off", "API_KEY": "k-abcdef", "DB_PASSWORD": "4711-pw"}
    assert sorted(secret_env_values(env)) == ["4711-pw", "k-abcdef"]


def test_scrub_walks_values_and_leaves_numbers_booleans_and_none():
    secret = 'pä"ss\\wörd'
    value = {"a": f"say {secret}", f"key {secret}": [secret, ("x", secret)], "n": 3600, "b": True, "z": None}
    clean = scrub(value, [secret, "3600", "true"])
    assert clean == {"a": "say ***", "key ***": ["***", ("x", "***")], "n": 3600, "b": True, "z": None}
    for text in (json.dumps(clean), json.dumps(clean, ensure_ascii=False)):
        assert "ss" not in text
    assert scrub(value, []) is value


def test_journal_lines_stay_json_whatever_the_secret(tmp_path):
    """A secret such as `3600` or `true` (a header value, a `secrets:` variable) used to be replaced inside the
    JSON text: the line was no longer JSON, and a dropped `fault_ledgered` was invisible to `chaos clean`."""
    journal = Journal(tmp_path / "journal.jsonl", ["3600", "true"])
    journal.append("fault_ledgered", fault_id="f1", params={"duration_s": 3600, "enabled": True},
                   note="true after 3600 s", where=tmp_path / "x3600")
    journal.close()
    [event] = read_journal(tmp_path / "journal.jsonl")
    assert event["params"] == {"duration_s": 3600, "enabled": True}
    assert event["note"] == "*** after *** s" and event["where"].endswith("x***")


def test_plan_json_keeps_its_numbers_when_a_secret_looks_like_one(tmp_path):
    (tmp_path / "locustfile.py").write_text("")
    (tmp_path / "compose.yaml").write_text(COMPOSE)
    (tmp_path / "exp.yaml").write_text(textwrap.dedent(EXPERIMENT))
    plan = make_plan(load_experiment(tmp_path / "exp.yaml", {"TOKEN": "6379"}), run_id="r1", seed=1)
    data = plan.to_json()  # used to crash the run (exit 1): `"port": ***` is not JSON
    assert [link["port"] for link in data["links"] if link["source"] == "api"] == [6379]
    assert [link["name"] for link in data["links"] if link["source"] == "api"] == ["api -> redis:***"]


def test_report_json_stays_json_whatever_the_secret(tmp_path):
    run_dir = make_run(tmp_path / "run", run_error="failed: true")
    written = render_all(run_dir, secrets=["true", "1"])
    summary = json.loads(written["json"].read_text())  # `true` replaced in the text was `"held": ***`
    assert isinstance(summary["run"]["requests"], int) and summary["run"]["error"] == "failed: ***"


def test_notifications_are_scrubbed_on_every_channel(tmp_path):
    secret = "hook-token-8080"
    shown, journal = [], Journal(tmp_path / "journal.jsonl", [secret])
    notify = SimpleNamespace(stdout=True, jsonl="notes.jsonl", webhook=None)
    notifier = Notifier(notify, tmp_path, {"title": f"day {secret}", "steps": 3}, journal, shown.append,
                        secrets=[secret, "3"])
    body = notifier.send("day_started", f"starting with {secret}", count=3)
    journal.close()
    written = json.loads((tmp_path / "notes.jsonl").read_text())
    assert written == body and body["day"] == {"title": "day ***", "steps": 3} and body["count"] == 3
    assert shown == ["[notify] starting with ***"]


def test_a_secret_used_only_in_the_compose_file_and_secret_env_values_are_known(tmp_path):
    (tmp_path / "locustfile.py").write_text("")
    (tmp_path / "compose.yaml").write_text(COMPOSE)
    (tmp_path / "exp.yaml").write_text(textwrap.dedent(EXPERIMENT))
    loaded = load_experiment(tmp_path / "exp.yaml", {"TOKEN": "tok-only-in-compose"})
    plan = make_plan(loaded, run_id="r1", seed=1)
    assert set(plan.secret_values) == {"tok-only-in-compose", "literal-pw-4711", "url-pw-5522"}
    text = json.dumps(plan.to_json())
    assert not any(s in text for s in plan.secret_values)
    assert "redis" in text  # ordinary environment values are not scrubbed from names


def test_the_journal_scrubs_secrets_that_json_would_escape(tmp_path):
    secret = "ünïcode-pw-77"
    journal = Journal(tmp_path / "journal.jsonl", [secret])
    journal.append("run_ended", outcome="error", error=f"login failed with {secret}")
    journal.close()
    text = (tmp_path / "journal.jsonl").read_text()
    assert secret not in json.loads(text)["error"] and REDACTED in text


def test_scrub_run_files_cleans_samples_and_logs_then_reports_stay_clean(tmp_path):
    secret = "tok-in-a-url-31337"
    run_dir = make_run(tmp_path / "run", names=(f"GET /items?token={secret}", "GET /orders"),
                       fault_error_rate=0.2)
    frame = pd.read_parquet(run_dir / "samples.parquet")
    frame.loc[frame["error"].notna(), "error"] = f"HTTP 503 for /items?token={secret}"
    frame.to_parquet(run_dir / "samples.parquet", index=False)
    (run_dir / "logs").mkdir()
    (run_dir / "logs" / "locust-stats.json").write_text(json.dumps([{"name": f"GET /items?token={secret}"}]))
    (run_dir / "logs" / "locust.log").write_text("nothing secret here\n")
    changed = scrub_run_files(run_dir, [secret])
    assert changed == ["samples.parquet", "logs/locust-stats.json"]
    after = pd.read_parquet(run_dir / "samples.parquet")
    assert not after.astype(str).apply(lambda c: c.str.contains(secret)).any().any()
    assert "GET /items?token=***" in set(after["name"])
    assert len(after) == len(frame) and after["latency_ms"].equals(frame["latency_ms"])
    assert scrub_run_files(run_dir, [secret]) == []  # idempotent: nothing left to change
    for path in render_all(run_dir).values():  # `chaos report` later knows no secret, and needs none
        assert secret not in path.read_text()


def test_render_all_scrubs_secrets_the_caller_knows(tmp_path):
    secret = "caller-known-secret-99"
    run_dir = make_run(tmp_path / "run", run_error=f"failed: {secret}", plan_extra={"description": secret})
    for path in render_all(run_dir, secrets=[secret]).values():
        assert secret not in path.read_text(), path.name
