"""The one thread that owns the model: loads it, classifies, analyzes, computes Grad-CAM.

``ModelService`` lives in the GUI thread and is what the window talks to; its requests
reach ``ModelWorker`` through a queue read by the model thread, and results come back as
signals. TensorFlow and ``alexnet_tf.inference`` are imported off the GUI thread, so the
window appears before TensorFlow is loaded and never waits for it.

The first answer does not wait for TensorFlow either: when the model's LiteRT flatbuffer is
cached and valid (``alexnet_tf.flatbuffer_cache``), the model thread loads it in a fraction of
a second (``LiteClassifier``, no TensorFlow) and answers the top-5 and every layer map from it,
while a second thread (``tensorflow-loader``) imports TensorFlow, loads the same model and
hands it to the model thread for what needs it (Grad-CAM, bf16, batches where TensorFlow is
measured faster). A Grad-CAM asked for meanwhile is computed when TensorFlow arrives. Results
already shown are never recomputed by the other engine, so the first top-5 stays as shown.
Without a valid flatbuffer the model loads with TensorFlow as before, and the flatbuffer is
built in a background process for the next start.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image
from PySide6.QtCore import QObject, Signal

from alexnet_tf.errors import AlexNetStudioError, ImageLoadError, WeightsNotInstalledError
from alexnet_tf.images import load_image

from .log import log_path, short_error_message

logger = logging.getLogger("alexnet_studio.app.worker")

DISPLAY_SIZE = 1200  # longest side of the image sent to the window (no need for 24 MP)
THUMBNAIL_SIZE = 56
BATCH_CHUNK = 8  # images per forward pass in a batch: progress stays smooth, passes stay quick


@dataclass
class ModelInfo:
    """What the window needs to know about the loaded model."""

    name: str
    labels: tuple[str, ...]
    layer_shapes: dict[str, tuple[int, ...]]
    conv1_kernel: np.ndarray
    is_imagenet: bool
    seconds: float = 0.0
    engine: str = "tensorflow"  # what answers first: "litert" or "tensorflow"


@dataclass
class ImageResult:
    """One analyzed image: its picture, top-k and every layer's activations."""

    request_id: int
    name: str
    path: Path | None
    display_rgb: np.ndarray
    original_size: tuple[int, int]
    analysis: object  # alexnet_tf.inference.Analysis
    seconds: float
    grids: dict = field(default_factory=dict)  # layer -> QImage of its feature grid
    grid_columns: dict = field(default_factory=dict)  # layer -> tiles per row in that grid


@dataclass
class BatchRow:
    """One row of the batch table: predictions, or why the file could not be used."""

    index: int
    path: Path
    predictions: list = field(default_factory=list)
    thumbnail: np.ndarray | None = None
    error: str | None = None


def _display_copy(image: Image.Image) -> np.ndarray:
    copy = image.copy()
    copy.thumbnail((DISPLAY_SIZE, DISPLAY_SIZE), Image.BILINEAR)
    return np.asarray(copy, np.uint8)


def lower_thread_priority(niceness: int = 8) -> None:
    """Make the calling thread (and the threads it starts, such as TensorFlow's pools) yield
    the CPU to the GUI thread. On a 2-core machine TensorFlow would otherwise take both cores
    and the window would stutter. Linux only; elsewhere a no-op."""
    if hasattr(os, "setpriority") and hasattr(threading, "get_native_id"):
        try:
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), niceness)
        except OSError:
            pass


def _grey_image() -> Image.Image:
    """The neutral image passes are compiled (and layer shapes read) on."""
    return Image.new("RGB", (256, 256), (128, 128, 128))


def _warm_up(classifier):
    """Compile the classifier's passes on a grey image now, not on the user's image; return
    that image's analysis."""
    warm = classifier.analyze(_grey_image())
    classifier.classify_batch([_grey_image()])  # the batch pass is compiled separately
    return warm


def _gradcam_for(classifier, warm):
    """Grad-CAM of ``classifier``'s model, traced once on the warm-up image."""
    from alexnet_tf.gradcam import GradCam
    from alexnet_tf.preprocess import normalize

    gradcam = GradCam(classifier.model)
    gradcam(normalize(warm.crop_rgb), 0)
    return gradcam


def _litert_preferred_for_one() -> bool:
    from alexnet_tf.litert_classifier import litert_preferred

    return litert_preferred(1, tensorflow_loaded=True)


def _start_flatbuffer_build(model_spec) -> None:
    """Build the model's LiteRT flatbuffer in a background process (if it has none)."""
    try:
        from alexnet_tf.flatbuffer_cache import start_background_build

        start_background_build(model_spec)
    except Exception:  # the app works without it; the next start uses TensorFlow again
        logger.exception("Could not start building the LiteRT flatbuffer")


