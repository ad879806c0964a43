"""`chaos gameday ...`: plan, run, calendar, status, stop, report. Thin: parses and calls the modules."""

from __future__ import annotations

import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import click
from rich.markup import escape

from chaos.cli_common import VERDICT_STYLE, console, err, fail, var_file_option, var_option, variables_given
from chaos.errors import ChaosError

UTC = timezone.utc


def _load(file: str, variables: dict[str, str]):
    from chaos.gameday.model import load_gameday

    try:
        return load_gameday(file, variables)
    except ChaosError as exc:
        fail(exc)


@click.group()
def gameday() -> None:
    """Game days: a plan of several experiments on one system, with a schedule, live progress, a stop
    button and one combined report."""


@gameday.command("plan")
@click.argument("file", type=click.Path())
@var_option
@var_file_option
@click.option("--occurrences", default=5, show_default=True, help="how many scheduled starts to list")
def plan_command(file, variables, var_files, occurrences):
    """Print the resolved agenda with absolute times and the total duration; start nothing."""
    from datetime import timedelta

    from chaos.gameday import agenda as agenda_module
    from chaos.gameday import schedule

    day = _load(file, variables_given(variables, var_files))
    agenda = agenda_module.make_agenda(day)
    spec = day.spec
    now = datetime.now(UTC)
    console.print(f"[bold]{escape(spec.title)}[/]  ({escape(day.name)})", highlight=False)
    if spec.description:
        console.print(spec.description.strip(), markup=False)
    console.print(f"owners:  {', '.join(spec.owners)}", markup=False)
    system = (f"attach to {spec.system.attach}" if spec.system.attach
              else ", ".join(f"{name} ({service.image})" for name, service in (day.services or {}).items()))
    console.print(f"system:  {system}", markup=False)
    console.print(f"links:   {', '.join(day.links())}", markup=False)
    console.print(f"stop_on: {spec.stop_on} · pause {agenda_module.span(spec.pause)} between steps", markup=False)
    rule = day.rule()
    start = None
    if rule is None:
        console.print("schedule: none (run with --now)", markup=False)
    else:
        length = timedelta(seconds=agenda.total)
        listed = schedule.occurrences(rule, now - schedule.LATE_START_GRACE, length, occurrences)
        what = f"at {rule.at.isoformat()}" if rule.at else f"cron '{rule.cron}' in {rule.timezone}"
        console.print(f"schedule: {what}" + (f" · {len(rule.blackouts)} blackout window(s)" if rule.blackouts else ""),
                      markup=False)
        for occurrence in listed:
            note = "" if occurrence.runs else f"  skipped: blackout {occurrence.blackout.reason or ''}".rstrip()
            console.print(f"  {occurrence.start:%a %Y-%m-%d %H:%M %Z} → {occurrence.end:%H:%M %Z}{note}",
                          markup=False)
        if not listed:
            console.print("  no start left (use `gameday run --now`)", markup=False)
        start = next((o.start for o in listed if o.runs), None)
    console.print("")
    console.print("[bold]agenda[/]" + (f" (next start {start:%Y-%m-%d %H:%M %Z})" if start else
                                        " (from now)"), highlight=False)
    for line in agenda_module.lines(day, agenda, start or now.astimezone()):
        console.print(f"  {line}", markup=False)


@gameday.command("run")
@click.argument("file", type=click.Path())
@var_option
@var_file_option
@click.option("--now", "start_now", is_flag=True, help="start now instead of waiting for the scheduled start")
@click.option("--rehearse", is_flag=True, help="run the whole agenda with every fault recorded, none injected")
@click.option("--report-dir", type=click.Path(file_okay=False), default=None, help="where the day's folder is written")
def run_command(file, variables, var_files, start_now, rehearse, report_dir):
    """Run a game day. Exit: 0 held, 1 deviated, 2 bad input, 3 aborted, 4 environment error, 5 inconclusive,
    130/143 stopped (Ctrl-C / `chaos gameday stop`)."""
    from chaos.gameday.agenda import make_agenda, span
    from chaos.gameday.live import DayView
    from chaos.gameday.runner import GameDay, start_time

    day = _load(file, variables_given(variables, var_files))
    now = datetime.now(UTC)
    try:
        occurrence = start_time(day, make_agenda(day), now, start_now)
    except ChaosError as exc:
        fail(exc)
    runner = GameDay(day, rehearse=rehearse, start=None if start_now or day.rule() is None else occurrence,
                     report_dir=report_dir)
    steps = f"{len(day.steps)} step{'s' if len(day.steps) != 1 else ''}"
    console.print(f"[bold]game day {escape(day.spec.title)}[/] {runner.day_id}" + (" [bold]REHEARSAL[/]: faults are "
                  "recorded, none is injected" if rehearse else "") + f" · {steps}, "
                  f"≈{span(runner.agenda.total)} · stop: Ctrl-C or `chaos gameday stop`", highlight=False)
    with DayView(console) as view:
        runner.view = view
        result = runner.run()
    style = VERDICT_STYLE.get(result.verdict, "bold")
    console.print(f"[{style}]{result.verdict.upper()}[/]  exit {result.exit_code}  ({result.outcome})",
                  highlight=False)
    if result.error:
        console.print(f"  {result.error}", markup=False)
    if result.reports.get("html"):
        console.print(f"  report: {result.reports['html']}", markup=False)
    sys.exit(result.exit_code)


@gameday.command("calendar")
@click.argument("file", type=click.Path())
@var_option
@var_file_option
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None,
              help="where to write the .ics (default: <plan name>.ics next to the plan)")
@click.option("--events", default=12, show_default=True,
              help="events written for an open-ended rule that no RRULE can express")
