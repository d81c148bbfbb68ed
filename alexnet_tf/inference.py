"""Classification and feature maps: top-k and every layer's activations of an image.

``Classifier.load`` gives the ImageNet model (installed weights), a ``.keras`` file or a
fine-tuning job's model; ``classify`` / ``classify_batch`` return top-k predictions and
``analyze`` returns the predictions, the activation of every named layer and the crop the
network saw, all from one forward pass. Images are preprocessed only by
``alexnet_tf.preprocess``, so every caller sees exactly what the BVLC weights expect.
"""

from __future__ import annotations

import json
import threading
import zipfile
from pathlib import Path

import keras
import numpy as np
from PIL import Image

from .errors import ModelLoadError
from .forward import CompiledForward
from .labels import imagenet_labels
from .model import INPUT_SHAPE, NAMED_LAYERS
from .predictions import (
    IMAGENET_MODEL_NAME,
    PREPROCESSING,
    PROBABILITY_LAYER,
    Analysis,
    Prediction,
    check_finite,
    check_top,
    labels_for,
    resolve_model_spec,
    top_predictions,
)
from .preprocess import center_crop, normalize, preprocess_image, resize_for_network, ten_crops

BATCH_SIZE = 32  # images per forward pass in classify_batch (bounds memory for long lists)
CROPS = ("center", "10")  # what ``probabilities`` averages over
# Prediction and Analysis live in the TensorFlow-free ``predictions`` module (the LiteRT
# classifier returns the same rows); they are importable from here as before.
__all__ = ["IMAGENET_MODEL_NAME", "PREPROCESSING", "Analysis", "Classifier", "Prediction"]


