"""The probe scheduler's guarantees, with fake checks (no Docker): fixed schedule, timeouts, no pile-up."""

import threading
import time

from chaos.plan import ProbePlan
from chaos.probes import Prober, ProbeFailed


def probe(name="p", every=0.1, timeout=0.05):
    return ProbePlan(name, "fake", every, timeout, {})


def run_for(prober: Prober, seconds: float) -> list:
    prober.start()
    time.sleep(seconds)
    started = time.monotonic()
    prober.stop()
    assert time.monotonic() - started < 1.0, "stop() must not wait for a hanging probe"
    return prober.results


def test_polls_on_a_fixed_schedule_and_records_values():
    results = run_for(Prober([probe()], None, lambda p, s: "fine"), 0.55)
    assert 2 <= len(results) <= 7, "every 100ms for 0.55s: never more than its slots (a busy machine starts late)"
    assert all(r.success and r.value == "fine" for r in results)
    # Robust on a busy 2-core machine: each try near its own slot (k x every after the first), lateness never
    # adding up; a single gap is not bounded (a late try is followed by one on time).
    offsets = [r.t_mono - results[0].t_mono for r in results]
    assert all(abs(offset - k * 0.1) < 0.3 for k, offset in enumerate(offsets)), offsets
    assert offsets == sorted(offsets)


def test_failures_and_exceptions_are_failed_tries():
    def flaky(p, s):
        raise ProbeFailed("HTTP 503")

    results = run_for(Prober([probe()], None, flaky), 0.35)
    assert results and not any(r.success for r in results)
    assert "HTTP 503" in results[0].error


def test_a_hanging_probe_times_out_and_never_piles_up():
    release = threading.Event()
    calls = []

    def hang(p, s):
        calls.append(1)
        release.wait(5)
        return "late"

    try:
        results = run_for(Prober([probe(every=0.1, timeout=0.05)], None, hang), 0.55)
    finally:
        release.set()
    assert len(calls) == 1, "a try still running is not started again"
    assert results[0].error.startswith("timed out") and results[0].latency_ms == 50
    assert all("previous try still running" in r.error for r in results[1:])
    assert not any(r.success for r in results)
