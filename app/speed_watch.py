"""The once-per-machine speed measurement, seen from the app: started after the model has
loaded (so it never competes with the window or the first result), run in its own process at
low priority (``alexnet_tf.speed_measurement``), and announced when its choices are in the cache."""

from __future__ import annotations

import logging
import threading

from PySide6.QtCore import QObject, Signal

logger = logging.getLogger("alexnet_studio.app.speed")


class SpeedMeasurement(QObject):
    """Starts the background measurement at most once; ``measured`` fires when it is done."""

    measured = Signal(bool)  # True: the cache now holds this machine's choices

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._started = False

    def start(self) -> bool:
        """Start measuring unless done, forced or already running; True if a process started."""
        if self._started:
            return False
        self._started = True
        from alexnet_tf.speed import start_background_measurement

        try:
            process = start_background_measurement()
        except Exception:  # a broken data folder must not break the app; the default path runs
            logger.exception("Could not start the speed measurement")
            return False
        if process is None:
            return False
        logger.info("Measuring this machine's fastest paths in process %d", process.pid)
        # A plain thread waits for the process (the process may outlive the window: it keeps
        # measuring and writes the cache for the next launch).
        threading.Thread(
            target=self._wait, args=(process,), name="speed-measurement", daemon=True
        ).start()
        return True

    def _wait(self, process) -> None:
        returncode = process.wait()
        logger.info("Speed measurement ended with status %d", returncode)
        try:
            self.measured.emit(returncode == 0)
        except RuntimeError:  # the window (and this object) is gone already
            pass
