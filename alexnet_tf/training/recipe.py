"""The fine-tuning recipe, in one place: what trains, at which rate, on which schedule.

Baseline: the AlexNet paper's SGD with momentum 0.9 and weight decay 5e-4. What this recipe
changes, and why (measured in docs/finetune.md):

- fc8 reads *standardised* fc7 features (zero mean, unit variance per feature, statistics of
  the training images at the start). Raw fc7 activations at a trained network's scale have a
  squared norm of about 3000 (measured on the test weights), so plain SGD on fc8 needs a rate
  that depends on the network's activation scale; at 0.01 it swung between chance and good
  from seed to seed.
  The standardisation is a fixed affine map, folded into fc8 when the model is saved
  (``fold_standardization``), so the saved model is a plain AlexNet.
- The new fc8 starts at zero (loss ln(classes), no random preference) and, in top and full
  modes, is first trained alone on cached features as head mode trains it (its rate, its
  dropout, ``HEAD_FIRST_EPOCHS``; seconds): the
  layers below then start fine-tuning from a sensible classifier instead of from gradients of
  a random one, which is what blew the loss up to 25 in full mode.
- Layers below fc8 take steps relative to their weights' norm (``layerwise_sgd``): one plain
  rate cannot suit conv1 (fed pixels of +-128) and fc7 at once; and a tenth of fc8's rate
  (``BELOW_FC8_RATE``), so they adapt without undoing the classifier fitted on them. No
  dropout in top and full modes (``DEFAULT_DROPOUT``).
- The rate decays along a half cosine to zero (after a one-epoch linear warm-up when layers
  below fc8 train), so the last epochs settle instead of bouncing.
- The kept model is the epoch with the best validation accuracy (see ``BestEpoch``).
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import AlexNetStudioError

FEATURE_DIM = 4096  # fc7
MOMENTUM = 0.9
WEIGHT_DECAY = 5e-4
# Layers each mode trains; the rest keep their initial weights.
TRAINED_LAYERS = {
    "head": ("fc8",),
    "top": ("fc6", "fc7", "fc8"),
    "full": ("conv1", "conv2", "conv3", "conv4", "conv5", "fc6", "fc7", "fc8"),
}
# Peak learning rates of fc8 on standardised features.
DEFAULT_LR = {"head": 0.001, "top": 0.0001, "full": 0.0001}
# Layers below fc8 move per step by this fraction of the rate, relative to their own norm
# (``layerwise_sgd``). Why a tenth: a step of relative size r along a gradient (a sum of a few
# outer products of the batch's inputs) changes a layer's outputs by up to r*sqrt(fan_in)
# relative, 20x (conv1) to 96x (fc6) more; at the full rate (1e-4, 10x more with momentum)
# fc6 and fc7 moved their outputs by several percent per step and top/full training losses
# climbed to 3-6x their first epoch's (docs/finetune.md).
BELOW_FC8_RATE = 0.1
# Dropout before fc6/fc7/fc8 while training. Off when layers below fc8 train: fc8 was fitted
# first on features computed without dropout, and dropout on fc6 changes fc7's features by
# more than a small dataset's fine-tuning recovers (measured: top mode's validation accuracy
# fell from 1.0 to 0.33-0.75 with it, stayed at 1.0 without; docs/finetune.md).
DEFAULT_DROPOUT = {"head": 0.5, "top": 0.0, "full": 0.0}
WARMUP_EPOCHS = {"head": 0, "top": 1, "full": 1}
HEAD_FIRST_EPOCHS = 10  # top and full: fc8 alone on cached features first, as in head mode
# A loss this many times ln(classes) (the loss of a uniform guess) has exploded.
EXPLOSION_FACTOR = 10.0


class DivergedError(AlexNetStudioError):
    """Training produced a non-finite or exploding loss, gradient or weight."""


def learning_rate_schedule(mode: str, base_lr: float, steps_per_epoch: int, total_steps: int):
    """The rate per optimizer step: linear warm-up (top, full), then a half cosine to 0."""
    import keras

    warmup = min(WARMUP_EPOCHS[mode] * steps_per_epoch, max(total_steps - 1, 0))
    if warmup:
        return keras.optimizers.schedules.CosineDecay(
            0.0, max(total_steps - warmup, 1), warmup_target=base_lr, warmup_steps=warmup
        )
    return keras.optimizers.schedules.CosineDecay(base_lr, max(total_steps, 1))


def make_optimizer(mode: str, base_lr: float, steps_per_epoch: int, total_steps: int,
                   momentum: float = MOMENTUM):  # fmt: skip
    """SGD with momentum and weight decay on the recipe's schedule; layers below fc8 take
    steps relative to their weights' size (see ``layerwise_sgd``)."""
    schedule = learning_rate_schedule(mode, base_lr, steps_per_epoch, total_steps)
    return layerwise_sgd()(schedule, momentum=momentum, weight_decay=WEIGHT_DECAY)


