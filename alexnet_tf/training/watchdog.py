"""The step watchdog: a job whose training step hangs stops, instead of waiting forever.

In a multi-worker job every step waits for the other workers (gradients are summed across
them). TensorFlow notices a worker that died (its heartbeats stop) and aborts the step, but a
peer that hangs while its connections stay open can leave a step waiting forever. The
watchdog bounds that wait: if a step has not finished after its limit, it records the
failure in the job folder and ends the process with exit status 1, so the job can be resumed
from its last checkpoint.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable, Iterator

# The first step also compiles the step function (XLA): give it much longer.
FIRST_STEP_SECONDS = 600.0
# A later step may take this many times the slowest step seen so far before it counts as hung.
SLOWDOWN_ALLOWED = 10.0


class StepWatchdog:
    """Fails the job when one training step takes far longer than it should.

    Args:
        floor_seconds: no step is ever judged hung before this many seconds.
        on_hang: called with a message when a step is hung, before the process exits; it
            should record the failure (status, log, error event) and must not block.
        exit_status: the process exit status after a hang.
    """

    def __init__(self, floor_seconds: float, on_hang: Callable[[str], None], exit_status: int = 1):
        self.floor_seconds = float(floor_seconds)
        self.on_hang = on_hang
        self.exit_status = exit_status
        self._slowest: float | None = None
        self._deadline: float | None = None
        self._began = 0.0
        self._condition = threading.Condition()
        self._thread = threading.Thread(target=self._watch, name="step-watchdog", daemon=True)
        self._thread.start()

    def limit(self) -> float:
        """Seconds the next step may take."""
        if self._slowest is None:
            return max(self.floor_seconds, FIRST_STEP_SECONDS)
        return max(self.floor_seconds, SLOWDOWN_ALLOWED * self._slowest)

    @contextlib.contextmanager
    def step(self) -> Iterator[None]:
        """Watch the step run inside this block."""
        self.begin()
        try:
            yield
        finally:
            self.end()

    def begin(self) -> None:
        """A step starts: from now on it has ``limit()`` seconds."""
        began = time.monotonic()
        limit = self.limit()
        with self._condition:
            self._began = began
            self._deadline = began + limit
            self._condition.notify()

    def end(self) -> None:
        """The step ended (or failed, or the run stops): nothing is watched until the next
        ``begin``. A second call does nothing."""
        with self._condition:
            if self._deadline is None:
                return
            self._deadline = None
        took = time.monotonic() - self._began
        self._slowest = took if self._slowest is None else max(self._slowest, took)

    def _watch(self) -> None:
        with self._condition:
            while True:
                if self._deadline is None:
                    self._condition.wait()
                    continue
                remaining = self._deadline - time.monotonic()
                if remaining > 0:
                    self._condition.wait(remaining)
                    continue
                limit = self.limit()
                break
        self.on_hang(
            f"A training step did not finish within {limit:.0f} s: another worker of this job "
            "has stopped responding (or its network is down), so this worker stops too."
        )
        os._exit(self.exit_status)  # the main thread is stuck inside TensorFlow: end the process
