"""The card: the framed panel the app lays its views on (styled by ``#card`` in style.py)."""

from __future__ import annotations

from PySide6.QtWidgets import QFrame, QHBoxLayout, QVBoxLayout, QWidget

MARGINS = (16, 12, 16, 12)


class Card(QFrame):
    """A framed panel with its own box layout, ``box``, for the widgets it holds.

    Args:
        parent: the Qt parent.
        margins: left, top, right, bottom padding inside the frame.
        horizontal: lay the widgets out in a row instead of a column.
    """

    def __init__(
        self,
        parent: QWidget | None = None,
        *,
        margins: tuple[int, int, int, int] = MARGINS,
        horizontal: bool = False,
    ):
        super().__init__(parent)
        self.setObjectName("card")
        self.box = (QHBoxLayout if horizontal else QVBoxLayout)(self)
        self.box.setContentsMargins(*margins)
