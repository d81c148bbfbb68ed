"""Grad-CAM (Selvaraju et al., 2017): where in the image a class's evidence comes from.

The map is the ReLU of the feature maps of a convolution layer (conv5 by default) weighted by
the spatial mean of the gradient of the class score with respect to them. The class score is
the pre-softmax output (``fc8``) when the model has one, as in the paper; gradients of the
softmax probability saturate for confident predictions.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from .model import INPUT_SHAPE
from .preprocess import one_image_batch


class GradCam:
    """Grad-CAM maps of one model, compiled once and reused for every image and class.

    Args:
        model: a model built by ``build_alexnet`` or loaded from a ``.keras`` file.
        layer: the convolution (or pooling) layer whose feature maps are weighted.
        score_layer: the layer whose output is the class score; ``None`` uses ``"fc8"``
            if the model has it, else the log of the model's output.

    Example:
        >>> cam = GradCam(model)
        >>> heatmap = cam(preprocess_image(image), class_index=281)  # (13, 13) in [0, 1]
    """

    def __init__(self, model: keras.Model, layer: str = "conv5", score_layer: str | None = None):
        names = [each.name for each in model.layers]
        if layer not in names:
            raise ValueError(f"The model has no layer named {layer!r}. Received: layer={layer!r}")
        if score_layer is None and "fc8" in names:
            score_layer = "fc8"
        if score_layer is not None and score_layer not in names:
            raise ValueError(
                f"The model has no layer named {score_layer!r}. "
                f"Received: score_layer={score_layer!r}"
            )
        self.layer = layer
        self.num_classes = int(model.output.shape[-1])
        score_output = model.get_layer(score_layer).output if score_layer else model.output
        self._use_log = score_layer is None
        self._model = keras.Model(model.inputs, [model.get_layer(layer).output, score_output])
        self._compute = tf.function(
            self._heatmap,
            input_signature=[
                tf.TensorSpec((1, *INPUT_SHAPE), tf.float32),
                tf.TensorSpec((), tf.int32),
            ],
        )

    def _heatmap(self, batch, class_index):
        with tf.GradientTape() as tape:
            features, scores = self._model(batch, training=False)
            if self._use_log:
                scores = tf.math.log(scores + 1e-12)
            score = scores[0, class_index]
        gradients = tape.gradient(score, features)[0]
        weights = tf.reduce_mean(gradients, axis=(0, 1))
        cam = tf.nn.relu(tf.reduce_sum(features[0] * weights, axis=-1))
        peak = tf.reduce_max(cam)
        return tf.where(peak > 0, cam / peak, tf.zeros_like(cam))

    def __call__(self, preprocessed: np.ndarray, class_index: int) -> np.ndarray:
        """Return the map of ``class_index`` for one preprocessed image.

        Args:
            preprocessed: float32 ``(227, 227, 3)`` (or ``(1, 227, 227, 3)``) from
                ``preprocess_image``.
            class_index: the class, ``0 <= class_index < num_classes``.

        Returns:
            float32 ``(h, w)`` at the layer's resolution (13x13 for conv5), in ``[0, 1]``,
            1 at the strongest evidence; all zeros when nothing supports the class.
        """
        batch = one_image_batch(preprocessed, INPUT_SHAPE)
        if not 0 <= int(class_index) < self.num_classes:
            raise ValueError(
                f"class_index must be in [0, {self.num_classes}). "
                f"Received: class_index={class_index}"
            )
        return self._compute(tf.constant(batch), tf.constant(int(class_index), tf.int32)).numpy()
