"""The fine-tuning recipe's pieces: the standardisation folded into fc8, the divergence checks,
strict JSON, and models whose weights or outputs are not finite."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from alexnet_tf.fileio import json_text, write_json_atomic
from alexnet_tf.training.recipe import (
    DivergedError,
    check_step,
    fold_standardization,
    standardization,
)


def _features(rng, n=200, d=4096, scale=1.0):
    # ReLU-like: many zeros, a few dead features
    x = np.maximum(rng.normal(0.3, 1.0, (n, d)), 0).astype(np.float32) * scale
    x[:, :10] = 0
    return x


def test_standardisation_gives_unit_features_whatever_their_scale():
    rng = np.random.default_rng(0)
    x = _features(rng)
    scale, shift = standardization(x)
    z = x * scale + shift
    live = slice(10, None)
    assert np.abs(z[:, live].mean(0)).max() < 1e-4
    assert np.allclose(z[:, live].std(0), 1.0, atol=0.02)
    assert np.isfinite(scale).all() and scale.max() < 100  # dead features are not blown up
    loud_scale, loud_shift = standardization(x * 100)
    assert np.allclose(loud_scale * 100, scale, rtol=1e-5)
    assert np.allclose(loud_shift, shift, rtol=1e-4, atol=1e-6)


def test_folding_the_standardisation_into_fc8_gives_the_same_logits():
    rng = np.random.default_rng(1)
    x = _features(rng, n=50)
    scale, shift = standardization(x)
    kernel = rng.normal(0, 0.05, (4096, 5)).astype(np.float32)
    bias = rng.normal(0, 0.1, 5).astype(np.float32)
    folded_kernel, folded_bias = fold_standardization(kernel, bias, scale, shift)
    expected = (x * scale + shift) @ kernel + bias
    assert np.allclose(x @ folded_kernel + folded_bias, expected, rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize(
    "loss, norm, said",
    [
        (math.nan, 1.0, "the loss became nan"),
        (1.0, math.inf, "the gradients became inf"),
        (50.0, 1.0, "the loss exploded to 50"),
    ],
)
def test_a_diverging_step_stops_naming_the_rate_and_suggesting_a_smaller_one(loss, norm, said):
    with pytest.raises(DivergedError) as raised:
        check_step(loss, norm, num_classes=3, lr=0.05, where="in epoch 2, step 1")
    message = str(raised.value)
    assert said in message and "in epoch 2, step 1" in message
    assert "learning rate 0.05" in message and "--lr 0.005" in message
    assert "last good checkpoint is kept" in message


def test_an_ordinary_step_passes():
    check_step(0.7, 12.0, num_classes=3, lr=0.001, where="in epoch 1, step 1")


def test_json_the_project_writes_never_holds_nan_or_infinity(tmp_path):
    value = {"a": math.nan, "b": [math.inf, -math.inf, np.float32("nan"), np.float64(2.5)],
             "c": {"d": np.int64(3)}}  # fmt: skip
    text = json_text(value)
    assert json.loads(text) == {"a": None, "b": [None, None, None, 2.5], "c": {"d": 3}}
    write_json_atomic(tmp_path / "x.json", value)
    assert "NaN" not in (tmp_path / "x.json").read_text()
    assert "Infinity" not in (tmp_path / "x.json").read_text()


@pytest.fixture(scope="module")
def broken_models(tmp_path_factory):
    """Two 3-class AlexNets: fc8 with a NaN weight; fc8 so large its logits overflow."""
    from alexnet_tf.model import build_alexnet

    folder = tmp_path_factory.mktemp("models")
    model = build_alexnet(3)
    kernel, bias = model.get_layer("fc8").get_weights()
    kernel[0, 0] = np.nan
    model.get_layer("fc8").set_weights([kernel, bias])
    model.save(folder / "nan.keras")
    model.get_layer("fc8").set_weights([np.full_like(kernel, 3e38), bias])
    model.save(folder / "overflow.keras")
    return folder


def test_a_model_with_non_finite_weights_is_refused(broken_models):
    from alexnet_tf.errors import ModelLoadError
    from alexnet_tf.inference import load_model_file

    with pytest.raises(ModelLoadError, match="fc8 hold NaN or infinite values"):
        load_model_file(broken_models / "nan.keras")


def test_non_finite_probabilities_are_refused_and_classify_json_stays_json(broken_models):
    from PIL import Image

    from alexnet_tf.errors import ModelOutputError
    from alexnet_tf.inference import Classifier
    from tests.cli import run_cli

    image = Image.fromarray(np.full((64, 64, 3), 200, np.uint8))
    classifier = Classifier.load(broken_models / "overflow.keras")
    with pytest.raises(ModelOutputError, match="NaN or infinite probabilities"):
        classifier.classify(image)
    image.save(broken_models / "grey.png")
    for name in ("nan.keras", "overflow.keras"):
        result = run_cli("classify", "--model", broken_models / name, broken_models / "grey.png",
                         "--json")  # fmt: skip
        assert result.returncode != 0, result  # 2 for a refused model, 1 for a refused answer
        assert "NaN" in result.stderr and "NaN" not in result.stdout
        for line in result.stdout.splitlines():
            json.loads(line, parse_constant=lambda c: pytest.fail(f"not JSON: {c}"))


@pytest.mark.parametrize("gradient_scale", [1e-3, 1e3])
def test_layers_below_fc8_move_a_fixed_fraction_of_their_norm_whatever_the_gradient(
    gradient_scale,
):
    """What keeps conv1 (fed pixels of +-128) and fc7 on one rate: a step below fc8 moves the
    weights by BELOW_FC8_RATE x rate of their own norm; fc8 takes the plain gradient step."""
    import keras

    from alexnet_tf.training.recipe import BELOW_FC8_RATE, layerwise_sgd

    rng = np.random.default_rng(0)
    below = keras.Variable(rng.normal(0, 0.01, (20, 10)).astype(np.float32), name="kernel")
    below_start = np.array(below.numpy())
    layer = keras.layers.Dense(3, name="fc8")
    layer.build((None, 4))
    fc8 = layer.kernel
    fc8_start = np.array(fc8.numpy())
    lr = 0.01
    optimizer = layerwise_sgd()(lr, momentum=0.0)
    optimizer.build([below, fc8])
    assert fc8.path.startswith("fc8") and not below.path.startswith("fc8")
    gradients = [
        rng.normal(0, gradient_scale, below.shape).astype(np.float32),
        np.full(fc8.shape, gradient_scale, np.float32),
    ]
    optimizer.apply_gradients(zip(gradients, [below, fc8], strict=True))
    moved = np.linalg.norm(below.numpy() - below_start) / np.linalg.norm(below_start)
    assert moved == pytest.approx(lr * BELOW_FC8_RATE, rel=1e-4)
    np.testing.assert_allclose(fc8_start - fc8.numpy(), lr * gradients[1], rtol=0.02)


def test_the_recipe_optimizer_updates_as_keras_sgd_with_momentum_and_weight_decay():
    """Its fused update (one TF kernel) is Keras' SGD arithmetic: fc8 exactly Keras' step, a
    layer below it Keras' step on the gradient rescaled to BELOW_FC8_RATE of its norm."""
    import keras

    from alexnet_tf.training.recipe import BELOW_FC8_RATE, layerwise_sgd

    rng = np.random.default_rng(1)
    starts = [rng.normal(0, 0.05, (20, 10)).astype(np.float32) for _ in range(2)]

    def variables():
        below = keras.Variable(starts[0], name="kernel")
        layer = keras.layers.Dense(10, name="fc8")
        layer.build((None, 20))
        layer.kernel.assign(starts[1])
        return [below, layer.kernel]

    recipe_vars, keras_vars = variables(), variables()
    options = dict(momentum=0.9, weight_decay=5e-4)
    recipe_sgd = layerwise_sgd()(0.01, **options)
    keras_sgd = keras.optimizers.SGD(0.01, **options)
    for _ in range(3):
        gradients = [rng.normal(0, 1, starts[0].shape).astype(np.float32) for _ in range(2)]
        below = keras_vars[0].numpy()
        scale = np.linalg.norm(below) / np.linalg.norm(gradients[0]) * BELOW_FC8_RATE
        recipe_sgd.apply_gradients(zip(gradients, recipe_vars, strict=True))
        keras_sgd.apply_gradients(
            zip([gradients[0] * scale, gradients[1]], keras_vars, strict=True)
        )
    for mine, theirs, start in zip(recipe_vars, keras_vars, starts, strict=True):
        assert np.linalg.norm(theirs.numpy() - start) > 1e-3  # they did move
        np.testing.assert_allclose(mine.numpy(), theirs.numpy(), rtol=1e-5, atol=1e-7)


