"""Which run dirs `chaos report` and `chaos compare` read: schema versions, migrations, missing files."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from chaos import __version__, rundir
from chaos.analysis import analyse, load_run
from chaos.cli import main
from chaos.report import render_all
from chaos.rundir import MISSING, RunDirError, readable_versions, upgrade_events, version_problem
from support.fakerun import make_run

pytestmark = pytest.mark.unit


def rewrite_journal(run_dir: Path, change) -> None:
    path = run_dir / "journal.jsonl"
    events = [json.loads(line) for line in path.read_text().splitlines()]
    path.write_text("".join(json.dumps(change(dict(e))) + "\n" for e in events))


def with_version(version):
    def change(event):
        if version is MISSING:
            event.pop("v")
        else:
            event["v"] = version
        if event["event"] == "run_started":
            event["harness_version"] = "9.0.0"
        return event
    return change


def snapshot(run_dir: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(run_dir.iterdir())}


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    run_dir = make_run(tmp_path_factory.mktemp("template") / "run", fault_extra_ms=10)
    render_all(run_dir)  # an earlier render is there: a refused re-render must leave it as it was
    return run_dir


@pytest.fixture
def run_copy(template, tmp_path):
    return Path(shutil.copytree(template, tmp_path / "run"))


def report(run_dir: Path):
    return CliRunner().invoke(main, ["report", str(run_dir)])


# ---------------------------------------------------------------- the rule, pure

def test_the_current_version_is_readable_and_others_are_not():
    assert readable_versions() == [1] and version_problem([1], "0.1.0", [1]) is None
    newer = version_problem([1, 2], "9.0.0", [1])
    assert newer == (f"schema version 2, written by chaos 9.0.0: newer than this harness; "
                     f"this harness (chaos {__version__}) reads version 1: use a newer chaos")
    assert "schema version 0" in version_problem([0], None, [1]) and "older than" in version_problem([0], None, [1])
    assert "without a schema version" in version_problem([MISSING], None, [1])
    for odd in ("1", 1.0, True, None, [1]):
        assert "is not a version number" in version_problem([odd], None, [1]), odd
    assert rundir.journal_versions([{"v": 1}, {"v": 1.0}, {"v": True}, {}, {"v": 1}]) == [1, 1.0, True, MISSING]


def test_older_versions_with_a_migration_are_upgraded_step_by_step():
    migrations = {1: lambda e: {**{k: v for k, v in e.items() if k != "t"}, "mono": e["t"]},
                  2: lambda e: {**e, "tag": "v3"}}
    assert readable_versions(3, migrations) == [1, 2, 3]
    assert version_problem([1, 3], None, [1, 2, 3]) is None
    assert "versions 1 to 3" in version_problem([4], None, [1, 2, 3])
    old = [{"v": 1, "t": 5.0, "event": "a"}, {"v": 2, "mono": 6.0, "event": "b"}, {"v": 3, "mono": 7.0, "event": "c"}]
    assert upgrade_events(old, 3, migrations) == [
        {"v": 3, "mono": 5.0, "event": "a", "tag": "v3"}, {"v": 3, "mono": 6.0, "event": "b", "tag": "v3"},
        {"v": 3, "mono": 7.0, "event": "c"}]
    assert old[0] == {"v": 1, "t": 5.0, "event": "a"}  # pure: the input is left alone


def test_an_older_run_dir_renders_through_its_migration(run_copy, monkeypatch):
    """A crafted version 0 whose events said ``t`` for ``mono``: refused, then read once a migration exists."""
    current = analyse(load_run(run_copy))
    rewrite_journal(run_copy, lambda e: {**{k: v for k, v in e.items() if k != "mono"}, "v": 0, "t": e["mono"]})
    with pytest.raises(RunDirError, match="schema version 0.*older than this harness reads"):
        load_run(run_copy)
    monkeypatch.setitem(rundir.MIGRATIONS, 0, lambda e: {**{k: v for k, v in e.items() if k != "t"}, "mono": e["t"]})
    assert analyse(load_run(run_copy)) == current
    result = report(run_copy)
    assert result.exit_code == 0, result.output


# ---------------------------------------------------------------- chaos report

def test_report_renders_the_current_version(run_copy):
    before = snapshot(run_copy)
    result = report(run_copy)
    assert result.exit_code == 0 and result.stderr == ""
    assert "junit: " in result.stdout and snapshot(run_copy) == before  # re-rendering is byte-identical


@pytest.mark.parametrize("version, says", [
    (2, "schema version 2, written by chaos 9.0.0: newer than this harness"),
    (0, "schema version 0, written by chaos 9.0.0: older than this harness reads"),
    (MISSING, "an event without a schema version (field \"v\"), written by chaos 9.0.0"),
    ("1.0", "schema version \"1.0\" is not a version number"),
])
def test_report_refuses_a_version_it_cannot_read_and_writes_nothing(run_copy, version, says):
    rewrite_journal(run_copy, with_version(version))
    before = snapshot(run_copy)
    result = report(run_copy)
    assert result.exit_code == 2 and result.stdout == ""
    [line] = result.stderr.splitlines()
    assert line.startswith(f"chaos report: {run_copy / 'journal.jsonl'}: {says}")
    assert line.endswith(f"this harness (chaos {__version__}) reads version 1" +
                         (": use a newer chaos" if version == 2 else ""))
    assert snapshot(run_copy) == before


def test_a_journal_appended_to_by_a_newer_harness_is_refused(run_copy):
    with open(run_copy / "journal.jsonl", "a") as journal:
        journal.write(json.dumps({"v": 3, "seq": 999, "mono": 9999.0, "event": "fault_reverted"}) + "\n")
    result = report(run_copy)
    assert result.exit_code == 2 and "schema version 3" in result.stderr


@pytest.mark.parametrize("remove, says", [
    (("journal.jsonl",), "journal.jsonl not found"),
    (("plan.json",), "plan.json not found"),
    (("plan.json", "journal.jsonl"), "plan.json and journal.jsonl not found"),
])
def test_report_names_the_missing_files(run_copy, remove, says):
    for name in remove:
        (run_copy / name).unlink()
    before = snapshot(run_copy)
    result = report(run_copy)
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [f"chaos report: {run_copy}: {says} (is it a chaos run dir?)"]
    assert snapshot(run_copy) == before


def test_report_without_samples_renders_and_says_so(run_copy):
    (run_copy / "samples.parquet").unlink()
    result = report(run_copy)
    assert result.exit_code == 0
    assert result.stderr.splitlines() == [
        f"chaos report: {run_copy / 'samples.parquet'} not found: rendered with no requests"]
    assert json.loads((run_copy / "summary.json").read_text())["verdict"] == "inconclusive"


# ---------------------------------------------------------------- chaos compare: the same check

def test_compare_refuses_a_run_dir_it_cannot_read_with_the_same_line(run_copy, template, tmp_path):
    rewrite_journal(run_copy, with_version(2))
    result = CliRunner().invoke(main, ["compare", str(template), str(run_copy), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        f"chaos compare: {run_copy / 'journal.jsonl'}: schema version 2, written by chaos 9.0.0: newer than "
        f"this harness; this harness (chaos {__version__}) reads version 1: use a newer chaos"]
    assert not (tmp_path / "out").exists()


def test_compare_skips_unreadable_runs_in_a_directory_with_a_note(template, tmp_path):
    runs = tmp_path / "runs"
    shutil.copytree(template, runs / "20250101T120000Z-a1b2")
    newer = Path(shutil.copytree(template, runs / "20250102T120000Z-c3d4"))
    rewrite_journal(newer, with_version(2))
    result = CliRunner().invoke(main, ["compare", str(template), str(runs), "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    side = json.loads((tmp_path / "out" / "compare.json").read_text())["sides"][1]
    assert side["notes"] == [f"skipped {newer / 'journal.jsonl'}: schema version 2, written by chaos 9.0.0: "
                             f"newer than this harness; this harness (chaos {__version__}) reads version 1: "
                             f"use a newer chaos"]
    shutil.rmtree(runs / "20250101T120000Z-a1b2")
    alone = CliRunner().invoke(main, ["compare", str(template), str(runs), "--out", str(tmp_path / "out2")])
    assert alone.exit_code == 2 and "no run under" in alone.stderr and "schema version 2" in alone.stderr
