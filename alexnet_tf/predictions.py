"""What a classification returns, and what a model spec names, without TensorFlow.

Shared by the TensorFlow classifier (``alexnet_tf.inference``) and the LiteRT one
(``alexnet_tf.litert_classifier``), so both give the same rows, the same class names and the
same errors, and a caller that only needs the fast engine never imports TensorFlow.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import jobfolder
from .errors import DamagedFileError, ModelLoadError, ModelOutputError

IMAGENET_MODEL_NAME = "ImageNet (BVLC AlexNet)"
PREPROCESSING = jobfolder.PREPROCESSING  # the only preprocessing this app applies
PROBABILITY_LAYER = "prob"


@dataclass(frozen=True)
class Prediction:
    """One row of a top-k list.

    Attributes:
        rank: 1 for the most probable class.
        index: the class index (the position in the model's output).
        label: the class name.
        probability: the softmax probability, 0..1.
    """

    rank: int
    index: int
    label: str
    probability: float

    def to_dict(self) -> dict:
        """JSON-ready form, as ``classify --json`` prints it."""
        return {
            "rank": self.rank,
            "index": self.index,
            "label": self.label,
            "probability": self.probability,
        }


@dataclass
class Analysis:
    """Everything the app shows for one image, from one forward pass.

    Attributes:
        predictions: the top-k list.
        activations: every name in ``model.NAMED_LAYERS`` -> its output for this image, batch
            dimension removed: conv/LRN/pool ``(H, W, C)``, fc ``(units,)``.
        crop_rgb: ``(227, 227, 3)`` uint8 RGB, the region of the image the network sees.
    """

    predictions: list[Prediction]
    activations: dict[str, np.ndarray]
    crop_rgb: np.ndarray


def check_top(top) -> int:
    """``top`` if it is a positive integer, else ValueError."""
    if not isinstance(top, int) or isinstance(top, bool) or top < 1:
        raise ValueError(f"top must be a positive integer. Received: top={top!r}")
    return top


def check_finite(probabilities: np.ndarray, model_name: str) -> np.ndarray:
    """``probabilities``, or ModelOutputError if the model produced NaN or Infinity."""
    if not np.isfinite(probabilities).all():
        raise ModelOutputError(
            f"The model {model_name} produced NaN or infinite probabilities for this image; "
            "its weights or this input overflow. Its answers cannot be trusted."
        )
    return probabilities


def top_predictions(probabilities: np.ndarray, labels, top: int) -> list[Prediction]:
    """The ``top`` most probable classes of one probability row, most probable first."""
    top = min(top, len(probabilities))
    # Stable sort of the negated values: equal probabilities keep class order.
    order = np.argsort(-probabilities, kind="stable")[:top]
    return [
        Prediction(rank, int(index), labels[index], float(probabilities[index]))
        for rank, index in enumerate(order, start=1)
    ]


def resolve_model_spec(model_spec: str | Path) -> tuple[Path, str]:
    """The ``.keras`` file and display name a ``--model`` argument names.

    A folder is a job (``JOB/model/model.keras``) or an exported model folder
    (``model.keras``); a file is itself. Nothing is opened here.

    Raises:
        ModelLoadError: a folder without a model file.
    """
    path = Path(model_spec).expanduser()
    if path.is_dir():
        model_file = jobfolder.model_file(path)
        if not model_file.is_file():
            model_file = path / jobfolder.MODEL_FILE  # an exported model folder
        if not model_file.is_file():
            raise ModelLoadError(
                f"{path}: this folder has no model/model.keras; give a finished "
                "fine-tuning job's folder or a .keras file"
            )
        return model_file, path.resolve().name
    name = path.stem
    if jobfolder.is_job_model_file(path):
        name = path.resolve().parent.parent.name  # JOB/model/model.keras -> JOB
    return path, name


def labels_for(model_file: Path, num_classes: int) -> tuple[str, ...]:
    """Class names for a model file: its labels.json, else ImageNet's, else numbered."""
    labels_file = model_file.parent / jobfolder.LABELS_FILE
    if labels_file.is_file():
        try:
            content = jobfolder.read_labels_file(labels_file)
        except FileNotFoundError:  # removed since the check above
            raise ModelLoadError(f"{labels_file}: disappeared while the model loaded") from None
        except DamagedFileError as error:
            raise ModelLoadError(f'{error}; expected {{"labels": ["name", ...]}}') from None
        labels = content["labels"]
        if len(labels) != num_classes:
            raise ModelLoadError(
                f"{labels_file}: has {len(labels)} labels but the model has {num_classes} outputs"
            )
        preprocessing = content.get("preprocessing", PREPROCESSING)
        if preprocessing != PREPROCESSING:
            raise ModelLoadError(
                f"{labels_file}: the model expects preprocessing {preprocessing!r}; "
                f"this app applies {PREPROCESSING!r} only"
            )
        return tuple(labels)
    if num_classes == 1000:
        from .labels import imagenet_labels

        return imagenet_labels()
    return tuple(f"class {index}" for index in range(num_classes))
