"""The project's preprocessing as TensorFlow ops, for exports that take a plain photo.

An exported model must give what ``classify`` gives without this project installed, so the
steps of ``load_image`` + ``preprocess_image`` are rebuilt here from TensorFlow ops, measured
against Pillow (tests/core/test_serving.py):

- JPEG: libjpeg's accurate integer DCT, the one Pillow uses: identical pixels.
- PNG: alpha composited over white, as ``load_image`` does (rounding may differ by 1 level).
- Resize to 256x256: Pillow's BILINEAR is a triangle filter widened when shrinking
  (antialiased), run as two one-axis passes in fixed-point integers, rounded to uint8 in
  between. ``tf.image.resize(antialias=True)`` is the same filter in float32 and leaves
  0.1-0.3% of the values 1 level off; so the passes are rebuilt here in the same integer
  arithmetic and order, which reproduces Pillow's pixels exactly.
- Crop, channel order and mean: ``preprocess.center_crop`` and ``preprocess.normalize``
  themselves (they accept tensors).

Not reproduced in the graph: EXIF orientation (TF decoders ignore it) and the rescaling of
16-bit images; a deployer rotates phone photos upright before sending their bytes.
"""

from __future__ import annotations

import tensorflow as tf

from .preprocess import RESIZE, center_crop, normalize

# Pillow resamples 8-bit images in fixed point: weights scaled by 2**22 and rounded, sums in
# 32-bit integers, +2**21 to round half up, shifted back. The same integer arithmetic in TF
# (int32 never overflows: 255 * 2**22 < 2**31) gives Pillow's pixels exactly.
_PRECISION_BITS = 22


def _round_uint8(values):
    # Pillow rounds half up and clips to 0..255; tf.round would round half to even.
    return tf.clip_by_value(tf.floor(values + 0.5), 0.0, 255.0)


def _bilinear_weights(in_size, out_size: int = RESIZE):
    """Pillow's BILINEAR weights, ``(out_size, in_size)`` int32 in units of 2**-22.

    A triangle filter, widened by the shrink factor when shrinking (antialiasing), cut at
    the image border and normalised per output pixel (Pillow's ``precompute_coeffs``).
    """
    size = tf.cast(in_size, tf.float64)
    scale = size / out_size
    width = tf.maximum(scale, 1.0)  # the filter's support: 1 input pixel, or more when shrinking
    center = (tf.range(out_size, dtype=tf.float64) + 0.5) * scale
    first = tf.maximum(tf.floor(center - width + 0.5), 0.0)[:, tf.newaxis]
    end = tf.minimum(tf.floor(center + width + 0.5), size)[:, tf.newaxis]
    x = tf.range(size, dtype=tf.float64)[tf.newaxis]
    weights = tf.maximum(1.0 - tf.abs((x - center[:, tf.newaxis] + 0.5) / width), 0.0)
    weights = tf.where((x >= first) & (x < end), weights, 0.0)
    weights /= tf.reduce_sum(weights, axis=1, keepdims=True)
    return tf.cast(tf.floor(0.5 + weights * (1 << _PRECISION_BITS)), tf.int32)


def _resample(values, weights, equation):
    total = tf.einsum(equation, values, weights) + (1 << (_PRECISION_BITS - 1))
    return tf.clip_by_value(tf.bitwise.right_shift(total, _PRECISION_BITS), 0, 255)


def resize_like_pillow(images):
    """``(N, H, W, 3)`` uint8 RGB -> ``(N, 256, 256, 3)`` float32 holding exactly the pixels
    of ``preprocess.resize_for_network`` (Pillow ``resize((256, 256), BILINEAR)``)."""
    x = tf.cast(images, tf.int32)
    height, width = tf.shape(x)[1], tf.shape(x)[2]

    def horizontal(values):
        return _resample(values, _bilinear_weights(width), "nhwc,ow->nhoc")

    def vertical(values):
        return _resample(values, _bilinear_weights(height), "nhwc,oh->nowc")

    # Pillow 13 resamples the longer side first (measured: the other order leaves ~13% of the
    # values 1 level off). Dense weights cost H*W*256*3 integer multiply-adds per pass: about
    # 0.2 s for a 640x427 photo, 2 s for 12 megapixels on 2 cores.
    resized = tf.cond(
        height > width, lambda: horizontal(vertical(x)), lambda: vertical(horizontal(x))
    )
    return tf.cast(resized, tf.float32)


