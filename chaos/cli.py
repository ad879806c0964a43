"""The `chaos` command. Thin: parses arguments and calls the modules that do the work."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click
from rich.console import Console

from chaos import __version__
from chaos.errors import ChaosError, SpecError

console = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)

VERDICT_STYLE = {"held": "bold green", "deviated": "bold red", "inconclusive": "bold yellow",
                 "aborted": "bold magenta", "error": "bold red", "interrupted": "bold magenta"}


def _variables(pairs: tuple[str, ...], files: tuple[str, ...]) -> dict[str, str]:
    variables: dict[str, str] = {}
    for file in files:
        for number, line in enumerate(Path(file).read_text().splitlines(), 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            if "=" not in line:
                raise click.UsageError(f"{file}:{number}: expected NAME=value")
            key, value = line.split("=", 1)
            variables[key.strip()] = value.strip()
    for pair in pairs:
        if "=" not in pair:
            raise click.UsageError(f"--var {pair!r}: expected NAME=value")
        key, value = pair.split("=", 1)
        variables[key] = value
    return variables


def _fail(exc: ChaosError) -> None:
    if isinstance(exc, SpecError):
        for problem in exc.problems:
            err.print(str(problem), markup=False)
    else:
        err.print(f"chaos: {exc}", markup=False)
    sys.exit(exc.exit_code)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="chaos")
def main() -> None:
    """Resilience experiments against services in Docker: real faults, real load, verdicts with statistics."""


var_option = click.option("--var", "variables", multiple=True, metavar="NAME=VALUE", help="set a ${NAME} variable")
var_file_option = click.option("--var-file", "var_files", multiple=True, type=click.Path(exists=True, dir_okay=False),
                               help="file of NAME=VALUE lines")


@main.command()
@click.argument("files", nargs=-1, required=True, type=click.Path())
@var_option
@var_file_option
def validate(files, variables, var_files):
    """Check experiment files without running anything."""
    from chaos.spec import load_experiment

    values = _variables(variables, var_files)
    problems = []
    for file in files:
        try:
            load_experiment(file, values)
            console.print(f"{file}: ok", markup=False)
        except SpecError as exc:
            problems += exc.problems
    if problems:
        _fail(SpecError(problems))


@main.command()
@click.argument("file", type=click.Path())
@var_option
@var_file_option
@click.option("--dry-run", is_flag=True, help="print the plan and the timeline, start nothing")
@click.option("--seed", type=int, default=None, help="seed for the analysis (bootstrap resampling)")
@click.option("--report-dir", type=click.Path(file_okay=False), default=None, help="where run dirs are written")
def run(file, variables, var_files, dry_run, seed, report_dir):
    """Run one experiment. Exit: 0 held, 1 deviated, 2 bad input, 3 aborted, 4 environment error, 5 inconclusive."""
    sys.exit(run_experiment(file, _variables(variables, var_files), dry_run=dry_run, seed=seed,
                            report_dir=report_dir))


def run_experiment(file, variables: dict[str, str], *, dry_run=False, seed=None, report_dir=None) -> int:
    from chaos.plan import make_plan
    from chaos.spec import load_experiment

    try:
        loaded = load_experiment(file, variables)
        plan = make_plan(loaded, seed=seed)
    except ChaosError as exc:
        _fail(exc)
    if report_dir:
        plan.report["dir"] = str(Path(report_dir).resolve())
    if dry_run:
        _print_plan(plan)
        return 0
    from chaos.runner import Runner

    started = time.monotonic()
    console.print(f"[bold]{plan.experiment}[/] run {plan.run_id} ({plan.duration:.0f}s of load)")

    def progress(message: str) -> None:
        console.print(f"  {time.monotonic() - started:6.1f}s  {message}", markup=False)

    result = Runner(plan, on_progress=progress).run()
    _print_result(result)
    return result.exit_code


def _print_plan(plan) -> None:
    from chaos.runner import steps

    console.print(f"[bold]{plan.experiment}[/]  {plan.description}")
    console.print("targets: " + ", ".join(f"{t.name} ({t.image})" for t in plan.targets), markup=False)
    console.print("links:   " + ", ".join(link.name for link in plan.links), markup=False)
    load = plan.load
    console.print(f"load:    {load['users']} users ({load['model']} model) from {Path(load['locustfile']).name}",
                  markup=False)
    console.print("timeline:")
    names = {f.id: f.name for f in plan.faults}
    for step in steps(plan):
        subject = names.get(step.subject, step.subject)
        console.print(f"  {step.at:7.1f}s  {step.action.replace('_', ' '):12} {subject}", markup=False)
    for hypothesis in plan.steady_state:
        bound = f"<= {hypothesis['max']}" if hypothesis["max"] is not None else f">= {hypothesis['min']}"
        console.print(f"hypothesis: {hypothesis['name']}: {hypothesis['metric']} {bound} in "
                      f"{', '.join(hypothesis['phases'])}", markup=False)


def _print_result(result) -> None:
    summary = result.summary or {}
    verdict = summary.get("verdict") or result.outcome
    style = VERDICT_STYLE.get(verdict, "bold")
    console.print(f"[{style}]{verdict.upper()}[/]  exit {result.exit_code}" +
                  (f"  score {summary['score']:.0f}/100" if summary.get("score") is not None else ""))
    if result.error:
        console.print(f"  {result.error}", markup=False)
    for check in summary.get("checks", []):
        mark = {"held": "ok  ", "deviated": "FAIL", "inconclusive": "??  "}.get(check["verdict"], check["verdict"])
        console.print(f"  {mark} {check['hypothesis']} [{check['phase']}] {check['metric']}: "
                      f"{_fmt(check.get('observed'))} {check.get('op', '')} {_fmt(check.get('threshold'))}",
                      markup=False)
    html = result.reports.get("html") if result.reports else None
    console.print(f"  report: {html or result.run_dir}", markup=False)


def _fmt(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


@main.command()
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False))
def report(run_dir):
    """Render the reports of a run dir again (pure: needs no Docker)."""
    from chaos.report import render_all

    for kind, path in render_all(Path(run_dir)).items():
        console.print(f"{kind}: {path}", markup=False)


@main.command()
@click.option("--run", "run_id", default=None, help="only this run id (default: every run the harness left)")
def clean(run_id):
    """Revert faults and remove every container, network and volume a run left (e.g. after SIGKILL)."""
    from chaos.system import engine, remove_run

    try:
        removed = remove_run(engine(), run_id)
    except ChaosError as exc:
        _fail(exc)
    for item in removed:
        console.print(f"removed {item}", markup=False)
    console.print(f"clean: {len(removed)} item(s) removed", markup=False)


@main.command()
def doctor():
    """Check that everything the harness needs is here; exit 0 only when all is."""
    from chaos.doctor import doctor_command

    sys.exit(doctor_command())


@main.command()
@click.option("--report-dir", type=click.Path(file_okay=False), default=None)
def demo(report_dir):
    """The flagship: 300 ms latency on api -> redis, against shop api v1 (naive) and v2 (resilient)."""
    root = Path(__file__).resolve().parent.parent
    experiment = root / "experiments" / "shop-redis-latency.yaml"
    codes = {}
    for version in ("v1", "v2"):
        console.rule(f"shop api {version}")
        codes[version] = run_experiment(str(experiment), {"API_VERSION": version}, report_dir=report_dir)
    console.rule("demo")
    names = {0: "held", 1: "deviated", 3: "aborted", 5: "inconclusive"}
    for version, code in codes.items():
        console.print(f"api {version}: {names.get(code, f'error (exit {code})')}", markup=False)
    sys.exit(0 if all(code in names for code in codes.values()) else 4)


if __name__ == "__main__":
    main()
