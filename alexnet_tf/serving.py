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

A deployed model faces any bytes a client sends, so the photo endpoints are bounded: the
width and height are read from the file's header (PNG IHDR, JPEG SOF, BMP info header) and an
image above ``images.MAX_PIXELS`` (the limit of ``classify``), an empty one, or a format other
than JPEG, PNG and BMP is refused before anything is decoded (a 438 KB PNG can declare
20000x20000 pixels: 1.6 GB decoded, far more in float). The images of a request are decoded
one at a time, so one request holds at most one full-size decoded image.
"""

from __future__ import annotations

import tensorflow as tf

from .images import MAX_PIXELS
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


_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_HEADER_BYTES = 32  # enough for the PNG IHDR and the BMP info header sizes


def _header_bytes(data):
    """The first ``_HEADER_BYTES`` bytes of ``data`` as int64, zero-padded when shorter."""
    padded = tf.strings.join([tf.strings.substr(data, 0, _HEADER_BYTES), b"\0" * _HEADER_BYTES])
    head = tf.io.decode_raw(tf.strings.substr(padded, 0, _HEADER_BYTES), tf.uint8)
    return tf.cast(tf.reshape(head, [_HEADER_BYTES]), tf.int64)


def _number(head, start: int, size: int, *, big_endian: bool):
    order = range(size) if big_endian else reversed(range(size))
    value = tf.constant(0, tf.int64)
    for position in order:
        value = value * 256 + head[start + position]
    return value


def image_header_size(data):
    """``(height, width)`` int64 as the header of encoded bytes declares them, undecoded.

    JPEG: its SOF marker (``tf.image.extract_jpeg_shape``, which stops at the header); PNG:
    the IHDR chunk, which the format requires first; BMP: the info header (a negative height
    means top-down rows). ``(-1, -1)`` for anything else, including empty bytes.
    """
    head = _header_bytes(data)

    def jpeg():
        shape = tf.cast(tf.image.extract_jpeg_shape(data), tf.int64)
        return shape[0], shape[1]

    def png():
        return (
            _number(head, 20, 4, big_endian=True),
            _number(head, 16, 4, big_endian=True),
        )

    def bmp():
        width = _number(head, 18, 4, big_endian=False)
        height = _number(head, 22, 4, big_endian=False)
        signed = [tf.where(v >= 2**31, v - 2**32, v) for v in (height, width)]
        return tf.abs(signed[0]), tf.abs(signed[1])

    def unknown():
        return tf.constant(-1, tf.int64), tf.constant(-1, tf.int64)

    is_png = tf.strings.substr(data, 0, 8) == _PNG_SIGNATURE
    is_bmp = tf.strings.substr(data, 0, 2) == b"BM"
    return tf.cond(
        tf.io.is_jpeg(data),
        jpeg,
        lambda: tf.cond(is_png, png, lambda: tf.cond(is_bmp, bmp, unknown)),
    )


def _size_checks(height, width, what):
    """Assertions that refuse an empty image or one above ``MAX_PIXELS`` (``what`` names it)."""
    height, width = tf.cast(height, tf.int64), tf.cast(width, tf.int64)
    size = tf.strings.format("{}x{}", (width, height))
    limit = MAX_PIXELS // 1_000_000
    return [
        tf.debugging.Assert(
            (height > 0) & (width > 0),
            [tf.strings.join([what, ": the image has no pixels (", size, ")"])],
        ),
        tf.debugging.Assert(
            height * width <= MAX_PIXELS,
            [
                tf.strings.join(
                    [what, ": image is too large (", size, f" pixels; the limit is {limit} "
                     "megapixels); resize it before sending it"]
                )
            ],
        ),
    ]  # fmt: skip


def checked_bytes(data, what="the image"):
    """``data``, once its header shows a JPEG, PNG or BMP of at most ``MAX_PIXELS`` pixels.

    The returned tensor depends on the checks, so a decoder fed from it never starts on a
    refused image (``tf.errors.InvalidArgumentError`` naming ``what`` and the reason).
    """
    height, width = image_header_size(data)
    known = tf.debugging.Assert(
        height >= 0,
        [
            tf.strings.join(
                [what, ": not a JPEG, PNG or BMP image (decode other formats yourself and "
                 "send the pixels to serve_rgb)"]
            )
        ],
    )  # fmt: skip
    with tf.control_dependencies([known]):
        checks = _size_checks(height, width, what)
    with tf.control_dependencies(checks):
        return tf.identity(data)


def checked_rgb(images):
    """``(N, H, W, 3)`` ``images``, once ``H`` and ``W`` are at least 1 and ``H*W`` at most
    ``MAX_PIXELS`` (``tf.errors.InvalidArgumentError`` otherwise)."""
    shape = tf.shape(images, out_type=tf.int64)
    with tf.control_dependencies(_size_checks(shape[1], shape[2], "serve_rgb")):
        return tf.identity(images)


def decode_image(data):
    """Encoded JPEG/PNG/BMP bytes -> ``(H, W, 3)`` uint8 RGB, as ``load_image``.

    Refused before decoding (``checked_bytes``): other formats, empty images, images above
    ``MAX_PIXELS``.
    """
    return _decode_checked(checked_bytes(data))


def _decode_checked(data):
    """``decode_image`` of bytes ``checked_bytes`` has passed."""

    def jpeg():
        return tf.io.decode_jpeg(data, channels=3, dct_method="INTEGER_ACCURATE")

    def png():
        rgba = tf.cast(tf.io.decode_png(data, channels=4), tf.float32)
        alpha = rgba[..., 3:] / 255.0
        return tf.cast(_round_uint8(rgba[..., :3] * alpha + 255.0 * (1.0 - alpha)), tf.uint8)

    def bmp():
        return tf.io.decode_bmp(data, channels=3)

    is_png = tf.strings.substr(data, 0, 8) == _PNG_SIGNATURE
    return tf.cond(tf.io.is_jpeg(data), jpeg, lambda: tf.cond(is_png, png, bmp))


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

    def decode_one(item):
        data, index = item
        what = tf.strings.format("images[{}]", index)
        return resize_like_pillow(_decode_checked(checked_bytes(data, what))[tf.newaxis])[0]

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, "images")])
    def serve_image_bytes(images):
        # One image at a time (map_fn runs 10 in parallel in a graph by default): a request
        # then holds at most one decoded full-size image, whatever its length.
        resized = tf.map_fn(
            decode_one,
            (images, tf.range(tf.size(images))),
            fn_output_signature=tf.TensorSpec([RESIZE, RESIZE, 3], tf.float32),
            parallel_iterations=1,
        )
        return outputs(resized)

    @tf.function(input_signature=[tf.TensorSpec([None, None, None, 3], tf.uint8, "images")])
    def serve_rgb(images):
        return outputs(resize_like_pillow(checked_rgb(images)))

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
