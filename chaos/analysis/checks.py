"""Hypotheses judged per phase and bound: one check each, with its observed value, interval and verdict.

See "Verdict of one check" in ``chaos.analysis``.
"""

from __future__ import annotations

from chaos import metrics
from chaos.analysis.slices import MIN_WINDOWS, PhaseSlice
from chaos.analysis.verdict import check_reason
from chaos.hypotheses import HypothesisPlan, PlannedCheck, planned_checks
from chaos.metrics import METRICS, describe
from chaos.stats import proportion_ci


class PhaseChecks:
    """Mixed into ``Analysis``: the plan's ``steady_state`` entries as checks."""

    def checks(self) -> list[dict]:
        hypotheses = [HypothesisPlan.from_json(entry) for entry in self.plan.get("steady_state") or []]
        return [self._check(planned) for planned in planned_checks(hypotheses, self.phase_names)]

    def _check(self, planned: PlannedCheck) -> dict:
        metric, phase, op, threshold = planned.metric, planned.phase, planned.op, planned.threshold
        name_filter = planned.request
        check = {
            "hypothesis": planned.hypothesis, "metric": metric, "phase": phase,
            "filter": name_filter, "op": op, "threshold": threshold,
            "observed": None, "ci_low": None, "ci_high": None, "verdict": "inconclusive",
            "samples": 0, "waiting": 0, "windows": 0, "evidence": None, "reason": "", "stall": None,
            "weight": planned.weight,
        }
        if metric not in METRICS:
            check["reason"] = f"unknown metric {metric!r}"
            return check
        probe = planned.probe
        if probe:
            check["filter"] = name_filter = f"probe {probe}"
            sl = self.probe_analysis().phase_slice(phase, probe) if self.run.probes is not None else None
        else:
            sl = self.phase_slice(phase, name_filter)
        if sl is None:
            check["reason"] = f"{describe(metric, name_filter)} in phase {phase}: the phase did not run"
            return check
        check["samples"], check["waiting"], check["windows"] = sl.requests, sl.n - sl.requests, sl.windows_with_data
        check["observed"] = sl.observed(metric)
        check["ci_low"], check["ci_high"] = sl.interval(metric)
        check["verdict"], check["evidence"], shortfall = judge(sl, metric, op, threshold)
        check["reason"] = check_reason(check, shortfall)
        if not probe:
            stall = self.stall(phase)
            if stall:
                check["stall"] = stall
                check["reason"] += f": {stall['text']}"
        return check


def judge(sl: PhaseSlice, metric: str, op: str, threshold: float):
    """(verdict, evidence, shortfall); shortfall says why the data is too thin, or None."""
    if sl.n == 0:
        return "inconclusive", None, "no requests"
    registered = metrics.REGISTRY[metric]
    if not registered.interval:
        value = sl.observed(metric)
        good = value <= threshold if op == "<=" else value >= threshold
        return ("held" if good else "deviated"), None, None
    if not sl.enough_windows:
        return "inconclusive", None, f"only {sl.windows_with_data} window(s) with requests, needs {MIN_WINDOWS}"
    if registered.quantile is not None:
        q = registered.quantile
        tail = q if op == ">=" else 1 - q
        beyond = sl.lat < threshold if op == ">=" else sl.lat > threshold
        lo, hi = proportion_ci(sl.weights, sl.count_where(beyond), sl.n_w)
        evidence = {"kind": "faster_than_threshold" if op == ">=" else "slower_than_threshold",
                    "fraction": float(beyond.mean()), "ci_low": lo, "ci_high": hi, "allowed": tail}
        if lo > tail:  # too many past the bound is proven with few requests too (a stall sends few)
            return "deviated", evidence, None
        if sl.n < registered.needs_requests:
            return "inconclusive", None, (f"only {sl.n} requests, {registered.short} needs at least "
                                          f"{registered.needs_requests}")
        return ("held" if hi <= tail else "inconclusive"), evidence, None
    lo, hi = sl.interval(metric)
    if lo is None:
        return "inconclusive", None, "no interval could be computed"
    if op == "<=":
        verdict = "held" if hi <= threshold else "deviated" if lo > threshold else "inconclusive"
    else:
        verdict = "held" if lo >= threshold else "deviated" if hi < threshold else "inconclusive"
    return verdict, None, None
