"""A strip under the toolbar for messages that need reading but not a modal dialog."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QToolButton, QWidget

from . import style

KINDS = {
    "error": ("#3d1d22", style.ERROR),
    "info": ("#1d2a3d", style.ACCENT),
}


class NoticeBar(QFrame):
    """Shows one message (a bad file, a refused model, an unexpected error) until closed or
    replaced; the app stays usable underneath."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.label = QLabel()
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        close = QToolButton()
        close.setText("✕")
        close.setToolTip("Dismiss (Esc)")
        close.clicked.connect(self.hide)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(14, 8, 8, 8)
        layout.addWidget(self.label, 1)
        layout.addWidget(close, 0, Qt.AlignmentFlag.AlignTop)
        self.kind = ""
        self.hide()

    def show_message(self, text: str, kind: str = "error") -> None:
        background, border = KINDS[kind]
        self.kind = kind
        self.setStyleSheet(
            f"NoticeBar {{ background: {background}; border: 1px solid {border}; "
            "border-radius: 6px; } QLabel { background: transparent; }"
        )
        self.label.setText(text)
        self.show()

    def text(self) -> str:
        return self.label.text() if self.isVisible() else ""
