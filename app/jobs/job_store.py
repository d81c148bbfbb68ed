"""What the app knows about training jobs, read from their folders (no Qt, no TensorFlow).

The job folder is the contract (docs/architecture.md): state, progress, metrics, log and
evaluation all come from the files a job writes, so a job the app did not start, or one
that outlived the app, is shown like any other. Besides the job folder, the app keeps a
small record of each process it launched in ``<jobs>/.runs/``: the pid and the files that
receive the process's JSON lines (stdout) and stderr. That record tells "starting" from
"never started" before the job has written its status.json.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from alexnet_tf.paths import jobs_dir
from alexnet_tf.training.job import HEARTBEAT_SECONDS, job_is_alive

# A running job whose heartbeat is older than this has lost its process.
STALE_SECONDS = 5 * HEARTBEAT_SECONDS
ACTIVE_STATES = ("starting", "running")
RESUMABLE_STATES = ("cancelled", "failed", "interrupted")
RUNS_FOLDER = ".runs"


@dataclass(frozen=True)
class RunFiles:
    """Where the app keeps what it knows about the process it launched for a job."""

    record: Path  # {"pid", "started", "command"}
    events: Path  # the process's stdout: one JSON event per line
    stderr: Path


def run_files(job_dir: str | Path) -> RunFiles:
    """The launch record and output files of ``job_dir`` (beside it, in ``.runs/``).

    They live outside the job folder because ``train --out`` wants a new or empty folder.
    """
    job_dir = Path(job_dir)
    runs = job_dir.parent / RUNS_FOLDER
    return RunFiles(
        runs / f"{job_dir.name}.json",
        runs / f"{job_dir.name}.events.jsonl",
        runs / f"{job_dir.name}.stderr.txt",
    )


def process_alive(pid) -> bool:
    """Whether process ``pid`` exists and is not a zombie (a killed process nobody reaped)."""
    try:
        pid = int(pid)
        if pid <= 0:  # kill(0 or -1, 0) asks about process groups, not one process
            return False
        os.kill(pid, 0)
    except (OSError, TypeError, ValueError, OverflowError):  # a damaged record's pid
        return False
    except PermissionError:  # someone else's process: it exists
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True  # no /proc (macOS, Windows): trust kill(0)


def _read_json(path: Path) -> dict:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):  # RecursionError: "[[[[..." nested deep
        return {}
    return value if isinstance(value, dict) else {}


def read_events(job_dir: str | Path) -> list[dict]:
    """Every JSON event the app's launches of this job printed (empty if none)."""
    events = []
    try:
        text = run_files(job_dir).events.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return events
    for line in text.splitlines():
        try:
            event = json.loads(line)
        except (ValueError, RecursionError):
            continue  # a partial last line, or a stray print
        if isinstance(event, dict):
            events.append(event)
    return events


@dataclass
class JobRecord:
    """One job as the Jobs panel shows it.

    ``state`` is the job's own (running, finished, failed, cancelled), or ``starting`` (the
    app launched it; its status.json is not written yet) or ``interrupted`` (status.json says
    running but the process is gone or its heartbeat stopped: killed, crashed, machine off).
    """

    path: Path
    state: str
    message: str = ""
    progress: float = 0.0
    images_per_second: float | None = None
    eta_seconds: float | None = None
    epoch: int | None = None
    pid: int | None = None
    settings: dict = field(default_factory=dict)
    dataset: dict = field(default_factory=dict)
    strategy: str = ""
    created: float = 0.0
    launched: bool = False  # started by the app (this session or an earlier one)

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def is_active(self) -> bool:
        return self.state in ACTIVE_STATES

    @property
    def can_resume(self) -> bool:
        return self.state in RESUMABLE_STATES and (self.path / "job.json").is_file()

    @property
    def has_model(self) -> bool:
        return self.state == "finished" and (self.path / "model" / "model.keras").is_file()

    @property
    def classes(self) -> list[str]:
        return list(self.dataset.get("classes") or [])


def read_job(job_dir: str | Path) -> JobRecord:
    """The current record of the job in ``job_dir``."""
    job_dir = Path(job_dir)
    job = _read_json(job_dir / "job.json")
    status = _read_json(job_dir / "status.json")
    run = _read_json(run_files(job_dir).record)
    record = JobRecord(
        path=job_dir,
        state=status.get("state") or "failed",
        message=status.get("message") or "",
        progress=float(status.get("progress") or 0.0),
        images_per_second=status.get("images_per_second"),
        eta_seconds=status.get("eta_seconds"),
        epoch=status.get("epoch"),
        pid=status.get("pid") or run.get("pid"),
        settings=job.get("settings") or {},
        dataset=job.get("dataset") or {},
        strategy=job.get("strategy") or "",
        created=float(job.get("created") or run.get("started") or _mtime(job_dir)),
        launched=bool(run),
    )
    launch_alive = bool(run) and process_alive(run.get("pid"))
    launched_after_status = float(run.get("started") or 0) > float(status.get("heartbeat") or 0)
    if launch_alive and (not status or (launched_after_status and record.state != "running")):
        record.state, record.pid = "starting", run.get("pid")
        record.message = "Starting (loading TensorFlow, scanning the images)…"
    elif not status:
        errors = [e.get("message", "") for e in read_events(job_dir) if e.get("event") == "error"]
        record.message = errors[-1] if errors else "The job stopped before it began."
    elif record.state == "running" and not _beating(status):
        record.state = "interrupted"
        record.message = (
            f"The job's process ({status.get('pid')}) stopped without finishing (killed, "
            "crashed or the computer shut down). Resume continues from its last checkpoint."
        )
    return record


