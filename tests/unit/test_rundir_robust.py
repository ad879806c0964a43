"""Run dirs a crash or a damaged disk left: a torn sample row, a quoted newline split across reads, a
conversion that fails half-way, a killed run's dir, and files that are not what a run writes."""

from __future__ import annotations

import csv
import io
import json
import shutil
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from chaos import attribution
from chaos.cli import main
from chaos.load import COLUMNS, SampleTail, csv_to_parquet
from chaos.probes import Prober
from chaos.report import render_all
from support.fakerun import make_run

pytestmark = pytest.mark.unit


def csv_text(rows: list[list]) -> str:
    """Rows as the recorder in Locust writes them (csv module, header first, "\\n" line ends)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS)
    writer.writerows(rows)
    return buffer.getvalue()


def sample(t: float, error: str = "") -> list:
    return [1_750_000_000.0 + t, 5000.0 + t, 12.5, "GET /", "GET", 500 if error else 200, 0 if error else 1,
            10, error, 12.5]


MULTILINE = "ConnectionError: upstream said\nsomething\non three lines"
ROWS = [sample(0.1), sample(0.2, MULTILINE), sample(0.3), sample(0.4, 'HTTPError: "quoted"\r\nand more')]


# ---------------------------------------------------------------- the live tail

@pytest.mark.parametrize("cut_after", ["something\n", "upstream said", '"quoted"', "GET,200"])
def test_the_tail_reads_a_record_split_across_reads_once_it_is_whole(tmp_path, cut_after):
    text = csv_text(ROWS)
    cut = text.index(cut_after) + len(cut_after)
    path = tmp_path / "samples.csv"
    path.write_text(text[:cut], newline="")
    tail = SampleTail(path, keep_seconds=1e12)  # the rows' monotonic times are made up: keep them all
    first = tail.poll()
    with open(path, "a", newline="") as handle:
        handle.write(text[cut:])
    second = tail.poll()
    assert first + second == tail.total == len(ROWS)
    assert [row[1] for row in tail.rows] == [row[1] for row in ROWS]  # each row once, in order, none made up


def test_the_tail_waits_for_a_torn_last_row_and_skips_nothing_whole(tmp_path):
    path = tmp_path / "samples.csv"
    path.write_text(csv_text(ROWS) + "1750000001.0,5001.0,12", newline="")
    tail = SampleTail(path)
    assert tail.poll() == len(ROWS)
    with open(path, "a", newline="") as handle:
        handle.write(".5,GET /,GET,200,1,10,,12.5\n")
    assert tail.poll() == 1 and tail.total == len(ROWS) + 1


# ---------------------------------------------------------------- CSV -> Parquet

TORN = [
    "1750000001.0,5001.0,1",  # a number cut short
    '1750000001.0,5001.0,12.5,GET /,GET,500,0,10,"ConnectionError: cut',  # inside a quoted error
    '1750000001.0,5001.0,12.5,GET /,GET,500,0,10,"ConnectionError: cut\n',  # a newline inside it, then nothing
    "1750000001.0,5001.0,12.5,GET /,GET,200,1,10,,12",  # every column there, the last one cut short
]


@pytest.mark.parametrize("torn", TORN)
def test_a_torn_last_row_loses_no_whole_row(tmp_path, torn):
    path = tmp_path / "samples.csv"
    path.write_text(csv_text(ROWS) + torn, newline="")
    rows = csv_to_parquet(path, tmp_path / "samples.parquet")
    table = pq.read_table(tmp_path / "samples.parquet")
    assert rows == table.num_rows == len(ROWS)
    assert table.column("error").to_pylist() == [None, MULTILINE, None, 'HTTPError: "quoted"\r\nand more']


def test_a_conversion_that_fails_half_way_leaves_no_half_file(tmp_path, monkeypatch):
    """A disk that fills while the Parquet file is written: no file that looks like a run with no requests
    (the CSV stays, and `chaos report` reads it)."""
    path = tmp_path / "samples.csv"
    path.write_text(csv_text(ROWS), newline="")

    def disk_full(*_args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(attribution, "label_faults", disk_full)
    with pytest.raises(OSError):
        csv_to_parquet(path, tmp_path / "samples.parquet", events=[])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["samples.csv"]


def test_probe_results_are_written_whole_or_not_at_all(tmp_path, monkeypatch):
    def torn_write(table, where, **_kwargs):
        Path(where).write_bytes(b"PAR1 half a file")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(pq, "write_table", torn_write)
    with pytest.raises(OSError):
        Prober([], system=None).write(tmp_path / "probes.parquet")
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------- `chaos report` on what a run left

@pytest.fixture(scope="module")
def template(tmp_path_factory):
    return make_run(tmp_path_factory.mktemp("template") / "run", fault_extra_ms=10)


@pytest.fixture
def run_copy(template, tmp_path):
    return Path(shutil.copytree(template, tmp_path / "run"))


def report(run_dir: Path):
    return CliRunner().invoke(main, ["report", str(run_dir)])


def snapshot(run_dir: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(run_dir.iterdir())}


def as_killed(run_dir: Path) -> int:
    """What a SIGKILLed harness leaves: Locust's CSV with a torn last row, no Parquet, no reports, a journal that
    stops before the end, a plan with a probe and no probe results. Returns the whole rows in the CSV."""
    frame = pd.read_parquet(run_dir / "samples.parquet")
    (run_dir / "samples.parquet").unlink()
    rows = frame[list(COLUMNS[:9])].assign(success=frame["success"].astype(int), service_ms=frame["latency_ms"])
    (run_dir / "samples.csv").write_text(rows.to_csv(index=False, header=list(COLUMNS), lineterminator="\n")
                                         + "1750000999.0,5999.0,1", newline="")
    journal = (run_dir / "journal.jsonl").read_text().splitlines()
    kept = [line for line in journal if json.loads(line)["event"] not in ("load_stopped", "run_ended")]
    (run_dir / "journal.jsonl").write_text("\n".join(kept) + '\n{"v": 1, "seq": 9999, "ev')
    plan = json.loads((run_dir / "plan.json").read_text())
    plan["probes"] = [{"name": "redis answers", "kind": "tcp"}]
    (run_dir / "plan.json").write_text(json.dumps(plan))
    return len(frame)


def test_report_of_a_killed_run_uses_the_samples_it_left_and_says_what_is_missing(run_copy):
    whole_rows = as_killed(run_copy)
    result = report(run_copy)
    assert result.exit_code == 0, result.output
    summary = json.loads((run_copy / "summary.json").read_text())
    assert summary["run"]["requests"] == whole_rows > 1000
    assert any("request(s) read from samples.csv" in w for w in summary["run"]["warnings"])
    assert result.stderr.splitlines() == [
        f"chaos report: {run_copy / 'samples.parquet'} not found: requests read from samples.csv "
        "(the run did not finish)",
        f"chaos report: {run_copy / 'journal.jsonl'}: no run_ended: the harness stopped before the end of the run "
        "(killed?); `chaos clean --run 20250101T120000Z-a1b2` reverts the faults it left",
        f"chaos report: {run_copy / 'probes.parquet'} not found: the probes' checks are inconclusive",
        f"chaos report: {run_copy / 'journal.jsonl'}:19: unreadable line, skipped",  # the torn last line
    ]
    assert not (run_copy / "samples.parquet").exists(), "a report reads the run dir, never converts it"


def garbage_parquet(path: Path) -> None:
    path.write_bytes(b"PAR1" + bytes(range(256)) * 4)


def probes_without_columns(path: Path) -> None:
    pd.DataFrame({"t_mono": [1.0]}).to_parquet(path)


CORRUPTED = {
    "plan a list": ("plan.json", lambda p: p.write_text("[1, 2]"),
                    "a JSON list, not the plan object a run writes"),
    "plan a string": ("plan.json", lambda p: p.write_text('"plan"'), "a JSON str, not the plan object a run writes"),
    "plan not UTF-8": ("plan.json", lambda p: p.write_bytes(b'{"experiment": "\xff\xfe"}'),
                       "not UTF-8 text (byte 16)"),
    "garbage probes": ("probes.parquet", garbage_parquet, "not a Parquet file this harness can read"),
    "probes without columns": ("probes.parquet", probes_without_columns,
                               "missing column(s) t_wall, latency_ms, probe, success, error"),
    "garbage samples": ("samples.parquet", garbage_parquet, "not a Parquet file this harness can read"),
    "empty samples": ("samples.parquet", lambda p: p.write_bytes(b""), "not a Parquet file this harness can read"),
}


@pytest.mark.parametrize("case", list(CORRUPTED))
def test_a_corrupted_run_dir_is_one_line_naming_the_file_and_exit_2(run_copy, case):
    name, corrupt, says = CORRUPTED[case]
    render_all(run_copy)  # reports of an earlier render: a refused one must leave them as they were
    corrupt(run_copy / name)
    before = snapshot(run_copy)
    result = report(run_copy)
    assert result.exit_code == 2, result.output
    assert result.stdout == "" and result.exception.__class__ is SystemExit
    [line] = result.stderr.splitlines()
    assert line.startswith(f"chaos report: {run_copy / name}: {says}"), line
    assert snapshot(run_copy) == before


# ---------------------------------------------------------------- a journal on a full disk

def test_a_journal_on_a_full_disk_drops_lines_but_never_lets_a_fault_in_unrecorded(tmp_path):
    from chaos.errors import EnvironmentProblem
    from chaos.journal import Journal

    journal = Journal(tmp_path / "journal.jsonl")
    journal._handle.close()
    journal._handle = open("/dev/full", "w", encoding="utf-8")  # every write: ENOSPC
    journal.append("phase_started", phase="fault")  # the run goes on to its teardown, which reverts
    assert journal.failed is not None and journal.failed.errno == 28
    with pytest.raises(EnvironmentProblem, match="could not be written .*: fault_ledgered not recorded, so not done"):
        journal.append("fault_ledgered", fault_id="f1")
    journal.append("fault_reverted", fault_id="f0")  # a teardown's lines: dropped, never raised
    journal.close()
