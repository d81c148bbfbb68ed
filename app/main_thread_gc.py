"""Python's cyclic garbage collector runs only in the GUI thread while the window is open.

Left automatic, Python collects in whichever thread happens to cross the allocation
threshold: often the model thread, busy with TensorFlow. A collection there destroys any Qt
object that was part of a reference cycle (a closed menu, a dialog) outside the GUI thread,
which Qt forbids; with PySide 6.12 it deadlocked the app (seen in the end-to-end test: the
model thread, collecting, destroyed a Qt object and waited for the GIL, while the GUI thread,
holding it, destroyed a QMenu and waited for Qt's object lock). So automatic collection is
off and a timer in the GUI thread collects instead: the young generations on every tick (well
under a millisecond), everything at most every ``FULL_EVERY_S`` seconds, because a full
collection with TensorFlow loaded takes about 0.2 s, a pause the user could see.
"""

from __future__ import annotations

import gc
import time

from PySide6.QtCore import QObject, QTimer

INTERVAL_MS = 500
FULL_EVERY_S = 600.0


class MainThreadGarbageCollector(QObject):
    """Turns automatic collection off until ``stop()``; collects from a GUI-thread timer."""

    _active = 0  # collectors running (a test may open several windows)

    def __init__(self, parent=None):
        super().__init__(parent)
        MainThreadGarbageCollector._active += 1
        gc.disable()
        self._last_full = time.monotonic()
        self.timer = QTimer(self)
        self.timer.timeout.connect(self.collect)
        self.timer.start(INTERVAL_MS)

    def collect(self) -> None:
        """Collect the young generations; everything when Python would (its thresholds) and
        the last full collection is ``FULL_EVERY_S`` old."""
        counts, thresholds = gc.get_count(), gc.get_threshold()
        now = time.monotonic()
        if counts[2] > thresholds[2] and now - self._last_full >= FULL_EVERY_S:
            self._last_full = now
            gc.collect(2)
        else:
            gc.collect(1 if counts[1] > thresholds[1] else 0)

    def stop(self) -> None:
        """Give collection back to Python (once the last collector stops)."""
        if not self.timer.isActive():
            return
        self.timer.stop()
        MainThreadGarbageCollector._active -= 1
        if MainThreadGarbageCollector._active == 0:
            gc.enable()
