"""The Jobs panel: every job in the data folder, and the selected one's curves, evaluation and log.

Everything shown comes from the job folders (re-read every second, so jobs started from a
terminal or kept running while the app was closed are followed too), sped up by the JSON
events of the jobs the app launched. Export runs ``alexnet-studio export`` as a process.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QProcess, Qt, QTimer, QUrl, Signal
from PySide6.QtGui import QColor, QDesktopServices, QPainter
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMessageBox,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QStyledItemDelegate,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from alexnet_tf.training.events import describe_kept, format_duration

from .. import style
from ..card import Card
from . import job_store
from .evaluation_view import EvaluationView
from .fine_tuning_changes import FineTuningChangesView
from .job_process import JobRunner, train_command
from .training_curves import TrainingCurves

REFRESH_MS = 1000
STATE_TEXT = job_store.STATE_TEXT
STATE_COLOUR = {
    "not_responding": "#f0b429",
    "damaged": "#ff6b6b",
    "running": "#5b9cff",
    "starting": "#5b9cff",
    "finished": "#4cc38a",
    "failed": "#ff6b6b",
    "interrupted": "#ff6b6b",
    "cancelled": "#f0b429",
}
EXPORT_FILTERS = {
    "Keras model (*.keras)": "keras",
    "TensorFlow SavedModel (folder)": "savedmodel",
    "TensorFlow Lite (*.tflite)": "tflite",
}
COLUMNS = ["Job", "State", "Progress", "Images/s", "ETA", "Classes", "Mode"]


class ProgressDelegate(QStyledItemDelegate):
    """Draws a cell's progress (its UserRole value, 0..1) as a bar with the percentage."""

    def paint(self, painter, option, index) -> None:
        value = index.data(Qt.ItemDataRole.UserRole) or 0.0
        rect = option.rect.adjusted(6, 7, -6, -7)
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QColor(style.RAISED))
        painter.drawRoundedRect(rect, 4, 4)
        if value > 0:
            filled = rect.adjusted(0, 0, -int(rect.width() * (1 - min(value, 1.0))), 0)
            painter.setBrush(QColor(style.ACCENT))
            painter.drawRoundedRect(filled, 4, 4)
        painter.setPen(QColor(style.TEXT))
        painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, index.data() or "")
        painter.restore()


