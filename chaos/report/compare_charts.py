"""Overlaid charts of a comparison as inline SVG: one line per run, one colour per side.

The x axis is seconds since each run's first phase start, so the phases of runs that took
different times to set up line up; phases and fault windows are those of the baseline's
newest run.
"""

from __future__ import annotations

import io

import matplotlib
import numpy as np
from matplotlib.figure import Figure
from matplotlib.transforms import blended_transform_factory

from chaos.report import charts

SIDE_COLORS = ("#0969da", "#e16f24", "#8250df", "#1a7f37", "#bf3989", "#57606a")
PANELS = (
    ("p99", "p99 latency (ms)", 1000.0, 3.0),
    ("p50", "p50 latency (ms)", 1000.0, 2.4),
    ("error_rate", "error rate (%)", 100.0, 2.2),
    ("throughput", "requests / s", 1.0, 2.2),
)


def side_color(index: int) -> str:
    return SIDE_COLORS[index % len(SIDE_COLORS)]


def experiment_charts(experiment: dict, key: str) -> list[dict]:
    if not any(run.get("t") for runs in experiment["series"] for run in runs):
        return []
    out = []
    for field, ylabel, _, height in PANELS:
        svg = _chart(f"{key}-{field}", experiment, field, ylabel, height, phase_names=field == "p99")
        out.append({"field": field, "caption": ylabel[0].upper() + ylabel[1:], "svg": svg})
    return out


def _chart(name: str, experiment: dict, field: str, ylabel: str, height: float, phase_names: bool) -> str:
    with matplotlib.rc_context({**charts.RC, "svg.hashsalt": f"chaos-compare-{name}"}):
        fig = Figure(figsize=(charts.WIDTH_IN, height))
        ax = fig.add_subplot()
        fig.subplots_adjust(bottom=0.5 / height + 0.05, top=1 - (0.3 if phase_names else 0.12) / height,
                            **charts.MARGINS)
        _context(ax, experiment["timeline"], labels=phase_names)
        top, bottom, end = 0.0, np.inf, 1.0
        for side, runs in enumerate(experiment["series"]):
            for position, run in enumerate(runs):
                if not run.get("t"):
                    continue
                t = np.asarray(run["t"], dtype=float) + 0.5
                values = np.array([np.nan if v is None else v for v in run[field]], dtype=float)
                if field == "error_rate":
                    values = values * 100
                newest = position == 0
                ax.plot(t, values, color=side_color(side), lw=1.7 if newest else 1.0, alpha=1.0 if newest else 0.45,
                        zorder=3 if side == 0 else 4)
                end = max(end, t[-1] + 0.5)
                if np.isfinite(values).any():
                    top = max(top, float(np.nanmax(values)))
                    positive = values[np.isfinite(values) & (values > 0)]
                    if len(positive):
                        bottom = min(bottom, float(positive.min()))
        if field.startswith("p") and top > 0 and bottom < np.inf and top / bottom > 30:
            ax.set_yscale("log")
        else:
            ax.set_ylim(0, max(top * 1.15, 1.0 if field == "error_rate" else top * 1.15 or 1.0))
        ax.set_xlim(0, end)
        ax.set_ylabel(ylabel)
        ax.set_xlabel("seconds since the first phase start", fontsize=9)
        ax.grid(axis="y", color="#eaeef2", linewidth=0.8)
        ax.set_axisbelow(True)
        buffer = io.StringIO()
        fig.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None})
    return charts.inline_svg(buffer.getvalue(), name)


def _context(ax, timeline: dict, labels: bool) -> None:
    top = blended_transform_factory(ax.transData, ax.transAxes)
    for phase in timeline.get("phases") or []:
        ax.axvspan(phase["start_s"], phase["end_s"], color=charts.phase_color(phase["name"]), lw=0, zorder=0)
        if labels:
            ax.text((phase["start_s"] + phase["end_s"]) / 2, 1.02, phase["name"], transform=top,
                    ha="center", va="bottom", fontsize=9, color="#57606a")
    for fault in timeline.get("faults") or []:
        ax.axvspan(fault["start_s"], fault["end_s"], facecolor="none", edgecolor=charts.FAULT_EDGE, hatch="///",
                   alpha=0.25, lw=0, zorder=0.5)
