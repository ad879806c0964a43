"""The fixture API's pure parts: results judged like YAML hypotheses (on synthetic runs), system specs,
link resolution and run-dir names. The Docker side is in tests/integration/test_pytest_fixture_docker.py."""

from __future__ import annotations

import math
from pathlib import Path
from types import SimpleNamespace

import pytest
from support.fakerun import make_run

from chaos import analysis
from chaos.faults import FaultAdapter
from chaos.plan import make_system_plan
from chaos.hypotheses import HypothesisPlan, planned_checks
from chaos.results import CheckFailed, LoadResult, Measured, ResultPolicy, check_text
from chaos.spec import load_compose
from chaos.testkit import RunningSystem, SystemSpec, UsageProblem, slug_for, seed_for

REPO = Path(__file__).resolve().parents[2]
SHOP = REPO / "targets" / "shop"
SHOP_PORTS = {"chaos-shop-redis:1": [6379], "chaos-shop-inventory:1": [8081], "chaos-shop-api:v1": [8080],
              "chaos-shop-api:v2": [8080]}


def exposed(image: str) -> list[int]:
    return SHOP_PORTS.get(image, [])


@pytest.fixture(scope="module")
def slow_fault_run(tmp_path_factory):
    """40 ms answers, +300 ms while the fault is active and for 3 s after its revert."""
    run_dir = make_run(tmp_path_factory.mktemp("run") / "r", phases=(("warmup", 3.0), ("baseline", 15.0),
                                                                    ("fault", 10.0), ("recovery", 15.0)),
                       recovery_lag_s=3.0, steady_state=())
    return analysis.load_run(run_dir)


def result_of(run, **policy) -> LoadResult:
    return LoadResult(run, seed=7, policy=ResultPolicy(report=Path("/reports/t/1/report.html"), **policy))


# ---------------------------------------------------------------- results

def test_metrics_per_phase_and_pooled_over_every_judged_phase(slow_fault_run):
    result = result_of(slow_fault_run)
    assert result.phases == ["baseline", "fault", "recovery"]
    baseline, fault = result.phase("baseline"), result.phase("fault")
    assert 30 < baseline.latency.p50 < 60 and fault.latency.p50 > 300
    assert baseline.latency.p50 < result.latency.p50 < fault.latency.p50  # pooled sits in between
    counts = sum(result.phase(p).count for p in result.phases)
    assert result.count == counts  # warmup is left out of the pool
    assert result.error_rate == 0
    assert result.throughput > 50


def test_a_measured_value_compares_with_strings_in_its_metrics_unit_and_reads_well(slow_fault_run):
    result = result_of(slow_fault_run)
    p99 = result.phase("baseline").latency.p99
    assert p99 < "500ms" and p99 < 0.5 * 1000 and not p99 > "1s"
    assert result.error_rate <= "1%"
    assert repr(p99).startswith("<latency.p99 ") and "(95 % CI " in repr(p99) and repr(p99).endswith(" ms)>")
    assert repr(result.error_rate).startswith("<error_rate 0 % (95 % CI 0–")
    missing = Measured(None, "latency.p99", note="no requests in phase fault")
    assert not missing < 1e9 and repr(missing) == "<latency.p99: no value: no requests in phase fault>"


def test_recovery_time_and_time_to_degrade_come_from_the_baseline_band(slow_fault_run):
    result = result_of(slow_fault_run)
    assert result.time_to_degrade == 0
    assert 2 <= result.recovery_time <= 5  # 3 s of lag, 1 s windows
    assert result.recovery_time < "10s"
    assert result.expect_recovery(within="10s") == result.recovery_time
    with pytest.raises(CheckFailed, match=r"recovery took longer than 1 s: <recovery_time_s \d s>"):
        result.expect_recovery(within="1s")


def test_recovery_time_without_a_fault_is_no_value_with_a_reason(tmp_path):
    run = analysis.load_run(make_run(tmp_path / "r", with_fault=False, steady_state=(),
                                     phases=(("warmup", 2.0), ("baseline", 10.0))))
    value = result_of(run).recovery_time
    assert math.isnan(value) and value.note == "no fault was reverted while this load ran"
    assert not value < 1000