class Classifier:
    """A loaded AlexNet (ImageNet or fine-tuned) with its class names.

    Build it with ``Classifier.load``. The compiled forward passes are created on first use,
    so loading stays quick for callers that only classify (or only analyze).

    Attributes:
        name: ``"ImageNet (BVLC AlexNet)"``, or the job / file name of a fine-tuned model.
        labels: one class name per output.
        model: the ``keras.Model``.
    """

    def __init__(self, model: keras.Model, labels, name: str, *, precision: str = "fp32"):
        outputs = int(model.output_shape[-1])
        if len(labels) != outputs:
            raise ValueError(
                f"labels must have one name per model output ({outputs}). "
                f"Received: {len(labels)} labels"
            )
        self.model = model
        self.labels = tuple(str(label) for label in labels)
        self.name = name
        self._lock = threading.Lock()
        self.precision = precision
        self._probabilities = None  # CompiledForward(("prob",)), built lazily
        self._everything = None  # CompiledForward(NAMED_LAYERS + ("prob",)), built lazily

    @classmethod
    def load(cls, model_spec: str | Path | None = None, *, precision: str = "fp32") -> Classifier:
        """Load the ImageNet model, a ``.keras`` file or a fine-tuning job's model.

        Args:
            model_spec: ``None`` for the installed ImageNet weights; a ``.keras`` file
                (class names from a ``labels.json`` beside it, else the ImageNet names for
                1000 outputs, else ``"class 0"`` ...); or a job folder
                (``JOB/model/model.keras`` and ``JOB/model/labels.json``).
            precision: ``"fp32"`` (exact, default) or ``"bf16"`` (see ``alexnet_tf.forward``).

        Raises:
            WeightsNotInstalledError: ``model_spec`` is ``None`` and no weights are installed.
            ModelLoadError: the file or folder cannot be used; the message says which and why.
        """
        if model_spec is None:
            from .weights.store import load_imagenet_model

            return cls(
                load_imagenet_model(), imagenet_labels(), IMAGENET_MODEL_NAME, precision=precision
            )
        model_file, name = resolve_model_spec(model_spec)
        model = load_model_file(model_file)
        labels = labels_for(model_file, int(model.output_shape[-1]))
        return cls(model, labels, name, precision=precision)

    @property
    def num_classes(self) -> int:
        """Number of classes (model outputs)."""
        return len(self.labels)

    def classify(self, image: Image.Image, top: int = 5) -> list[Prediction]:
        """Top-``top`` predictions for one RGB image (centre crop, as the BVLC model was scored)."""
        return self.classify_batch([image], top=top)[0]

    def classify_batch(self, images: list[Image.Image], top: int = 5) -> list[list[Prediction]]:
        """Top-``top`` predictions for each of ``images`` (RGB), in order, batched for speed."""
        top = check_top(top)
        forward = self._probability_forward()
        results = []
        for start in range(0, len(images), BATCH_SIZE):
            chunk = images[start : start + BATCH_SIZE]
            batch = np.stack([preprocess_image(image) for image in chunk])
            probabilities = self._finite(forward(batch)[PROBABILITY_LAYER])
            results.extend(self._top(row, top) for row in probabilities)
        return results

    def probabilities(self, resized: np.ndarray, crops: str = "center") -> np.ndarray:
        """Class probabilities of images already warped by ``preprocess.resize_for_network``.

        Args:
            resized: ``(n, 256, 256, 3)`` uint8 RGB.
            crops: ``"center"``: the 227x227 centre crop, as ``classify`` and the BVLC model's
                published accuracy; ``"10"``: the mean of the probabilities of the four corner
                crops, the centre crop and their mirrors (the AlexNet paper's test-time
                average), ten forward passes per image.

        Returns:
            ``(n, num_classes)`` float32.
        """
        if crops not in CROPS:
            raise ValueError(f"crops must be one of {CROPS}. Received: crops={crops!r}")
        resized = np.asarray(resized)
        if crops == "center":
            inputs = center_crop(resized)[:, np.newaxis]
        else:
            inputs = ten_crops(resized)
        count, per_image = inputs.shape[:2]
        flat = inputs.reshape(count * per_image, *inputs.shape[2:])
        forward = self._probability_forward()
        rows = [
            forward(normalize(flat[start : start + BATCH_SIZE]))[PROBABILITY_LAYER]
            for start in range(0, len(flat), BATCH_SIZE)
        ]
        if not rows:
            return np.zeros((0, self.num_classes), np.float32)
        probabilities = np.concatenate(rows).reshape(count, per_image, -1)
        return probabilities.mean(axis=1, dtype=np.float64).astype(np.float32)

    def analyze(self, image: Image.Image, top: int = 5) -> Analysis:
        """Top-k and the activation of every named layer of one RGB image, in one forward pass."""
        top = check_top(top)
        crop = np.ascontiguousarray(center_crop(resize_for_network(image)))
        outputs = self._full_forward()(normalize(crop)[np.newaxis])
        activations = {name: outputs[name][0] for name in NAMED_LAYERS}
        probabilities = self._finite(outputs[PROBABILITY_LAYER])[0]
        return Analysis(self._top(probabilities, top), activations, crop)

    def _finite(self, probabilities: np.ndarray) -> np.ndarray:
        return check_finite(probabilities, self.name)

    def _top(self, probabilities: np.ndarray, top: int) -> list[Prediction]:
        return top_predictions(probabilities, self.labels, top)

    def recompile(self, precision: str | None = None) -> None:
        """Forget the compiled passes: the next call compiles with the execution path chosen
        now (after a measurement finished) and ``precision`` (when given)."""
        with self._lock:
            if precision is not None:
                self.precision = precision
            self._probabilities = self._everything = None

    def _probability_forward(self) -> CompiledForward:
        with self._lock:
            if self._probabilities is None:
                self._probabilities = CompiledForward(
                    self.model, (PROBABILITY_LAYER,), precision=self.precision
                )
            return self._probabilities

    def _full_forward(self) -> CompiledForward:
        with self._lock:
            if self._everything is None:
                layers = (*NAMED_LAYERS, PROBABILITY_LAYER)
                self._everything = CompiledForward(self.model, layers, precision=self.precision)
            return self._everything


