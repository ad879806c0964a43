"""The rounds of a ``chaos ab`` -> its comparison document (``chaos.ab/1``): the shape of ``chaos.compare/1``
(sides A and B, one experiment, rows of values and changes, charts' series) judged on paired rounds
(``chaos.compare.paired``), plus ``pairing``: each round's order, runs and outcomes. Pure: reads run dirs."""

from __future__ import annotations

from pathlib import Path

from chaos.analysis import RunDirError, json_safe, load_run, phase_windows, secrets_of
from chaos.compare.judging import holm
from chaos.compare.over_time import run_series, timeline
from chaos.compare.paired import judge_paired, rounds_needed, settle_text
from chaos.compare.resampling import phase_side
from chaos.compare.settings import SKIPPED_PHASES, VERDICTS, CompareInputError, Settings
from chaos.compare.wording import change_reason, headline, overall_verdict, row_label
from chaos.metrics import COMPARED
from chaos.secrets import scrub

SCHEMA = "chaos.ab/1"
DESIGNS = {"interleaved": "interleaved rounds, paired by round",
           "side-by-side": "side by side (both systems at once, one timeline), paired by round"}


def ab_comparison(experiment: str, rounds: list[dict], settings: Settings = Settings(),
                  labels: tuple[str, str] = ("A", "B"), dirs: tuple[str, str] = ("", ""),
                  design: str = "interleaved") -> dict:
    """``rounds``: in order, each ``{"round", "order": ["a", "b"], "a": {"run_id", "path", "outcome"} | None,
    "b": ...}``; only rounds whose two runs completed are judged."""
    complete = completed_rounds(rounds)
    runs, secrets = round_runs(complete)
    windows = {side: [phase_windows(run) for run in runs[side]] for side in runs}
    phases = judged_phases(windows, settings)
    rows = [_row(phase, metric, windows, settings) for phase in phases for metric in COMPARED]
    changes = [row["changes"][1] for row in rows]
    holm(changes)
    for change in changes:
        change["rounds_needed"] = rounds_needed(change)
        change["settle"] = settle_text(change)
        reason = change["reason"] or change_reason(change)
        change["reason"] = reason + (f"; {change['settle']}" if change["settle"] else "")
    for row in rows:
        row["label"] = row_label(row)
    counts = {v: sum(c["verdict"] == v for c in changes) for v in VERDICTS}
    pair = {"baseline": labels[0], "candidate": labels[1], "verdict": overall_verdict(counts), "counts": counts,
            "family": sum(c["p"] is not None for c in changes)}
    body = {"name": experiment, "names": [experiment, experiment],
            "runs": [[_run_entry(r["a"]) for r in rounds if r.get("a")],
                     [_run_entry(r["b"]) for r in rounds if r.get("b")]],
            "rows": rows, "drift_from": {},
            "timeline": timeline([runs["a"], runs["b"]]),
            "series": [[run_series(run) for run in reversed(runs[side])] for side in ("a", "b")]}
    document = {
        "schema": SCHEMA,
        "verdict": pair["verdict"],
        "reason": headline([pair], [body]) + _rounds_sentence(rounds, complete),
        "settings": {**settings.to_json(), "method": "paired t over rounds", "design": DESIGNS[design]},
        "sides": [{"label": labels[0], "path": dirs[0], "role": "baseline", "notes": []},
                  {"label": labels[1], "path": dirs[1], "role": "candidate", "notes": []}],
        "pairs": [pair],
        "experiments": [body],
        "pairing": {"design": DESIGNS[design], "rounds": rounds, "judged": len(complete), "stopped": None,
                    "order": " ".join("".join(r["order"]).upper() for r in rounds)},
    }
    return scrub(json_safe(document), secrets)


def completed_rounds(rounds: list[dict]) -> list[dict]:
    return [r for r in rounds if all(r.get(s) and r[s]["outcome"] == "completed" for s in ("a", "b"))]


def round_runs(complete: list[dict]) -> tuple[dict, set]:
    """Side -> the loaded runs of the completed rounds, in round order; and every secret their plans name."""
    runs, secrets = {"a": [], "b": []}, set()
    for r in complete:
        for side in ("a", "b"):
            try:
                run = load_run(r[side]["path"])
            except RunDirError as exc:
                raise CompareInputError(str(exc)) from None
            secrets |= set(secrets_of(run.plan))
            runs[side].append(run)
    return runs, secrets


def phase_cells(phase: str, windows: dict) -> dict:
    """Side -> each round's run of ``phase`` as one comparison side (None where the run has no such phase)."""
    return {side: [phase_side([w[phase]]) if phase in w else None for w in windows[side]] for side in windows}


def _row(phase: str, metric: str, windows: dict, settings: Settings) -> dict:
    cells = phase_cells(phase, windows)
    change = judge_paired(metric, cells["a"], cells["b"], settings)
    change.update(phase=phase)
    values = []
    for side in ("a", "b"):
        present = [w[phase] for w in windows[side] if phase in w]
        pooled = phase_side(present) if present else None
        values.append(None if pooled is None else {
            "value": pooled.observed(metric), "ci_low": None, "ci_high": None,
            "requests": pooled.requests, "windows": pooled.windows_with_data})
    return {"phase": phase, "metric": metric, "values": values, "changes": [None, change]}


def judged_phases(windows: dict, settings: Settings) -> list[str]:
    if settings.phases:
        return list(settings.phases)
    order = dict.fromkeys(p for side in ("a", "b") for w in windows[side] for p in w)
    return [p for p in order if p not in SKIPPED_PHASES]


def _run_entry(run: dict) -> dict:
    return {"run_id": run["run_id"], "path": str(run["path"]), "outcome": run["outcome"]}


def _rounds_sentence(rounds: list[dict], complete: list[dict]) -> str:
    if len(complete) == len(rounds):
        return f" Judged on {len(rounds)} paired round(s)."
    return f" Judged on {len(complete)} of {len(rounds)} round(s): the others did not complete on both sides."


def round_record(index: int, order: tuple[str, ...]) -> dict:
    """``order``: the sides in the order they ran, e.g. ("b", "a"); ("a|b",) for runs side by side."""
    return {"round": index + 1, "order": list(order), "a": None, "b": None}


def run_record(run_dir: Path, run_id: str, outcome: str, exit_code: int) -> dict:
    return {"run_id": run_id, "path": str(run_dir), "outcome": outcome, "exit_code": exit_code}
