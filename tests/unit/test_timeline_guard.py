"""The live checks of the timeline loop step aside for a fault that is about to be due, but not for long."""

from chaos.plan import Step
from chaos.runner import MAX_CHECK_DELAY, STEP_GUARD, _step_due_soon


def step(at: float) -> Step:
    return Step(at=at, order=3, action="inject", subject="f1")


def test_checks_wait_for_a_step_due_within_the_guard():
    assert _step_due_soon([step(10.0)], t0=0.0, now=10.0 - STEP_GUARD / 2, check_due=10.0 - STEP_GUARD / 2)


def test_checks_run_when_the_next_step_is_far_or_there_is_none():
    assert not _step_due_soon([step(10.0)], t0=0.0, now=9.0, check_due=9.0)
    assert not _step_due_soon([], t0=0.0, now=9.0, check_due=9.0)


def test_dense_steps_delay_the_checks_at_most_max_check_delay():
    now = 5.0
    assert _step_due_soon([step(now + 0.01)], t0=0.0, now=now, check_due=now - MAX_CHECK_DELAY / 2)
    assert not _step_due_soon([step(now + 0.01)], t0=0.0, now=now, check_due=now - MAX_CHECK_DELAY)
