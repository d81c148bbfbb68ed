"""Run ``alexnet-studio`` as a user does: a fresh process, this test's environment."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-m", "app.launch"]


def run_cli(*args, env=None, cwd=ROOT, timeout=300) -> subprocess.CompletedProcess:
    """Run ``alexnet-studio ARGS...`` and return its completed process (text output).

    ``env`` defaults to a copy of this process's environment, which carries the test's
    ``ALEXNET_STUDIO_HOME``.
    """
    return subprocess.run(
        [*CLI, *map(str, args)],
        cwd=cwd,
        env=os.environ.copy() if env is None else env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def free_ports(count: int) -> list[int]:
    """``count`` TCP ports on 127.0.0.1 that are free now (for the workers of a test job)."""
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports
