"""Fuzzing the readers of files a user (or a crashed job) may hand the app.

Hypothesis feeds mutated copies of valid files (bytes flipped, runs of 0xFF written over
length and size fields, cuts, insertions) and plain random bytes to the image loader, the
.npy and .caffemodel importers, and the readers of job folders. Only a clean result or one of
the project's own errors (``AlexNetStudioError``, whose message names the file) may come
out; the job-folder readers of the app must not raise at all. Derandomized: every run tries
the same examples, so CI is reproducible.
"""

from __future__ import annotations

import atexit
import io
import json
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from PIL import Image

from alexnet_tf import jobfolder, schema
from alexnet_tf.errors import AlexNetStudioError, DamagedFileError
from alexnet_tf.images import load_image
from alexnet_tf.jobfolder import job_is_alive
from alexnet_tf.training.job import read_job_json, read_status_json
from alexnet_tf.weights.caffemodel import read_caffemodel_weights
from alexnet_tf.weights.convert import check_keras_weights
from alexnet_tf.weights.npy import load_npy_dict
from app.jobs import job_store
from tests.synthetic_weights import write_caffemodel, write_hostile_npy, write_py2_style_npy

FUZZ = settings(
    max_examples=300,
    deadline=None,
    derandomize=True,
    database=None,
    print_blob=False,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def _scratch() -> Path:
    """A folder for one test's examples, removed at the end of the process."""
    folder = Path(tempfile.mkdtemp(prefix="alexnet-fuzz-"))
    atexit.register(shutil.rmtree, folder, True)
    return folder


@st.composite
def mutated(draw, seeds: list[bytes]) -> bytes:
    """A seed with a few mutations, the kinds that break parsers: flipped bytes, absurd
    sizes written over header fields, cuts, insertions and deletions."""
    data = bytearray(draw(st.sampled_from(seeds)))
    for _ in range(draw(st.integers(1, 5))):
        if not data:
            break
        kind = draw(st.sampled_from(["flip", "huge", "zero", "cut", "insert", "delete"]))
        # header fields come first: favour the first 64 bytes half of the time
        end = min(len(data), 64) if draw(st.booleans()) else len(data)
        at = draw(st.integers(0, end - 1))
        if kind == "flip":
            data[at] ^= draw(st.integers(1, 255))
        elif kind == "huge":
            data[at : at + 4] = b"\xff\xff\xff\x7f"
        elif kind == "zero":
            data[at : at + 4] = b"\x00\x00\x00\x00"
        elif kind == "cut":
            del data[at:]
        elif kind == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=16))
        else:
            del data[at : at + draw(st.integers(1, 16))]
    return bytes(data)


def _either(seeds: list[bytes]):
    return st.one_of(mutated(seeds), st.binary(max_size=512))


# --- images ------------------------------------------------------------------------------


def _image_seeds() -> list[bytes]:
    rng = np.random.default_rng(0)
    picture = Image.fromarray(rng.integers(0, 256, (12, 16, 3), dtype=np.uint8))
    seeds = []
    for format_, options in [
        ("PNG", {}),
        ("JPEG", {"quality": 80}),
        ("GIF", {}),
        ("WEBP", {"quality": 80}),
        ("TIFF", {}),
        ("TIFF", {"compression": "tiff_deflate"}),
    ]:
        buffer = io.BytesIO()
        picture.save(buffer, format_, **options)
        seeds.append(buffer.getvalue())
    return seeds


IMAGE_SEEDS = _image_seeds()
IMAGE_FOLDER = _scratch()


@pytest.mark.filterwarnings("ignore::UserWarning")  # Pillow's notes on damaged TIFF tags
@FUZZ
@given(content=_either(IMAGE_SEEDS), suffix=st.sampled_from([".jpg", ".png", ".gif", ""]))
def test_image_loader_gives_an_image_or_a_clear_error(content, suffix):
    path = IMAGE_FOLDER / f"photo{suffix}"
    path.write_bytes(content)
    try:
        image = load_image(path)
    except AlexNetStudioError as error:
        assert str(path) in str(error)
        return
    assert image.mode == "RGB" and image.width >= 1 and image.height >= 1


