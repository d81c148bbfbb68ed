"""Preferred images: an input optimised by gradient ascent to excite one unit.

The recipe is the one of Yosinski et al. 2015 ("Understanding Neural Networks Through Deep
Visualization"), in the network's own pixel space: start from the mean colour with a little
seeded noise, then repeat

1. **jitter**: shift the image by a few random pixels (wrapping around) before the forward
   pass, so the unit cannot rely on one exact pixel arrangement;
2. **ascent**: step along the gradient of the unit's mean over its map (conv) or its value
   (fc), normalised per image so the step is in pixels whatever the layer's scale;
3. **decay**: pull every pixel a little towards the mean colour (L2 decay), which removes
   what the unit does not need;
4. **blur** every few steps (a small Gaussian): high frequencies that only fool the unit
   fade, larger structure that excites it stays;
5. **weak-pixel clipping** with each blur: pixels whose distance from the mean colour is in
   the lowest percentile go back to the mean, leaving the parts that matter;
6. clip to the valid range 0..255.

A batch of images is optimised at once, each for its own unit (the nine units of a row in
one run). The result is rounded to uint8: the PNG is exactly the 227x227 input (RGB, before
mean subtraction), and the reported activation is measured on that rounded image, so feeding
the PNG back as the crop (``preprocess.normalize``) gives the reported value.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from ..model import INPUT_SHAPE
from ..preprocess import MEAN_BGR

MEAN_RGB = MEAN_BGR[::-1].copy()
CACHE_VERSION = 1  # part of the cache key: a change of recipe recomputes


class PreferredImageCancelled(Exception):
    """The optimisation was cancelled; nothing was produced."""


@dataclass(frozen=True)
class PreferredSettings:
    """The knobs of the recipe; the defaults were chosen on AlexNet (see docs/explain.md).

    Attributes:
        steps: ascent steps.
        seed: seeds the starting noise and the jitter: the same seed gives the same image.
        learning_rate: pixels per step at the start (the gradient is normalised to a mean
            absolute value of 1); it falls linearly to a quarter at the end.
        decay: L2 decay per step, the fraction of the distance to the mean colour removed.
        jitter: largest shift in pixels, each way.
        blur_every: steps between blurs (0: never); ``blur_sigma`` the Gaussian's width.
        clip_percentile: weak pixels clipped to the mean colour with each blur (percent).
    """

    steps: int = 128
    seed: int = 0
    learning_rate: float = 6.0
    decay: float = 0.004
    jitter: int = 6
    blur_every: int = 4
    blur_sigma: float = 0.8
    clip_percentile: float = 10.0

    def check(self) -> PreferredSettings:
        """Return self, or raise ValueError naming the first impossible setting."""
        if not isinstance(self.steps, int) or not 1 <= self.steps <= 10_000:
            raise ValueError(f"steps must be an integer in [1, 10000]. Received: {self.steps!r}")
        if not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"seed must be a non-negative integer. Received: {self.seed!r}")
        if not 0 <= self.decay < 1 or not 0 <= self.clip_percentile < 100:
            raise ValueError(
                f"decay must be in [0, 1) and clip_percentile in [0, 100). "
                f"Received: decay={self.decay}, clip_percentile={self.clip_percentile}"
            )
        return self


@dataclass
class PreferredImage:
    """One unit's preferred image.

    Attributes:
        layer, unit: the unit.
        rgb: uint8 ``(227, 227, 3)``, the network's input before mean subtraction.
        activation: the unit's response to ``rgb`` fed back as the crop: its maximum over
            positions for a conv unit (as the atlas measures photos), its value for an fc unit.
        steps, seed: how it was made.
        seconds: wall time of the run it came from (shared by the units of one batch).
    """

    layer: str
    unit: int
    rgb: np.ndarray
    activation: float
    steps: int
    seed: int
    seconds: float

    def to_dict(self) -> dict:
        """JSON-ready form, without the pixels."""
        return {
            "layer": self.layer,
            "unit": self.unit,
            "activation": self.activation,
            "steps": self.steps,
            "seed": self.seed,
            "seconds": self.seconds,
        }


def _gaussian_kernel(sigma: float) -> np.ndarray:
    radius = max(1, int(np.ceil(2 * sigma)))
    x = np.arange(-radius, radius + 1, dtype=np.float32)
    kernel = np.exp(-0.5 * (x / sigma) ** 2)
    return kernel / kernel.sum()


class PreferredImageMaker:
    """Gradient ascent on the input for units of one layer, compiled once per batch size.

    Args:
        model: an AlexNet (ImageNet or fine-tuned).
        layer: a conv or fc layer (``conv1`` ... ``conv5``, ``fc6`` ... ``fc8``; fc8 is the
            score before softmax, as in the papers).
    """

    def __init__(self, model, layer: str):
        import keras
        import tensorflow as tf

        names = [each.name for each in model.layers]
        if layer not in names:
            raise ValueError(f"The model has no layer named {layer!r}. Received: layer={layer!r}")
        self.layer = layer
        output = model.get_layer(layer).output
        self.is_conv = len(output.shape) == 4
        self.units = int(output.shape[-1])
        self._model = keras.Model(model.input, output, name=f"{model.name}_{layer}")
        self._mean_rgb = tf.constant(MEAN_RGB)
        self._step = tf.function(self._ascend, reduce_retracing=True)
        self._smooth = tf.function(self._blur_and_clip, reduce_retracing=True)
        self._measure = tf.function(self._activations, reduce_retracing=True)

    def _unit_values(self, rgb, units):
        """Each image's own unit: conv ``(n, h, w)``, fc ``(n,)``."""
        import tensorflow as tf

        from ..preprocess import normalize

        output = self._model(normalize(rgb), training=False)
        if self.is_conv:
            return tf.gather(tf.transpose(output, [0, 3, 1, 2]), units, axis=1, batch_dims=1)
        return tf.gather(output, units, axis=1, batch_dims=1)

    def _gradient(self, rgb, units, shift):
        """The objective of each image and its gradient with respect to the image."""
        import tensorflow as tf

        with tf.GradientTape() as tape:
            tape.watch(rgb)
            values = self._unit_values(tf.roll(rgb, shift, axis=[1, 2]), units)
            if self.is_conv:
                # The mean over the map fills the picture with the pattern; the largest value
                # (the strongest position) drives the response the atlas compares with.
                objective = tf.reduce_mean(values, axis=[1, 2]) + tf.reduce_max(values, axis=[1, 2])
            else:
                objective = values
            total = tf.reduce_sum(objective)
        return tape.gradient(total, rgb), objective

    def _ascend(self, rgb, units, shift, rate, decay):
        import tensorflow as tf

        if self.is_conv:
            gradient, objective = self._gradient(rgb, units, shift)
        else:
            # Through fc6-fc8, the input gradient of a batch (a matrix product with the
            # transposed 151 MB fc6 kernel) took 10x the time of one image's (a matrix-vector
            # product) on TF's CPU kernels: one image at a time is faster there.
            gradient, objective = tf.map_fn(
                lambda pair: self._gradient(pair[0][None], pair[1][None], shift),
                (rgb, units),
                fn_output_signature=(tf.TensorSpec((1, *INPUT_SHAPE)), tf.TensorSpec((1,))),
            )
            gradient, objective = gradient[:, 0], objective[:, 0]
        scale = tf.reduce_mean(tf.abs(gradient), axis=[1, 2, 3], keepdims=True) + 1e-8
        rgb = rgb + rate * gradient / scale
        rgb = self._mean_rgb + (1.0 - decay) * (rgb - self._mean_rgb)
        return tf.clip_by_value(rgb, 0.0, 255.0), objective

    def _blur_and_clip(self, rgb, kernel, percentile):
        import tensorflow as tf

        size = tf.shape(kernel)[0]
        pad = size // 2
        padded = tf.pad(rgb, [[0, 0], [pad, pad], [pad, pad], [0, 0]], mode="REFLECT")
        rows = tf.tile(tf.reshape(kernel, [-1, 1, 1, 1]), [1, 1, 3, 1])
        cols = tf.tile(tf.reshape(kernel, [1, -1, 1, 1]), [1, 1, 3, 1])
        blurred = tf.nn.depthwise_conv2d(padded, rows, [1, 1, 1, 1], "VALID")
        blurred = tf.nn.depthwise_conv2d(blurred, cols, [1, 1, 1, 1], "VALID")
        offset = blurred - self._mean_rgb
        norms = tf.norm(offset, axis=-1)  # (n, h, w)
        flat = tf.sort(tf.reshape(norms, [tf.shape(norms)[0], -1]), axis=1)
        index = tf.cast(tf.cast(tf.shape(flat)[1] - 1, tf.float32) * percentile / 100.0, tf.int32)
        threshold = flat[:, index][:, None, None]
        keep = tf.cast(norms >= threshold, tf.float32)[..., None]
        return self._mean_rgb + offset * keep

    def _activations(self, rgb, units):
        import tensorflow as tf

        values = self._unit_values(rgb, units)
        return tf.reduce_max(values, axis=[1, 2]) if self.is_conv else values

    def measure(self, rgb: np.ndarray, units) -> np.ndarray:
        """Each image's unit response (max over positions for conv) to uint8/float RGB crops."""
        rgb = np.asarray(rgb, np.float32)
        return self._measure(rgb, np.asarray(units, np.int32)).numpy().astype(np.float64)

    def make(
        self, units, settings: PreferredSettings | None = None, *, progress=None, should_stop=None
    ) -> list[PreferredImage]:
        """Optimise one image per unit of ``units``, all in one batch.

        Args:
            units: unit numbers of the layer (each may appear once or more).
            settings: the recipe (``PreferredSettings()`` by default).
            progress: called with ``(step, steps)`` after each step.
            should_stop: called before each step; True raises ``PreferredImageCancelled``.
        """
        settings = (settings or PreferredSettings()).check()
        units = [int(unit) for unit in units]
        if not units:
            raise ValueError("units must name at least one unit. Received: units=[]")
        bad = [unit for unit in units if not 0 <= unit < self.units]
        if bad:
            raise ValueError(
                f"{self.layer} has {self.units} units: each must be in [0, {self.units}). "
                f"Received: units={bad}"
            )
        started = time.perf_counter()
        # Every image starts from the same noise and sees the same shifts, so a unit's picture
        # does not depend on the other units of its batch (up to float rounding).
        noise = np.random.default_rng([settings.seed, 0]).normal(0.0, 8.0, INPUT_SHAPE)
        start = np.clip(MEAN_RGB + noise, 0, 255).astype(np.float32)
        rgb = np.repeat(start[None], len(units), axis=0)
        jitter = np.random.default_rng([settings.seed, 1])
        shifts = jitter.integers(-settings.jitter, settings.jitter + 1, (settings.steps, 2))
        kernel = _gaussian_kernel(settings.blur_sigma)
        unit_array = np.asarray(units, np.int32)
        for step in range(settings.steps):
            if should_stop is not None and should_stop():
                raise PreferredImageCancelled()
            fraction = step / max(settings.steps - 1, 1)
            rate = np.float32(settings.learning_rate * (1.0 - 0.75 * fraction))
            rgb, _ = self._step(
                rgb, unit_array, shifts[step].astype(np.int32), rate, np.float32(settings.decay)
            )
            last = step == settings.steps - 1
            blur = settings.blur_every and (step + 1) % settings.blur_every == 0
            if blur and not last:
                rgb = self._smooth(rgb, kernel, np.float32(settings.clip_percentile))
            if progress is not None:
                progress(step + 1, settings.steps)
        pixels = np.rint(rgb.numpy()).astype(np.uint8)
        activations = self.measure(pixels, unit_array)
        seconds = time.perf_counter() - started
        return [
            PreferredImage(
                self.layer,
                unit,
                pixels[k],
                float(activations[k]),
                settings.steps,
                settings.seed,
                seconds,
            )  # fmt: skip
            for k, unit in enumerate(units)
        ]


