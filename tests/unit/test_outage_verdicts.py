"""Verdicts never hide an outage (synthetic run dirs): requests still waiting are evidence, every request is
judged in some span, the fault span follows the faults, the baseline band ignores outliers, and abort rules
never see warmup."""

from __future__ import annotations

import numpy as np
import pytest

from chaos.analysis import analyse, load_run
from chaos.load import SampleTail
from chaos.plan import AbortRulePlan
from chaos.runner import broken_abort_rule
from support.fakerun import MONO0, hypothesis, write_run

pytestmark = pytest.mark.unit

USERS = 10


def closed_users(start: float, stop: float, latency_ms: float = 20.0, users: int = USERS, **fields) -> list[dict]:
    """Each user sends, waits for the answer and sends again (no think time)."""
    step = latency_ms / 1000.0
    sends = [start + user * step / users + k * step for user in range(users) for k in range(int((stop - start) / step))]
    return [{"t": round(t, 6), "latency_ms": latency_ms, **fields} for t in sends if t < stop]


def timeline(baseline=(0.0, 10.0), fault=(10.0, 18.0), recovery=(18.0, 26.0), injected=10.0, reverting=18.0,
             reverted=18.0) -> list[tuple[float, str, dict]]:
    events = [(-1.0, "run_started", {"run_id": "r", "experiment": "e"})]
    for phase, (start, end) in (("baseline", baseline), ("fault", fault), ("recovery", recovery)):
        events.append((start, "phase_started", {"phase": phase}))
        if phase == "fault":
            events.append((injected, "fault_injected", {"fault_id": "f1.1"}))
        events.append((end, "phase_ended", {"phase": phase}))
        if phase == "fault":
            events.append((reverting, "fault_reverting", {"fault_id": "f1.1"}))
            events.append((reverted, "fault_reverted", {"fault_id": "f1.1", "reason": "scheduled"}))
    events += [(recovery[1], "load_stopped", {}), (recovery[1] + 0.5, "run_ended", {"outcome": "completed"})]
    return sorted(events, key=lambda e: e[0])


def plan(*hypotheses, model="closed", timeout=10.0, **load) -> dict:
    return {"experiment": "e", "seed": 3, "steady_state": list(hypotheses),
            "faults": [{"id": "f1.1", "kind": "partition", "target": "redis"}],
            "load": {"model": model, "users": USERS, "timeout": timeout, **load}}


def summary_of(tmp_path, plan_, events, samples) -> dict:
    return analyse(load_run(write_run(tmp_path, plan_, events, samples)))


def check(summary, phase="fault", metric="error_rate") -> dict:
    return next(c for c in summary["checks"] if c["phase"] == phase and c["metric"] == metric)


# ---------------------------------------------------------------- stalls are data

def hung_users(at: float, answered_after_s: float, users: int = USERS, success=True) -> list[dict]:
    return [{"t": at + i * 0.002, "latency_ms": answered_after_s * 1000.0, "success": success} for i in range(users)]


def test_a_closed_model_outage_deviates_with_the_wait_in_words(tmp_path):
    """Every user hangs for the whole fault phase and gets its answer after the heal: the phase has requests
    in one window only, which used to read 'inconclusive: only 1 window(s) with requests'."""
    samples = closed_users(0, 10) + hung_users(10.001, 8.5) + closed_users(18.5, 26)
    summary = summary_of(tmp_path, plan(hypothesis("errors", "error_rate", max=0.01)), timeline(), samples)
    fault = check(summary)
    assert fault["verdict"] == "deviated", fault["reason"]
    assert fault["stall"]["seconds"] == 7 and fault["stall"]["waiting"] == USERS
    assert fault["reason"].endswith("no answer for 7 s, 10 of 10 users waiting")
    assert summary["verdict"] == "deviated" and "no answer for 7 s" in summary["reason"]
    phase = next(p for p in summary["phases"] if p["name"] == "fault")
    # the hung users, and the baseline requests still in flight when the partition took effect
    assert phase["count"] == USERS + summary["run"]["in_flight_when_the_fault_began"]
    assert phase["waiting"] == 7 * USERS and phase["stalled_s"] == 7
    assert summary["run"]["requests"] == len(samples)  # waiting observations are not requests
    assert check(summary, "baseline")["verdict"] == "held"


