"""Circuit breaker, retry with full-jitter backoff, and deadlines (pure, no I/O)."""

import math
import random
import threading
import time

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"


class TransientError(Exception):
    """A failure worth retrying and worth counting against a breaker: timeout, refused, 5xx."""


class DependencyUnavailable(Exception):
    """The call gave up: breaker open, attempts used up, or no time left."""

    def __init__(self, dependency, reason, retry_after_s=1):
        super().__init__(f"{dependency}: {reason}")
        self.dependency = dependency
        self.reason = reason
        self.retry_after_s = retry_after_s


class CircuitBreaker:
    """Opens after `failure_threshold` consecutive failures; after `reset_s` lets one probe through."""

    def __init__(self, name, failure_threshold=5, reset_s=30.0, clock=time.monotonic):
        self.name = name
        self.failure_threshold = failure_threshold
        self.reset_s = reset_s
        self._clock = clock
        self._lock = threading.Lock()
        self._state = CLOSED
        self._consecutive_failures = 0
        self._opened_at = 0.0
        self._probe_in_flight = False

    @property
    def state(self):
        with self._lock:
            if self._state == OPEN and self._reset_due():
                return HALF_OPEN
            return self._state

    def retry_after_s(self):
        """Whole seconds until a probe may go through (at least 1); 0 when closed."""
        with self._lock:
            if self._state == CLOSED:
                return 0
            if self._state == HALF_OPEN:
                return 1
            return max(1, math.ceil(self.reset_s - (self._clock() - self._opened_at)))

    def acquire(self):
        """Returns True if this call is the half-open probe, False for an ordinary call.

        Raises DependencyUnavailable while the breaker refuses calls.
        """
        with self._lock:
            if self._state == CLOSED:
                return False
            if self._state == OPEN and self._reset_due():
                self._state = HALF_OPEN
            if self._state == HALF_OPEN and not self._probe_in_flight:
                self._probe_in_flight = True
                return True
        raise DependencyUnavailable(self.name, "circuit breaker open", self.retry_after_s())

    def record_success(self, is_probe):
        with self._lock:
            if is_probe:
                self._probe_in_flight = False
                self._state = CLOSED
                self._consecutive_failures = 0
            elif self._state == CLOSED:
                self._consecutive_failures = 0
            # A late success from a call started before the breaker opened proves nothing.

    def record_failure(self, is_probe):
        with self._lock:
            if is_probe:
                self._probe_in_flight = False
                self._open()
            elif self._state == CLOSED:
                self._consecutive_failures += 1
                if self._consecutive_failures >= self.failure_threshold:
                    self._open()

    def _open(self):
        self._state = OPEN
        self._opened_at = self._clock()
        self._consecutive_failures = 0

    def _reset_due(self):
        return self._clock() - self._opened_at >= self.reset_s


class RetryPolicy:
    """`attempts` tries in all; pauses drawn uniformly from [0, min(cap, base * 2**(n-1))]."""

    def __init__(self, attempts=3, base_s=0.1, cap_s=5.0):
        self.attempts = attempts
        self.base_s = base_s
        self.cap_s = cap_s

    def backoff_s(self, retry_number, rng=random):
        return rng.uniform(0.0, min(self.cap_s, self.base_s * 2 ** (retry_number - 1)))


class Deadline:
    def __init__(self, budget_s, clock=time.monotonic):
        self._clock = clock
        self._expires = clock() + budget_s

    def remaining(self):
        return max(0.0, self._expires - self._clock())


def call(attempt, breaker, policy, deadline, idempotent, min_try_s, sleep=time.sleep, rng=random):
    """Run `attempt()` through `breaker`, retrying transient failures of idempotent calls.

    A retry is only started if the pause plus one more try of `min_try_s` fits in
    the deadline, so the caller's latency budget holds even while retrying.
    """
    tries = 0
    while True:
        tries += 1
        is_probe = breaker.acquire()
        try:
            result = attempt()
        except TransientError as exc:
            breaker.record_failure(is_probe)
            if not idempotent or tries >= policy.attempts:
                raise DependencyUnavailable(breaker.name, f"{exc} (after {tries} tries)",
                                            max(1, breaker.retry_after_s())) from exc
            pause = policy.backoff_s(tries, rng)
            if deadline.remaining() < pause + min_try_s:
                raise DependencyUnavailable(breaker.name, f"{exc} (deadline reached after {tries} tries)",
                                            max(1, breaker.retry_after_s())) from exc
            sleep(pause)
        except BaseException:
            # Anything else means the dependency answered (e.g. a 4xx); the probe must not stay held.
            breaker.record_success(is_probe)
            raise
        else:
            breaker.record_success(is_probe)
            return result
