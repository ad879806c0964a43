"""Which values are secret, and that they are scrubbed from JSON, the samples and the logs of a run dir."""

from __future__ import annotations

import json
import textwrap

import pandas as pd
import pytest

from chaos.journal import Journal
from chaos.plan import make_plan
from chaos.report import render_all
from chaos.secrets import REDACTED, scrub_run_files, scrub_text, secret_env_values
from chaos.spec import load_experiment
from fakerun import make_run

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


def test_json_escaped_forms_are_scrubbed_too():
    secret = 'pä"ss\\wörd'
    for text in (json.dumps({"a": f"say {secret}"}), json.dumps({"a": secret}, ensure_ascii=False), secret):
        assert "ss" not in scrub_text(text, [secret])


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
