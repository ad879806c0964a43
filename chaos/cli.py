"""The `chaos` command. Thin: parses arguments and calls the modules that do the work."""

from __future__ import annotations

import dataclasses
import re
import sys
import time
from pathlib import Path

import click
from rich.markup import escape

from chaos import __version__
from chaos.cli_common import (
    VERDICT_STYLE,
    console,
    err,
    fail,
    tolerances as _tolerances,
    var_file_option,
    var_option,
    variables_given,
    warn as _warn,
)
from chaos.errors import ChaosError, EnvironmentProblem, SpecError
from chaos.ab_cli import ab_command, calibrate_command  # beside chaos.ab, as the game day's are beside theirs
from chaos.gameday.cli import gameday  # the game-day commands live beside their modules


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="chaos")
def main() -> None:
    """Resilience experiments against services in Docker: real faults, real load, verdicts with statistics."""


@main.command()
@click.argument("files", nargs=-1, required=True, type=click.Path())
@var_option
@var_file_option
def validate(files, variables, var_files):
    """Check experiment files without running anything."""
    from chaos.spec import load_experiment

    values = variables_given(variables, var_files)
    problems = []
    for file in files:
        try:
            loaded = load_experiment(file, values)
            _warn(loaded.warnings)
            console.print(f"{file}: ok", markup=False)
        except SpecError as exc:
            problems += exc.problems
    if problems:
        fail(SpecError(problems))


@main.command("schema")
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None,
              help="write it to this file (default: standard output)")
def schema_command(output):
    """Print the JSON Schema of experiment files, for editors (see docs/experiment-reference.md)."""
    import json

    from chaos.schema import experiment_schema

    text = json.dumps(experiment_schema(), indent=2, ensure_ascii=False) + "\n"
    if output:
        Path(output).write_text(text, encoding="utf-8")
    else:
        click.echo(text, nl=False)


@main.command()
@click.argument("compose_files", nargs=-1, required=True, type=click.Path())
@click.option("-o", "--output", default="experiment.yaml", show_default=True, type=click.Path(dir_okay=False),
              help="where to write it ('-': standard output)")
@click.option("--force", is_flag=True, help="overwrite the output file if it exists")
@click.option("--profile", "profiles", multiple=True, help="a compose profile to enable (repeatable)")
@var_option
@var_file_option
def init(compose_files, output, force, profiles, variables, var_files):
    """Write a commented starter experiment for compose file(s) (several: read in order, as docker compose
    -f a -f b; one: with the override file beside it, as docker compose reads it); it validates as written."""
    from chaos.scaffold import validated_starter

    if output != "-" and Path(output).exists() and not force:
        raise click.UsageError(f"{output} exists (pass --force to overwrite it, or -o another file)")
    try:
        text = validated_starter(list(compose_files), "experiment.yaml" if output == "-" else output,
                                 variables_given(variables, var_files), tuple(profiles))
    except ChaosError as exc:
        fail(exc)
    if output == "-":
        click.echo(text, nl=False)
        return
    Path(output).parent.mkdir(parents=True, exist_ok=True)
    Path(output).write_text(text, encoding="utf-8")
    console.print(f"wrote {output}: check it with `chaos validate {output}`, see the timeline with "
                  f"`chaos run {output} --dry-run`", markup=False)


@main.command()
@click.argument("file", type=click.Path())
@var_option
@var_file_option
@click.option("--dry-run", is_flag=True, help="print the plan and the timeline, start nothing")
@click.option("--seed", type=int, default=None, help="seed for the analysis (bootstrap resampling) and for faults that pick containers at random")
@click.option("--report-dir", type=click.Path(file_okay=False), default=None, help="where run dirs are written")
@click.option("--baseline", type=click.Path(exists=True, file_okay=False), default=None,
              help="a run dir or a directory of runs: exit 1 if this run is worse than it (see docs/ci.md)")
@click.option("--tolerance", "tolerances", multiple=True, metavar="[METRIC=]FRACTION",
              help="with --baseline: changes inside ±this count as no change (default 10%; e.g. p99=25%)")
@click.option("--baseline-last", type=click.IntRange(1, 50), default=1, show_default=True,
              help="with --baseline: pool the N most recent completed baseline runs")
