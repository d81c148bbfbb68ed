"""A finished job's *What fine-tuning changed* tab: conv5, fc6 and fc7 units whose top images
moved away from ImageNet's, over a folder (by default the job's own training folder).

The two atlases (``alexnet_tf.explain``; cached, so a second look is instant) are built in a
Python thread with their own models, like the Layers view's unit atlas; the side-by-side
sheets are drawn there too and arrive as pictures. A head-mode job is answered at once:
only fc8 trained, so nothing below it changed.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from alexnet_tf.errors import AlexNetStudioError
from alexnet_tf.explain.compare import HEAD_MODE_TEXT  # a light module: no TensorFlow

from ..background import BackgroundRuns, RunsInBackground
from ..log import short_error_message
from ..model_worker import lower_thread_priority

logger = logging.getLogger("alexnet_studio.app.jobs.changes")


class ChangesRun(RunsInBackground, QObject):
    """One comparison at a time in a Python thread (see ``app.model_worker`` for why not a
    ``QThread``); a run replaced by a newer one reports nothing."""

    progressed = Signal(int, int)
    compared = Signal(object)  # {"summary": str, "sheets": {layer: RGB array}}
    failed = Signal(str)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.runs = BackgroundRuns("fine-tuning-changes")

    def start(self, job_dir: Path, folder: Path) -> None:
        self.runs.start(self._run, job_dir, folder)

    def _run(self, job_dir: Path, folder: Path, stop: threading.Event) -> None:
        lower_thread_priority()

        def emit(signal, *args) -> None:
            if self.runs.is_current(stop) and not stop.is_set():
                signal.emit(*args)

        try:
            from alexnet_tf.explain.atlas import atlas_for
            from alexnet_tf.explain.atlas_sheets import render_compare
            from alexnet_tf.explain.compare import COMPARED_LAYERS, changed_units, summary_text

            def progress(done, total):
                emit(self.progressed, done, total)

            job = atlas_for(job_dir, folder, layers=COMPARED_LAYERS, progress=progress,
                            should_stop=stop.is_set)  # fmt: skip
            imagenet = atlas_for(None, folder, layers=COMPARED_LAYERS, progress=progress,
                                 should_stop=stop.is_set)  # fmt: skip
            changed = changed_units(job, imagenet, shown=6)
            sheets = {
                layer: np.asarray(render_compare(
                    job, imagenet, layer, [row["unit"] for row in found["units"]]))
                for layer, found in changed.items()
            }  # fmt: skip
        except AlexNetStudioError as error:
            emit(self.failed, str(error))
        except Exception as error:
            logger.exception("Comparing %s with ImageNet on %s failed", job_dir, folder)
            emit(self.failed, short_error_message(error))
        else:
            summary = summary_text(changed, len(job.images), job.top)
            emit(self.compared, {"summary": summary, "sheets": sheets})


class FineTuningChangesView(QWidget):
    """The tab: a folder, *Compare with ImageNet*, progress, and the side-by-side rows."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.job_dir: Path | None = None
        self._finished = False
        self.folder: Path | None = None
        self.run = ChangesRun(self)
        self.run.progressed.connect(self._on_progressed)
        self.run.compared.connect(self._on_compared)
        self.run.failed.connect(self._on_failed)
        self.summary = QLabel("Select a finished job.")
        self.summary.setWordWrap(True)
        self.folder_button = QPushButton("Folder…")
        self.folder_button.setToolTip("The photos both models are looked at with")
        self.folder_button.clicked.connect(self._on_folder_clicked)
        self.compare_button = QPushButton("Compare with ImageNet")
        self.compare_button.clicked.connect(self.compare)
        self.progress = QProgressBar()
        self.progress.hide()
        self.pictures = QLabel()
        self.pictures.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        scroll = QScrollArea()
        scroll.setWidget(self.pictures)
        scroll.setWidgetResizable(True)
        row = QHBoxLayout()
        row.addWidget(self.folder_button)
        row.addWidget(self.compare_button)
        row.addWidget(self.progress, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 8, 8, 8)
        layout.addLayout(row)
        layout.addWidget(self.summary)
        layout.addWidget(scroll, 1)
        self._enable(False)

    def set_job(self, job_dir, settings: dict, finished: bool) -> None:
        """Show ``job_dir`` (its ``settings`` from job.json); only a finished job compares."""
        job_dir = Path(job_dir) if job_dir else None
        if (job_dir, finished) == (self.job_dir, self._finished):
            return  # the panel refreshes every second: keep what is shown
        self.run.cancel()
        self.job_dir, self._finished = job_dir, finished
        self.pictures.clear()
        self.progress.hide()
        folder = settings.get("folder") if isinstance(settings, dict) else None
        self.folder = Path(folder) if isinstance(folder, str) and Path(folder).is_dir() else None
        self.folder_button.setText(self.folder.name if self.folder else "Folder…")
        if job_dir is None or not finished:
            self.summary.setText("When the job has finished: the units of conv5, fc6 and fc7 "
                                 "whose top images changed most.")  # fmt: skip
            self._enable(False)
        elif settings.get("mode") == "head":
            self.summary.setText(HEAD_MODE_TEXT)
            self._enable(False)
        else:
            self.summary.setText("Compare the job's units with ImageNet's on a folder of photos "
                                 "(by default the one it was trained on).")  # fmt: skip
            self._enable(True)

    def set_folder(self, folder) -> None:
        self.folder = Path(folder)
        self.folder_button.setText(self.folder.name)
        self.compare_button.setEnabled(self.job_dir is not None)

    def compare(self) -> None:
        if self.job_dir is None or self.folder is None:
            return
        self.progress.setRange(0, 0)
        self.progress.show()
        self.compare_button.setEnabled(False)
        self.summary.setText(f"Building both atlases over {self.folder.name}…")
        self.run.start(self.job_dir, self.folder)

    def shutdown(self) -> None:
        self.run.stop()

    def _enable(self, enabled: bool) -> None:
        self.folder_button.setEnabled(enabled)
        self.compare_button.setEnabled(enabled and self.folder is not None)

    def _on_folder_clicked(self) -> None:
        start = str(self.folder) if self.folder else str(Path.home())
        folder = QFileDialog.getExistingDirectory(self, "Compare on a folder of photos", start)
        if folder:
            self.set_folder(folder)

    def _on_progressed(self, done: int, total: int) -> None:
        self.progress.setRange(0, total)
        self.progress.setValue(done)

    def _on_compared(self, result: dict) -> None:
        self.progress.hide()
        self.compare_button.setEnabled(True)
        self.summary.setText(result["summary"])
        sheets = list(result["sheets"].values())
        if not sheets:
            return
        width = max(sheet.shape[1] for sheet in sheets)
        canvas = np.full((sum(s.shape[0] for s in sheets), width, 3), 24, np.uint8)
        top = 0
        for sheet in sheets:
            canvas[top : top + sheet.shape[0], : sheet.shape[1]] = sheet[..., :3]
            top += sheet.shape[0]
        height = canvas.shape[0]
        image = QImage(canvas.tobytes(), width, height, 3 * width, QImage.Format.Format_RGB888)
        self.pictures.setPixmap(QPixmap.fromImage(image.copy()))

    def _on_failed(self, message: str) -> None:
        self.progress.hide()
        self.compare_button.setEnabled(True)
        self.summary.setText(message)
