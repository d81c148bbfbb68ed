"""The step watchdog ends a process whose step hangs, after recording why.

TensorFlow's own heartbeats end a multi-worker step when a peer dies or stops (see
tests/e2e/test_faults.py); the watchdog is the bound for any hang they miss. A real process
whose step never returns shows it does its job.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time

HANGING_JOB = textwrap.dedent(
    """
    import sys, time
    from alexnet_tf.training.watchdog import StepWatchdog

    def record(message):
        print("recorded:", message, flush=True)

    watchdog = StepWatchdog(1.0, record, exit_status=1)  # after the first step: 1 s
    for step in range(3):
        with watchdog.step():
            time.sleep(0.05 if step < 2 else 3600)  # the third step hangs
        print("step", step, flush=True)
    """
)


def test_a_hung_step_ends_the_process_with_its_reason():
    result = subprocess.run(
        [sys.executable, "-c", HANGING_JOB], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 1, result.stderr[-2000:]
    lines = result.stdout.splitlines()
    assert lines[:2] == ["step 0", "step 1"]  # quick steps are left alone
    assert lines[2].startswith("recorded: A training step did not finish within 1 s")
    assert len(lines) == 3


def test_steps_slower_than_the_floor_but_steady_are_not_hung():
    from alexnet_tf.training.watchdog import StepWatchdog

    hung = []
    watchdog = StepWatchdog(0.2, hung.append)
    for _ in range(3):
        with watchdog.step():
            time.sleep(0.3)  # each step is longer than the floor, none is 10x the slowest
    assert watchdog.limit() >= 3.0
    assert hung == []
