"""The chaos fixtures in real pytest sessions (pytester, subprocesses) against the real engine,
Toxiproxy and Locust.

One shop system is started by an inner session with --chaos-keep-system and adopted by the others
with --chaos-reuse-system, so the whole module starts the shop once; a tiny one-container system
proves teardown on failure and per-worker isolation under pytest-xdist. Everything is removed by
run label at the end, and a leak fails the module.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from chaos.links import Link
from chaos.system import remove_run
from chaos.toxiproxy import ToxiproxyClient

pytest_plugins = ["pytester"]

REPO = Path(__file__).resolve().parents[2]
SHOP = REPO / "targets" / "shop"

SHOP_CONFTEST = f"""
import sys
import pytest
from chaos.testkit import SystemSpec


@pytest.fixture(scope="session")
def chaos_system_spec():
    return SystemSpec.from_compose({str(SHOP / "compose.yaml")!r}, locustfile={str(SHOP / "locustfile.py")!r},
                                   user_classes=["ShopUser"], variables={{"API_VERSION": "v2", "BREAKER_RESET_S": "1"}})


def pytest_unconfigure(config):
    with open("gevent.txt", "a") as handle:  # Locust runs in its own process: gevent must never get here
        handle.write(f"{{'gevent' in sys.modules}}\\n")
"""

START = """
def test_start(chaos_system):
    assert sorted(chaos_system.links) == ["api -> inventory:8081", "api -> redis:6379", "inventory -> redis:6379",
                                          "load -> api:8080"]
"""

FAULTS = '''
import docker
import pytest
import requests
from chaos.testkit import UsageProblem


def toxics(chaos_system, link):
    proxy = chaos_system.system.proxies[link]
    return proxy.client.toxics(proxy.link.proxy_name)


def enabled(chaos_system, link):
    proxy = chaos_system.system.proxies[link]
    return proxy.client.proxy(proxy.link.proxy_name)["enabled"]


def test_latency_shows_in_the_result_and_is_reverted(chaos, chaos_system):
    with chaos.latency("load", "api", ms=400):
        assert [t["type"] for t in toxics(chaos_system, "load -> api:8080")] == ["latency"]
        result = chaos.load(users=3, duration="6s")
    assert toxics(chaos_system, "load -> api:8080") == []
    assert result.phases == ["fault"]
    assert result.latency.p50 > "400ms"
    result.expect("latency.p50", min="400ms")


def test_a_failed_expectation_tells_the_story(chaos):
    with chaos.latency("load", "api", ms=400):
        result = chaos.load(users=3, duration="6s")
    result.expect("latency.p50", max="100ms", name="answers within 100ms")


def test_an_assertion_inside_a_block_still_reverts(chaos, chaos_system):
    with chaos.down("api", "inventory"):
        assert not enabled(chaos_system, "api -> inventory:8081")
        assert False, "boom inside the block"


def test_the_block_above_was_reverted(chaos_system):
    assert enabled(chaos_system, "api -> inventory:8081")


def test_bandwidth_in_a_background_load_with_phases(chaos, chaos_system):
    with chaos.background_load(users=3) as load:
        chaos.wait("5s")
        with chaos.bandwidth("api", "redis", rate="2KB/s"):
            during = toxics(chaos_system, "api -> redis:6379")
            chaos.wait("5s")
        chaos.wait("5s")
    assert [(t["type"], t["attributes"]["rate"]) for t in during] == [("bandwidth", 2)]
    assert toxics(chaos_system, "api -> redis:6379") == []
    result = load.result
    assert result.phases == ["baseline", "fault", "recovery"]
    assert all(result.phase(p).count > 10 for p in result.phases)
    assert result.count == sum(result.phase(p).count for p in result.phases)


def test_an_inconclusive_expectation(chaos):
    result = chaos.load(users=1, duration="2s")
    result.expect("latency.p999", max="10s")


def test_container_and_partition_faults_revert(chaos, chaos_system):
    client = docker.from_env()
    inventory = lambda: client.containers.get(chaos_system.system.containers["inventory"])
    health = lambda: requests.get(chaos_system.edge_url + "/health", timeout=5).json()
    with chaos.pause("inventory"):
        assert inventory().status == "paused"
    assert inventory().status == "running"
    with chaos.partition(["api"], ["redis"]):
        assert chaos.wait_until(lambda: not health()["checks"]["redis"]["ok"], timeout="10s")
    chaos.wait_until(lambda: health()["checks"]["redis"]["ok"], timeout="20s")
    with chaos.kill("inventory", restart_after="1s") as killed:
        chaos.wait_until(lambda: not killed.active, timeout="60s")  # restarted (and healthy) by its timer
    assert inventory().status == "running"
    with pytest.raises(UsageProblem, match="'inventory' is not declared skewable: add `clock: skewable`"):
        chaos.skew("inventory", "+30s")
    with pytest.raises(UsageProblem, match=r"link inventory -> api is not routed through Toxiproxy"):
        chaos.latency("inventory", "api", ms=10)
'''

FAILS_INSIDE_A_PARTITION = """
import requests


