"""The channel panel's unit atlas: the clicked unit's top patches over a folder the user picks.

"What does channel 143 of conv5 look for?" is answered by the images of an *atlas folder*
that excite it most (``alexnet_tf.explain.atlas``). The atlas is built in a plain Python
thread with its own copy of the model (as ``folder_evaluation`` does), with progress and
Cancel; a cached atlas is found without loading TensorFlow. Patches are decoded in another
short thread, so a click never waits for a disk. Each patch opens its image in Classify.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from PySide6.QtCore import QObject, QSize, Qt, Signal
from PySide6.QtGui import QIcon, QImage, QPixmap
from PySide6.QtWidgets import (
    QFileDialog,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from alexnet_tf.errors import AlexNetStudioError

from .background import BackgroundRuns, RunsInBackground
from .log import short_error_message
from .model_worker import lower_thread_priority

logger = logging.getLogger("alexnet_studio.app.atlas")

PATCH_SIZE = 72
COLUMNS = 3


class AtlasBuilder(RunsInBackground, QObject):
    """Finds (``look``) or builds (``build``) one atlas at a time in a Python thread.

    A ``threading.Thread``, not a ``QThread``, for the reason ``model_worker`` gives. A run
    replaced by a newer one ends after its batch and reports nothing.
    """

    progressed = Signal(int, int)  # files done, files in all
    found = Signal(object)  # an Atlas, or None when ``look`` found none
    failed = Signal(str)
    cancelled = Signal(int, int)
    patches_loaded = Signal(int, object)  # request id, [(entry, patch RGB array or None)]

    def __init__(self, parent=None):
        super().__init__(parent)
        self.runs = BackgroundRuns("unit-atlas")
        self._patch_threads: list[threading.Thread] = []

    def look(self, model_spec, folder) -> None:
        """The cached atlas of this model and folder, or None: no model is loaded for it."""
        self._start(self._run, model_spec, Path(folder), False)

    def build(self, model_spec, folder) -> None:
        """Build (or read) the atlas: ``progressed`` as it goes, then ``found``."""
        self._start(self._run, model_spec, Path(folder), True)

    def _start(self, target, *args) -> None:
        self.runs.start(target, *args)

    def stop(self, timeout: float = 120.0) -> None:
        """Cancel and wait for every run (at the app's close: no TensorFlow in a thread at
        interpreter exit)."""
        super().stop(timeout)
        for thread in self._patch_threads:
            thread.join(timeout)
        self._patch_threads = []

    def _run(self, model_spec, folder: Path, build: bool, stop: threading.Event) -> None:
        lower_thread_priority()

        def emit(signal, *args) -> None:
            if self.runs.is_current(stop) and not (stop.is_set() and signal is not self.cancelled):
                signal.emit(*args)

        try:
            from alexnet_tf.explain.atlas import AtlasCancelled, atlas_for, cached_atlas

            if build:
                atlas = atlas_for(
                    model_spec, folder, should_stop=stop.is_set,
                    progress=lambda done, total: emit(self.progressed, done, total),
                )  # fmt: skip
            else:
                atlas = cached_atlas(model_spec, folder)
        except AtlasCancelled as error:
            emit(self.cancelled, error.done, error.total)
        except AlexNetStudioError as error:
            emit(self.failed, str(error))
        except Exception as error:
            logger.exception("The atlas of %s on %s failed", model_spec, folder)
            emit(self.failed, short_error_message(error))
        else:
            emit(self.found, atlas)

    def load_patches(self, request_id: int, atlas, layer: str, unit: int) -> None:
        """Decode one unit's top patches in a short thread; ``patches_loaded`` when done."""

        def run() -> None:
            try:
                from alexnet_tf.explain.atlas_sheets import unit_patches

                patches = unit_patches(atlas, layer, unit)
            except Exception:
                logger.exception("Patches of %s unit %d", layer, unit)
                patches = []
            self.patches_loaded.emit(request_id, patches)

        thread = threading.Thread(target=run, name="atlas-patches", daemon=True)
        self._patch_threads = [t for t in self._patch_threads if t.is_alive()] + [thread]
        thread.start()