# conv1 and conv2 see 11 and 51 pixels: their units want fine edges and colours, which blur
# and weak-pixel clipping erase (measured: 3-15x a photo's best without them, 0.5-1x with), so
# they get no blur and little jitter; deeper units see most of the image and need both to be
# readable. (DeepVis also tuned its regularisers per layer.)
_LOW_LAYERS = {
    "conv1": {"jitter": 1, "blur_every": 0, "clip_percentile": 0.0},
    "conv2": {"jitter": 2, "blur_every": 0, "clip_percentile": 0.0},
}


def settings_for(layer: str, steps: int | None = None, seed: int | None = None):
    """The default recipe for ``layer``, with ``steps`` / ``seed`` replaced when given."""
    settings = replace(PreferredSettings(), **_LOW_LAYERS.get(layer, {}))
    changes = {k: v for k, v in (("steps", steps), ("seed", seed)) if v is not None}
    return replace(settings, **changes)


def model_digest(model) -> str:
    """A short hash of a model's weights: the identity a cache is keyed by (a fine-tuned job
    and the ImageNet model, or two imports of different weights, never share an entry)."""
    digest = hashlib.blake2b(digest_size=12)
    for weight in model.weights:
        value = np.ascontiguousarray(weight.numpy())
        digest.update(str(value.shape).encode())
        digest.update(value.tobytes())
    return digest.hexdigest()


