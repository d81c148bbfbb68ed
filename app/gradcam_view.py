"""Grad-CAM on conv5: where the evidence for one of the top-5 classes is, over the image."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Signal
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from .explain_panels import OcclusionPanel
from .image_view import ImageView, heat_overlay


class GradCamView(QWidget):
    """A class chooser (the top-5) and the image with that class's Grad-CAM map over the crop.

    Emits ``class_chosen(class index)``; the window asks the model thread for the map and
    calls ``set_heatmap``.
    """

    class_chosen = Signal(int)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        heading = QLabel("Class activation map")
        heading.setObjectName("heading")
        caption = QLabel(
            "Grad-CAM on conv5: the image regions whose conv5 features raise the chosen class's "
            "score the most (brighter = more evidence)."
        )
        caption.setObjectName("muted")
        caption.setWordWrap(True)
        self.classes = QComboBox()
        self.classes.currentIndexChanged.connect(self._on_current_index_changed)
        row = QHBoxLayout()
        row.addWidget(QLabel("Class:"))
        row.addWidget(self.classes, 1)
        self.view = ImageView("Classify an image to see its class activation map.")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(16, 12, 16, 12)
        layout.addWidget(heading)
        layout.addWidget(caption)
        layout.addLayout(row)
        self.occlusion = OcclusionPanel()
        maps = QHBoxLayout()
        maps.addWidget(self.view, 1)
        maps.addWidget(self.occlusion, 1)
        layout.addLayout(maps, 1)
        self.heatmap: np.ndarray | None = None
        self.heatmap_class: int | None = None

    def set_image(self, display_rgb, predictions) -> None:
        self.view.set_image(display_rgb)
        self.heatmap = None
        self.heatmap_class = None
        self.classes.blockSignals(True)
        self.classes.clear()
        for prediction in predictions:
            self.classes.addItem(
                f"{prediction.rank}. {prediction.label} ({prediction.probability:.1%})",
                prediction.index,
            )
        self.classes.blockSignals(False)

    def chosen_class(self) -> int | None:
        return self.classes.currentData()

    def choose_class(self, class_index: int) -> None:
        """Select ``class_index`` in the chooser (emits ``class_chosen`` if it changes)."""
        position = self.classes.findData(class_index)
        if position >= 0:
            self.classes.setCurrentIndex(position)

    def set_heatmap(self, class_index: int, heatmap: np.ndarray) -> None:
        if class_index != self.chosen_class():
            return  # the user chose another class meanwhile
        self.heatmap = heatmap
        self.heatmap_class = class_index
        self.view.set_overlay(heat_overlay(heatmap, min_alpha=0, max_alpha=190))

    def clear(self) -> None:
        self.view.set_image(None)
        self.classes.clear()
        self.heatmap = None

    def _on_current_index_changed(self, position: int) -> None:
        if position >= 0:
            self.view.set_overlay(None)
            self.occlusion.view.set_overlay(None)
            self.class_chosen.emit(self.classes.itemData(position))
