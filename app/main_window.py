"""The main window: the image and its top-5 on the left, what the network computed on the right.

It only draws and reacts. The model lives in ``ModelService``'s thread; this module imports
no TensorFlow, so the window is on screen before TensorFlow has finished loading.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QAction, QGuiApplication, QIcon, QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QFileDialog,
    QLabel,
    QMainWindow,
    QSizePolicy,
    QSplitter,
    QTabWidget,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from alexnet_tf.images import IMAGE_SUFFIXES
from alexnet_tf.paths import resource_path
from alexnet_tf.quiet import quiet_tensorflow

from .batch_view import BatchView
from .card import Card
from .drops import PathDrops
from .explain_ui import install_explain
from .filters_view import FiltersView
from .folder_evaluation import install_folder_evaluation
from .gradcam_view import GradCamView
from .image_sources import expand_paths, paths_from_mime_data, qimage_to_pil
from .image_view import ImageView
from .jobs.training_ui import install_training
from .layer_view import LayerView
from .log import (
    install_exception_hooks,
    log_path,
    logger,
    seconds_since_process_start,
    setup_logging,
)
from .main_thread_gc import MainThreadGarbageCollector
from .model_chooser import ModelChooser
from .model_worker import ModelService
from .notice_bar import NoticeBar
from .predictions_view import PredictionsView
from .settings import AppSettings
from .speed_watch import SpeedMeasurement
from .style import apply_style
from .weights_banner import WeightsBanner

APP_NAME = "AlexNet Studio"
IMAGE_FILTER = "Images (" + " ".join(f"*{suffix}" for suffix in IMAGE_SUFFIXES) + ");;All files (*)"


class MainWindow(QMainWindow):
    """The window a user lives in. ``open_paths`` is the single way images come in."""

    paths_dropped = Signal(object)  # list[Path]
    image_shown = Signal(str)  # name of the image whose results are now on screen

    def __init__(self, settings: AppSettings | None = None):
        super().__init__()
        self.settings = settings or AppSettings()
        self.setWindowTitle(APP_NAME)
        # Only turn dropped URLs into paths and hand them on; opening happens in open_paths.
        PathDrops(self, self.paths_dropped.emit)
        self.model_info = None
        self.model_ready = False
        self.current_request = 0
        self.current_result = None
        self._pending_source = None
        self._model_spec_loaded = None
        self._first_top5_logged = False

        self.garbage_collector = MainThreadGarbageCollector(self)  # before any thread starts
        self.service = ModelService(self)
        worker = self.service.worker
        worker.model_loading_started.connect(self._on_model_loading_started)
        worker.model_loaded.connect(self._on_model_loaded)
        worker.model_load_failed.connect(self._on_model_load_failed)
        worker.weights_missing.connect(self._on_weights_missing)
        worker.image_analyzed.connect(self._on_image_analyzed)
        worker.image_failed.connect(self._on_image_failed)
        worker.batch_row_classified.connect(self._on_batch_row_classified)
        worker.batch_finished.connect(self._on_batch_finished)
        worker.gradcam_computed.connect(self._on_gradcam_computed)
        worker.tensorflow_loaded.connect(self._on_tensorflow_loaded)
        worker.error_occurred.connect(self._on_error_occurred)
        self.paths_dropped.connect(self._on_paths_dropped)

        self._build_widgets()
        self._build_actions()
        self.training = install_training(self)  # Fine-tune and Jobs pages, Training menu
        self.folder_evaluation = install_folder_evaluation(self)  # Model > Evaluate on a folder…
        self.explain = install_explain(self)  # attribution, preferred image, occlusion, summary
        self.speed = SpeedMeasurement(self)
        self.speed.measured.connect(self._on_speed_measured)
        precision = self.settings.inference_precision()
        self.bf16_action.setChecked(precision == "bf16")
        self.bf16_action.toggled.connect(self._on_bf16_toggled)
        if precision != "fp32":
            self.service.recompile(precision)  # queued before the model load: applies to it
        geometry = self.settings.geometry()
        if geometry is None or not self.restoreGeometry(geometry):
            self.resize(1280, 800)

    # ----------------------------------------------------------------- building
    def _build_widgets(self) -> None:
        self.model_chooser = ModelChooser()
        self.model_chooser.model_chosen.connect(self._on_model_chosen)
        self.banner = WeightsBanner()
        self.banner.hide()
        self.banner.weights_installed.connect(self._on_weights_installed)
        self.notice = NoticeBar()

        self.image_title = QLabel("No image")
        self.image_title.setObjectName("heading")
        self.image_caption = QLabel("Drop images or a folder anywhere in the window.")
        self.image_caption.setObjectName("muted")
        self.image_caption.setWordWrap(True)
        self.image_view = ImageView("Drop images or a folder here\n\nCtrl+O open · Ctrl+V paste")
        self.predictions = PredictionsView()
        self.predictions.class_chosen.connect(self._on_class_chosen)
        predictions_title = QLabel("Top-5")
        predictions_title.setObjectName("heading")
        left = Card(margins=(14, 12, 14, 12))
        left_layout = left.box
        left_layout.setSpacing(6)
        left_layout.addWidget(self.image_title)
        left_layout.addWidget(self.image_caption)
        left_layout.addWidget(self.image_view, 1)
        left_layout.addSpacing(6)
        left_layout.addWidget(predictions_title)
        left_layout.addWidget(self.predictions)
        left.setMinimumWidth(320)

        self.layer_view = LayerView()
        atlas_panel = self.layer_view.atlas_panel
        atlas_panel.image_requested.connect(self._on_atlas_image_requested)
        atlas_panel.folder_chosen.connect(self.settings.set_atlas_folder)
        if self.settings.atlas_folder():
            atlas_panel.set_folder(self.settings.atlas_folder())
        self.filters_view = FiltersView()
        self.gradcam_view = GradCamView()
        self.gradcam_view.class_chosen.connect(self._on_gradcam_class_chosen)
        self.batch_view = BatchView()
        self.batch_view.cancel_requested.connect(self.service.cancel_batch)
        self.batch_view.export_requested.connect(self.export_csv)
        self.batch_view.row_activated.connect(self._on_batch_row_activated)
        self.tabs = QTabWidget()
        self.tabs.addTab(self.layer_view, "Layers")
        self.tabs.addTab(self.gradcam_view, "Class activation map")
        self.tabs.addTab(self.filters_view, "conv1 filters")
        self.tabs.addTab(self.batch_view, "Batch")

        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(left)
        splitter.addWidget(self.tabs)
        splitter.setStretchFactor(0, 0)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([380, 880])
        splitter.setHandleWidth(10)

        central = QWidget()
        layout = QVBoxLayout(central)
        layout.setContentsMargins(10, 10, 10, 6)
        layout.setSpacing(8)
        layout.addWidget(self.banner)
        layout.addWidget(self.notice)
        layout.addWidget(splitter, 1)
        self.setCentralWidget(central)

        self.model_status = QLabel("Starting…")
        self.statusBar().addPermanentWidget(self.model_status)

    def _build_actions(self) -> None:
        def action(text, slot, shortcut=None, tip=None):
            item = QAction(text, self)
            if shortcut is not None:
                item.setShortcut(QKeySequence(shortcut))
            item.setStatusTip(tip or text)
            item.triggered.connect(slot)
            return item

        self.open_action = action("Open images…", self.open_dialog, QKeySequence.StandardKey.Open)
        self.open_folder_action = action("Open folder…", self.open_folder_dialog, "Ctrl+Shift+O")
        self.paste_action = action("Paste image", self.paste, QKeySequence.StandardKey.Paste)
        self.export_action = action("Export batch as CSV…", self.export_csv, "Ctrl+E")
        self.quit_action = action("Quit", self.close, QKeySequence.StandardKey.Quit)
        self.open_model_action = action("Open .keras model…", self._open_model_file, "Ctrl+M")
        self.log_action = action("Show log file", self._show_log_path)

        menu = self.menuBar().addMenu("&File")
        menu.addActions([self.open_action, self.open_folder_action, self.paste_action])
        self.recent_menu = menu.addMenu("Recent images")
        self.recent_menu.aboutToShow.connect(self._fill_recent_menu)
        menu.addSeparator()
        menu.addAction(self.export_action)
        menu.addSeparator()
        menu.addAction(self.quit_action)
        model_menu = self.model_menu = self.menuBar().addMenu("&Model")
        model_menu.addAction(self.open_model_action)
        model_menu.addAction(
            action("ImageNet (BVLC AlexNet)", lambda: self.model_chooser.choose(None))
        )
        view_menu = self.menuBar().addMenu("&View")
        for number, title in enumerate(
            ["Layers", "Class activation map", "conv1 filters", "Batch"]
        ):
            view_menu.addAction(
                action(
                    title,
                    lambda checked=False, n=number: self.tabs.setCurrentIndex(n),
                    f"Ctrl+{number + 1}",
                )
            )
        view_menu.addSeparator()
        self.bf16_action = QAction("Compute in bf16 (faster only with bf16 units)", self)
        self.bf16_action.setCheckable(True)
        self.bf16_action.setToolTip(
            "Classify in bfloat16 instead of exact float32: faster on CPUs with AMX or "
            "AVX512_BF16 (see `alexnet-studio info`); probabilities differ slightly."
        )
        view_menu.addAction(self.bf16_action)
        view_menu.addSeparator()
        view_menu.addAction(action("Next layer", lambda: self._step_layer(1), "Ctrl+]"))
        view_menu.addAction(action("Previous layer", lambda: self._step_layer(-1), "Ctrl+["))
        help_menu = self.menuBar().addMenu("&Help")
        help_menu.addAction(self.log_action)
        dismiss = action("Dismiss message", self.notice.hide, "Esc")
        self.addAction(dismiss)

        toolbar = QToolBar("Main")
        toolbar.setObjectName("main-toolbar")
        toolbar.setMovable(False)
        toolbar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        self.open_action.setToolTip("Open images (Ctrl+O)")
        self.paste_action.setToolTip("Classify the image on the clipboard (Ctrl+V)")
        toolbar.addAction(self.open_action)
        toolbar.addAction(self.open_folder_action)
        toolbar.addAction(self.paste_action)
        toolbar.addSeparator()
        model_label = QLabel("  Model ")
        model_label.setObjectName("muted")
        toolbar.addWidget(model_label)
        toolbar.addWidget(self.model_chooser)
        spacer = QWidget()
        spacer.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        toolbar.addWidget(spacer)
        toolbar.addAction(self.export_action)
        self.addToolBar(toolbar)

    # ------------------------------------------------------------------ public
    def start(self, paths=()) -> None:
        """Load the chosen model in the background and open ``paths`` when it is ready."""
        self.service.load_model(self.model_chooser.current_spec())
        if paths:
            self.open_paths([Path(p) for p in paths])

    def open_paths(self, paths) -> None:
        """Classify files and folders: one image is analyzed, several fill the batch table."""
        paths = [Path(p) for p in paths]
        if not paths:
            return
        images = expand_paths(paths)
        if not images:
            where = ", ".join(p.name for p in paths[:3])
            self.show_notice(f"No images found in {where}.", "info")
            return
        self.settings.set_last_folder(images[0].parent)
        if len(images) == 1 and not paths[0].is_dir():
            self.settings.add_recent_image(images[0])
            self._analyze(images[0])
            return
        self._analyze(images[0])
        self.batch_view.start(images)
        self.tabs.setCurrentWidget(self.batch_view)
        if self.model_ready:
            self.service.classify_batch(images)
        else:
            self._pending_batch = images

    def paste(self) -> None:
        """Classify the clipboard: an image, or copied image files."""
        clipboard = QGuiApplication.clipboard()
        mime = clipboard.mimeData()
        if mime is not None and mime.hasImage():
            image = clipboard.image()
            if not image.isNull():
                self._analyze(("Pasted image", qimage_to_pil(image), None))
                return
        paths = paths_from_mime_data(mime) if mime is not None else []
        if paths:
            self.open_paths(paths)
        else:
            self.show_notice(
                "The clipboard holds no image. Copy an image or an image file first.", "info"
            )

    def open_dialog(self) -> None:
        files, _ = QFileDialog.getOpenFileNames(
            self, "Open images", self.settings.last_folder(), IMAGE_FILTER
        )
        if files:
            self.open_paths(files)

    def open_folder_dialog(self) -> None:
        folder = QFileDialog.getExistingDirectory(
            self, "Classify a folder", self.settings.last_folder()
        )
        if folder:
            self.open_paths([folder])

    def export_csv(self) -> None:
        """Save the batch table as CSV (atomically); the file name is asked for."""
        if not self.batch_view.rows:
            self.show_notice(
                "Nothing to export yet: classify several images or a folder first.", "info"
            )
            return
        default = str(Path(self.settings.last_folder()) / "alexnet_results.csv")
        path, _ = QFileDialog.getSaveFileName(self, "Export results", default, "CSV (*.csv)")
        if path:
            self.export_csv_to(path)

    def export_csv_to(self, path) -> Path:
        try:
            written = self.batch_view.export_csv(path)
        except OSError as error:
            self.show_notice(f"Could not write {path}: {error.strerror or error}")
            raise
        self.statusBar().showMessage(f"Saved {len(self.batch_view.rows)} rows to {written}", 8000)
        return written

    def show_notice(self, text: str, kind: str = "error") -> None:
        self.notice.show_message(text, kind)
        if kind == "error":
            logger.info("Shown to user: %s", text)

    # ------------------------------------------------------------ requests
    def _analyze(self, source) -> None:
        """Queue an analysis; before the model is ready the latest request waits."""
        if isinstance(source, Path):
            worker_source = source
            self.image_title.setText(source.name)
        else:
            worker_source = (source[0], source[1])
            self.image_title.setText(source[0])
        self.image_caption.setText("Classifying…" if self.model_ready else "Waiting for the model…")
        if self.model_ready:
            self._request_analysis(worker_source)
        else:
            self._pending_source = worker_source
            self._show_preview(source)

    def _show_preview(self, source) -> None:
        """Show the photo itself while the model loads: the user sees at once what was opened
        (a reduced decode, ~20-60 ms; the model thread is busy loading)."""
        from alexnet_tf.errors import ImageLoadError

        from .image_preview import preview_rgb

        try:
            rgb = preview_rgb(source if isinstance(source, Path) else source[1])
        except ImageLoadError:
            return  # the model thread reports the file in its own words when it gets to it
        self.image_view.set_image(rgb)

    def _request_analysis(self, source) -> None:
        columns = self.layer_view.grid_columns(self.model_info.layer_shapes)
        self.current_request = self.service.analyze(source, columns)

    def _step_layer(self, step: int) -> None:
        names = self.layer_view.layer_names()
        current = self.layer_view.current_layer()
        if names and current in names:
            self.layer_view.select_layer(names[(names.index(current) + step) % len(names)])

    def _open_model_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Open a Keras model", "", "Keras models (*.keras)"
        )
        if path:
            self.model_chooser.choose(path)

    def _show_log_path(self) -> None:
        self.show_notice(f"The log file is {log_path()}", "info")

    def _fill_recent_menu(self) -> None:
        self.recent_menu.clear()
        recent = self.settings.recent_images()
        if not recent:
            self.recent_menu.addAction("(none)").setEnabled(False)
        for path in recent:
            self.recent_menu.addAction(Path(path).name, lambda p=path: self.open_paths([p]))

    # ------------------------------------------------------------------ slots
    def _on_paths_dropped(self, paths) -> None:
        self.open_paths(paths)

    def _on_model_chosen(self, spec) -> None:
        self.service.load_model(spec)

    def _on_model_loading_started(self, description: str) -> None:
        self.model_ready = False
        self.model_status.setText(f"Loading {description}…")
        if not self.predictions.predictions:
            self.predictions.set_message(f"Loading the model ({description})…")

    def _on_bf16_toggled(self, checked: bool) -> None:
        precision = "bf16" if checked else "fp32"
        self.settings.set_inference_precision(precision)
        self.service.recompile(precision)
        self.statusBar().showMessage(f"Inference in {precision} from the next image", 5000)

    def _on_speed_measured(self, ok: bool) -> None:
        if not ok:
            return  # the safe default path stays; the log says why
        self.service.recompile()
        self.training.finetune_page.settings.show_speed_measurement()
        self.statusBar().showMessage(
            "Measured this machine's fastest paths (alexnet-studio info shows them)", 5000
        )

    def _on_model_loaded(self, info) -> None:
        if info.engine == "tensorflow":
            # Now that the model is ready, measure the fastest paths once per machine, in
            # the background: the first results used the safe default. (After a LiteRT
            # start, once TensorFlow has arrived: the measurement must not slow its load.)
            self.speed.start()
        self.model_info = info
        self.model_ready = True
        self._model_spec_loaded = self.model_chooser.current_spec()
        self.banner.hide()
        self.model_status.setText(f"Model: {info.name} · {len(info.labels)} classes")
        self.statusBar().showMessage(f"Model loaded in {info.seconds:.1f} s", 5000)
        self.layer_view.set_layers(info.layer_shapes, info.labels)
        self.layer_view.atlas_panel.set_model(self._model_spec_loaded)
        if info.conv1_kernel is not None:
            self.filters_view.set_kernel(info.conv1_kernel)
        if self.current_result is None and self._pending_source is None:
            self.predictions.set_message("Drop an image to classify it.")
        source = self._pending_source
        if source is None and self.current_result is not None:
            result = self.current_result  # a new model: classify the same image again
            source = result.path or (result.name, None)
            if result.path is None:
                source = None
        self._pending_source = None
        if source is not None:
            self._request_analysis(source)
        batch = getattr(self, "_pending_batch", None)
        if batch:
            self._pending_batch = None
            self.service.classify_batch(batch)
        if info.engine != "tensorflow":
            self.service.load_tensorflow()  # for Grad-CAM and the rest, after those requests

    def _on_tensorflow_loaded(self, seconds: float) -> None:
        # TensorFlow has the model too (after a LiteRT start): Grad-CAM works from now on,
        # and the per-machine measurement may run without slowing anything the user waits for.
        self.speed.start()

    def _on_model_load_failed(self, message: str) -> None:
        self.show_notice(message)
        previous = self._model_spec_loaded if self.model_info is not None else None
        if self.model_info is not None:
            self.model_ready = True
            self.model_status.setText(f"Model: {self.model_info.name} (the new model was refused)")
            self.model_chooser.blockSignals(True)
            self.model_chooser._current_spec = previous  # back to the model still in use
            self.model_chooser.refresh()
            self.model_chooser.blockSignals(False)
        else:
            self.model_status.setText("No model loaded")
            self.predictions.set_message("No model is loaded; choose one above.")

    def _on_weights_missing(self, message: str) -> None:
        self.model_ready = False
        self.model_info = None
        self.banner.show()
        self.model_status.setText("No ImageNet weights")
        self.predictions.set_message(
            "No predictions: the ImageNet weights are not installed. "
            "Use Download or Import file above, or choose a fine-tuned model."
        )
        self.layer_view.clear()

    def _on_weights_installed(self) -> None:
        self.model_chooser.choose(None)

    def _on_image_analyzed(self, result) -> None:
        if result.request_id != self.current_request:
            return  # an older image; a newer one is on its way
        self.current_result = result
        self.notice.hide() if self.notice.kind == "error" else None
        self.image_view.set_image(result.display_rgb)
        self.image_title.setText(result.name)
        width, height = result.original_size
        self.image_caption.setText(
            f"{width}×{height} px · warped to 256×256, centre 227×227 classified in "
            f"{result.seconds * 1000:.0f} ms"
        )
        self.setWindowTitle(f"{result.name} — {APP_NAME}")
        self.predictions.set_predictions(result.analysis.predictions)
        self.layer_view.set_analysis(
            result.analysis.activations, result.analysis.crop_rgb, result.grids, result.grid_columns
        )
        self.gradcam_view.set_image(result.display_rgb, result.analysis.predictions)
        top = result.analysis.predictions[0].index
        self.service.compute_gradcam(result.request_id, top)
        if not self._first_top5_logged:
            self._first_top5_logged = True
            # Read from outside (benchmarks/startup.py): the figure the user waits for.
            logger.info("first top-5 shown %.2f s after start", seconds_since_process_start())
        self.image_shown.emit(result.name)

    def _on_image_failed(self, name: str, message: str) -> None:
        self.show_notice(f"Could not use {message}")
        self.image_caption.setText("This file could not be read; drop another image.")
        if self.current_result is not None:
            self.image_title.setText(self.current_result.name)

    def _on_batch_row_classified(self, row) -> None:
        self.batch_view.add_row(row)

    def _on_batch_finished(self, done: int, cancelled: bool) -> None:
        self.batch_view.finish(cancelled)

    def _on_batch_row_activated(self, path) -> None:
        self._analyze(Path(path))

    def _on_atlas_image_requested(self, path) -> None:
        self.open_paths([path])

    def _on_class_chosen(self, class_index: int) -> None:
        self.gradcam_view.choose_class(class_index)

    def _on_gradcam_class_chosen(self, class_index: int) -> None:
        if self.current_result is not None:
            self.service.compute_gradcam(self.current_result.request_id, class_index)

    def _on_gradcam_computed(self, request_id: int, class_index: int, heatmap) -> None:
        if request_id == self.current_request:
            self.gradcam_view.set_heatmap(class_index, heatmap)

    def _on_error_occurred(self, message: str) -> None:
        self.show_notice(message)

    # ------------------------------------------------------------ Qt events
    def closeEvent(self, event) -> None:  # noqa: N802
        self.settings.set_geometry(self.saveGeometry())
        self.settings.sync()
        self.shutdown()
        super().closeEvent(event)

    def shutdown(self) -> None:
        """Stop the model and weights threads (waits for the current step to finish)."""
        self.explain.shutdown()
        self.service.stop()
        self.folder_evaluation.shutdown()
        self.layer_view.atlas_panel.shutdown()
        self.banner.stop()
        self.garbage_collector.stop()


def run_app(paths=()) -> int:
    """Open the main window (with ``paths`` classified) and run until it is closed."""
    started = time.perf_counter()
    app = QApplication.instance() or QApplication(sys.argv[:1])
    # After Qt has started (a missing platform plugin must still reach the terminal), before
    # the model thread imports TensorFlow: its C++ start-up lines go to logs/tensorflow.log.
    quiet_tensorflow()
    app.setApplicationName(APP_NAME)
    app.setOrganizationName(APP_NAME)
    # The name of the installed .desktop entry: Wayland desktops match the window to it.
    app.setDesktopFileName("alexnet-studio")
    app.setWindowIcon(QIcon(str(resource_path("icons/alexnet-studio-256.png"))))
    apply_style(app)
    setup_logging()
    window = MainWindow()
    install_exception_hooks(window.show_notice)
    window.show()
    window.start([Path(p) for p in paths])  # puts the photo itself on screen at once
    app.processEvents()  # the first paint: the window and its photo are drawn now
    logger.info(
        "Window shown and painted (with the photo given) %.3f s after run_app, %.2f s after start",
        time.perf_counter() - started,
        seconds_since_process_start(),
    )
    return app.exec()
