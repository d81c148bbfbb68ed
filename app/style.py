"""The app's look: one dark palette and style sheet, so images and colour maps stand out."""

from __future__ import annotations

from PySide6.QtGui import QColor, QFont, QPalette
from PySide6.QtWidgets import QApplication

BACKGROUND = "#1b1c21"
PANEL = "#23252b"
RAISED = "#2c2f37"
BORDER = "#3a3d46"
TEXT = "#e8e9ed"
MUTED = "#9a9ea9"
ACCENT = "#5b9cff"
WARNING = "#f0b429"
ERROR = "#ff6b6b"

STYLE_SHEET = f"""
QMainWindow, QWidget {{ background: {BACKGROUND}; color: {TEXT}; }}
QToolBar {{ background: {PANEL}; border: none; border-bottom: 1px solid {BORDER};
            padding: 4px 8px; spacing: 6px; }}
QToolButton {{ padding: 5px 10px; border-radius: 5px; }}
QToolButton:hover {{ background: {RAISED}; }}
QComboBox, QPushButton {{ background: {RAISED}; border: 1px solid {BORDER}; border-radius: 5px;
            padding: 5px 10px; }}
QComboBox {{ min-width: 220px; }}
QPushButton:hover, QComboBox:hover {{ border-color: {ACCENT}; }}
QPushButton#primary {{ background: {ACCENT}; color: #0b1220; border: none; font-weight: 600; }}
QPushButton:disabled {{ color: {MUTED}; }}
QTabWidget::pane {{ border: 1px solid {BORDER}; border-radius: 6px; top: -1px;
            background: {PANEL}; }}
QTabBar::tab {{ background: transparent; color: {MUTED}; padding: 7px 16px; border: none;
            border-bottom: 2px solid transparent; }}
QTabBar::tab:selected {{ color: {TEXT}; border-bottom: 2px solid {ACCENT}; }}
QListWidget, QTableWidget {{ background: {PANEL}; border: 1px solid {BORDER}; border-radius: 6px;
            outline: none; }}
QListWidget::item {{ padding: 6px 8px; border-radius: 4px; }}
QListWidget::item:selected, QTableWidget::item:selected {{ background: #2f4a78; color: {TEXT}; }}
QHeaderView::section {{ background: {RAISED}; color: {MUTED}; border: none; padding: 6px;
            font-weight: 600; }}
QTableWidget {{ gridline-color: {BORDER}; }}
QScrollArea {{ border: none; background: {PANEL}; }}
QProgressBar {{ background: {RAISED}; border: none; border-radius: 4px; height: 8px;
            text-align: center; color: {TEXT}; }}
QProgressBar::chunk {{ background: {ACCENT}; border-radius: 4px; }}
QStatusBar {{ background: {PANEL}; color: {MUTED}; border-top: 1px solid {BORDER}; }}
QLabel#heading {{ font-size: 13pt; font-weight: 600; }}
QLabel#muted {{ color: {MUTED}; }}
QFrame#banner {{ background: #3a2f12; border: 1px solid {WARNING}; border-radius: 6px; }}
QFrame#banner QLabel {{ background: transparent; }}
QFrame#card {{ background: {PANEL}; border: 1px solid {BORDER}; border-radius: 8px; }}
QFrame#card QLabel {{ background: transparent; }}
QSplitter::handle {{ background: {BACKGROUND}; }}
QMenuBar {{ background: {PANEL}; }}
QMenuBar::item:selected, QMenu::item:selected {{ background: {RAISED}; }}
QMenu {{ background: {PANEL}; border: 1px solid {BORDER}; }}
QToolTip {{ background: {RAISED}; color: {TEXT}; border: 1px solid {BORDER}; padding: 4px; }}
"""


def apply_style(app: QApplication) -> None:
    """Fusion style with the dark palette and a readable 10 pt UI font."""
    app.setStyle("Fusion")
    palette = QPalette()
    for role, colour in (
        (QPalette.ColorRole.Window, BACKGROUND),
        (QPalette.ColorRole.Base, PANEL),
        (QPalette.ColorRole.AlternateBase, RAISED),
        (QPalette.ColorRole.Text, TEXT),
        (QPalette.ColorRole.WindowText, TEXT),
        (QPalette.ColorRole.Button, RAISED),
        (QPalette.ColorRole.ButtonText, TEXT),
        (QPalette.ColorRole.Highlight, ACCENT),
        (QPalette.ColorRole.ToolTipBase, RAISED),
        (QPalette.ColorRole.ToolTipText, TEXT),
    ):
        palette.setColor(role, QColor(colour))
    app.setPalette(palette)
    font = QFont(app.font())
    font.setPointSizeF(10)
    app.setFont(font)
    app.setStyleSheet(STYLE_SHEET)
