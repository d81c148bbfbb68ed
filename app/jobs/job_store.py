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

import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from alexnet_tf import jobfolder
from alexnet_tf.errors import DamagedFileError
from alexnet_tf.jobfolder import STALE_SECONDS, job_is_alive, process_alive
from alexnet_tf.paths import jobs_dir

# "not_responding": the process is alive but its heartbeat stopped (stuck, or SIGSTOPped).
ACTIVE_STATES = ("starting", "running", "not_responding")
RESUMABLE_STATES = ("cancelled", "failed", "interrupted", "damaged")
JOB_STATES = jobfolder.STATES  # what status.json may say
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


def _read_status(job_dir: Path) -> tuple[dict, str]:
    """status.json as a dict, and what is wrong with it ("" if it is fine or missing)."""
    try:
        return jobfolder.read_status_file(job_dir), ""
    except DamagedFileError as error:
        return {}, f"{jobfolder.STATUS_JSON} is damaged ({error.reason})"


def _read_job_json(job_dir: Path) -> tuple[dict, str]:
    """job.json as a dict, and what is wrong with it ("" if it is fine or missing)."""
    try:
        return jobfolder.read_job_file(job_dir), ""
    except FileNotFoundError:
        return {}, ""
    except DamagedFileError as error:
        return {}, f"{jobfolder.JOB_JSON} is damaged ({error.reason})"


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


def _read_record(path: Path, spec) -> dict:
    """One of the app's launch or exit records; {} if missing or damaged (it is the app's own
    bookkeeping: without it the job is shown from its folder alone)."""
    try:
        return jobfolder.read_record_file(path, spec)
    except (FileNotFoundError, DamagedFileError):
        return {}


def read_events(job_dir: str | Path) -> list[dict]:
    """The JSON events the app's launches of this job printed (the last MAX_EVENTS_BYTES)."""
    return jobfolder.read_tail_lines(
        run_files(job_dir).events, jobfolder.parse_event_line, max_bytes=jobfolder.MAX_EVENTS_BYTES
    )


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
            and (self.path / jobfolder.JOB_JSON).is_file()
        )

    @property
    def has_model(self) -> bool:
        return self.state == "finished" and jobfolder.has_model(self.path)

    @property
    def classes(self) -> list[str]:
        classes = self.dataset.get("classes")
        return [str(c) for c in classes] if isinstance(classes, list) else []


def read_job(job_dir: str | Path) -> JobRecord:
    """The current record of the job in ``job_dir`` (never raises on damaged files)."""
    job_dir = Path(job_dir)
    job, job_damage = _read_job_json(job_dir)
    status, status_damage = _read_status(job_dir)
    files = run_files(job_dir)
    run = _read_record(files.record, jobfolder.RUN_RECORD_SPEC)
    record = _record_from_files(job_dir, job, status, run)
    started = finite_number(run.get("started")) or 0.0
    heartbeat = finite_number(status.get("heartbeat")) or 0.0
    launch_alive = bool(run) and process_alive(run.get("pid"))
    damage = "; ".join(d for d in (status_damage, job_damage) if d)
    if damage:
        _mark_damaged(record, damage, run.get("pid") if launch_alive else None)
    elif launch_alive and started > heartbeat:
        # The process the app launched last has not written its own status yet: any
        # status.json is an earlier run's.
        record.state, record.pid = "starting", _integer(run.get("pid"))
        record.message = "Starting (loading TensorFlow, scanning the images)…"
    elif not status:
        errors = [e.get("message", "") for e in read_events(job_dir) if e.get("event") == "error"]
        record.message = str(errors[-1]) if errors else "The job stopped before it began."
        _add_exit(record, _read_record(files.exit, jobfolder.EXIT_RECORD_SPEC), started)
    elif record.state == "running" and not _beating(status, heartbeat, record.pid):
        _mark_silent(record, heartbeat)
        if record.state == "interrupted":
            _add_exit(record, _read_record(files.exit, jobfolder.EXIT_RECORD_SPEC), started)
    return record


def _record_from_files(job_dir: Path, job: dict, status: dict, run: dict) -> JobRecord:
    """The record as the (checked) files say, before the app's inferences."""
    return JobRecord(
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


def _mark_damaged(record: JobRecord, damage: str, running_pid: int | None) -> None:
    """A job whose status.json or job.json is damaged: say which, and whether it runs."""
    record.state, record.running = "damaged", running_pid is not None
    if running_pid is not None:
        record.message = (
            f"{damage}; the process the app launched for it ({running_pid}) is still "
            "running. Cancel stops it."
        )
    else:
        record.message = (
            f"{damage}, so the app cannot tell this job's state. If the job is not "
            "running, Resume continues from its last checkpoint."
        )


def _mark_silent(record: JobRecord, heartbeat: float) -> None:
    """A job that says running but stopped beating: not responding, or interrupted."""
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
            (path / jobfolder.JOB_JSON).exists()
            or (path / jobfolder.STATUS_JSON).exists()
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

    Each line is checked (``jobfolder.parse_metrics_line``); damaged ones are skipped. Reading
    stops at ``jobfolder.MAX_METRICS_BYTES``: a damaged file costs no more than a long job's.
    A job resumed from an earlier checkpoint than its last logged step repeats some steps;
    the repeated ones replace the old records, so the curves show one consistent run.
    """

    def __init__(self, job_dir: str | Path):
        self.path = Path(job_dir) / jobfolder.METRICS_JSONL
        self.metrics = Metrics()
        self._offset = 0

    def read(self) -> tuple[Metrics, bool]:
        """``(metrics, changed)``: everything read so far, and whether new lines came."""
        changed = False
        while self._offset < jobfolder.MAX_METRICS_BYTES:
            records, offset = jobfolder.read_lines(
                self.path, jobfolder.parse_metrics_line, offset=self._offset,
                max_bytes=jobfolder.MAX_METRICS_LINE * 64,
            )  # fmt: skip
            if offset == self._offset:
                break
            self._offset, changed = offset, True
            for record in records:
                self._add(record)
        return self.metrics, changed

    def _add(self, record: dict) -> None:
        kind = record["kind"]
        rows = self.metrics.steps if kind == "step" else self.metrics.epochs
        key = "global_step" if kind == "step" else "epoch"
        while rows and rows[-1].get(key, -1) >= record.get(key, 0):
            rows.pop()  # a resumed job redoing work after its last checkpoint
        rows.append(record)


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
    """The job's eval.json, or None when it has none (yet) or it is damaged."""
    return read_evaluation_checked(job_dir)[0]


def read_evaluation_checked(job_dir: str | Path) -> tuple[dict | None, str]:
    """``(eval.json or None, what is wrong with it or "")``."""
    try:
        return jobfolder.read_eval_file(job_dir), ""
    except FileNotFoundError:
        return None, ""
    except DamagedFileError as error:
        return None, f"{error.path} is damaged ({error.reason}); it is not shown."


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
