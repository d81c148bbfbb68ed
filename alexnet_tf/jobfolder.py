"""The training job folder, defined once: its file names, states, schemas and readers.

A job folder is the contract between a training process and everything that follows it
(the app's Jobs panel, ``export``, ``evaluate --model``, ``classify --model``, a resume).
Every name and every shape of what a job writes is here, and so is every reader of it, so
that the writers (``training.job``) and the readers agree by construction. No TensorFlow and
no Qt: the app imports this at start-up.

Layout::

    JOB/
    ├── job.json        settings, versions, dataset (written at creation, completed at start)
    ├── status.json     state, pid, heartbeat, progress (rewritten every HEARTBEAT_SECONDS)
    ├── metrics.jsonl   one JSON line per logged step and per epoch (appended)
    ├── scan.json, log.txt, eval.json
    ├── cache/  checkpoints/  tensorboard/
    └── model/          model.keras + labels.json (what export and --model use)

Each reader caps what it reads (a damaged or hostile file costs no more than a file of its
normal size) and checks the value in depth against its schema; what does not match raises
``DamagedFileError`` naming the file.
"""

from __future__ import annotations

import json
import os
import time
from importlib import metadata
from pathlib import Path

from . import schema
from .errors import DamagedFileError
from .fileio import read_json
from .schema import MapOf, OneOf, Optional

# -- names -------------------------------------------------------------------------------
JOB_JSON = "job.json"
STATUS_JSON = "status.json"
METRICS_JSONL = "metrics.jsonl"
SCAN_JSON = "scan.json"
EVAL_JSON = "eval.json"
LOG_TXT = "log.txt"
CACHE_DIR = "cache"
CHECKPOINTS_DIR = "checkpoints"
TENSORBOARD_DIR = "tensorboard"
MODEL_DIR = "model"
MODEL_FILE = "model.keras"  # in MODEL_DIR, and at the top of a `.keras` export folder
LABELS_FILE = "labels.json"  # beside MODEL_FILE, and in every export
SUBFOLDERS = (CACHE_DIR, CHECKPOINTS_DIR, TENSORBOARD_DIR, MODEL_DIR)

PREPROCESSING = "caffe-bvlc-227"  # the only preprocessing this project applies (labels.json)
STATES = ("running", "finished", "failed", "cancelled")  # what status.json may say
MODES = ("head", "top", "full")  # what trains: fc8, fc6-fc8, every layer
PRECISIONS = ("fp32", "bf16", "fp16")  # training compute precision
KEEP = ("best", "last")  # which epoch's weights the model keeps
HEARTBEAT_SECONDS = 2.0
STALE_SECONDS = 5 * HEARTBEAT_SECONDS  # a running job silent this long has lost its process

# job.json's "format": bumped when its meaning changes, so a resume knows what it resumes.
JOB_FORMAT = 1

# -- read caps: a few times the largest normal file -----------------------------------------
MAX_JOB_JSON = 4 << 20  # settings + 1000 class names + a long dataset path
MAX_STATUS_JSON = 1 << 20
MAX_LABELS_JSON = 4 << 20
MAX_EVAL_JSON = 64 << 20  # a 1000-class confusion matrix is about 4 MB
MAX_RECORD_JSON = 1 << 20  # the app's launch and exit records
MAX_METRICS_LINE = 64 << 10
MAX_METRICS_BYTES = 256 << 20  # a million logged steps
MAX_EVENT_LINE = 1 << 20  # the start event lists refused images and classes
MAX_EVENTS_BYTES = 16 << 20

