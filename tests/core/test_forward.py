"""CompiledForward (XLA-compiled) gives the same outputs as calling the model directly."""

from __future__ import annotations

import numpy as np
import pytest

from alexnet_tf.forward import CompiledForward
from alexnet_tf.model import build_alexnet


@pytest.fixture(scope="module")
def model():
    return build_alexnet(num_classes=10)


@pytest.mark.parametrize("batch_size", [1, 3])
def test_outputs_match_the_model(model, batch_size):
    rng = np.random.default_rng(batch_size)
    batch = rng.normal(0, 50, (batch_size, 227, 227, 3)).astype(np.float32)
    layers = ("conv1", "norm2", "pool5", "fc7", "prob")
    outputs = CompiledForward(model, layers)(batch)
    assert list(outputs) == list(layers)
    for name in layers:
        expected = model.get_layer(name).output
        sub = type(model)(model.input, expected)
        reference = np.asarray(sub(batch, training=False))
        assert outputs[name].shape == reference.shape
        np.testing.assert_allclose(
            outputs[name], reference, rtol=1e-4, atol=1e-4 * np.abs(reference).max()
        )
    np.testing.assert_allclose(outputs["prob"].sum(axis=1), 1.0, rtol=1e-5)


def test_one_output_and_a_new_batch_size(model):
    forward = CompiledForward(model)
    batch = np.random.default_rng(0).normal(0, 50, (2, 227, 227, 3)).astype(np.float32)
    probabilities = forward(batch)["prob"]
    np.testing.assert_allclose(probabilities, np.asarray(model(batch, training=False)), atol=1e-5)
    single = forward(batch[:1])["prob"]  # a different batch size after the first compile
    np.testing.assert_allclose(single, probabilities[:1], atol=1e-5)
