"""Several images or a folder: a table filled as results arrive, with progress, Cancel, CSV."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QColor, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QProgressBar,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from alexnet_tf.fileio import write_text_atomic

from . import style
from .image_sources import rgb_to_qimage

COLUMNS = ("", "File", "Top-1 class", "Probability")
CSV_HEADER = ["file", "top1_label", "top1_probability", "top5", "error"]


def batch_csv_text(rows) -> str:
    """CSV of batch rows: one line per file, top-5 as ``label:probability`` joined by ``|``."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_HEADER)
    for row in rows:
        if row.error:
            writer.writerow([str(row.path), "", "", "", row.error])
            continue
        best = row.predictions[0]
        top5 = "|".join(f"{p.label}:{p.probability:.6f}" for p in row.predictions)
        writer.writerow([str(row.path), best.label, f"{best.probability:.6f}", top5, ""])
    return buffer.getvalue()


class BatchView(QWidget):
    """The results table of a batch. Rows appear in file order as the model thread sends them.

    Emits ``cancel_requested`` and ``export_requested``; ``row_activated(path)`` when a row is
    double-clicked (the window then analyzes that image).
    """

    cancel_requested = Signal()
    export_requested = Signal()
    row_activated = Signal(object)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.heading = QLabel("Batch")
        self.heading.setObjectName("heading")
        self.summary = QLabel("Drop several images or a folder to classify them all.")
        self.summary.setObjectName("muted")
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setIconSize(QSize(48, 48))
        self.table.verticalHeader().setDefaultSectionSize(54)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Fixed)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(3, QHeaderView.ResizeMode.ResizeToContents)
        self.table.setColumnWidth(0, 60)
        self.table.cellDoubleClicked.connect(self._on_cell_double_clicked)
        self.progress = QProgressBar()
        self.progress.setTextVisible(False)
        self.progress.setFixedHeight(8)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel_requested)
        self.export_button = QPushButton("Export CSV…")
        self.export_button.setToolTip("Save the table as CSV (Ctrl+E)")
        self.export_button.clicked.connect(self.export_requested)
        bar = QHBoxLayout()
        bar.addWidget(self.progress, 1)
        bar.addWidget(self.cancel_button)
        bar.addWidget(self.export_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(16, 12, 16, 12)
        layout.addWidget(self.heading)
        layout.addWidget(self.summary)
        layout.addLayout(bar)
        layout.addWidget(self.table, 1)
        self.rows: dict[int, object] = {}
        self.total = 0
        self.running = False
        self._set_running(False)
        self.export_button.setEnabled(False)

    def start(self, paths) -> None:
        """Clear the table and prepare one row per path."""
        self.rows = {}
        self.total = len(paths)
        self.table.setRowCount(len(paths))
        for index, path in enumerate(paths):
            item = QTableWidgetItem(Path(path).name)
            item.setToolTip(str(path))
            item.setData(Qt.ItemDataRole.UserRole, str(path))
            self.table.setItem(index, 1, item)
            waiting = QTableWidgetItem("…")
            waiting.setForeground(QColor(style.MUTED))
            self.table.setItem(index, 2, waiting)
            self.table.setItem(index, 3, QTableWidgetItem(""))
        self.progress.setRange(0, max(1, len(paths)))
        self.progress.setValue(0)
        self.summary.setText(f"Classifying {len(paths)} images…")
        self._set_running(True)
        self.export_button.setEnabled(False)

    def add_row(self, row) -> None:
        """Show one result (``model_worker.BatchRow``)."""
        self.rows[row.index] = row
        if row.thumbnail is not None:
            icon = QTableWidgetItem()
            icon.setIcon(QPixmap.fromImage(rgb_to_qimage(row.thumbnail)))
            self.table.setItem(row.index, 0, icon)
        if row.error:
            label = QTableWidgetItem(f"Not used: {row.error}")
            label.setForeground(QColor(style.ERROR))
            label.setToolTip(f"{row.path}\n{row.error}")
            self.table.setItem(row.index, 2, label)
            self.table.setItem(row.index, 3, QTableWidgetItem(""))
        else:
            best = row.predictions[0]
            tooltip = "\n".join(
                f"{p.rank}. {p.label}  {p.probability:.2%}" for p in row.predictions
            )
            label = QTableWidgetItem(best.label)
            label.setToolTip(tooltip)
            probability = QTableWidgetItem(f"{best.probability:.1%}")
            probability.setTextAlignment(
                Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
            )
            probability.setToolTip(tooltip)
            self.table.setItem(row.index, 2, label)
            self.table.setItem(row.index, 3, probability)
        self.progress.setValue(len(self.rows))
        self.summary.setText(f"Classified {len(self.rows)} of {self.total} images…")

    def finish(self, cancelled: bool) -> None:
        failed = sum(1 for row in self.rows.values() if row.error)
        done = len(self.rows)
        text = f"{'Cancelled after' if cancelled else 'Classified'} {done} of {self.total} images"
        if failed:
            text += f" · {failed} could not be read (see the red rows)"
        self.summary.setText(text + " · double-click a row to look inside")
        self._set_running(False)
        self.export_button.setEnabled(bool(self.rows))

    def csv_text(self) -> str:
        return batch_csv_text(self.rows[index] for index in sorted(self.rows))

    def export_csv(self, path: str | Path) -> Path:
        """Write the finished rows to ``path`` as CSV (atomically)."""
        path = Path(path)
        write_text_atomic(path, self.csv_text())
        return path

    def _set_running(self, running: bool) -> None:
        self.running = running
        self.cancel_button.setEnabled(running)
        self.progress.setVisible(running or bool(self.rows))

    def _on_cell_double_clicked(self, row: int, column: int) -> None:
        item = self.table.item(row, 1)
        if item is not None:
            self.row_activated.emit(Path(item.data(Qt.ItemDataRole.UserRole)))
