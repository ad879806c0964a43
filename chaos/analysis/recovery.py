"""Faults against the baseline band: the band itself, and per fault its time to degrade and recovery time.

See "Recovery and degradation, per fault" in ``chaos.analysis``.
"""

from __future__ import annotations

import math

import numpy as np

from chaos.analysis.waiting import STALL_MIN_ANSWERS
from chaos.metrics import format_value
from chaos.plan import fault_settings
from chaos.spans import WINDOW_S
from chaos.stats import grouped_quantiles

RECOVERY_WINDOWS = 3
BAND_FACTOR, BAND_ADD_MS, BAND_ERROR_ADD = 2.0, 50.0, 0.02
DEGRADE_WINDOWS = 2  # consecutive windows outside the band before a fault is called degrading


class FaultRecovery:
    """Mixed into ``Analysis``: the baseline band and the fault ledger with recovery times."""

    def baseline_band(self) -> dict | None:
        """What the baseline's requests looked like, window by window: the median window's p50, p99 and error
        rate, widened by a floor (BAND_FACTOR x, + BAND_ADD_MS; + BAND_ERROR_ADD). A median of windows, so a
        few outlier windows cannot move it; and a p50 limit besides, so that a fault which slows every
        request is seen even when rare slow requests put one in most baseline windows."""
        sl = self.phase_slice("baseline")
        if sl is None or sl.requests == 0:
            return None
        real = sl.real
        n_windows = len(sl.durations)
        sent = np.bincount(sl.win[real], minlength=n_windows)
        used = sent > 0
        p50s, p99s = grouped_quantiles(sl.win[real], sl.lat[real], n_windows, [0.5, 0.99])
        window_errors = (np.bincount(sl.win[real], weights=~sl.ok[real], minlength=n_windows) / np.maximum(sent, 1))
        p50, p99 = float(np.median(p50s[used])), float(np.median(p99s[used]))
        err = float(np.median(window_errors[used]))
        rate = sl.observed("throughput") or 0.0
        return {
            "latency_p50_ms": max(p50 * BAND_FACTOR, p50 + BAND_ADD_MS),
            "latency_p99_ms": max(p99 * BAND_FACTOR, p99 + BAND_ADD_MS),
            "error_rate": min(1.0, err + BAND_ERROR_ADD),
            "empty_window_is_bad": rate * WINDOW_S >= STALL_MIN_ANSWERS,
            "from": {"median_window_p50_ms": p50, "median_window_p99_ms": p99, "median_window_error_rate": err,
                     "windows": int(used.sum())},
        }

    def _window_states(self, start: float, stop: float, band: dict) -> tuple[np.ndarray, list[str]]:
        """Per 1 s window laid from start: True = inside the baseline band; and why each window is outside."""
        n = max(0, math.ceil((stop - start) / WINDOW_S - 1e-9))
        if n == 0:
            return np.zeros(0, dtype=bool), []
        lo, hi = np.searchsorted(self.t, [start, stop])
        group = np.floor((self.t[lo:hi] - start) / WINDOW_S).astype(np.int64)
        counts = np.bincount(group, minlength=n)
        fails = np.bincount(group, weights=~self.ok[lo:hi], minlength=n)
        p50, p99 = grouped_quantiles(group, self.lat[lo:hi], n, [0.5, 0.99])
        p50_limit = band.get("latency_p50_ms", math.inf)  # summaries written before the p50 limit existed
        with np.errstate(invalid="ignore", divide="ignore"):
            err = fails / counts
            slow, typical_slow = p99 > band["latency_p99_ms"], p50 > p50_limit
            failing = err > band["error_rate"]
        empty = (counts == 0) & band["empty_window_is_bad"]
        why = [_outside(empty[i], slow[i], typical_slow[i], failing[i], p50[i], p99[i], err[i], band)
               for i in range(n)]
        good = np.where(counts > 0, ~slow & ~typical_slow & ~failing, not band["empty_window_is_bad"])
        return good, why

    def faults(self) -> list[dict]:
        ledger: dict[str, dict] = {}
        planned = {f.get("id"): f for f in self.plan.get("faults") or []}
        for fid, fault in planned.items():
            ledger[fid] = {"id": fid, "kind": fault.get("kind"), "target": fault.get("target"),
                           "params": fault.get("params") or {}, "updates": fault.get("updates") or [],
                           "injected": None, "reverted": None, "reverting": None, "revert_reason": None}
        for event in self.events:
            fid = event.get("fault_id")
            if fid is None:
                continue
            entry = ledger.setdefault(fid, {"id": fid, "kind": None, "target": None, "params": {}, "updates": [],
                                            "injected": None, "reverted": None, "reverting": None,
                                            "revert_reason": None, "queries": None})
            kind = event["event"]
            if kind == "fault_ledgered":
                for key in ("kind", "target"):
                    entry[key] = event.get(key) or entry[key]
                entry["params"] = event.get("params") or entry["params"]
            elif kind == "fault_injected" and entry["injected"] is None:
                entry["injected"] = float(event.get("in_effect_mono", event["mono"]))
            elif kind == "fault_reverting":
                entry["reverting"] = float(event["mono"])
            elif kind == "fault_reverted":
                entry["reverted"] = float(event["mono"])
                entry["revert_reason"] = event.get("reason")
                if "hits" in event:  # an http fault: the requests its rule touched, per route
                    entry["hits"] = {"count": event["hits"], "by_route": event.get("hits_by_route") or {}}
                entry["queries"] = event.get("queries") or entry.get("queries")  # a dns fault's counts
        band = self.baseline_band()
        injections = sorted(e["injected"] for e in ledger.values() if e["injected"] is not None)
        return [self._fault_summary(entry, band, injections) for entry in ledger.values()]

    def _fault_summary(self, entry: dict, band: dict | None, injections: list[float]) -> dict:
        injected, reverted = entry["injected"], entry["reverted"]
        out = {
            "id": entry["id"], "kind": entry["kind"], "target": entry["target"],
            "params": entry["params"], "settings": _settings(entry) + _queries(entry.get("queries")),
            "injected_s": self.rel(injected),
            "reverted_s": self.rel(reverted), "reverting_s": self.rel(entry["reverting"]),
            "revert_reason": entry["revert_reason"], "queries": entry.get("queries"),
            "injected": injected is not None,
            "reverted": reverted is not None or injected is None,
            "time_to_degrade_s": None, "recovery_time_s": None, "note": "",
            **({"hits": entry["hits"]} if "hits" in entry else {}),
        }
        if injected is None:
            out["note"] = "never injected"
            return out
        if band is None:
            out["note"] = "no baseline phase with requests: no band to compare against"
            return out
        reverting = entry["reverting"] if entry["reverting"] is not None else reverted
        states, why = self._window_states(injected, reverting if reverting is not None else self.load_end, band)
        degraded = first_run(~states, min(DEGRADE_WINDOWS, len(states)))
        if degraded is not None:
            out["time_to_degrade_s"] = float(degraded * WINDOW_S)
            out["degraded_by"] = why[degraded]
        if reverting is None:
            out["note"] = "no fault_reverted event in the journal"
            return out
        later = [t for t in injections if t > reverting]
        states, _ = self._window_states(reverting, min(later) if later else self.load_end, band)
        back = first_run(states, RECOVERY_WINDOWS) if len(states) >= RECOVERY_WINDOWS else None
        out["recovery_time_s"] = float(back * WINDOW_S) if back is not None else None
        if back is None:
            out["note"] = f"not back within the baseline band for {RECOVERY_WINDOWS} consecutive windows"
        return out


