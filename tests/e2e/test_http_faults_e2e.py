"""http faults end to end on the shop (issue #18): 20 % 503s from inventory, v1 deviates and v2 holds; the first
5 reservations reset, v2 holds; SIGKILL with the rule in place, then `chaos clean` reverts it from the ledger and
removes the run. The experiments are the ones under experiments/, with their phases shortened."""

from __future__ import annotations

import json
import re

import pytest
import requests
from support.e2e import REPO, chaos_command, finish, journal, wait_for_event
from support.from_outside import assert_nothing_left, published_port, run_containers

from chaos.images import HTTP_PROXY_CONTROL_PORT

SHORT = {"warmup": "2s", "baseline": "6s", "recovery": "4s"}


def shortened(name: str, folder, fault_for: str = "8s", seed: str = "") -> str:
    """experiments/NAME with short phases and fault, reports under ``folder``."""
    text = (REPO / "experiments" / name).read_text()
    for phase, length in SHORT.items():
        text = re.sub(rf"^  {phase}: .*$", f"  {phase}: {length}", text, flags=re.M)
    text = re.sub(r"^    duration: .*$", f"    duration: {fault_for}", text, flags=re.M)
    text = text.replace("../targets/", f"{REPO}/targets/").replace("dir: ../reports", f"dir: {folder}/reports")
    path = folder / name
    path.write_text(text)
    return str(path)


def run(path: str, folder, version: str) -> tuple:
    code, output = finish(chaos_command("run", path, "--var", f"API_VERSION={version}", "--seed", "7", cwd=folder),
                          timeout=240)
    run_dir = next((folder / "reports").glob(f"*-{version}/*"))
    return code, output, json.loads((run_dir / "summary.json").read_text()), run_dir


def check(summary: dict, name: str, phase: str) -> dict:
    return next(c for c in summary["checks"] if c["hypothesis"] == name and c["phase"] == phase)


def assert_held_as_far_as_short_phases_tell(found: dict, failed_orders) -> None:
    """v2 retries a 503 up to 3 tries, so at 20 % about 0.2**3 = 0.8 % of its orders still fail by design (the
    experiment's 2 % check allows it): in ~90 orders one or two failures come about half the time, at any
    machine load (measured: 2 of 87 at load 0.5). Holding means: far from v1's ~20 % (under 5 %, which a breaker
    left open would blow through), never called deviated, and every failed order refused gracefully (503)."""
    assert found["observed"] < 0.05 and found["verdict"] in ("held", "inconclusive"), found
    assert set(failed_orders["status"]) <= {503}, failed_orders[["status", "error"]]


# v1's deviation is a verdict on the interval of the orders' error rate: on a busy machine 8 s gave too few orders
# to exclude 2 % (inconclusive), so its fault phase is longer. v2 is judged on its orders alone (none may fail).
@pytest.mark.parametrize("version, expected, fault_for", [("v1", "deviated", "16s"), ("v2", "held", "8s")])
def test_503s_from_inventory_v1_deviates_v2_holds(tmp_path, docker_client, version, expected, fault_for):
    path = shortened("shop-http-503.yaml", tmp_path, fault_for=fault_for)
    code, output, summary, run_dir = run(path, tmp_path, version)
    assert code in (0, 1, 5), output
    reverted = next(e for e in journal(run_dir) if e["event"] == "fault_reverted")
    assert reverted["hits"] > 20, reverted  # 20 % of the api's calls to inventory over 8 s
    assert set(reverted["hits_by_route"]) <= {"GET /stock/[n]", "POST /reservations", "GET /health"}
    records = (run_dir / "faults" / "http-f1.jsonl").read_text().splitlines()
    assert len(records) == reverted["hits"]
    orders = check(summary, "orders succeed", "fault")
    if expected == "deviated":
        assert orders["verdict"] == "deviated" and orders["observed"] > 0.05, orders
        assert code == 1, output
    else:
        assert reverted["hits_by_route"].get("POST /reservations", 0) > 0  # v2 met 503s on orders, and absorbed them
        import pandas as pd

        samples = pd.read_parquet(run_dir / "samples.parquet")
        failed = samples[(samples["name"] == "POST /orders") & ~samples["success"] & (samples["phase"] == "fault")]
        assert_held_as_far_as_short_phases_tell(orders, failed)
    assert_nothing_left(docker_client, run_dir)


def test_first_five_reservations_reset_v2_retries_them(tmp_path, docker_client):
    """Measured here: v2 retries a reset reservation, but when the 5 resets hit the first tries and the retries
    of the same few orders at once, an order can use up its 3 tries: at most a couple of orders are refused, as
    503 with Retry-After (never a 500). The full experiment's verdict is then the 1 % check's to make."""
    import pandas as pd

    path = shortened("shop-http-abort-first.yaml", tmp_path)
    code, output, summary, run_dir = run(path, tmp_path, "v2")
    reverted = next(e for e in journal(run_dir) if e["event"] == "fault_reverted")
    assert reverted["hits"] == 5 and reverted["hits_by_route"] == {"POST /reservations": 5}, reverted
    samples = pd.read_parquet(run_dir / "samples.parquet")
    failed = samples[(samples["name"] == "POST /orders") & ~samples["success"]]
    assert len(failed) <= 2 and set(failed["status"]) <= {503}, failed[["status", "error"]]
    assert check(summary, "orders succeed", "fault")["observed"] < 0.05
    assert code in (0, 1, 5), output
    assert_nothing_left(docker_client, run_dir)


def rules_in_proxy(client, run_id: str) -> list[dict]:
    proxy = next(c for c in run_containers(client, run_id, "link") if c.labels.get("chaos.protocol") == "http")
    port = published_port(proxy, HTTP_PROXY_CONTROL_PORT)
    return requests.get(f"http://127.0.0.1:{port}/rules", timeout=5).json()


def test_sigkill_then_clean_reverts_the_rule_from_the_ledger_then_removes_the_run(tmp_path, docker_client):
    path = shortened("shop-http-503.yaml", tmp_path, fault_for="60s")
    process = chaos_command("run", path, "--var", "API_VERSION=v1", cwd=tmp_path)
    run_dir = None
    try:
        run_dir = wait_for_event(tmp_path / "reports", "fault_injected")
        process.kill()
        process.wait(10)
        run_id = run_dir.name
        assert [rule["id"] for rule in rules_in_proxy(docker_client, run_id)] == ["f1"]  # SIGKILL left it in

        code, output = finish(chaos_command("clean", "--run", run_id, "--faults-only", cwd=tmp_path))
        assert code == 0, output
        assert rules_in_proxy(docker_client, run_id) == []
        cleaned = [e for e in journal(run_dir) if e["event"] == "fault_reverted"]
        assert [(e["fault_id"], e["reason"]) for e in cleaned] == [("f1", "clean")], cleaned

        code, output = finish(chaos_command("clean", "--run", run_id, cwd=tmp_path))
        assert code == 0, output
    finally:
        if process.poll() is None:
            process.kill()
        if run_dir is not None:
            finish(chaos_command("clean", "--run", run_dir.name, cwd=tmp_path))
            assert_nothing_left(docker_client, run_dir)
