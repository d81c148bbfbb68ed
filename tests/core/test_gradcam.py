"""Grad-CAM points at where a class's evidence is."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from alexnet_tf.gradcam import GradCam
from alexnet_tf.model import build_alexnet


@pytest.fixture(scope="module")
def model():
    keras.utils.set_random_seed(3)
    return build_alexnet(num_classes=4, dropout=0.0)


def _bright_patch_image(top_left: bool) -> np.ndarray:
    image = np.full((227, 227, 3), -60.0, np.float32)
    if top_left:
        image[:80, :80] = 120.0
    else:
        image[-80:, -80:] = 120.0
    return image


def test_map_has_conv5_resolution_and_unit_range(model):
    heatmap = GradCam(model)(_bright_patch_image(True), class_index=1)
    assert heatmap.shape == (13, 13)
    assert heatmap.dtype == np.float32
    assert 0.0 <= heatmap.min() and heatmap.max() <= 1.0


def test_map_moves_with_the_content(model):
    # The same class on a bright patch top-left, then bottom-right: convolutions are
    # translation-equivariant, so the strongest evidence must move with the patch.
    cam = GradCam(model)
    for class_index in range(2):
        left = cam(_bright_patch_image(True), class_index)
        right = cam(_bright_patch_image(False), class_index)
        assert np.unravel_index(np.argmax(left), left.shape)[0] < 6
        assert np.unravel_index(np.argmax(right), right.shape)[0] > 6


def test_refuses_bad_arguments(model):
    cam = GradCam(model)
    with pytest.raises(ValueError, match="class_index"):
        cam(_bright_patch_image(True), class_index=4)
    with pytest.raises(ValueError, match="Received: preprocessed.shape"):
        cam(np.zeros((10, 10, 3), np.float32), class_index=0)
    with pytest.raises(ValueError, match="layer='conv9'"):
        GradCam(model, layer="conv9")


def test_model_without_fc8_uses_log_probability():
    inputs = keras.Input((227, 227, 3))
    x = keras.layers.Conv2D(8, 11, strides=4, activation="relu", name="conv5")(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(3, activation="softmax", name="head")(x)
    model = keras.Model(inputs, outputs)
    heatmap = GradCam(model)(_bright_patch_image(True), 2)
    assert heatmap.shape == (55, 55)
