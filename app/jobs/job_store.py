"""What the app knows about training jobs, read from their folders (no Qt, no TensorFlow).

The job folder is the contract (docs/architecture.md): state, progress, metrics, log and
evaluation all come from the files a job writes, so a job the app did not start, or one
that outlived the app, is shown like any other. Besides the job folder, the app keeps a
small record of each process it launched in ``<jobs>/.runs/``: the pid and the files that
receive the process's JSON lines (stdout) and stderr, and how the process ended. That record
tells "starting" from "never started" before the job has written its status.json, and a crash
(a signal, an exit status) from a job that stopped on its own.

Nothing here trusts the files: a damaged or hand-edited file gives a "damaged" job or is
ignored, never an exception.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from alexnet_tf.paths import jobs_dir
from alexnet_tf.training.job import HEARTBEAT_SECONDS, job_is_alive, process_alive

# A running job whose heartbeat is older than this has lost its process.
STALE_SECONDS = 5 * HEARTBEAT_SECONDS
# "not_responding": the process is alive but its heartbeat stopped (stuck, or SIGSTOPped).
ACTIVE_STATES = ("starting", "running", "not_responding")
RESUMABLE_STATES = ("cancelled", "failed", "interrupted", "damaged")
JOB_STATES = ("running", "finished", "failed", "cancelled")  # what status.json may say
RUNS_FOLDER = ".runs"
STATE_TEXT = {
    "starting": "Starting",
    "running": "Running",
    "finished": "Finished",
    "failed": "Failed",
    "cancelled": "Cancelled",
    "interrupted": "Failed (interrupted)",
    "not_responding": "Not responding",
    "damaged": "Damaged",
}
EXIT_SUFFIX = ".exit"  # <job>.exit.json: how the launched process ended (app.jobs.run_job)


@dataclass(frozen=True)
class RunFiles:
    """Where the app keeps what it knows about the process it launched for a job."""

    record: Path  # {"pid", "started", "command"}; the pid leads the job's process group
    events: Path  # the process's stdout: one JSON event per line
    stderr: Path
    exit: Path  # {"pid", "returncode", "signal", "ended"} once the job's process has ended


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
        runs / f"{job_dir.name}{EXIT_SUFFIX}.json",
    )


def launched_job_names(folder: Path) -> list[str]:
    """Names of the jobs in ``folder`` that the app launched (from their launch records)."""
    runs = Path(folder) / RUNS_FOLDER
    try:
        records = [p.name[: -len(".json")] for p in runs.glob("*.json")]
    except OSError:
        return []
    return [name for name in records if not name.endswith(EXIT_SUFFIX)]


def _proc_stat(pid) -> list[str] | None:
    """Fields of /proc/PID/stat after the command name (field 3 on), or None."""
    try:
        return Path(f"/proc/{int(pid)}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError, TypeError, ValueError):
        return None


def process_stopped(pid) -> bool:
    """Whether process ``pid`` is stopped (SIGSTOP, Ctrl-Z or a debugger): it cannot beat."""
    fields = _proc_stat(pid)
    return bool(fields) and fields[0] in ("T", "t")


def process_started(pid) -> float | None:
    """When process ``pid`` started (seconds since the epoch), or None if unknown."""
    fields = _proc_stat(pid)
    try:
        ticks = int(fields[19])  # field 22, starttime, in clock ticks after boot
        for line in Path("/proc/stat").read_text().splitlines():
            if line.startswith("btime "):
                return int(line.split()[1]) + ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, TypeError, ValueError, IndexError):
        pass
    return None


def group_alive(pgid) -> bool:
    """Whether any live (non-zombie) process is left in process group ``pgid``."""
    try:
        pgid = int(pgid)
        if pgid <= 1:
            return False
        os.killpg(pgid, 0)
    except PermissionError:
        return True
    except (OSError, TypeError, ValueError):
        return False
    try:
        entries = [e for e in os.listdir("/proc") if e.isdigit()]
    except OSError:
        return True  # no /proc: trust killpg(0)
    for entry in entries:
        fields = _proc_stat(entry)
        if fields and fields[2] == str(pgid) and fields[0] != "Z":
            return True
    return False


def _read_status(path: Path) -> tuple[dict, str]:
    """status.json as a dict, and what is wrong with it ("" if it is fine or missing)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return {}, ""
    except OSError as error:
        return {}, f"status.json cannot be read ({error.strerror or error})"
    try:
        value = json.loads(data)
    except (ValueError, RecursionError):
        return {}, "status.json is damaged (not valid JSON)"
    if not isinstance(value, dict):
        return {}, "status.json is damaged (not a JSON object)"
    if value.get("state") not in JOB_STATES:
        return {}, f"status.json is damaged (unknown state {str(value.get('state'))[:40]!r})"
    return value, ""


