"""SIGINT and SIGTERM for the runner and the game day: until cleanup begins either one stops the work (as
``Interrupted``); once it has begun they are ignored, so that a second Ctrl-C never cuts a revert short."""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager
from typing import Callable

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
EXIT_INTERRUPTED = {signal.SIGINT: 130, signal.SIGTERM: 143}


class Interrupted(BaseException):
    """SIGINT/SIGTERM arrived. A BaseException so that no ``except Exception`` swallows it."""

    def __init__(self, signum: int):
        self.signum = signum
        super().__init__(signal.Signals(signum).name)


class StopSignals:
    """``install()`` before the work, ``cleaning_up()`` when teardown begins, ``restore()`` at the very end
    (the handlers that were there before come back). ``on_ignored(signum)`` hears of each signal ignored
    during cleanup."""

    def __init__(self, on_ignored: Callable[[int], None] | None = None):
        self.on_ignored = on_ignored
        self.cleaning = False
        self._previous: dict = {}

    def install(self) -> None:
        for signum in STOP_SIGNALS:
            self._previous[signum] = signal.signal(signum, self._on_signal)

    def cleaning_up(self) -> None:
        self.cleaning = True

    def restore(self) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous.clear()

    def _on_signal(self, signum, _frame) -> None:
        if not self.cleaning:
            raise Interrupted(signum)
        if self.on_ignored is not None:
            self.on_ignored(signum)


@contextmanager
def shielded(on_ignored: Callable[[int], None] | None = None):
    """Around a revert outside the runner (the pytest fixture): SIGINT and SIGTERM that arrive inside are held,
    told through ``on_ignored``, and delivered again once the block is done, to the handlers that were there (a
    first Ctrl-C still stops the session, after the revert). Only the main thread receives signals; elsewhere
    this does nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    held: list[int] = []

    def hold(signum, _frame) -> None:
        held.append(signum)
        if on_ignored is not None:
            on_ignored(signum)

    previous = {signum: signal.signal(signum, hold) for signum in STOP_SIGNALS}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        if held:
            signal.raise_signal(held[0])
