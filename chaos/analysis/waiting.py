"""Waiting observations and stalls: requests still unanswered at a window's end are evidence too.

``WaitingRules`` is the part of ``Analysis`` that adds them (and fails answers past the load's timeout,
and moves a request that met the fault into the fault span); see "Waiting and stalls" in ``chaos.analysis``.
"""

from __future__ import annotations

import numpy as np

from chaos.spans import FAULT_PHASE, WINDOW_S, Segment

STALL_MIN_ANSWERS = 5  # answers per window the baseline must give before a silent window counts as a stall


def timeout_ms_of(plan: dict) -> float | None:
    timeout = (plan.get("load") or {}).get("timeout")
    return float(timeout) * 1000.0 if isinstance(timeout, (int, float)) and timeout > 0 else None


def window_grid(segments: list[Segment]) -> tuple[np.ndarray, np.ndarray]:
    """(starts, ends) of every 1 s window of every span, in time order (the last of a span may be shorter)."""
    starts, ends = [], []
    for segment in segments:
        for k in range(segment.n_windows):
            starts.append(segment.start + k * WINDOW_S)
            ends.append(min(segment.start + (k + 1) * WINDOW_S, segment.end))
    return np.array(starts, dtype=float), np.array(ends, dtype=float)


class WaitingRules:
    """Mixed into ``Analysis``: works on its request arrays (t, lat, ok, status, name_codes, real) and grid."""

    def fail_the_unanswered_in_time(self) -> int:
        """A request answered after the load's timeout was not answered for its user: a failure."""
        if self.timeout_ms is None:
            return 0
        late = self.ok & (self.lat > self.timeout_ms)
        self.ok = self.ok & ~late
        return int(late.sum())

    def add_waiting(self) -> None:
        """Requests still outstanding at the end of a window are evidence too: each one waiting across a
        whole window (of at least half a second: a span's last sliver says nothing) adds a *waiting*
        observation to that window, its wait so far a lower bound on its latency. It fails when its request
        failed in the end, past the timeout, or when the window is a stall: nothing at all was answered
        while requests waited, in a window long enough for the baseline's pace to give STALL_MIN_ANSWERS."""
        starts, ends = self.grid_start, self.grid_end
        if not len(starts) or not len(self.t):
            return
        answered_at = self.t + self.lat / 1000.0
        first = np.searchsorted(starts, self.t, side="left")  # the first window starting after the send
        last = np.searchsorted(ends, answered_at, side="right") - 1  # the last one ending before the answer
        spans = np.maximum(last - first + 1, 0)
        request = np.repeat(np.arange(len(self.t)), spans)
        window = first[request] + (np.arange(len(request)) - np.repeat(np.cumsum(spans) - spans, spans))
        whole = (ends - starts)[window] >= WINDOW_S / 2
        request, window = request[whole], window[whole]
        self.waiting_w = self._outstanding_at(ends, answered_at)
        expected = (ends - starts) * self._answers_per_second()
        self.stalled = (np.bincount(window, minlength=len(starts)) > 0) & (self._answers_per_window(answered_at) == 0) \
            & (expected >= STALL_MIN_ANSWERS)
        waited_ms = (ends[window] - self.t[request]) * 1000.0
        ok = self.ok[request] & ~self.stalled[window]
        if self.timeout_ms is not None:
            ok &= waited_ms <= self.timeout_ms
        # at the window's start (plus a hair, so float rounding never moves it to the window before)
        t = np.concatenate([self.t, starts[window] + 1e-6])
        order = np.argsort(t, kind="stable")
        self.t = t[order]
        self.lat = np.concatenate([self.lat, waited_ms])[order]
        self.ok = np.concatenate([self.ok, ok])[order]
        self.status = np.concatenate([self.status, np.zeros(len(request), dtype=np.int64)])[order]
        self.name_codes = np.concatenate([self.name_codes, self.name_codes[request]])[order]
        self.real = np.concatenate([self.real, np.zeros(len(request), dtype=bool)])[order]

    def _outstanding_at(self, moments: np.ndarray, answered_at: np.ndarray) -> np.ndarray:
        """How many requests were sent and not yet answered at each moment (whoever was waiting then)."""
        sent = np.searchsorted(self.t, moments, side="left")
        answered = np.searchsorted(np.sort(answered_at), moments, side="right")
        return np.maximum(sent - answered, 0)

    def judge_in_flight_with_the_fault(self) -> int:
        """A request sent just before the fault took effect and still unanswered then met the fault: it is
        judged in the fault span (in its first window), not in the baseline it would have polluted."""
        faults = [s for s in self.segments if s.phase == FAULT_PHASE]
        if len(faults) != 1 or not any(e["event"] == "fault_injected" for e in self.events):
            return 0
        fault = faults[0]
        met = self.real & (self.t < fault.start) & (self.t + self.lat / 1000.0 > fault.start)
        if not met.any():
            return 0
        self.t = np.where(met, fault.start + 1e-6, self.t)
        order = np.argsort(self.t, kind="stable")
        for name in ("t", "lat", "ok", "status", "name_codes", "real"):
            setattr(self, name, getattr(self, name)[order])
        return int(met.sum())

    def _answers_per_window(self, answered_at: np.ndarray) -> np.ndarray:
        window = np.searchsorted(self.grid_start, answered_at, side="right") - 1
        inside = (window >= 0) & (answered_at < self.grid_end[np.clip(window, 0, None)])
        return np.bincount(window[inside], minlength=len(self.grid_start))

    def _answers_per_second(self) -> float:
        """The pace at which answers were the rule: the baseline's (else the run's busiest quarter of windows)."""
        baseline = [s for s in self.segments if s.phase == "baseline"]
        if baseline:
            inside = np.zeros(len(self.t), dtype=bool)
            for segment in baseline:
                inside |= (self.t >= segment.start) & (self.t < segment.end)
            seconds = sum(s.end - s.start for s in baseline)
            return float(inside.sum() / seconds) if seconds > 0 else 0.0
        answers = self._answers_per_window(self.t + self.lat / 1000.0)
        return float(np.quantile(answers, 0.75)) / WINDOW_S if len(answers) else 0.0

    def stall(self, phase: str) -> dict | None:
        """The longest run of windows in which nothing was answered while requests waited, in words."""
        sl = self.phase_slice(phase)
        if sl is None or not sl.stalled.any():
            return None
        runs = np.diff(np.flatnonzero(np.diff(np.concatenate([[0], sl.stalled.astype(int), [0]]))))[::2]
        seconds = float(runs.max()) * WINDOW_S
        waiting = int(sl.waiting_w[sl.stalled].max())
        load = self.plan.get("load") or {}
        users = load.get("users") if load.get("model", "closed") == "closed" else None
        who = f"{waiting} of {users} users waiting" if users else f"up to {waiting} requests waiting"
        return {"seconds": seconds, "waiting": waiting,
                "text": f"no answer for {seconds:.0f} s, {who}"}
