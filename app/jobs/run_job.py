"""``python -m app.jobs.run_job EVENTS STDERR COMMAND...``: become COMMAND with its output in files.

The app starts jobs with ``QProcess.startDetached`` (so they can outlive it), which gives the
process id but cannot redirect output. This tiny launcher points stdout (the JSON lines) and
stderr at the given files, appending, and then replaces itself with the command: the job
keeps the launcher's process id, the one the app recorded. Imports nothing heavy.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    """Redirect stdout/stderr to ``argv[0]``/``argv[1]`` and exec ``argv[2:]``."""
    if len(argv) < 3:
        print("usage: python -m app.jobs.run_job EVENTS STDERR COMMAND...", file=sys.stderr)
        return 2
    events, errors, command = argv[0], argv[1], argv[2:]
    flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND
    for path, fd in ((events, 1), (errors, 2)):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        target = os.open(path, flags, 0o644)
        os.dup2(target, fd)
        os.close(target)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    os.environ["PYTHONUNBUFFERED"] = "1"
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    root = Path(__file__).resolve().parents[2]
    if (root / "alexnet_tf").is_dir():  # a checkout: keep `-m app.launch` importable
        paths = [str(root), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
        os.environ["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
    os.execv(command[0], command)
    return 1  # not reached


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
