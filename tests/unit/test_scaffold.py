"""`chaos init` writes a starter experiment that validates as written, for the shop and for any
compose file the harness can read; and `chaos schema` describes the same format."""

import json
import re
from pathlib import Path

import jsonschema
import yaml
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chaos.cli import main
from chaos.schema import experiment_schema, missing_descriptions, reachable_models
from chaos.spec import load_experiment

ROOT = Path(__file__).resolve().parents[2]
SHOP = ROOT / "targets" / "shop" / "compose.yaml"


def init(tmp_path, compose, *extra, name="experiment.yaml"):
    output = tmp_path / name
    result = CliRunner().invoke(main, ["init", str(compose), "-o", str(output), *extra])
    return result, output


def test_init_for_the_shop_writes_links_edge_fault_hypotheses_and_abort_rules(tmp_path):
    result, output = init(tmp_path, SHOP)
    assert result.exit_code == 0, result.output
    validated = CliRunner().invoke(main, ["validate", str(output)], env={"API_VERSION": None})
    assert validated.exit_code == 0, validated.output
    experiment = load_experiment(output, {}).experiment
    assert set(experiment.links) == {"inventory -> redis:6379", "api -> redis:6379", "api -> inventory:8081"}
    assert experiment.load.target == "api:8080"  # the service nothing depends on, with a published port
    [fault] = experiment.faults
    assert fault.type == "latency" and fault.link == "api -> redis:6379" and fault.latency == 300
    assert [h.metric for h in experiment.steady_state] == ["latency.p99", "error_rate"]
    assert [(r.metric, r.threshold(), r.for_) for r in experiment.abort] == [("error_rate", 0.05, 5.0),
                                                                            ("latency.p99", 1000.0, 5.0)]
    text = output.read_text()
    assert text.count("\n#") >= 4, "the starter explains itself in comments"
    assert "port guessed from the image name" in text  # redis publishes no port: 6379 from its image
    assert load_experiment(output, {}).experiment.load.locustfile.endswith("targets/shop/locustfile.py")


def test_init_suggests_the_open_model_and_says_what_the_closed_one_hides(tmp_path):
    _, output = init(tmp_path, SHOP)
    load = load_experiment(output, {}).experiment.load
    assert (load.model, load.rate, load.max_in_flight, load.timeout) == ("open", 20.0, 400, 10.0)
    comment = next(line for line in output.read_text().splitlines() if "model: closed" in line)
    assert comment.lstrip().startswith("#") and "hiding stalls" in comment


def test_init_refuses_to_overwrite_and_prints_to_stdout_on_dash(tmp_path):
    (tmp_path / "experiment.yaml").write_text("keep me\n")
    result, output = init(tmp_path, SHOP)
    assert result.exit_code == 2 and "--force" in result.output and output.read_text() == "keep me\n"
    result, _ = init(tmp_path, SHOP, "--force")
    assert result.exit_code == 0 and output.read_text().startswith("# A starter experiment")
    printed = CliRunner().invoke(main, ["init", str(SHOP), "-o", "-"])
    assert printed.exit_code == 0 and printed.stdout.startswith("# A starter experiment")


def test_init_on_a_broken_compose_file_reports_positioned_problems(tmp_path):
    compose = tmp_path / "compose.yaml"
    compose.write_text("services:\n  api:\n    image: x\n    depends_on: [db]\n")
    result, output = init(tmp_path, compose)
    assert result.exit_code == 2 and not output.exists()
    assert re.search(r"compose.yaml:4:18: services.api.depends_on\[0\]: dependency .db.", result.stderr), result.stderr
    result, _ = init(tmp_path, tmp_path / "missing.yaml")
    assert result.exit_code == 2 and "compose file not found" in result.stderr


IMAGES = st.sampled_from(["redis:7", "postgres:16", "mycorp/api:2", "worker", "nginx:1", "library/mongo",
                          "custom-thing:latest"])


