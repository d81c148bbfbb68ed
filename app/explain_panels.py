"""The explanation widgets: a channel's attribution and preferred image, the occlusion map,
the model summary. They only draw and emit requests; ``explain_ui`` runs the work."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QDialog,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from .image_view import ImageView, heat_overlay

PREFERRED_LAYERS = ("conv1", "conv2", "conv3", "conv4", "conv5", "fc6", "fc7", "fc8")
THUMB = 108  # two pictures side by side in the 250-pixel channel card


def _picture(placeholder: str) -> ImageView:
    view = ImageView(placeholder)
    view.show_crop = False
    view.setMinimumSize(THUMB, THUMB)
    view.setMaximumHeight(THUMB + 16)
    return view


class ChannelExplainPanel(QFrame):
    """Under the clicked channel: which pixels made it fire here (guided backpropagation) and,
    on request, the image that excites it most (gradient ascent, in the background)."""

    preferred_requested = Signal(str, int)  # layer, unit
    preferred_cancelled = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.layer: str | None = None
        self.unit: int | None = None
        self.attribution = _picture("")
        self.preferred = _picture("")
        self.attribution.setToolTip(
            "Guided backpropagation: the pixels of this photo that raise the channel at its "
            "strongest position (grey: no effect)"
        )
        self.preferred.setToolTip(
            "An input optimised to excite this unit (gradient ascent with jitter, decay, blur); "
            "cached per model and unit"
        )
        captions = [QLabel("Why here"), QLabel("Preferred image")]
        for caption in captions:
            caption.setObjectName("muted")
        self.button = QPushButton("Preferred image")
        self.button.setToolTip("Compute the image this unit responds to most (about 20-30 s)")
        self.button.clicked.connect(self._on_button_clicked)
        self.progress = QProgressBar()
        self.progress.setTextVisible(False)
        self.progress.setMaximumHeight(8)
        self.progress.hide()
        self.status = QLabel("")
        self.status.setObjectName("muted")
        self.status.setWordWrap(True)
        grid = QGridLayout(self)
        grid.setContentsMargins(0, 4, 0, 0)
        grid.setSpacing(4)
        grid.addWidget(captions[0], 0, 0)
        grid.addWidget(captions[1], 0, 1)
        grid.addWidget(self.attribution, 1, 0)
        grid.addWidget(self.preferred, 1, 1)
        grid.addWidget(self.button, 2, 0, 1, 2)
        grid.addWidget(self.progress, 3, 0, 1, 2)
        grid.addWidget(self.status, 4, 0, 1, 2)
        self.running = False
        self.clear()

    def show_unit(self, layer: str, unit: int) -> None:
        """A new channel was clicked: forget the old pictures (a run in progress goes on)."""
        self.layer, self.unit = layer, unit
        self.attribution.set_image(None)
        self.preferred.set_image(None)
        self.preferred_shown = None
        self.button.setEnabled(layer in PREFERRED_LAYERS or self.running)
        if not self.running:
            self.status.setText(
                "" if layer in PREFERRED_LAYERS else "Preferred images: conv and fc layers only."
            )

    def clear(self) -> None:
        self.layer = self.unit = None
        self.preferred_shown = None
        self.attribution.set_image(None)
        self.preferred.set_image(None)
        self.button.setEnabled(self.running)

    def set_attribution(self, layer: str, unit: int, rgb: np.ndarray) -> None:
        if (layer, unit) == (self.layer, self.unit):
            self.attribution.set_image(rgb)

    def run_started(self, layer: str, unit: int) -> None:
        self.running = True
        self.button.setText("Cancel")
        self.button.setEnabled(True)
        self.progress.setRange(0, 0)
        self.progress.show()
        self.status.setText(f"Optimising an image for {layer} unit {unit}…")

    def run_progressed(self, step: int, steps: int) -> None:
        self.progress.setRange(0, steps)
        self.progress.setValue(step)

    def run_ended(self, message: str) -> None:
        self.running = False
        self.button.setText("Preferred image")
        self.button.setEnabled(self.layer in PREFERRED_LAYERS)
        self.progress.hide()
        self.status.setText(message)

    def set_preferred(self, image) -> None:
        """Show a ``PreferredImage`` if it is the clicked unit's."""
        if (image.layer, image.unit) == (self.layer, self.unit):
            self.preferred.set_image(image.rgb)
            self.preferred_shown = image

    def _on_button_clicked(self) -> None:
        if self.running:
            self.preferred_cancelled.emit()
        elif self.layer is not None:
            self.preferred_requested.emit(self.layer, self.unit)


