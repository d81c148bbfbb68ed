"""A damaged newest checkpoint: resume falls back to the previous one and says so.

A small Keras model stands in for AlexNet: what is tested is the fallback over real
TensorFlow checkpoint files, not the network. The end-to-end case (a real job resumed after
its newest checkpoint was damaged) is in tests/e2e/test_train_cli.py.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from alexnet_tf.training.checkpoints import restore_newest_usable
from alexnet_tf.training.job import JobFolderError


def _saved_checkpoints(folder, values):
    """A model saved once per value in ``values`` (all its weights set to that value)."""
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    checkpoint = tf.train.Checkpoint(model=model)
    manager = tf.train.CheckpointManager(checkpoint, folder, max_to_keep=len(values))
    for value in values:
        for weight in model.weights:
            weight.assign(np.full(weight.shape, value, np.float32))
        manager.save()
    for weight in model.weights:  # what a fresh process has before restoring
        weight.assign(np.zeros(weight.shape, np.float32))
    return model, checkpoint, manager


def _value(model) -> float:
    values = {float(v) for w in model.weights for v in np.ravel(w.numpy())}
    assert len(values) == 1, values
    return values.pop()


def _flip_bytes(path, where):
    data = bytearray(path.read_bytes())
    position = int(len(data) * where)
    data[position : position + 8] = bytes(b ^ 0xFF for b in data[position : position + 8])
    path.write_bytes(bytes(data))


def _truncate(path):
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def test_an_intact_newest_checkpoint_is_restored(tmp_path):
    model, checkpoint, manager = _saved_checkpoints(tmp_path, [1.0, 2.0])
    result = restore_newest_usable(checkpoint, manager)
    assert _value(model) == 2.0
    assert result.damaged == [] and result.describe() == "resumed from ckpt-2"


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda p: _flip_bytes(p.with_suffix(".data-00000-of-00001"), 0.5), id="bits"),
        pytest.param(lambda p: p.with_suffix(".data-00000-of-00001").write_bytes(b""), id="empty"),
        pytest.param(lambda p: _truncate(p.with_suffix(".data-00000-of-00001")), id="cut"),
        pytest.param(lambda p: p.with_suffix(".index").write_bytes(b"garbage"), id="index"),
        pytest.param(lambda p: p.with_suffix(".index").unlink(), id="missing"),
    ],
)
def test_a_damaged_newest_checkpoint_falls_back_to_the_previous_and_says_so(tmp_path, damage):
    model, checkpoint, manager = _saved_checkpoints(tmp_path, [1.0, 2.0, 3.0])
    damage(tmp_path / "ckpt-3")
    result = restore_newest_usable(checkpoint, manager)
    assert _value(model) == 2.0  # every weight from ckpt-2, none left from the damaged one
    assert result.restored.endswith("ckpt-2")
    assert [name for name, _ in result.damaged] == [str(tmp_path / "ckpt-3")]
    assert result.describe().startswith("ckpt-3 is damaged (")
    assert result.describe().endswith("): resumed from ckpt-2 instead")


def test_when_no_checkpoint_can_be_read_resume_is_refused_with_each_reason(tmp_path):
    model, checkpoint, manager = _saved_checkpoints(tmp_path, [1.0, 2.0])
    for name in ("ckpt-1", "ckpt-2"):
        _flip_bytes(tmp_path / f"{name}.data-00000-of-00001", 0.5)
    with pytest.raises(JobFolderError) as refused:
        restore_newest_usable(checkpoint, manager)
    message = str(refused.value)
    assert str(tmp_path) in message and "ckpt-1 is damaged" in message
    assert "ckpt-2 is damaged" in message and "start a new job" in message


def test_no_checkpoint_at_all_restores_nothing(tmp_path):
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    checkpoint = tf.train.Checkpoint(model=model)
    manager = tf.train.CheckpointManager(checkpoint, tmp_path, max_to_keep=2)
    result = restore_newest_usable(checkpoint, manager)
    assert result.restored is None and result.damaged == []
