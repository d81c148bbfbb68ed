"""Preprocessing is exactly Caffe's: 256x256 warp, centre crop at 14, BGR, mean subtracted."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from alexnet_tf.preprocess import (
    CROP_OFFSET,
    MEAN_BGR,
    center_crop,
    normalize,
    preprocess_image,
    resize_for_network,
)


def test_caffe_constants():
    assert CROP_OFFSET == 14
    np.testing.assert_allclose(MEAN_BGR, [104.007, 116.669, 122.679], rtol=0, atol=1e-4)


def test_center_crop_takes_rows_and_columns_14_to_240():
    rows, columns = np.meshgrid(np.arange(256), np.arange(256), indexing="ij")
    coordinates = np.stack([rows, columns, np.zeros_like(rows)], axis=-1)
    crop = center_crop(coordinates)
    assert crop.shape == (227, 227, 3)
    assert (crop[0, 0, 0], crop[0, 0, 1]) == (14, 14)
    assert (crop[-1, -1, 0], crop[-1, -1, 1]) == (240, 240)
    assert center_crop(np.zeros((5, 256, 256, 3))).shape == (5, 227, 227, 3)


def test_preprocess_crops_at_offset_14_of_a_256_image():
    # A white frame 14 pixels wide around black: the crop must contain none of it.
    pixels = np.full((256, 256, 3), 255, np.uint8)
    pixels[14:241, 14:241] = 0
    out = preprocess_image(Image.fromarray(pixels))
    assert out.shape == (227, 227, 3) and out.dtype == np.float32
    np.testing.assert_allclose(out, np.broadcast_to(-MEAN_BGR, out.shape), atol=1e-4)


def test_channels_are_bgr_minus_the_mean():
    out = preprocess_image(Image.new("RGB", (300, 200), (10, 20, 30)))
    expected = np.array([30, 20, 10], np.float32) - MEAN_BGR
    np.testing.assert_allclose(out, np.broadcast_to(expected, out.shape), atol=1e-4)


def test_warp_does_not_keep_the_aspect_ratio():
    # 1024x256: left quarter red, rest blue. A warp keeps the red quarter (64 of 256
    # columns); an aspect-preserving resize + centre crop would show no red at all.
    pixels = np.zeros((256, 1024, 3), np.uint8)
    pixels[:, :256] = (255, 0, 0)
    pixels[:, 256:] = (0, 0, 255)
    resized = resize_for_network(Image.fromarray(pixels))
    assert resized.shape == (256, 256, 3) and resized.dtype == np.uint8
    red_columns = (resized[128, :, 0] > 128).sum()
    assert 62 <= red_columns <= 66


def test_normalize_numpy_and_tensorflow_agree():
    tf = pytest.importorskip("tensorflow")
    rgb = np.random.default_rng(0).integers(0, 256, (2, 8, 8, 3)).astype(np.uint8)
    np.testing.assert_allclose(normalize(rgb), normalize(tf.constant(rgb)).numpy(), atol=1e-5)


def test_a_256x256_image_is_not_resampled_again():
    # classify decodes and warps images in a worker thread, then preprocesses the 256x256
    # result: that must give exactly the network input of the original image.
    image = Image.fromarray(np.random.default_rng(2).integers(0, 256, (300, 500, 3), np.uint8))
    warped = Image.fromarray(resize_for_network(image))
    assert np.array_equal(preprocess_image(warped), preprocess_image(image))