@click.option("--keep-system", is_flag=True,
              help="however the run ends, revert every fault and stop the load, but leave the containers, networks, "
                   "volumes and link proxies up for inspection (remove them with `chaos clean --run ID`)")
def run(file, variables, var_files, dry_run, seed, report_dir, baseline, tolerances, baseline_last, keep_system):
    """Run one experiment. Exit: 0 held, 1 deviated (or worse than --baseline), 2 bad input, 3 aborted,
    4 environment error, 5 inconclusive."""
    sys.exit(run_experiment(file, variables_given(variables, var_files), dry_run=dry_run, seed=seed,
                            report_dir=report_dir, baseline=baseline,
                            # parsed only when given: the comparison's imports (pandas) cost a second at start
                            tolerances=_tolerances(tolerances) if tolerances else None,
                            baseline_last=baseline_last, keep_system=keep_system))


def run_experiment(file, variables: dict[str, str], *, dry_run=False, seed=None, report_dir=None,
                   baseline=None, tolerances=None, baseline_last=1, keep_system=False) -> int:
    from chaos.plan import make_plan
    from chaos.spec import load_experiment

    try:
        loaded = load_experiment(file, variables)
        plan = make_plan(loaded, seed=seed)
    except ChaosError as exc:
        fail(exc)
    _warn(loaded.warnings)
    if report_dir:
        plan.with_report_dir(Path(report_dir).resolve())
    baseline_runs = _baseline(baseline, plan.experiment, baseline_last) if baseline else None
    if dry_run:
        _print_plan(plan)
        return 0
    from chaos.live import LiveView
    from chaos.runner import Runner
    from chaos.secrets import scrub

    started = time.monotonic()
    console.print(f"[bold]{escape(plan.experiment)}[/] run {plan.run_id} ({plan.duration:.0f}s of load)")
    hide = plan.secret_values  # fault and hypothesis names may hold them; CI logs keep this output
    with LiveView(console) as view:
        def progress(message: str) -> None:
            view.message(scrub(f"  {time.monotonic() - started:6.1f}s  {message}", hide))

        def status(snapshot) -> None:
            view.update(dataclasses.replace(
                snapshot, active_faults=scrub(list(snapshot.active_faults), hide),
                hypotheses=[(scrub(label, hide), state) for label, state in snapshot.hypotheses]))

        result = Runner(plan, on_progress=progress, on_status=status, keep_system=keep_system).run()
    if result.error:
        result.error = scrub(result.error, hide)
    _print_result(result)
    if keep_system and _system_kept(result.run_dir):
        console.print(f"  system kept, every fault reverted: inspect it with `docker ps --filter label=chaos.run="
                      f"{plan.run_id}`, remove it with `chaos clean --run {plan.run_id}`", markup=False)
    if baseline_runs is None:
        return result.exit_code
    return _against_baseline(result, baseline_runs, tolerances, plan.secret_values)


def _system_kept(run_dir: Path) -> bool:
    """The run got as far as starting a system, and kept it (a run that failed before has nothing to keep)."""
    from chaos.journal import read_journal_lines

    return any(e.get("event") == "system_kept" for e in read_journal_lines(run_dir / "journal.jsonl")[0])


def _baseline(path: str, experiment: str, last: int):
    """The baseline runs, checked before anything starts: a wrong path is bad input (exit 2)."""
    from chaos.compare import CompareInputError, baseline_side

    try:
        return baseline_side(path, experiment, last)
    except CompareInputError as exc:
        err.print(f"--baseline {path}: {exc}", markup=False)
        sys.exit(2)


def _against_baseline(result, baseline_runs, tolerances, secrets) -> int:
    from chaos.compare import Settings, against_baseline, gate_exit_code
    from chaos.report import render_all, write_comparison
    from chaos.report.compare_view import render_compare_text

    if result.outcome != "completed":
        console.print(f"  baseline: not compared (the run {result.outcome})", markup=False)
        return result.exit_code
    tolerance, per_metric = tolerances or _tolerances(())
    settings = Settings(tolerance=tolerance, per_metric=per_metric)
    comparison = against_baseline(result.run_dir, baseline_runs, settings)
    written = write_comparison(comparison, result.run_dir)
    render_all(result.run_dir, formats=("md",), secrets=secrets)  # report.md now ends with the comparison
    console.print(render_compare_text(comparison), markup=False)
    console.print(f"  comparison: {written['html']}", markup=False)
    return gate_exit_code(result.exit_code, comparison)