def first_run(flags: np.ndarray, length: int) -> int | None:
    """Index of the first of ``length`` consecutive True flags, or None."""
    if length <= 0 or len(flags) < length:
        return None
    run = np.convolve(flags.astype(int), np.ones(length, dtype=int), mode="valid")
    hits = np.flatnonzero(run == length)
    return int(hits[0]) if len(hits) else None


def say_why_held(faults: list[dict], verdict: str) -> list[dict]:
    """A held run whose faults left the baseline band says so, so the band's verdict is not read as a
    hypothesis' deviation."""
    for fault in faults:
        if verdict == "held" and fault.get("time_to_degrade_s") is not None:
            fault["note"] = ("left the baseline band, though every hypothesis held: their bounds are wider than "
                             "the band" + (f"; {fault['note']}" if fault.get("note") else ""))
    return faults


def _outside(empty, slow, typical_slow, failing, p50, p99, err, band: dict) -> str:
    """Why one window is outside the band, in words ("" when it is inside)."""
    if empty:
        return "nothing sent or answered"
    if typical_slow:
        return (f"p50 {format_value('latency.p50', p50)} over the band's "
                f"{format_value('latency.p50', band['latency_p50_ms'])}")
    if slow:
        return (f"p99 {format_value('latency.p99', p99)} over the band's "
                f"{format_value('latency.p99', band['latency_p99_ms'])}")
    if failing:
        return (f"error rate {format_value('error_rate', err)} over the band's "
                f"{format_value('error_rate', band['error_rate'])}")
    return ""


def _queries(queries: dict | None) -> str:
    """What a dns fault did, counted by its server: ``; 212 of 212 matching queries faulted``."""
    if not queries:
        return ""
    return f"; {queries.get('faulted', 0)} of {queries.get('matched', 0)} matching queries faulted"


def _settings(entry: dict) -> str:
    """The fault's settings in the user's units; a fault whose kind is unknown (a journal alone) has none."""
    return fault_settings(entry["kind"], entry["params"], entry["updates"]) if entry["kind"] else ""
