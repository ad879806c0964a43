"""Abort rules judge every metric the registry marks live, over their trailing window of requests, from the
same sample CSV the runner tails (synthetic windows with values worked out by hand)."""

import csv
import json
import time

import pytest

from chaos import metrics
from chaos.load import SampleTail
from chaos.load_protocol import COLUMNS
from chaos.plan import AbortRulePlan
from chaos.runner import ABORT_MIN_REQUESTS, broken_abort_rule

WINDOW_S = 4.0
# 40 requests answered in the last 4 s, 1 ms to 40 ms, every 4th failed.
LATENCIES = [float(ms) for ms in range(1, 41)]
FAILED = [i % 4 == 3 for i in range(40)]
# What each live metric is over that window, by hand (quantiles with linear interpolation: rank q * 39).
EXPECTED = {
    "throughput": 40 / WINDOW_S,
    "error_rate": 10 / 40,
    "success_rate": 30 / 40,
    "latency.p50": 20.5,
    "latency.p90": 36.1,
    "latency.p95": 38.05,
    "latency.p99": 39.61,
    "latency.p999": 39.961,
    "latency.max": 40.0,
    "latency.mean": 20.5,
}


def tail_of(tmp_path, latencies, failed, now: float) -> SampleTail:
    """A SampleTail over a CSV whose requests are answered evenly over the WINDOW_S seconds before ``now``."""
    path = tmp_path / "samples.csv"
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(COLUMNS)
        for i, (latency, bad) in enumerate(zip(latencies, failed)):
            answered = now - WINDOW_S + (i + 0.5) * WINDOW_S / len(latencies)
            start = answered - latency / 1000.0
            writer.writerow([time.time(), start, latency, "GET /", "GET", 500 if bad else 200, 0 if bad else 1,
                             10, "boom" if bad else "", ""])
    tail = SampleTail(path)
    assert tail.poll() == len(latencies)
    return tail


def rule(metric: str, limit: float) -> AbortRulePlan:
    return AbortRulePlan(metric, limit, WINDOW_S)


def test_every_metric_is_either_live_or_says_why_not():
    assert set(EXPECTED) == set(metrics.LIVE)
    assert [m.name for m in metrics.REGISTRY.values() if not m.live] == ["count"]
    assert all(m.not_live for m in metrics.REGISTRY.values() if not m.live)


@pytest.mark.parametrize("metric", sorted(EXPECTED))
def test_a_rule_fires_just_above_its_metric_and_not_at_it(tmp_path, metric):
    now = time.monotonic()
    tail = tail_of(tmp_path, LATENCIES, FAILED, now)
    expected = EXPECTED[metric]
    broken = broken_abort_rule([rule(metric, expected * 0.99)], tail, now)
    assert broken is not None, f"{metric} above its max did not abort"
    assert broken.rule.metric == metric and broken.observed == pytest.approx(expected)
    assert broken_abort_rule([rule(metric, expected * 1.01)], tail, now) is None


def test_the_first_broken_rule_is_named_after_the_ones_that_hold(tmp_path):
    now = time.monotonic()
    tail = tail_of(tmp_path, LATENCIES, FAILED, now)
    rules = [rule("error_rate", 0.5), rule("latency.p95", 30.0), rule("throughput", 1.0)]
    assert broken_abort_rule(rules, tail, now).rule.metric == "latency.p95"


def test_a_window_older_than_the_rule_is_not_judged(tmp_path):
    now = time.monotonic()
    tail = tail_of(tmp_path, LATENCIES, FAILED, now)
    later = now + WINDOW_S + 1.0  # every request answered more than `for` seconds ago
    assert broken_abort_rule([rule("latency.p95", 1.0)], tail, later) is None


def test_too_few_requests_never_abort(tmp_path):
    now = time.monotonic()
    few = ABORT_MIN_REQUESTS - 1
    tail = tail_of(tmp_path, [500.0] * few, [True] * few, now)
    rules = [rule(metric, 0.0) for metric in EXPECTED]
    assert broken_abort_rule(rules, tail, now) is None