def test_expect_judges_like_a_hypothesis_and_fails_with_the_whole_story(slow_fault_run):
    recorded = []
    result = result_of(slow_fault_run, record=recorded.append)
    checks = result.expect("error_rate", max="1%")
    assert [(c["phase"], c["verdict"]) for c in checks] == [("baseline", "held"), ("fault", "held"),
                                                            ("recovery", "held")]
    with pytest.raises(CheckFailed) as failed:
        result.expect("latency.p50", max="100ms", phases=["baseline", "fault"], name="reads fast")
    text = str(failed.value)
    assert text.startswith("hypothesis 'reads fast' deviated in phase fault\n")
    assert "  metric:    latency.p50 (p50 latency)\n" in text
    assert "  observed:  3" in text and "(95 % CI " in text
    assert "  threshold: <= 100 ms\n" in text
    assert text.endswith("  report:    /reports/t/1/report.html")
    assert [h.name for h in recorded] == ["error rate ≤ 1 %", "reads fast"]
    assert recorded[1].max == 100.0 and recorded[1].phases == ["baseline", "fault"]


def test_an_inconclusive_expectation_goes_to_the_policy(slow_fault_run):
    told = []
    result = result_of(slow_fault_run, inconclusive=lambda reason, full: told.append((reason, full)))
    result.expect("latency.p999", max="1s", phases=["fault"])  # about 800 requests: p99.9 needs 1000
    reason, full = told[0]
    assert reason.startswith("inconclusive: p99.9 latency in phase fault could not be judged: only ")
    assert reason.endswith("(report: /reports/t/1/report.html)")
    assert full.startswith("hypothesis 'p99.9 latency ≤ 1 s' inconclusive in phase fault")


def test_expect_refuses_phases_the_load_did_not_have_and_unknown_metrics(slow_fault_run):
    result = result_of(slow_fault_run)
    with pytest.raises(ValueError, match=r"this load has no phase 'storm' \(it has: baseline, fault, recovery\)"):
        result.expect("error_rate", max="1%", phases=["storm"])
    with pytest.raises(ValueError, match="unknown metric 'latency.p42'"):
        result.expect("latency.p42", max="1s")
    with pytest.raises(ValueError, match="unknown metric"):
        result.latency.p42  # noqa: B018


def test_planned_checks_follow_the_summary_order_and_the_failure_text_names_everything():
    steady = [HypothesisPlan("fast", "latency.p99", max=500.0, min=None, phases=["baseline", "fault"]),
              HypothesisPlan("busy", "throughput", max=900.0, min=10.0, phases=["fault"])]
    planned = planned_checks(steady)
    assert [(c.hypothesis, c.phase, c.op, c.entry) for c in planned] == [
        ("fast", "baseline", "<=", 0), ("fast", "fault", "<=", 0), ("busy", "fault", "<=", 1), ("busy", "fault", ">=", 1)]
    check = {"hypothesis": "fast", "metric": "latency.p99", "phase": "fault", "filter": "GET /a", "op": "<=",
             "threshold": 500.0, "observed": 997.0, "ci_low": 970.0, "ci_high": 1010.0, "verdict": "deviated",
             "samples": 2340, "windows": 20, "reason": "p99 latency of GET /a in phase fault was 997 ms"}
    assert check_text(check, "r/report.html") == (
        "hypothesis 'fast' deviated in phase fault\n"
        "  metric:    latency.p99 (p99 latency of GET /a)\n"
        "  observed:  997 ms (95 % CI 0.97–1.01 s)\n"
        "  threshold: <= 500 ms\n"
        "  requests:  2,340 in 20 one-second window(s)\n"
        "  reason:    p99 latency of GET /a in phase fault was 997 ms\n"
        "  report:    r/report.html")


# ---------------------------------------------------------------- system specs and links