def _described_target(target) -> str:
    """In start order, as the system comes up: ``api (chaos-shop-api:v1)``, ``web (nginx, 3 replicas)``."""
    extra = f", {target.replicas} replicas" if target.replicas != 1 else ""
    return f"{target.name} ({target.image}{extra})"


def _print_plan(plan) -> None:
    from chaos.plan import start_order, steps

    console.print(f"[bold]{escape(plan.experiment)}[/]  {escape(plan.description)}")
    console.print("targets: " + ", ".join(_described_target(t) for t in start_order(plan.targets)), markup=False)
    console.print("links:   " + ", ".join(link.name + (" (http)" if link.is_http else "") for link in plan.links),
                  markup=False)
    load = plan.load
    source = Path(load.locustfile).name if load.locustfile else f"a scenario of {len(load.scenario)} requests"
    amount = f"{load.rate:g} requests/s" if load.model == "open" else f"{load.users} users"
    console.print(f"load:    {amount} ({load.model} model) from {source}", markup=False)
    console.print("timeline:")
    faults = {f.id: f for f in plan.faults}
    for step in steps(plan):
        fault = faults.get(step.subject)
        subject = fault.name if fault else step.subject
        if fault and step.action == "inject" and fault.settings:
            subject += f": {fault.settings}"
        detail = " " + " ".join(f"{k}={v}" for k, v in step.detail.items()) if step.detail else ""
        console.print(f"  {step.at:7.1f}s  {step.action.replace('_', ' '):12} {subject}{detail}", markup=False)
    for hypothesis in plan.steady_state:
        bound = " and ".join(f"{op} {_bound_text(hypothesis.metric, value)}"
                             for op, value in reversed(hypothesis.bounds()))  # the min first: "between"
        console.print(f"hypothesis: {hypothesis.name}: {hypothesis.metric} {bound} in "
                      f"{', '.join(hypothesis.phases)}", markup=False)


def _bound_text(metric: str, value: float) -> str:
    """A plan's bound in the unit it was written in: 500ms, 1%, 20."""
    if metric in ("error_rate", "success_rate"):
        return f"{value * 100:g}%"
    if metric.startswith("latency."):
        return f"{value:g}ms"
    return f"{value:g}"


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
    """Render the reports of a run dir again (pure: needs no Docker). Exit 2, writing nothing, when this
    harness cannot read the run dir (a file missing, a schema version it does not know)."""
    from chaos.journal import read_journal_lines, unreadable_notes
    from chaos.report import render_all
    from chaos.rundir import RunDirError, gaps

    try:
        written = render_all(Path(run_dir))
    except RunDirError as exc:
        err.print(f"chaos report: {exc}", markup=False)
        sys.exit(exc.exit_code)
    for line in gaps(Path(run_dir)):  # a killed run's dir: rendered from what it has, and says what it lacks
        err.print(f"chaos report: {line}", markup=False)
    journal = Path(run_dir) / "journal.jsonl"
    for note in unreadable_notes(journal, read_journal_lines(journal)[1]):
        err.print(f"chaos report: {Path(run_dir) / note}", markup=False)
    for kind, path in written.items():
        console.print(f"{kind}: {path}", markup=False)


@main.command("compare")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, file_okay=False))
@click.option("--tolerance", "tolerances", multiple=True, metavar="[METRIC=]FRACTION",
              help="changes inside ±this count as no change (default 10%; error rate: that share of the baseline "
                   "rate, at least 0.5 pp); METRIC=FRACTION for one metric, e.g. p99=25% (repeatable)")
@click.option("--last", type=click.IntRange(1, 50), default=1, show_default=True,
              help="in a directory: pool the N most recent completed runs of each experiment")
@click.option("--phase", "phases", multiple=True, help="compare only this phase (repeatable; default: all but warmup)")
@click.option("--label", "labels", multiple=True, help="a name for each side, in order")
@click.option("--out", type=click.Path(file_okay=False), default="chaos-compare", show_default=True,
              help="where compare.html, compare.md and compare.json are written")