def test_latency_counts_the_wait_so_far_as_a_lower_bound(tmp_path):
    samples = closed_users(0, 10) + hung_users(10.0, 8.5) + closed_users(18.5, 26)
    summary = summary_of(tmp_path, plan(hypothesis("fast", "latency.p50", max=500)), timeline(), samples)
    fault = check(summary, metric="latency.p50")
    assert fault["verdict"] == "deviated"
    assert fault["observed"] >= 3000  # the median user had waited seconds, though none had its answer yet


def test_an_open_model_outage_deviates_too(tmp_path):
    rate = 20
    baseline = [{"t": i / rate, "latency_ms": 15.0} for i in range(10 * rate)]
    # sent on schedule into the outage, all answered at the heal (latency from the intended send time)
    outage = [{"t": 10 + i / rate, "latency_ms": (18.2 - (10 + i / rate)) * 1000} for i in range(8 * rate)]
    recovery = [{"t": 18.2 + i / rate, "latency_ms": 15.0} for i in range(7 * rate)]
    summary = summary_of(tmp_path, plan(hypothesis("errors", "error_rate", max=0.01), model="open", rate=rate),
                         timeline(), baseline + outage + recovery)
    fault = check(summary)
    assert fault["verdict"] == "deviated"
    # the last baseline answer came before the fault phase began: 8 silent windows
    assert "no answer for 8 s, up to" in fault["reason"] and "requests waiting" in fault["reason"]
    assert summary["load_model"]["model"] == "open"


def test_a_slow_but_answering_service_is_not_called_stalled(tmp_path):
    """One user, 2.5 s per request, in every phase: windows without an answer are its normal pace."""
    samples = [{"t": t, "latency_ms": 2500.0} for t in np.arange(0, 26, 2.5)]
    summary = summary_of(tmp_path, plan(hypothesis("errors", "error_rate", max=0.01), users=1), timeline(), samples)
    assert not any(p["stalled_s"] for p in summary["phases"])
    assert all(c["verdict"] != "deviated" for c in summary["checks"])


def test_an_answer_after_the_timeout_is_a_failure(tmp_path):
    samples = closed_users(0, 10) + closed_users(10, 18) + [{"t": 12.0, "latency_ms": 4500.0}] + closed_users(18, 26)
    summary = summary_of(tmp_path, plan(hypothesis("errors", "error_rate", max=1.0), timeout=3.0),
                         timeline(), samples)
    assert summary["run"]["answered_after_timeout"] == 1
    assert summary["run"]["timeout_s"] == 3.0
    fault = next(p for p in summary["phases"] if p["name"] == "fault")
    # the late request failed (its user gave up at 3 s), and so did its 4 windows of waiting (1, 2, 3, 4 s)
    assert fault["waiting"] == 4
    assert fault["metrics"]["error_rate"]["value"] == pytest.approx(5 / (fault["count"] + 4))


def test_a_request_that_failed_after_a_wait_fails_in_every_window_it_waited(tmp_path):
    """Its waits are not successes that dilute the error rate; the answered request's own row keeps its
    latency in the table by name."""
    waited = {"t": 12.0, "latency_ms": 3500.0, "success": False, "status": 502, "name": "GET /slow"}
    samples = closed_users(0, 10) + closed_users(10, 18) + [waited] + closed_users(18, 26)
    summary = summary_of(tmp_path, plan(hypothesis("errors", "error_rate", max=1.0)), timeline(), samples)
    fault = next(p for p in summary["phases"] if p["name"] == "fault")
    assert fault["waiting"] == 3
    assert fault["metrics"]["error_rate"]["value"] == pytest.approx(4 / (fault["count"] + 3))
    slow = next(r for r in fault["requests"] if r["name"] == "GET /slow")
    assert (slow["count"], slow["waiting"], slow["latency.p50"]) == (1, 3, 3500.0)