def test_throughput_is_requests_in_the_window_over_its_length(tmp_path):
    now = time.monotonic()
    tail = tail_of(tmp_path, LATENCIES, FAILED, now)
    wider = AbortRulePlan("throughput", 0.0, 2 * WINDOW_S)  # the same 40 requests over 8 s
    assert broken_abort_rule([wider], tail, now).observed == pytest.approx(40 / (2 * WINDOW_S))


# ---------------------------------------------------------------- requests still waiting

def polled(tail: SampleTail) -> SampleTail:
    tail.poll()  # what the runner does before each live check: reads the rows and the waiting list
    return tail


def waiting_list(tmp_path, pairs):
    path = tmp_path / "requests-waiting.json"
    path.write_text(json.dumps(pairs))
    return path


def test_a_stalled_system_breaks_a_latency_rule_before_it_answers(tmp_path):
    """Five users each waiting 2.5 s for an answer that has not come: no answer in the window at all, yet the
    p95 is at least 2.5 s. Without the waiting list the rule would see an idle system and wait for the answers."""
    now = 1000.0
    tail = polled(SampleTail(tmp_path / "samples.csv", waiting_list(tmp_path, [[now - 2.5, now]] * 5)))
    broken = broken_abort_rule([rule("latency.p95", 1000.0)], tail, now)
    assert broken.observed == pytest.approx(2500.0)
    assert broken_abort_rule([rule("latency.p95", 1000.0)], SampleTail(tmp_path / "samples.csv"), now) is None


def test_waiting_requests_count_for_latency_only_and_only_once_a_window_old(tmp_path):
    now = 1000.0
    pairs = [[now - 3.0, now]] * 4 + [[now - 0.4, now]] * 20  # 20 young ones: lower bounds near zero, not counted
    tail = polled(SampleTail(tmp_path / "samples.csv", waiting_list(tmp_path, pairs)))
    assert sorted(tail.waiting(now)) == [3000.0] * 4
    assert broken_abort_rule([rule("latency.max", 2000.0)], tail, now) is None  # 4 < ABORT_MIN_REQUESTS
    assert ABORT_MIN_REQUESTS == 5
    tail = polled(SampleTail(tmp_path / "samples.csv", waiting_list(tmp_path, [[now - 3.0, now]] * 10)))
    assert broken_abort_rule([rule("latency.max", 2000.0)], tail, now).observed == pytest.approx(3000.0)
    # the outcome of a request still waiting is not known: rates do not count it either way
    assert broken_abort_rule([rule("error_rate", 0.01)], tail, now) is None
    assert broken_abort_rule([rule("throughput", -1.0)], tail, now) is None


def test_a_wait_is_counted_up_to_when_it_was_seen_and_after_the_warmup_only(tmp_path):
    """A worker's list is as of its last report: a request seen waiting 1.5 s then may have been answered since,
    so its wait is 1.5 s, not the 4 s since it was sent."""
    now = 1000.0
    pairs = [[now - 4.0, now - 2.5], [now - 2.0, now + 5]]
    tail = polled(SampleTail(tmp_path / "samples.csv", waiting_list(tmp_path, pairs)))
    assert sorted(tail.waiting(now)) == pytest.approx([1500.0, 2000.0])
    assert list(tail.waiting(now, sent_since=now - 3.0)) == pytest.approx([2000.0])


def test_no_waiting_list_yet_or_a_torn_one_means_nothing_known_to_wait(tmp_path):
    assert len(polled(SampleTail(tmp_path / "samples.csv", tmp_path / "missing.json")).waiting(1000.0)) == 0
    torn = tmp_path / "torn.json"
    torn.write_text("[[999.0, 10")
    assert len(polled(SampleTail(tmp_path / "samples.csv", torn)).waiting(1000.0)) == 0
