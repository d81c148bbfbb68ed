"""The first answer without TensorFlow: the cached flatbuffer run by LiteRT.

``LiteClassifier`` answers like ``inference.Classifier`` (``classify``, ``classify_batch``,
``analyze``, the same ``Prediction`` rows and class names) from the flatbuffer that
``flatbuffer_cache`` checked, run by LiteRT (``ai-edge-litert``, its XNNPACK CPU kernels). It
imports in ~0.1 s where TensorFlow takes 3-6 s, so ``classify photo.jpg`` and the app's first
top-5 do not wait for TensorFlow. Its probabilities match TensorFlow's within 1e-4 and its
layer maps within 1e-4 relative (tests/core/test_litert_engine.py). fp32 only: bf16 stays
with TensorFlow.

This module never imports TensorFlow; ``load`` returns ``None`` (and why) whenever the
flatbuffer is missing, stale or damaged, or LiteRT is not installed, and the caller then uses
TensorFlow as before.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import numpy as np
from PIL import Image

from .flatbuffer_cache import OUTPUTS, SIGNATURE, CachedFlatbuffer, engine_setting, load_cached
from .layer_names import INPUT_SHAPE, NAMED_LAYERS
from .predictions import (
    PROBABILITY_LAYER,
    Analysis,
    Prediction,
    check_finite,
    check_top,
    labels_for,
    top_predictions,
)
from .preprocess import center_crop, normalize, preprocess_image, resize_for_network

BATCH_SIZE = 32  # images per call in classify_batch, as the TensorFlow classifier
ENGINE = "litert"


class LiteClassifier:
    """A checked flatbuffer loaded in a LiteRT interpreter, with its class names.

    Build it with ``LiteClassifier.load``. One call runs at a time (LiteRT interpreters are
    not thread-safe); the app calls it from its model thread only anyway.

    Attributes:
        name: as ``Classifier.name``.
        labels: one class name per output.
        engine: ``"litert"``.
        precision: ``"fp32"`` (the only one it runs).
    """

    engine = ENGINE
    precision = "fp32"

    def __init__(self, cached: CachedFlatbuffer, labels):
        from ai_edge_litert.interpreter import Interpreter

        self.name = cached.source.name
        self.labels = tuple(str(label) for label in labels)
        self.path = cached.path
        # The interpreter keeps a reference to the bytes: they must outlive it.
        self._content = cached.content
        self._interpreter = Interpreter(
            model_content=self._content, num_threads=max(1, os.cpu_count() or 1)
        )
        runner = self._interpreter.get_signature_runner(SIGNATURE)
        inputs, outputs = runner.get_input_details(), runner.get_output_details()
        if set(inputs) != {"image"} or set(outputs) != set(OUTPUTS):
            raise ValueError(f"{cached.path}: not the signature this version builds")
        image = inputs["image"]
        if list(image["shape_signature"]) != [-1, *INPUT_SHAPE]:
            raise ValueError(f"{cached.path}: input shape {image['shape_signature']}")
        classes = int(outputs[PROBABILITY_LAYER]["shape"][-1])
        if classes != len(self.labels) or classes != cached.num_classes:
            raise ValueError(f"{cached.path}: {classes} outputs, {len(self.labels)} labels")
        self._input = image["index"]
        self._outputs = {name: outputs[name]["index"] for name in OUTPUTS}
        self._batch = None  # the batch size the tensors are allocated for
        self._lock = threading.Lock()

    @classmethod
    def load(cls, model_spec: str | Path | None = None) -> tuple[LiteClassifier | None, str]:
        """The LiteRT classifier of ``model_spec`` (as ``Classifier.load`` takes it), or
        ``(None, why not)`` when TensorFlow must answer instead.

        Raises:
            ModelLoadError: ``model_spec`` names a folder without a model (as TensorFlow's
                classifier would say), or ``ALEXNET_STUDIO_ENGINE`` holds a wrong value.
        """
        if engine_setting() == "tensorflow":
            return None, "the engine is set to tensorflow"
        if model_spec is None:
            from .weights.store import weights_installed

            if not weights_installed():
                return None, "no ImageNet weights installed"
        cached, reason = _take_prefetched(model_spec) or load_cached(model_spec)
        if cached is None:
            return None, reason
        try:
            if cached.source.model_file is None:
                from .labels import imagenet_labels

                labels = imagenet_labels()
            else:
                labels = labels_for(cached.source.model_file, cached.num_classes)
        except Exception as error:  # the TensorFlow path reports a bad labels.json in full
            return None, str(error)
        try:
            return cls(cached, labels), "ok"
        except ImportError:
            return None, "LiteRT (ai-edge-litert) is not installed"
        except (ValueError, RuntimeError) as error:  # a flatbuffer LiteRT refuses
            return None, f"LiteRT cannot load {cached.path.name}: {error}"

    @property
    def num_classes(self) -> int:
        """Number of classes (model outputs)."""
        return len(self.labels)

    @property
    def model(self):
        """No Keras model here: callers that need one load TensorFlow's classifier."""
        return None

    def conv1_kernel(self) -> np.ndarray | None:
        """conv1's weights as Keras holds them, ``(11, 11, 3, 96)``, read from the flatbuffer."""
        for detail in self._interpreter.get_tensor_details():
            if tuple(detail["shape"]) == (96, 11, 11, 3):  # TFLite keeps filters OHWI
                try:
                    return np.transpose(self._interpreter.get_tensor(detail["index"]), (1, 2, 3, 0))
                except ValueError:
                    return None
        return None

    def _run(self, batch: np.ndarray, names) -> dict[str, np.ndarray]:
        """Outputs ``names`` for a preprocessed float32 ``(n, 227, 227, 3)`` batch."""
        batch = np.ascontiguousarray(batch, np.float32)
        with self._lock:
            if self._batch != batch.shape[0]:
                self._interpreter.resize_tensor_input(self._input, batch.shape, strict=False)
                self._interpreter.allocate_tensors()
                self._batch = batch.shape[0]
            self._interpreter.set_tensor(self._input, batch)
            self._interpreter.invoke()
            return {name: self._interpreter.get_tensor(self._outputs[name]) for name in names}

    def classify(self, image: Image.Image, top: int = 5) -> list[Prediction]:
        """Top-``top`` predictions for one RGB image (centre crop)."""
        return self.classify_batch([image], top=top)[0]

    def classify_batch(self, images: list[Image.Image], top: int = 5) -> list[list[Prediction]]:
        """Top-``top`` predictions for each of ``images`` (RGB), in order."""
        top = check_top(top)
        results = []
        for start in range(0, len(images), BATCH_SIZE):
            chunk = images[start : start + BATCH_SIZE]
            batch = np.stack([preprocess_image(image) for image in chunk])
            probabilities = check_finite(
                self._run(batch, (PROBABILITY_LAYER,))[PROBABILITY_LAYER], self.name
            )
            results.extend(top_predictions(row, self.labels, top) for row in probabilities)
        return results

    def analyze(self, image: Image.Image, top: int = 5) -> Analysis:
        """Top-k and the activation of every named layer of one RGB image, in one pass."""
        top = check_top(top)
        crop = np.ascontiguousarray(center_crop(resize_for_network(image)))
        outputs = self._run(normalize(crop)[np.newaxis], OUTPUTS)
        activations = {name: outputs[name][0] for name in NAMED_LAYERS}
        probabilities = check_finite(outputs[PROBABILITY_LAYER], self.name)[0]
        return Analysis(top_predictions(probabilities, self.labels, top), activations, crop)


