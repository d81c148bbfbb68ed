"""The model is the BVLC AlexNet: topology, names, parameter count, safe save/load."""

import keras
import numpy as np
import pytest

from alexnet_tf import GroupedConv2D, LocalResponseNormalization, build_alexnet
from alexnet_tf.model import NAMED_LAYERS


@pytest.fixture(scope="module")
def model():
    return build_alexnet()


def test_parameter_count_matches_bvlc(model):
    assert model.count_params() == 60_965_224


def test_layer_names_and_shapes(model):
    expected = {
        "conv1": (55, 55, 96), "norm1": (55, 55, 96), "pool1": (27, 27, 96),
        "conv2": (27, 27, 256), "norm2": (27, 27, 256), "pool2": (13, 13, 256),
        "conv3": (13, 13, 384), "conv4": (13, 13, 384), "conv5": (13, 13, 256),
        "pool5": (6, 6, 256), "fc6": (4096,), "fc7": (4096,), "fc8": (1000,),
    }  # fmt: skip
    assert tuple(expected) == NAMED_LAYERS
    for name, shape in expected.items():
        assert tuple(model.get_layer(name).output.shape[1:]) == shape, name
    assert model.input_shape == (None, 227, 227, 3)


def test_grouped_kernels_have_conv2d_groups_layout(model):
    assert model.get_layer("conv2").kernel.shape == (5, 5, 48, 256)
    assert model.get_layer("conv4").kernel.shape == (3, 3, 192, 384)
    assert model.get_layer("conv5").kernel.shape == (3, 3, 192, 256)
    assert model.get_layer("conv3").kernel.shape == (3, 3, 256, 384)


def test_split_and_native_grouped_convolution_agree():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 13, 13, 64)).astype("float32")
    split = GroupedConv2D(32, 3, padding="same", groups=2, name="g")
    native = keras.layers.Conv2D(32, 3, padding="same", groups=2)
    split.build(x.shape)
    native.build(x.shape)
    native.set_weights(split.get_weights())
    np.testing.assert_allclose(split(x), native(x), rtol=1e-5, atol=1e-5)


def test_lrn_uses_caffe_constants():
    x = np.random.default_rng(1).uniform(0, 50, size=(1, 2, 2, 7)).astype("float32")
    out = np.asarray(LocalResponseNormalization()(x))
    # Caffe: b = a / (1 + 1e-4 / 5 * sum over 5 neighbouring channels of a^2) ** 0.75
    padded = np.pad(x**2, ((0, 0), (0, 0), (0, 0), (2, 2)))
    window = sum(padded[..., i : i + 7] for i in range(5))
    np.testing.assert_allclose(out, x / (1 + 1e-4 / 5 * window) ** 0.75, rtol=1e-5)


def test_bad_arguments_are_refused_before_building():
    with pytest.raises(ValueError, match="Received: num_classes=0"):
        build_alexnet(num_classes=0)
    with pytest.raises(ValueError, match="Received: grouped_conv='fast'"):
        build_alexnet(grouped_conv="fast")
    with pytest.raises(ValueError, match="Received: alpha=-1"):
        LocalResponseNormalization(alpha=-1)


def test_keras_file_round_trip_in_safe_mode(tmp_path):
    model = build_alexnet(num_classes=5)
    x = np.random.default_rng(2).normal(0, 50, size=(2, 227, 227, 3)).astype("float32")
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    assert [layer.name for layer in loaded.layers] == [layer.name for layer in model.layers]
    np.testing.assert_array_equal(model(x, training=False), loaded(x, training=False))


def test_lrn_stays_float32_under_mixed_precision():
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        model = build_alexnet(num_classes=3)
        assert model.get_layer("norm1").compute_dtype == "float32"
        assert model.get_layer("conv1").compute_dtype == "bfloat16"
        assert model.get_layer("prob").compute_dtype == "float32"
        out = model(np.zeros((1, 227, 227, 3), "float32"), training=False)
        assert out.dtype == "float32"
    finally:
        keras.mixed_precision.set_global_policy("float32")
