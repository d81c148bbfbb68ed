"""Starting, following and stopping training-job processes from the app.

Each job is its own ``alexnet-studio train --json`` process, launched with
``QProcess.startDetached`` so that it can outlive the app when the user chooses to keep it
running (a child started with ``QProcess.start`` dies with its ``QProcess``, and a job writing
to a pipe nobody reads would fail). ``app.jobs.run_job`` sends the process's stdout (its JSON
lines) and stderr to files the app tails (see ``job_store.run_files``); everything else comes
from the job folder.
Cancel is SIGTERM: the job finishes its step, checkpoints and exits as "cancelled".
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path

from PySide6.QtCore import QObject, QProcess, QTimer, Signal

from alexnet_tf.fileio import write_json_atomic
from alexnet_tf.paths import jobs_dir

from .job_store import process_alive, read_job, run_files

POLL_MS = 300


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
        self._launch(job_dir, args)
        return job_dir

    def resume(self, job_dir: str | Path) -> None:
        """Continue a cancelled, failed or interrupted job from its last checkpoint."""
        self._launch(Path(job_dir), ["train", "--resume", str(job_dir), "--json"])

    def _launch(self, job_dir: Path, args: list[str]) -> None:
        files = run_files(job_dir)
        files.record.parent.mkdir(parents=True, exist_ok=True)
        command = train_command(args)
        # On a resume the file has the earlier runs' lines: only the new run's are news.
        size = files.events.stat().st_size if files.events.exists() else 0
        self._offsets[str(files.events)] = size
        started = time.time()
        launcher = ["-m", "app.jobs.run_job", str(files.events), str(files.stderr), *command]
        ok, pid = QProcess.startDetached(sys.executable, launcher, str(_project_root()))
        if not ok:
            self.launch_failed.emit(str(job_dir), f"could not start {sys.executable}")
            return
        write_json_atomic(files.record, {"pid": pid, "started": started, "command": command})
        self.job_launched.emit(str(job_dir))

    # ------------------------------------------------------------------ control
    def cancel(self, job_dir: str | Path) -> bool:
        """Ask the job to stop (SIGTERM): it checkpoints and exits as "cancelled"."""
        record = read_job(job_dir)
        if not record.is_active or not process_alive(record.pid):
            return False
        try:
            os.kill(int(record.pid), signal.SIGTERM)
        except OSError:
            return False
        return True

    def launched_active_jobs(self) -> list[Path]:
        """Jobs launched by the app (in any session) whose process is still running."""
        runs = jobs_dir() / ".runs"
        if not runs.is_dir():
            return []
        jobs = [jobs_dir() / p.name[: -len(".json")] for p in runs.glob("*.json")]
        return [job for job in jobs if read_job(job).is_active]

    # ------------------------------------------------------------------ events
    def poll(self) -> None:
        """Read new JSON lines of every launched job and emit them."""
        runs = jobs_dir() / ".runs"
        if not runs.is_dir():
            return
        for events in runs.glob("*.events.jsonl"):
            key = str(events)
            if key not in self._offsets:  # a run from before this session: old news
                self._offsets[key] = events.stat().st_size
                continue
            try:
                with open(events, "rb") as file:
                    file.seek(self._offsets[key])
                    data = file.read()
            except OSError:
                continue
            end = data.rfind(b"\n")
            if end < 0:
                continue
            self._offsets[key] += end + 1
            job_dir = str(runs.parent / events.name[: -len(".events.jsonl")])
            for line in data[: end + 1].splitlines():
                try:
                    event = json.loads(line)
                except ValueError:
                    continue
                if isinstance(event, dict):
                    self.event_received.emit(job_dir, event)

    def stop(self) -> None:
        """Stop polling (the processes themselves are left alone)."""
        self._timer.stop()