# -- schemas -----------------------------------------------------------------------------
_NUMBER_OR_NONE = (float, type(None))
_KEPT = {"epoch": int, "rule": str}
# Every settings key is optional (job.json written by hand, or by an older version, may lack
# some; TrainSettings fills defaults); each one present is checked.
SETTINGS_SPEC = {
    "folder": Optional(str),
    "epochs": Optional(int),
    "mode": Optional(OneOf(*MODES)),
    "batch_size": Optional(int),
    "lr": Optional(_NUMBER_OR_NONE),
    "val_split": Optional(float),
    "seed": Optional(int),
    "precision": Optional(OneOf(*PRECISIONS)),
    "init": Optional(str),
    "augment": Optional(bool),
    "dropout": Optional(_NUMBER_OR_NONE),
    "fc8_first_dropout": Optional(_NUMBER_OR_NONE),
    "momentum": Optional(float),
    "keep": Optional(OneOf(*KEEP)),
    "cpu_replicas": Optional(int),
    "log_every": Optional(int),
    "checkpoint_seconds": Optional(float),
    "watchdog_seconds": Optional(float),
}
JOB_SPEC = {
    "settings": SETTINGS_SPEC,
    "format": Optional(int),
    "project": Optional(str),
    "created": Optional(float),
    "versions": Optional(MapOf(str)),
    "init_source": Optional(str),
    "strategy": Optional(str),
    "kept": Optional(_KEPT),
    "dataset": Optional(
        {
            "root": Optional(str),
            "fingerprint": Optional(str),
            "classes": Optional([str]),
            "num_images": Optional(int),
            "num_train": Optional(int),
            "num_val": Optional(int),
        }
    ),
}
STATUS_SPEC = {
    "state": OneOf(*STATES),
    "pid": Optional(int),
    "heartbeat": Optional(float),
    "epoch": Optional(int),
    "step": Optional(int),
    "global_step": Optional(int),
    "total_steps": Optional((int, type(None))),
    "progress": Optional(_NUMBER_OR_NONE),
    "images_per_second": Optional(_NUMBER_OR_NONE),
    "eta_seconds": Optional(_NUMBER_OR_NONE),
    "message": Optional(str),
    "kept": Optional(_KEPT),
}
METRICS_LINE_SPEC = {
    "kind": OneOf("step", "epoch"),
    "epoch": Optional(int),
    "step": Optional(int),
    "global_step": Optional(int),
}
# Values of a metrics line besides its position: numbers, or None where one was not finite.
_METRIC_VALUE = (float, int, bool, str, type(None))
LABELS_SPEC = {"labels": [str], "preprocessing": Optional(str)}
EVAL_SPEC = {
    "top1": _NUMBER_OR_NONE,
    "num_examples": int,
    "classes": [str],
    "confusion_matrix": [[int]],
    "per_class": [
        {
            "class": str,
            "precision": _NUMBER_OR_NONE,
            "recall": _NUMBER_OR_NONE,
            "f1": _NUMBER_OR_NONE,
            "support": int,
        }
    ],
    "top5": Optional(_NUMBER_OR_NONE),
    "loss": Optional(_NUMBER_OR_NONE),
    "kept": Optional(_KEPT),
    "num_misclassified": Optional(int),
    "misclassified": Optional(
        [{"path": (str, type(None)), "true": str, "predicted": str, "probability": float}]
    ),
}
# The app's records of a process it launched (app/jobs/run_job.py) and how it ended.
RUN_RECORD_SPEC = {"pid": int, "started": Optional(float), "command": Optional([str])}
EXIT_RECORD_SPEC = {
    "pid": Optional((int, type(None))),
    "returncode": Optional((int, type(None))),
    "signal": Optional((str, type(None))),
    "signal_text": Optional((str, type(None))),
    "ended": Optional(float),
    "error": Optional(str),  # the launcher could not start the job
}
EVENT_SPEC = {"event": str, "message": Optional(str)}


# -- paths -------------------------------------------------------------------------------
def model_file(job_dir: str | Path) -> Path:
    """The job's trained model, ``JOB/model/model.keras`` (present once it finished)."""
    return Path(job_dir) / MODEL_DIR / MODEL_FILE


def labels_file(job_dir: str | Path) -> Path:
    """The class names of the job's model, ``JOB/model/labels.json``."""
    return Path(job_dir) / MODEL_DIR / LABELS_FILE


def has_model(job_dir: str | Path) -> bool:
    """Whether ``job_dir`` holds a trained model (a finished job)."""
    return model_file(job_dir).is_file()


def is_job_model_file(path: str | Path) -> bool:
    """Whether ``path`` is spelled like a job's model, ``JOB/model/model.keras``."""
    path = Path(path)
    return path.name == MODEL_FILE and path.parent.name == MODEL_DIR


def job_of_model(model_spec: str | Path | None) -> Path | None:
    """The job folder a ``--model`` value names (``JOB`` or ``JOB/model/model.keras``), or None."""
    if model_spec is None:
        return None
    path = Path(model_spec).expanduser()
    job = path.parent.parent if is_job_model_file(path) else path
    return job if (job / JOB_JSON).is_file() or (job / STATUS_JSON).is_file() else None


