"""A complete, valid experiment on the shop's images (the spec tests' starting point, varied by each test) and
how a test writes an experiment text into its folder, beside the empty locustfile it names."""

from __future__ import annotations

import textwrap
from pathlib import Path

VALID = """\
name: demo
targets:
  services:
    redis:
      image: chaos-shop-redis:1
    api:
      image: chaos-shop-api:${API_VERSION:-v1}
      ports: ["127.0.0.1::8080"]
      depends_on:
        redis: {condition: service_healthy}
links:
  - api -> redis:6379
load:
  locustfile: locustfile.py
  target: api:8080
  users: 5
phases: {warmup: 1s, baseline: 10s, recovery: 5s}
faults:
  - type: latency
    link: api -> redis:6379
    latency: 300ms
    at: 2s
    duration: 4s
steady_state:
  - name: fast
    metric: latency.p99
    max: 500ms
  - name: correct
    metric: error_rate
    max: 1%
"""


def write(tmp_path: Path, text: str) -> Path:
    (tmp_path / "locustfile.py").write_text("")
    path = tmp_path / "exp.yaml"
    path.write_text(textwrap.dedent(text))
    return path
