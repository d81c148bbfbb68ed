"""The top-5 classes as labelled bars with their probabilities."""

from __future__ import annotations

from PySide6.QtCore import QRectF, Qt, Signal
from PySide6.QtGui import QColor, QFont, QPainter
from PySide6.QtWidgets import QSizePolicy, QWidget

from . import style

ROW_HEIGHT = 34


class PredictionsView(QWidget):
    """Five rows: class name over a bar as long as its probability, percentage at the right.

    Clicking a row emits ``class_chosen(class index)`` (the Grad-CAM view follows it). When
    there is nothing meaningful to show, it shows ``message`` instead of bars.
    """

    class_chosen = Signal(int)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.predictions: list = []
        self.message = "Drop an image to classify it."
        self.chosen_index: int | None = None
        self.setMinimumHeight(5 * ROW_HEIGHT + 8)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setMouseTracking(True)

    def set_predictions(self, predictions) -> None:
        self.predictions = list(predictions)
        self.chosen_index = self.predictions[0].index if self.predictions else None
        self.message = ""
        self._update_tooltip()
        self.update()

    def set_message(self, message: str) -> None:
        """Show ``message`` instead of predictions (and forget the old ones)."""
        self.predictions = []
        self.message = message
        self.setToolTip("")
        self.update()

    def labels_shown(self) -> list[str]:
        """The class names currently drawn, best first (what a user reads)."""
        return [p.label for p in self.predictions]

    def _update_tooltip(self) -> None:
        self.setToolTip(
            "\n".join(f"{p.rank}. {p.label}  {p.probability:.2%}" for p in self.predictions)
            + "\n\nClick a class to see where its evidence is (Grad-CAM)."
        )

    def mousePressEvent(self, event) -> None:  # noqa: N802
        row = int(event.position().y() // ROW_HEIGHT)
        if 0 <= row < len(self.predictions):
            self.chosen_index = self.predictions[row].index
            self.class_chosen.emit(self.chosen_index)
            self.update()

    def paintEvent(self, event) -> None:  # noqa: N802
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        if not self.predictions:
            painter.setPen(QColor(style.MUTED))
            painter.drawText(
                self.rect().adjusted(8, 0, -8, 0),
                Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap,
                self.message,
            )
            return
        width = self.width() - 8
        percent_width = 64
        bold = QFont(self.font())
        bold.setWeight(QFont.Weight.DemiBold)
        for row, prediction in enumerate(self.predictions):
            top = row * ROW_HEIGHT + 4
            bar_area = QRectF(4, top + 20, width - percent_width, 7)
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(QColor(style.RAISED))
            painter.drawRoundedRect(bar_area, 3, 3)
            chosen = prediction.index == self.chosen_index
            painter.setBrush(QColor(style.ACCENT if row == 0 or chosen else "#6f7c96"))
            filled = QRectF(bar_area)
            filled.setWidth(max(3.0, bar_area.width() * prediction.probability))
            painter.drawRoundedRect(filled, 3, 3)
            painter.setPen(QColor(style.TEXT))
            painter.setFont(bold if row == 0 else self.font())
            name = painter.fontMetrics().elidedText(
                f"{prediction.rank}. {prediction.label}",
                Qt.TextElideMode.ElideRight,
                int(bar_area.width()),
            )
            painter.drawText(QRectF(4, top, bar_area.width(), 18), Qt.AlignmentFlag.AlignLeft, name)
            painter.setPen(QColor(style.TEXT if row == 0 else style.MUTED))
            painter.drawText(
                QRectF(width - percent_width, top + 8, percent_width + 2, 20),
                Qt.AlignmentFlag.AlignRight,
                f"{prediction.probability:.1%}",
            )
