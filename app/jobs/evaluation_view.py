"""A finished job's evaluation (its eval.json): accuracy, confusion matrix, per-class
precision and recall, and the misclassified validation images as thumbnails."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QColor, QIcon, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QGridLayout,
    QHeaderView,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QTableWidget,
    QTableWidgetItem,
    QWidget,
)

from .thumbnails import ThumbnailThread, stop_thread

MAX_MISCLASSIFIED = 60


def _table(rows: int, columns: int, headers) -> QTableWidget:
    table = QTableWidget(rows, columns)
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
    if headers is not None:
        table.setHorizontalHeaderLabels(headers)
    return table


def _cell(text: str) -> QTableWidgetItem:
    item = QTableWidgetItem(text)
    item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
    return item


class EvaluationView(QWidget):
    """Shows one eval.json (or a folder evaluation's report); ``set_report(None)`` says there
    is none yet. ``images_noun`` names what was evaluated ("validation images")."""

    def __init__(self, parent=None, images_noun: str = "validation images"):
        super().__init__(parent)
        self.images_noun = images_noun
        self.report: dict | None = None
        self._absent = ""
        self._thread: ThumbnailThread | None = None
        self.accuracy = QLabel("No evaluation yet: it is written when the job finishes.")
        self.accuracy.setObjectName("heading")
        self.accuracy.setWordWrap(True)
        self.confusion = _table(0, 0, None)
        self.confusion.setToolTip("Rows: true class · columns: predicted class")
        self.per_class = _table(0, 5, ["Class", "Precision", "Recall", "F1", "Images"])
        self.per_class.verticalHeader().hide()
        self.per_class.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.misclassified = QListWidget()
        self.misclassified.setViewMode(QListWidget.ViewMode.IconMode)
        self.misclassified.setIconSize(QSize(88, 88))
        self.misclassified.setGridSize(QSize(170, 140))
        self.misclassified.setResizeMode(QListWidget.ResizeMode.Adjust)
        self.misclassified.setMovement(QListWidget.Movement.Static)
        self.misclassified.setWordWrap(True)
        self.misclassified_title = QLabel(f"Misclassified {images_noun}")

        for table in (self.confusion, self.per_class):
            table.verticalHeader().setDefaultSectionSize(24)
        layout = QGridLayout(self)
        layout.setContentsMargins(8, 8, 8, 8)
        layout.addWidget(self.accuracy, 0, 0, 1, 2)
        layout.addWidget(QLabel("Confusion matrix (rows: true, columns: predicted)"), 1, 0)
        layout.addWidget(self.confusion, 2, 0)
        layout.addWidget(QLabel("Per class"), 3, 0)
        layout.addWidget(self.per_class, 4, 0)
        layout.addWidget(self.misclassified_title, 1, 1)
        layout.addWidget(self.misclassified, 2, 1, 3, 1)
        layout.setColumnStretch(0, 3)
        layout.setColumnStretch(1, 2)

    def set_report(self, report: dict | None, absent: str = "") -> None:
        """Show ``report`` (the content of eval.json), or ``absent`` says why there is none."""
        if report == self.report and (report or absent == self._absent):
            return
        self._absent = absent
        stop_thread(self._thread)
        self.report = report
        self.misclassified.clear()
        if not report:
            self.accuracy.setText(
                absent or "No evaluation yet: it is written when the job finishes."
            )
            self.confusion.setRowCount(0)
            self.confusion.setColumnCount(0)
            self.per_class.setRowCount(0)
            return
        classes = report.get("classes", [])
        accuracy = (
            "Validation accuracy" if self.images_noun.startswith("validation") else "Accuracy"
        )
        text = f"{accuracy} {report['top1'] * 100:.1f}%"
        if "top5" in report:
            text += f" · top-5 {report['top5'] * 100:.1f}%"
        self.accuracy.setText(text + f" on {report.get('num_examples', 0)} {self.images_noun}")
        # A folder evaluation over many classes has no matrix (too large to read).
        matrix = report.get("confusion_matrix")
        self._fill_confusion(classes if matrix is not None else [], matrix or [],
                             report.get("confusion_other"))  # fmt: skip
        rows = report.get("per_class", [])
        self.per_class.setRowCount(len(rows))
        for row, entry in enumerate(rows):
            self.per_class.setItem(row, 0, QTableWidgetItem(entry["class"]))
            for column, key in enumerate(("precision", "recall", "f1"), start=1):
                self.per_class.setItem(row, column, _cell(f"{entry[key]:.2f}"))
            self.per_class.setItem(row, 4, _cell(str(entry["support"])))
        wrong = report.get("misclassified", [])[:MAX_MISCLASSIFIED]
        total = len(report.get("misclassified", []))
        self.misclassified_title.setText(
            f"Misclassified {self.images_noun} ({total})"
            if total
            else f"No {self.images_noun.removesuffix('s')} was misclassified"
        )
        for entry in wrong:
            item = QListWidgetItem(
                f"{entry['true']}\n→ {entry['predicted']} ({entry['probability'] * 100:.0f}%)"
            )
            item.setToolTip(
                f"{entry['path']}\ntrue: {entry['true']}, predicted: {entry['predicted']} "
                f"({entry['probability'] * 100:.1f}%)"
            )
            self.misclassified.addItem(item)
        self._thread = ThumbnailThread([Path(e["path"]) for e in wrong], 88, self)
        self._thread.made.connect(self._on_thumbnail)
        self._thread.start()

    def _fill_confusion(self, classes, matrix, other=None) -> None:
        """``other``: per row, predictions of classes with no row (ImageNet on a folder of a
        few of its classes), shown as a last column so that each row adds up."""
        n = len(classes)
        if other is not None:
            matrix = [[*row, extra] for row, extra in zip(matrix, other, strict=True)]
        self.confusion.setRowCount(n)
        self.confusion.setColumnCount(n + (other is not None))
        self.confusion.setHorizontalHeaderLabels(
            [*classes, "other classes"] if other is not None else classes
        )
        self.confusion.setVerticalHeaderLabels(classes)
        self.confusion.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        for i, row in enumerate(matrix):
            total = max(sum(row), 1)
            for j, count in enumerate(row):
                item = _cell(str(count))
                share = count / total
                colour = QColor("#2f9e6e" if i == j else "#c0504d")
                colour.setAlphaF(0.15 + 0.7 * share if count else 0.0)
                item.setBackground(colour)
                self.confusion.setItem(i, j, item)

    def _on_thumbnail(self, index: int, image) -> None:
        item = self.misclassified.item(index)
        if item is not None and image is not None:
            item.setIcon(QIcon(QPixmap.fromImage(image)))

    def shutdown(self) -> None:
        stop_thread(self._thread)
