"""A secret given with --var and listed under `secrets:` never reaches any file of a real run.

The secret is put everywhere it could leak from: the description, a fault name, a hypothesis
name, a target's environment (also inside a URL), a request path (so request names in the
samples, Locust's stats and every report carry it) and a request header.  A secret-looking
environment value written literally in the compose file must not show up either.
"""

from __future__ import annotations

import pandas as pd
import yaml
from support.e2e import REPO, assert_every_fault_reverted, chaos_command, finish, journal, only_run_dir
from support.from_outside import assert_nothing_left

SECRET = "s3cr3t-T0ken-4711-e2e"
LITERAL_PASSWORD = "literal-db-pw-9931"

EXPERIMENT = """\
name: e2e-secrets
description: shop reads with token ${SHOP_TOKEN} must stay fast
secrets: [SHOP_TOKEN]
targets:
  compose: compose.yaml
links:
  - api -> redis:6379
load:
  scenario:
    - path: /products/1?token=${SHOP_TOKEN}
      headers: {Authorization: "Bearer ${SHOP_TOKEN}"}
  target: api:8080
  users: 4
  spawn_rate: 4
phases: {warmup: 2s, baseline: 5s, recovery: 3s}
faults:
  - name: slow redis for ${SHOP_TOKEN}
    type: latency
    link: api -> redis:6379
    latency: 100ms
    at: 0s
    duration: 4s
steady_state:
  - name: fast for ${SHOP_TOKEN}
    metric: latency.p90
    max: 5s
    phases: [baseline, fault, recovery]
"""


def _compose() -> str:
    """The shop's compose file, with the token and a literal password in the api's environment."""
    compose = yaml.safe_load((REPO / "targets/shop/compose.yaml").read_text())
    for service in compose["services"].values():
        if isinstance(service.get("build"), dict):
            service["build"]["context"] = str(REPO / "targets/shop")
    compose["services"]["api"]["environment"].update({
        "API_TOKEN": "${SHOP_TOKEN}",
        "UPSTREAM_URL": "http://shop:${SHOP_TOKEN}@inventory:8081",
        "DB_PASSWORD": LITERAL_PASSWORD,
    })
    return yaml.safe_dump(compose, sort_keys=False)


def _leaks(run_dir, needle: str) -> list[str]:
    found = []
    for path in sorted(run_dir.rglob("*")):
        if not path.is_file():
            continue
        if path.suffix == ".parquet":
            frame = pd.read_parquet(path)
            text = frame.astype(str).to_csv()
        else:
            text = path.read_bytes().decode("utf-8", errors="replace")
        if needle in text:
            found.append(str(path.relative_to(run_dir)))
    return found


def test_a_secret_var_never_reaches_the_run_dir_or_the_terminal(tmp_path, docker_client):
    (tmp_path / "compose.yaml").write_text(_compose())
    experiment = tmp_path / "secrets.yaml"
    experiment.write_text(EXPERIMENT)
    code, output = finish(chaos_command("run", str(experiment), "--var", f"SHOP_TOKEN={SECRET}",
                                        "--report-dir", "reports", cwd=tmp_path))
    run_dir = only_run_dir(tmp_path / "reports")
    assert code in (0, 5), output  # held, or inconclusive when a busy machine serves few requests
    assert journal(run_dir)[-1]["outcome"] == "completed"
    names = {"journal.jsonl", "plan.json", "summary.json", "report.html", "report.md", "junit.xml",
             "samples.parquet"}
    assert names <= {p.name for p in run_dir.iterdir()}
    assert _leaks(run_dir, SECRET) == []
    assert _leaks(run_dir, LITERAL_PASSWORD) == []
    assert SECRET not in output and LITERAL_PASSWORD not in output

    # the secret was really used, and is shown redacted where it was
    samples = pd.read_parquet(run_dir / "samples.parquet")
    assert set(samples["name"]) == {"GET /products/1?token=***"}
    assert len(samples) > 20 and samples["success"].mean() > 0.9
    assert "fast for ***" in (run_dir / "junit.xml").read_text()
    assert "token *** must stay fast" in (run_dir / "report.html").read_text()
    assert "GET /products/1?token=***" in (run_dir / "report.html").read_text()
    events = journal(run_dir)
    assert_every_fault_reverted(events)
    assert_nothing_left(docker_client, run_dir)

    # rendering again from the run dir alone (no secret known any more) stays clean
    code, output = finish(chaos_command("report", str(run_dir), cwd=tmp_path))
    assert code == 0, output
    assert _leaks(run_dir, SECRET) == []