def still_running_note(model_spec: str | Path | None) -> str:
    """What to tell a user who uses the model of a job that is still running ("" if not)."""
    job = job_of_model(model_spec)
    if job is None:
        return ""
    try:
        alive = job_is_alive(read_status_file(job))
    except DamagedFileError:
        return ""
    if not alive:
        return ""
    return (
        f"the job {job} is still running: its model may change (model/{MODEL_FILE} is "
        "written when the job finishes); evaluate again once it has finished."
    )


# -- readers -----------------------------------------------------------------------------
def read_job_file(job_dir: str | Path) -> dict:
    """The job.json of ``job_dir``, checked in depth.

    Raises:
        FileNotFoundError: there is no job.json.
        DamagedFileError: it is unreadable, too large or not as this project writes it.
    """
    return read_json(Path(job_dir) / JOB_JSON, max_bytes=MAX_JOB_JSON, spec=JOB_SPEC)


def read_status_file(job_dir: str | Path) -> dict:
    """The status.json of ``job_dir``, checked in depth; {} if there is none yet.

    Raises:
        DamagedFileError: it is unreadable, too large or not as this project writes it.
    """
    try:
        return read_json(Path(job_dir) / STATUS_JSON, max_bytes=MAX_STATUS_JSON, spec=STATUS_SPEC)
    except FileNotFoundError:
        return {}


def read_labels_file(path: str | Path) -> dict:
    """A labels.json (a job's model or an export): ``{"labels": [...], "preprocessing"}``.

    Raises:
        FileNotFoundError: there is none.
        DamagedFileError: it is unreadable, too large or not as this project writes it.
    """
    return read_json(path, max_bytes=MAX_LABELS_JSON, spec=LABELS_SPEC)


def read_eval_file(job_dir: str | Path) -> dict:
    """The eval.json of ``job_dir``, checked in depth.

    Raises:
        FileNotFoundError: there is none (yet).
        DamagedFileError: it is unreadable, too large or not as this project writes it.
    """
    return read_json(Path(job_dir) / EVAL_JSON, max_bytes=MAX_EVAL_JSON, spec=EVAL_SPEC)


def read_record_file(path: str | Path, spec) -> dict:
    """One of the app's small records (launch: ``RUN_RECORD_SPEC``, exit: ``EXIT_RECORD_SPEC``).

    Raises:
        FileNotFoundError: there is none.
        DamagedFileError: it is unreadable, too large or not as this project writes it.
    """
    return read_json(path, max_bytes=MAX_RECORD_JSON, spec=spec)


def parse_metrics_line(line: bytes, path: str | Path = METRICS_JSONL) -> dict:
    """One line of metrics.jsonl, checked: its kind, its position, and number-like values.

    Raises:
        DamagedFileError: the line is too long, not JSON, or not a metrics record.
    """
    value = _parse_line(line, path, MAX_METRICS_LINE)
    record = schema.check(value, METRICS_LINE_SPEC, path)
    schema.check(record, MapOf(_METRIC_VALUE), path)
    return record


def parse_event_line(line: bytes, path: str | Path) -> dict:
    """One JSON event line of a job's output (``--json``), checked at its top level.

    Events carry what the job reported (nested lists of refused images, the start event's
    classes): only ``event`` and ``message`` are read by name, each with its type checked.

    Raises:
        DamagedFileError: the line is too long, not JSON, or not an event.
    """
    return schema.check(_parse_line(line, path, MAX_EVENT_LINE), EVENT_SPEC, path)


def read_lines(path: str | Path, parse, *, offset: int = 0, max_bytes: int):
    """Parse the whole lines of ``path`` from byte ``offset``, skipping damaged ones.

    Reads at most ``max_bytes`` (more than any line this project writes): a longer run of
    bytes without a newline is skipped without being held in memory. Returns
    ``(records, next_offset)``; a missing or unreadable file gives ``([], offset)``.
    """
    try:
        with open(path, "rb") as file:
            file.seek(offset)
            data = file.read(max_bytes)
    except OSError:
        return [], offset
    end = data.rfind(b"\n")
    if end < 0:  # a partial last line, or one far too long to be ours: skip what was read
        return [], offset + (len(data) if len(data) >= max_bytes else 0)
    records = []
    for line in data[: end + 1].splitlines():
        try:
            records.append(parse(line, path))
        except DamagedFileError:
            continue  # the partial line of a killed writer, a stray print, hand edits
    return records, offset + end + 1


