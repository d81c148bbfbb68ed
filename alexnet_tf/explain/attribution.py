"""Why this photo: which pixels made a unit fire, and which regions a class depends on.

Two methods, both on the network's 227x227 input:

- ``UnitAttribution``: the guided-backpropagation image (Springenberg et al. 2015) or the
  deconvnet image (Zeiler & Fergus 2014) of one unit at its strongest position on this
  photo. Both are the gradient of that unit with respect to the input with the ReLUs' backward
  pass changed: guided backpropagation passes a gradient only where the forward input and the
  gradient are both positive; the deconvnet passes the positive part of the gradient whatever
  the forward input was. Max pooling routes back through its switches (the position that won),
  as in both papers. Plain gradients look like noise on AlexNet; these show edges and parts.
- ``occlusion_map``: a grey square (the mean colour, zero after preprocessing) slid over the
  crop, and the drop in one class's probability at each place (Zeiler & Fergus, fig. 7):
  the regions the class depends on, measured, not derived from gradients. Batched, with
  progress, and cancellable between batches.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..preprocess import one_image_batch

ATTRIBUTION_METHODS = ("guided", "deconvnet")
OCCLUSION_PATCH = 48  # a fifth of the crop: an object part, as in Zeiler & Fergus' figure
OCCLUSION_STRIDE = 16  # 13x13 places: 169 forward passes, a few seconds on 2 cores
OCCLUSION_BATCH = 16


class OcclusionCancelled(Exception):
    """The occlusion run was cancelled; nothing was computed."""


@dataclass
class UnitAttributionResult:
    """A unit's attribution on one image.

    Attributes:
        gradient: float32 ``(h, w, 3)`` in RGB order, the modified gradient of the unit with
            respect to the input (zero outside the unit's receptive field).
        position: ``(row, col)`` of the unit's strongest position in its layer's map, or
            ``None`` for a fully connected unit.
        value: the unit's activation there.
    """

    gradient: np.ndarray
    position: tuple[int, int] | None
    value: float


def _relu_with_backward(method: str):
    import tensorflow as tf

    @tf.custom_gradient
    def relu(z):
        def backward(dy):
            if method == "deconvnet":
                return tf.nn.relu(dy)
            if method == "guided":
                return dy * tf.cast(z > 0, dy.dtype) * tf.cast(dy > 0, dy.dtype)
            return dy * tf.cast(z > 0, dy.dtype)

        return tf.nn.relu(z), backward

    return relu


def _is_relu(layer) -> bool:
    activation = getattr(layer, "activation", None)
    return getattr(activation, "__name__", "") == "relu"


class UnitAttribution:
    """Guided-backpropagation or deconvnet images of the units of one layer, compiled once.

    Works on a chain of layers (AlexNet, or any model whose layers follow one another):
    convolutions and dense layers with a ReLU get the modified backward pass; every other
    layer (LRN, pooling, flatten, dropout) is called as it is.

    Args:
        model: the model (its input is a preprocessed image).
        layer: the layer whose unit is explained, e.g. ``"conv5"``.
        method: ``"guided"`` (default), ``"deconvnet"``, or ``"gradient"`` (plain, to compare).

    Example:
        >>> result = UnitAttribution(model, "conv5")(preprocess_image(image), unit=143)
        >>> save_png(attribution_image(result.gradient), "a.png")
    """

    def __init__(self, model, layer: str, method: str = "guided"):
        import keras
        import tensorflow as tf

        if method not in (*ATTRIBUTION_METHODS, "gradient"):
            raise ValueError(
                f"method must be one of {ATTRIBUTION_METHODS}. Received: method={method!r}"
            )
        chain = [each for each in model.layers if not isinstance(each, keras.layers.InputLayer)]
        names = [each.name for each in chain]
        if layer not in names:
            raise ValueError(f"The model has no layer named {layer!r}. Received: layer={layer!r}")
        self._chain = chain[: names.index(layer) + 1]
        self.layer = layer
        self.input_shape = tuple(int(size) for size in model.input_shape[1:])
        output_shape = self._chain[-1].output.shape
        self.is_conv = len(output_shape) == 4
        self.units = int(output_shape[-1])
        self._relu = _relu_with_backward(method)
        self._compute = tf.function(
            self._attribute,
            input_signature=[
                tf.TensorSpec((1, *self.input_shape), tf.float32),
                tf.TensorSpec((), tf.int32),
            ],
        )

    def _forward(self, x):
        import keras
        import tensorflow as tf

        for layer in self._chain:
            if _is_relu(layer) and isinstance(layer, keras.layers.Conv2D):
                z = tf.nn.bias_add(layer.convolution_op(x, layer.kernel), layer.bias)
                x = self._relu(z)
            elif _is_relu(layer) and isinstance(layer, keras.layers.Dense):
                x = self._relu(tf.matmul(x, layer.kernel) + layer.bias)
            else:
                x = layer(x, training=False)
        return x

    def _attribute(self, image, unit):
        import tensorflow as tf

        with tf.GradientTape() as tape:
            tape.watch(image)
            output = self._forward(image)
            if self.is_conv:
                channel = output[0, :, :, unit]
                flat = tf.argmax(tf.reshape(channel, [-1]), output_type=tf.int32)
                width = tf.shape(channel)[1]
                row, col = flat // width, flat % width
                value = channel[row, col]
            else:
                row = col = tf.constant(-1, tf.int32)
                value = output[0, unit]
        gradient = tape.gradient(value, image)[0]
        return gradient, row, col, value

    def __call__(self, preprocessed: np.ndarray, unit: int) -> UnitAttributionResult:
        """Attribute ``unit`` of the layer on one preprocessed image.

        Args:
            preprocessed: float32 ``(227, 227, 3)`` (or with a batch dimension of 1) from
                ``preprocess_image`` / ``normalize``.
            unit: the channel (conv) or unit (fc), ``0 <= unit < units``.
        """
        batch = one_image_batch(preprocessed, self.input_shape)
        if not 0 <= int(unit) < self.units:
            raise ValueError(
                f"{self.layer} has {self.units} units: unit must be in [0, {self.units}). "
                f"Received: unit={unit}"
            )
        gradient, row, col, value = (t.numpy() for t in self._compute(batch, np.int32(unit)))
        position = (int(row), int(col)) if self.is_conv else None
        # The input is BGR (Caffe); the picture a user sees is RGB.
        return UnitAttributionResult(gradient[..., ::-1].copy(), position, float(value))


def attribution_image(gradient: np.ndarray, percentile: float = 99.5) -> np.ndarray:
    """A gradient image as uint8 RGB: grey where it is zero, colours where it is not.

    The scale is the ``percentile`` of the absolute values, so a few extreme pixels do not
    grey out the rest.
    """
    gradient = np.asarray(gradient, np.float32)
    scale = float(np.percentile(np.abs(gradient), percentile)) if gradient.size else 0.0
    if not np.isfinite(scale) or scale <= 0:
        return np.full(gradient.shape, 128, np.uint8)
    return np.clip(128 + 127 * gradient / scale, 0, 255).astype(np.uint8)


@dataclass
class OcclusionResult:
    """The drop in one class's probability with a grey square at each place.

    Attributes:
        class_index: the class.
        probability: its probability on the whole crop.
        tops, lefts: the squares' top rows and left columns in the crop (pixels).
        patch: the square's side in pixels.
        drops: ``(len(tops), len(lefts))``: probability on the whole crop minus probability
            with the square there; positive where covering the region hurts the class.
    """

    class_index: int
    probability: float
    tops: list[int]
    lefts: list[int]
    patch: int
    drops: np.ndarray

    def pixel_map(self, size: int = 227) -> np.ndarray:
        """``(size, size)`` float32: at each pixel the mean drop of the squares covering it."""
        total = np.zeros((size, size), np.float64)
        count = np.zeros((size, size), np.float64)
        for i, top in enumerate(self.tops):
            for j, left in enumerate(self.lefts):
                total[top : top + self.patch, left : left + self.patch] += self.drops[i, j]
                count[top : top + self.patch, left : left + self.patch] += 1
        return (total / np.maximum(count, 1)).astype(np.float32)

    def to_dict(self) -> dict:
        """JSON-ready form (``explain --json``)."""
        return {
            "class_index": self.class_index,
            "probability": self.probability,
            "patch": self.patch,
            "tops": self.tops,
            "lefts": self.lefts,
            "drops": self.drops.tolist(),
        }


def occlusion_positions(size: int, patch: int, stride: int) -> list[int]:
    """Start of each square along one side: every ``stride`` pixels, the last flush with the
    edge, so every pixel is covered at least once."""
    if not 0 < patch <= size or stride < 1:
        raise ValueError(
            f"patch must be in [1, {size}] and stride positive. Received: {patch=}, {stride=}"
        )
    starts = list(range(0, size - patch + 1, stride))
    if starts[-1] != size - patch:
        starts.append(size - patch)
    return starts


def occlusion_map(
    probabilities,
    preprocessed: np.ndarray,
    class_index: int,
    *,
    patch: int = OCCLUSION_PATCH,
    stride: int = OCCLUSION_STRIDE,
    batch_size: int = OCCLUSION_BATCH,
    progress=None,
    should_stop=None,
) -> OcclusionResult:
    """Slide a grey square over a preprocessed crop; measure the class's probability drop.

    Args:
        probabilities: a function from a float32 ``(n, 227, 227, 3)`` preprocessed batch to
            ``(n, classes)`` probabilities (e.g. ``probability_function(model)``).
        preprocessed: the crop, float32 ``(227, 227, 3)`` BGR minus the mean; the grey of
            the square is the mean colour, 0 here.
        class_index: the class whose probability is watched.
        patch, stride: the square's side and step in pixels.
        batch_size: occluded images per forward pass.
        progress: called with ``(done, total)`` after each batch.
        should_stop: called before each batch; True raises ``OcclusionCancelled``.
    """
    image = np.asarray(preprocessed, np.float32)
    height, width = image.shape[:2]
    tops = occlusion_positions(height, patch, stride)
    lefts = occlusion_positions(width, patch, stride)
    places = [(top, left) for top in tops for left in lefts]
    base = np.asarray(probabilities(image[None]))[0]
    if not 0 <= class_index < len(base):
        raise ValueError(
            f"class_index must be in [0, {len(base)}). Received: class_index={class_index}"
        )
    scores = []
    for start in range(0, len(places), batch_size):
        if should_stop is not None and should_stop():
            raise OcclusionCancelled()
        chunk = places[start : start + batch_size]
        batch = np.repeat(image[None], len(chunk), axis=0)
        for k, (top, left) in enumerate(chunk):
            batch[k, top : top + patch, left : left + patch] = 0.0
        scores.extend(np.asarray(probabilities(batch))[:, class_index].tolist())
        if progress is not None:
            progress(min(start + batch_size, len(places)), len(places))
    drops = float(base[class_index]) - np.array(scores, np.float64).reshape(len(tops), len(lefts))
    return OcclusionResult(
        int(class_index), float(base[class_index]), tops, lefts, patch, drops.astype(np.float32)
    )


def probability_function(model):
    """The model's softmax output as a compiled function of a preprocessed batch."""
    from ..forward import CompiledForward

    forward = CompiledForward(model, ("prob",))
    return lambda batch: forward(batch)["prob"]


def heat_over_crop(crop_rgb: np.ndarray, heat: np.ndarray, opacity: float = 0.6) -> np.ndarray:
    """A map (any resolution, largest value brightest) in viridis over the crop, uint8 RGB.

    Negative values (an occlusion that raised the class) count as zero.
    """
    from PIL import Image

    from ..render import colorize

    crop = np.asarray(crop_rgb, np.uint8)
    heat = np.clip(np.nan_to_num(np.asarray(heat, np.float32)), 0, None)
    peak = float(heat.max()) if heat.size else 0.0
    heat = heat / peak if peak > 0 else np.zeros_like(heat)
    size = (crop.shape[1], crop.shape[0])
    heat = np.asarray(Image.fromarray(heat).resize(size, Image.BILINEAR), np.float32)
    alpha = (opacity * np.clip(heat, 0, 1))[..., None]
    blended = crop.astype(np.float32) * (1 - alpha) + colorize(heat).astype(np.float32) * alpha
    return np.clip(blended + 0.5, 0, 255).astype(np.uint8)
