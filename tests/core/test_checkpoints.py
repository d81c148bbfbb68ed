"""The list of a job's checkpoints (TensorFlow's ``checkpoint`` file) is repaired on resume.

TensorFlow finds checkpoints only through that list: lost or damaged, a resume would start
over although every checkpoint file is there; a save killed between writing its files and
updating the list would be ignored. A small Keras model stands in for AlexNet.
"""

from __future__ import annotations

import json
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from alexnet_tf.training.checkpoints import repair_checkpoint_list, restore_newest_usable
from alexnet_tf.training.job import read_status_json


def _save(folder, values, max_to_keep=3):
    """A model saved once per value (all weights set to it); then zeroed, as in a new process."""
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    checkpoint = tf.train.Checkpoint(model=model)
    manager = tf.train.CheckpointManager(checkpoint, folder, max_to_keep=max_to_keep)
    for value in values:
        for weight in model.weights:
            weight.assign(np.full(weight.shape, value, np.float32))
        manager.save()
    for weight in model.weights:
        weight.assign(np.zeros(weight.shape, np.float32))
    return model, checkpoint


def _resume(folder, checkpoint, max_to_keep=3):
    """What a resume does: repair the list, open the manager, restore the newest usable."""
    said = repair_checkpoint_list(folder)
    manager = tf.train.CheckpointManager(checkpoint, folder, max_to_keep=max_to_keep)
    return said, manager, restore_newest_usable(checkpoint, manager)


def _value(model) -> float:
    values = {float(v) for w in model.weights for v in np.ravel(w.numpy())}
    assert len(values) == 1, values
    return values.pop()


@pytest.mark.parametrize(
    "damage, word",
    [
        pytest.param(lambda p: p.unlink(), "missing", id="missing"),
        pytest.param(lambda p: p.write_bytes(b""), "damaged", id="empty"),
        pytest.param(lambda p: p.write_bytes(b"\x00\xff" * 40), "damaged", id="binary"),
        pytest.param(lambda p: p.write_text("garbage {{\n"), "damaged", id="text"),
        pytest.param(lambda p: p.write_bytes(p.read_bytes()[:20]), "damaged", id="cut"),
    ],
)
def test_a_lost_or_damaged_list_is_rebuilt_and_the_newest_checkpoint_restored(
    tmp_path, damage, word
):
    model, checkpoint = _save(tmp_path, [1.0, 2.0, 3.0])
    damage(tmp_path / "checkpoint")
    said, manager, result = _resume(tmp_path, checkpoint)
    assert said == (
        f"the list of checkpoints ({tmp_path / 'checkpoint'}) was {word}: rebuilt it from "
        "the checkpoint files (ckpt-1, ckpt-2, ckpt-3)"
    )
    assert _value(model) == 3.0 and result.restored.endswith("ckpt-3")
    # The rebuilt list is TensorFlow's: the manager keeps deleting old checkpoints.
    manager.save()
    assert [p.rsplit("/", 1)[1] for p in manager.checkpoints] == ["ckpt-2", "ckpt-3", "ckpt-4"]
    assert not (tmp_path / "ckpt-1.index").exists()


def test_a_complete_but_unlisted_newest_checkpoint_is_used(tmp_path):
    # A save killed after its files were complete, before the list was updated.
    model, checkpoint = _save(tmp_path, [1.0, 2.0])
    listed = (tmp_path / "checkpoint").read_bytes()
    _save(tmp_path, [1.0, 2.0, 5.0])  # ckpt-3 exists
    (tmp_path / "checkpoint").write_bytes(listed)  # ... but the list names ckpt-1, ckpt-2
    said, _, result = _resume(tmp_path, checkpoint)
    assert said == "ckpt-3 had been saved but not listed (a save was interrupted): added"
    assert result.restored.endswith("ckpt-3") and _value(model) == 5.0


def test_a_right_list_or_no_checkpoint_is_left_alone(tmp_path):
    model, checkpoint = _save(tmp_path / "job", [1.0, 2.0])
    before = (tmp_path / "job" / "checkpoint").read_bytes()
    assert repair_checkpoint_list(tmp_path / "job") is None
    assert (tmp_path / "job" / "checkpoint").read_bytes() == before
    (tmp_path / "empty").mkdir()
    assert repair_checkpoint_list(tmp_path / "empty") is None
    assert list((tmp_path / "empty").iterdir()) == []


