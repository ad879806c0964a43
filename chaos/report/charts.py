"""Charts over time as inline SVG strings (matplotlib, no pyplot: no global backend state).

Every chart shares the x axis (seconds since run start) and the same margins, so the
charts stacked in the report line up; phases are shaded, fault windows hatched and
aborts drawn as dashed lines.
"""

from __future__ import annotations

import io
import math
import re

import matplotlib
import numpy as np
from matplotlib.figure import Figure
from matplotlib.transforms import blended_transform_factory

PHASE_COLORS = {"warmup": "#eef1f4", "baseline": "#e3f0ff", "fault": "#ffe9e6", "recovery": "#e2f6e6"}
OTHER_PHASE = "#f4f1fa"
FAULT_EDGE = "#d1242f"
ABORT_COLOR = "#8250df"
STATUS_COLORS = {"2xx": "#2da44e", "3xx": "#54aeff", "4xx": "#d4a72c", "5xx": "#cf222e",
                 "none": "#57606a", "other": "#a475f9"}
STATUS_LABELS = {"none": "no response"}
WIDTH_IN, MARGINS = 11.0, {"left": 0.065, "right": 0.985}
RC = {
    "svg.fonttype": "none",
    "font.family": "sans-serif",
    "font.sans-serif": ["Inter", "Segoe UI", "Helvetica Neue", "Arial", "DejaVu Sans"],
    "font.size": 10,
    "axes.edgecolor": "#d0d7de",
    "axes.labelcolor": "#424a53",
    "xtick.color": "#57606a",
    "ytick.color": "#57606a",
    "axes.spines.top": False,
    "axes.spines.right": False,
    "legend.frameon": False,
}


def phase_color(phase: str) -> str:
    return PHASE_COLORS.get(phase, OTHER_PHASE)


def all_charts(summary: dict) -> dict[str, str]:
    series = summary.get("series") or {}
    if not series.get("t"):
        return {}
    return {
        "latency": _chart("latency", summary, _draw_latency, height=3.0, labels=True),
        "throughput": _chart("throughput", summary, _draw_throughput, height=2.2),
        "errors": _chart("errors", summary, _draw_errors, height=2.2),
        "status": _chart("status", summary, _draw_status, height=2.4),
    }


def _chart(name: str, summary: dict, draw, height: float, labels: bool = False) -> str:
    with matplotlib.rc_context({**RC, "svg.hashsalt": f"chaos-{name}"}):
        fig = Figure(figsize=(WIDTH_IN, height))
        ax = fig.add_subplot()
        fig.subplots_adjust(bottom=0.5 / height + 0.05, top=1 - (0.42 if labels else 0.12) / height, **MARGINS)
        series = summary["series"]
        t = np.asarray(series["t"], dtype=float) + series["window_s"] / 2  # plot at window centres
        _context(ax, summary, labels)
        draw(ax, t, series)
        ax.set_xlim(0, max(series["t"][-1] + series["window_s"], 1.0))
        ax.set_xlabel("seconds since run start", fontsize=9)
        ax.grid(axis="y", color="#eaeef2", linewidth=0.8)
        ax.set_axisbelow(True)
        buffer = io.StringIO()
        fig.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None})
    return inline_svg(buffer.getvalue(), name)


def _context(ax, summary: dict, labels: bool) -> None:
    """Phase shading, fault hatching, abort lines; names above the plot when asked."""
    top = blended_transform_factory(ax.transData, ax.transAxes)
    for phase in summary.get("phases") or []:
        for seg in phase["segments"]:
            ax.axvspan(seg["start_s"], seg["end_s"], color=phase_color(phase["name"]), lw=0, zorder=0)
            if labels:
                ax.text((seg["start_s"] + seg["end_s"]) / 2, 1.02, phase["name"], transform=top,
                        ha="center", va="bottom", fontsize=9, color="#57606a")
    for fault in summary.get("faults") or []:
        if fault.get("injected_s") is None:
            continue
        end = fault["reverted_s"] if fault.get("reverted_s") is not None else summary["run"]["duration_s"]
        ax.axvspan(fault["injected_s"], end, facecolor="none", edgecolor=FAULT_EDGE, hatch="///",
                   alpha=0.25, lw=0, zorder=0.5)
        if labels:
            ax.text(fault["injected_s"], 1.13, f" {fault['id']} {fault.get('kind') or ''}", transform=top,
                    ha="left", va="bottom", fontsize=9, color=FAULT_EDGE, fontweight="bold")
    for abort in summary["run"].get("aborts") or []:
        ax.axvline(abort["at_s"], color=ABORT_COLOR, ls="--", lw=1.4, zorder=3)
        if labels:
            ax.text(abort["at_s"], 1.13, " abort", transform=top, ha="left", va="bottom",
                    fontsize=9, color=ABORT_COLOR, fontweight="bold")


