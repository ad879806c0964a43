"""The commands of comparisons run by the harness itself: ``chaos ab`` (two versions, in paired rounds) and
``chaos calibrate`` (one version against itself: what such a gate can see on this machine)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from rich.markup import escape

from chaos.cli_common import (
    console,
    err,
    fail,
    tolerances as parse_tolerances_option,
    var_file_option,
    var_option,
    variables_given,
    warn,
)
from chaos.errors import ChaosError

DESIGN_HELP = ("side-by-side: both systems at once, half the load each, one timeline; interleaved: one after the "
               "other, A B, B A, A B, ...")
DEFAULT_AB_ROUNDS = 6  # even: as many rounds start with A as with B


@click.command("ab")
@click.argument("file", type=click.Path())
@click.option("--a", "a_values", multiple=True, metavar="NAME=VALUE", help="a ${NAME} value of A, the baseline (repeatable)")
@click.option("--b", "b_values", multiple=True, metavar="NAME=VALUE", help="a ${NAME} value of B, the candidate (repeatable)")
@click.option("--rounds", type=click.IntRange(1, 50), default=DEFAULT_AB_ROUNDS, show_default=True,
              help="rounds of one run of each side")
@click.option("--design", type=click.Choice(["side-by-side", "interleaved"]), default="side-by-side",
              show_default=True, help=DESIGN_HELP)
@var_option
@var_file_option
@click.option("--seed", type=int, default=None, help="seed of the first round (round i uses seed + i, on both sides)")
@click.option("--report-dir", type=click.Path(file_okay=False), default=None,
              help="where the ab dir (<experiment>-ab-<id>) is written")
@click.option("--tolerance", "tolerances", multiple=True, metavar="[METRIC=]FRACTION",
              help="changes inside ±this count as no change (default 10%; e.g. p99=25%)")
def ab_command(file, a_values, b_values, rounds, design, variables, var_files, seed, report_dir, tolerances):
    """Compare two sets of ${VAR} values of one experiment, A (baseline) and B (candidate), in rounds judged on
    paired differences (docs/ab.md). Exit: 0 no regression, 1 B worse, 2 bad input, 3 a round aborted,
    4 environment error, 5 inconclusive, 130/143 stopped by a signal."""
    from chaos.compare import Settings
    from chaos.plan import make_plan
    from chaos.spec import load_experiment

    common = variables_given(variables, var_files)
    sides = {"a": _side_values("--a", a_values), "b": _side_values("--b", b_values)}
    tolerance, per_metric = parse_tolerances_option(tolerances)
    loaded = {}
    try:  # both sides validated before anything starts
        for side, values in sides.items():
            loaded[side] = load_experiment(file, {**common, **values})
            make_plan(loaded[side], seed=seed)
    except ChaosError as exc:
        fail(exc)
    for side in ("a", "b"):
        warn(loaded[side].warnings)
    sources = {side: (file, {**common, **values}) for side, values in sides.items()}
    sys.exit(_run_ab(loaded, rounds, report_dir, seed, Settings(tolerance=tolerance, per_metric=per_metric), sides,
                     design, sources))



def _side_values(option: str, pairs: tuple[str, ...]) -> dict[str, str]:
    values = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise click.BadParameter(f"{pair!r}: expected NAME=VALUE", param_hint=option)
        values[name] = value
    return values


def _run_ab(loaded: dict, rounds: int, report_dir, seed, settings, sides: dict, design: str, sources: dict) -> int:
    from chaos.ab import AbRun
    from chaos.report.compare_view import render_compare_text

    def said(values: dict) -> str:
        return " ".join(f"{k}={v}" for k, v in values.items()) or "(no values)"

    labels = (said(sides["a"]), said(sides["b"]))
    if labels[0] == labels[1]:  # an A/A comparison: the sides still need names of their own
        labels = (f"A {labels[0]}", f"B {labels[1]}")
    ab = AbRun(loaded, rounds, report_dir, seed, settings,
               on_progress=lambda message: console.print(message, markup=False), labels=labels, design=design,
               sources=sources)
    from chaos.secrets import scrub

    heading = scrub(f"A {said(sides['a'])} against B {said(sides['b'])}", ab.secrets)  # CI logs keep this line
    console.print(f"[bold]{escape(ab.experiment)}[/] ab: {escape(heading)}, {rounds} round(s) {design} in {ab.ab_dir}")
    result = ab.run()
    if result.stopped:
        console.print(f"  stopped: {result.stopped}", markup=False)
    if result.comparison is None:
        console.print(f"  no round completed on both sides: nothing judged; rounds in {ab.ab_dir / 'ab.json'}",
                      markup=False)
        return result.exit_code
    console.print(render_compare_text(result.comparison), markup=False)
    for change in (r["changes"][1] for r in result.comparison["experiments"][0]["rows"]):
        if change["verdict"] == "inconclusive" and change.get("settle"):
            console.print(f"  to settle {change['phase']} {change['metric']}: {change['settle']}", markup=False)
    console.print(f"  exit {result.exit_code}  comparison: {result.reports['html']}", markup=False)
    return result.exit_code


DEFAULT_CALIBRATION_RUNS = 12


@click.command("calibrate")
@click.argument("file", type=click.Path(), required=False)
@click.option("--runs", type=click.IntRange(2, 100), default=DEFAULT_CALIBRATION_RUNS, show_default=True,
              help="A/A rounds to run (each one run of each side, both the same version)")
@click.option("--rounds", type=click.IntRange(2, 50), default=DEFAULT_AB_ROUNDS, show_default=True,
              help="the rounds the gate will run (chaos ab --rounds)")
@click.option("--design", type=click.Choice(["side-by-side", "interleaved"]), default="side-by-side",
              show_default=True, help=DESIGN_HELP)
@var_option
@var_file_option
@click.option("--seed", type=int, default=None, help="seed of the first round")
@click.option("--report-dir", type=click.Path(file_okay=False), default=None,
              help="where the A/A rounds (<experiment>-ab-<id>) and calibration.json are written")
@click.option("--tolerance", "tolerances", multiple=True, metavar="[METRIC=]FRACTION",
              help="the gate's tolerance to measure (default 10%; e.g. p99=25%)")
@click.option("--from", "from_dir", type=click.Path(exists=True, file_okay=False), default=None,
              help="judge the A/A rounds of an earlier calibrate (its ab dir) instead of running new ones")
def calibrate_command(file, runs, rounds, design, variables, var_files, seed, report_dir, tolerances, from_dir):
    """Run one version against itself (A/A) and print, per metric, what a `chaos ab` gate of --rounds rounds can
    see on this machine: the spread, the smallest change it catches, the margin that keeps identical versions
    "no change", and how often it fails or claims a change (docs/ab.md). Exit: 0 measured, 2 bad input,
    3 a round aborted, 4 environment error, 5 too few rounds completed, 130/143 stopped by a signal."""
    from chaos.compare import Settings
    from chaos.plan import make_plan
    from chaos.spec import load_experiment

    tolerance, per_metric = parse_tolerances_option(tolerances)
    settings = Settings(tolerance=tolerance, per_metric=per_metric)
    if from_dir:
        ab_dir, code = Path(from_dir), 0
        if not (ab_dir / "ab.json").is_file():
            raise click.BadParameter(f"{from_dir}: no ab.json (not an ab dir)", param_hint="--from")
    elif file is None:
        raise click.UsageError("calibrate needs an experiment FILE to run, or --from an earlier calibration's dir")
    else:
        values = variables_given(variables, var_files)
        try:
            loaded = load_experiment(file, values)
            make_plan(loaded, seed=seed)
        except ChaosError as exc:
            fail(exc)
        warn(loaded.warnings)
        ab_dir, code = _run_aa(loaded, runs, report_dir, seed, settings, design, (file, values))
    sys.exit(_write_calibration(ab_dir, rounds, settings, code))


def _run_aa(loaded, runs: int, report_dir, seed, settings, design: str, source: tuple) -> tuple[Path, int]:
    from chaos.ab import AbRun

    ab = AbRun({"a": loaded, "b": loaded}, runs, report_dir, seed, settings, labels=("A", "A\u2032"),
               on_progress=lambda message: console.print(message, markup=False), design=design,
               sources={"a": source, "b": source})
    console.print(f"[bold]{escape(ab.experiment)}[/] calibrate: {runs} A/A round(s) {design} in {ab.ab_dir}")
    result = ab.run()
    if result.stopped:
        console.print(f"  stopped: {result.stopped}", markup=False)
    return ab.ab_dir, result.exit_code if result.stopped else 0


def _write_calibration(ab_dir: Path, gate_rounds: int, settings, code: int) -> int:
    from chaos.atomic import written_atomically
    from chaos.compare.calibration import calibration
    from chaos.report.calibration_text import render_calibration_text

    recorded = json.loads((ab_dir / "ab.json").read_text(encoding="utf-8"))
    try:
        document = calibration(recorded["rounds"], gate_rounds, settings, experiment=recorded.get("experiment", ""),
                               design=recorded.get("design", "interleaved"))
    except ValueError as exc:
        err.print(f"chaos calibrate: {exc}", markup=False)
        return code or 5
    text = render_calibration_text(document)
    for name, body in (("calibration.json", json.dumps(document, indent=2) + "\n"), ("calibration.txt", text + "\n")):
        with written_atomically(ab_dir / name) as partial:
            partial.write_text(body, encoding="utf-8")
    console.print(text, markup=False)
    console.print(f"  calibration: {ab_dir / 'calibration.json'}", markup=False)
    return code
