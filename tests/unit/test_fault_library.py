"""Container and resource faults, schedules (repeat, ramp, crash loop), the timeline, and the ledger: pure parts."""

import json
import os

import pytest
from support.fake_engine import FakeClient, FakeContainer
from support.fault_experiments import fault_problems, load_faults, shop_head, write_experiment

from chaos import ledger
from chaos.faults.resources import UNLIMITED_MEMORY, limit_body, restore_bodies
from chaos.faults.targets import pick
from chaos.journal import Journal, UnreadableJournal, read_journal, read_journal_lines
from chaos.plan import make_plan
from chaos.plan import steps
from chaos.spec import FAULT_TYPES

BASE = shop_head("lib", """\
    redis:
      image: chaos-shop-redis:1
      labels: {tier: data}
    inventory:
      image: chaos-shop-inventory:1
      labels: {tier: back}
    api:
      image: chaos-shop-api:v1
      labels: [tier=back]
""")


def plan_of(tmp_path, faults: str, seed: int = 7):
    return make_plan(load_faults(tmp_path, BASE, faults), run_id="r1", seed=seed)


def problems_of(tmp_path, faults: str) -> list[str]:
    return fault_problems(tmp_path, BASE, faults)


# ---- spec: the new faults and their checks --------------------------------------------------


def test_container_faults_resolve_into_plans_with_selection_and_kind_params(tmp_path):
    plan = plan_of(tmp_path, """\
        - {type: kill, service: inventory, signal: term, at: 2s, duration: 5s}
        - {type: stop, services: [api], grace: 3s, at: 8s, duration: 2s}
        - {type: pause, label: tier=back, pick: random, fraction: 50%, at: 11s, duration: 1s}
        - {type: cpu, service: api, cpus: 0.2, duration: 3s}
        - {type: memory, service: redis, memory: 64MB, duration: 3s}
    """)
    kill, stop, pause, cpu, memory = plan.faults
    assert (kill.family, kill.kind, kill.target) == ("container", "kill", "inventory")
    assert kill.params == {"select": {"services": ["inventory"], "label": None, "pick": "all", "fraction": None},
                           "signal": "SIGTERM"}
    assert stop.params["grace"] == 3.0 and stop.name == "stop on api"
    assert pause.target == "random 50% of label tier=back"
    assert pause.params["select"] == {"services": None, "label": "tier=back", "pick": "random", "fraction": 0.5}
    assert (cpu.family, cpu.params["cpus"]) == ("resources", 0.2)
    assert memory.params["memory_bytes"] == 64 * 1024 * 1024
    assert plan.phases["fault"] == 12.0


def test_every_new_type_is_known_to_did_you_mean(tmp_path):
    assert {"kill", "stop", "restart", "pause", "crash_loop", "cpu", "memory"} <= set(FAULT_TYPES)
    [problem] = problems_of(tmp_path, "- {type: crashloop, service: api, every: 2s, duration: 5s}\n")
    assert "faults[0].type" in problem and "did you mean 'crash_loop'" in problem


def test_unknown_service_names_file_line_and_suggests(tmp_path):
    [problem] = problems_of(tmp_path, "- {type: kill, service: invetory, duration: 5s}\n")
    assert "exp.yaml:20:" in problem and "faults[0].service" in problem and "did you mean 'inventory'" in problem
    [problem] = problems_of(tmp_path, "- {type: pause, services: [api, rediss], duration: 5s}\n")
    assert "faults[0].services[1]" in problem and "did you mean 'redis'" in problem


def test_label_must_match_a_service_and_be_key_value(tmp_path):
    [problem] = problems_of(tmp_path, "- {type: pause, label: tier=front, duration: 5s}\n")
    assert "faults[0].label" in problem and "no service of this experiment has the label tier=front" in problem
    [problem] = problems_of(tmp_path, "- {type: pause, label: tier, duration: 5s}\n")
    assert "faults[0].label" in problem and "is not key=value" in problem
    plan = plan_of(tmp_path, "- {type: pause, label: chaos.service=api, duration: 5s}\n")
    assert plan.faults[0].target == "label chaos.service=api"


