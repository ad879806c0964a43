"""The sides of a comparison: which run dirs each argument holds, which runs are used (newest completed
first, ``last`` of them) and which experiments are paired across sides (see "Sides" in ``chaos.compare``)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from chaos.compare.settings import CompareInputError
from chaos.rundir import RunDirError, check_run_dir

@dataclass(frozen=True)
class RunRef:
    path: Path
    experiment: str
    run_id: str
    outcome: str | None


@dataclass
class Side:
    label: str
    path: Path
    experiments: dict[str, list[RunRef]]  # chosen runs per experiment, newest first
    notes: list[str] = field(default_factory=list)


def run_ref(run_dir: Path) -> RunRef:
    try:
        plan = json.loads((run_dir / "plan.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise CompareInputError(f"{run_dir}/plan.json: cannot be read ({exc.__class__.__name__})") from None
    return RunRef(run_dir, str(plan.get("experiment") or run_dir.parent.name), str(plan.get("run_id") or run_dir.name),
                  _outcome(run_dir / "journal.jsonl"))


def _outcome(journal: Path) -> str | None:
    if not journal.is_file():
        return None
    outcome = None
    for line in journal.read_text(encoding="utf-8", errors="replace").splitlines():
        if '"run_ended"' in line:
            try:
                outcome = json.loads(line).get("outcome")
            except json.JSONDecodeError:
                pass
    return outcome


def is_run_dir(path: Path) -> bool:
    return (path / "plan.json").is_file()


def _runs_under(path: Path) -> list[Path]:
    """Run dirs in ``path`` or one level further down; the ``latest`` links are not counted twice."""
    found: dict[Path, None] = {}
    for child in sorted(path.iterdir()):
        if not child.is_dir() or child.name.startswith("."):
            continue
        if is_run_dir(child):
            found.setdefault(child.resolve())
            continue
        for grandchild in sorted(child.iterdir()):
            if grandchild.is_dir() and is_run_dir(grandchild):
                found.setdefault(grandchild.resolve())
    return list(found)


def collect_side(path: str | Path, last: int = 1, label: str | None = None) -> Side:
    path = Path(path)
    if not path.is_dir():
        raise CompareInputError(f"{path}: not a directory")
    if is_run_dir(path):
        _check_readable(path)
        ref = run_ref(path.resolve())
        notes = [] if ref.outcome == "completed" else [
            f"run {ref.run_id} ended {ref.outcome or 'without a run_ended event'}: compared anyway"]
        return Side(label or _run_label(path, ref), path, {ref.experiment: [ref]}, notes)
    runs = _runs_under(path)
    if not runs:
        raise CompareInputError(f"{path}: no run dirs here (a run dir has plan.json), nor one level down")
    unreadable = {run: problem for run in runs if (problem := _unreadable(run))}
    if len(unreadable) == len(runs):
        raise CompareInputError(f"no run under {path} can be read by this harness; {next(iter(unreadable.values()))}")
    refs = [run_ref(p) for p in runs if p not in unreadable]
    side = Side(label or path.resolve().name, path, {}, [f"skipped {problem}" for problem in unreadable.values()])
    by_experiment: dict[str, list[RunRef]] = {}
    for ref in refs:
        by_experiment.setdefault(ref.experiment, []).append(ref)
    for experiment, runs in sorted(by_experiment.items()):
        runs.sort(key=lambda r: r.run_id, reverse=True)
        usable = [r for r in runs if r.outcome == "completed"]
        newer_skipped = [r for r in runs if r.outcome != "completed" and (not usable or r.run_id > usable[0].run_id)]
        for ref in newer_skipped:
            side.notes.append(f"{experiment}: skipped run {ref.run_id} ({ref.outcome or 'no run_ended event'})")
        if usable:
            side.experiments[experiment] = usable[:last]
    if not side.experiments:
        raise CompareInputError(f"{path}: no run here completed (aborted, interrupted or failed runs are not compared)")
    return side


def _unreadable(run_dir: Path) -> str | None:
    """Why this harness cannot read a run dir (missing files, a journal version it does not know), else None."""
    try:
        check_run_dir(run_dir)
    except RunDirError as exc:
        return str(exc)
    return None


def _check_readable(run_dir: Path) -> None:
    problem = _unreadable(run_dir)
    if problem:
        raise CompareInputError(problem)


def _run_label(path: Path, ref: RunRef) -> str:
    return f"{ref.experiment} {ref.run_id}" if path.name == "latest" or path.name == ref.run_id else path.name


def unique_labels(sides: list[Side]) -> None:
    seen: dict[str, int] = {}
    for side in sides:
        seen[side.label] = seen.get(side.label, 0) + 1
        if seen[side.label] > 1:
            side.label = f"{side.label} ({seen[side.label]})"


def pair_experiments(sides: list[Side]) -> list[tuple[str, list[list[RunRef] | None]]]:
    """(display name, runs per side or None where the side lacks the experiment), baseline's order first."""
    if all(len(s.experiments) == 1 for s in sides):
        names = [next(iter(s.experiments)) for s in sides]
        title = names[0] if len(set(names)) == 1 else " · ".join(dict.fromkeys(names))
        return [(title, [next(iter(s.experiments.values())) for s in sides])]
    order = list(dict.fromkeys(name for s in sides for name in s.experiments))
    return [(name, [s.experiments.get(name) for s in sides]) for name in order]
