"""A fully connected layer's activations as a bar plot, one bar per unit."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QPainter, QPen
from PySide6.QtWidgets import QSizePolicy, QToolTip, QWidget

from . import style

MARGIN_LEFT, MARGIN_BOTTOM, MARGIN_TOP = 56, 28, 34


class FcPlot(QWidget):
    """Bars of an ``(units,)`` vector. With more units than pixels each pixel column shows
    the largest bar it covers, so no strong unit disappears. Hover names the unit (and the
    class, for the last layer)."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.values: np.ndarray | None = None
        self.layer_name = ""
        self.labels: tuple[str, ...] | None = None
        self.setMouseTracking(True)
        self.setMinimumSize(240, 160)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

    def set_values(self, layer_name: str, values: np.ndarray, labels=None) -> None:
        self.layer_name = layer_name
        self.values = np.asarray(values, np.float32)
        self.labels = labels
        self.update()

    def _plot_rect(self) -> QRectF:
        return QRectF(
            MARGIN_LEFT,
            MARGIN_TOP,
            self.width() - MARGIN_LEFT - 12,
            self.height() - MARGIN_TOP - MARGIN_BOTTOM,
        )

    def _unit_name(self, unit: int) -> str:
        if self.labels is not None and len(self.labels) == len(self.values):
            return f"unit {unit} ({self.labels[unit]})"
        return f"unit {unit}"

    def mouseMoveEvent(self, event) -> None:  # noqa: N802
        if self.values is None:
            return
        plot = self._plot_rect()
        fraction = (event.position().x() - plot.left()) / plot.width()
        if not 0 <= fraction < 1:
            return
        per_pixel = max(1, int(np.ceil(len(self.values) / plot.width())))
        first = int(fraction * len(self.values))
        span = self.values[first : first + per_pixel]
        unit = first + int(np.argmax(span))
        QToolTip.showText(
            event.globalPosition().toPoint(),
            f"{self.layer_name} {self._unit_name(unit)}: {self.values[unit]:.4g}",
            self,
        )

    def paintEvent(self, event) -> None:  # noqa: N802
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor(style.PANEL))
        if self.values is None:
            return
        plot = self._plot_rect()
        values = self.values
        low, high = min(0.0, float(values.min())), max(float(values.max()), 1e-9)
        columns = max(1, int(plot.width()))
        edges = np.linspace(0, len(values), columns + 1).astype(int)
        peaks = np.array(
            [
                values[a:b].max() if b > a else values[min(a, len(values) - 1)]
                for a, b in zip(edges[:-1], edges[1:], strict=True)
            ]
        )
        zero_y = plot.bottom() - (0 - low) / (high - low) * plot.height()
        painter.setPen(QPen(QColor(style.BORDER), 1))
        painter.drawLine(int(plot.left()), int(zero_y), int(plot.right()), int(zero_y))
        bar = QColor(style.ACCENT)
        painter.setPen(QPen(bar, max(1.0, plot.width() / columns)))
        for x, peak in enumerate(peaks):
            y = plot.bottom() - (peak - low) / (high - low) * plot.height()
            if abs(y - zero_y) >= 0.5:
                px = plot.left() + x + 0.5
                painter.drawLine(int(px), int(zero_y), int(px), int(y))
        painter.setPen(QColor(style.MUTED))
        painter.drawText(
            QRectF(0, plot.top() - 8, MARGIN_LEFT - 6, 16),
            Qt.AlignmentFlag.AlignRight,
            f"{high:.3g}",
        )
        painter.drawText(
            QRectF(0, zero_y - 8, MARGIN_LEFT - 6, 16), Qt.AlignmentFlag.AlignRight, "0"
        )
        painter.drawText(
            QRectF(plot.left(), plot.bottom() + 6, 80, 16), Qt.AlignmentFlag.AlignLeft, "unit 0"
        )
        painter.drawText(
            QRectF(plot.right() - 120, plot.bottom() + 6, 120, 16),
            Qt.AlignmentFlag.AlignRight,
            f"unit {len(values) - 1}",
        )
        active = float(np.mean(values > 0))
        strongest = int(np.argmax(values))
        painter.setPen(QColor(style.TEXT))
        painter.drawText(
            QRectF(plot.left(), 6, plot.width(), 20),
            Qt.AlignmentFlag.AlignLeft,
            f"{self.layer_name}: {len(values)} units · {active:.0%} active · strongest "
            f"{self._unit_name(strongest)} = {values[strongest]:.3g}",
        )
