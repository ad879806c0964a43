"""The documentation of the experiment format cannot drift from the code: the reference page's
generated parts are up to date, every key of every model is on it, every YAML experiment (or
fragment of one) in README.md and docs/**/*.md validates, every file in experiments/ validates, and
the dry-run output shown in the README is what `chaos run --dry-run` prints."""

import difflib
import re
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from support.doc_fragments import as_experiment

from chaos import reference, schema, spec
from chaos.cli import main
from chaos.errors import SpecError
from chaos.spec import load_experiment

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]  # docs/faults/ too
BLOCK = re.compile(r"^```yaml\n(.*?)^```", re.S | re.M)
# Doc examples are written as if they lived in experiments/ (docs/ is its sibling).
AS_IF_AT = ROOT / "experiments" / "doc-example.yaml"
EXPERIMENT_KEYS = [info.alias or name for name, info in spec.Experiment.model_fields.items()]
NO_VARIABLES = {"API_VERSION": None}


def test_reference_page_is_up_to_date_with_the_models():
    text = reference.PAGE.read_text(encoding="utf-8")
    fresh = reference.update(text)
    if fresh != text:
        diff = "".join(difflib.unified_diff(text.splitlines(True), fresh.splitlines(True), "page", "models", n=1))
        pytest.fail(f"docs/experiment-reference.md is out of date: run `python -m chaos.reference --write`\n{diff}")


def test_every_model_and_every_key_is_on_the_reference_page():
    text = reference.PAGE.read_text(encoding="utf-8")
    missing = [m.__name__ for m in schema.reachable_models() if m not in reference.covered_models(text)]
    assert not missing, f"add a '<!-- generated: fields NAME -->' region for {missing}"
    for model in schema.reachable_models():
        for name, info in model.model_fields.items():
            if name != schema.discriminator_field(model):  # a kind's type is its heading
                assert f"| `{info.alias or name}` |" in text, f"{model.__name__}.{name} is not on the page"
    for tag in [t for shape in schema.tagged_unions().values() for t in shape.tags]:
        assert f"#### `type: {tag}`" in text, tag


def yaml_blocks():
    for path in DOCS:
        text = path.read_text(encoding="utf-8")
        for match in BLOCK.finditer(text):
            line = text.count("\n", 0, match.start()) + 2
            yield pytest.param(match.group(1), id=f"{path.relative_to(ROOT)}:{line}")


def experiment_like(data) -> bool:
    """An experiment or a fragment of one, not another YAML format (a CI workflow, a game-day plan)."""
    if isinstance(data, list):
        return all(isinstance(item, dict) and "type" in item for item in data)
    if not isinstance(data, dict) or not data:
        return False
    known = [k for k in data if k in EXPERIMENT_KEYS or difflib.get_close_matches(str(k), EXPERIMENT_KEYS, 1, 0.8)]
    return len(known) * 2 > len(data)


@pytest.mark.parametrize("block", list(yaml_blocks()))
def test_every_yaml_experiment_in_the_docs_validates(block, monkeypatch):
    for name in NO_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    data = yaml.safe_load(block)
    if not experiment_like(data):
        pytest.skip("not an experiment (another YAML format)")
    text = block if isinstance(data, dict) and "name" in data and "targets" in data else \
        yaml.safe_dump(as_experiment(data), sort_keys=False)
    try:
        load_experiment(AS_IF_AT, {}, text=text)
    except SpecError as exc:
        pytest.fail("this documented example does not validate:\n" + "\n".join(map(str, exc.problems))
                    + f"\n--- as validated ---\n{text}")


def test_the_docs_hold_experiment_examples_and_the_page_one_per_kind():
    blocks = [yaml.safe_load(p.values[0]) for p in yaml_blocks()]
    assert sum(experiment_like(b) for b in blocks) >= 20
    for shape in schema.tagged_unions().values():
        for model in set(shape.tags.values()):
            assert reference.example_for(model, "faults")  # every kind has one (given or generated)


@pytest.mark.parametrize("path", sorted((ROOT / "experiments").glob("*.y*ml")), ids=lambda p: p.name)
def test_every_experiment_file_validates(path, monkeypatch):
    monkeypatch.delenv("API_VERSION", raising=False)
    result = CliRunner().invoke(main, ["validate", str(path)])
    assert result.exit_code == 0, result.output


def test_the_dry_run_shown_in_the_readme_is_what_the_command_prints(monkeypatch):
    monkeypatch.delenv("API_VERSION", raising=False)
    monkeypatch.chdir(ROOT)
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    command = "chaos run experiments/shop-redis-latency.yaml --dry-run"
    match = re.search(rf"```console\n\$ {re.escape(command)}\n(.*?)```", readme, re.S)
    assert match, f"the README shows `{command}` and its output in a console block"
    result = CliRunner().invoke(main, command.split()[1:])
    assert result.exit_code == 0, result.output
    assert match.group(1) == result.stdout, "update the dry-run block in README.md to what the command prints"
