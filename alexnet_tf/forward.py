"""Compiled forward passes for interactive use: one image, or a batch, with chosen outputs.

``model.predict`` costs about 3x a compiled call on one image (it rebuilds a dataset and a
loop each time), so inference calls the model inside a ``tf.function``.

Whether that function is compiled with XLA is chosen by measurement on the machine that runs
it (``alexnet_tf.speed``), separately for one image and for batches: on the AMD EPYC (AVX2)
this project is developed on, XLA saved 3-4 ms per image and batches were even; on an Intel
Xeon with AVX-512/AMX the plain graph (oneDNN) was 1.4-1.8x faster for both. Until the
measurement exists, XLA is used. The signature keeps a free batch dimension: a fixed batch-1
signature measured no faster, and XLA compiles once per batch size (0.6-1 s).

Threads: TF's defaults (intra-op = inter-op = cores) were best where measured; 1 intra-op
thread was ~30% slower, inter-op 1 made no difference. So nothing is configured here.

fp32 is the default and exact (the same top-5 on either path). ``precision="bf16"`` runs a
``mixed_bfloat16`` copy of the model (float32 weights, bfloat16 arithmetic, float32 softmax
and LRN): faster only on CPUs with bf16 units, and its probabilities differ slightly
(benchmarks/inference.py reports its top-5 agreement with fp32). It uses the path measured
fastest for bf16 training, as the fp32 inference measurement says nothing about bf16 kernels.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from . import speed
from .model import INPUT_SHAPE

PRECISIONS = ("fp32", "bf16")


def _bf16_copy(model: keras.Model) -> keras.Model:
    """The same AlexNet built under ``mixed_bfloat16``, with ``model``'s weights."""
    from .model import build_alexnet

    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        copy = build_alexnet(int(model.output_shape[-1]), name=f"{model.name}_bf16")
    finally:
        keras.mixed_precision.set_global_policy(previous)
    copy.set_weights(model.get_weights())
    return copy


class CompiledForward:
    """A model's forward pass (inference mode), compiled once, returning named layer outputs.

    Args:
        model: a model built by ``build_alexnet`` (or loaded from a ``.keras`` file).
        output_layers: names of the layers whose outputs are returned, e.g. ``("prob",)`` or
            every named layer for feature maps. All come from one forward pass.
        jit_compile: ``None`` (default): the path measured fastest on this machine for the
            call's batch size (``alexnet_tf.speed``; ``ALEXNET_STUDIO_EXECUTION`` forces one).
            ``True``/``False`` force XLA or the plain graph (the benchmarks compare them).
        precision: ``"fp32"`` (exact, default) or ``"bf16"`` (see the module docstring).
    """

    def __init__(
        self, model: keras.Model, output_layers=("prob",), *, jit_compile=None, precision="fp32"
    ):
        self.output_layers = tuple(output_layers)
        if not self.output_layers:
            raise ValueError(
                "output_layers must name at least one layer. "
                f"Received: output_layers={output_layers}"
            )
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}. Received: {precision!r}")
        self.precision = precision
        if precision == "bf16":
            model = _bf16_copy(model)
        outputs = [model.get_layer(name).output for name in self.output_layers]
        self._model = keras.Model(model.input, outputs, name=f"{model.name}_outputs")
        if jit_compile is not None:
            path = "xla" if jit_compile else "graph"
            self.paths = {"single": path, "batch": path}
        elif precision == "bf16":
            path = speed.train_path("bf16")
            self.paths = {"single": path, "batch": path}
        else:
            entry = None if speed.forced_path() else speed.read_measurement()
            self.paths = {
                "single": speed.inference_path(1, entry),
                "batch": speed.inference_path(2, entry),
            }
        self._calls = {}  # path -> tf.function; both paths share one when they agree

    def _call_for(self, batch_size: int):
        path = self.paths["single" if batch_size == 1 else "batch"]
        if path not in self._calls:
            self._calls[path] = tf.function(
                lambda batch: self._model(batch, training=False),
                input_signature=[tf.TensorSpec((None, *INPUT_SHAPE), tf.float32)],
                jit_compile=path == "xla",
            )
        return self._calls[path]

    def __call__(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        """Run a float32 ``(n, 227, 227, 3)`` preprocessed batch; return ``{layer: array}``."""
        batch = tf.convert_to_tensor(batch, tf.float32)
        outputs = self._call_for(int(batch.shape[0]))(batch)
        if not isinstance(outputs, (list, tuple)):
            outputs = [outputs]
        return {
            name: out.numpy().astype(np.float32, copy=False)  # bf16 activations as float32
            for name, out in zip(self.output_layers, outputs, strict=True)
        }