def calendar_command(file, variables, var_files, output, events):
    """Write an iCalendar (.ics) file: one event per scheduled occurrence (an RRULE where one is exact)."""
    from chaos.gameday.agenda import make_agenda
    from chaos.gameday.calendar import calendar
    from chaos.secrets import scrub

    day = _load(file, variables_given(variables, var_files))
    if day.rule() is None:
        err.print(f"{file}: the plan has no schedule: nothing to put in a calendar", markup=False)
        sys.exit(2)
    try:
        data = calendar(day, make_agenda(day), datetime.now(UTC), events=events)
    except ValueError as exc:
        err.print(f"{file}: {exc}", markup=False)
        sys.exit(2)
    path = Path(output) if output else Path(file).with_suffix(".ics")
    path.write_bytes(scrub(data.decode(), day.secret_values).encode())
    console.print(f"calendar: {path}", markup=False)


@gameday.command("status")
@click.option("--json", "as_json", is_flag=True, help="machine-readable")
def status_command(as_json):
    """What game day is running now, its step and phase, and every fault it has injected (and reverted)."""
    import json

    from chaos.gameday.state import day_faults, running_days, step_faults

    days = running_days()
    report = []
    for day in days:
        current = step_faults(day.get("step_run_dir")) if day.get("state") == "running" and day.get("step") else None
        report.append({**day, "current": current, "faults": day_faults(day["day_dir"])})
    if as_json:
        console.print_json(json.dumps(report, default=str))
        return
    if not report:
        console.print("no game day is running", markup=False)
        return
    now = time.time()
    for day in report:
        console.print(f"[bold]{escape(str(day['title']))}[/] {escape(str(day['day_id']))}  pid {day['pid']}"
                      + ("  REHEARSAL (nothing is injected)" if day.get("rehearse") else ""), highlight=False)
        if day.get("state") == "waiting":
            console.print(f"  waiting for its start at {day.get('starts_at')}", markup=False)
        elif day.get("state") == "pause":
            console.print("  pause between steps", markup=False)
        elif day.get("step"):
            phase = (day["current"] or {}).get("phase")
            phase_text = (f", phase {phase['name']} for {now - phase['since_wall']:.0f}s" if phase else "")
            console.print(f"  step {day['step']}/{day['steps']}: {day.get('step_title')} "
                          f"({day.get('experiment')}){phase_text}", markup=False)
        active = [f for f in day["faults"] if f["injected_wall"] and not f["reverted_wall"]]
        console.print("  active now: " + (", ".join(f"{f['kind']} on {f['target']}" + (" (rehearsed)" if f["rehearsed"]
                                                      else "") for f in active) or "none"), markup=False)
        for fault in day["faults"]:
            injected = _hms(fault["injected_wall"])
            reverted = _hms(fault["reverted_wall"]) if fault["reverted_wall"] else "still active"
            console.print(f"  step {fault['step']} {fault['id']} {fault['kind']} on {fault['target']}: "
                          f"{'rehearsed' if fault['rehearsed'] else 'injected'} {injected}, reverted {reverted}"
                          + (f" ({fault['revert_reason']})" if fault["revert_reason"] else ""), markup=False)
        console.print(f"  folder: {day['day_dir']}", markup=False)


def _hms(wall: float | None) -> str:
    return datetime.fromtimestamp(wall).strftime("%H:%M:%S") if wall else "–"


@gameday.command("stop")
@click.argument("day_id", required=False)
@click.option("--reason", default="", help="recorded in the day's journal and report")
@click.option("--wait", default=15.0, show_default=True, help="seconds to wait for the day to confirm its reverts")
def stop_command(day_id, reason, wait):
    """Stop a running game day from any terminal: every fault is reverted at once and the day ends with a
    record of who stopped it."""
    from chaos.gameday.state import request_stop, running_days, step_faults

    days = running_days()
    if day_id:
        days = [d for d in days if d["day_id"] == day_id]
    if not days:
        err.print("no game day is running" + (f" with id {day_id}" if day_id else ""), markup=False)
        sys.exit(1)
    if len(days) > 1:
        err.print("several game days are running; name one:", markup=False)
        for day in days:
            err.print(f"  {day['day_id']}  {day['title']}", markup=False)
        sys.exit(2)
    day = days[0]
    step_dir = day.get("step_run_dir") if day.get("state") == "running" else None
    request = request_stop(day, reason)
    console.print(f"asked game day {day['day_id']} (pid {day['pid']}) to stop", markup=False)
    deadline = time.monotonic() + wait
    while True:
        faults = step_faults(step_dir)["faults"] if step_dir else []
        if not [f for f in faults if f["injected_wall"] and not f["reverted_wall"]]:
            break
        if time.monotonic() > deadline:
            err.print(f"the day did not confirm its reverts within {wait:.0f}s; see `chaos gameday status`",
                      markup=False)
            sys.exit(4)
        time.sleep(0.05)
    for fault in faults:
        if (fault["reverted_wall"] or 0) >= request["requested_wall"]:
            console.print(f"  reverted {fault['kind']} on {fault['target']} "
                          f"{fault['reverted_wall'] - request['requested_wall']:.2f}s after the request", markup=False)
    console.print(f"the day is ending; its report: {day['day_dir']}/report.html", markup=False)


@gameday.command("report")
@click.argument("day_dir", type=click.Path(exists=True, file_okay=False))
def report_command(day_dir):
    """Render the combined report of a day's folder again (pure: needs no Docker)."""
    from chaos.gameday.report import render_day

    for kind, path in render_day(Path(day_dir)).items():
        console.print(f"{kind}: {path}", markup=False)
