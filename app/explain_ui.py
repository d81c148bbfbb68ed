"""What units see, in the window: attribution and preferred image of the clicked channel,
occlusion map of a class, the model summary.

Attribution, occlusion and the summary run in the model thread (``ModelService.submit``):
it owns the model and already orders requests after the image they belong to. Occlusion
stops between batches when cancelled or when a newer image is asked for. A preferred image
takes 20-30 s, so it runs in a Python thread of its own (a ``threading.Thread`` for the
reason ``model_worker`` gives) on the loaded model, and is cached per model and unit in
the data folder. Nothing here imports TensorFlow in the GUI thread.
"""

from __future__ import annotations

import logging
import threading
import weakref

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QAction

from alexnet_tf.errors import AlexNetStudioError

from .background import BackgroundRuns, RunsInBackground
from .explain_panels import ChannelExplainPanel, ModelSummaryDialog
from .log import short_error_message
from .model_worker import lower_thread_priority

logger = logging.getLogger("alexnet_studio.app.explain")
STOPPED_FOR_NEW_IMAGE = "A new image: the occlusion map was stopped."


class ExplainWorker(QObject):
    """Its ``compute_*`` methods run in the model thread; every signal is a result."""

    unit_attributed = Signal(int, str, int, object)  # request id, layer, unit, RGB picture
    # Each occlusion signal carries its run's number: a cancelled run's last words must not
    # end the run the user started after it.
    occlusion_progressed = Signal(int, int, int)  # run, done, total
    occlusion_computed = Signal(int, object)  # run, OcclusionResult
    occlusion_ended = Signal(int, str)  # run, why it ended without a result
    summary_computed = Signal(str, object)  # model name, summary dict
    summary_failed = Signal(str)

    def __init__(self, service):
        super().__init__()
        self.service = service
        self.occlusion_stop = threading.Event()
        self._attributions = {}  # (model id, layer) -> UnitAttribution, compiled once
        self._probabilities = None  # (model id, compiled function)

    def _classifier(self):
        return self.service.worker.classifier

    def compute_attribution(self, request_id: int, layer: str, unit: int, crop_rgb) -> None:
        classifier = self._classifier()
        if classifier is None or request_id != self.service.worker.latest_request:
            return
        from alexnet_tf.explain.attribution import UnitAttribution, attribution_image
        from alexnet_tf.preprocess import normalize

        key = (id(classifier.model), layer)
        if key not in self._attributions:
            self._attributions = {k: v for k, v in self._attributions.items() if k[0] == key[0]}
            self._attributions[key] = UnitAttribution(classifier.model, layer)
        result = self._attributions[key](normalize(crop_rgb), unit)
        self.unit_attributed.emit(request_id, layer, unit, attribution_image(result.gradient))

    def compute_occlusion(self, run: int, request_id: int, class_index: int, crop_rgb) -> None:
        classifier = self._classifier()
        if classifier is None:
            self.occlusion_ended.emit(run, "No model is loaded.")
            return
        from alexnet_tf.explain.attribution import (
            OcclusionCancelled,
            occlusion_map,
            probability_function,
        )
        from alexnet_tf.preprocess import normalize

        if self._probabilities is None or self._probabilities[0] != id(classifier.model):
            self._probabilities = (id(classifier.model), probability_function(classifier.model))

        def should_stop() -> bool:
            newer = self.service.worker.latest_request != request_id
            return self.occlusion_stop.is_set() or newer

        try:
            result = occlusion_map(
                self._probabilities[1], normalize(crop_rgb), class_index,
                progress=lambda done, total: self.occlusion_progressed.emit(run, done, total),
                should_stop=should_stop,
            )  # fmt: skip
        except OcclusionCancelled:
            newer = self.service.worker.latest_request != request_id
            self.occlusion_ended.emit(run, STOPPED_FOR_NEW_IMAGE if newer else "Cancelled.")
            return
        except Exception as error:
            logger.exception("Occlusion failed")
            self.occlusion_ended.emit(run, short_error_message(error))
            return
        self.occlusion_computed.emit(run, result)

    def compute_summary(self) -> None:
        classifier = self._classifier()
        if classifier is None:
            self.summary_failed.emit("No model is loaded.")
            return
        try:
            from alexnet_tf.explain.summary import summarize

            summary = summarize(classifier.model)
        except Exception as error:
            logger.exception("Model summary failed")
            self.summary_failed.emit(short_error_message(error))
            return
        self.summary_computed.emit(classifier.name, summary)