def test_a_compose_system_routes_every_dependency_and_infers_the_edge():
    resolved = SystemSpec.from_compose(SHOP / "compose.yaml").resolve(exposed)
    assert sorted(resolved.links) == ["api -> inventory:8081", "api -> redis:6379", "inventory -> redis:6379",
                                      "load -> api:8080"]
    assert resolved.edge == "api:8080" and resolved.name == "shop"
    assert set(resolved.services) == {"redis", "inventory", "api"}


def test_explicit_links_replace_or_extend_the_dependencies():
    only = SystemSpec.from_compose(SHOP / "compose.yaml", links=["api -> redis:6379"], edge="api:8080")
    assert sorted(only.resolve(exposed).links) == ["api -> redis:6379", "load -> api:8080"]
    both = SystemSpec.from_compose(SHOP / "compose.yaml", links=["dependencies", "load -> redis:6379"])
    assert "load -> redis:6379" in both.resolve(exposed).links and len(both.resolve(exposed).links) == 5


def test_bad_links_are_told_in_one_sentence():
    with pytest.raises(UsageProblem, match=r"link 'api -> cache:6379': 'cache' is not a service \(services: "):
        SystemSpec.from_compose(SHOP / "compose.yaml", links=["api -> cache:6379"]).resolve(exposed)
    with pytest.raises(UsageProblem, match="is not 'from -> to:port'"):
        SystemSpec.from_compose(SHOP / "compose.yaml", links=["api to redis"]).resolve(exposed)


def test_an_experiment_system_brings_its_links_edge_and_load():
    resolved = SystemSpec.from_experiment(REPO / "experiments" / "shop-redis-latency.yaml").resolve(exposed)
    assert sorted(resolved.links) == ["api -> redis:6379", "load -> api:8080"]
    assert resolved.load["locustfile"] == str(SHOP / "locustfile.py") and resolved.load["users"] == 20


def test_equal_specs_are_one_system():
    one = SystemSpec.from_compose(SHOP / "compose.yaml", variables={"API_VERSION": "v2"})
    two = SystemSpec.from_compose(str(SHOP / "compose.yaml"), variables={"API_VERSION": "v2"})
    assert one == two and hash(one) == hash(two)
    assert one != SystemSpec.from_compose(SHOP / "compose.yaml", variables={"API_VERSION": "v1"})


def test_link_lookup_by_services_with_readable_refusals():
    services = load_compose(SHOP / "compose.yaml")
    plan = make_system_plan("shop", services, ["api -> redis:6379", "api -> inventory:8081",
                                               "api -> inventory:9090", "load -> api:8080"], run_id="r1")
    running = RunningSystem(resolved=None, system=SimpleNamespace(plan=plan, client=None), events=[])
    assert running.link("api", "redis") == "api -> redis:6379"
    assert running.link("load", "api") == "load -> api:8080"
    assert running.link("api", "inventory:9090") == "api -> inventory:9090"
    with pytest.raises(UsageProblem, match=r"link inventory -> redis is not routed through Toxiproxy in system shop "
                                           r"\(routed: .*\); add it to SystemSpec\(links=\[...\]\) or chaos_links"):
        running.link("inventory", "redis")
    with pytest.raises(UsageProblem, match=r"api -> inventory matches several links .*: give port="):
        running.link("api", "inventory")


def test_run_dirs_are_named_after_the_test_and_seeded_by_it():
    assert slug_for("tests/test_shop.py::test_slow_redis[v2-300ms]") == "test_shop-test_slow_redis-v2-300ms"
    assert slug_for("tests/test_shop.py::TestCart::test_add") == "test_shop-TestCart-test_add"
    assert seed_for("a::b") == seed_for("a::b") != seed_for("a::c")


# ---------------------------------------------------------------- a test's journal, phases and report (no Docker)

