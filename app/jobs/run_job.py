"""``python -m app.jobs.run_job EVENTS STDERR EXIT COMMAND...``: run COMMAND, outputs in files.

The app starts jobs with ``QProcess.startDetached`` (so they can outlive it), which gives the
process id but cannot redirect output, and leaves the app unable to learn how the process
ended (it is not the parent). This small launcher fills both gaps. It

- makes itself the leader of a new process group, so the app can signal the job and any
  child it starts as one (``os.killpg`` on the recorded pid);
- runs COMMAND as its child with stdout (the JSON lines) and stderr appended to the files;
- waits for it and writes how it ended (exit status, or the signal that killed it) to EXIT.

The launcher itself ignores SIGINT/SIGTERM (the job checkpoints and exits on them; the
launcher then records that and exits too). Imports nothing heavy.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from alexnet_tf.fileio import write_json_atomic
from alexnet_tf.quiet import quiet_tensorflow


def _ignore(signum, frame) -> None:
    """A handler, not SIG_IGN: handlers are reset at exec, so the job gets default signals."""


def exit_record(pid: int, returncode: int) -> dict:
    """What EXIT says about a process that ended with ``returncode`` (negative: a signal)."""
    record = {"pid": pid, "returncode": returncode, "ended": time.time()}
    if returncode < 0:
        try:
            record["signal"] = signal.Signals(-returncode).name
            record["signal_text"] = signal.strsignal(-returncode) or ""
        except ValueError:
            record["signal"] = f"signal {-returncode}"
    return record


def main(argv: list[str]) -> int:
    """Redirect to ``argv[0]``/``argv[1]``, run ``argv[3:]``, write how it ended to ``argv[2]``."""
    if len(argv) < 4:
        print("usage: python -m app.jobs.run_job EVENTS STDERR EXIT COMMAND...", file=sys.stderr)
        return 2
    events, errors, exit_path, command = argv[0], argv[1], argv[2], argv[3:]
    try:
        os.setpgid(0, 0)
    except OSError:  # already a group leader
        pass
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _ignore)
    env = dict(os.environ, PYTHONUNBUFFERED="1", PYTHONFAULTHANDLER="1")
    # The job's stderr is a file of its own (the Jobs panel shows its end when a job dies), so
    # TensorFlow's native lines stay in it rather than in the shared tensorflow.log.
    quiet_tensorflow(env)
    root = Path(__file__).resolve().parents[2]
    if (root / "alexnet_tf").is_dir():  # a checkout: keep `-m app.launch` importable
        paths = [str(root), *filter(None, env.get("PYTHONPATH", "").split(os.pathsep))]
        env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
    for path in (events, errors):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    with open(events, "ab") as out, open(errors, "ab") as err:
        try:
            child = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=out, stderr=err, env=env
            )
        except OSError as error:
            err.write(f"cannot start {command[0]}: {error}\n".encode())
            write_json_atomic(exit_path, {"pid": None, "returncode": 127, "ended": time.time(),
                                          "error": str(error)})  # fmt: skip
            return 127
    returncode = child.wait()
    write_json_atomic(exit_path, exit_record(child.pid, returncode))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
