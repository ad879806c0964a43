"""A comparison -> one self-contained HTML page: inline CSS, inline SVG charts, no script, no network."""

from __future__ import annotations

from chaos import __version__
from chaos.report import charts, compare_charts
from chaos.report import compare_view as view
from chaos.report.html import template_environment


def render_compare_html(comparison: dict) -> str:
    env = template_environment()
    env.globals["side_color"] = compare_charts.side_color
    sides = view.side_rows(comparison)
    experiments = [{
        "name": e["name"],
        "rows": view.metric_rows(e),
        "charts": compare_charts.experiment_charts(e, key=f"e{index}"),
    } for index, e in enumerate(comparison["experiments"])]
    title = " · ".join(dict.fromkeys(e["name"] for e in comparison["experiments"])) or "comparison"
    return env.get_template("compare.html.j2").render(
        version=__version__,
        schema=comparison["schema"],
        title=title,
        verdict_label=view.VERDICT_LABEL[comparison["verdict"]],
        verdict_css=view.VERDICT_CLASS[comparison["verdict"]],
        pairs=view.pair_rows(comparison),
        letters={s["label"]: s["letter"] for s in sides},
        sides=sides,
        settings=view.settings_text(comparison),
        raw_settings=comparison["settings"],
        experiments=experiments,
        pairing=comparison.get("pairing"),
        rounds=view.pairing_rows(comparison),
        phase_color=charts.phase_color,
    )
