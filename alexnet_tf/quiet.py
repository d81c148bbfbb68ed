"""A quiet terminal: TensorFlow's C++ start-up lines go to a log file, not to the user.

TensorFlow's native code writes straight to file descriptor 2, some of it before Python's
logging exists and some of it much later (the cuInit error at first device use, the XLA
service lines at the first compilation). ``TF_CPP_MIN_LOG_LEVEL`` cannot silence all of it:
absl's "All log messages before absl::InitializeLog()" warning and the ``E0000 ... cuInit``
line ignore level 2. So for the whole process, descriptor 2 points at
``logs_dir()/tensorflow.log`` and Python's ``sys.stderr`` (everything this project prints,
tracebacks, warnings) keeps writing to the original terminal through a duplicate of it.

Not done when the user asks to see everything (``--verbose`` or ``ALEXNET_STUDIO_VERBOSE=1``)
or has set ``TF_CPP_MIN_LOG_LEVEL`` themselves: their choice of what TensorFlow prints wins.
(Jobs the app starts set it to 2, so a job's native lines stay in that job's own stderr file.)
"""

from __future__ import annotations

import io
import os
import sys
from pathlib import Path

VERBOSE_ENV = "ALEXNET_STUDIO_VERBOSE"
NATIVE_LOG = "tensorflow.log"
_MAX_LOG_BYTES = 2_000_000  # then the old log becomes tensorflow.log.1
_redirected_to: Path | None = None


def verbose_requested(environ=None) -> bool:
    """True when the user asked for TensorFlow's own messages on the terminal."""
    environ = os.environ if environ is None else environ
    return environ.get(VERBOSE_ENV, "").strip().lower() in ("1", "true", "yes", "on")


def native_log_path() -> Path:
    """Where TensorFlow's C++ messages go while the terminal is quiet."""
    from .paths import logs_dir

    return logs_dir() / NATIVE_LOG


def quiet_native_stderr() -> Path | None:
    """Send descriptor 2 to the native log for the rest of the process; keep ``sys.stderr``.

    Call before TensorFlow is imported. Returns the log's path, or ``None`` when nothing was
    redirected (verbose, the user's own ``TF_CPP_MIN_LOG_LEVEL``, or the log cannot be opened).
    Child processes inherit the redirected descriptor 2; Python code in them that writes to
    stderr should get a pipe or a file of its own (the app's job launcher does).
    """
    global _redirected_to
    if _redirected_to is not None:
        return _redirected_to
    if verbose_requested() or "TF_CPP_MIN_LOG_LEVEL" in os.environ:
        return None
    try:
        path = native_log_path()
        if path.exists() and path.stat().st_size > _MAX_LOG_BYTES:
            os.replace(path, path.with_name(NATIVE_LOG + ".1"))
        log_fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    except OSError:
        return None  # a read-only data folder: better chatty than broken
    sys.stderr.flush()
    terminal_fd = os.dup(2)  # not inheritable: children get the log as their fd 2
    os.dup2(log_fd, 2)
    os.close(log_fd)
    original = sys.stderr
    sys.stderr = io.TextIOWrapper(
        io.FileIO(terminal_fd, "w"),
        encoding=getattr(original, "encoding", None) or "utf-8",
        errors="backslashreplace",
        line_buffering=True,
        write_through=True,
    )
    import faulthandler

    if faulthandler.is_enabled():  # PYTHONFAULTHANDLER: a crash's stacks belong on the terminal
        faulthandler.enable(sys.stderr)
    _redirected_to = path
    return path