# ---------------------------------------------------------------- every request judged

def test_the_revert_belongs_to_recovery_and_every_request_is_counted(tmp_path):
    """The heal took 4 s (18 -> 22) and failed requests: recovery, planned from 22, is judged from 18."""
    events = timeline(recovery=(22.0, 24.0), reverting=18.0, reverted=22.0)
    healing = closed_users(18, 22, success=False, status=503)
    samples = closed_users(0, 18) + healing + closed_users(22, 24)
    summary = summary_of(tmp_path, plan(hypothesis("errors", "error_rate", max=0.01, phases=["recovery"])),
                         events, samples)
    recovery = next(p for p in summary["phases"] if p["name"] == "recovery")
    assert (recovery["start_s"], recovery["planned_start_s"]) == (19.0, 23.0)  # seconds since run_started
    assert check(summary, "recovery")["verdict"] == "deviated"
    counts = [p["count"] for p in summary["phases"]]
    assert sum(counts) == summary["run"]["requests"] == len(samples)


# ---------------------------------------------------------------- phases follow the faults

def test_the_fault_span_starts_when_the_fault_is_in_effect(tmp_path):
    """The partition took 1.5 s to be in effect: the requests before it are baseline, not fault."""
    events = timeline(injected=11.5, reverting=17.0, reverted=18.0)
    samples = closed_users(0, 26)
    summary = summary_of(tmp_path, plan(hypothesis("errors", "error_rate", max=0.01)), events, samples)
    phases = {p["name"]: p for p in summary["phases"]}
    assert (phases["fault"]["start_s"], phases["fault"]["end_s"]) == (12.5, 18.0)
    assert (phases["fault"]["planned_start_s"], phases["fault"]["planned_end_s"]) == (11.0, 19.0)
    assert phases["baseline"]["end_s"] == 12.5 and phases["recovery"]["start_s"] == 18.0
    assert sum(p["count"] for p in phases.values()) == len(samples)
    fault = next(f for f in summary["faults"] if f["id"] == "f1.1")
    assert (fault["injected_s"], fault["reverting_s"], fault["reverted_s"]) == (12.5, 18.0, 19.0)


def test_without_a_fault_in_effect_the_phases_stay_as_planned(tmp_path):
    events = [e for e in timeline() if e[1] not in ("fault_injected", "fault_reverting", "fault_reverted")]
    summary = summary_of(tmp_path, plan(), events, closed_users(0, 26))
    assert all(p["start_s"] == p["planned_start_s"] for p in summary["phases"])


# ---------------------------------------------------------------- robust baseline band

def test_a_few_outliers_do_not_inflate_the_band(tmp_path):
    outliers = [{"t": t, "latency_ms": 1200.0} for t in (1.5, 4.5, 7.5)]
    samples = closed_users(0, 10) + outliers + closed_users(10, 18, latency_ms=320.0) + closed_users(18, 26)
    summary = summary_of(tmp_path, plan(hypothesis("fast", "latency.p99", max=2000)), timeline(), samples)
    band = summary["baseline_band"]
    assert band["latency_p99_ms"] < 200
    fault = next(f for f in summary["faults"] if f["id"] == "f1.1")
    assert fault["time_to_degrade_s"] == 0
    assert fault["degraded_by"].startswith("p50 320 ms over the band's")
    assert fault["recovery_time_s"] == 0


def test_slow_requests_in_most_baseline_windows_do_not_hide_a_fault_that_slows_every_request(tmp_path):
    """One 2 s request in 8 of 10 baseline windows: the baseline's p99 really is seconds, but its median
    request is not, and a 320 ms fault on every request is seen at once."""
    outliers = [{"t": t + 0.3, "latency_ms": 2000.0} for t in range(8)]
    two_users = {"latency_ms": 100.0, "users": 2}
    samples = (closed_users(0, 10, **two_users) + outliers + closed_users(10, 18, latency_ms=320.0, users=2)
               + closed_users(18, 26, **two_users))
    summary = summary_of(tmp_path, plan(hypothesis("fast", "latency.p99", max=5000)), timeline(), samples)
    band = summary["baseline_band"]
    assert band["latency_p99_ms"] > 1000 and band["latency_p50_ms"] <= 200
    fault = next(f for f in summary["faults"] if f["id"] == "f1.1")
    assert fault["time_to_degrade_s"] == 0 and fault["degraded_by"].startswith("p50 320 ms")


def test_a_held_run_says_why_its_fault_left_the_band(tmp_path):
    samples = closed_users(0, 10) + closed_users(10, 18, latency_ms=320.0) + closed_users(18, 26)
    summary = summary_of(tmp_path, plan(hypothesis("fast", "latency.p50", max=2000)), timeline(), samples)
    assert summary["verdict"] == "held"
    fault = next(f for f in summary["faults"] if f["id"] == "f1.1")
    assert fault["time_to_degrade_s"] == 0 and fault["degraded_by"].startswith("p50 320 ms over the band's")
    assert fault["note"] == "left the baseline band, though every hypothesis held: their bounds are wider than the band"


def test_one_noisy_window_is_not_a_degradation(tmp_path):
    samples = closed_users(0, 26) + [{"t": 13.2, "latency_ms": 900.0}]
    summary = summary_of(tmp_path, plan(hypothesis("fast", "latency.p99", max=2000)), timeline(), samples)
    assert next(f for f in summary["faults"] if f["id"] == "f1.1")["time_to_degrade_s"] is None


# ---------------------------------------------------------------- abort rules after warmup

def test_abort_rules_never_judge_warmup_requests(tmp_path):
    tail = SampleTail(tmp_path / "samples.csv")
    now = 1000.0
    for i in range(20):  # errors sent in the warmup (until 999.0), answered in the rule's window
        tail.rows.append((999.5 + i * 0.01, 998.0 + i * 0.05, 20.0, False))
    for i in range(20):
        tail.rows.append((999.6 + i * 0.01, 999.2 + i * 0.01, 20.0, True))
    rule = AbortRulePlan("error_rate", 0.1, 2.0)
    assert broken_abort_rule([rule], tail, now).observed == pytest.approx(0.5)
    assert broken_abort_rule([rule], tail, now, sent_since=999.0) is None


def test_a_request_in_flight_when_the_fault_took_effect_is_judged_with_the_fault(tmp_path):
    """Sent 0.3 s before the partition was in effect, answered after the heal: it met the fault, and the
    baseline it was sent in must not carry its 8 s."""
    samples = closed_users(0, 9.5) + [{"t": 9.7, "latency_ms": 8000.0}] + closed_users(10.5, 26)
    summary = summary_of(tmp_path, plan(hypothesis("fast", "latency.max", max=1000, phases=["baseline"])),
                         timeline(), samples)
    assert summary["run"]["in_flight_when_the_fault_began"] == 1
    assert check(summary, "baseline", "latency.max")["verdict"] == "held"
    fault = next(p for p in summary["phases"] if p["name"] == "fault")
    assert fault["metrics"]["latency.max"]["value"] == 8000.0


def test_a_fault_that_acted_before_its_call_returned_is_judged_from_then(tmp_path):
    """A kill: the signal hit at 10.1 s, the engine's call returned at 10.4 s; the errors in between are the
    fault's, not the baseline's."""
    events = [(t, e, ({**f, "in_effect_mono": MONO0 + 10.1} if e == "fault_injected" else f))
              for t, e, f in timeline(injected=10.4)]
    errors = closed_users(10.1, 10.4, success=False, status=503)
    samples = closed_users(0, 10.1) + errors + closed_users(10.4, 26)
    summary = summary_of(tmp_path, plan(hypothesis("errors", "error_rate", max=0.01, phases=["baseline"])),
                         events, samples)
    baseline = next(p for p in summary["phases"] if p["name"] == "baseline")
    assert baseline["end_s"] == pytest.approx(11.1)
    assert baseline["metrics"]["error_rate"]["value"] == 0
    assert next(f for f in summary["faults"] if f["id"] == "f1.1")["injected_s"] == pytest.approx(11.1)
