"""The shop api's resilience primitives (targets/shop/api/resilience.py), driven by fake clocks."""

import importlib.util
import random
import sys
from pathlib import Path

import pytest

SHOP = Path(__file__).resolve().parents[2] / "targets" / "shop"


def _load(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


resilience = _load("shop_resilience", SHOP / "api" / "resilience.py")
shophttp = _load("shop_shophttp", SHOP / "common" / "shophttp.py")


class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now

    def advance(self, seconds):
        self.now += seconds


def make_breaker(clock, threshold=5, reset_s=30.0):
    return resilience.CircuitBreaker("redis.read", threshold, reset_s, clock=clock)


def fail(breaker, times):
    for _ in range(times):
        probe = breaker.acquire()
        breaker.record_failure(probe)


def test_breaker_opens_after_five_consecutive_failures():
    breaker = make_breaker(FakeClock())
    fail(breaker, 4)
    assert breaker.state == "closed"
    fail(breaker, 1)
    assert breaker.state == "open"
    with pytest.raises(resilience.DependencyUnavailable) as refused:
        breaker.acquire()
    assert refused.value.retry_after_s == 30


def test_a_success_resets_the_failure_count():
    breaker = make_breaker(FakeClock())
    fail(breaker, 4)
    breaker.record_success(breaker.acquire())
    fail(breaker, 4)
    assert breaker.state == "closed"


def test_half_open_lets_exactly_one_probe_through():
    clock = FakeClock()
    breaker = make_breaker(clock)
    fail(breaker, 5)
    clock.advance(30)
    assert breaker.state == "half_open"
    assert breaker.acquire() is True
    with pytest.raises(resilience.DependencyUnavailable):
        breaker.acquire()


def test_successful_probe_closes_and_failed_probe_reopens():
    clock = FakeClock()
    breaker = make_breaker(clock)
    fail(breaker, 5)
    clock.advance(30)
    breaker.record_failure(breaker.acquire())
    assert breaker.state == "open"
    assert breaker.retry_after_s() == 30
    clock.advance(30)
    breaker.record_success(breaker.acquire())
    assert breaker.state == "closed"


def test_late_success_from_before_the_trip_does_not_close_the_breaker():
    breaker = make_breaker(FakeClock())
    fail(breaker, 5)
    breaker.record_success(False)
    assert breaker.state == "open"


def test_backoff_is_full_jitter_doubling_from_100ms_capped_at_5s():
    policy = resilience.RetryPolicy(attempts=3, base_s=0.1, cap_s=5.0)
    rng = random.Random(7)
    for retry_number, ceiling in [(1, 0.1), (2, 0.2), (3, 0.4), (7, 5.0), (20, 5.0)]:
        pauses = [policy.backoff_s(retry_number, rng) for _ in range(500)]
        assert min(pauses) >= 0.0
        assert max(pauses) <= ceiling
        assert max(pauses) > ceiling * 0.9  # the whole range is used, not a fixed fraction


def _call(attempt, breaker, idempotent=True, budget_s=10.0, attempts=3):
    clock = FakeClock()
    sleeps = []
    result = resilience.call(attempt, breaker, resilience.RetryPolicy(attempts=attempts),
                             resilience.Deadline(budget_s, clock=clock), idempotent, min_try_s=0.15,
                             sleep=sleeps.append, rng=random.Random(1))
    return result, sleeps


def failing_then(successes_after, value="ok"):
    calls = []

    def attempt():
        calls.append(1)
        if len(calls) <= successes_after:
            raise resilience.TransientError("timeout")
        return value

    return attempt, calls


def test_transient_failures_of_idempotent_calls_are_retried():
    attempt, calls = failing_then(2)
    result, sleeps = _call(attempt, make_breaker(FakeClock()))
    assert result == "ok" and len(calls) == 3 and len(sleeps) == 2


def test_at_most_three_attempts():
    attempt, calls = failing_then(10)
    with pytest.raises(resilience.DependencyUnavailable):
        _call(attempt, make_breaker(FakeClock()))
    assert len(calls) == 3


def test_non_idempotent_calls_are_never_retried():
    attempt, calls = failing_then(1)
    with pytest.raises(resilience.DependencyUnavailable):
        _call(attempt, make_breaker(FakeClock()), idempotent=False)
    assert len(calls) == 1


def test_no_retry_when_the_deadline_cannot_fit_another_try():
    attempt, calls = failing_then(1)
    with pytest.raises(resilience.DependencyUnavailable):
        _call(attempt, make_breaker(FakeClock()), budget_s=0.1)
    assert len(calls) == 1


def test_client_errors_pass_through_without_retry_and_free_the_probe():
    clock = FakeClock()
    breaker = make_breaker(clock)
    fail(breaker, 5)
    clock.advance(30)
    calls = []

    def rejected():
        calls.append(1)
        raise shophttp.HttpError(404, "unknown product")

    with pytest.raises(shophttp.HttpError):
        _call(rejected, breaker)
    assert len(calls) == 1
    assert breaker.state == "closed"  # the dependency answered: the probe succeeded


def test_breaker_opening_mid_retry_stops_the_retries():
    breaker = make_breaker(FakeClock(), threshold=2)
    attempt, calls = failing_then(10)
    with pytest.raises(resilience.DependencyUnavailable) as gave_up:
        _call(attempt, breaker)
    assert len(calls) == 2
    assert "breaker open" in str(gave_up.value)


def test_router_tells_404_from_405():
    router = shophttp.Router()
    router.add("GET", r"/products/(?P<id>\d+)", lambda request: "product")
    handler, params = router.resolve("GET", "/products/12")
    assert params == {"id": "12"}
    with pytest.raises(shophttp.HttpError) as wrong_method:
        router.resolve("POST", "/products/12")
    assert wrong_method.value.status == 405
    with pytest.raises(shophttp.HttpError) as missing:
        router.resolve("GET", "/nothing")
    assert missing.value.status == 404


def test_error_log_folds_repeats(capsys):
    errors = shophttp.ErrorLog("api", quiet_s=3600)
    for _ in range(5):
        errors.error("redis timeout")
    assert capsys.readouterr().err.count("redis timeout") == 1
