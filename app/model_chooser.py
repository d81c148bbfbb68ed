"""The model chooser: ImageNet, the fine-tuned models in the jobs folder, or a .keras file."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QComboBox, QFileDialog, QWidget

from alexnet_tf.jobfolder import has_model
from alexnet_tf.paths import jobs_dir

IMAGENET = "ImageNet (BVLC AlexNet)"
OPEN_FILE = "Open .keras file…"


def find_job_models() -> list[Path]:
    """Job folders in ``jobs_dir()`` that hold a finished model (``JOB/model/model.keras``)."""
    folder = jobs_dir()
    return sorted(
        (job for job in folder.iterdir() if has_model(job)),
        key=lambda job: job.name.lower(),
    )


class ModelChooser(QComboBox):
    """Emits ``model_chosen(spec)``: ``None`` for ImageNet, or a job folder / ``.keras`` path
    (the value ``Classifier.load`` takes)."""

    model_chosen = Signal(object)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setToolTip("The model that classifies: ImageNet or one of your fine-tuned models")
        self._current_spec = None
        self.refresh()
        self.activated.connect(self._on_activated)

    def refresh(self) -> None:
        """List the models available now (jobs may have finished since the last look)."""
        self.blockSignals(True)
        self.clear()
        self.addItem(IMAGENET, None)
        for job in find_job_models():
            self.addItem(f"Fine-tuned: {job.name}", str(job))
        if self._current_spec is not None and self.findData(str(self._current_spec)) < 0:
            self.addItem(Path(self._current_spec).name, str(self._current_spec))
        self.addItem(OPEN_FILE, OPEN_FILE)
        position = self.findData(None if self._current_spec is None else str(self._current_spec))
        self.setCurrentIndex(max(0, position))
        self.blockSignals(False)

    def showPopup(self) -> None:  # noqa: N802
        self.refresh()
        super().showPopup()

    def current_spec(self):
        return self._current_spec

    def choose(self, spec) -> None:
        """Select ``spec`` (``None``, a job folder or a ``.keras`` file) and emit it."""
        self._current_spec = None if spec is None else str(spec)
        self.refresh()
        self.model_chosen.emit(self._current_spec)

    def _on_activated(self, position: int) -> None:
        data = self.itemData(position)
        if data == OPEN_FILE:
            path, _ = QFileDialog.getOpenFileName(
                self, "Open a Keras model", str(jobs_dir()), "Keras models (*.keras)"
            )
            if not path:
                self.refresh()  # back to the current model
                return
            data = path
        if data != self._current_spec:
            self.choose(data)
