from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support.valid_experiment import VALID, write

from chaos.errors import SpecError
from chaos.plan import make_plan
from chaos.spec import MAX_TIMELINE_STEPS, load_experiment
from chaos.units import parse_duration, parse_fraction, parse_milliseconds, parse_rate_kbps
from chaos.yamlsource import load_yaml_text

def problems_of(tmp_path, text, variables=None) -> list[str]:
    with pytest.raises(SpecError) as info:
        load_experiment(write(tmp_path, text), variables or {})
    return [str(p) for p in info.value.problems]


def test_valid_experiment_resolves_into_a_timeline(tmp_path):
    loaded = load_experiment(write(tmp_path, VALID), {"API_VERSION": "v2"})
    plan = make_plan(loaded, run_id="r1", seed=7)
    assert [t.image for t in plan.targets] == ["chaos-shop-redis:1", "chaos-shop-api:v2"]
    assert [(w.phase, w.start, w.end) for w in plan.timeline] == [
        ("warmup", 0, 1), ("baseline", 1, 11), ("fault", 11, 17), ("recovery", 17, 22)]
    assert plan.faults[0].params == {"stream": "downstream", "toxicity": 1.0, "latency": 300, "jitter": 0}
    assert plan.to_json()["faults"][0]["target"] == "api -> redis:6379"
    assert [link.name for link in plan.links] == ["api -> redis:6379", "load -> api:8080"]
    assert plan.steady_state[0].max == 500.0 and plan.steady_state[1].max == 0.01


def test_unknown_key_names_file_line_column_and_suggests(tmp_path):
    text = VALID.replace("  users: 5", "  userz: 5")
    [problem] = problems_of(tmp_path, text)
    assert problem.endswith("exp.yaml:16:3: load.userz: unknown field (did you mean 'users'?)")


def test_misspelled_fault_type_is_suggested(tmp_path):
    [problem] = problems_of(tmp_path, VALID.replace("type: latency", "type: latancy"))
    assert ":19:" in problem and "faults[0].type" in problem and "did you mean 'latency'" in problem


def test_all_problems_are_reported_in_one_pass(tmp_path):
    text = VALID.replace("latency: 300ms", "latency: fast").replace("max: 1%", "max: 150%")
    problems = problems_of(tmp_path, text)
    assert any("faults[0].latency" in p and "not a duration" in p for p in problems)
    assert len(problems) >= 1


def test_cross_checks_name_services_and_links(tmp_path):
    text = VALID.replace("link: api -> redis:6379", "link: api -> redsi:6379")
    [problem] = problems_of(tmp_path, text)
    assert "faults[0].link" in problem and "not routed through Toxiproxy" in problem
    text = VALID.replace("  - api -> redis:6379\nload", "  - api -> redsi:6379\nload")
    problems = problems_of(tmp_path, text)
    assert any("links[0]" in p and "did you mean 'redis'" in p for p in problems)


def test_missing_variable_is_a_problem_at_its_line(tmp_path):
    [problem] = problems_of(tmp_path, VALID.replace("${API_VERSION:-v1}", "${API_VERSION}"))
    assert ":7:" in problem and "variable API_VERSION is not set" in problem


def test_secret_values_never_reach_the_plan_json(tmp_path):
    text = VALID.replace("name: demo", "name: demo\nsecrets: [TOKEN]").replace(
        "      ports:", "      environment: {TOKEN: '${TOKEN}', MODE: '${MODE:-x}'}\n      ports:")
    loaded = load_experiment(write(tmp_path, text), {"TOKEN": "hunter2-secret"})
    plan = make_plan(loaded, run_id="r1", seed=1)
    assert "hunter2-secret" not in str(plan.to_json())
    assert loaded.secret_values == ["hunter2-secret"]


def test_missing_required_section_points_at_parent(tmp_path):
    problems = problems_of(tmp_path, VALID.replace("  target: api:8080\n", ""))
    assert any(p.endswith("load.target: is required") for p in problems)


def test_invalid_yaml_names_the_line(tmp_path):
    [problem] = problems_of(tmp_path, "name: x\ntargets: [\n")
    assert "exp.yaml:3:" in problem and "invalid YAML" in problem


def test_duplicate_keys_are_refused(tmp_path):
    problems = problems_of(tmp_path, VALID + "name: again\n")
    assert any("duplicate key" in p for p in problems)