@pytest.mark.parametrize("signal, message", [
    ("SIGTREM", "did you mean 'SIGTERM'"),
    ("SIGSTOP", "use type: pause"),
    ("tstp", "use type: pause"),
    (999, "is not a signal number"),
])
def test_bad_signals(tmp_path, signal, message):
    [problem] = problems_of(tmp_path, f"- {{type: kill, service: api, signal: {signal}, duration: 5s}}\n")
    assert "faults[0].signal" in problem and message in problem


@pytest.mark.parametrize("signal, name", [("SIGTERM", "SIGTERM"), ("hup", "SIGHUP"), (2, "SIGINT")])
def test_signals_are_normalised(tmp_path, signal, name):
    plan = plan_of(tmp_path, f"- {{type: kill, service: api, signal: {signal}, duration: 5s}}\n")
    assert plan.faults[0].params["signal"] == name


@pytest.mark.parametrize("selection, field, message", [
    ("fraction: 150%", "fraction", "outside 0..100%"),
    ("pick: random, fraction: 0%", "fraction", "must be more than 0%"),
    ("pick: one, fraction: 50%", "fraction", "applies to pick: random only"),
])
def test_fraction_checks(tmp_path, selection, field, message):
    [problem] = problems_of(tmp_path, f"- {{type: pause, label: tier=back, {selection}, duration: 5s}}\n")
    assert f"faults[0].{field}" in problem and message in problem


def test_target_selection_needs_exactly_one_way(tmp_path):
    [problem] = problems_of(tmp_path, "- {type: pause, duration: 5s}\n")
    assert problem.endswith("faults[0]: say which containers: service, services or label")
    [problem] = problems_of(tmp_path, "- {type: pause, service: api, label: tier=back, duration: 5s}\n")
    assert "faults[0].label" in problem and "give only one of" in problem


def test_a_field_of_another_type_is_refused_with_this_types_fields(tmp_path):
    [problem] = problems_of(tmp_path, "- {type: pause, service: api, signal: SIGTERM, duration: 5s}\n")
    assert "faults[0].signal: unknown field" in problem
    [problem] = problems_of(tmp_path, "- {type: timeout, link: api -> redis:6379, duration: 5s, "
                                      "ramp: {to: 1s, over: 2s}}\n")
    assert "faults[0].ramp: unknown field" in problem


def test_resource_limits_below_dockers_minimum(tmp_path):
    problems = problems_of(tmp_path, "- {type: memory, service: api, memory: 1MB, duration: 5s}\n"
                                     "- {type: cpu, service: inventory, cpus: 0.001, duration: 5s}\n")
    assert any("faults[0].memory" in p and "at least 6MB" in p for p in problems)
    assert any("faults[1].cpus" in p and "at least 0.01" in p for p in problems)


def test_overlapping_faults_on_one_container_are_refused(tmp_path):
    [problem] = problems_of(tmp_path, """\
        - {type: pause, service: api, at: 0s, duration: 5s}
        - {type: kill, label: tier=back, at: 4s, duration: 5s}
    """)
    assert "faults[1]: overlaps faults[0] (pause) on api" in problem
    [problem] = problems_of(tmp_path, """\
        - {type: cpu, service: api, cpus: 0.5, at: 0s, duration: 5s}
        - {type: cpu, service: api, cpus: 0.2, at: 10s, duration: 2s, repeat: 3s, times: 3}
        - {type: cpu, service: api, cpus: 0.2, at: 2s, duration: 2s}
    """)
    assert "faults[2]: overlaps faults[0] (cpu) on api" in problem
    # different containers, or different resources, or after one another: fine
    plan_of(tmp_path, """\
        - {type: pause, service: api, at: 0s, duration: 5s}
        - {type: kill, service: inventory, at: 0s, duration: 5s}
        - {type: kill, service: api, at: 5s, duration: 5s}
        - {type: cpu, service: api, cpus: 0.5, duration: 5s}
        - {type: memory, service: api, memory: 64MB, duration: 5s}
    """)


# ---- schedules: repeat, ramp, crash loop ----------------------------------------------------


def test_repeat_expands_into_occurrences_and_stretches_the_fault_phase(tmp_path):
    plan = plan_of(tmp_path, "- {name: blip, type: pause, service: api, at: 2s, duration: 3s, repeat: 10s, times: 3}\n")
    assert [(f.id, f.name, f.at) for f in plan.faults] == [
        ("f1.1", "blip (1/3)", 2.0), ("f1.2", "blip (2/3)", 12.0), ("f1.3", "blip (3/3)", 22.0)]
    assert plan.phases["fault"] == 25.0  # the last occurrence's end


