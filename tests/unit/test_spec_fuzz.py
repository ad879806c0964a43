"""Property-based fuzzing of the experiment loader: whatever the input, the result is an
experiment (that plans without error) or a SpecError whose every problem is positioned in a
real file, on one line, in plain words. Mutations start from the flagship experiment, so they
reach deep into the language instead of stopping at the first missing section."""

import copy
import json
import math
import os
import re
from pathlib import Path

import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from chaos import units
from chaos.errors import SpecError
from chaos.plan import make_plan
from chaos.spec import load_experiment
from chaos.yamlsource import load_yaml_text

ROOT = Path(__file__).resolve().parents[2]
FLAGSHIP = ROOT / "experiments" / "shop-redis-latency.yaml"
FLAGSHIP_TEXT = FLAGSHIP.read_text()
FLAGSHIP_DATA = yaml.safe_load(FLAGSHIP_TEXT)
VARIABLES = {"API_VERSION": "v1"}
JARGON = ("Input should", "valid dictionary", "instance of", "Field required", "Extra inputs", "Value error",
          "[key]", "function-before", "union[", "NoneType")
# CHAOS_FUZZ_EXAMPLES=5000 pytest tests/unit/test_spec_fuzz.py digs deeper than the default run.
FUZZ = settings(max_examples=int(os.environ.get("CHAOS_FUZZ_EXAMPLES", "150")), deadline=None,
                suppress_health_check=[HealthCheck.too_slow])

# Characters that mean something to YAML, to the variable syntax, or to nobody.
NASTY = st.sampled_from(list(":-[]{},#&*!|>'\"%@`?\t\n\r\x00\x07\x1b\ufeff\u2028$") + ["${", "${X", "$$", "<<: ", "---",
                                                                                    "\xe9", "1e400", "-5", ".nan"])
GARBAGE = st.lists(NASTY | st.text(max_size=6), min_size=1, max_size=6).map("".join)
SCALARS = (st.none() | st.booleans() | st.integers(min_value=-(10**40), max_value=10**40)
           | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=12) | NASTY
           | st.sampled_from(["250ms", "-1s", "5%", "150%", "api -> redis:6379", "api:8080", "latency", "down",
                              "latency.p99", "1e400", "${API_VERSION}", "${NOPE}", "99999999999999999999h"]))
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=3)
                      | st.dictionaries(st.text(max_size=8), inner, max_size=3), max_leaves=6)


def assert_well_reported(exc: SpecError, text: str) -> None:
    assert exc.problems, "a SpecError names at least one problem"
    # YAML also breaks lines at a lone CR (and NEL, LS, PS), as do most editors: count lines as it does.
    lines = len(re.split("\r\n|[\r\n\x85\u2028\u2029]", text)) + 1
    for problem in exc.problems:
        shown = str(problem)
        assert "\n" not in shown and "\r" not in shown, shown
        assert problem.line >= 1 and problem.column >= 1, shown
        assert problem.message.strip(), shown
        assert not any(word in shown for word in JARGON), shown
        if problem.file == str(FLAGSHIP):
            assert problem.line <= lines, shown


def load_or_problems(text: str):
    """Load ``text`` as if it were the flagship file (relative paths resolve from experiments/)."""
    try:
        loaded = load_experiment(FLAGSHIP, VARIABLES, text=text)
    except SpecError as exc:
        assert_well_reported(exc, text)
        return None
    plan = make_plan(loaded, run_id="fuzz", seed=1)  # whatever validates can be planned
    json.dumps(plan.to_json())
    assert all(math.isfinite(w.end) for w in plan.timeline)
    return loaded


def test_the_flagship_itself_loads():
    assert load_or_problems(FLAGSHIP_TEXT) is not None


# ---- text mutations ----------------------------------------------------------------------


@st.composite
def mutated_text(draw):
    lines = FLAGSHIP_TEXT.splitlines(keepends=True)
    for _ in range(draw(st.integers(1, 3))):
        if not lines:
            break
        i = draw(st.integers(0, len(lines) - 1))
        operation = draw(st.sampled_from(["drop", "duplicate", "swap", "splice", "indent", "dedent", "truncate",
                                          "replace_value"]))
        if operation == "drop":
            del lines[i]
        elif operation == "duplicate":
            lines.insert(i, lines[i])
        elif operation == "swap":
            j = draw(st.integers(0, len(lines) - 1))
            lines[i], lines[j] = lines[j], lines[i]
        elif operation == "splice":
            at = draw(st.integers(0, len(lines[i])))
            lines[i] = lines[i][:at] + draw(GARBAGE) + lines[i][at:]
        elif operation == "indent":
            lines[i] = " " * draw(st.integers(1, 4)) + lines[i]
        elif operation == "dedent":
            lines[i] = lines[i].lstrip(" ")
        elif operation == "truncate":
            lines = lines[:i] + [lines[i][: draw(st.integers(0, len(lines[i])))]]
        elif ":" in lines[i]:
            key = lines[i].split(":", 1)[0]
            lines[i] = f"{key}: {draw(GARBAGE)}\n"
    return "".join(lines)