CACHE_SPEC = {
    "version": int,
    "layer": str,
    "unit": int,
    "activation": float,
    "steps": int,
    "seed": int,
    "seconds": float,
}
MAX_CACHE_JSON = 4096


def cache_paths(folder: Path, layer: str, unit: int, settings: PreferredSettings) -> tuple:
    """The PNG and JSON of one cached preferred image under ``folder`` (the model's own)."""
    recipe = hashlib.blake2b(repr((CACHE_VERSION, settings)).encode(), digest_size=6).hexdigest()
    stem = f"{layer}-{unit}-{recipe}"
    return folder / f"{stem}.png", folder / f"{stem}.json"


def read_cached(folder: Path, layer: str, unit: int, settings: PreferredSettings):
    """The cached ``PreferredImage``, or None when absent or damaged (then it is recomputed)."""
    from PIL import Image

    from ..errors import DamagedFileError
    from ..fileio import read_json

    png, meta = cache_paths(folder, layer, unit, settings)
    try:
        info = read_json(meta, max_bytes=MAX_CACHE_JSON, spec=CACHE_SPEC)
        if info["version"] != CACHE_VERSION or (info["layer"], info["unit"]) != (layer, unit):
            return None
        with Image.open(png) as image:
            image.load()
            if image.mode != "RGB" or image.size != INPUT_SHAPE[:2]:
                return None
            pixels = np.asarray(image, np.uint8)
    except (FileNotFoundError, DamagedFileError, OSError, ValueError):
        return None
    return PreferredImage(
        layer, unit, pixels, info["activation"], info["steps"], info["seed"], info["seconds"]
    )


def write_cached(folder: Path, image: PreferredImage, settings: PreferredSettings) -> None:
    """Store ``image`` under ``folder`` (PNG first, then the JSON that makes it count)."""
    from ..fileio import write_json_atomic

    png, meta = cache_paths(folder, image.layer, image.unit, settings)
    save_rgb_png(image.rgb, png)
    write_json_atomic(meta, {"version": CACHE_VERSION, **image.to_dict()})


def save_rgb_png(rgb: np.ndarray, path: str | Path) -> None:
    """Write uint8 RGB pixels as a PNG, atomically (lossless: the round trip is exact)."""
    import io

    from PIL import Image

    from ..fileio import write_bytes_atomic

    buffer = io.BytesIO()
    Image.fromarray(np.asarray(rgb, np.uint8), "RGB").save(buffer, format="PNG")
    write_bytes_atomic(path, buffer.getvalue())


def preferred_cache_folder(model) -> Path:
    """``DATA/explain/preferred/<model digest>``: where the app caches this model's images."""
    from ..paths import data_home

    return data_home() / "explain" / "preferred" / model_digest(model)