@st.composite
def compose_files(draw):
    names = draw(st.lists(st.from_regex(r"[a-z][a-z0-9_-]{0,10}", fullmatch=True), min_size=1, max_size=6,
                          unique=True).filter(lambda ns: "load" not in ns))
    services = {}
    for i, name in enumerate(names):
        service = {"image": draw(IMAGES)}
        ports = draw(st.lists(st.integers(1, 65535), max_size=2))
        if ports:
            service["ports"] = [draw(st.sampled_from([f"127.0.0.1::{p}", str(p), p, f"{p}/tcp"])) for p in ports]
        dependencies = draw(st.lists(st.sampled_from(names[:i]), unique=True)) if i else []
        if dependencies:
            service["depends_on"] = dependencies if draw(st.booleans()) else {
                d: {"condition": "service_healthy"} for d in dependencies}
        if draw(st.booleans()):
            service["healthcheck"] = {"test": ["CMD", "true"]}
        services[name] = service
    compose = {"services": services}
    if draw(st.booleans()):
        # Compose itself refuses other project names (and names the file and line)
        compose["name"] = draw(st.from_regex(r"[a-z][a-z0-9_-]{0,19}", fullmatch=True))  # 0o0 is a number to Go
    return compose


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(compose_files())
def test_the_starter_validates_as_written_for_any_readable_compose_file(tmp_path, compose):
    folder = tmp_path / "case"
    folder.mkdir(exist_ok=True)
    (folder / "compose.yaml").write_text(yaml.safe_dump(compose))
    result, output = init(folder, folder / "compose.yaml", "--force", name="sub/exp.yaml")
    assert result.exit_code == 0, result.output
    loaded = load_experiment(output, {})
    services = compose["services"]
    edges = [(s, d) for s, v in services.items() for d in (v.get("depends_on") or [])]
    assert len(loaded.experiment.links) <= len(edges)
    assert loaded.experiment.faults and loaded.experiment.steady_state


# ---- chaos schema --------------------------------------------------------------------------


def schema_from_cli() -> dict:
    result = CliRunner().invoke(main, ["schema"])
    assert result.exit_code == 0
    return json.loads(result.stdout)


def test_schema_is_valid_json_schema_and_accepts_every_shipped_experiment():
    schema = schema_from_cli()
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    for path in sorted((ROOT / "experiments").glob("*.y*ml")):
        errors = [f"{list(e.absolute_path)}: {e.message[:120]}" for e in validator.iter_errors(yaml.safe_load(
            path.read_text()))]
        assert not errors, f"{path.name}: {errors}"


def test_schema_describes_every_field_and_gives_unit_patterns():
    assert missing_descriptions() == [], "add a Field(description=...) or an entry in chaos.schema.DESCRIPTIONS"
    schema = experiment_schema()
    definitions = schema["$defs"]
    for model in reachable_models():
        node = schema if model.__name__ == "Experiment" else definitions[model.__name__]
        assert node.get("description"), model.__name__
        for name, prop in node.get("properties", {}).items():
            assert prop.get("description"), f"{model.__name__}.{name}"
    at = definitions["Latency"]["properties"]["at"]
    assert at["examples"] and any("pattern" in member for member in at["anyOf"])


DURATION_CASES = ["250ms", "30s", "2m", "1h", "1.5s", " 5 s ", "5 sec", "-1s", "fast", "5", "10us", "1e3s"]


def test_schema_unit_patterns_agree_with_the_parsers():
    from chaos import units
    from chaos.schema import UNIT_KINDS

    cases = {"duration": (units.parse_duration, DURATION_CASES),
             "fraction": (units.parse_fraction, ["5%", "0.05", "1", "100%", "150%", "1.5", "abc", "5 %"]),
             "rate": (units.parse_rate_kbps, ["512KB/s", "2MB/s", "1gb/s", "512kbps", "5", "1.5KB/s"]),
             "size": (units.parse_size_bytes, ["512", "64KB", "1MB", "1 mb", "one", "-5", "2.5KB"])}
    for kind, (parse, samples) in cases.items():
        pattern = next(m["pattern"] for m in UNIT_KINDS[kind]["anyOf"] if "pattern" in m)
        for sample in samples:
            try:
                parse(sample)
                accepted = True
            except ValueError:
                accepted = False
            if kind == "fraction" and accepted is False and re.search(pattern, sample):
                continue  # the pattern cannot know 150% is out of range; the range check says so
            assert bool(re.search(pattern, sample)) == accepted, (kind, sample)


def test_schema_lets_variables_stand_for_any_value():
    validator = jsonschema.Draft202012Validator(experiment_schema())
    data = yaml.safe_load((ROOT / "experiments" / "shop-redis-latency.yaml").read_text())
    data["load"]["users"] = "${USERS}"
    data["faults"][0]["duration"] = "${FAULT_FOR:-20s}"
    assert not list(validator.iter_errors(data))
    data["load"]["users"] = "many"
    assert list(validator.iter_errors(data))