def test_the_network_before_its_first_epoch_can_be_the_kept_one():
    # Top and full modes offer the fitted fc8 on the unchanged layers below as "epoch -1"
    # (shown as epoch 0): a fine-tuning that only does worse on validation keeps it.
    import keras

    from alexnet_tf.training.events import describe_kept
    from alexnet_tf.training.network import BestEpoch

    weight = keras.Variable([1.0, 2.0])  # as the trained variables of a Keras model
    best = BestEpoch([weight])
    assert best.describe() is None
    assert best.offer(-1, 0.75, 0.6, [weight])
    weight.assign([5.0, 5.0])  # an epoch that fine-tuned the layers into something worse
    assert not best.offer(0, 0.70, 0.5, [weight])
    assert not best.offer(1, 0.75, 0.7, [weight])  # a tie loses on the higher loss
    assert best.describe() == {"epoch": -1, "val_accuracy": 0.75, "val_loss": pytest.approx(0.6)}
    best.restore_into([weight])
    assert weight.numpy().tolist() == [1.0, 2.0]
    kept = {**best.describe(), "rule": "best"}
    assert describe_kept(kept) == (
        "epoch 0: fc8 fitted first, before the layers below trained "
        "(best validation accuracy 75.0%)"
    )
    assert best.offer(2, 0.80, 0.9, [weight]) and best.describe()["epoch"] == 2