class FakeLoadProcess:
    """Stands in for Locust: one request at start (so the phases begin), then one every 10 ms of 20 ms."""

    def __init__(self, load, host, run_time, run_dir, seed=None):
        self.run_dir = Path(run_dir)
        self.process = SimpleNamespace(pid=4242)
        self.started = None

    @property
    def samples_csv(self) -> Path:
        return self.run_dir / "samples.csv"

    def _rows(self, start: float, stop: float) -> str:
        import time

        wall = time.time() - time.monotonic()
        rows, t = [], start
        while t < stop:
            rows.append(f"{wall + t:.6f},{t:.6f},20.0,GET /,GET,200,1,10,,20.0\n")
            t += 0.01
        return "".join(rows)

    def start(self) -> None:
        import time

        from chaos.load_protocol import COLUMNS

        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.started = time.monotonic()
        self.samples_csv.write_text(",".join(COLUMNS) + "\n" + self._rows(self.started, self.started + 0.001))

    def running(self) -> bool:
        return True

    def stop(self) -> None:
        import time

        with open(self.samples_csv, "a") as handle:
            handle.write(self._rows(self.started + 0.01, time.monotonic()))


class NoOpFault(FaultAdapter):
    def __init__(self, plan):
        self.plan, self.calls = plan, []

    def inject(self):
        self.calls.append("inject")

    def revert(self):
        self.calls.append("revert")


def test_phases_follow_faults_loads_get_their_own_names_and_the_test_gets_a_report(tmp_path, monkeypatch):
    from chaos.plan import FaultPlan
    from chaos.testkit import Chaos, FaultContext, ResolvedSystem

    monkeypatch.setattr("chaos.load.LoadProcess", FakeLoadProcess)
    services = load_compose(SHOP / "compose.yaml")
    plan = make_system_plan("shop", services, ["load -> api:8080"], run_id="sys1")
    system = RunningSystem(resolved=ResolvedSystem("shop", services, ["load -> api:8080"], "api:8080",
                                                   {"locustfile": str(SHOP / "locustfile.py")}),
                           system=SimpleNamespace(plan=plan, client=None, edge_url=lambda: "http://127.0.0.1:9"), events=[])
    chaos = Chaos(system, tmp_path / "t" / "run1", name="t", description="tests/t.py::t", seed=3)
    fault_plan = FaultPlan("f1", "latency on load -> api:8080", "latency", "link", "load -> api:8080",
                           {"latency": 300}, 0.0, 0.0)
    adapter = NoOpFault(fault_plan)
    fault = FaultContext(chaos, fault_plan, adapter)
    chaos.faults.append(fault)

    first = chaos.load(users=2, duration="1.2s", warmup=0)
    with chaos.background_load(users=2, warmup="0.3s") as load:
        chaos.wait("1.1s")
        with fault:
            chaos.wait("1.1s")
        chaos.wait("1.1s")
    second = load.result

    assert adapter.calls == ["inject", "revert"]
    assert first.phases == ["baseline"] and second.phases == ["baseline", "fault", "recovery"]
    assert second.phase_names == {"warmup": "warmup", "baseline": "baseline-2", "fault": "fault",
                                  "recovery": "recovery"}
    assert [f["id"] for f in second.faults] == ["f1"] and first.faults == []
    assert second.phase("fault").latency.p50 == 20.0
    second.expect("error_rate", max="50%", phases=["baseline"], name="few errors")

    written = chaos.close()
    events = [e["event"] + (f":{e['phase']}" if "phase" in e else "") for e in chaos.records]
    assert events[:2] == ["run_started", "load_started"]
    assert "phase_started:baseline" in events and "phase_started:baseline-2" in events
    assert events[-2:] == ["load_stopped", "run_ended"]
    assert set(written) == {"html", "md", "junit", "json"} and chaos.report.is_file()
    summary = analysis.analyse(analysis.load_run(chaos.run_dir))
    assert [(c["hypothesis"], c["phase"]) for c in summary["checks"]] == [("few errors", "baseline-2")]
    assert summary["run"]["requests"] == first.summary["run"]["requests"] + second.summary["run"]["requests"]