class PreferredImageRun(RunsInBackground, QObject):
    """One preferred image at a time, in a Python thread, cached in the data folder."""

    progressed = Signal(int, int)  # step, steps
    made = Signal(object)  # PreferredImage
    ended = Signal(str)  # the message to show (done, cancelled, failed)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.runs = BackgroundRuns("preferred-image")
        # model -> its cache folder: the weights (244 MB) are hashed once per loaded model
        self._folders = weakref.WeakKeyDictionary()

    def start(self, model, layer: str, unit: int) -> None:
        # The previous run is waited for (it stops between two steps: well under a second)
        # so that its "Cancelled." never lands on the new run's panel.
        self.runs.stop()
        self.runs.start(self._run, model, layer, unit)

    def _run(self, model, layer: str, unit: int, stop: threading.Event) -> None:
        lower_thread_priority()
        try:
            from alexnet_tf.explain.preferred import (
                PreferredImageCancelled,
                PreferredImageMaker,
                preferred_cache_folder,
                read_cached,
                settings_for,
                write_cached,
            )

            settings = settings_for(layer)
            if model not in self._folders:
                self._folders[model] = preferred_cache_folder(model)
            folder = self._folders[model]
            image = read_cached(folder, layer, unit, settings)
            if image is None:
                maker = PreferredImageMaker(model, layer)
                image = maker.make(
                    [unit], settings, progress=self.progressed.emit, should_stop=stop.is_set
                )[0]
                write_cached(folder, image, settings)
                how = f"made in {image.seconds:.0f} s"
            else:
                how = "from the cache"
        except PreferredImageCancelled:
            self.ended.emit("Cancelled.")
            return
        except (AlexNetStudioError, OSError, ValueError) as error:
            self.ended.emit(str(error))
            return
        except Exception as error:
            logger.exception("Preferred image of %s unit %s failed", layer, unit)
            self.ended.emit(short_error_message(error))
            return
        self.made.emit(image)
        self.ended.emit(f"{layer} unit {unit} reaches {image.activation:.4g} on it ({how}).")