def finite_number(value) -> float | None:
    """``value`` if it is a finite number (a damaged file may hold anything), else None."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if value == value and abs(value) != float("inf") else None


def _integer(value) -> int | None:
    return int(value) if isinstance(value, int) and not isinstance(value, bool) else None


def _mapping(value) -> dict:
    return value if isinstance(value, dict) else {}


def _text(value) -> str:
    return value if isinstance(value, str) else ""


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

    ``state`` is the job's own (running, finished, failed, cancelled), or one the app infers:
    ``starting`` (the app launched it; its status.json is not written yet), ``interrupted``
    (status.json says running but the process is gone: killed, crashed, machine off; ``ended``
    says how when the app launched it), ``not_responding`` (the process is alive but its
    heartbeat stopped for STALE_SECONDS: stuck or stopped) or ``damaged`` (status.json
    cannot be read).
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
    kept: dict = field(default_factory=dict)  # the epoch whose weights were saved (0-based)
    strategy: str = ""
    created: float = 0.0
    launched: bool = False  # started by the app (this session or an earlier one)
    ended: str = ""  # how the process ended, when known: "SIGSEGV", "SIGKILL", "exit 3"
    running: bool = False  # a damaged job whose launched process is still alive

    @property
    def state_text(self) -> str:
        """The state in a few words, for the list."""
        if self.state == "interrupted" and self.ended:
            return f"Failed ({'killed' if self.ended == 'SIGKILL' else self.ended})"
        return STATE_TEXT.get(self.state, self.state)

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def is_active(self) -> bool:
        return self.state in ACTIVE_STATES or (self.state == "damaged" and self.running)

    @property
    def can_resume(self) -> bool:
        return (
            self.state in RESUMABLE_STATES
            and not self.is_active
            and (self.path / "job.json").is_file()
        )

    @property
    def has_model(self) -> bool:
        return self.state == "finished" and (self.path / "model" / "model.keras").is_file()

    @property
    def classes(self) -> list[str]:
        classes = self.dataset.get("classes")
        return [str(c) for c in classes] if isinstance(classes, list) else []


def read_job(job_dir: str | Path) -> JobRecord:
    """The current record of the job in ``job_dir`` (never raises on damaged files)."""
    job_dir = Path(job_dir)
    job = _read_json(job_dir / "job.json")
    status, damage = _read_status(job_dir / "status.json")
    files = run_files(job_dir)
    run = _read_json(files.record)
    record = JobRecord(
        path=job_dir,
        state=status.get("state") or "failed",
        message=_text(status.get("message")),
        progress=min(max(finite_number(status.get("progress")) or 0.0, 0.0), 1.0),
        images_per_second=finite_number(status.get("images_per_second")),
        eta_seconds=finite_number(status.get("eta_seconds")),
        epoch=_integer(status.get("epoch")),
        pid=_integer(status.get("pid")) or _integer(run.get("pid")),
        settings=_mapping(job.get("settings")),
        dataset=_mapping(job.get("dataset")),
        kept=_mapping(job.get("kept")),
        strategy=_text(job.get("strategy")),
        created=finite_number(job.get("created"))
        or finite_number(run.get("started"))
        or _mtime(job_dir),
        launched=bool(run),
    )
    started = finite_number(run.get("started")) or 0.0
    heartbeat = finite_number(status.get("heartbeat")) or 0.0
    launch_alive = bool(run) and process_alive(run.get("pid"))
    if damage:
        record.state, record.running = "damaged", launch_alive
        if launch_alive:
            record.message = (
                f"{damage}; the process the app launched for it ({run.get('pid')}) is still "
                "running. Cancel stops it."
            )
        else:
            record.message = (
                f"{damage}, so the app cannot tell this job's state. If the job is not "
                "running, Resume continues from its last checkpoint."
            )
    elif launch_alive and started > heartbeat:
        # The process the app launched last has not written its own status yet: any
        # status.json is an earlier run's.
        record.state, record.pid = "starting", _integer(run.get("pid"))
        record.message = "Starting (loading TensorFlow, scanning the images)…"
    elif not status:
        errors = [e.get("message", "") for e in read_events(job_dir) if e.get("event") == "error"]
        record.message = str(errors[-1]) if errors else "The job stopped before it began."
        _add_exit(record, _read_json(files.exit), started)
    elif record.state == "running" and not _beating(status, heartbeat, record.pid):
        alive = process_alive(record.pid) and not _pid_reused(record.pid, heartbeat)
        if alive:
            record.state = "not_responding"
            stopped = ""
            if process_stopped(record.pid):
                stopped = " (it is stopped: SIGSTOP or a debugger)"
            record.message = (
                f"The job's process ({record.pid}) is alive but has not reported for "
                f"{time.time() - heartbeat:.0f} s{stopped}. Cancel stops it, and kills it if "
                "it does not stop."
            )
        else:
            record.state = "interrupted"
            record.message = (
                f"The job's process ({record.pid}) stopped without finishing (killed, "
                "crashed or the computer shut down). Resume continues from its last checkpoint."
            )
            _add_exit(record, _read_json(files.exit), started)
    return record


def _pid_reused(pid, heartbeat: float) -> bool:
    """Whether ``pid`` now belongs to a process started after the job's last heartbeat."""
    started = process_started(pid)
    return started is not None and started > heartbeat + 1.0


