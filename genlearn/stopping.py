"""Stopping a run cleanly: the first SIGINT (Ctrl-C) or SIGTERM asks for a stop after the current step."""

from __future__ import annotations

import contextlib
import signal
import sys


class StopRequest:
    """Within ``with``: the first SIGINT or SIGTERM sets ``requested``; the run saves and stops after its step.

    A second Ctrl-C stops at once, without saving (the last periodic checkpoint stays valid). Outside the
    main thread, or with ``enabled=False``, the signals keep their handlers.
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self, enabled: bool = True):
        self.enabled = enabled
        self.signal_number = 0
        self._previous = {}

    @property
    def requested(self) -> bool:
        return self.signal_number != 0

    @property
    def signal_name(self) -> str:
        return signal.Signals(self.signal_number).name if self.signal_number else ""

    def _handle(self, number, frame) -> None:
        if self.requested and number == signal.SIGINT:
            raise KeyboardInterrupt
        self.signal_number = self.signal_number or number
        name = signal.Signals(number).name
        print(f"\n{name}: saving after this step (Ctrl-C again to quit without saving)", file=sys.stderr)

    def __enter__(self) -> StopRequest:
        if self.enabled:
            for number in self.SIGNALS:
                with contextlib.suppress(ValueError):  # not the main thread: leave signals alone
                    self._previous[number] = signal.signal(number, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for number, handler in self._previous.items():
            signal.signal(number, handler)
        self._previous.clear()