def test_fails_inside_a_partition(chaos, chaos_system):
    redis_ok = lambda: requests.get(chaos_system.edge_url + "/health", timeout=5).json()["checks"]["redis"]["ok"]
    with chaos.partition(["api"], ["redis"]):
        chaos.wait_until(lambda: not redis_ok(), timeout="10s")  # the partition is really there
        assert False, "the test fails while api is cut off from redis"
"""

INTERRUPTED = """
def test_interrupted_inside_a_block(chaos, chaos_system):
    with chaos.down("load", "api"):
        raise KeyboardInterrupt
"""


def run_inner(args: list[str], cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def shop(tmp_path_factory, docker_client, leftovers):
    """The shop, started and kept by an inner session: (its run id, the folder that session ran in)."""
    folder = tmp_path_factory.mktemp("shop-start")
    (folder / "conftest.py").write_text(SHOP_CONFTEST)
    (folder / "test_start.py").write_text(START)
    started = run_inner(["test_start.py", "--chaos-keep-system", "--chaos-report-dir", str(folder / "reports")],
                        folder)
    found = re.search(r"chaos: kept system (\S+) \(shop\): reuse it with --chaos-reuse-system=\1, remove it with "
                      r"`chaos clean --run \1`", started.stdout)
    assert started.returncode == 0 and found, started.stdout + started.stderr
    run_id = found.group(1)
    try:
        yield run_id, folder
    finally:
        remove_run(docker_client, run_id)
        assert leftovers(docker_client, run_id) == []


def proxy_of(docker_client, run_id: str, link: str) -> tuple[ToxiproxyClient, str]:
    (container,) = docker_client.containers.list(filters={"label": [f"chaos.run={run_id}", f"chaos.link={link}"]})
    port = container.attrs["NetworkSettings"]["Ports"]["8474/tcp"][0]["HostPort"]
    return ToxiproxyClient(f"http://127.0.0.1:{port}"), Link.parse(link).proxy_name


def test_the_kept_system_is_still_running_for_the_next_session(shop, docker_client):
    run_id, folder = shop
    services = {c.labels["chaos.service"] for c in docker_client.containers.list(
        filters={"label": [f"chaos.run={run_id}", "chaos.role=target"]})}
    assert services == {"api", "inventory", "redis"}
    assert (folder / "gevent.txt").read_text().split() == ["False"]


def test_faults_revert_on_exit_failure_and_every_test_has_a_report(shop, pytester):
    run_id, _ = shop
    pytester.makeconftest(SHOP_CONFTEST)
    pytester.makepyfile(test_faults=FAULTS)
    junit = pytester.path / "junit.xml"
    reports = pytester.path / "reports"
    result = pytester.runpytest_subprocess(f"--chaos-reuse-system={run_id}", "--chaos-report-dir", str(reports),
                                           f"--junitxml={junit}", "-p", "no:cacheprovider", "-rA", timeout=600)
    result.assert_outcomes(passed=4, failed=2, skipped=1)
    slug = "test_faults-test_a_failed_expectation_tells_the_story"
    report = next(p for p in (reports / slug).glob("*/report.html") if not p.parent.is_symlink())
    result.stdout.fnmatch_lines([
        "*result.expect(\"latency.p50\", max=\"100ms\", name=\"answers within 100ms\")",
        "E *chaos.results.CheckFailed: hypothesis 'answers within 100ms' deviated in phase fault",
        "E *  metric:    latency.p50 (p50 latency)",
        "E *  observed:  4?? ms (95 % CI 4??–4?? ms)",
        "E *  threshold: <= 100 ms",
        f"E *  report:    {report}",
        "*- chaos -*",
        f"run dir: {report.parent}",
    ])
    assert "results.py" not in result.stdout.str()  # the test's own line, not the harness' code
    result.stdout.fnmatch_lines(["*AssertionError: boom inside the block*",
                                 "SKIPPED [[]1] test_faults.py:*: inconclusive: p99.9 latency in phase baseline could "
                                 "not be judged: *"])
    # every test that used the fixture: its own run dir with a report, linked in JUnit
    cases = {case.get("name"): case for case in ET.parse(junit).getroot().iter("testcase")}
    for name, case in cases.items():
        properties = {p.get("name"): p.get("value") for p in case.iter("property")}
        if name == "test_the_block_above_was_reverted":
            assert properties == {}
            continue
        assert Path(properties["chaos_report"]).is_file(), name
        assert Path(properties["chaos_run_dir"]).name == Path(properties["chaos_report"]).parent.name
    summary = json.loads((report.parent / "summary.json").read_text())
    assert [(c["hypothesis"], c["phase"], c["verdict"]) for c in summary["checks"]] == [
        ("answers within 100ms", "fault", "deviated")]
    assert summary["faults"][0]["target"] == "load -> api:8080" and summary["faults"][0]["reverted"]
    assert (pytester.path / "gevent.txt").read_text().split() == ["False"]


def test_inconclusive_can_be_an_xfail(shop, pytester):
    run_id, _ = shop
    pytester.makeconftest(SHOP_CONFTEST)
    pytester.makepyfile(test_faults=FAULTS)
    result = pytester.runpytest_subprocess(f"--chaos-reuse-system={run_id}", "--chaos-inconclusive=xfail",
                                           "-k", "inconclusive", "--chaos-report-dir", str(pytester.path / "r"))
    result.assert_outcomes(xfailed=1)


def test_keyboard_interrupt_inside_a_block_reverts_and_stops_the_session(shop, pytester, docker_client):
    run_id, _ = shop
    pytester.makeconftest(SHOP_CONFTEST)
    pytester.makepyfile(test_interrupt=INTERRUPTED)
    reports = pytester.path / "reports"
    result = pytester.runpytest_subprocess(f"--chaos-reuse-system={run_id}", "--chaos-report-dir", str(reports))
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines(["*KeyboardInterrupt*"])
    client, proxy = proxy_of(docker_client, run_id, "load -> api:8080")
    assert client.proxy(proxy)["enabled"] is True
    (journal,) = [j for j in reports.glob("*/*/journal.jsonl") if not j.parent.is_symlink()]  # not `latest`
    events = [json.loads(line) for line in journal.read_text().splitlines()]
    assert [e["event"] for e in events if e.get("fault_id")] == ["fault_ledgered", "fault_injected", "fault_reverting",
                                                                 "fault_reverted"]
    assert events[-1]["event"] == "run_ended" and events[-1]["outcome"] == "interrupted"
    assert (journal.parent / "report.html").is_file()


def partition_rules(docker_client, run_id: str, service: str) -> list[str]:
    """This project's iptables rules in the service's network namespace, as a fresh helper container lists them."""
    from chaos.faults.partition import CHAIN_PREFIX
    from chaos.images import HELPER_IMAGE

    (target,) = docker_client.containers.list(filters={"label": [f"chaos.run={run_id}", f"chaos.service={service}"]})
    listing = docker_client.containers.run(HELPER_IMAGE, ["iptables", "-w", "5", "-S"], remove=True,
                                           cap_add=["NET_ADMIN"], network_mode=f"container:{target.id}",
                                           labels={"chaos.managed": "true", "chaos.run": run_id})
    return [line for line in listing.decode().splitlines() if CHAIN_PREFIX in line]


def test_a_test_failing_inside_a_partition_leaves_no_partition(shop, pytester, docker_client):
    run_id, _ = shop
    pytester.makeconftest(SHOP_CONFTEST)
    pytester.makepyfile(test_partitioned=FAILS_INSIDE_A_PARTITION)
    result = pytester.runpytest_subprocess(f"--chaos-reuse-system={run_id}", "--chaos-report-dir",
                                           str(pytester.path / "reports"))
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*the test fails while api is cut off from redis*"])
    assert partition_rules(docker_client, run_id, "api") == [], "rules left in api's namespace"
    assert partition_rules(docker_client, run_id, "redis") == [], "rules left in redis's namespace"


def test_the_example_module_passes_against_the_shop(shop, pytester):
    run_id, _ = shop
    result = pytester.runpytest_subprocess(str(REPO / "examples" / "test_shop_resilience.py"),
                                           f"--chaos-reuse-system={run_id}", "-p", "no:cacheprovider",
                                           "--chaos-report-dir", str(pytester.path / "reports"), timeout=600)
    result.assert_outcomes(passed=6)


# ---------------------------------------------------------------- a system of its own

TINY_COMPOSE = """\
services:
  web:
    image: chaos-base:bookworm
    command: [python3, -m, http.server, "8000", --bind, 0.0.0.0]
    ports: ["127.0.0.1::8000"]
    healthcheck:
      test: [CMD, python3, -c, "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/', timeout=1)"]
      interval: 200ms
      retries: 50