@FUZZ
@given(mutated_text())
def test_mutated_flagship_text_loads_or_reports_positioned_problems(text):
    load_or_problems(text)


@FUZZ
@given(st.binary(max_size=200), st.integers(0, len(FLAGSHIP_TEXT)))
def test_bytes_spliced_into_the_flagship_are_problems_not_crashes(tmp_path_factory, garbage, at):
    path = tmp_path_factory.mktemp("bytes") / "exp.yaml"
    raw = FLAGSHIP_TEXT.encode()
    path.write_bytes(raw[:at] + garbage + raw[at:])
    try:
        load_experiment(path, VARIABLES)
    except SpecError as exc:
        assert exc.problems and all("\n" not in str(p) and p.line >= 1 for p in exc.problems)


# ---- data mutations ----------------------------------------------------------------------


def paths_of(data, prefix=()):
    yield prefix
    if isinstance(data, dict):
        for key, value in data.items():
            yield from paths_of(value, prefix + (key,))
    elif isinstance(data, list):
        for i, value in enumerate(data):
            yield from paths_of(value, prefix + (i,))


def parent_and_key(data, path):
    node = data
    for part in path[:-1]:
        node = node[part]
    return node, path[-1]


@st.composite
def mutated_data(draw):
    data = copy.deepcopy(FLAGSHIP_DATA)
    for _ in range(draw(st.integers(1, 3))):
        paths = [p for p in paths_of(data) if p]
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent, key = parent_and_key(data, path)
        operation = draw(st.sampled_from(["drop", "rename", "retype", "retype", "wrap"]))
        if operation == "drop":
            del parent[key]
        elif operation == "rename" and isinstance(parent, dict):
            new = draw(st.text(min_size=1, max_size=10) | st.sampled_from(
                [str(key)[:-1], str(key) + "s", str(key).replace("_", "-"), str(key).upper(), "type", "at"]))
            parent[new] = parent.pop(key)
        elif operation == "wrap":
            parent[key] = draw(st.sampled_from([[parent[key]], {"value": parent[key]}]))
        else:
            parent[key] = draw(VALUES)
    return data


@FUZZ
@given(mutated_data())
def test_mutated_flagship_data_loads_or_reports_positioned_problems(data):
    try:
        text = yaml.safe_dump(data, allow_unicode=True, sort_keys=False)
    except yaml.YAMLError:
        assume(False)
    load_or_problems(text)


# ---- whole documents and units ---------------------------------------------------------------


@FUZZ
@given(st.text(max_size=400))
def test_any_text_loads_or_reports_positioned_problems(text):
    try:
        load_yaml_text(text, "fuzz.yaml", {})
    except SpecError as exc:
        assert exc.problems and all(str(p).startswith("fuzz.yaml:") and "\n" not in str(p) for p in exc.problems)


@FUZZ
@given(st.integers(1, 120), st.sampled_from(["[", "{a: ", "- "]))
def test_deep_nesting_is_one_problem(depth, opener):
    if opener == "- ":
        text = "".join("  " * i + "- \n" for i in range(depth)) + "  " * depth + "x\n"
    else:
        closer = "]" if opener == "[" else "}"
        text = "x: " + opener * depth + "1" + closer * depth + "\n"
    try:
        load_yaml_text(text, "deep.yaml", {})
    except SpecError as exc:
        assert len(exc.problems) == 1 and exc.problems[0].line >= 1


def test_a_file_over_the_size_limit_is_refused_without_reading_it_all(tmp_path):
    path = tmp_path / "big.yaml"
    path.write_text("name: x\ndescription: " + "a" * 1_200_000 + "\n")
    try:
        load_experiment(path, {})
    except SpecError as exc:
        [problem] = exc.problems
        assert "larger than 1 MB" in problem.message and (problem.line, problem.column) == (1, 1)
    else:
        raise AssertionError("a 1.2 MB experiment file was accepted")


PARSERS = [units.parse_duration, units.parse_milliseconds, units.parse_fraction, units.parse_rate_kbps,
           units.parse_size_bytes]


@FUZZ
@given(st.sampled_from(PARSERS), SCALARS | st.lists(SCALARS, max_size=2))
def test_unit_parsers_return_finite_non_negative_numbers_or_raise_value_error(parse, value):
    try:
        number = parse(value)
    except ValueError as exc:
        assert "\n" not in str(exc)
        return
    assert math.isfinite(number) and number >= 0