def load_model_file(path: Path) -> keras.Model:
    """Load a ``.keras`` file with safe mode on, refusing anything that is not an AlexNet.

    Legacy HDF5 models (``.h5``) are refused whatever their name: the app never writes them,
    and Keras' HDF5 loader is the one that ignored safe mode in earlier releases. One loader,
    the one Keras hardens, reads every model file.
    """
    if not path.exists():
        raise ModelLoadError(f"{path}: model file not found")
    if not path.is_file():
        raise ModelLoadError(f"{path}: this is not a file")
    if path.suffix.lower() in (".h5", ".hdf5") or _is_hdf5(path):
        raise ModelLoadError(
            f"{path}: a legacy HDF5 (.h5) Keras model; this app loads only .keras files "
            "(HDF5 models are refused: they can carry Python code that their loader has let "
            "through before). If you trust the file, re-save it as .keras in Python "
            "(keras.saving.load_model, then model.save('name.keras'))"
        )
    if path.suffix.lower() != ".keras":
        raise ModelLoadError(f"{path}: not a Keras model file; expected a .keras file")
    if not zipfile.is_zipfile(path):
        raise ModelLoadError(f"{path}: not a Keras model file (a .keras file is a zip archive)")
    _refuse_foreign_objects(path)
    try:
        # safe_mode refuses Lambda layers and other serialized Python code: a model file is
        # a program, and this one may come from anywhere.
        model = keras.saving.load_model(path, compile=False, safe_mode=True)
    except Exception as error:  # Keras raises ValueError/TypeError/KeyError/OSError here
        message = str(error).strip().splitlines()[0] if str(error).strip() else ""
        lowered = str(error).lower()
        if "not a modeling function" in lowered or "non-modeling" in lowered:
            reason = (
                f"refused: the file calls a Keras function that is not part of a model ({message})"
            )
        elif "safe_mode" in lowered or "unsafe" in lowered or "lambda" in lowered:
            reason = _SAFE_MODE_REASON
        elif any(
            hint in lowered
            for hint in ("could not locate", "unknown layer", "could not deserialize")
        ):
            reason = f"the model uses layers this app does not know ({message})"
        else:
            reason = f"not a Keras model this app can read ({type(error).__name__}: {message})"
        raise ModelLoadError(f"{path}: {reason}") from None
    if not isinstance(model, keras.Model):
        raise ModelLoadError(f"{path}: the file holds a {type(model).__name__}, not a model")
    input_shape = tuple(model.input_shape) if not isinstance(model.input_shape, list) else None
    if input_shape != (None, *INPUT_SHAPE):
        raise ModelLoadError(
            f"{path}: wrong input shape {model.input_shape}; an AlexNet takes "
            f"(None, {', '.join(map(str, INPUT_SHAPE))}) images"
        )
    names = {layer.name for layer in model.layers}
    missing = [name for name in (*NAMED_LAYERS, PROBABILITY_LAYER) if name not in names]
    if missing:
        raise ModelLoadError(
            f"{path}: not an AlexNet built by this app (missing layers: {', '.join(missing)})"
        )
    broken = [
        layer.name
        for layer in model.layers
        if any(not np.isfinite(w).all() for w in layer.get_weights())
    ]
    if broken:
        raise ModelLoadError(
            f"{path}: the weights of {', '.join(broken)} hold NaN or infinite values (a training "
            "that diverged); this model cannot give meaningful answers"
        )
    return model


HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
_MAX_CONFIG_BYTES = 64 << 20  # an AlexNet's config.json is ~20 kB; more is not a model of ours
_SAFE_MODE_REASON = (
    "refused by safe mode: the file contains Python code (e.g. a Lambda layer), "
    "which could run anything; only models made of known layers are loaded"
)


def _is_hdf5(path: Path) -> bool:
    try:
        with open(path, "rb") as file:
            return file.read(len(HDF5_SIGNATURE)) == HDF5_SIGNATURE
    except OSError:
        return False


def _refuse_foreign_objects(path: Path) -> None:
    """Read the archive's ``config.json`` and refuse Python code or classes from outside
    Keras and this app before Keras builds anything (safe mode refuses them too; this names
    the culprit, and does not depend on every Keras release getting it right)."""
    try:
        with zipfile.ZipFile(path) as archive, archive.open("config.json") as member:
            text = member.read(_MAX_CONFIG_BYTES + 1)
        if len(text) > _MAX_CONFIG_BYTES:
            raise ModelLoadError(f"{path}: its config.json is far too large for an AlexNet")
        config = json.loads(text)
    except KeyError:
        raise ModelLoadError(f"{path}: not a Keras model file (no config.json inside)") from None
    except (OSError, zipfile.BadZipFile, UnicodeDecodeError, ValueError, RecursionError) as error:
        raise ModelLoadError(f"{path}: damaged Keras model file ({error})") from None
    custom = keras.saving.get_custom_objects()
    pending = [config]  # an explicit stack: a hostile file may nest thousands deep
    while pending:
        item = pending.pop()
        if isinstance(item, list):
            pending.extend(item)
            continue
        if not isinstance(item, dict):
            continue
        pending.extend(item.values())
        name = item.get("class_name")
        if not isinstance(name, str):
            continue
        if name in ("Lambda", "__lambda__"):
            raise ModelLoadError(f"{path}: {_SAFE_MODE_REASON}")
        module = item.get("module")
        registered = item.get("registered_name")
        ours = isinstance(registered, str) and registered in custom
        if module is None or module == "keras" or str(module).startswith("keras."):
            if isinstance(registered, str) and ">" in registered and not ours:
                raise ModelLoadError(
                    f"{path}: the model uses {registered!r}, a class this app does not "
                    "know; only models made of Keras' and this app's layers are loaded"
                )
            continue
        if not (ours and str(module).split(".")[0] == "alexnet_tf"):
            raise ModelLoadError(
                f"{path}: the model uses {module}.{name}, which is neither part of Keras "
                "nor of this app; only models made of known layers are loaded"
            )
