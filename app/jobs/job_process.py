"""Starting, following and stopping training-job processes from the app.

Each job is its own ``alexnet-studio train --json`` process, launched with
``QProcess.startDetached`` so that it can outlive the app when the user chooses to keep it
running (a child started with ``QProcess.start`` dies with its ``QProcess``, and a job writing
to a pipe nobody reads would fail). ``app.jobs.run_job`` sends the process's stdout (its JSON
lines) and stderr to files the app tails (see ``job_store.run_files``), records how the
process ended, and leads a process group holding the job and any child it starts; everything
else comes from the job folder.

Cancel is SIGTERM (to the group), followed by SIGCONT so that a stopped job gets it too: the
job finishes its step, checkpoints and exits as "cancelled". A job that has not exited
KILL_AFTER_SECONDS later (stuck) is killed (SIGKILL); it can still be resumed.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

from PySide6.QtCore import QObject, QProcess, QTimer, Signal

from alexnet_tf import jobfolder
from alexnet_tf.fileio import write_json_atomic
from alexnet_tf.paths import jobs_dir

from .job_store import (
    _read_record,
    group_alive,
    launched_job_names,
    process_alive,
    process_started,
    read_job,
    run_files,
)

POLL_MS = 300
KILL_AFTER_SECONDS = 60.0  # a cancelled job still alive after this is stuck: SIGKILL
CLOSE_GRACE_SECONDS = 20.0  # closing the app waits this long for cancelled jobs to checkpoint
MAX_EVENT_LINE = jobfolder.MAX_EVENT_LINE  # longer lines are not events the app understands


def _project_root() -> Path:
    return Path(__file__).resolve().parents[2]


def train_command(args: list[str]) -> list[str]:
    """The command line of ``alexnet-studio ARGS`` with this interpreter (checkout or install)."""
    return [sys.executable, "-m", "app.launch", *map(str, args)]


def new_job_dir(folder: str | Path, name: str = "") -> Path:
    """A fresh job folder path under ``jobs_dir()`` named after the dataset (or ``name``)."""
    base = (name or Path(folder).name or "job").strip().replace(os.sep, "_")
    stamp = time.strftime("%Y%m%d-%H%M%S")
    candidate = jobs_dir() / f"{base}-{stamp}"
    number = 2
    while candidate.exists() or run_files(candidate).record.exists():
        candidate = jobs_dir() / f"{base}-{stamp}-{number}"
        number += 1
    return candidate


def settings_arguments(settings: dict) -> list[str]:
    """``train`` options for ``settings`` (keys: mode, epochs, batch_size, lr, val_split,
    precision, and any extra ``--option`` given as a list under "extra")."""
    options = {
        "mode": "--mode",
        "epochs": "--epochs",
        "batch_size": "--batch-size",
        "lr": "--lr",
        "val_split": "--val-split",
        "precision": "--precision",
    }
    args = []
    for key, flag in options.items():
        if settings.get(key) is not None:
            args += [flag, str(settings[key])]
    return args + [str(a) for a in settings.get("extra", ())]


class JobRunner(QObject):
    """Launches job processes and relays their JSON events.

    Signals:
        job_launched(str): a process was started for this job folder.
        event_received(str, dict): a JSON event line from the job in this folder.
        launch_failed(str, str): the process could not be started (job folder, reason).
    """

    job_launched = Signal(str)
    event_received = Signal(str, dict)
    launch_failed = Signal(str, str)

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._offsets: dict[str, int] = {}  # events file -> bytes already read
        self._kill_at: dict[str, float] = {}  # cancelled job -> when to kill it if still alive
        self._timer = QTimer(self)
        self._timer.setInterval(POLL_MS)
        self._timer.timeout.connect(self.poll)
        self._timer.start()

    # ------------------------------------------------------------------ launch
    def start_training(self, folder: str | Path, settings: dict, job_dir=None) -> Path:
        """Start a new job on ``folder``; returns its job folder (created by the process)."""
        job_dir = Path(job_dir) if job_dir else new_job_dir(folder, settings.get("name", ""))
        args = ["train", str(folder), "--out", str(job_dir), "--json"]
        args += settings_arguments(settings)
        self.launch(job_dir, train_command(args))
        return job_dir

    def resume(self, job_dir: str | Path) -> None:
        """Continue a cancelled, failed or interrupted job from its last checkpoint."""
        self.launch(Path(job_dir), train_command(["train", "--resume", str(job_dir), "--json"]))

    def launch(self, job_dir: str | Path, command: list[str]) -> None:
        """Run ``command`` as the process of ``job_dir`` through ``app.jobs.run_job``."""
        job_dir = Path(job_dir)
        files = run_files(job_dir)
        files.record.parent.mkdir(parents=True, exist_ok=True)
        files.exit.unlink(missing_ok=True)  # an earlier run's ending
        # On a resume the file has the earlier runs' lines: only the new run's are news.
        size = files.events.stat().st_size if files.events.exists() else 0
        self._offsets[str(files.events)] = size
        started = time.time()
        launcher = ["-m", "app.jobs.run_job", str(files.events), str(files.stderr),
                    str(files.exit), *command]  # fmt: skip
        ok, pid = QProcess.startDetached(sys.executable, launcher, str(_project_root()))
        if not ok:
            self.launch_failed.emit(str(job_dir), f"could not start {sys.executable}")
            return
        write_json_atomic(files.record, {"pid": pid, "started": started, "command": command})
        self.job_launched.emit(str(job_dir))

    # ------------------------------------------------------------------ control
    def cancel(self, job_dir: str | Path) -> bool:
        """Ask the job to stop: it checkpoints and exits as "cancelled".

        Works on a stopped (not responding) job too; one still alive KILL_AFTER_SECONDS
        later is killed (see ``poll``).
        """
        record = read_job(job_dir)
        if not record.is_active or not signal_job(record.path, signal.SIGTERM):
            return False
        self._kill_at[str(record.path)] = time.monotonic() + KILL_AFTER_SECONDS
        return True

    def launched_active_jobs(self) -> list[Path]:
        """Jobs launched by the app (in any session) whose process is still running."""
        jobs = [jobs_dir() / name for name in launched_job_names(jobs_dir())]
        return [job for job in jobs if read_job(job).is_active]

    def stop_jobs(self, jobs, grace: float = CLOSE_GRACE_SECONDS) -> list[Path]:
        """Cancel ``jobs``, wait up to ``grace`` seconds, kill what is left; block until gone.

        Used when the app closes: afterwards no process of these jobs (or child of one) is
        left. Returns the jobs that had to be killed.
        """
        jobs = [Path(job) for job in jobs]
        for job in jobs:
            signal_job(job, signal.SIGTERM)
        deadline = time.monotonic() + grace
        while any(job_running(job) for job in jobs) and time.monotonic() < deadline:
            time.sleep(0.05)
        killed = [job for job in jobs if job_running(job)]
        for job in killed:
            signal_job(job, signal.SIGKILL)
        deadline = time.monotonic() + 10.0  # SIGKILL cannot be ignored; only reaping waits
        while any(job_running(job) for job in killed) and time.monotonic() < deadline:
            time.sleep(0.05)
        return killed

    # ------------------------------------------------------------------ events
    def poll(self) -> None:
        """Kill cancelled jobs that did not stop in time; emit new JSON lines of launched jobs.

        Lines that are not JSON objects (a stray print, binary junk, a line cut short) are
        skipped; a line longer than MAX_EVENT_LINE is skipped without being held in memory.
        """
        for job, when in list(self._kill_at.items()):
            if not job_running(Path(job)):
                del self._kill_at[job]
            elif time.monotonic() > when:
                signal_job(Path(job), signal.SIGKILL)
        runs = jobs_dir() / ".runs"
        try:
            event_files = list(runs.glob("*.events.jsonl"))
        except OSError:
            return
        for events in event_files:
            key = str(events)
            if key not in self._offsets:  # a run from before this session: old news
                try:
                    self._offsets[key] = events.stat().st_size
                except OSError:
                    pass
                continue
            parsed, self._offsets[key] = jobfolder.read_lines(
                events, jobfolder.parse_event_line, offset=self._offsets[key],
                max_bytes=MAX_EVENT_LINE,
            )  # fmt: skip
            job_dir = str(runs.parent / events.name[: -len(".events.jsonl")])
            for event in parsed:
                self.event_received.emit(job_dir, event)

    def stop(self) -> None:
        """Stop polling (the processes themselves are left alone)."""
        self._timer.stop()


def _launch_group(job_dir: Path) -> int | None:
    """The process group the app launched for ``job_dir``, if that launcher still runs.

    The recorded pid must lead its group and have started at the recorded time, so a pid
    reused by an unrelated process is never signalled.
    """
    run = _read_record(run_files(job_dir).record, jobfolder.RUN_RECORD_SPEC)
    pid, started = run.get("pid"), run.get("started")
    if not isinstance(pid, int) or not isinstance(started, (int, float)) or pid <= 1:
        return None
    try:
        if os.getpgid(pid) != pid:
            return None
    except OSError:
        return None
    began = process_started(pid)
    if began is not None and not started - 5 <= began <= started + 60:
        return None
    return pid


def signal_job(job_dir: str | Path, sig: int) -> bool:
    """Send ``sig`` to the processes of ``job_dir``: its launch group (the job and any child)
    and the pid in its status.json (a job started from a terminal, or by an older app).
    A stopped process is continued after SIGTERM/SIGINT, or it would never see them.
    Returns whether any process was signalled."""
    job_dir = Path(job_dir)
    sent = False
    group = _launch_group(job_dir)
    pid = read_job(job_dir).pid
    targets = [(os.killpg, group)] if group else []
    if pid and process_alive(pid) and (not group or _group_of(pid) != group):
        targets.append((os.kill, pid))
    for send, target in targets:
        try:
            send(target, sig)
            if sig in (signal.SIGTERM, signal.SIGINT):
                send(target, signal.SIGCONT)
            sent = True
        except OSError:
            pass
    return sent


def _group_of(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except OSError:
        return None


def job_running(job_dir: str | Path) -> bool:
    """Whether any process of ``job_dir`` (its launch group, or its status pid) is alive."""
    job_dir = Path(job_dir)
    group = _launch_group(job_dir)
    if group and group_alive(group):
        return True
    record = read_job(job_dir)
    return bool(record.pid) and process_alive(record.pid) and record.is_active