class ModelWorker(QObject):
    """Its methods run in the model thread (one request at a time); every signal is a result."""

    model_loading_started = Signal(str)
    model_loaded = Signal(object)  # ModelInfo
    model_load_failed = Signal(str)
    weights_missing = Signal(str)
    image_analyzed = Signal(object)  # ImageResult
    image_failed = Signal(str, str)  # file name, message
    batch_row_classified = Signal(object)  # BatchRow
    batch_finished = Signal(int, bool)  # rows done, cancelled
    gradcam_computed = Signal(int, int, object)  # request id, class index, (h, w) map
    tensorflow_loaded = Signal(float)  # seconds since the load began; after a LiteRT start
    error_occurred = Signal(str)

    def __init__(self):
        super().__init__()
        self.classifier = None  # what answers images now: LiteClassifier or Classifier
        self.lite_classifier = None
        self.tf_classifier = None
        self.enqueue = None  # set by ModelService: runs (method, args) in the model thread
        self._generation = 0  # one per load_model: a late TensorFlow of an older model is dropped
        self.loaders = []  # tensorflow-loader threads started (joined when the app closes)
        self._pending_gradcam = None  # (request id, class index) asked before TensorFlow came
        self._tensorflow_waiting = None  # (spec, generation, started) of a LiteRT start
        self.latest_request = 0  # set by ModelService from the GUI thread; older work is skipped
        self.batch_cancelled = threading.Event()
        self._gradcam = None
        self._last_crop = None
        self._last_request = 0
        self.precision = "fp32"  # of inference; "bf16" is a setting of the app

    def load_model(self, model_spec) -> None:
        """Load the ImageNet model (``None``), a ``.keras`` file or a job folder."""
        description = "ImageNet (BVLC AlexNet)" if model_spec is None else Path(model_spec).name
        self.model_loading_started.emit(description)
        self._generation += 1
        started = time.perf_counter()
        self._tensorflow_waiting = None
        if self._load_litert(model_spec, started):
            # Started by the window's next request (after the first image's analysis): the
            # import holds the GIL for seconds, and the first top-5 must not wait for it.
            self._tensorflow_waiting = (model_spec, self._generation, started)
            return
        try:
            from alexnet_tf.inference import Classifier  # imports TensorFlow, off the GUI thread

            classifier = Classifier.load(model_spec, precision=self.precision)
            warm = _warm_up(classifier)
            gradcam = _gradcam_for(classifier, warm)
        except WeightsNotInstalledError as error:
            self.classifier = self.lite_classifier = self.tf_classifier = None
            self.weights_missing.emit(str(error))
            return
        except AlexNetStudioError as error:
            self.model_load_failed.emit(str(error))
            return
        except Exception as error:
            logger.exception("Loading model %s failed", model_spec)
            self.model_load_failed.emit(short_error_message(error))
            return
        self.classifier = self.tf_classifier = classifier
        self.lite_classifier = None
        self._gradcam = gradcam
        self._last_crop = None
        self._pending_gradcam = None
        info = ModelInfo(
            name=classifier.name,
            labels=classifier.labels,
            layer_shapes={name: tuple(a.shape) for name, a in warm.activations.items()},
            conv1_kernel=classifier.model.get_layer("conv1").kernel.numpy(),
            is_imagenet=model_spec is None,
            seconds=time.perf_counter() - started,
        )
        logger.info("Loaded model %s in %.2f s (TensorFlow)", info.name, info.seconds)
        self.model_loaded.emit(info)
        if self.precision == "fp32":
            _start_flatbuffer_build(model_spec)  # the next start answers without TensorFlow

    def _load_litert(self, model_spec, started: float) -> bool:
        """Load the model's cached flatbuffer into LiteRT and announce it; False (nothing
        emitted) when there is none to trust, or bf16 is asked for."""
        if self.precision != "fp32":
            return False
        try:
            from alexnet_tf.litert_classifier import LiteClassifier

            lite, reason = LiteClassifier.load(model_spec)
            warm = lite.analyze(_grey_image()) if lite is not None else None
        except Exception:  # a bad spec is reported by the TensorFlow path, in its words
            logger.exception("The LiteRT engine could not load %s", model_spec)
            return False
        if lite is None:
            logger.info("Loading %s with TensorFlow: LiteRT flatbuffer %s", model_spec, reason)
            return False
        self.classifier = self.lite_classifier = lite
        self.tf_classifier = self._gradcam = None
        self._last_crop = None
        self._pending_gradcam = None
        info = ModelInfo(
            name=lite.name,
            labels=lite.labels,
            layer_shapes={name: tuple(a.shape) for name, a in warm.activations.items()},
            conv1_kernel=lite.conv1_kernel(),
            is_imagenet=model_spec is None,
            seconds=time.perf_counter() - started,
            engine=lite.engine,
        )
        logger.info("Loaded model %s in %.2f s (LiteRT)", info.name, info.seconds)
        self.model_loaded.emit(info)
        return True

    def load_tensorflow(self) -> None:
        """After a LiteRT start: load the same model with TensorFlow in a thread of its own;
        the model thread adopts it (``_adopt_tensorflow``) between requests."""
        if self._tensorflow_waiting is None:
            return
        model_spec, generation, started = self._tensorflow_waiting
        self._tensorflow_waiting = None
        precision = self.precision

        def load() -> None:
            lower_thread_priority()
            try:
                from alexnet_tf.inference import Classifier

                classifier = Classifier.load(model_spec, precision=precision)
                gradcam = _gradcam_for(classifier, _warm_up(classifier))
            except Exception:  # the LiteRT engine keeps answering; Grad-CAM says why not
                logger.exception("Loading %s with TensorFlow failed", model_spec)
                classifier = gradcam = None
            if self.enqueue is not None:
                self.enqueue(self._adopt_tensorflow, (generation, classifier, gradcam, started))

        loader = threading.Thread(target=load, name="tensorflow-loader", daemon=True)
        self.loaders = [thread for thread in self.loaders if thread.is_alive()] + [loader]
        loader.start()

    def _adopt_tensorflow(self, generation, classifier, gradcam, started: float) -> None:
        """Runs in the model thread: TensorFlow's copy of the current model has arrived."""
        if generation != self._generation:
            return  # another model was chosen meanwhile
        if classifier is None:
            self._pending_gradcam = None
            self.error_occurred.emit(
                "TensorFlow could not load this model, so class activation maps are not "
                f"available; classification goes on. Details were written to {log_path()}."
            )
            return
        self.tf_classifier = classifier
        self._gradcam = gradcam
        self._choose_classifier()
        seconds = time.perf_counter() - started
        logger.info("TensorFlow has the model too, %.2f s after its load began", seconds)
        self.tensorflow_loaded.emit(seconds)
        if self._pending_gradcam is not None:
            request_id, class_index = self._pending_gradcam
            self._pending_gradcam = None
            self.compute_gradcam(request_id, class_index)

    def _choose_classifier(self) -> None:
        """What answers the next image: bf16 needs TensorFlow; in fp32 LiteRT unless the
        per-machine measurement found TensorFlow faster for one image here."""
        lite, tf_classifier = self.lite_classifier, self.tf_classifier
        if tf_classifier is not None and (
            lite is None or self.precision != "fp32" or not _litert_preferred_for_one()
        ):
            self.classifier = tf_classifier
            self.lite_classifier = None  # its ~0.5 GB is not needed any more
        elif lite is not None:
            self.classifier = lite

    def analyze(self, request_id: int, source, grid_columns=None) -> None:
        """Classify one image and keep every layer's activations; ``source`` is a path or
        a ``(name, PIL image)`` pair (pasted images have no file). ``grid_columns`` maps
        layers to tiles per row: their feature grids are drawn here, off the GUI thread."""
        if request_id < self.latest_request or self.classifier is None:
            return  # a newer image was asked for meanwhile, or no model: nothing to show
        started = time.perf_counter()
        if isinstance(source, tuple):
            name, image, path = source[0], source[1], None
        else:
            path = Path(source)
            name = path.name
            try:
                image = load_image(path)
            except ImageLoadError as error:
                self.image_failed.emit(name, f"{error.path.name}: {error.reason}")
                return
        try:
            analysis = self.classifier.analyze(image)
            display = _display_copy(image)
            seconds = time.perf_counter() - started
            from .feature_grid_view import render_grids

            grid_columns = dict(grid_columns or {})
            grids = render_grids(analysis.activations, grid_columns)
        except Exception as error:
            logger.exception("Analyzing %s failed", name)
            self.error_occurred.emit(short_error_message(error))
            return
        self._last_crop = analysis.crop_rgb
        self._last_request = request_id
        self.image_analyzed.emit(
            ImageResult(
                request_id, name, path, display, image.size, analysis, seconds, grids, grid_columns
            )
        )

    def recompile(self, precision: str | None) -> None:
        """Drop the compiled passes; the next image compiles them with the current choices."""
        if precision is not None:
            self.precision = precision
        if self.tf_classifier is not None:
            self.tf_classifier.recompile(precision)
            self._choose_classifier()
            _warm_up(self.tf_classifier)  # here, rather than on the user's next image

    def compute_gradcam(self, request_id: int, class_index: int) -> None:
        """Grad-CAM on conv5 of the last analyzed image for ``class_index``."""
        if self.classifier is None or self._last_crop is None or request_id != self._last_request:
            return
        if self._gradcam is None:  # TensorFlow is still loading: computed when it arrives
            self._pending_gradcam = (request_id, class_index)
            return
        try:
            from alexnet_tf.preprocess import normalize

            heatmap = self._gradcam(normalize(self._last_crop), class_index)
        except Exception as error:
            logger.exception("Grad-CAM failed")
            self.error_occurred.emit(short_error_message(error))
            return
        self.gradcam_computed.emit(request_id, class_index, heatmap)

    def classify_batch(self, paths) -> None:
        """Classify many files, a chunk at a time, emitting each row; stops when cancelled."""
        done = 0  # batch_cancelled was cleared by ModelService when it sent the request
        if self.classifier is None:
            self.batch_finished.emit(0, False)
            return
        try:
            for start in range(0, len(paths), BATCH_CHUNK):
                if self.batch_cancelled.is_set():
                    self.batch_finished.emit(done, True)
                    return
                rows, images = [], []
                for index in range(start, min(start + BATCH_CHUNK, len(paths))):
                    path = Path(paths[index])
                    try:
                        image = load_image(path)
                    except ImageLoadError as error:
                        rows.append(BatchRow(index, path, error=error.reason))
                        continue
                    thumbnail = image.copy()
                    thumbnail.thumbnail((THUMBNAIL_SIZE, THUMBNAIL_SIZE), Image.BILINEAR)
                    rows.append(BatchRow(index, path, thumbnail=np.asarray(thumbnail)))
                    images.append(image)
                good = [row for row in rows if row.error is None]
                if images:
                    for row, top in zip(good, self.classifier.classify_batch(images), strict=True):
                        row.predictions = top
                for row in rows:
                    self.batch_row_classified.emit(row)
                done += len(rows)
        except Exception as error:
            logger.exception("Batch classification failed")
            self.error_occurred.emit(short_error_message(error))
        self.batch_finished.emit(done, False)


