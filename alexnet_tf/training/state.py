"""What one run of a training job works with, filled in part by part (see ``loop.TrainingJob``).

No TensorFlow here: the fields hold TensorFlow objects, but this module only names them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .steps import cross_entropy


@dataclass
class Dataset:
    """The job's images: the scan, the decoded cache, labels and the split."""

    scan: object
    cache: np.ndarray
    labels: np.ndarray
    train_idx: np.ndarray
    val_idx: np.ndarray
    steps: int  # per epoch
    total_steps: int


@dataclass
class Network:
    """What trains: ``model`` (the plain AlexNet that is checkpointed and saved) and ``net``
    (its layers with fc8 reading standardised features, see network.py)."""

    model: object
    net: object
    standardizer: object
    optimizer: object
    best: object  # network.BestEpoch, or None with keep="last"
    manager: object  # the checkpoint manager
    epoch_var: object
    step_var: object
    fresh: bool  # nothing was restored: fc8 is still to be prepared

    def position(self) -> tuple[int, int]:
        """``(epoch, step)`` the run starts from (both 0-based; the checkpoint's, on resume)."""
        return int(self.epoch_var.numpy()), int(self.step_var.numpy())


@dataclass
class RunState:
    """One run's state, passed as one object instead of six values.

    ``inputs`` is what the epochs train on: the decoded images (``data.cache``), or in head
    mode the cached fc7 activations, an array of shape ``(N, views, 4096)``;
    ``on_features`` says which (a bool, never the array).
    """

    choice: object  # strategy.StrategyChoice: the strategy, replicas, workers, chief
    data: Dataset | None = None
    network: Network | None = None
    inputs: np.ndarray | None = None
    on_features: bool = False
    predict: object = None  # the training network's forward pass (steps.make_predict)


@dataclass
class Validation:
    """The network's probabilities on the validation images, and their true labels."""

    probs: np.ndarray
    truth: np.ndarray

    @property
    def loss(self) -> float:
        return cross_entropy(self.probs, self.truth)

    @property
    def accuracy(self) -> float:
        return float(np.mean(np.argmax(self.probs, 1) == self.truth))


def validation_scores(validation: Validation | None) -> dict:
    """``val_loss`` and ``val_accuracy`` of an epoch record (None without validation images)."""
    if validation is None:
        return {"val_loss": None, "val_accuracy": None}
    return {"val_loss": validation.loss, "val_accuracy": validation.accuracy}