def test_a_rebuilt_list_with_a_damaged_newest_falls_back_and_says_both(tmp_path):
    model, checkpoint = _save(tmp_path, [1.0, 2.0])
    (tmp_path / "checkpoint").unlink()
    data = tmp_path / "ckpt-2.data-00000-of-00001"
    data.write_bytes(data.read_bytes()[: data.stat().st_size // 2])
    said, _, result = _resume(tmp_path, checkpoint)
    assert "rebuilt it from the checkpoint files (ckpt-1, ckpt-2)" in said
    assert result.describe().startswith("ckpt-2 is damaged (")
    assert result.describe().endswith("resumed from ckpt-1 instead") and _value(model) == 1.0


# -- the job folder: created with its job.json; never "running" once its process gave up --


def test_the_job_folder_appears_with_its_job_json_and_leftovers_are_removed(tmp_path):
    from alexnet_tf.training.job import create_job_folder, read_job_json

    dead = tmp_path / ".job.new-999999999"  # a start killed before its rename
    dead.mkdir()
    (dead / "job.json").write_text("{}")
    create_job_folder(tmp_path / "job", {"settings": {"epochs": 2}})
    assert read_job_json(tmp_path / "job") == {"settings": {"epochs": 2}}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["job"]
    assert [p.name for p in (tmp_path / "job").iterdir()] == ["job.json"]


def test_a_job_folder_that_cannot_be_created_is_refused_with_folder_and_reason(tmp_path):
    from alexnet_tf.training.job import JobFolderError, create_job_folder

    (tmp_path / "file").write_text("not a folder")
    with pytest.raises(JobFolderError) as refused:
        create_job_folder(tmp_path / "file" / "job", {})
    assert str(refused.value).startswith(
        f"Cannot create the job folder {tmp_path / 'file' / 'job'}"
    )
    assert str(refused.value).endswith(f"{tmp_path / 'file'} is a file, not a folder.")


def _stopping_job(tmp_path, stop, batch_size=4):
    from alexnet_tf.training.loop import TrainingJob
    from alexnet_tf.training.settings import TrainSettings
    from tests.datasets import make_image_folder

    data = make_image_folder(tmp_path / "data", classes=2, per_class=3, size=32, bad_files=False)
    settings = TrainSettings(folder=str(data["root"]), batch_size=batch_size, init="scratch")
    return TrainingJob(settings, tmp_path / "job", stop=stop)


def test_a_job_that_fails_or_is_interrupted_never_stays_running(tmp_path):
    from alexnet_tf.training.job import read_status_json

    # A failure of its own (more images per batch than the job has) ...
    job = _stopping_job(tmp_path / "a", lambda: False, batch_size=64)
    assert job.run() == 1
    status = read_status_json(tmp_path / "a" / "job")
    assert status["state"] == "failed" and "batch_size is larger" in status["message"]

    # ... and Ctrl-C where no handler turns it into a cancel (the library in a notebook).
    def interrupt():
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _stopping_job(tmp_path / "b", interrupt).run()
    status = read_status_json(tmp_path / "b" / "job")
    assert status["state"] == "failed" and status["message"] == "stopped by KeyboardInterrupt"


def test_a_cancel_on_the_last_step_of_an_epoch_keeps_that_epoch_on_the_curves(tmp_path):
    # Found by the app's end-to-end test: a cancel that landed on an epoch's last step saved
    # (epoch, last step); the resume ran no step of that epoch, so its training loss was None
    # and the curve lost a point.
    from alexnet_tf.training.events import ProgressReporter
    from alexnet_tf.training.loop import TrainingJob
    from alexnet_tf.training.settings import TrainSettings
    from tests.datasets import make_image_folder

    class StopAtTheEndOfEpoch0(ProgressReporter):
        asked = False

        def emit(self, event, **fields):
            if event == "step" and fields["epoch"] == 0 and fields["step"] == fields["steps"]:
                self.asked = True
            super().emit(event, **fields)

    data = make_image_folder(tmp_path / "data", classes=2, per_class=4, size=32, bad_files=False)
    settings = TrainSettings(folder=str(data["root"]), epochs=2, batch_size=2, val_split=0.25,
                             init="scratch", augment=False)  # fmt: skip
    reporter = StopAtTheEndOfEpoch0()
    job_dir = tmp_path / "job"
    assert TrainingJob(settings, job_dir, reporter=reporter, stop=lambda: reporter.asked).run() == 0
    assert read_status_json(job_dir)["state"] == "cancelled"
    assert TrainingJob(settings, job_dir, resume=True).run() == 0

    lines = (job_dir / "metrics.jsonl").read_text().splitlines()
    epochs = [record for record in map(json.loads, lines) if record["kind"] == "epoch"]
    assert [e["epoch"] for e in epochs] == [0, 1]
    for record in epochs:  # a point on every curve, for every epoch
        assert None not in (record["loss"], record["accuracy"], record["val_loss"]), record


def test_scratch_folders_of_killed_workers_are_removed(tmp_path, monkeypatch):
    # A worker other than the chief writes its own checkpoints (~0.4 GB) in a temporary
    # folder that kill -9 leaves behind; the next worker on the machine removes it.
    import subprocess
    import sys
    import tempfile

    from alexnet_tf.training.job import WORKER_SCRATCH_PREFIX, make_worker_scratch

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    killed = subprocess.Popen([sys.executable, "-c", "pass"])
    killed.wait()
    dead = tmp_path / f"{WORKER_SCRATCH_PREFIX}{killed.pid}-abc"
    alive = tmp_path / f"{WORKER_SCRATCH_PREFIX}{os.getppid()}-def"  # a worker still running
    for folder in (dead, alive):
        (folder / "checkpoints").mkdir(parents=True)
    mine = make_worker_scratch()
    assert mine.name.startswith(f"{WORKER_SCRATCH_PREFIX}{os.getpid()}-") and mine.is_dir()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([alive.name, mine.name])