class _ModelThread(threading.Thread):
    def isRunning(self) -> bool:  # noqa: N802 (the question callers ask a QThread)
        return self.is_alive()


class ModelService(QObject):
    """The window's handle on the model thread: starts it, sends requests, stops it.

    The model thread is a Python ``threading.Thread`` fed by a queue, not a ``QThread``:
    TensorFlow's pybind11 code re-acquires the GIL with its own thread state, which
    deadlocked when tracing a ``tf.function`` inside a ``QThread`` slot. Results still come
    back as Qt signals (emitted from the model thread, delivered queued in the GUI thread).
    """

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.worker = ModelWorker()
        self._requests: queue.Queue = queue.Queue()
        self.worker.enqueue = lambda method, args: self._requests.put((method, args))
        self._next_request = 0
        self.thread = _ModelThread(target=self._run, name="model-thread", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        lower_thread_priority()
        while True:
            request = self._requests.get()
            if request is None:
                return
            method, args = request
            try:
                method(*args)
            except Exception as error:  # a bug in a request must not end the thread
                logger.exception("Model thread request failed")
                self.worker.error_occurred.emit(short_error_message(error))

    def is_running(self) -> bool:
        return self.thread.is_alive()

    def load_model(self, model_spec=None) -> None:
        self._requests.put((self.worker.load_model, (model_spec,)))

    def analyze(self, source, grid_columns=None) -> int:
        """Ask for one image's analysis; returns the request id its result will carry."""
        self._next_request += 1
        self.worker.latest_request = self._next_request
        self._requests.put((self.worker.analyze, (self._next_request, source, grid_columns)))
        return self._next_request

    def load_tensorflow(self) -> None:
        """After a LiteRT start, begin loading TensorFlow (queued: after the requests the
        window has sent already, such as the first image's analysis)."""
        self._requests.put((self.worker.load_tensorflow, ()))

    def classify_batch(self, paths) -> None:
        self.worker.batch_cancelled.clear()
        self._requests.put((self.worker.classify_batch, (list(paths),)))

    def cancel_batch(self) -> None:
        self.worker.batch_cancelled.set()

    def compute_gradcam(self, request_id: int, class_index: int) -> None:
        self._requests.put((self.worker.compute_gradcam, (request_id, class_index)))

    def recompile(self, precision: str | None = None) -> None:
        """Compile the model's passes again: after the speed measurement chose this machine's
        paths, or with another inference ``precision`` ("fp32" or "bf16")."""
        self._requests.put((self.worker.recompile, (precision,)))

    def stop(self, timeout: float = 60.0) -> None:
        """Cancel what can be cancelled and wait for the thread to end."""
        self.worker.batch_cancelled.set()
        self.worker.latest_request = 1 << 62
        self._requests.put(None)
        self.thread.join(timeout)
        for loader in self.worker.loaders:  # TensorFlow must not be mid-import at exit
            loader.join(timeout)