class OcclusionPanel(QWidget):
    """The occlusion-sensitivity map of the chosen class, computed on request (it takes a
    few seconds), beside Grad-CAM."""

    requested = Signal()
    cancelled = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        heading = QLabel("Occlusion sensitivity")
        heading.setObjectName("heading")
        caption = QLabel(
            "A grey square slid over the crop: brighter where hiding the region lowers the "
            "class's probability most (Zeiler & Fergus)."
        )
        caption.setObjectName("muted")
        caption.setWordWrap(True)
        self.button = QPushButton("Compute occlusion map")
        self.button.clicked.connect(self._on_button_clicked)
        self.progress = QProgressBar()
        self.progress.hide()
        self.view = ImageView("Choose a class, then compute.")
        self.status = QLabel("")
        self.status.setObjectName("muted")
        self.status.setWordWrap(True)
        row = QHBoxLayout()
        row.addWidget(self.button)
        row.addWidget(self.progress, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(heading)
        layout.addWidget(caption)
        layout.addLayout(row)
        layout.addWidget(self.view, 1)
        layout.addWidget(self.status)
        self.running = False
        self.result = None

    def set_image(self, display_rgb) -> None:
        self.view.set_image(display_rgb)
        self.result = None
        self.status.setText("")

    def run_started(self) -> None:
        self.running = True
        self.result = None
        self.view.set_overlay(None)
        self.button.setText("Cancel")
        self.progress.setRange(0, 0)
        self.progress.show()

    def run_progressed(self, done: int, total: int) -> None:
        self.progress.setRange(0, total)
        self.progress.setValue(done)

    def run_ended(self, message: str = "") -> None:
        self.running = False
        self.button.setText("Compute occlusion map")
        self.progress.hide()
        self.status.setText(message)

    def set_result(self, result) -> None:
        """Show an ``OcclusionResult`` over the crop."""
        self.result = result
        heat = np.clip(result.pixel_map(), 0, None)
        peak = float(heat.max())
        self.view.set_overlay(heat_overlay(heat / peak if peak > 0 else heat, min_alpha=0))
        self.run_ended(
            f"p = {result.probability:.1%} on the whole crop; the largest drop, "
            f"{float(result.drops.max()):.1%}, with a {result.patch}-pixel square."
        )

    def _on_button_clicked(self) -> None:
        if self.running:
            self.cancelled.emit()
        else:
            self.requested.emit()


class ModelSummaryDialog(QDialog):
    """*Model > Model summary…*: every layer's shape, parameters, work, memory and time."""

    COLUMNS = ("Layer", "Computes", "Output", "Parameters", "Multiply-adds", "Memory", "Time")

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Model summary")
        self.resize(840, 640)  # the 14 layers and the total without scrolling
        self.title = QLabel("Measuring…")
        self.title.setObjectName("heading")
        self.table = QTableWidget(0, len(self.COLUMNS))
        self.table.setHorizontalHeaderLabels(self.COLUMNS)
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.note = QLabel("")
        self.note.setObjectName("muted")
        self.note.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.addWidget(self.title)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.note)
        self.summary = None

    def begin(self, model_name: str) -> None:
        self.summary = None
        self.title.setText(f"{model_name}: measuring each layer on this machine…")
        self.table.setRowCount(0)
        self.note.setText("")

    def set_summary(self, model_name: str, summary: dict) -> None:
        from alexnet_tf.explain.summary import format_bytes, format_seconds

        self.summary = summary
        self.title.setText(model_name)
        rows = [*summary["layers"], {"name": "total", "kind": "", "output_shape": [],
                                      **summary["total"]}]  # fmt: skip
        self.table.setRowCount(len(rows))
        for r, row in enumerate(rows):
            cells = (
                row["name"], row["kind"], "×".join(map(str, row["output_shape"])),
                f"{row['parameters']:,}", f"{row['multiply_adds']:,}",
                format_bytes(row["activation_bytes"]), format_seconds(row["seconds"]),
            )  # fmt: skip
            for c, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if c >= 3:
                    item.setTextAlignment(
                        Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
                    )
                self.table.setItem(r, c, item)
        self.table.resizeColumnsToContents()
        self.table.horizontalHeader().setStretchLastSection(True)
        self.note.setText(
            "Multiply-adds per image; memory: the layer's output at batch 1 (float32). "
            f"Time: one image, measured here layer by layer on {summary['measured_on']}."
        )

    def set_error(self, message: str) -> None:
        self.title.setText(message)
