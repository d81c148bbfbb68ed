"""Stopping a long command cleanly on Ctrl+C or SIGTERM (``train``, ``evaluate``).

The signal only sets a flag; the work checks it between steps, so it stops at a point where
nothing is half-written and can say what it did.
"""

from __future__ import annotations

import signal
import sys


class StopFlag:
    """Set by SIGINT/SIGTERM once ``install``\\ ed; calling it answers "was a stop asked for?".

    Args:
        message: printed on stderr when the first signal arrives (e.g. what happens next).
        second_interrupts: a second signal raises ``KeyboardInterrupt`` at once, for work that
            can be abandoned (not for a training step that is writing a checkpoint).
    """

    def __init__(self, message: str | None = None, second_interrupts: bool = False):
        self.requested = False
        self.message = message
        self.second_interrupts = second_interrupts

    def __call__(self) -> bool:
        return self.requested

    def install(self) -> None:
        def handler(signum, frame):
            if self.requested and self.second_interrupts:
                raise KeyboardInterrupt
            self.requested = True
            if self.message:
                print(f"\n{self.message}", file=sys.stderr, flush=True)

        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, handler)
