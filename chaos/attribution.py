"""Which phase each request belongs to and which faults were active when it was sent (pure).

Phases are the judged spans of ``spans.py``; fault windows come from ``fault_injected``/
``fault_reverted`` in the journal, on the monotonic clock the samples use (request start, or intended send time
in the open model)."""

from __future__ import annotations

import numpy as np

from chaos.spans import judged_segments


def phase_windows(events: list[dict]) -> list[tuple[str, float, float]]:
    """The judged spans (see spans.py): the phase a request is labelled with is the one it is judged in."""
    last = max((e["mono"] for e in events), default=0.0)
    return [(s.phase, s.start, s.end) for s in judged_segments(events, last)]


def fault_windows(events: list[dict]) -> list[tuple[str, float, float]]:
    opened: dict[str, float] = {}
    windows = []
    for event in events:
        if event["event"] == "fault_injected":
            opened.setdefault(event["fault_id"], event.get("in_effect_mono", event["mono"]))
        elif event["event"] == "fault_reverted" and event["fault_id"] in opened:
            windows.append((event["fault_id"], opened.pop(event["fault_id"]), event["mono"]))
    end = max((e["mono"] for e in events), default=0.0)
    windows += [(fault_id, start, end) for fault_id, start in opened.items()]
    return windows


def label_phases(t_mono: np.ndarray, windows: list[tuple[str, float, float]]) -> np.ndarray:
    labels = np.full(len(t_mono), "", dtype=object)
    for phase, start, end in windows:
        labels[(t_mono >= start) & (t_mono < end)] = phase
    return labels


def label_faults(t_mono: np.ndarray, windows: list[tuple[str, float, float]]) -> np.ndarray:
    labels = np.full(len(t_mono), "", dtype=object)
    for fault_id, start, end in sorted(windows, key=lambda w: w[0]):
        inside = (t_mono >= start) & (t_mono < end)
        labels[inside] = np.where(labels[inside] == "", fault_id, labels[inside] + "," + fault_id)
    return labels