_prefetches: dict = {}  # str(model spec) or None -> (thread, [its load_cached result])


def prefetch(model_spec: str | Path | None = None) -> None:
    """Start reading and checking ``model_spec``'s flatbuffer in a thread now;
    ``LiteClassifier.load`` of the same spec then takes it (waiting for it if needed).

    The app calls this first thing at launch, so reading and hashing 244 MB (~0.3 s) overlap
    importing Qt and building the window (file reads and hashing release the GIL). Only the
    check: the interpreter is made later, by the model thread, once the terminal is quiet
    (LiteRT prints a line when it creates its CPU delegate). Does nothing when the engine is
    set to tensorflow.
    """
    try:
        if engine_setting() == "tensorflow":
            return
    except Exception:  # a wrong setting is reported by the load itself, in its words
        return
    result = []

    def check() -> None:
        # Below the thread importing Qt and building the window: that one is shown first.
        if hasattr(os, "setpriority") and hasattr(threading, "get_native_id"):
            try:
                os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 8)
            except OSError:
                pass
        try:
            result.append(load_cached(model_spec))
        except Exception:  # the model thread's own load reports it
            pass

    thread = threading.Thread(target=check, name="flatbuffer-prefetch", daemon=True)
    _prefetches[None if model_spec is None else str(model_spec)] = (thread, result)
    thread.start()