def _add_exit(record: JobRecord, ended: dict, launched: float) -> None:
    """Add how the launched process ended (exit record of this launch) and its last errors."""
    if (finite_number(ended.get("ended")) or 0.0) < launched or not ended:
        return
    signal_name, code = _text(ended.get("signal")), _integer(ended.get("returncode"))
    if signal_name:
        record.ended = signal_name
        detail = _text(ended.get("signal_text"))
        how = f"it was killed by {signal_name}" + (f" ({detail})" if detail else "")
    elif code:
        record.ended = f"exit {code}"
        how = f"it exited with status {code} without saying why"
    else:
        return
    record.message = record.message.replace(
        "stopped without finishing (killed, crashed or the computer shut down)",
        f"stopped without finishing: {how}",
    )
    if "stopped without finishing" not in record.message:
        record.message += f" Its process stopped: {how}."
    tail = stderr_tail(record.path)
    if tail:
        record.message += f" Its last error output: {tail}"


def stderr_tail(job_dir: str | Path, max_lines: int = 3) -> str:
    """The telling end of the error output of the job's last launch ("" if none).

    A Python crash report ("Fatal Python error: ...", a traceback) is preferred to the
    lines that follow it (thread stacks, module lists), which say less to a user.
    """
    path = run_files(job_dir).stderr
    try:
        with open(path, "rb") as file:
            file.seek(max(0, path.stat().st_size - 8192))
            text = file.read().decode("utf-8", errors="replace")
    except OSError:
        return ""
    lines = [line.strip()[:300] for line in text.splitlines() if line.strip()]
    for index in range(len(lines) - 1, -1, -1):
        if lines[index].startswith("Fatal Python error"):
            return " / ".join(lines[index : index + 1])
    return " / ".join(lines[-max_lines:])


def _beating(status: dict, heartbeat: float, pid: int | None) -> bool:
    # The engine's own rule (``train --resume`` refuses a job it considers alive), so the app
    # offers Resume exactly when the engine will accept it. Given checked values only.
    return job_is_alive({**status, "heartbeat": heartbeat, "pid": pid}, STALE_SECONDS)


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
    names.update(launched_job_names(folder))
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
    for path in (files.record, files.events, files.stderr, files.exit):
        path.unlink(missing_ok=True)