def test_repeat_checks(tmp_path):
    [problem] = problems_of(tmp_path, "- {type: pause, service: api, duration: 5s, repeat: 4s, times: 2}\n")
    assert "faults[0].repeat" in problem and "occurrences would overlap" in problem
    [problem] = problems_of(tmp_path, "- {type: pause, service: api, duration: 5s, repeat: 6s}\n")
    assert "faults[0].repeat" in problem and "repeat and times go together" in problem
    [problem] = problems_of(tmp_path, "- {type: pause, service: api, duration: 5s, times: 3}\n")
    assert "faults[0].times" in problem
    plan_of(tmp_path, "- {type: pause, service: api, duration: 5s, repeat: 5s, times: 2}\n")  # back to back


def test_latency_ramp_is_monotone_on_fixed_steps(tmp_path):
    plan = plan_of(tmp_path, "- {type: latency, link: api -> redis:6379, latency: 100ms, duration: 70s,\n"
                             "   ramp: {to: 500ms, over: 60s, step: 5s}}\n")
    updates = plan.faults[0].updates
    assert [u["after"] for u in updates] == [5.0 * k for k in range(1, 13)]
    values = [u["set"]["latency"] for u in updates]
    assert values[0] == 133 and values[-1] == 500 and values == sorted(values)


def test_bandwidth_ramp_down_ends_at_over_even_off_step(tmp_path):
    plan = plan_of(tmp_path, "- {type: bandwidth, link: api -> redis:6379, rate: 1MB/s, duration: 20s,\n"
                             "   ramp: {to: 24KB/s, over: 10s, step: 3s}}\n")
    updates = plan.faults[0].updates
    assert [u["after"] for u in updates] == [3.0, 6.0, 9.0, 10.0]
    values = [u["set"]["rate"] for u in updates]
    assert values == sorted(values, reverse=True) and values[-1] == 24


def test_ramp_steps_never_drift(tmp_path):
    plan = plan_of(tmp_path, "- {type: latency, link: api -> redis:6379, latency: 0ms, duration: 61s,\n"
                             "   ramp: {to: 6000ms, over: 60s, step: 100ms}}\n")
    afters = [u["after"] for u in plan.faults[0].updates]
    assert len(afters) == 600 and afters[-1] == 60.0
    assert all(abs(after - round(0.1 * (k + 1), 9)) < 1e-9 for k, after in enumerate(afters))


@pytest.mark.parametrize("ramp, field, message", [
    ("{to: 100ms, over: 10s}", "ramp.to", "a ramp must move one way"),
    ("{to: 500ms, over: 30s}", "ramp.over", "outlasts the fault"),
    ("{to: 500ms, over: 10s, step: 20s}", "ramp.step", "longer than the ramp itself"),
    ("{to: 500ms, over: 10s, step: 10ms}", "ramp.step", "at least 100ms"),
    ("{to: fast, over: 10s}", "ramp.to", "not a duration"),
])
def test_ramp_checks(tmp_path, ramp, field, message):
    problems = problems_of(tmp_path, f"- {{type: latency, link: api -> redis:6379, latency: 100ms, duration: 20s, "
                                     f"ramp: {ramp}}}\n")
    assert any(f"faults[0].{field}" in p and message in p for p in problems), problems


def test_crash_loop_kills_on_a_fixed_beat_and_comes_back_after_down(tmp_path):
    plan = plan_of(tmp_path, "- {type: crash_loop, service: api, every: 3s, down: 1s, duration: 10s}\n")
    assert plan.faults[0].updates == [
        {"after": 1.0, "set": {"start": 1}},
        {"after": 3.0, "set": {"kill": 2}}, {"after": 4.0, "set": {"start": 2}},
        {"after": 6.0, "set": {"kill": 3}}, {"after": 7.0, "set": {"start": 3}},
        {"after": 9.0, "set": {"kill": 4}},
    ]
    problems = problems_of(tmp_path, "- {type: crash_loop, service: api, every: 500ms, down: 1s, duration: 10s}\n")
    assert any("faults[0].every" in p and "at least 1s" in p for p in problems)
    assert any("faults[0].down" in p and "shorter than every" in p for p in problems)