@click.option("--fail-on", type=click.Choice(["worse", "better", "change", "inconclusive"]), multiple=True,
              help="exit 1 if any metric has this verdict (repeatable; change = worse or better)")
def compare_command(paths, tolerances, last, phases, labels, out, fail_on):
    """Compare runs side by side: RUN_A (the baseline) against RUN_B [RUN_C...], each a run dir or a
    directory of runs. Exit: 0, 1 when a verdict named by --fail-on occurs, 2 bad input."""
    from chaos.compare import CompareInputError, Settings, compare, exit_code
    from chaos.report import write_comparison
    from chaos.report.compare_view import render_compare_text

    if len(paths) < 2:
        raise click.UsageError("compare needs at least two run dirs or directories of runs")
    try:
        tolerance, per_metric = _tolerances(tolerances)
        settings = Settings(tolerance=tolerance, per_metric=per_metric, last=last, phases=tuple(phases) or None)
        comparison = compare(list(paths), settings, labels=list(labels))
    except CompareInputError as exc:
        err.print(f"chaos compare: {exc}", markup=False)
        sys.exit(2)
    written = write_comparison(comparison, out)
    console.print(render_compare_text(comparison), markup=False)
    console.print(f"comparison: {written['html']}  ({written['md'].name}, {written['json'].name})", markup=False)
    sys.exit(exit_code(comparison, tuple(fail_on)))


RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")


@main.command()
@click.option("--run", "run_id", default=None, help="only this run id (default: every run the harness left)")
@click.option("--faults-only", is_flag=True,
              help="revert the faults the runs' ledgers leave injected, remove nothing (a post-mortem of a killed "
                   "run: inspect its system as it is, then `chaos clean --run ID`)")
@click.option("--all", "include_live", is_flag=True,
              help="with --run: clean that run even though its harness (or game day, or pytest session) is still "
                   "running (default: such runs are skipped, and named)")
def clean(run_id, faults_only, include_live):
    """Revert faults and remove every container, network and volume a run left (e.g. after SIGKILL).
    Idempotent. Exit: 0, 2 bad usage, 4 Docker unreachable."""
    import docker.errors

    from chaos import ledger
    from chaos.system import engine, leases, remove_run

    if run_id is not None and not RUN_ID.fullmatch(run_id):
        raise click.BadParameter(f"{run_id!r} is not a run id (letters, digits, '.', '_', '-'; "
                                 "`docker ps -a --filter label=chaos.run` shows them)", param_hint="--run")
    if include_live and run_id is None:  # never every live run of the engine at once: name the one to take
        live = ", ".join(ledger.describe(entry) for entry in ledger.live_entries()) or "none"
        raise click.UsageError(f"--all cleans a run whose owner is still running: name it with --run ID "
                               f"(still running: {live}); plain `chaos clean` removes every run whose owner is gone")
    try:
        client = engine()
        gone = ledger.gone_runs()  # before the replay below forgets them
        # faults first, from the journal, while targets still exist
        for message in ledger.clean(client, run_id, include_live=include_live):
            console.print(message, markup=False)
        if faults_only:
            console.print("clean: faults only, nothing removed" +
                          (f" (remove the run with `chaos clean --run {run_id}`)" if run_id else ""), markup=False)
            return
        # Only runs proven ours and over: a live owner (a run, a game day, a pytest session) keeps its system.
        chosen, skipped = ledger.removable(leases(client), gone, ledger.live_runs(), run_id, include_live)
        for message in skipped:
            console.print(message, markup=False)
        removed = [item for found in chosen for item in remove_run(client, found)]
    except ChaosError as exc:
        fail(exc)
    except (docker.errors.DockerException, OSError) as exc:  # requests' timeouts are OSErrors
        fail(EnvironmentProblem(f"clean: the Docker engine did not answer ({exc.__class__.__name__}: {exc}); "
                                 "nothing more was removed: run `chaos clean` again once it answers"))
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


main.add_command(gameday)
main.add_command(ab_command)
main.add_command(calibrate_command)

if __name__ == "__main__":
    main()
