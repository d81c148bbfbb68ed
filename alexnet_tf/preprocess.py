"""Caffe preprocessing, the only transformation the BVLC weights understand.

Warp to 256x256 (aspect not kept), centre crop 227x227 at offset 14, RGB -> BGR, subtract the
per-channel ImageNet mean. The steps are split so training can cache the 256x256 image and
take random crops, while classification takes the centre crop; ``normalize`` is the same
function for NumPy arrays and TensorFlow tensors.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

RESIZE = 256
CROP = 227
CROP_OFFSET = (RESIZE - CROP) // 2  # 14, as in Caffe
MEAN_BGR = np.array([104.007, 116.669, 122.679], dtype=np.float32)


def resize_for_network(image: Image.Image) -> np.ndarray:
    """Warp an RGB image to 256x256 (bilinear) and return it as uint8 ``(256, 256, 3)``."""
    return np.asarray(image.convert("RGB").resize((RESIZE, RESIZE), Image.BILINEAR), np.uint8)


def center_crop(resized: np.ndarray) -> np.ndarray:
    """The 227x227 centre of a ``(..., 256, 256, 3)`` array: the region the network sees."""
    end = CROP_OFFSET + CROP
    return resized[..., CROP_OFFSET:end, CROP_OFFSET:end, :]


def normalize(rgb):
    """RGB 0..255 (NumPy array or tf.Tensor, ``(..., 3)``) -> float32 BGR minus the mean."""
    if isinstance(rgb, np.ndarray):
        return rgb[..., ::-1].astype(np.float32) - MEAN_BGR
    import tensorflow as tf  # only reached by tf.data pipelines, where TF is loaded anyway

    # tf.reverse after the cast, not rgb[..., ::-1]: TF's negative-stride slice took 44 ms
    # of a 32-image batch's 50 ms in the training pipeline, this takes 9 (same values).
    return tf.reverse(tf.cast(rgb, tf.float32), [-1]) - MEAN_BGR


def preprocess_image(image: Image.Image) -> np.ndarray:
    """The full Caffe preprocessing of one RGB image: float32 ``(227, 227, 3)`` BGR."""
    return normalize(center_crop(resize_for_network(image)))


def one_image_batch(preprocessed, shape: tuple[int, ...]) -> np.ndarray:
    """``preprocessed`` (one image of ``shape``, or a batch of one) as a float32 batch of one.

    Raises:
        ValueError: anything else, with the shape received.
    """
    batch = np.asarray(preprocessed, np.float32)
    if batch.shape == tuple(shape):
        batch = batch[None]
    if batch.shape != (1, *shape):
        raise ValueError(
            f"Expected one preprocessed image of shape {tuple(shape)}. "
            f"Received: preprocessed.shape={np.shape(preprocessed)}"
        )
    return batch


def ten_crops(resized: np.ndarray) -> np.ndarray:
    """The AlexNet paper's test-time crops of ``(n, 256, 256, 3)`` images: ``(n, 10, 227, 227, 3)``.

    The four corner crops and the centre crop (Caffe's ``oversample``), then the same five
    mirrored left-right.
    """
    far = RESIZE - CROP  # 29
    offsets = ((0, 0), (0, far), (far, 0), (far, far), (CROP_OFFSET, CROP_OFFSET))
    crops = np.stack([resized[:, y : y + CROP, x : x + CROP] for y, x in offsets], axis=1)
    return np.concatenate([crops, crops[:, :, :, ::-1]], axis=1)
