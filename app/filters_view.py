"""conv1's 96 learned filters as colour patches, the paper's two GPU groups apart."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QPainter, QPixmap
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from alexnet_tf.render import render_filters

from . import style
from .image_sources import rgb_to_qimage


class _Picture(QWidget):
    def __init__(self):
        super().__init__()
        self.pixmap: QPixmap | None = None

    def paintEvent(self, event) -> None:  # noqa: N802
        painter = QPainter(self)
        if self.pixmap is None:
            painter.setPen(QColor(style.MUTED))
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, "Waiting for the model…")
            return
        zoom = min(self.width() / self.pixmap.width(), self.height() / self.pixmap.height(), 2.0)
        w, h = self.pixmap.width() * zoom, self.pixmap.height() * zoom
        target = QRectF((self.width() - w) / 2, (self.height() - h) / 2, w, h)
        painter.drawPixmap(target, self.pixmap, QRectF(self.pixmap.rect()))


class FiltersView(QWidget):
    """Draws ``render_filters`` of the loaded model's conv1 kernel."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        heading = QLabel("conv1 filters")
        heading.setObjectName("heading")
        self.caption = QLabel(
            "The 96 learned 11×11 colour filters of the first layer, each scaled to its own "
            "range. AlexNet was trained on two GPUs, one group of 48 filters on each; in the paper "
            "one group learned mostly colour-agnostic edges and the other mostly colour blobs."
        )
        self.caption.setObjectName("muted")
        self.caption.setWordWrap(True)
        self.picture = _Picture()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(16, 12, 16, 12)
        layout.addWidget(heading)
        layout.addWidget(self.caption)
        layout.addWidget(self.picture, 1)

    def set_kernel(self, kernel: np.ndarray) -> None:
        self.picture.pixmap = QPixmap.fromImage(rgb_to_qimage(render_filters(kernel, scale=4)))
        self.picture.update()

    def has_filters(self) -> bool:
        return self.picture.pixmap is not None