def _values(series: dict, key: str) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in series[key]], dtype=float)


def _peak(values: np.ndarray) -> float:
    return float(np.nanmax(values)) if np.isfinite(values).any() else 0.0


def _loaded(series: dict) -> slice:
    """Windows from the first one with load: a stack drawn from zero before it would be a fake ramp."""
    rates = series["throughput"]
    first = next((i for i, v in enumerate(rates) if v is not None), 0)
    return slice(first, None)


def _draw_latency(ax, t, series) -> None:
    lines = {"p50": ("#0969da", 1.4), "p95": ("#bf8700", 1.4), "p99": ("#cf222e", 1.8)}
    top, bottom = 0.0, math.inf
    for key, (color, width) in lines.items():
        values = _values(series, key)
        ax.plot(t, values, color=color, lw=width, label=key, zorder=2)
        if np.isfinite(values).any():
            top, bottom = max(top, np.nanmax(values)), min(bottom, np.nanmin(values))
    if top > 0 and bottom > 0 and top / bottom > 50:
        ax.set_yscale("log")
    else:
        ax.set_ylim(0, top * 1.1 if top > 0 else 1)
    ax.set_ylabel("latency (ms)")
    ax.legend(loc="upper left", ncols=3, fontsize=9, bbox_to_anchor=(0, 1.0))


def _draw_throughput(ax, t, series) -> None:
    values = _values(series, "throughput")
    ax.fill_between(t, np.nan_to_num(values), where=np.isfinite(values), color="#0969da", alpha=0.15, lw=0, zorder=1)
    ax.plot(t, values, color="#0969da", lw=1.4, zorder=2)
    ax.set_ylim(0, max(_peak(values) * 1.15, 1))
    ax.set_ylabel("requests / s")


def _draw_errors(ax, t, series) -> None:
    values = _values(series, "error_rate") * 100
    ax.fill_between(t, np.nan_to_num(values), color="#cf222e", alpha=0.15, lw=0, zorder=1)
    ax.plot(t, values, color="#cf222e", lw=1.4, zorder=2)
    ax.set_ylim(0, max(_peak(values) * 1.15, 1.0))
    ax.set_ylabel("error rate (%)")


def _draw_status(ax, t, series) -> None:
    window = series["window_s"]
    classes = [k for k in STATUS_COLORS if any(series["status"].get(k) or [])]
    if not classes:
        ax.set_ylim(0, 1)
    else:
        part = _loaded(series)
        stacks = [np.asarray(series["status"][k][part], dtype=float) / window for k in classes]
        ax.stackplot(t[part], stacks, colors=[STATUS_COLORS[k] for k in classes],
                     labels=[STATUS_LABELS.get(k, k) for k in classes], alpha=0.85, lw=0, zorder=2)
        ax.legend(loc="upper left", ncols=len(classes), fontsize=9)
        ax.set_ylim(0, max(np.sum(stacks, axis=0).max() * 1.3, 1))
    ax.set_ylabel("responses / s")


_ID = re.compile(r'id="([^"]+)"')


def inline_svg(svg: str, name: str) -> str:
    """Make matplotlib's standalone SVG fit inline: no prolog, no metadata, unique ids, fluid width."""
    svg = svg[svg.index("<svg"):]
    svg = re.sub(r"<metadata>.*?</metadata>\s*", "", svg, flags=re.S)
    for old in set(_ID.findall(svg)):
        new = f"{name}-{old}"
        svg = svg.replace(f'id="{old}"', f'id="{new}"').replace(f'"#{old}"', f'"#{new}"')
        svg = svg.replace(f"url(#{old})", f"url(#{new})")
    svg = re.sub(r'<svg ([^>]*?)width="[^"]+" height="[^"]+"', rf'<svg \1class="chart chart-{name}" role="img"', svg, count=1)
    # inline SVG in HTML needs no namespace declarations; SVG 2 takes plain href
    svg = re.sub(r'\s+xmlns(:xlink)?="[^"]+"', "", svg)
    return svg.replace("xlink:href=", "href=")