# --- weight files ------------------------------------------------------------------------

WEIGHTS_FOLDER = _scratch()
MARKER = WEIGHTS_FOLDER / "code-ran"


def _small_layers() -> dict:
    rng = np.random.default_rng(1)
    return {
        "conv1": [rng.standard_normal((2, 2, 3, 2)).astype(np.float32), np.ones(2, np.float32)],
        "fc8": [rng.standard_normal((3, 2)).astype(">f4"), np.zeros(2, np.float64)],
    }


def _npy_seeds() -> list[bytes]:
    seeds = [write_py2_style_npy(WEIGHTS_FOLDER / "py2.npy", _small_layers()).read_bytes()]
    np.save(WEIGHTS_FOLDER / "py3.npy", _small_layers(), allow_pickle=True)  # trusted: ours
    seeds.append((WEIGHTS_FOLDER / "py3.npy").read_bytes())
    seeds.append(write_hostile_npy(WEIGHTS_FOLDER / "hostile.npy", MARKER).read_bytes())
    return seeds


def _caffemodel_seeds() -> list[bytes]:
    rng = np.random.default_rng(2)
    weights = {
        name: (rng.standard_normal(shape).astype(np.float32), np.ones(shape[0], np.float32))
        for name, shape in [("conv1", (2, 3, 2, 2)), ("fc7", (3, 4)), ("fc8", (2, 3))]
    }
    return [
        write_caffemodel(WEIGHTS_FOLDER / f"{version}.caffemodel", weights, version).read_bytes()
        for version in ("v1", "v2")
    ]


NPY_SEEDS = _npy_seeds()
CAFFEMODEL_SEEDS = _caffemodel_seeds()


@FUZZ
@given(content=_either(NPY_SEEDS))
def test_npy_importer_gives_arrays_or_a_clear_error_and_runs_nothing(content):
    path = WEIGHTS_FOLDER / "fuzz.npy"
    path.write_bytes(content)
    try:
        layers = load_npy_dict(path)
        check_keras_weights(layers, path)  # the small seeds never fit AlexNet
    except AlexNetStudioError as error:
        assert str(path) in str(error)
    else:
        pytest.fail("weights of the wrong shapes were accepted")
    assert not MARKER.exists()


@FUZZ
@given(content=_either(CAFFEMODEL_SEEDS))
def test_caffemodel_importer_gives_arrays_or_a_clear_error(content):
    path = WEIGHTS_FOLDER / "fuzz.caffemodel"
    path.write_bytes(content)
    with pytest.raises(AlexNetStudioError) as caught:  # the small seeds never fit AlexNet
        read_caffemodel_weights(path)
    assert str(path) in str(caught.value)


# --- job folders -------------------------------------------------------------------------

JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=12,
)
# keys of status.json, the launch and exit records, metrics and event lines
STATUS_KEYS = ["state", "pid", "heartbeat", "progress", "epoch", "message", "eta_seconds",
               "images_per_second", "started", "returncode", "signal", "ended", "kind",
               "global_step", "event", "settings", "dataset", "classes"]  # fmt: skip
INTERESTING = st.sampled_from(
    ["running", "finished", "failed", "step", "epoch", "error", 0, -1, 1, 2**31, 2**63,
     1e308, float("nan"), float("inf"), "123", 1.5, "SIGKILL"]
)  # fmt: skip
STATUS_DICTS = st.dictionaries(
    st.sampled_from(STATUS_KEYS), st.one_of(INTERESTING, JSON_VALUES), max_size=len(STATUS_KEYS)
)