"""

TINY_TESTS = """
def test_one(chaos_system):
    open(f"run-{chaos_system.run_id}", "w").close()
    assert False, "a failing test"
"""

TINY_TESTS_TOO = """
import os
import pathlib
import docker


def test_two(chaos_system):
    open(f"run-{chaos_system.run_id}", "w").close()
    assert chaos_system.links == ["load -> web:8000"]
    if os.environ.get("EXPECT_MODULE_SYSTEM_GONE"):  # module scope: the other module's system was removed
        others = [p.name[4:] for p in pathlib.Path().glob("run-*") if p.name[4:] != chaos_system.run_id]
        assert others and all(not docker.from_env().containers.list(all=True, filters={"label": f"chaos.run={o}"})
                               for o in others)
    raise RuntimeError("another failure")
"""

SLEEPS_IN_A_FAULT = """
import pathlib
import time


def test_sleeps(chaos, chaos_system):
    pathlib.Path(f"run-{chaos_system.run_id}").touch()
    with chaos.down("load", "web"):
        pathlib.Path("inside").touch()
        time.sleep(120)
"""


@pytest.mark.parametrize(("how", "systems"), [
    ([], 1), (["-o", "chaos_system_scope=module"], 2), (["-n", "2"], 2),
], ids=["session-scope", "module-scope", "xdist-2-workers"])
def test_systems_go_away_when_tests_fail_per_session_module_or_xdist_worker(pytester, docker_client, leftovers,
                                                                           monkeypatch, how, systems):
    (pytester.path / "compose.yaml").write_text(TINY_COMPOSE)
    pytester.makeini("[pytest]\nchaos_compose = compose.yaml\n")
    pytester.makepyfile(test_tiny_a=TINY_TESTS, test_tiny_b=TINY_TESTS_TOO)
    if "chaos_system_scope=module" in how:
        monkeypatch.setenv("EXPECT_MODULE_SYSTEM_GONE", "1")
    result = pytester.runpytest_subprocess(*how, "--chaos-report-dir", str(pytester.path / "r"), timeout=300)
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(["*RuntimeError: another failure*"])  # not some other failure of test_two
    run_ids = sorted(p.name.removeprefix("run-") for p in pytester.path.glob("run-*"))
    assert len(run_ids) == systems  # one per session, per module, or per worker: never shared by workers
    for run_id in run_ids:
        assert leftovers(docker_client, run_id) == []


def test_sigterm_reverts_and_removes_the_system(pytester, docker_client, leftovers):
    (pytester.path / "compose.yaml").write_text(TINY_COMPOSE)
    pytester.makeini("[pytest]\nchaos_compose = compose.yaml\n")
    pytester.makepyfile(test_sleeps=SLEEPS_IN_A_FAULT)
    process = subprocess.Popen([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--chaos-report-dir", "r"],
                               cwd=pytester.path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 120
        while not (pytester.path / "inside").exists():
            assert process.poll() is None and time.monotonic() < deadline, process.stdout.read()
            time.sleep(0.2)
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == pytest.ExitCode.INTERRUPTED, output
    (run_id,) = [p.name.removeprefix("run-") for p in pytester.path.glob("run-*")]
    assert leftovers(docker_client, run_id) == []
    (journal,) = [j for j in (pytester.path / "r").glob("*/*/journal.jsonl") if not j.parent.is_symlink()]
    events = [json.loads(line)["event"] for line in journal.read_text().splitlines()]
    assert events[-4:] == ["fault_injected", "fault_reverting", "fault_reverted", "run_ended"]


def test_reusing_a_system_under_xdist_is_refused(pytester):
    result = pytester.runpytest_subprocess("-n", "2", "--chaos-reuse-system=20250101T000000-abcd")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--chaos-reuse-system cannot be used with pytest-xdist: every worker would inject "
                                 "faults into the same containers at once*"])
