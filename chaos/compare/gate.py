"""Exit codes of ``chaos compare`` (``--fail-on``) and the CI gate of ``chaos run --baseline``: the
baseline's side for a new run and that run compared against it."""

from __future__ import annotations

from pathlib import Path

from chaos.compare.comparison import compare_sides
from chaos.compare.settings import CompareInputError, Settings
from chaos.compare.sides import Side, collect_side, run_ref

FAIL_ON = ("worse", "better", "inconclusive", "change")


def failing(comparison: dict, fail_on: tuple[str, ...]) -> list[dict]:
    """The changes whose verdict is one the caller fails on (``change`` means worse or better)."""
    wanted = set(fail_on) | ({"worse", "better"} if "change" in fail_on else set())
    return [change for e in comparison["experiments"] for row in e["rows"] for change in row["changes"][1:]
            if change["verdict"] in wanted]


def exit_code(comparison: dict, fail_on: tuple[str, ...]) -> int:
    return 1 if failing(comparison, fail_on) else 0


def gate_exit_code(run_code: int, comparison: dict) -> int:
    """`chaos run --baseline`: a held or inconclusive run that is worse than its baseline exits 1 (deviated)."""
    if run_code in (0, 5) and failing(comparison, ("worse",)):
        return 1
    return run_code


def baseline_side(path: str | Path, experiment: str, last: int = 1) -> Side:
    """The baseline for a new run of ``experiment``: the same experiment by name, else the only one there."""
    side = collect_side(path, last, label="baseline")
    if experiment in side.experiments:
        side.experiments = {experiment: side.experiments[experiment]}
    elif len(side.experiments) != 1:
        raise CompareInputError(f"{path}: no run of {experiment} here; found {', '.join(sorted(side.experiments))}")
    return side


def against_baseline(run_dir: str | Path, baseline: Side, settings: Settings = Settings()) -> dict:
    run_dir = Path(run_dir)
    ref = run_ref(run_dir)
    candidate = Side("this run", run_dir, {ref.experiment: [ref]})
    return compare_sides([baseline, candidate], settings)
