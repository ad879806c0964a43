"""Probes through a real run: HTTP, command and container probes polled beside the load, judged per phase."""

from __future__ import annotations

import json

import pandas as pd
from support.e2e import REPO, chaos_command, finish, only_run_dir
from support.from_outside import assert_nothing_left

EXPERIMENT = f"""\
name: e2e-probes
targets:
  compose: {REPO}/targets/shop/compose.yaml
links:
  - api -> redis:6379
load:
  locustfile: {REPO}/targets/shop/locustfile.py
  user_classes: [ShopUser]
  target: api:8080
  users: 3
phases: {{warmup: 2s, baseline: 6s, recovery: 3s}}
faults:
  - {{type: down, link: "api -> redis:6379", duration: 6s}}
probes:
  - {{name: api-health, type: http, service: api, port: 8080, path: /health, json_path: status,
      equals: healthy, every: 250ms, timeout: 250ms}}
  - {{name: redis-alive, type: command, service: redis, command: [redis-cli, ping], output_regex: PONG}}
  - {{name: api-running, type: container, service: api}}
steady_state:
  - {{name: api says healthy, probe: api-health, metric: success_rate, min: 50%, phases: [baseline, fault]}}
abort:
  - {{metric: error_rate, max: 100%, for: 5s}}
"""


def test_probes_are_polled_and_judged_per_phase(tmp_path, docker_client):
    path = tmp_path / "probes.yaml"
    path.write_text(EXPERIMENT)
    code, output = finish(chaos_command("run", str(path), "--report-dir", "reports", cwd=tmp_path))
    run_dir = only_run_dir(tmp_path / "reports")
    assert code == 1, output
    probes = pd.read_parquet(run_dir / "probes.parquet")
    assert set(probes.probe) == {"api-health", "redis-alive", "api-running"}
    assert probes[probes.probe == "redis-alive"].success.all(), "redis itself stays up: only api's link is down"
    assert probes[probes.probe == "api-running"].success.all()
    health = probes[probes.probe == "api-health"]
    assert health.success.any() and (~health.success).any(), "healthy before the fault, not during it"
    checks = {c["phase"]: c for c in json.loads((run_dir / "summary.json").read_text())["checks"]}
    assert checks["baseline"]["verdict"] == "held" and checks["fault"]["verdict"] == "deviated"
    assert checks["fault"]["observed"] < 0.5
    assert_nothing_left(docker_client, run_dir)