def _file_content():
    """What a job file may hold after a crash or a hand edit."""
    status_like = STATUS_DICTS.map(lambda v: json.dumps(v).encode())
    return st.one_of(
        st.binary(max_size=64),
        JSON_VALUES.map(lambda v: json.dumps(v).encode()),
        status_like,
        status_like,  # twice: the likeliest damage is a plausible file with odd values
        st.lists(STATUS_DICTS | JSON_VALUES, max_size=4).map(
            lambda rows: b"\n".join(json.dumps(r).encode() for r in rows) + b"\n"
        ),
        st.sampled_from([b"[" * 2000, b'{"a":' * 2000, b"\xff\xfe\x00", b"{}\n{"]),
    )


JOB_FILES = ["job.json", "status.json", "metrics.jsonl", "log.txt", "eval.json"]
RUN_FILES = ["record", "events", "stderr", "exit"]


@FUZZ
@given(status=STATUS_DICTS)
def test_job_is_alive_answers_for_any_status(status):
    assert job_is_alive(status) in (True, False)


@FUZZ
@example(files={"record": b'{"pid": 9223372036854775808, "started": 1}'})  # found by hand
@example(files={"record": b'{"pid": 0, "started": 1e300}', "status.json": b'{"state": "running"}'})
@given(files=st.dictionaries(st.sampled_from(JOB_FILES + RUN_FILES), _file_content(), min_size=1))
def test_job_folder_readers_never_raise_on_damaged_files(files):
    with tempfile.TemporaryDirectory(prefix="alexnet-fuzz-jobs-") as temporary:
        jobs = Path(temporary)
        job = jobs / "job-1"
        job.mkdir()
        (jobs / job_store.RUNS_FOLDER).mkdir()
        launch = job_store.run_files(job)
        for name, content in files.items():
            target = getattr(launch, name) if name in RUN_FILES else job / name
            target.write_bytes(content)

        try:
            job_json = read_job_json(job)
        except AlexNetStudioError as error:
            assert str(job) in str(error)
        else:
            assert isinstance(job_json, dict)
        status = read_status_json(job)
        assert isinstance(status, dict)
        assert job_is_alive(status) in (True, False)

        record = job_store.read_job(job)
        assert record.state in job_store.STATE_TEXT
        assert isinstance(record.message, str) and isinstance(record.state_text, str)
        assert isinstance(record.classes, list)
        listed = {"job.json", "status.json", "record"} & set(files)  # what makes a job folder
        assert [r.name for r in job_store.list_jobs(jobs)] == (["job-1"] if listed else [])
        assert all(isinstance(e, dict) for e in job_store.read_events(job))
        metrics = job_store.read_metrics(job)
        assert all(isinstance(r, dict) for r in metrics.steps + metrics.epochs)
        assert isinstance(job_store.read_log(job), str)
        assert isinstance(job_store.stderr_tail(job), str)
        assert job_store.read_evaluation(job) is None or isinstance(
            job_store.read_evaluation(job), dict
        )


# --- every reader of a job file, one by one --------------------------------------------------

