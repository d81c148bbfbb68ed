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

Every one of TensorFlow's log settings is made by ``quiet_tensorflow``, and only there: each
entry point (the command line, the app, the background measurement, the app's job launcher,
the benchmarks) calls it before TensorFlow is imported; no library module sets them when it
is imported.
"""

from __future__ import annotations

import io
import os
import sys
from pathlib import Path

VERBOSE_ENV = "ALEXNET_STUDIO_VERBOSE"
LEVEL_ENV = "TF_CPP_MIN_LOG_LEVEL"
QUIET_LEVEL = "2"  # TensorFlow's warnings, errors and fatal messages; no INFO lines
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


def quiet_tensorflow(child_environ: dict | None = None) -> Path | None:
    """Make TensorFlow's log settings: the one place they are made.

    For this process (no argument; call it first, before TensorFlow is imported): unless the
    user asked to see everything or set ``TF_CPP_MIN_LOG_LEVEL`` themselves, descriptor 2
    goes to the native log for the rest of the process and ``sys.stderr`` keeps the terminal.
    Where the log cannot be opened (a read-only data folder: better chatty than broken),
    TensorFlow is asked for its warnings and errors only, so its INFO lines do not drown a
    progress bar. Child processes inherit the redirected descriptor 2; Python code in them
    that writes to stderr should get a pipe or a file of its own (the app's job launcher does).

    For a child whose stderr is a file of its own (a job the app starts: the Jobs panel shows
    that file's end when a job dies), ``child_environ`` gets ``TF_CPP_MIN_LOG_LEVEL=2`` unless
    it is set: the child's native lines stay in its file, warnings and errors only, and the
    child's own call of this function then leaves its descriptor 2 alone.

    Returns the log's path, or ``None`` when nothing was redirected.
    """
    if child_environ is not None:
        child_environ.setdefault(LEVEL_ENV, QUIET_LEVEL)
        return None
    if _redirected_to is not None:
        return _redirected_to
    if verbose_requested() or LEVEL_ENV in os.environ:
        return None
    path = _redirect_native_stderr()
    if path is None:
        os.environ[LEVEL_ENV] = QUIET_LEVEL
    return path


def _redirect_native_stderr() -> Path | None:
    """Point descriptor 2 at the native log and ``sys.stderr`` at a duplicate of the old one."""
    global _redirected_to
    try:
        path = native_log_path()
        if path.exists() and path.stat().st_size > _MAX_LOG_BYTES:
            os.replace(path, path.with_name(NATIVE_LOG + ".1"))
        log_fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    except OSError:
        return None
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
