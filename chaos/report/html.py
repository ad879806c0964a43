"""summary -> one self-contained HTML page: inline CSS, inline SVG charts, no script, no network."""

from __future__ import annotations

from pathlib import Path

import jinja2

from chaos import __version__
from chaos.analysis import (
    BAND_ADD_MS,
    BAND_ERROR_ADD,
    BAND_FACTOR,
    DEGRADE_WINDOWS,
    MIN_WINDOWS,
    RECOVERY_WINDOWS,
    STALL_MIN_ANSWERS,
)
from chaos.report import charts, view

TEMPLATES = Path(__file__).parent / "templates"


def template_environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
    )
    env.globals["phase_color"] = charts.phase_color
    return env


def render_html(summary: dict) -> str:
    template = template_environment().get_template("report.html.j2")
    return template.render(
        s=summary,
        version=__version__,
        verdict_label=view.VERDICT_LABEL[summary["verdict"]],
        score=view.score_text(summary),
        counts=view.counts_text(summary),
        exit_code=view.code(summary),
        duration=view.seconds(summary["run"]["duration_s"], 1),
        checks=view.check_rows(summary),
        timeline=view.timeline(summary),
        charts=charts.all_charts(summary),
        faults=view.fault_rows(summary),
        phases=view.phase_rows(summary),
        request_tables=view.request_tables(summary),
        environment=view.environment_rows(summary),
        targets=(summary.get("environment") or {}).get("targets") or [],
        warnings=_warnings(summary),
        band=summary.get("baseline_band"),
        rules={"min_windows": MIN_WINDOWS, "recovery_windows": RECOVERY_WINDOWS,
               "band_factor": BAND_FACTOR, "band_add_ms": BAND_ADD_MS,
               "band_error_pp": BAND_ERROR_ADD * 100, "degrade_windows": DEGRADE_WINDOWS,
               "stall_min_answers": STALL_MIN_ANSWERS},
    )


def _warnings(summary: dict) -> list[str]:
    notes = list(summary["run"].get("warnings") or [])
    for fault in summary.get("faults") or []:
        if fault["injected"] and not fault["reverted"]:
            notes.append(f"Fault {fault['id']} was injected but the journal has no revert for it: "
                         f"check the target, or run `chaos clean`.")
    if summary["run"].get("outcome") is None:
        notes.append("The journal has no run_ended event: the harness may have been killed; data may be partial.")
    elif summary["run"]["outcome"] == "error":
        notes.append(f"The run ended with an error: {summary['run'].get('error') or 'unknown'}")
    return notes
