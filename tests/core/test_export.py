"""Export of a job's model: each format loads elsewhere and predicts what the job's model does.

The TFLite file, which takes a photo, is checked against `classify` in
tests/e2e/test_export_photos.py (one conversion takes ~20 s).
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from alexnet_tf.errors import ExportError
from alexnet_tf.export import export_model
from alexnet_tf.fileio import write_json_atomic
from tests.datasets import make_class_image

LABELS = {"labels": ["blobs", "stripes", "checkers"], "preprocessing": "caffe-bvlc-227"}


@pytest.fixture(scope="module")
def job(tmp_path_factory):
    """A finished job folder with a 3-class AlexNet, and its probabilities on a few images."""
    import keras

    from alexnet_tf.model import build_alexnet
    from alexnet_tf.preprocess import preprocess_image

    keras.utils.set_random_seed(7)
    model = build_alexnet(num_classes=3)
    fc8 = model.get_layer("fc8")
    kernel, bias = fc8.get_weights()
    fc8.set_weights([kernel * 20, bias])  # peaked outputs, so a wrong export shows
    root = tmp_path_factory.mktemp("job")
    (root / "model").mkdir()
    model.save(root / "model" / "model.keras")
    write_json_atomic(root / "model" / "labels.json", LABELS)
    write_json_atomic(root / "status.json", {"state": "finished"})
    rng = np.random.default_rng(3)
    inputs = np.stack([preprocess_image(make_class_image(i % 3, 96, rng)) for i in range(4)])
    return root, inputs, model.predict_on_batch(inputs)


def test_keras_file_loads_with_labels_and_agrees(job, tmp_path):
    from alexnet_tf.inference import Classifier

    root, inputs, expected = job
    out = export_model(root, "keras", tmp_path / "exports" / "birds.keras")
    assert out == tmp_path / "exports" / "birds.keras"
    assert json.loads((out.parent / "labels.json").read_text()) == LABELS
    classifier = Classifier.load(out)
    assert classifier.labels == tuple(LABELS["labels"])
    np.testing.assert_allclose(classifier.model.predict_on_batch(inputs), expected, atol=1e-6)
    # Nothing half-written is left beside it; the marker says an export wrote the file.
    assert sorted(p.name for p in out.parent.iterdir()) == [
        ".birds.keras.alexnet-studio-export.json", "birds.keras", "labels.json"
    ]  # fmt: skip


def test_savedmodel_serves_and_agrees(job, tmp_path):
    import tensorflow as tf

    root, inputs, expected = job
    out = export_model(root, "savedmodel", tmp_path / "served")
    assert json.loads((out / "labels.json").read_text()) == LABELS
    served = tf.saved_model.load(str(out))
    np.testing.assert_allclose(served.serve(tf.constant(inputs)).numpy(), expected, atol=1e-5)
    assert [p.name for p in tmp_path.iterdir()] == ["served"]  # the temporary folder is gone


def test_existing_destination_needs_force(job, tmp_path):
    from alexnet_tf.cli import run
    from alexnet_tf.inference import Classifier

    root, _, _ = job
    out = tmp_path / "model.keras"
    export_model(root, "keras", out)
    out.write_bytes(b"an older export")
    with pytest.raises(ExportError, match="already exists.*--force"):
        export_model(root, "keras", out)
    assert out.read_bytes() == b"an older export"
    assert run(["export", str(root), "--format", "keras", "--out", str(out)]) == 2
    assert run(["export", str(root), "--format", "keras", "--out", str(out), "--force"]) == 0
    assert out.read_bytes() == (root / "model" / "model.keras").read_bytes()

    # A keras export without the .keras suffix is a folder Classifier.load reads; --force
    # replaces an earlier export folder but never some other folder of the user's.
    folder = export_model(root, "keras", tmp_path / "bundle")
    assert sorted(p.name for p in folder.iterdir()) == [
        "alexnet-studio-export.json", "labels.json", "model.keras"
    ]  # fmt: skip
    assert Classifier.load(folder).labels == tuple(LABELS["labels"])
    (folder / "labels.json").write_text("{}")
    assert export_model(root, "keras", folder, force=True) == folder
    assert json.loads((folder / "labels.json").read_text()) == LABELS
    # An earlier export of another kind at the same path is replaced too (folder -> file).
    assert export_model(root, "tflite", folder, force=True) == folder
    assert folder.is_file() and folder.read_bytes()[4:8] == b"TFL3"
    assert json.loads((tmp_path / "labels.json").read_text()) == LABELS
    assert export_model(root, "keras", folder, force=True) == folder  # file -> folder
    assert not (tmp_path / ".bundle.alexnet-studio-export.json").exists()
    assert not [p.name for p in tmp_path.iterdir() if ".tmp-" in p.name or ".old-" in p.name]
    photos = tmp_path / "photos"
    photos.mkdir()
    (photos / "holiday.jpg").write_bytes(b"precious")
    with pytest.raises(ExportError, match="not an earlier export"):
        export_model(root, "savedmodel", photos, force=True)
    assert (photos / "holiday.jpg").read_bytes() == b"precious"


def test_unfinished_or_missing_jobs_are_explained(tmp_path):
    with pytest.raises(ExportError, match="no such job folder"):
        export_model(tmp_path / "nope", "keras", tmp_path / "x.keras")
    running = tmp_path / "running"
    (running / "model").mkdir(parents=True)
    write_json_atomic(running / "job.json", {"settings": {}})
    write_json_atomic(running / "status.json", {"state": "running"})
    with pytest.raises(ExportError, match="no trained model yet.*still running"):
        export_model(running, "tflite", tmp_path / "x.tflite")
    write_json_atomic(running / "status.json", {"state": "cancelled"})
    with pytest.raises(ExportError, match="--resume"):
        export_model(running, "savedmodel", tmp_path / "x")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ExportError, match="not a training job folder"):
        export_model(tmp_path / "empty", "keras", tmp_path / "x.keras")
    with pytest.raises(ExportError, match="Received: fmt='onnx'"):
        export_model(running, "onnx", tmp_path / "x.onnx")
    assert not any(p.name.startswith("x") for p in tmp_path.iterdir())


def test_force_never_replaces_a_users_file_or_folder(job, tmp_path, capsys):
    """`export JOB --format keras --out photo.jpg --force` once deleted the photo."""
    from alexnet_tf.cli import run

    root, _, _ = job
    photo = tmp_path / "photo.jpg"
    photo.write_bytes(b"a precious photo")
    own = tmp_path / "mine.keras"  # a .keras file the user made, not an export
    own.write_bytes(b"the user's own model")
    for out, fmt in [(photo, "keras"), (photo, "savedmodel"), (photo, "tflite"), (own, "keras")]:
        argv = ["export", str(root), "--format", fmt, "--out", str(out), "--force"]
        assert run(argv) == 2
        error = capsys.readouterr().err
        assert error.startswith(f"error: {out}: is a file that is not an earlier export"), error
        assert error.count("\n") == 1  # one line
        assert "Traceback" not in error
    assert photo.read_bytes() == b"a precious photo"
    assert own.read_bytes() == b"the user's own model"
    labels = tmp_path / "labels.json"  # a user's labels.json beside a file export
    labels.write_text("my shopping list")
    with pytest.raises(ExportError, match="not the labels.json of an export"):
        export_model(root, "keras", tmp_path / "fresh.keras", force=True)
    assert labels.read_text() == "my shopping list"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["labels.json", "mine.keras", "photo.jpg"]


KILL_DURING_EXPORT = """
import sys
from alexnet_tf.export import export_model
export_model(sys.argv[1], "savedmodel", sys.argv[2])
"""


def test_a_savedmodel_export_killed_with_9_leaves_nothing_after_the_next_export(job, tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    root, inputs, expected = job
    exports = tmp_path / "exports"
    exports.mkdir()
    process = subprocess.Popen(
        [sys.executable, "-c", KILL_DURING_EXPORT, str(root), str(exports / "served")]
    )
    deadline = time.monotonic() + 300
    written = []
    while process.poll() is None and time.monotonic() < deadline and not written:
        # Killed once the SavedModel is being written inside the temporary folder.
        written = [p for p in exports.glob(".served.tmp-*/export/*") if p.exists()]
        time.sleep(0.01)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert written, "the export ended before it could be killed"
    leftovers = [p.name for p in exports.iterdir()]
    assert len(leftovers) == 1 and leftovers[0].startswith(f".served.tmp-{process.pid}-")

    # A temporary of a live process is kept; one whose pid now names a younger process goes.
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        time.sleep(0.5)
        live = exports / f".other.tmp-{sleeper.pid}-abc"
        live.mkdir()
        reused = exports / f".older.keras.tmp-{sleeper.pid}.keras"
        reused.write_bytes(b"left by an earlier process that had this pid")
        os.utime(reused, (time.time() - 3600, time.time() - 3600))
        out = export_model(root, "savedmodel", exports / "served")
        assert sorted(p.name for p in exports.iterdir()) == [live.name, "served"]
    finally:
        sleeper.kill()
        sleeper.wait()
    import tensorflow as tf

    served = tf.saved_model.load(str(out))
    np.testing.assert_allclose(served.serve(tf.constant(inputs)).numpy(), expected, atol=1e-5)