def _take_prefetched(model_spec):
    """The prefetched ``load_cached`` result of ``model_spec``, or None (none, or it raised)."""
    pending = _prefetches.pop(None if model_spec is None else str(model_spec), None)
    if pending is None:
        return None
    thread, result = pending
    thread.join()
    return result[0] if result else None


# TensorFlow's start in a fresh process (import, model, first compilation) where measured:
# 6.0-6.5 s for the import alone on the 2-core AMD EPYC (issue 20). A lower bound is safer
# here: it only decides how long a list must be before TensorFlow's faster batches win.
TENSORFLOW_START_SECONDS = 5.0


def measured_engines(entry: dict | None) -> dict | None:
    """``{"single": engine, "batch": engine}`` chosen from a per-machine measurement entry
    (``entry["litert"]`` beside TensorFlow's paths), or None when LiteRT was not measured."""
    litert = (entry or {}).get("litert")
    if not isinstance(litert, dict) or not litert.get("single_ms"):
        return None
    inference = entry["inference"]
    tf_single = min((v for v in inference["single_ms"].values() if v), default=None)
    tf_rate = max((v for v in inference["batch_images_per_s"].values() if v), default=None)
    single = "litert" if tf_single is None or litert["single_ms"] <= tf_single else "tensorflow"
    lite_rate = litert.get("batch_images_per_s") or 0
    batch = "litert" if tf_rate is None or lite_rate >= tf_rate else "tensorflow"
    return {"single": single, "batch": batch}


def litert_preferred(count: int, *, tensorflow_loaded: bool = False, entry=None) -> bool:
    """True when LiteRT should classify ``count`` images (fp32), if its flatbuffer is valid.

    In a fresh process (``tensorflow_loaded=False``: ``classify``) TensorFlow first costs
    its start, which LiteRT does not; for a long list TensorFlow's faster batches (where the
    per-machine measurement found them faster) may win that back. With both loaded (the app)
    the faster engine for one image is used. Unmeasured: LiteRT (on the AVX2 EPYC it was as
    fast as TensorFlow's best path for one image, and 5 s ahead at the start).
    """
    setting = engine_setting()
    if setting != "auto":
        return setting == "litert"
    if entry is None:
        try:
            from . import speed

            entry = None if speed.forced_path() else speed.read_measurement()
        except Exception:  # a damaged cache or setting: the unmeasured default
            entry = None
    if not entry or not isinstance(entry.get("litert"), dict):
        return True
    engines = measured_engines(entry)
    if engines is None:
        return True
    if tensorflow_loaded:
        return engines["single"] == "litert"
    if count <= 1:
        return True  # TensorFlow's start alone is seconds; one image is tens of milliseconds
    litert = entry["litert"]
    tf_rate = max((v for v in entry["inference"]["batch_images_per_s"].values() if v), default=0)
    lite_seconds = count / max(litert.get("batch_images_per_s") or 1e-9, 1e-9)
    tf_seconds = TENSORFLOW_START_SECONDS + count / max(tf_rate, 1e-9)
    return lite_seconds <= tf_seconds
