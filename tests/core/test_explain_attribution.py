"""Guided backpropagation, deconvnet and occlusion give the answers computed by hand."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from alexnet_tf.explain.attribution import (
    OcclusionCancelled,
    UnitAttribution,
    attribution_image,
    occlusion_map,
    occlusion_positions,
)

# A two-layer chain on a 3x3 grey image: conv a (2x2, 2 filters, ReLU) -> conv b (2x2, 1, ReLU).
W1 = np.array(
    [[[[1.0, -1.0]], [[0.5, 2.0]]], [[[-0.5, 1.0]], [[2.0, -1.0]]]], np.float32
)  # (2, 2, 1, 2)
B1 = np.array([0.0, 0.5], np.float32)
W2 = np.array(
    [[[[1.0], [2.0]], [[-1.0], [1.5]]], [[[2.0], [0.5]], [[-0.5], [-1.0]]]], np.float32
)  # (2, 2, 2, 1)
B2 = np.array([1.0], np.float32)
IMAGE = np.array([[1.0, -2.0, 0.5], [0.0, 3.0, -1.0], [2.0, 1.0, -0.5]], np.float32)


@pytest.fixture(scope="module")
def tiny():
    inputs = keras.Input((3, 3, 1))
    a = keras.layers.Conv2D(2, 2, activation="relu", name="a")(inputs)
    b = keras.layers.Conv2D(1, 2, activation="relu", name="b")(a)
    model = keras.Model(inputs, b)
    model.get_layer("a").set_weights([W1, B1])
    model.get_layer("b").set_weights([W2, B2])
    return model


def _by_hand(method: str) -> np.ndarray:
    """The input gradient of b's single unit, by the chain rule written out."""
    z_a = np.zeros((2, 2, 2))
    for i in range(2):
        for j in range(2):
            for f in range(2):
                z_a[i, j, f] = np.sum(IMAGE[i : i + 2, j : j + 2] * W1[:, :, 0, f]) + B1[f]
    a = np.maximum(z_a, 0)
    assert np.sum(a * W2[..., 0]) + B2[0] > 0  # b fires, so its own ReLU passes the gradient
    dy = W2[..., 0]  # d b / d a
    if method == "guided":
        through = dy * (z_a > 0) * (dy > 0)
    elif method == "deconvnet":
        through = np.maximum(dy, 0)
    else:
        through = dy * (z_a > 0)
    gradient = np.zeros((3, 3))
    for i in range(2):
        for j in range(2):
            for f in range(2):
                gradient[i : i + 2, j : j + 2] += through[i, j, f] * W1[:, :, 0, f]
    return gradient


@pytest.mark.parametrize("method", ["guided", "deconvnet", "gradient"])
def test_tiny_chain_matches_the_chain_rule_by_hand(tiny, method):
    result = UnitAttribution(tiny, "b", method)(IMAGE[..., None], unit=0)
    np.testing.assert_allclose(result.gradient[..., 0], _by_hand(method), rtol=1e-5, atol=1e-6)
    assert result.position == (0, 0)


def test_the_three_methods_differ_on_the_tiny_chain():
    # The case is chosen so each rule matters: otherwise the test above proves nothing.
    guided, deconv, plain = (_by_hand(m) for m in ("guided", "deconvnet", "gradient"))
    assert not np.allclose(guided, plain) and not np.allclose(guided, deconv)


def test_a_conv1_unit_is_explained_by_its_own_filter_in_its_receptive_field():
    from alexnet_tf.model import build_alexnet

    keras.utils.set_random_seed(7)
    model = build_alexnet(num_classes=3)
    image = np.random.default_rng(0).normal(0, 60, (227, 227, 3)).astype(np.float32)
    result = UnitAttribution(model, "conv1")(image, unit=5)
    row, col = result.position
    kernel = model.get_layer("conv1").kernel.numpy()[..., 5]  # (11, 11, 3) BGR
    expected = np.zeros((227, 227, 3), np.float32)
    expected[4 * row : 4 * row + 11, 4 * col : 4 * col + 11] = kernel[..., ::-1]
    np.testing.assert_allclose(result.gradient, expected, atol=1e-6)
    conv1 = keras.Model(model.input, model.get_layer("conv1").output)
    values = conv1(image[None]).numpy()[0, ..., 5]
    assert result.value == pytest.approx(values.max(), rel=1e-5)
    assert values[row, col] == values.max()


def test_attribution_refuses_a_unit_the_layer_does_not_have(tiny):
    with pytest.raises(ValueError, match="b has 1 units.*Received: unit=1"):
        UnitAttribution(tiny, "b")(IMAGE[..., None], unit=1)


def test_attribution_image_is_grey_where_the_gradient_is_zero():
    gradient = np.zeros((8, 8, 3), np.float32)
    gradient[2, 3] = (1.0, -1.0, 0.0)
    picture = attribution_image(gradient, percentile=100)
    assert picture.dtype == np.uint8
    assert (picture[0, 0] == 128).all()
    assert tuple(picture[2, 3]) == (255, 1, 128)


def _region_classifier(batch):
    """Class 1 is "the top-left 40x40 square is bright": covering it must drop class 1."""
    evidence = batch[:, :40, :40, :].mean(axis=(1, 2, 3)) / 20.0
    p1 = 1.0 / (1.0 + np.exp(-evidence))
    return np.stack([1.0 - p1, p1], axis=1)


def test_occlusion_drops_the_class_only_where_its_evidence_is():
    image = np.zeros((227, 227, 3), np.float32)
    image[:40, :40] = 100.0
    seen = []
    result = occlusion_map(
        _region_classifier, image, 1, patch=48, stride=16, batch_size=7,
        progress=lambda done, total: seen.append((done, total)),
    )  # fmt: skip
    assert result.tops == result.lefts == [*range(0, 180, 16), 179]
    base = _region_classifier(image[None])[0, 1]
    assert result.probability == pytest.approx(base)
    for i, top in enumerate(result.tops):
        for j, left in enumerate(result.lefts):
            covered = image.copy()
            covered[top : top + 48, left : left + 48] = 0.0
            expected = base - _region_classifier(covered[None])[0, 1]
            assert result.drops[i, j] == pytest.approx(expected, abs=1e-6)
            if top >= 40 or left >= 40:
                assert result.drops[i, j] == 0.0
    assert result.drops[0, 0] > 0.4  # the square hides the whole region: 0.99 -> 0.5
    assert seen[-1] == (169, 169) and len(seen) == 25
    heat = result.pixel_map()
    assert heat.shape == (227, 227) and heat[10, 10] > 0.3 and heat[200, 200] == 0.0


def test_occlusion_cancels_between_batches():
    calls = []
    with pytest.raises(OcclusionCancelled):
        occlusion_map(
            _region_classifier, np.zeros((227, 227, 3), np.float32), 1,
            should_stop=lambda: calls.append(1) or len(calls) > 2,
        )  # fmt: skip
    assert len(calls) == 3


def test_occlusion_positions_cover_every_pixel():
    assert occlusion_positions(10, 4, 4) == [0, 4, 6]
    with pytest.raises(ValueError, match="Received: patch=0"):
        occlusion_positions(10, 0, 4)
