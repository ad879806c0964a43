"""Judged spans: which phase every request belongs to, from the journal (pure).

A request belongs to the span in which it *started* (``t_mono``: its send time, or its intended
send time in the open model). Spans come from ``phase_started``/``phase_ended`` events on the
monotonic clock, then follow what really happened:

- The fault phase is judged from the moment the first fault is in effect (``fault_injected``, or its
  ``in_effect_mono`` where the adapter knows the fault acted before its call returned) to
  the moment the last revert begins (``fault_reverting``; ``fault_reverted`` in runs written before
  that event existed). Until a fault is in effect the system is still in its baseline; from the
  start of a revert on, it is recovering, and the revert's own seconds (a partition healing, a
  container waiting to be healthy) are judged as recovery.
- Spans are contiguous from the first phase start to the load's stop: a gap between two phases
  (a blocking revert between the planned end of one and the start of the next) belongs to the
  next, a request sent before the first phase starts belongs to the first, and the last phase
  lasts until the load stopped. So every request is judged by some span.

Each span keeps its planned edges (the phase events) next to the judged ones, for the report.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

WINDOW_S = 1.0
FAULT_PHASE = "fault"


@dataclass(frozen=True)
class Segment:
    phase: str
    start: float  # judged edges (monotonic seconds)
    end: float
    planned_start: float  # the phase events' edges
    planned_end: float

    @property
    def n_windows(self) -> int:
        return max(1, math.ceil((self.end - self.start) / WINDOW_S - 1e-9))


def run_origin(events: list[dict], t_mono: np.ndarray) -> float:
    for event in events:
        if event["event"] == "run_started":
            return float(event["mono"])
    starts = [e["mono"] for e in events if e["event"] == "phase_started"]
    if starts:
        return float(min(starts))
    return float(t_mono.min()) if len(t_mono) else 0.0


def planned_segments(events: list[dict], last_time: float) -> list[Segment]:
    """The phases as the runner announced them, in journal order; a phase may occur several times."""
    segments, open_phase = [], None
    for event in events:
        kind = event["event"]
        if kind == "phase_started":
            if open_phase:  # phases are sequential: the next start closes a lost end
                segments.append(_planned(open_phase, float(event["mono"])))
            open_phase = (str(event.get("phase")), float(event["mono"]))
        elif kind == "phase_ended" and open_phase and event.get("phase") == open_phase[0]:
            segments.append(_planned(open_phase, float(event["mono"])))
            open_phase = None
    if open_phase:
        segments.append(_planned(open_phase, float(_load_end(events, open_phase[1]) or max(last_time, open_phase[1]))))
    return [s for s in segments if s.end > s.start]


def judged_segments(events: list[dict], last_time: float) -> list[Segment]:
    """The spans every request is judged in: planned phases moved to the faults' real edges, then made
    contiguous up to the load's stop."""
    segments = _follow_faults(planned_segments(events, last_time), events)
    if not segments:
        return segments
    joined = [segments[0]]
    for segment in segments[1:]:
        previous = joined[-1]
        if segment.start > previous.end:  # a gap (a blocking revert): the next span takes it
            segment = replace(segment, start=previous.end)
        joined.append(segment)
    stop = _load_end(events, joined[-1].start)
    if stop is not None and stop > joined[-1].end:
        joined[-1] = replace(joined[-1], end=float(stop))
    return [s for s in joined if s.end > s.start]


def assign_segments(t_mono: np.ndarray, segments: list[Segment]) -> np.ndarray:
    """Index of the span each request started in. Spans are contiguous, so a request sent before the first
    belongs to the first and one after the last (the load's final moment) to the last."""
    if not segments:
        return np.full(len(t_mono), -1, dtype=np.int64)
    starts = np.array([s.start for s in segments])
    return np.clip(np.searchsorted(starts, t_mono, side="right") - 1, 0, len(segments) - 1)


def fault_edges(events: list[dict]) -> tuple[float | None, float | None]:
    """(first fault in effect, last revert begun), monotonic seconds; None where the journal has none."""
    injected = [float(e.get("in_effect_mono", e["mono"])) for e in events if e["event"] == "fault_injected"]
    reverting = {e.get("fault_id"): float(e["mono"]) for e in events if e["event"] == "fault_reverting"}
    for event in events:
        if event["event"] == "fault_reverted":
            reverting.setdefault(event.get("fault_id"), float(event["mono"]))
    return (min(injected) if injected else None), (max(reverting.values()) if reverting else None)


def _follow_faults(segments: list[Segment], events: list[dict]) -> list[Segment]:
    faulted = [i for i, s in enumerate(segments) if s.phase == FAULT_PHASE]
    first, last = fault_edges(events)
    if len(faulted) != 1 or first is None:
        return segments  # several fault phases (a test kit's own timeline) or no fault in effect: as planned
    i = faulted[0]
    fault = segments[i]
    if first < fault.planned_start or (i + 1 < len(segments) and first >= segments[i + 1].planned_end):
        return segments
    end = last if last is not None and last > first and i + 1 < len(segments) else fault.end
    out = list(segments)
    out[i] = replace(fault, start=first, end=end)
    if i > 0:
        out[i - 1] = replace(out[i - 1], end=max(out[i - 1].end, first))
    if i + 1 < len(out):
        out[i + 1] = replace(out[i + 1], start=min(out[i + 1].start, end))
    return out


def _planned(open_phase: tuple[str, float], end: float) -> Segment:
    phase, start = open_phase
    return Segment(phase, start, end, start, end)


def _load_end(events: list[dict], after: float) -> float | None:
    ends = [e["mono"] for e in events if e["event"] in ("load_stopped", "run_ended") and e["mono"] > after]
    return min(ends) if ends else None