JOB_FILE_FOLDER = _scratch()
_KEPT = {"epoch": 3, "rule": "best"}
# One file as the project writes it, per reader; the fuzzer replaces parts of it.
VALID_JOB_FILES = {
    "job.json": {
        "format": jobfolder.JOB_FORMAT, "project": "0.1.0", "created": 1.5, "kept": _KEPT,
        "settings": {"folder": "/data/birds", "epochs": 2, "mode": "head", "lr": None},
        "versions": {"keras": "3.10"}, "strategy": "one CPU",
        "dataset": {"root": "/data/birds", "classes": ["a", "b"], "num_images": 40},
    },
    "status.json": {"state": "running", "pid": 12, "heartbeat": 1.0, "progress": 0.5,
                    "eta_seconds": None, "message": "epoch 1/2", "kept": _KEPT},
    "labels.json": {"labels": ["a", "b"], "preprocessing": jobfolder.PREPROCESSING},
    "eval.json": {
        "top1": 0.5, "num_examples": 2, "classes": ["a", "b"], "confusion_matrix": [[1, 0], [1, 0]],
        "per_class": [{"class": "a", "precision": 0.5, "recall": 1.0, "f1": 0.6, "support": 1}],
        "misclassified": [{"path": None, "true": "b", "predicted": "a", "probability": 0.9}],
    },
    "record": {"pid": 40, "started": 2.0, "command": ["python", "-m", "app.launch"]},
    "exit": {"pid": None, "returncode": -9, "signal": "SIGKILL", "ended": 3.0},
    "metrics line": {"kind": "step", "global_step": 3, "loss": 0.5, "accuracy": None},
    "event line": {"event": "error", "message": "the disk is full"},
}  # fmt: skip
JOB_FILE_READERS = {
    "job.json": (jobfolder.JOB_SPEC, lambda path: jobfolder.read_job_file(path.parent)),
    "status.json": (jobfolder.STATUS_SPEC, lambda path: jobfolder.read_status_file(path.parent)),
    "labels.json": (jobfolder.LABELS_SPEC, jobfolder.read_labels_file),
    "eval.json": (jobfolder.EVAL_SPEC, lambda path: jobfolder.read_eval_file(path.parent)),
    "record": (
        jobfolder.RUN_RECORD_SPEC,
        lambda path: jobfolder.read_record_file(path, jobfolder.RUN_RECORD_SPEC),
    ),
    "exit": (
        jobfolder.EXIT_RECORD_SPEC,
        lambda path: jobfolder.read_record_file(path, jobfolder.EXIT_RECORD_SPEC),
    ),
    "metrics line": (
        jobfolder.METRICS_LINE_SPEC,
        lambda path: jobfolder.parse_metrics_line(path.read_bytes(), path),
    ),
    "event line": (
        jobfolder.EVENT_SPEC,
        lambda path: jobfolder.parse_event_line(path.read_bytes(), path),
    ),
}


@st.composite
def job_file_text(draw, name: str) -> str:
    """A job file as it may be found: the real thing with one part replaced by any JSON
    value (NaN and Infinity included), any JSON value at all, or one buried deep."""
    kind = draw(st.sampled_from(["replaced", "any", "deep"]))
    if kind == "any":
        return json.dumps(draw(JSON_VALUES))
    if kind == "deep":
        depth, bracket = draw(st.integers(1, 3000)), draw(st.sampled_from(["[", '{"a": ']))
        closing = "]" if bracket == "[" else "}"
        return bracket * depth + json.dumps(draw(JSON_VALUES)) + closing * depth
    value = json.loads(json.dumps(VALID_JOB_FILES[name]))
    target = value
    while True:  # walk down to a random container, then replace one of its items
        keys = list(target) if isinstance(target, dict) else list(range(len(target)))
        key = draw(st.sampled_from(keys))
        if isinstance(target[key], (dict, list)) and target[key] and draw(st.booleans()):
            target = target[key]
            continue
        target[key] = draw(st.one_of(INTERESTING, JSON_VALUES))
        return json.dumps(value)


@FUZZ
@given(data=st.data(), name=st.sampled_from(sorted(VALID_JOB_FILES)))
def test_each_job_file_reader_returns_a_checked_value_or_names_the_file(data, name):
    text = data.draw(job_file_text(name))
    spec, read = JOB_FILE_READERS[name]
    path = JOB_FILE_FOLDER / name.replace(" ", "-")  # job.json and status.json by their names
    path.write_text(text, encoding="utf-8")
    try:
        value = read(path)
    except DamagedFileError as error:
        assert str(path) in str(error)
        return
    assert isinstance(value, dict)
    schema.check(value, spec, path)  # what a reader returns is what the schema promises


@FUZZ
@given(content=_file_content())
def test_a_metrics_file_gives_checked_records_whatever_it_holds(content):
    with tempfile.TemporaryDirectory(prefix="alexnet-fuzz-metrics-") as temporary:
        (Path(temporary) / "metrics.jsonl").write_bytes(content)
        metrics = job_store.read_metrics(temporary)
    for record in metrics.steps + metrics.epochs:
        schema.check(record, jobfolder.METRICS_LINE_SPEC, "metrics.jsonl")