def read_tail_lines(path: str | Path, parse, *, max_bytes: int) -> list:
    """Parse the whole lines in the last ``max_bytes`` of ``path`` (damaged ones skipped)."""
    try:
        size = Path(path).stat().st_size
    except OSError:
        return []
    start = max(0, size - max_bytes - 1)  # one byte before: does a line begin at the cut?
    try:
        with open(path, "rb") as file:
            file.seek(start)
            data = file.read(max_bytes + 1)
    except OSError:
        return []
    if start:
        data = data[data.find(b"\n") + 1 :] if b"\n" in data else b""
    records = []
    for line in data[: data.rfind(b"\n") + 1].splitlines():
        try:
            records.append(parse(line, path))
        except DamagedFileError:
            continue
    return records


def _parse_line(line: bytes, path, max_bytes: int):
    if len(line) > max_bytes:
        raise DamagedFileError(path, f"a line longer than the {max_bytes} bytes one ever holds")

    def refuse_constant(name):
        raise ValueError(f"{name} is not JSON")

    try:
        return json.loads(line.decode("utf-8"), parse_constant=refuse_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as error:
        raise DamagedFileError(path, f"a line is not valid JSON ({error})") from None


# -- what a resume resumes -----------------------------------------------------------------
def project_version() -> str:
    """This project's version (its package metadata), recorded in each new job.json."""
    try:
        return metadata.version("alexnet-studio")
    except metadata.PackageNotFoundError:  # run from a checkout that was never installed
        return "unknown"


def version_stamp() -> dict:
    """What job.json records about the version that wrote it (checked by a resume)."""
    return {"format": JOB_FORMAT, "project": project_version()}


def new_job_record(settings: dict) -> dict:
    """The job.json of a job being created: its settings and what wrote them."""
    return {**version_stamp(), "settings": settings, "created": time.time()}


def resume_mismatches(job: dict) -> list[str]:
    """What in a (checked) job.json this version cannot resume faithfully, in plain words.

    A job written by another version of the project (another job format or project version;
    one that records neither predates both) or holding a setting this version does not know
    would be continued under different rules: the result would be neither job.
    """
    found = []
    recorded = job.get("format")
    if recorded is None:
        found.append("it was written by an earlier version of AlexNet Studio (job.json records "
                     "no format)")  # fmt: skip
    elif recorded != JOB_FORMAT:
        found.append(f"its job.json has format {recorded}; this version writes format {JOB_FORMAT}")
    written_by, this = job.get("project"), project_version()
    if recorded is not None and written_by != this:
        found.append(f"it was written by AlexNet Studio {written_by or 'of an unknown version'}; "
                     f"this is {this}")  # fmt: skip
    unknown = sorted(set(job.get("settings", {})) - set(SETTINGS_SPEC))
    if unknown:
        found.append(f"it holds settings this version does not know: {', '.join(unknown)}")
    return found


# -- processes ---------------------------------------------------------------------------
def process_alive(pid) -> bool:
    """Whether process ``pid`` exists and is not a zombie (a killed process nobody reaped).

    Accepts anything a damaged record may hold: what is not a positive integer is not alive.
    """
    try:
        if isinstance(pid, bool):
            return False
        pid = int(pid)
        if pid <= 0:  # kill(0 or -1, 0) asks about process groups, not one process
            return False
        os.kill(pid, 0)
    except PermissionError:  # someone else's process: it exists (before OSError, its base)
        return True
    except (OSError, TypeError, ValueError, OverflowError):  # gone, or a damaged record's pid
        return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True  # no /proc (macOS, Windows): trust kill(0)


def job_is_alive(status: dict, stale_seconds: float = STALE_SECONDS) -> bool:
    """True when a status says running and its process is still beating (a live job)."""
    if not isinstance(status, dict) or status.get("state") != "running":
        return False
    try:  # a hand-edited status may hold anything
        heartbeat = float(status.get("heartbeat") or 0)
        pid = int(status.get("pid"))
    except (TypeError, ValueError, OverflowError):
        return False
    if not time.time() - heartbeat <= stale_seconds:  # (a NaN heartbeat is stale too)
        return False
    return process_alive(pid)
