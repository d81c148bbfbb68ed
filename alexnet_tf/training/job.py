"""The job folder: the one record of a training job that outlives its process.

The layout, names, schemas and readers are defined once in ``alexnet_tf.jobfolder``; this
module writes. JSON files are replaced atomically; ``metrics.jsonl`` and ``log.txt`` are
appended and flushed line by line, so a reader sees whole lines up to the last flush.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

from .. import jobfolder as names
from ..errors import AlexNetStudioError, DamagedFileError
from ..fileio import json_text, write_json_atomic
from ..jobfolder import HEARTBEAT_SECONDS, process_alive

WORKER_SCRATCH_PREFIX = "alexnet-worker-"


class JobFolderError(AlexNetStudioError):
    """A job folder cannot be created, resumed or read."""


class JobFolder:
    """Paths of a job folder and the writers of its files.

    Args:
        root: the job folder. Created if missing.
        writer: False for non-chief workers of a multi-worker job: they keep every file in
            a private temporary folder given as ``root`` and never touch the real one.
    """

    def __init__(self, root: str | Path, *, writer: bool = True):
        self.root = Path(root).expanduser().resolve()
        self.writer = writer
        self._status: dict = {}
        self._lock = threading.Lock()
        self._heartbeat: threading.Thread | None = None
        self._stop = threading.Event()
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            for sub in names.SUBFOLDERS:
                (self.root / sub).mkdir(exist_ok=True)
            self._log = open(self.root / names.LOG_TXT, "a", encoding="utf-8")  # noqa: SIM115
        except OSError as error:
            raise JobFolderError(
                f"Cannot write in the job folder {self.root}: {error.strerror or error}. "
                "Give a folder you can write to (with free space)."
            ) from None

    job_json = property(lambda self: self.root / names.JOB_JSON)
    status_json = property(lambda self: self.root / names.STATUS_JSON)
    metrics_jsonl = property(lambda self: self.root / names.METRICS_JSONL)
    scan_json = property(lambda self: self.root / names.SCAN_JSON)
    eval_json = property(lambda self: self.root / names.EVAL_JSON)
    cache_dir = property(lambda self: self.root / names.CACHE_DIR)
    checkpoints_dir = property(lambda self: self.root / names.CHECKPOINTS_DIR)
    tensorboard_dir = property(lambda self: self.root / names.TENSORBOARD_DIR)
    model_dir = property(lambda self: self.root / names.MODEL_DIR)
    model_file = property(lambda self: names.model_file(self.root))
    labels_file = property(lambda self: names.labels_file(self.root))

    def read_job(self) -> dict:
        """The job.json of an existing job."""
        return read_job_json(self.root)

    def read_status(self) -> dict:
        """The current status.json, or {} if there is none."""
        return read_status_json(self.root)

    def write_json(self, path: Path, value) -> None:
        """Write one of the job's JSON files atomically.

        job.json always says what wrote it (``jobfolder.JOB_FORMAT`` and the project's
        version), whoever builds its content: a resume checks them. A value that already
        records them (a job.json read back and completed) keeps its own.
        """
        if Path(path) == self.job_json:
            value = {**names.version_stamp(), **value}
        write_json_atomic(path, value)

    def log(self, message: str) -> None:
        """Append a timestamped line to log.txt."""
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        self._log.write(f"{stamp} {message}\n")
        self._log.flush()

    def append_metrics(self, record: dict) -> None:
        """Append one JSON line to metrics.jsonl and flush it."""
        with open(self.metrics_jsonl, "a", encoding="utf-8") as file:
            file.write(json_text(record) + "\n")
            file.flush()

    def update_status(self, **fields) -> None:
        """Merge ``fields`` into the status and write status.json (with a fresh heartbeat)."""
        with self._lock:
            self._status.update(fields)
            self._write_status_locked()

    def note_progress(self, **fields) -> None:
        """Merge per-step progress into the status without writing it: the heartbeat thread
        writes it within HEARTBEAT_SECONDS. A write per step would cost two fsyncs per step,
        which in head mode is more than the step itself."""
        with self._lock:
            self._status.update(fields)

    def _write_status_locked(self) -> None:
        self._status["pid"] = os.getpid()
        self._status["heartbeat"] = time.time()
        write_json_atomic(self.status_json, self._status)

    def start_heartbeat(self) -> None:
        """Rewrite status.json every few seconds from a background thread, so readers can tell
        a live job from one whose process died (its heartbeat stops)."""

        def beat():
            while not self._stop.wait(HEARTBEAT_SECONDS):
                with self._lock:
                    try:
                        self._write_status_locked()
                    except OSError as error:  # disk full etc.: the job goes on
                        print(f"warning: cannot write status.json: {error}", file=sys.stderr)

        self._heartbeat = threading.Thread(target=beat, name="job-heartbeat", daemon=True)
        self._heartbeat.start()

    def close(self) -> None:
        """Stop the heartbeat thread and close the log."""
        self._stop.set()
        if self._heartbeat is not None:
            self._heartbeat.join()
        self._log.close()


def create_job_folder(root: str | Path, record: dict) -> None:
    """Create a new job's folder so that it appears with its job.json already inside.

    The folder is made under a temporary name beside ``root``, job.json is written into it,
    and it is renamed to ``root`` in one step: a job killed at any moment, even while
    starting, leaves either no folder or a folder that ``--resume`` understands. An
    existing empty folder (or one left by a job that failed before writing job.json) just
    gets its job.json. Leftovers of starts killed before the rename are removed.

    Raises:
        JobFolderError: the folder cannot be created (read-only, full, permission denied).
    """
    root = Path(root).expanduser().resolve()
    blocking = next((p for p in root.parents if p.exists() and not p.is_dir()), None)
    if blocking is not None:
        raise JobFolderError(
            f"Cannot create the job folder {root}: {blocking} is a file, not a folder."
        )
    try:
        root.parent.mkdir(parents=True, exist_ok=True)
        staged = root.parent.glob(f".{root.name}.new-*")  # starts killed before their rename
        _remove_leftovers(staged, lambda name: name.rsplit("-")[-1])
        if root.exists():
            write_json_atomic(root / names.JOB_JSON, record)
            return
        staging = root.parent / f".{root.name}.new-{os.getpid()}"
        staging.mkdir()
        try:
            write_json_atomic(staging / names.JOB_JSON, record)
            os.rename(staging, root)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    except OSError as error:
        raise JobFolderError(
            f"Cannot create the job folder {root}: {error.strerror or error}. "
            "Give a folder you can write to (with free space)."
        ) from None


def make_worker_scratch() -> Path:
    """A temporary folder for what a worker other than the chief writes (TensorFlow has every
    worker save checkpoints; only the chief's count), removed by the worker when it ends.

    Folders of workers killed before they could remove theirs (about 0.4 GB each) are
    removed first: the folder's name holds its worker's pid.
    """
    prefix = WORKER_SCRATCH_PREFIX
    _remove_leftovers(
        Path(tempfile.gettempdir()).glob(f"{prefix}*"),
        lambda name: name[len(prefix) :].split("-")[0],
    )
    return Path(tempfile.mkdtemp(prefix=f"{prefix}{os.getpid()}-"))


def _remove_leftovers(folders, pid_in_name) -> None:
    """Remove each folder whose process (``pid_in_name(folder name)``) is gone: what a
    process killed with -9 could not clean up. A name without a pid counts as gone."""
    for folder in folders:
        pid = pid_in_name(folder.name)
        if not pid.isdigit() or not process_alive(pid):
            shutil.rmtree(folder, ignore_errors=True)


def read_job_json(root: str | Path) -> dict:
    """The job.json of the job in ``root``, checked in depth (``jobfolder.JOB_SPEC``).

    Raises:
        JobFolderError: ``root`` is not a job folder, or its job.json is damaged.
    """
    try:
        return names.read_job_file(root)
    except FileNotFoundError:
        raise JobFolderError(
            f"{Path(root)} is not a training job folder (no {names.JOB_JSON}). "
            "Give a folder that `alexnet-studio train ... --out` created."
        ) from None
    except DamagedFileError as error:
        raise JobFolderError(f"{error}. This job cannot be resumed.") from None


def read_status_json(root: str | Path) -> dict:
    """The status.json of the job in ``root``, or {} if there is none (yet) or it is damaged."""
    try:
        return names.read_status_file(root)
    except DamagedFileError:
        return {}
