"""What the YAML loader accepts, and how: merges, keys as text, dates as text, the variable forms."""

import pytest

from chaos.errors import SpecError
from chaos.yamlsource import VariableError, load_yaml_text, substitute


def test_merge_keys_fill_in_what_the_mapping_does_not_say_itself():
    source = load_yaml_text("x-base: &base {image: a, ports: [1]}\nsvc:\n  <<: *base\n  image: b\n", "f", {})
    assert source.data["svc"] == {"image": "b", "ports": [1]}
    assert source.position(("svc", "image")) == (4, 3)


def test_keys_are_the_text_written_and_dates_stay_text():
    source = load_yaml_text("8080: a\nyes: b\n~: c\nwhen: 2024-01-02\n", "f", {})
    assert source.data == {"8080": "a", "yes": "b", "~": "c", "when": "2024-01-02"}


def test_a_byte_order_mark_is_fine(tmp_path):
    from chaos.yamlsource import load_yaml

    path = tmp_path / "bom.yaml"
    path.write_bytes("\ufeffname: x\n".encode())
    assert load_yaml(path, {}).data == {"name": "x"}


@pytest.mark.parametrize("text, variables, expected", [
    ("${A}", {"A": "1"}, "1"),
    ("${A:-d}", {}, "d"),
    ("${A:-d}", {"A": ""}, "d"),
    ("${A-d}", {"A": ""}, ""),
    ("${A-d}", {}, "d"),
    ("${A:?need A}", {"A": "x"}, "x"),
    ("cost $$5 and $5", {}, "cost $5 and $5"),
    ("v${A}-${B:-2}", {"A": "1"}, "v1-2"),
])
def test_variable_forms(text, variables, expected):
    assert substitute(text, variables) == expected


@pytest.mark.parametrize("text, message", [
    ("${A}", "variable A is not set"),
    ("${A:?set A to the token}", "variable A is not set: set A to the token"),
    ("${A", "is not closed"),
    ("${1A}", "is not a variable"),
    ("${A:-${B}}", "a default cannot contain another variable"),
    ("${A:+x}", "is not a variable"),
])
def test_variable_mistakes_say_what_is_wrong(text, message):
    with pytest.raises(VariableError, match=message.replace("(", r"\(").replace("$", r"\$")):
        substitute(text, {})


def test_every_problem_of_a_file_comes_at_once():
    with pytest.raises(SpecError) as info:
        load_yaml_text("a: ${X}\nb: ${Y}\na: 1\n", "f", {})
    assert [(p.line, p.message.split(" (")[0]) for p in info.value.problems] == [
        (1, "variable X is not set"), (2, "variable Y is not set"), (3, "duplicate key")]