def _beating(status: dict) -> bool:
    # The engine's own rule (``train --resume`` refuses a job it considers alive), so the app
    # offers Resume exactly when the engine will accept it.
    return job_is_alive(status, STALE_SECONDS)


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def is_job_folder(path: Path) -> bool:
    """A folder a training job wrote (or the app launched one into)."""
    return (
        path.is_dir()
        and not path.name.startswith(".")
        and (
            (path / "job.json").exists()
            or (path / "status.json").exists()
            or run_files(path).record.exists()
        )
    )


def list_jobs(folder: str | Path | None = None) -> list[JobRecord]:
    """Every job in ``folder`` (default: the app's jobs folder), newest first.

    Jobs the app launched whose folder was never created (the process refused its
    arguments) are listed too, as failed with the process's error message.
    """
    folder = Path(folder) if folder is not None else jobs_dir()
    names = set()
    try:
        names.update(p.name for p in folder.iterdir() if is_job_folder(p))
    except OSError:
        return []
    runs = folder / RUNS_FOLDER
    if runs.is_dir():
        names.update(p.name[: -len(".json")] for p in runs.glob("*.json"))
    records = [read_job(folder / name) for name in names]
    return sorted(records, key=lambda r: (-r.created, r.name))


@dataclass
class Metrics:
    """The curves of a job: per-step and per-epoch records of metrics.jsonl."""

    steps: list[dict] = field(default_factory=list)
    epochs: list[dict] = field(default_factory=list)


class MetricsReader:
    """Reads a job's metrics.jsonl incrementally (only new whole lines on each call).

    A job resumed from an earlier checkpoint than its last logged step repeats some steps;
    the repeated ones replace the old records, so the curves show one consistent run.
    """

    def __init__(self, job_dir: str | Path):
        self.path = Path(job_dir) / "metrics.jsonl"
        self.metrics = Metrics()
        self._offset = 0

    def read(self) -> tuple[Metrics, bool]:
        """``(metrics, changed)``: everything read so far, and whether new lines came."""
        try:
            with open(self.path, "rb") as file:
                file.seek(self._offset)
                data = file.read()
        except OSError:
            return self.metrics, False
        end = data.rfind(b"\n")
        if end < 0:
            return self.metrics, False
        self._offset += end + 1
        for line in data[: end + 1].splitlines():
            try:
                record = json.loads(line)
            except (ValueError, RecursionError):
                continue
            kind = record.get("kind") if isinstance(record, dict) else None
            rows = self.metrics.steps if kind == "step" else self.metrics.epochs
            if kind not in ("step", "epoch"):
                continue
            key = "global_step" if kind == "step" else "epoch"
            if not isinstance(record.get(key, 0), (int, float)):
                continue  # a damaged line: its position on the curve is not a number
            while rows and rows[-1].get(key, -1) >= record.get(key, 0):
                rows.pop()  # a resumed job redoing work after its last checkpoint
            rows.append(record)
        return self.metrics, True


def read_metrics(job_dir: str | Path) -> Metrics:
    """All of a job's metrics (see ``MetricsReader``)."""
    return MetricsReader(job_dir).read()[0]


def read_log(job_dir: str | Path, max_chars: int = 60_000) -> str:
    """The end of the job's log.txt, followed by the end of its stderr if it has no log."""
    job_dir = Path(job_dir)
    parts = []
    for path in (job_dir / "log.txt", run_files(job_dir).stderr):
        try:
            with open(path, "rb") as file:
                file.seek(max(0, path.stat().st_size - max_chars))
                text = file.read().decode("utf-8", errors="replace")
        except OSError:
            continue
        if path.name.endswith("stderr.txt"):
            if parts:
                break  # the job's own log says enough; stderr is TensorFlow's chatter
            text = "(the job wrote no log; its error output follows)\n" + text
        parts.append(text)
    return "\n".join(parts)


def read_evaluation(job_dir: str | Path) -> dict | None:
    """The job's eval.json, or None when it has none (yet)."""
    return _read_json(Path(job_dir) / "eval.json") or None


def delete_job(job_dir: str | Path) -> None:
    """Delete a job's folder and the app's launch record of it.

    Raises:
        RuntimeError: the job is running (cancel it first).
    """
    record = read_job(job_dir)
    if record.is_active:
        raise RuntimeError(f"The job {record.name} is running; cancel it before deleting it.")
    shutil.rmtree(record.path, ignore_errors=True)
    files = run_files(record.path)
    for path in (files.record, files.events, files.stderr):
        path.unlink(missing_ok=True)