@pytest.mark.parametrize("text, seconds", [("250ms", 0.25), ("30s", 30), ("2m", 120), ("1h", 3600), (5, 5)])
def test_durations(text, seconds):
    assert parse_duration(text) == seconds


def test_units():
    assert parse_milliseconds(300) == 300 and parse_milliseconds("1s") == 1000
    assert parse_fraction("5%") == 0.05 and parse_fraction(0.2) == 0.2
    assert parse_rate_kbps("512KB/s") == 512 and parse_rate_kbps("2MB/s") == 2048
    for bad in ("fast", "-1s", True, "5 parsecs"):
        with pytest.raises(ValueError):
            parse_duration(bad)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_fuzz_yaml_loader_raises_only_spec_errors(text):
    try:
        load_yaml_text(text, "fuzz.yaml", {})
    except SpecError as exc:
        assert all(str(p).startswith("fuzz.yaml:") for p in exc.problems)


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(st.sampled_from(["name", "targets", "load", "faults", "phases", "links", "steady_state",
                                        "abort", "report", "bogus"]),
                       st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=10),
                                    lambda children: st.lists(children, max_size=3)
                                    | st.dictionaries(st.text(max_size=8), children, max_size=3), max_leaves=8),
                       max_size=9))
def test_fuzz_experiment_structure_raises_only_spec_errors(tmp_path_factory, data):
    import yaml

    path = tmp_path_factory.mktemp("fuzz") / "exp.yaml"
    path.write_text(yaml.safe_dump(data))
    try:
        load_experiment(path, {})
    except SpecError as exc:
        assert exc.problems and all(":" in str(p) for p in exc.problems)


def test_a_timeline_too_long_to_build_is_refused_before_one_step_is_built(monkeypatch):
    from chaos import spec

    corpus = Path(__file__).parent / "invalid" / "ramp-too-many-steps.yaml"
    monkeypatch.setattr(spec.Latency, "updates", lambda self: pytest.fail("validation built the ramp's steps"))
    with pytest.raises(SpecError) as caught:
        load_experiment(corpus)
    [problem] = caught.value.problems
    assert str(problem).startswith(f"{corpus}:24:7: faults[0].ramp.step: the timeline would have 864,003,000 steps")



def test_the_step_count_bound_is_an_upper_bound_of_the_steps_a_plan_builds(tmp_path):
    from chaos.plan import steps

    ramp = "    ramp: {to: 900ms, over: 50m, step: 0.5s}\n    duration: 50m\n    repeat: 1h\n    times: 3\n"
    text = VALID.replace("    at: 2s\n    duration: 4s\n", ramp)
    plan = make_plan(load_experiment(write(tmp_path, text), {}), run_id="r1", seed=7)
    built = len(steps(plan)) - 2 * len(plan.timeline)  # the phases' own steps are not the faults'
    exp = load_experiment(write(tmp_path, text), {}).experiment
    assert 1_800 <= built <= exp.faults[0].step_count() <= MAX_TIMELINE_STEPS  # equal latencies are one update


def test_run_ids_started_in_the_same_second_carry_32_random_bits():
    from chaos.plan import new_run_id

    ids = [new_run_id(now=1_700_000_000.0) for _ in range(500)]
    assert len(set(ids)) == len(ids)
    assert {i.split("-")[0] for i in ids} == {"20231114T221320"}
    assert all(len(i.split("-")[1]) == 8 for i in ids), "16 random bits met again within a few hundred runs"


def test_load_timeout_defaults_to_10s_and_reaches_the_plan_in_seconds(tmp_path):
    plan = make_plan(load_experiment(write(tmp_path, VALID), {}), run_id="r1", seed=1)
    assert plan.to_json()["load"]["timeout"] == 10.0
    text = VALID.replace("  users: 5\n", "  users: 5\n  timeout: 2500ms\n")
    plan = make_plan(load_experiment(write(tmp_path, text), {}), run_id="r1", seed=1)
    assert plan.to_json()["load"]["timeout"] == 2.5


@pytest.mark.parametrize("value, message", [("0s", "more than 0"), ("soon", "not a duration")])
def test_a_load_timeout_that_cannot_cut_a_request_is_refused_at_its_line(tmp_path, value, message):
    [problem] = problems_of(tmp_path, VALID.replace("  users: 5\n", f"  users: 5\n  timeout: {value}\n"))
    assert ":17:" in problem and "load.timeout" in problem and message in problem, problem