class JobsPanel(QWidget):
    """Lists the jobs and controls the selected one.

    Signals:
        use_model_requested(str): make the classify view use this finished job's model.
        notice_requested(str, str): a message for the window's notice bar (text, kind).
        export_finished(str, bool): destination, success.
    """

    use_model_requested = Signal(str)
    notice_requested = Signal(str, str)
    export_finished = Signal(str, bool)

    def __init__(self, runner: JobRunner, parent=None):
        super().__init__(parent)
        self.runner = runner
        self.records: dict[str, job_store.JobRecord] = {}
        self.live: dict[str, dict] = {}  # job folder -> latest fields from its JSON events
        self._selected: str | None = None
        self._metrics: job_store.MetricsReader | None = None
        self._export: QProcess | None = None
        self._export_out = ""
        self.confirm = self._ask_question  # replaceable (tests answer without a dialog)
        runner.event_received.connect(self._on_event)
        runner.job_launched.connect(self._on_job_launched)
        runner.launch_failed.connect(
            lambda job, why: self.notice_requested.emit(f"Could not start {job}: {why}", "error")
        )
        self._build()
        self._timer = QTimer(self)
        self._timer.setInterval(REFRESH_MS)
        self._timer.timeout.connect(self.refresh)
        self._timer.start()
        self.refresh()

    # ------------------------------------------------------------------ building
    def _build(self) -> None:
        self._build_table()
        self.title = QLabel("No job selected")
        self.title.setObjectName("heading")
        self.state_label = QLabel()
        self.state_label.setWordWrap(True)
        self.state_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.details = QLabel()
        self.details.setObjectName("muted")
        self.details.setWordWrap(True)
        buttons = self._build_buttons()
        self.curves = TrainingCurves()
        self.evaluation = EvaluationView()
        self.log = QPlainTextEdit()
        self.log.setReadOnly(True)
        self.log.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.detail_tabs = QTabWidget()
        self.detail_tabs.addTab(self.curves, "Curves")
        self.detail_tabs.addTab(self.evaluation, "Evaluation")
        self.changes = FineTuningChangesView()
        self.detail_tabs.addTab(self.changes, "What fine-tuning changed")
        self.detail_tabs.addTab(self.log, "Log")

        top = Card(margins=(10, 8, 10, 8))
        top.box.addWidget(self.table)
        top.box.addWidget(self.empty_hint)
        bottom = Card(margins=(14, 10, 14, 10))
        bottom.box.addWidget(self.title)
        bottom.box.addWidget(self.state_label)
        bottom.box.addWidget(self.details)
        bottom.box.addLayout(buttons)
        bottom.box.addWidget(self.detail_tabs, 1)
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(top)
        splitter.addWidget(bottom)
        splitter.setSizes([150, 610])
        splitter.setHandleWidth(10)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(splitter)
        # The shared style colours primary buttons even when disabled; here that would
        # suggest "Use this model" works for an unfinished job.
        self.setStyleSheet(
            f"QPushButton#primary:disabled {{ background: {style.RAISED}; color: {style.MUTED}; }}"
        )
        self._update_buttons(None)

    def _build_table(self) -> None:
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for column, width in enumerate((0, 150, 170, 90, 70, 80, 70)):
            if column:
                self.table.setColumnWidth(column, width)
        self.table.setItemDelegateForColumn(2, ProgressDelegate(self.table))
        self.table.itemSelectionChanged.connect(self._on_selection_changed)
        self.empty_hint = QLabel(
            "No jobs yet. Start one on the Fine-tune page; jobs started with "
            "`alexnet-studio train` appear here too."
        )
        self.empty_hint.setObjectName("muted")

    def _build_buttons(self) -> QHBoxLayout:
        def button(text, slot, tip):
            widget = QPushButton(text)
            widget.setToolTip(tip)
            widget.clicked.connect(slot)
            return widget

        self.cancel_button = button(
            "Cancel",
            self.cancel_selected,
            "Stop after the current step; the job keeps its checkpoint",
        )
        self.resume_button = button(
            "Resume", self.resume_selected, "Continue from the last checkpoint"
        )
        self.use_button = button(
            "Use this model",
            self.use_selected,
            "Classify images with this job's model and class names",
        )
        self.use_button.setObjectName("primary")
        self.export_button = button(
            "Export…", self.export_selected, "Save the model as .keras, SavedModel or TFLite"
        )
        self.folder_button = button(
            "Open folder", self.open_selected_folder, "Show the job folder in the file manager"
        )
        self.delete_button = button("Delete…", self.delete_selected, "Delete the job folder")
        buttons = QHBoxLayout()
        for widget in (self.cancel_button, self.resume_button, self.use_button,
                       self.export_button, self.folder_button):  # fmt: skip
            buttons.addWidget(widget)
        buttons.addStretch(1)
        buttons.addWidget(self.delete_button)
        return buttons

    # ------------------------------------------------------------------ public
    def refresh(self) -> None:
        """Re-read every job folder and redraw the list and the selected job."""
        records = job_store.list_jobs()
        paths = [str(r.path) for r in records]
        self.records = {str(r.path): r for r in records}
        if paths != [self._row_path(row) for row in range(self.table.rowCount())]:
            self._rebuild_rows(records)
        for row, record in enumerate(records):
            self._fill_row(row, record)
        self.empty_hint.setVisible(not records)
        if self._selected is not None:
            self._show_selected()

    def select_job(self, job_dir) -> None:
        """Select ``job_dir`` in the list (refreshing first, so a new job is there)."""
        self.refresh()
        for row in range(self.table.rowCount()):
            if self._row_path(row) == str(Path(job_dir)):
                self.table.selectRow(row)
                return

    def selected_record(self) -> job_store.JobRecord | None:
        return self.records.get(self._selected) if self._selected else None

    def state_of(self, job_dir) -> str:
        """The state shown for ``job_dir`` (re-read now)."""
        return job_store.read_job(job_dir).state

    def cancel_selected(self) -> None:
        record = self.selected_record()
        if record is not None and self.runner.cancel(record.path):
            self.state_label.setText(
                "Cancelling: the job finishes its step and saves a checkpoint…"
            )

    def resume_selected(self) -> None:
        record = self.selected_record()
        if record is not None and record.can_resume:
            self.runner.resume(record.path)
            self.live.pop(str(record.path), None)
            self.refresh()

    def delete_selected(self) -> None:
        record = self.selected_record()
        if record is None:
            return
        if record.is_active:
            self.notice_requested.emit(f"{record.name} is running; cancel it first.", "info")
            return
        if not self.confirm(
            "Delete job",
            f"Delete the job {record.name} and everything in its folder (model, checkpoints, "
            "logs)? This cannot be undone.",
        ):
            return
        try:
            job_store.delete_job(record.path)
        except RuntimeError as error:
            self.notice_requested.emit(str(error), "info")
            return
        self._selected = None
        self.refresh()

    def open_selected_folder(self) -> None:
        record = self.selected_record()
        if record is not None and record.path.is_dir():
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(record.path)))

    def use_selected(self) -> None:
        record = self.selected_record()
        if record is not None and record.has_model:
            self.use_model_requested.emit(str(record.path))

    def export_selected(self) -> None:
        record = self.selected_record()
        if record is None or not record.has_model:
            return
        path, chosen = QFileDialog.getSaveFileName(
            self, "Export the model", str(Path.home() / f"{record.name}.keras"),
            ";;".join(EXPORT_FILTERS),
        )  # fmt: skip
        if path:
            self.export_model(record.path, EXPORT_FILTERS.get(chosen, "keras"), path)

    def export_model(self, job_dir, fmt: str, out) -> None:
        """Run ``alexnet-studio export`` in a process; ``export_finished`` tells the result."""
        if self._export is not None:
            self.notice_requested.emit("An export is already running; wait for it.", "info")
            return
        command = train_command(["export", str(job_dir), "--format", fmt, "--out", str(out),
                                 "--force"])  # fmt: skip
        process = QProcess(self)
        process.setProcessChannelMode(QProcess.ProcessChannelMode.MergedChannels)
        process.finished.connect(self._on_export_finished)
        self._export, self._export_out = process, str(out)
        self.export_button.setEnabled(False)
        self.export_button.setText("Exporting…")
        process.start(command[0], command[1:])

    @property
    def exporting(self) -> bool:
        return self._export is not None

    def shutdown(self) -> None:
        """Stop timers and threads; an export in progress is stopped."""
        self._timer.stop()
        self.evaluation.shutdown()
        self.changes.shutdown()
        if self._export is not None:
            self._export.kill()
            self._export.waitForFinished(5000)

    # ------------------------------------------------------------------ rows
    def _row_path(self, row: int) -> str | None:
        item = self.table.item(row, 0)
        return item.data(Qt.ItemDataRole.UserRole) if item else None

    def _rebuild_rows(self, records) -> None:
        self.table.blockSignals(True)
        self.table.setRowCount(len(records))
        for row, record in enumerate(records):
            item = QTableWidgetItem(record.name)
            item.setData(Qt.ItemDataRole.UserRole, str(record.path))
            self.table.setItem(row, 0, item)
            for column in range(1, len(COLUMNS)):
                self.table.setItem(row, column, QTableWidgetItem())
        self.table.clearSelection()
        for row, record in enumerate(records):
            if str(record.path) == self._selected:
                self.table.selectRow(row)
        self.table.blockSignals(False)

    def _merged(self, record: job_store.JobRecord) -> job_store.JobRecord:
        """The folder's record, with fresher numbers from the job's events while it runs."""
        live = self.live.get(str(record.path))
        if live and record.state == "running":
            for key in ("progress", "images_per_second", "eta_seconds"):
                if live.get(key) is not None:
                    setattr(record, key, live[key])
        return record

    def _fill_row(self, row: int, record: job_store.JobRecord) -> None:
        record = self._merged(record)
        state = self.table.item(row, 1)
        state.setText(record.state_text)
        state.setForeground(QColor(STATE_COLOUR.get(record.state, "#e8e9ed")))
        progress = self.table.item(row, 2)
        progress.setData(Qt.ItemDataRole.UserRole, float(record.progress or 0))
        progress.setText(f"{(record.progress or 0) * 100:.0f}%")
        active = record.state == "running"
        ips = record.images_per_second
        self.table.item(row, 3).setText(f"{ips:.1f}" if active and ips else "—")
        self.table.item(row, 4).setText(format_duration(record.eta_seconds, "—") if active else "—")
        self.table.item(row, 5).setText(str(len(record.classes) or "—"))
        self.table.item(row, 6).setText(str(record.settings.get("mode", "—")))

    # ------------------------------------------------------------------ selected job
    def _on_selection_changed(self) -> None:
        rows = {index.row() for index in self.table.selectedIndexes()}
        path = self._row_path(min(rows)) if rows else None
        if path == self._selected:
            return
        self._selected = path
        self._metrics = job_store.MetricsReader(path) if path else None
        self.curves.clear()
        self.evaluation.set_report(None)
        self.log.clear()
        self._show_selected()

    def _show_selected(self) -> None:
        record = self.selected_record()
        self._update_buttons(record)
        if record is None:
            self.title.setText("No job selected")
            self.state_label.clear()
            self.details.clear()
            return
        record = self._merged(record)
        live = self.live.get(str(record.path), {})
        self.title.setText(record.name)
        text = record.state_text
        message = record.message
        if record.state == "running" and isinstance(live.get("message"), str):
            message = live["message"]
        if record.state == "running":
            eta = format_duration(record.eta_seconds, "—")
            text += (
                f" · {record.progress * 100:.0f}% · epoch {(record.epoch or 0) + 1}"
                f"/{record.settings.get('epochs', '?')} · ETA {eta}"
            )
        colour = STATE_COLOUR.get(record.state, "#e8e9ed")
        self.state_label.setText(f"<span style='color:{colour}'>{text}</span> — {_html(message)}")
        s, d = record.settings, record.dataset
        parts = []
        if d:
            parts.append(
                f"{d.get('num_images', '?')} images ({d.get('num_train', '?')} train, "
                f"{d.get('num_val', '?')} validation), {len(record.classes)} classes"
            )
        if s:
            parts.append(
                f"mode {s.get('mode')}, {s.get('epochs')} epochs, batch {s.get('batch_size')}, "
                f"lr {s.get('lr')}, {s.get('precision')}"
            )
        if record.strategy:
            parts.append(f"on {record.strategy}")
        kept = describe_kept(record.kept)
        kept = f"\nSaved model: {kept}" if kept else ""
        self.details.setText(" · ".join(parts) + kept + f"\n{record.path}")
        if self._metrics is not None:
            metrics, changed = self._metrics.read()
            if changed:
                self.curves.set_metrics(metrics)
        self.curves.mark_kept(record.kept if record.state == "finished" else None)
        self.evaluation.set_report(*job_store.read_evaluation_checked(record.path))
        self.changes.set_job(record.path, record.settings, record.state == "finished")
        log = job_store.read_log(record.path)
        if log != self.log.toPlainText():
            self.log.setPlainText(log)
            self.log.verticalScrollBar().setValue(self.log.verticalScrollBar().maximum())

    def _update_buttons(self, record) -> None:
        self.cancel_button.setEnabled(bool(record and record.is_active))
        self.resume_button.setEnabled(bool(record and record.can_resume))
        has_model = bool(record and record.has_model)
        self.use_button.setEnabled(has_model)
        self.export_button.setEnabled(has_model and self._export is None)
        self.folder_button.setEnabled(bool(record and record.path.is_dir()))
        self.delete_button.setEnabled(bool(record and not record.is_active))

    # ------------------------------------------------------------------ events
    def _on_job_launched(self, job_dir: str) -> None:
        self.select_job(job_dir)

    def _on_event(self, job_dir: str, event: dict) -> None:
        live = self.live.setdefault(job_dir, {})
        kind = event.get("event")
        if kind == "step":
            # Only well-formed numbers: a job's output is not trusted to be sane.
            for key in ("progress", "images_per_second", "eta_seconds"):
                value = job_store.finite_number(event.get(key))
                if value is not None and value >= 0:
                    live[key] = min(value, 1.0) if key == "progress" else value
        elif kind == "phase":
            live["message"] = event.get("message", "")
        elif kind == "error":
            name = Path(job_dir).name
            message = f"Training job {name} failed: {str(event.get('message'))[:500]}"
            self.notice_requested.emit(message, "error")
        elif kind == "done":
            evaluation = event.get("eval")
            top1 = evaluation.get("top1") if isinstance(evaluation, dict) else None
            kept = event.get("kept") if isinstance(event.get("kept"), dict) else {}
            epoch = f" (epoch {kept['epoch'] + 1})" if isinstance(kept.get("epoch"), int) else ""
            self.notice_requested.emit(
                f"Training job {Path(job_dir).name} finished: "
                f"validation accuracy {(job_store.finite_number(top1) or 0) * 100:.1f}%{epoch}.",
                "info",
            )
        if kind in ("step", "phase", "start", "epoch", "done", "error", "cancelled"):
            if kind != "step" or job_dir == self._selected:
                self.refresh()

    def _on_export_finished(self, code: int, status) -> None:
        process, self._export = self._export, None
        output = bytes(process.readAll()).decode("utf-8", "replace").strip()
        process.deleteLater()
        self.export_button.setText("Export…")
        self._update_buttons(self.selected_record())
        ok = code == 0 and status == QProcess.ExitStatus.NormalExit
        if ok:
            self.notice_requested.emit(f"Exported the model to {self._export_out}.", "info")
        else:
            last = output.splitlines()[-1] if output else "no output"
            self.notice_requested.emit(f"Export to {self._export_out} failed: {last}", "error")
        self.export_finished.emit(self._export_out, ok)

    @staticmethod
    def _ask_question(title: str, text: str) -> bool:
        answer = QMessageBox.question(None, title, text)
        return answer == QMessageBox.StandardButton.Yes


def _html(text: str) -> str:
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