def _pixmap(patch) -> QPixmap:
    height, width = patch.shape[:2]
    image = QImage(bytes(patch.tobytes()), width, height, 3 * width, QImage.Format.Format_RGB888)
    return QPixmap.fromImage(image.copy()).scaled(
        PATCH_SIZE, PATCH_SIZE, Qt.AspectRatioMode.IgnoreAspectRatio,
        Qt.TransformationMode.FastTransformation,
    )  # fmt: skip


class UnitAtlasPanel(QFrame):
    """Atlas folder, Build atlas / Cancel with progress, and the clicked unit's top patches."""

    image_requested = Signal(object)  # Path of the image a patch came from
    folder_chosen = Signal(object)  # Path

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("card")
        self.model_spec = None
        self.model_ready = False
        self.folder: Path | None = None
        self.atlas = None
        self.unit: tuple[str, int] | None = None
        self._request = 0
        self.builder = AtlasBuilder(self)
        self.builder.progressed.connect(self._on_progressed)
        self.builder.found.connect(self._on_found)
        self.builder.failed.connect(self._on_failed)
        self.builder.cancelled.connect(self._on_cancelled)
        self.builder.patches_loaded.connect(self._on_patches_loaded)

        title = QLabel("Top images in a folder")
        title.setObjectName("heading")
        self.folder_button = QPushButton("Atlas folder…")
        self.folder_button.setToolTip("Any folder of photos: the units' top images come from it")
        self.folder_button.clicked.connect(self.choose_folder)
        self.build_button = QPushButton("Build atlas")
        self.build_button.setToolTip(
            "One pass over the folder finds, for every unit, the images it responds to most"
        )
        self.build_button.clicked.connect(self._on_build_clicked)
        self.build_button.setEnabled(False)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.builder.cancel)
        self.cancel_button.hide()
        self.progress = QProgressBar()
        self.progress.hide()
        self.status = QLabel("Choose an atlas folder to see, for a clicked channel, the images "
                             "that excite it most.")  # fmt: skip
        self.status.setObjectName("muted")
        self.status.setWordWrap(True)
        self.buttons: list[QToolButton] = []
        grid = QGridLayout()
        grid.setSpacing(3)
        for index in range(9):
            button = QToolButton()
            button.setIconSize(QSize(PATCH_SIZE, PATCH_SIZE))
            button.setFixedSize(PATCH_SIZE + 6, PATCH_SIZE + 6)
            button.setAutoRaise(True)
            button.clicked.connect(lambda _=False, i=index: self._on_patch_clicked(i))
            button.hide()
            grid.addWidget(button, index // COLUMNS, index % COLUMNS)
            self.buttons.append(button)
        self.entries: list[dict] = []
        row = QHBoxLayout()
        row.addWidget(self.folder_button)
        row.addWidget(self.build_button)
        row.addWidget(self.cancel_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 10, 12, 10)
        layout.addWidget(title)
        layout.addLayout(row)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        layout.addLayout(grid)

    # ------------------------------------------------------------------ public
    def set_model(self, model_spec) -> None:
        """The window loaded ``model_spec`` (``None``: ImageNet): look for its cached atlas."""
        self.model_spec = model_spec
        self.model_ready = True
        self._forget_atlas()
        self._look()

    def set_folder(self, folder) -> None:
        """Use ``folder`` as the atlas folder (the picker calls this)."""
        self.folder = Path(folder)
        self.folder_button.setText(self.folder.name or str(self.folder))
        self.folder_button.setToolTip(f"Atlas folder: {self.folder}")
        self.folder_chosen.emit(self.folder)
        self._forget_atlas()
        self._look()

    def choose_folder(self) -> None:
        start = str(self.folder) if self.folder else str(Path.home())
        folder = QFileDialog.getExistingDirectory(self, "Atlas folder (any photos)", start)
        if folder:
            self.set_folder(folder)

    def build(self) -> None:
        """Build the atlas of the current model over the atlas folder, in the background."""
        if self.folder is None or not self.model_ready:
            return
        self.progress.setRange(0, 0)  # busy until the first batch: the model is loading
        self.progress.show()
        self.cancel_button.show()
        self.cancel_button.setEnabled(True)
        self.build_button.setEnabled(False)
        self.status.setText(f"Building the atlas of {self.folder.name}…")
        self.builder.build(self.model_spec, self.folder)

    def show_unit(self, layer: str, unit: int) -> None:
        """Show ``unit`` of ``layer``'s top patches (when the atlas has that layer)."""
        self.unit = (layer, unit)
        self._request += 1
        for button in self.buttons:
            button.hide()
        if self.atlas is None or layer not in self.atlas.layers:
            return
        self.status.setText(f"{layer} · channel {unit}: loading its top images…")
        self.builder.load_patches(self._request, self.atlas, layer, unit)

    def shutdown(self) -> None:
        self.builder.stop()

    # ------------------------------------------------------------------ internals
    def _forget_atlas(self) -> None:
        self.atlas = None
        self._request += 1
        for button in self.buttons:
            button.hide()

    def _look(self) -> None:
        if self.folder is None or not self.model_ready:
            return
        self.build_button.setEnabled(False)
        self.status.setText(f"Looking for an atlas of {self.folder.name}…")
        self.builder.look(self.model_spec, self.folder)

    def _on_build_clicked(self) -> None:
        self.build()

    def _on_progressed(self, done: int, total: int) -> None:
        self.progress.setRange(0, total)
        self.progress.setValue(done)
        if self.cancel_button.isEnabled():
            self.status.setText(f"Building the atlas: {done} of {total} images")

    def _finish(self, text: str) -> None:
        self.progress.hide()
        self.cancel_button.hide()
        self.build_button.setEnabled(self.folder is not None and self.model_ready)
        self.status.setText(text)

    def _on_found(self, atlas) -> None:
        self.atlas = atlas
        if atlas is None:
            self._finish(f"No atlas of {self.folder.name} for this model yet: Build atlas "
                         "(one pass over the folder, cached).")  # fmt: skip
            return
        skipped = f"; {len(atlas.errors)} file(s) skipped" if atlas.errors else ""
        self._finish(f"Atlas of {len(atlas.images)} images{skipped}. Click a channel.")
        self.build_button.setEnabled(False)  # built: nothing more to build for this folder
        if self.unit is not None:
            self.show_unit(*self.unit)

    def _on_failed(self, message: str) -> None:
        self._finish(message)

    def _on_cancelled(self, done: int, total: int) -> None:
        self._finish(f"Cancelled after {done} of {total} images; no atlas was kept.")

    def _on_patches_loaded(self, request_id: int, patches) -> None:
        if request_id != self._request or self.unit is None:
            return  # another unit was clicked since
        layer, unit = self.unit
        self.entries = [entry for entry, _ in patches]
        for button, (entry, patch) in zip(self.buttons, patches, strict=False):
            name = Path(entry["image"]).name
            where = f" at ({entry['row']}, {entry['col']})" if "row" in entry else ""
            button.setIcon(QIcon(_pixmap(patch)) if patch is not None else QIcon())
            button.setText("" if patch is not None else "missing")
            button.setToolTip(f"{name}: {entry['value']:.4g}{where}\nClick to open it in Classify")
            button.show()
        self.status.setText(f"{layer} · channel {unit}: its {len(patches)} strongest images in "
                            f"{self.folder.name}, best first")  # fmt: skip

    def _on_patch_clicked(self, index: int) -> None:
        if index < len(self.entries):
            self.image_requested.emit(Path(self.entries[index]["image"]))
