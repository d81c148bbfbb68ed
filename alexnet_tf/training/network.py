"""The network a job trains: AlexNet's layers with fc8 reading standardised fc7 features,
and the copy of the best epoch's weights.

The training network shares its layers (and so its variables) with the plain AlexNet that is
checkpointed and saved; only the fixed ``FeatureStandardizer`` is extra, and
``recipe.fold_standardization`` folds it into fc8 when the model is saved.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from .recipe import FEATURE_DIM


class FeatureStandardizer(keras.layers.Layer):
    """``x * scale + shift`` per feature, with fixed (non-trainable) ``scale`` and ``shift``.

    Identity until ``set_statistics`` is called, so a job checkpointed before this layer
    existed resumes unchanged. Always float32: the statistics need the precision.
    """

    def __init__(self, **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        self.scale = self.add_weight(
            shape=(FEATURE_DIM,), initializer="ones", trainable=False, name="scale"
        )
        self.shift = self.add_weight(
            shape=(FEATURE_DIM,), initializer="zeros", trainable=False, name="shift"
        )

    def set_statistics(self, scale: np.ndarray, shift: np.ndarray) -> None:
        """Use the standardisation of ``recipe.standardization``."""
        self.scale.assign(scale)
        self.shift.assign(shift)

    def statistics(self) -> tuple[np.ndarray, np.ndarray]:
        """``(scale, shift)`` as NumPy arrays."""
        return np.asarray(self.scale.numpy()), np.asarray(self.shift.numpy())

    def call(self, inputs):
        return tf.cast(inputs, self.compute_dtype) * self.scale + self.shift


def build_training_net(model, standardizer: FeatureStandardizer, *, features_input: bool,
                       fc8_dropout: float | None = None):  # fmt: skip
    """The network that trains: ``model``'s layers, fc7 -> standardizer -> drop7 -> fc8.

    With ``features_input`` it starts from cached fc7 activations (head mode, and top and full
    modes' first fit of fc8); otherwise from images, through every layer of ``model``.
    ``fc8_dropout`` replaces drop7's rate (top and full modes fit fc8 first as head mode does).
    """
    if features_input:
        inputs = keras.Input((FEATURE_DIM,), name="fc7_features")
        x = inputs
    else:
        inputs = model.input
        x = model.get_layer("fc7").output
    x = standardizer(x)
    if fc8_dropout is None:
        x = model.get_layer("drop7")(x)
    else:
        x = keras.layers.Dropout(fc8_dropout, name="drop7_first_fit")(x)
    x = model.get_layer("fc8")(x)
    outputs = model.get_layer("prob")(x)
    return keras.Model(inputs, outputs, name="alexnet_head" if features_input else "alexnet_train")


class BestEpoch(tf.Module):
    """The epoch with the best validation accuracy (ties: lower validation loss) and a copy of
    the trained variables at its end. Part of the checkpoint, so a resume keeps it. Epoch -1 is
    the network before its first epoch (top and full modes offer it once fc8 is fitted).

    Args:
        variables: the trained variables (fc8 alone in head mode: a few KB to copy).
    """

    def __init__(self, variables):
        super().__init__(name="best_epoch")
        self.epoch = tf.Variable(-1, dtype=tf.int64, trainable=False)
        self.val_accuracy = tf.Variable(-1.0, dtype=tf.float64, trainable=False)
        self.val_loss = tf.Variable(0.0, dtype=tf.float64, trainable=False)
        self.weights = [tf.Variable(tf.zeros(v.shape, v.dtype), trainable=False) for v in variables]

    def offer(self, epoch: int, val_accuracy: float, val_loss: float, variables) -> bool:
        """Copy ``variables`` if ``epoch`` beats the best so far; True if it did."""
        if self._has_best() and (val_accuracy, -val_loss) <= (
            float(self.val_accuracy.numpy()),
            -float(self.val_loss.numpy()),
        ):
            return False
        self.epoch.assign(epoch)
        self.val_accuracy.assign(val_accuracy)
        self.val_loss.assign(val_loss)
        for copy, source in zip(self.weights, variables, strict=True):
            copy.assign(source.value)
        return True

    def _has_best(self) -> bool:
        return float(self.val_accuracy.numpy()) >= 0  # an accuracy is never negative

    def restore_into(self, variables) -> None:
        """Put the best epoch's weights back into ``variables`` (those given to ``offer``)."""
        for copy, target in zip(self.weights, variables, strict=True):
            target.assign(copy.read_value())

    def describe(self) -> dict | None:
        """``{"epoch", "val_accuracy", "val_loss"}`` of the best epoch, or None before one."""
        if not self._has_best():
            return None
        return {
            "epoch": int(self.epoch.numpy()),
            "val_accuracy": float(self.val_accuracy.numpy()),
            "val_loss": float(self.val_loss.numpy()),
        }
