"""SIGINT/SIGTERM as the runner and the game day take them: stop the work, but never cut the cleanup short."""

from __future__ import annotations

import os
import signal

import pytest

from chaos.signals import EXIT_INTERRUPTED, Interrupted, StopSignals


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_stops_the_work_then_is_ignored_and_told_during_cleanup(signum):
    before = signal.getsignal(signum)
    ignored = []
    guard = StopSignals(on_ignored=ignored.append)
    guard.install()
    try:
        with pytest.raises(Interrupted) as stopped:
            os.kill(os.getpid(), signum)
        assert stopped.value.signum == signum and EXIT_INTERRUPTED[signum] in (130, 143)
        guard.cleaning_up()
        os.kill(os.getpid(), signum)  # handled before kill returns: no exception, just told
        assert ignored == [signum]
    finally:
        guard.restore()
    assert signal.getsignal(signum) is before


def test_without_a_listener_a_signal_during_cleanup_is_ignored_silently():
    guard = StopSignals()
    guard.install()
    try:
        guard.cleaning_up()
        os.kill(os.getpid(), signal.SIGTERM)
    finally:
        guard.restore()