def decode_image(data):
    """Encoded JPEG/PNG (also GIF, BMP) bytes -> ``(H, W, 3)`` uint8 RGB, as ``load_image``."""

    def jpeg():
        return tf.io.decode_jpeg(data, channels=3, dct_method="INTEGER_ACCURATE")

    def png():
        rgba = tf.cast(tf.io.decode_png(data, channels=4), tf.float32)
        alpha = rgba[..., 3:] / 255.0
        return tf.cast(_round_uint8(rgba[..., :3] * alpha + 255.0 * (1.0 - alpha)), tf.uint8)

    def other():
        return tf.io.decode_image(data, channels=3, expand_animations=False)

    is_png = tf.strings.substr(data, 0, 8) == b"\x89PNG\r\n\x1a\n"
    return tf.cond(tf.io.is_jpeg(data), jpeg, lambda: tf.cond(is_png, png, other))


def network_input(resized):
    """``(N, 256, 256, 3)`` RGB 0..255 -> the ``(N, 227, 227, 3)`` BGR mean-subtracted input."""
    return normalize(center_crop(resized))


def serving_functions(model, labels) -> dict:
    """The ``tf.function`` endpoints of an export, by name.

    - ``serve``: the network input as before (``(N, 227, 227, 3)`` float32, preprocessed).
    - ``serve_image_bytes``: ``images``, a ``(N,)`` string tensor of encoded files.
    - ``serve_rgb``: ``images``, ``(N, H, W, 3)`` uint8 RGB of any one size.

    The two photo endpoints return ``probabilities`` ``(N, classes)``, ``labels``
    ``(N, classes)`` (the class names in output order, repeated per image so that every
    output has a batch dimension, as TensorFlow Serving's row format wants) and ``top_label``.
    """
    names = tf.constant(list(labels))

    def outputs(resized):
        probabilities = model(network_input(resized), training=False)
        count = tf.shape(probabilities)[0]
        return {
            "probabilities": probabilities,
            "labels": tf.tile(names[tf.newaxis], [count, 1]),
            "top_label": tf.gather(names, tf.argmax(probabilities, axis=1)),
        }

    @tf.function(input_signature=[tf.TensorSpec([None, 227, 227, 3], tf.float32, "inputs")])
    def serve(inputs):
        return model(inputs, training=False)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, "images")])
    def serve_image_bytes(images):
        resized = tf.map_fn(
            lambda data: resize_like_pillow(decode_image(data)[tf.newaxis])[0],
            images,
            fn_output_signature=tf.TensorSpec([RESIZE, RESIZE, 3], tf.float32),
        )
        return outputs(resized)

    @tf.function(input_signature=[tf.TensorSpec([None, None, None, 3], tf.uint8, "images")])
    def serve_rgb(images):
        return outputs(resize_like_pillow(images))

    return {"serve": serve, "serve_image_bytes": serve_image_bytes, "serve_rgb": serve_rgb}


def tflite_function(model):
    """The TFLite entry: ``(N, 256, 256, 3)`` uint8 RGB (already resized) -> probabilities.

    TFLite's builtin ops have no antialiased resize, so the file takes the 256x256 warp that
    ``Image.resize((256, 256), Image.BILINEAR)`` makes, and does the crop, channel order and
    mean itself.
    """

    @tf.function(input_signature=[tf.TensorSpec([None, RESIZE, RESIZE, 3], tf.uint8, "image")])
    def classify(image):
        return {"probabilities": model(network_input(tf.cast(image, tf.float32)), training=False)}

    return classify