def test_steps_hold_every_occurrence_and_update_in_order(tmp_path):
    plan = plan_of(tmp_path, """\
        - {type: pause, service: api, at: 1s, duration: 2s, repeat: 4s, times: 2}
        - {type: latency, link: api -> redis:6379, latency: 100ms, duration: 6s, ramp: {to: 300ms, over: 4s, step: 2s}}
    """)
    fault_start = 5.0  # warmup 1 + baseline 4
    timeline = [(s.at - fault_start, s.action, s.subject, s.detail) for s in steps(plan)
                if s.action in ("inject", "revert", "update")]
    assert timeline == [
        (0.0, "inject", "f2", None),
        (1.0, "inject", "f1.1", None),
        (2.0, "update", "f2", {"latency": 200}),
        (3.0, "revert", "f1.1", None),
        (4.0, "update", "f2", {"latency": 300}),
        (5.0, "inject", "f1.2", None),
        (6.0, "revert", "f2", None),
        (7.0, "revert", "f1.2", None),
    ]
    ats = [s.at for s in steps(plan)]
    assert ats == sorted(ats)
    assert [w.phase for w in plan.timeline][-1] == "recovery" and plan.phases["fault"] == 7.0


def test_dry_run_shows_occurrences_and_updates(tmp_path):
    from click.testing import CliRunner

    from chaos.cli import main

    path = write_experiment(tmp_path, BASE, "- {type: latency, link: api -> redis:6379, latency: 100ms, duration: 6s,\n"
                                            "   ramp: {to: 300ms, over: 4s, step: 2s}, repeat: 10s, times: 2}\n")
    result = CliRunner().invoke(main, ["run", str(path), "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "inject       latency on api -> redis:6379 (2/2)" in result.output
    assert result.output.count("latency=300") == 2


# ---- target picking -------------------------------------------------------------------------


def test_pick_is_seeded_and_reproducible():
    names = ["a", "b", "c", "d", "e"]
    assert pick(names, "all", None, 1, "f1") == names
    one = pick(names, "one", None, 42, "f1")
    assert len(one) == 1 and one == pick(names, "one", None, 42, "f1")
    half = pick(names, "random", 0.5, 42, "f1")
    assert len(half) == 3 and half == pick(list(reversed(names)), "random", 0.5, 42, "f1")
    draws = {tuple(pick(names, "random", 0.5, seed, "f1")) for seed in range(40)}
    assert len(draws) > 3, "different seeds draw differently"
    assert pick(names, "random", 0.01, 3, "f1") and len(pick(names, "random", 1.0, 3, "f1")) == 5


# ---- resource bodies ------------------------------------------------------------------------


def test_cpu_limit_and_exact_restore():
    unlimited = {"NanoCpus": 0, "CpuQuota": 0, "CpuPeriod": 0}
    assert limit_body("cpu", unlimited, {"cpus": 0.2}) == {"CpuPeriod": 100_000, "CpuQuota": 20_000}
    assert restore_bodies("cpu", unlimited) == [{"CpuQuota": -1}]
    nano = {"NanoCpus": 1_500_000_000, "CpuQuota": 0, "CpuPeriod": 0}
    assert limit_body("cpu", nano, {"cpus": 0.2}) == {"NanoCpus": 200_000_000}
    assert restore_bodies("cpu", nano) == [{"NanoCpus": 1_500_000_000}]
    quota = {"NanoCpus": 0, "CpuQuota": 50_000, "CpuPeriod": 50_000}
    assert limit_body("cpu", quota, {"cpus": 0.2}) == {"CpuPeriod": 50_000, "CpuQuota": 10_000}
    assert restore_bodies("cpu", quota) == [{"CpuQuota": 50_000, "CpuPeriod": 50_000}]


def test_memory_limit_and_restore():
    unlimited = {"Memory": 0, "MemorySwap": 0}
    assert limit_body("memory", unlimited, {"memory_bytes": 64}) == {"Memory": 64, "MemorySwap": 64}
    lift_swap = {"MemorySwap": -1}  # after a number: runc would write memory first and the kernel refuse it
    assert restore_bodies("memory", {"Memory": 0, "MemorySwap": 0}) == [
        {"Memory": UNLIMITED_MEMORY, "MemorySwap": UNLIMITED_MEMORY}, lift_swap]
    assert restore_bodies("memory", {"Memory": 512, "MemorySwap": 1024}) == [{"Memory": 512, "MemorySwap": 1024}]
    assert restore_bodies("memory", {"Memory": 512, "MemorySwap": -1}) == [
        {"Memory": 512, "MemorySwap": UNLIMITED_MEMORY}, lift_swap]


# ---- ledger ---------------------------------------------------------------------------------


def test_register_and_unregister_a_run(tmp_path, state_home):
    path = ledger.register("r1", tmp_path / "run")
    assert path.parent == state_home
    [entry] = ledger.registered()
    assert entry["run_id"] == "r1" and entry["run_dir"] == str((tmp_path / "run").resolve())
    assert entry["pid"] == os.getpid() and ledger.owner_alive(entry)
    assert not ledger.owner_alive({**entry, "pid_started": "1"}), "a later process with the same pid"
    ledger.unregister("r1")
    ledger.unregister("r1")
    assert ledger.registered() == []


def test_unreverted_pairs_ledger_and_revert_by_fault_id():
    events = [{"event": "fault_ledgered", "fault_id": "f1"}, {"event": "fault_ledgered", "fault_id": "f2.1"},
              {"event": "fault_reverted", "fault_id": "f1"}, {"event": "fault_ledgered", "fault_id": "f2.2"}]
    assert [e["fault_id"] for e in ledger.unreverted(events)] == ["f2.1", "f2.2"]


def test_clean_replays_the_journal_once_and_journals_reason_clean(tmp_path, state_home):
    run_dir = _killed_run(tmp_path, state_home)
    container = FakeContainer("paused")

    messages = ledger.clean(FakeClient(container), "r9")

    assert container.calls == ["unpause"]
    assert messages == ["reverted f1 (pause on inventory) of run r9"]
    events = read_journal(run_dir / "journal.jsonl")
    assert events[-1]["event"] == "fault_reverted" and events[-1]["reason"] == "clean"
    assert [e["seq"] for e in events] == [1, 2, 3, 4]
    assert ledger.registered() == [], "a cleaned run is unregistered"
    assert ledger.replay(run_dir, "r9", FakeClient(container)) == ([], True)
    assert container.calls == ["unpause"]


def test_clean_never_forgets_a_run_whose_journal_has_an_unreadable_line(tmp_path, state_home):
    run_dir = _killed_run(tmp_path, state_home)
    journal = run_dir / "journal.jsonl"
    with open(journal, "a") as handle:
        handle.write('{"v": 1, "seq": 4, "ev')  # SIGKILL in the middle of a line: it may have been a ledger entry
    container = FakeContainer("paused")

    messages = ledger.clean(FakeClient(container), "r9")

    assert container.calls == ["unpause"], "what it can read is still reverted"
    assert messages[0].startswith(f"run r9: {journal}:4: unreadable journal line") and len(messages) == 2
    assert [e["run_id"] for e in ledger.registered()] == ["r9"], "kept: line 4 may be a fault still injected"
    with pytest.raises(UnreadableJournal, match=r"journal.jsonl:4: unreadable journal line"):
        read_journal(journal)
    events, unreadable = read_journal_lines(journal)
    assert unreadable == [4] and [e["seq"] for e in events] == [1, 2, 3, 4]

    lines = journal.read_text().splitlines()
    journal.write_text("\n".join(lines[:3] + lines[4:]) + "\n")  # the user looked at line 4 and removed it
    assert ledger.clean(FakeClient(container), "r9") == []
    assert ledger.registered() == [] and container.calls == ["unpause"]


def _killed_run(tmp_path, state_home):
    """A run killed with a pause injected and not reverted, registered to a process that is gone."""
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    journal = Journal(run_dir / "journal.jsonl")
    journal.append("run_started", run_id="r9")
    journal.append("fault_ledgered", fault_id="f1", kind="pause", family="container", target="inventory",
                   params={"select": {}, "containers": [{"service": "inventory", "id": "c" * 64}]})
    journal.append("fault_injected", fault_id="f1")
    journal.close()
    (state_home).mkdir(parents=True)
    (state_home / "r9.json").write_text(json.dumps({"run_id": "r9", "run_dir": str(run_dir), "pid": 999_999_999}))
    return run_dir


def test_clean_leaves_a_live_run_alone(tmp_path, state_home):
    ledger.register("live", tmp_path)
    assert "still running" in ledger.clean(FakeClient(FakeContainer("paused")), None)[0]
    assert [e["run_id"] for e in ledger.registered()] == ["live"]
