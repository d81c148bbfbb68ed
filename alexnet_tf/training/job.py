"""The job folder: the one record of a training job that outlives its process.

Layout (see docs/architecture.md): ``job.json`` (settings, versions, dataset), ``status.json``
(state, pid, heartbeat, progress), ``metrics.jsonl`` (one JSON line per logged step and per
epoch), ``scan.json``, ``log.txt``, ``cache/``, ``checkpoints/``, ``tensorboard/``, ``model/``
and ``eval.json``. JSON files are replaced atomically; ``metrics.jsonl`` and ``log.txt`` are
appended and flushed line by line, so a reader sees whole lines up to the last flush.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

from ..errors import AlexNetStudioError
from ..fileio import json_text, process_alive, write_json_atomic

HEARTBEAT_SECONDS = 2.0
WORKER_SCRATCH_PREFIX = "alexnet-worker-"
STATES = ("running", "finished", "failed", "cancelled")


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
            for sub in ("cache", "checkpoints", "tensorboard", "model"):
                (self.root / sub).mkdir(exist_ok=True)
            self._log = open(self.root / "log.txt", "a", encoding="utf-8")  # noqa: SIM115
        except OSError as error:
            raise JobFolderError(
                f"Cannot write in the job folder {self.root}: {error.strerror or error}. "
                "Give a folder you can write to (with free space)."
            ) from None

    job_json = property(lambda self: self.root / "job.json")
    status_json = property(lambda self: self.root / "status.json")
    metrics_jsonl = property(lambda self: self.root / "metrics.jsonl")
    scan_json = property(lambda self: self.root / "scan.json")
    eval_json = property(lambda self: self.root / "eval.json")
    cache_dir = property(lambda self: self.root / "cache")
    checkpoints_dir = property(lambda self: self.root / "checkpoints")
    tensorboard_dir = property(lambda self: self.root / "tensorboard")
    model_dir = property(lambda self: self.root / "model")

    def read_job(self) -> dict:
        """The job.json of an existing job."""
        return read_job_json(self.root)

    def read_status(self) -> dict:
        """The current status.json, or {} if there is none."""
        return read_status_json(self.root)

    def write_json(self, path: Path, value) -> None:
        """Write one of the job's JSON files atomically."""
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
            write_json_atomic(root / "job.json", record)
            return
        staging = root.parent / f".{root.name}.new-{os.getpid()}"
        staging.mkdir()
        try:
            write_json_atomic(staging / "job.json", record)
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
    """The job.json of the job in ``root``.

    Raises:
        JobFolderError: ``root`` is not a job folder, or its job.json is unreadable.
    """
    path = Path(root) / "job.json"
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise JobFolderError(
            f"{Path(root)} is not a training job folder (no job.json). "
            "Give a folder that `alexnet-studio train ... --out` created."
        ) from None
    except (OSError, ValueError, RecursionError) as error:  # ValueError: bad JSON or UTF-8
        raise JobFolderError(f"{path}: cannot be read ({error}).") from None
    if not isinstance(value, dict):
        raise JobFolderError(f"{path}: damaged (not a JSON object).")
    return value


def read_status_json(root: str | Path) -> dict:
    """The status.json of the job in ``root``, or {} if there is none (yet)."""
    try:
        value = json.loads((Path(root) / "status.json").read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):  # ValueError: bad JSON or UTF-8
        return {}
    return value if isinstance(value, dict) else {}


def job_is_alive(status: dict, stale_seconds: float = 5 * HEARTBEAT_SECONDS) -> bool:
    """True when a status says running and its process is still beating (a live job)."""
    if status.get("state") != "running":
        return False
    try:  # a damaged or hand-edited status.json may hold anything
        heartbeat = float(status.get("heartbeat") or 0)
        pid = int(status.get("pid"))
    except (TypeError, ValueError, OverflowError):
        return False
    if not time.time() - heartbeat <= stale_seconds:  # (a NaN heartbeat is stale too)
        return False
    return process_alive(pid)
