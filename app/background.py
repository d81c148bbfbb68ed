"""One long run at a time in a plain Python thread: the app's evaluation, atlas and
preferred-image work."""

from __future__ import annotations

import threading


class BackgroundRuns:
    """Starts ``target(*args, stop)`` in a daemon thread; the newest run is the current one.

    A ``threading.Thread``, not a ``QThread``: a ``QThread`` deadlocked against TensorFlow
    (see ``model_worker``). ``start`` cancels the current run without waiting for it (it may
    be loading a model: seconds the window would freeze); a cancelled run ends at its next
    check of ``stop`` and, as ``is_current(stop)`` is then False, reports nothing. ``stop``
    waits for every run still ending, at the app's close: TensorFlow must not be running in a
    thread when the interpreter shuts down.
    """

    def __init__(self, name: str):
        self.name = name
        self.thread: threading.Thread | None = None
        self._threads: list[threading.Thread] = []  # the current run and cancelled ones ending
        self._stop = threading.Event()

    def start(self, target, *args) -> None:
        """Cancel the current run and start ``target(*args, stop_event)``."""
        self.cancel()
        self._threads = [t for t in self._threads if t.is_alive()]
        self._stop = threading.Event()
        self.thread = threading.Thread(
            target=target, args=(*args, self._stop), name=self.name, daemon=True
        )
        self._threads.append(self.thread)
        self.thread.start()

    def is_current(self, stop: threading.Event) -> bool:
        """Whether the run given ``stop`` is the newest one (only it may report)."""
        return stop is self._stop

    def is_running(self) -> bool:
        return self.thread is not None and self.thread.is_alive()

    def cancel(self) -> None:
        """Ask the current run to stop at its next check."""
        self._stop.set()

    def stop(self, timeout: float = 120.0) -> None:
        """Cancel and wait for every run still ending."""
        self.cancel()
        for thread in self._threads:
            thread.join(timeout)
        self._threads = []


class RunsInBackground:
    """``thread``, ``is_running``, ``cancel`` and ``stop`` for an object whose runs go through
    ``self.runs`` (a ``BackgroundRuns``), as the app's four long-run objects do."""

    runs: BackgroundRuns

    @property
    def thread(self) -> threading.Thread | None:
        return self.runs.thread

    def is_running(self) -> bool:
        return self.runs.is_running()

    def cancel(self) -> None:
        """Ask the current run to stop at its next check (after the images or step in hand)."""
        self.runs.cancel()

    def stop(self, timeout: float = 120.0) -> None:
        """Cancel and wait for every run still ending (at the app's close)."""
        self.runs.stop(timeout)