class ExplainUi(QObject):
    """Wires the panels to the window's model thread and the preferred-image thread."""

    def __init__(self, window):
        super().__init__(window)
        self.window = window
        self.worker = ExplainWorker(window.service)
        self.preferred_run = PreferredImageRun(self)
        self.channel_panel = ChannelExplainPanel()
        window.layer_view.detail.layout().addWidget(self.channel_panel)
        window.layer_view.channel_shown.connect(self._on_channel_shown)
        self.channel_panel.preferred_requested.connect(self._on_preferred_requested)
        self.channel_panel.preferred_cancelled.connect(self.preferred_run.cancel)
        self.preferred_run.progressed.connect(self.channel_panel.run_progressed)
        self.preferred_run.made.connect(self.channel_panel.set_preferred)
        self.preferred_run.ended.connect(self.channel_panel.run_ended)
        self.worker.unit_attributed.connect(self._on_unit_attributed)

        self.occlusion = window.gradcam_view.occlusion
        self.occlusion.requested.connect(self._on_occlusion_requested)
        self.occlusion.cancelled.connect(self.worker.occlusion_stop.set)
        self.occlusion_run = 0  # the number of the run the panel shows
        self._occlusion_stopped_for_image = False
        self.worker.occlusion_progressed.connect(self._on_occlusion_progressed)
        self.worker.occlusion_computed.connect(self._on_occlusion_computed)
        self.worker.occlusion_ended.connect(self._on_occlusion_ended)
        window.image_shown.connect(self._on_image_shown)

        self.summary_dialog = ModelSummaryDialog(window)
        self.summary_action = QAction("Model summary…", window)
        self.summary_action.setStatusTip(
            "Each layer's output shape, parameters, multiply-adds, memory and measured time"
        )
        self.summary_action.triggered.connect(self.show_summary)
        self.worker.summary_computed.connect(self.summary_dialog.set_summary)
        self.worker.summary_failed.connect(self.summary_dialog.set_error)
        window.model_menu.addAction(self.summary_action)

    def _submit(self, method, *args) -> None:
        self.window.service.submit(method, *args)

    def _on_channel_shown(self, layer: str, unit: int) -> None:
        self.channel_panel.show_unit(layer, unit)
        result = self.window.current_result
        if result is not None:
            crop = result.analysis.crop_rgb
            self._submit(self.worker.compute_attribution, result.request_id, layer, unit, crop)

    def _on_unit_attributed(self, request_id: int, layer: str, unit: int, rgb) -> None:
        if request_id == self.window.current_request:
            self.channel_panel.set_attribution(layer, unit, rgb)

    def _on_preferred_requested(self, layer: str, unit: int) -> None:
        classifier = self.window.service.worker.classifier
        if classifier is None or not self.window.model_ready:
            self.channel_panel.run_ended("Wait for the model to load.")
            return
        self.channel_panel.run_started(layer, unit)
        self.preferred_run.start(classifier.model, layer, unit)

    def _on_image_shown(self, name: str) -> None:
        self.channel_panel.clear()  # the channel card was cleared for the new image too
        # The model thread stops a run by itself when a newer image is asked for; it may
        # have said so already, or not yet.
        stopped = self.occlusion.running or self._occlusion_stopped_for_image
        self._occlusion_stopped_for_image = False
        self.occlusion.set_image(self.window.current_result.display_rgb)
        if stopped:
            self.occlusion_run += 1
            self.occlusion.run_ended(STOPPED_FOR_NEW_IMAGE)

    def _on_occlusion_requested(self) -> None:
        result = self.window.current_result
        class_index = self.window.gradcam_view.chosen_class()
        if result is None or class_index is None:
            self.occlusion.run_ended("Classify an image first.")
            return
        self.worker.occlusion_stop.clear()
        self.occlusion_run += 1
        self.occlusion.run_started()
        crop = result.analysis.crop_rgb
        run = self.occlusion_run
        self._submit(self.worker.compute_occlusion, run, result.request_id, class_index, crop)

    def _on_occlusion_progressed(self, run: int, done: int, total: int) -> None:
        if run == self.occlusion_run:
            self.occlusion.run_progressed(done, total)

    def _on_occlusion_computed(self, run: int, result) -> None:
        if run == self.occlusion_run:
            self.occlusion.set_result(result)

    def _on_occlusion_ended(self, run: int, message: str) -> None:
        if run == self.occlusion_run:
            self._occlusion_stopped_for_image = message == STOPPED_FOR_NEW_IMAGE
            self.occlusion.run_ended(message)

    def show_summary(self) -> None:
        """Open the summary dialog and measure the loaded model in the model thread."""
        info = self.window.model_info
        self.summary_dialog.begin(info.name if info else "No model")
        self.summary_dialog.show()
        self.summary_dialog.raise_()
        self._submit(self.worker.compute_summary)

    def shutdown(self) -> None:
        """Stop the preferred-image thread and any occlusion run (at the window's close)."""
        self.worker.occlusion_stop.set()
        self.preferred_run.stop()


def install_explain(window) -> ExplainUi:
    """Add the explanation panels to the Layers view and the Class activation map tab, and
    *Model summary…* to the Model menu."""
    return ExplainUi(window)
