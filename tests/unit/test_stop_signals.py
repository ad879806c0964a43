"""SIGINT/SIGTERM as the runner and the game day take them: stop the work, but never cut the cleanup short."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

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


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_without_a_listener_a_signal_during_cleanup_is_ignored_silently(signum):
    """In a process of its own: a signal not ignored would end it (or raise), and 'silently' is checked on its
    output."""
    script = textwrap.dedent(f"""
        import os, signal
        from chaos.signals import StopSignals
        guard = StopSignals()
        guard.install()
        guard.cleaning_up()
        os.kill(os.getpid(), {int(signum)})
        guard.restore()
        print("cleanup went on")
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert (done.returncode, done.stdout, done.stderr) == (0, "cleanup went on\n", "")
