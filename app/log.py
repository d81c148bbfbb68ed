"""The app's log file, and what happens to errors nobody caught.

Tracebacks go to ``logs_dir()/app.log``; the user sees a short message that says where the
details are. (A log is appended to, so it is the one file not written atomically.)
"""

from __future__ import annotations

import logging
import logging.handlers
import os
import sys
import threading
from pathlib import Path

from alexnet_tf.paths import logs_dir

LOG_FILE = "app.log"
logger = logging.getLogger("alexnet_studio.app")


def log_path() -> Path:
    """Path of the app's log file (in the data folder's ``logs``)."""
    return logs_dir() / LOG_FILE


def setup_logging() -> Path:
    """Send the app's log records to the log file (once per process); return its path."""
    path = log_path()
    root = logging.getLogger("alexnet_studio")
    if not any(getattr(h, "baseFilename", None) == str(path) for h in root.handlers):
        for handler in list(root.handlers):  # a previous data folder (tests switch it)
            root.removeHandler(handler)
            handler.close()
        handler = logging.handlers.RotatingFileHandler(
            path, maxBytes=2_000_000, backupCount=2, encoding="utf-8"
        )
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)s %(threadName)s %(name)s: %(message)s")
        )
        root.addHandler(handler)
        root.setLevel(logging.INFO)
    return path


def short_error_message(error: BaseException) -> str:
    """What the user reads about an unexpected error: one line, and where the details are."""
    text = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    if len(text) > 200:
        text = text[:197] + "..."
    return (
        f"Something went wrong: {text}\n\nThe app is still usable. "
        f"Details were written to {log_path()}."
    )


def install_exception_hooks(show_message) -> None:
    """Log uncaught exceptions (GUI and other threads) and show ``show_message(text)``.

    Qt calls Python slots from C++; an exception escaping a slot would otherwise only be
    printed to a console the user does not see.
    """

    def on_exception(kind, value, trace):
        if issubclass(kind, KeyboardInterrupt):
            sys.__excepthook__(kind, value, trace)
            return
        logger.error("Unexpected error", exc_info=(kind, value, trace))
        try:
            show_message(short_error_message(value))
        except Exception:  # never let the hook itself raise
            logger.exception("Could not show the error message")

    def on_thread_exception(args):
        logger.error(
            "Unexpected error in thread %s",
            args.thread.name if args.thread else "?",
            exc_info=(args.exc_type, args.exc_value, args.exc_traceback),
        )

    sys.excepthook = on_exception
    threading.excepthook = on_thread_exception


def seconds_since_process_start() -> float:
    """Seconds since this process started (Linux: from /proc, so the interpreter's own start
    counts); elsewhere since ``app.launch`` was imported."""
    import time

    try:
        with open("/proc/self/stat", encoding="ascii") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        with open("/proc/uptime", encoding="ascii") as uptime:
            up = float(uptime.read().split()[0])
        ticks = os.sysconf("SC_CLK_TCK")
        return max(0.0, up - int(fields[19]) / ticks)
    except (OSError, ValueError, IndexError, AttributeError):
        from .launch import LAUNCHED

        return time.time() - LAUNCHED
