"""Every file of the invalid corpus is refused by `chaos validate` the way a person can act on:
exit code 2, one line per problem as FILE:LINE:COLUMN: field.path: message, the expected line
and field, plain words, and never a traceback (see tests/unit/invalid/README.md)."""

import os
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from click.testing import CliRunner

from chaos.cli import main

CORPUS = Path(__file__).parent / "invalid"
FILES = sorted(CORPUS.glob("*.yaml"))
EXPECT = re.compile(rb"^# expect: (.*)$")
PROBLEM = re.compile(r"^(?P<file>.+?):(?P<line>\d+):(?P<column>\d+): (?P<rest>.+)$")
# Words of the validation library and of Python that mean nothing to someone writing an experiment.
JARGON = ("Input should", "valid dictionary", "instance of", "Field required", "Extra inputs", "Value error",
          "pydantic", "[key]", "union[", "function-before", "Traceback", "Error:", "NoneType", "<class")
CORPUS_VARIABLES = {name: None for name in os.environ if name.startswith("CHAOS_CORPUS_")}


def expectations(path: Path) -> list[str]:
    found = []
    for raw in path.read_bytes().splitlines():
        match = EXPECT.match(raw)
        if match:
            found.append(match.group(1).decode())
        elif not raw.startswith(b"#"):
            break
    for line in (CORPUS / "sidecar-expectations.txt").read_text().splitlines():
        if line.startswith(path.name + " "):
            found.append(line[len(path.name) + 1:])
    return found


def relative(file: str) -> str:
    """A problem's file as the corpus records it: the corpus file itself, or support/... for others."""
    path = Path(file)
    if not path.is_absolute():
        path = (CORPUS / path)
    return str(path.resolve().relative_to(CORPUS.resolve()))


def reported(output: str, name: str) -> list[str]:
    """Each printed line as 'LINE:COLUMN: rest' (with 'other/file:' in front for other files)."""
    result = []
    for line in output.splitlines():
        match = PROBLEM.match(line)
        assert match, f"not FILE:LINE:COLUMN: message: {line!r}"
        where = relative(match["file"])
        prefix = "" if where == name else f"{where}:"
        result.append(f"{prefix}{match['line']}:{match['column']}: {match['rest']}")
    return result


def matches(expected: str, actual: str) -> bool:
    if expected.endswith("..."):
        return actual.startswith(expected[:-3])
    return actual == expected


def assert_problems_expected(problems: list[str], expected: list[str], output: str) -> None:
    """One printed line per expected problem, each matched by a line of its own (in any order)."""
    assert len(problems) == len(expected), f"one line per problem:\n{output}"
    unmatched = list(problems)
    for want in expected:
        hit = next((got for got in unmatched if matches(want, got)), None)
        assert hit is not None, f"expected {want!r}\n      got {problems}"
        unmatched.remove(hit)


def test_the_corpus_is_large_and_every_file_says_what_it_expects():
    assert len(FILES) >= 60
    missing = [path.name for path in FILES if not expectations(path)]
    assert not missing, f"corpus files without '# expect:' lines: {missing}"


@pytest.mark.parametrize("path", FILES, ids=[path.stem for path in FILES])
def test_validate_refuses_each_file_with_the_expected_problems(path, monkeypatch):
    monkeypatch.chdir(CORPUS)
    result = CliRunner().invoke(main, ["validate", path.name], env=CORPUS_VARIABLES)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert result.exit_code == 2, result.output
    assert result.stdout == "", "nothing goes to stdout for a refused file"
    assert_problems_expected(reported(result.stderr, path.name), expectations(path), result.stderr)
    for line in result.stderr.splitlines():
        assert not any(word in line for word in JARGON), line


def test_one_call_validates_many_files_and_reports_them_all(monkeypatch):
    monkeypatch.chdir(CORPUS)
    names = [path.name for path in FILES]
    result = CliRunner().invoke(main, ["validate", *names], env=CORPUS_VARIABLES)
    assert result.exit_code == 2
    files = Counter(relative(PROBLEM.match(line)["file"]) for line in result.stderr.splitlines())
    for path in FILES:
        own = [e for e in expectations(path) if re.match(r"^\d", e)]
        assert files[path.name] == len(own), path.name


@pytest.mark.parametrize("name", ["binary-garbage", "deep-nesting", "alias-bomb", "duration-huge-number",
                                  "syntax-control-character", "compose-with-problems", "many-problems"])
def test_the_installed_command_refuses_odd_files_without_a_traceback(name):
    chaos = Path(sys.executable).parent / "chaos"
    command = [str(chaos)] if chaos.exists() else [sys.executable, "-m", "chaos.cli"]
    env = {key: value for key, value in os.environ.items() if not key.startswith("CHAOS_CORPUS_")}
    done = subprocess.run([*command, "validate", f"{name}.yaml"], cwd=CORPUS, capture_output=True, text=True,
                          env=env, timeout=60)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr and done.stdout == ""
    assert_problems_expected(reported(done.stderr, f"{name}.yaml"), expectations(CORPUS / f"{name}.yaml"),
                             done.stderr)
