"""Compiled forward passes for interactive use: one image, or a batch, with chosen outputs.

``model.predict`` costs about 3x a compiled call on one image (it rebuilds a dataset and a
loop each time), so inference calls the model inside a ``tf.function`` with a fixed signature.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from .model import INPUT_SHAPE


class CompiledForward:
    """A model's forward pass (inference mode), compiled once, returning named layer outputs.

    Args:
        model: a model built by ``build_alexnet`` (or loaded from a ``.keras`` file).
        output_layers: names of the layers whose outputs are returned, e.g. ``("prob",)`` or
            every named layer for feature maps. All come from one forward pass.
    """

    def __init__(self, model: keras.Model, output_layers=("prob",)):
        self.output_layers = tuple(output_layers)
        outputs = [model.get_layer(name).output for name in self.output_layers]
        self._model = keras.Model(model.inputs, outputs, name=f"{model.name}_outputs")
        self._call = tf.function(
            lambda batch: self._model(batch, training=False),
            input_signature=[tf.TensorSpec((None, *INPUT_SHAPE), tf.float32)],
        )

    def __call__(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        """Run a float32 ``(n, 227, 227, 3)`` preprocessed batch; return ``{layer: array}``."""
        outputs = self._call(tf.convert_to_tensor(batch, tf.float32))
        if not isinstance(outputs, (list, tuple)):
            outputs = [outputs]
        return {name: out.numpy() for name, out in zip(self.output_layers, outputs, strict=True)}