def layerwise_sgd():
    """The SGD class whose steps below fc8 are relative to each weight tensor's norm.

    Why: the gradient of an early layer scales with what flows into it (pixels of +-128 into
    conv1, activations whose scale depends on the network), so one learning rate for all
    layers is too small for some and explodes others: measured, full mode at a plain rate of
    2e-5 still lost half its validation accuracy in the warm-up epoch. Scaling each tensor's
    gradient to the tensor's own norm (layer-wise adaptive rates, "LARS", You et al. 2017)
    makes the rate a fraction of the weights moved per step, whatever the scale; that fraction
    is ``BELOW_FC8_RATE`` times the rate. fc8 reads
    standardised features, so its plain gradient is already well scaled (and it starts at
    zero, where a relative step would never move it).
    """
    import keras
    import tensorflow as tf

    class LayerwiseSGD(keras.optimizers.SGD):
        def build(self, variables):
            super().build(variables)
            # by index: inside a distributed update the variable is TF's, without a Keras path
            self._relative = [not v.path.startswith("fc8") for v in variables]

        def update_step(self, gradient, variable, learning_rate):
            # keras.optimizers.SGD's arithmetic (m = momentum*m - lr*g; w += m) in TF's one
            # fused kernel instead of five elementwise passes over the weights: 7% of a bf16
            # training step on 2 cores, where the update is memory-bound (docs/performance.md).
            index = self._get_variable_index(variable)
            if isinstance(variable, keras.Variable):  # the tf.Variable behind it
                variable = variable.value
            lr = tf.cast(learning_rate, variable.dtype)
            gradient = tf.cast(gradient, variable.dtype)
            if self._relative[index]:  # the relative step is a scalar: it folds into the rate
                weight_norm, gradient_norm = _norm(variable), _norm(gradient)
                usable = tf.logical_and(weight_norm > 0, gradient_norm > 0)
                ratio = tf.where(usable, weight_norm / tf.maximum(gradient_norm, 1e-12), 1.0)
                lr = lr * ratio * BELOW_FC8_RATE
            if self.momentum == 0:
                tf.raw_ops.ResourceApplyGradientDescent(var=variable.handle, alpha=lr,
                                                        delta=gradient)  # fmt: skip
                return
            accumulator = self.momentums[index].value
            tf.raw_ops.ResourceApplyKerasMomentum(
                var=variable.handle, accum=accumulator.handle, lr=lr, grad=gradient,
                momentum=tf.cast(self.momentum, variable.dtype), use_nesterov=False,
            )  # fmt: skip

        def _apply_weight_decay(self, variables):
            # Keras' decoupled decay (w -= w * decay * lr, before the update) as one multiply
            # and an assignment that takes over its result: Keras' own ``w * decay * lr`` then
            # ``assign_sub`` makes about seven passes over the 244 MB of weights, which were
            # the largest part of this optimizer's cost on 2 cores (docs/performance.md).
            if self.weight_decay is None:
                return

            def decay(variable):
                if self._use_weight_decay(variable):
                    rate = tf.cast(self.learning_rate * self.weight_decay, variable.dtype)
                    variable.assign(variable * (1 - rate))

            def decay_all(distribution, variables):
                for variable in variables:
                    if isinstance(variable, keras.Variable):
                        variable = variable.value
                    distribution.extended.update(variable, decay, group=False)

            tf.__internal__.distribute.interim.maybe_merge_call(
                decay_all, self._distribution_strategy, variables
            )

    return LayerwiseSGD


def _norm(tensor):
    """The Euclidean norm in one pass over ``tensor`` (``tf.norm`` squares into a copy
    first)."""
    import tensorflow as tf

    return tf.sqrt(2.0 * tf.nn.l2_loss(tensor))


def standardization(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(scale, shift)`` such that ``features * scale + shift`` has zero mean and unit variance
    per feature over ``features`` (rows: examples, last axis: features).

    A feature that hardly varies (a ReLU that is almost always 0) would get a huge scale and
    turn noise into signal: every variance is floored at 1% of the mean variance.
    """
    rows = np.asarray(features, np.float64).reshape(-1, features.shape[-1])
    mean = rows.mean(axis=0)
    variance = rows.var(axis=0)
    floor = 0.01 * variance.mean()
    std = np.sqrt(variance + floor) if floor > 0 else np.ones_like(variance)
    scale = 1.0 / std
    return scale.astype(np.float32), (-mean * scale).astype(np.float32)


def fold_standardization(kernel, bias, scale, shift) -> tuple[np.ndarray, np.ndarray]:
    """fc8's weights on raw fc7 equal to ``(x * scale + shift) @ kernel + bias``."""
    kernel = np.asarray(kernel, np.float64)
    folded_kernel = np.asarray(scale, np.float64)[:, None] * kernel
    folded_bias = np.asarray(bias, np.float64) + np.asarray(shift, np.float64) @ kernel
    return folded_kernel.astype(np.float32), folded_bias.astype(np.float32)


def explosion_threshold(num_classes: int) -> float:
    """A training loss above this has exploded (a uniform guess scores ln(classes))."""
    return EXPLOSION_FACTOR * max(math.log(num_classes), 1.0)


def check_step(loss: float, gradient_norm: float, *, num_classes: int, lr: float, where: str):
    """Raise DivergedError when a step's loss or gradients are non-finite or exploded."""
    problem = None
    if not math.isfinite(loss):
        problem = f"the loss became {loss}"
    elif not math.isfinite(gradient_norm):
        problem = f"the gradients became {gradient_norm}"
    elif loss > explosion_threshold(num_classes):
        problem = (
            f"the loss exploded to {loss:.3g} (a uniform guess scores {math.log(num_classes):.3g})"
        )
    if problem:
        raise DivergedError(divergence_message(problem, lr, where))


def divergence_message(problem: str, lr: float, where: str) -> str:
    """The error a diverged job reports: what happened, the rate, what to try."""
    return (
        f"Training diverged {where}: {problem} with learning rate {lr:g}. Try a smaller one, "
        f"e.g. --lr {lr / 10:g}. The job stopped; the last good checkpoint is kept and no model "
        "was saved."
    )


def all_finite(arrays) -> bool:
    """True when every value of every array is finite."""
    return all(bool(np.isfinite(a).all()) for a in arrays)
