"""Compiled forward passes for interactive use: one image, or a batch, with chosen outputs.

``model.predict`` costs about 3x a compiled call on one image (it rebuilds a dataset and a
loop each time), so inference calls the model inside a ``tf.function``.

Choices measured on the 2-core CPU this project is developed on (see docs/performance.md and
benchmarks/inference.py), kept because they helped or because the alternative did not:

- ``jit_compile=True`` (XLA): about 3-4 ms less per single image (about 24 vs 28 ms) and a
  steadier p90, for one output or for all named layers; batch-32 throughput is unchanged.
  XLA compiles once per batch size (0.6-1 s), so a folder classified in chunks of 32 compiles
  at most twice. The signature keeps a free batch dimension: a fixed batch-1 signature
  measured no faster, and the same compiled function also serves batches.
- Threads: TF's defaults (intra-op = inter-op = cores) were best; 1 intra-op thread was
  ~30% slower, inter-op 1 made no difference. So nothing is configured here.
- oneDNN (``TF_ENABLE_ONEDNN_OPTS``) is on by default in TF on x86 and the XLA path does not
  depend on it; turning it off made the graph path slower. Left at the default.
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
        jit_compile: compile with XLA (faster on CPU, see the module docstring). ``False``
            runs the plain TF graph; the benchmarks use it for comparison.
    """

    def __init__(self, model: keras.Model, output_layers=("prob",), *, jit_compile=True):
        self.output_layers = tuple(output_layers)
        if not self.output_layers:
            raise ValueError(
                "output_layers must name at least one layer. "
                f"Received: output_layers={output_layers}"
            )
        outputs = [model.get_layer(name).output for name in self.output_layers]
        self._model = keras.Model(model.input, outputs, name=f"{model.name}_outputs")
        self._call = tf.function(
            lambda batch: self._model(batch, training=False),
            input_signature=[tf.TensorSpec((None, *INPUT_SHAPE), tf.float32)],
            jit_compile=bool(jit_compile),
        )

    def __call__(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        """Run a float32 ``(n, 227, 227, 3)`` preprocessed batch; return ``{layer: array}``."""
        outputs = self._call(tf.convert_to_tensor(batch, tf.float32))
        if not isinstance(outputs, (list, tuple)):
            outputs = [outputs]
        return {name: out.numpy() for name, out in zip(self.output_layers, outputs, strict=True)}
