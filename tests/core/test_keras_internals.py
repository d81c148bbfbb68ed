"""The private parts of Keras and TensorFlow that the fine-tuning optimizer relies on.

``recipe.layerwise_sgd`` overrides Keras' private ``_apply_weight_decay`` (its fused decay
is most of the optimizer's saving on 2 cores) and calls ``tf.__internal__``'s
``maybe_merge_call``, ``_get_variable_index``, ``_use_weight_decay`` and the fused
``ResourceApplyKerasMomentum`` kernel. None of that is public: a Keras release may rename or
stop calling any of it, and then the override would be silently skipped (same arithmetic,
slower) or fail in the middle of a job. pyproject.toml bounds keras and tensorflow at the
versions tested; the day a newer one is installed, these tests say what changed.
"""

from __future__ import annotations

import inspect

import numpy as np
import pytest

WHAT_TO_DO = (
    "Keras/TensorFlow changed a private API that alexnet_tf/training/recipe.py "
    "(layerwise_sgd) relies on: {what}. Installed: keras {keras}, tensorflow {tf}. Adapt "
    "recipe.py to it (its arithmetic is tested in tests/core/test_recipe.py), then move the "
    "upper bounds in pyproject.toml."
)


def fail_because(what: str):
    import keras
    import tensorflow as tf

    pytest.fail(WHAT_TO_DO.format(what=what, keras=keras.__version__, tf=tf.__version__))


def parameters(function) -> list[str]:
    return list(inspect.signature(function).parameters)


def test_the_private_names_the_recipe_uses_exist_with_their_signatures():
    import keras
    import tensorflow as tf

    from alexnet_tf.training.recipe import layerwise_sgd

    sgd = keras.optimizers.SGD
    expected = {
        "_apply_weight_decay": ["self", "variables"],
        "update_step": ["self", "gradient", "variable", "learning_rate"],
        "_get_variable_index": ["self", "variable"],
        "_use_weight_decay": ["self", "variable"],
    }
    for name, arguments in expected.items():
        if not callable(getattr(sgd, name, None)):
            fail_because(f"keras.optimizers.SGD has no method {name}")
        if parameters(getattr(sgd, name)) != arguments:
            fail_because(f"SGD.{name} now takes {parameters(getattr(sgd, name))}")
    interim = getattr(getattr(tf.__internal__, "distribute", None), "interim", None)
    if not callable(getattr(interim, "maybe_merge_call", None)):
        fail_because("tf.__internal__.distribute.interim.maybe_merge_call is gone")
    for kernel in ("ResourceApplyKerasMomentum", "ResourceApplyGradientDescent"):
        if not hasattr(tf.raw_ops, kernel):
            fail_because(f"tf.raw_ops.{kernel} is gone")

    variable = keras.Variable(np.ones((3, 2), np.float32), name="kernel")
    optimizer = layerwise_sgd()(0.1, momentum=0.9, weight_decay=5e-4)
    optimizer.build([variable])
    for name in ("_distribution_strategy", "momentums", "learning_rate", "weight_decay"):
        if not hasattr(optimizer, name):
            fail_because(f"a built SGD has no attribute {name}")
    if optimizer._get_variable_index(variable) != 0:  # noqa: SLF001
        fail_because("SGD._get_variable_index no longer gives a variable's place")
    if len(optimizer.momentums) != 1:
        fail_because("SGD.momentums no longer holds one accumulator per variable")


def test_keras_still_calls_the_recipes_decay_and_update_once_per_step():
    """A zero gradient leaves only the decay: Keras must run the recipe's own decay (not its
    own as well, not instead) and the recipe's update step, once each."""
    import keras

    from alexnet_tf.training.recipe import layerwise_sgd

    calls = {"_apply_weight_decay": 0, "update_step": 0}

    class Counted(layerwise_sgd()):
        def _apply_weight_decay(self, variables):
            calls["_apply_weight_decay"] += 1
            return super()._apply_weight_decay(variables)

        def update_step(self, gradient, variable, learning_rate):
            calls["update_step"] += 1
            return super().update_step(gradient, variable, learning_rate)

    start = np.full((4, 3), 2.0, np.float32)
    layer = keras.layers.Dense(3, name="fc8")  # fc8: the plain (not relative) step
    layer.build((None, 4))
    layer.kernel.assign(start)
    lr, decay = 0.1, 0.01
    optimizer = Counted(lr, momentum=0.9, weight_decay=decay)
    optimizer.build([layer.kernel])
    optimizer.apply_gradients([(np.zeros_like(start), layer.kernel)])
    if calls != {"_apply_weight_decay": 1, "update_step": 1}:
        fail_because(f"one apply_gradients called the recipe's methods {calls} times")
    decayed = start * (1 - lr * decay)
    if not np.allclose(layer.kernel.numpy(), decayed, rtol=1e-6):
        fail_because(
            f"one step of weight decay gave {layer.kernel.numpy()[0, 0]}, not {decayed[0, 0]}"
        )


def test_the_installed_versions_are_within_the_bounds_tested():
    """pip keeps them so; an install that bypasses it (a source build) is told here."""
    import tomllib
    from importlib import metadata

    from packaging.requirements import Requirement

    from tests.fresh_imports import ROOT

    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    requirements = [Requirement(line) for line in project["project"]["dependencies"]]
    for requirement in requirements:
        if requirement.name in ("keras", "tensorflow"):
            unbounded = list(requirement.specifier.filter(["999"]))
            assert not unbounded, f"{requirement}: no upper bound at the version tested"
            installed = metadata.version(requirement.name)
            if installed not in requirement.specifier:
                fail_because(f"{requirement.name} {installed} is outside {requirement}")
