"""The fault pages (docs/faults/) show `chaos run --dry-run` excerpts under their examples: each excerpt
must be what the command prints for the YAML example above it, line for line and in order. (That
every example validates is tests/unit/test_reference_docs.py's job.)"""

import re
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from support.doc_fragments import as_experiment

from chaos.cli import main

ROOT = Path(__file__).resolve().parents[2]
PAGES = sorted((ROOT / "docs" / "faults").glob("*.md"))
BLOCK = re.compile(r"^```(yaml|console)\n(.*?)^```", re.S | re.M)


def excerpts():
    """(page:line, the YAML example, the console excerpt under it) for every console block."""
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        example = None
        for match in BLOCK.finditer(text):
            if match.group(1) == "yaml":
                example = match.group(2)
            elif example is not None:
                line = text.count("\n", 0, match.start()) + 1
                yield pytest.param(example, match.group(2), id=f"{page.name}:{line}")


def shown_lines(excerpt: str) -> list[str]:
    """The output lines an excerpt shows: not the command, not an elision, not a trailing comment."""
    return [line.rstrip() for line in excerpt.splitlines()
            if line.strip() and not line.startswith("$") and line.strip() != "..."]


def test_every_fault_page_is_checked():
    assert {p.name for p in PAGES} >= {"README.md", "links.md", "partitions.md", "clock.md", "containers.md",
                                       "resources.md"}
    assert len(list(excerpts())) >= 7


@pytest.mark.parametrize("example, excerpt", list(excerpts()))
def test_dry_run_excerpt_is_what_the_command_prints(example, excerpt, tmp_path, monkeypatch):
    monkeypatch.delenv("API_VERSION", raising=False)
    data = yaml.safe_load(example)
    text = example if isinstance(data, dict) and "name" in data and "targets" in data else \
        yaml.safe_dump(as_experiment(data), sort_keys=False)
    (tmp_path / "targets").symlink_to(ROOT / "targets")  # examples are written as if they lived in experiments/
    (tmp_path / "experiments").mkdir()
    path = tmp_path / "experiments" / "doc-example.yaml"
    path.write_text(text, encoding="utf-8")
    result = CliRunner().invoke(main, ["run", str(path), "--dry-run"])
    assert result.exit_code == 0, result.output
    printed = [line.rstrip() for line in result.stdout.splitlines()]
    position = 0
    for line in shown_lines(excerpt):
        assert line in printed[position:], f"the page shows {line!r}; the dry run prints:\n{result.stdout}"
        position = printed.index(line, position) + 1
