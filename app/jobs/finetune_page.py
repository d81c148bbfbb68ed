"""The "Fine-tune" page: pick or drop a folder, read the scan report, choose settings, Start.

The scan runs in a ``ScanThread``; the page only shows its report. Errors in the dataset
(what ``scan_dataset`` puts in ``errors``) disable Start and say why next to the button.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QAbstractSpinBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from alexnet_tf.jobfolder import MODES as MODE_KEYS
from alexnet_tf.jobfolder import PRECISIONS as PRECISION_KEYS
from alexnet_tf.training.recipe import DEFAULT_LR

from ..card import Card
from ..drops import PathDrops
from .devices import describe_devices
from .thumbnails import THUMBNAIL_SIZE, ScanThread, stop_thread

# The words for the library's modes and precisions (which exist is the library's to say).
MODE_TEXT = {
    "head": ("Head: retrain the last layer (fc8)",
             "Fastest; works with a few dozen images per class. Features are computed once."),
    "top": ("Top: retrain fc6, fc7 and fc8",
            "Slower; adapts more when your images differ from photos. Wants more images."),
    "full": ("Full: retrain every layer",
             "Slowest; for large datasets (thousands of images), ideally on a GPU."),
}  # fmt: skip
PRECISION_TEXT = {
    "fp32": "fp32 (exact)",
    "bf16": "bf16 (mixed, less memory)",
    "fp16": "fp16 (mixed, GPU only)",
}
MODES = tuple((key, *MODE_TEXT[key]) for key in MODE_KEYS)
PRECISIONS = tuple((key, PRECISION_TEXT[key]) for key in PRECISION_KEYS)


def _muted(text: str) -> QLabel:
    label = QLabel(text)
    label.setObjectName("muted")
    label.setWordWrap(True)
    return label


class FolderDropZone(Card):
    """A box that takes a dropped folder (or a file inside it) and emits ``folder_dropped``."""

    folder_dropped = Signal(object)  # Path

    def __init__(self, parent=None):
        super().__init__(parent, horizontal=True)
        PathDrops(self, self.take_paths)
        self.title = QLabel("Drop a folder of images here")
        self.title.setObjectName("heading")
        self.path_label = _muted("One sub-folder per class; the sub-folder's name is the label.")
        self.choose_button = QPushButton("Choose folder…")
        text = QVBoxLayout()
        text.addWidget(self.title)
        text.addWidget(self.path_label)
        self.box.addLayout(text, 1)
        self.box.addWidget(self.choose_button, 0, Qt.AlignmentFlag.AlignVCenter)

    def take_paths(self, paths) -> None:
        """A drop: the folder dropped, or the folder of the file dropped."""
        path = Path(paths[0])
        self.folder_dropped.emit(path if path.is_dir() else path.parent)


class ScanReport(QWidget):
    """Classes with counts and sample thumbnails, refused files and why, warnings, errors."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.summary = QLabel("No folder chosen yet.")
        self.summary.setObjectName("heading")
        self.summary.setWordWrap(True)
        self.progress = QProgressBar()
        self.progress.hide()
        self.problems = QLabel()
        self.problems.setWordWrap(True)
        self.problems.setTextFormat(Qt.TextFormat.RichText)
        self.problems.hide()
        self.classes = QTableWidget(0, 3)
        self.classes.setHorizontalHeaderLabels(["Class", "Images", "Samples"])
        self.classes.verticalHeader().hide()
        self.classes.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.classes.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        header = self.classes.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        self.refused_title = QLabel("Files that will not be used")
        self.refused = QTableWidget(0, 2)
        self.refused.setHorizontalHeaderLabels(["File", "Why"])
        self.refused.verticalHeader().hide()
        self.refused.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.refused.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Interactive)
        self.refused.horizontalHeader().setStretchLastSection(True)
        self.refused.setColumnWidth(0, 260)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.summary)
        layout.addWidget(self.progress)
        layout.addWidget(self.problems)
        layout.addWidget(self.classes, 3)
        layout.addWidget(self.refused_title)
        layout.addWidget(self.refused, 1)

    def show_scanning(self, folder: Path) -> None:
        self.summary.setText(f"Scanning {folder.name}…")
        self.progress.setRange(0, 0)
        self.progress.show()
        self.problems.hide()
        self.classes.setRowCount(0)
        self.refused.setRowCount(0)

    def show_progress(self, done: int, total: int) -> None:
        self.progress.setRange(0, max(total, 1))
        self.progress.setValue(done)

    def show_scan(self, scan, samples: dict) -> None:
        self.progress.hide()
        counts = scan.counts()
        self.summary.setText(
            f"{len(scan.items)} images in {len(scan.classes)} classes"
            + (f" · {len(scan.refused)} refused" if scan.refused else "")
            + (f" · {len(scan.skipped)} skipped" if scan.skipped else "")
        )
        lines = [f"<p style='color:#ff6b6b'>✖ {_html(e)}</p>" for e in scan.errors]
        lines += [f"<p style='color:#f0b429'>⚠ {_html(w)}</p>" for w in scan.warnings]
        self.problems.setText("".join(lines))
        self.problems.setVisible(bool(lines))
        self.classes.setRowCount(len(scan.classes))
        for row, name in enumerate(scan.classes):
            self.classes.setItem(row, 0, QTableWidgetItem(name))
            count = QTableWidgetItem(str(counts[name]))
            count.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            self.classes.setItem(row, 1, count)
            strip = QWidget()
            strip_layout = QHBoxLayout(strip)
            strip_layout.setContentsMargins(4, 2, 4, 2)
            strip_layout.setSpacing(4)
            for image in samples.get(name, []):
                label = QLabel()
                label.setPixmap(QPixmap.fromImage(image))
                label.setFixedSize(THUMBNAIL_SIZE, THUMBNAIL_SIZE)
                label.setAlignment(Qt.AlignmentFlag.AlignCenter)
                strip_layout.addWidget(label)
            strip_layout.addStretch(1)
            self.classes.setCellWidget(row, 2, strip)
            self.classes.setRowHeight(row, THUMBNAIL_SIZE + 8)
        problems = list(scan.refused) + list(scan.skipped)
        self.refused.setRowCount(len(problems))
        for row, item in enumerate(problems):
            try:
                shown = str(Path(item.path).relative_to(scan.root))
            except ValueError:
                shown = str(item.path)
            self.refused.setItem(row, 0, QTableWidgetItem(shown))
            self.refused.setItem(row, 1, QTableWidgetItem(item.reason))
        self.refused_title.setText(
            f"Files that will not be used ({len(problems)})" if problems else "No files refused"
        )

    def show_failure(self, message: str) -> None:
        self.progress.hide()
        self.summary.setText("The folder could not be scanned")
        self.problems.setText(f"<p style='color:#ff6b6b'>✖ {_html(message)}</p>")
        self.problems.show()


def _html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class SettingsForm(QWidget):
    """The job's settings, with defaults that suit a first fine-tune and a line on each."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.mode = QComboBox()
        for key, title, _ in MODES:
            self.mode.addItem(title, key)
        self.mode_help = _muted(MODES[0][2])
        self.epochs = QSpinBox()
        self.epochs.setRange(1, 10_000)
        self.epochs.setValue(10)
        self.batch_size = QSpinBox()
        self.batch_size.setRange(1, 4096)
        self.batch_size.setValue(32)
        self.lr = QDoubleSpinBox()
        self.lr.setDecimals(5)
        self.lr.setRange(0.00001, 1.0)
        # rates span 0.0001 (top, full) to 0.001 (head): steps of a tenth of the value
        self.lr.setStepType(QAbstractSpinBox.StepType.AdaptiveDecimalStepType)
        self.lr.setValue(DEFAULT_LR["head"])
        self.val_share = QSpinBox()
        self.val_share.setRange(0, 50)
        self.val_share.setSuffix(" %")
        self.val_share.setValue(20)
        self.precision = QComboBox()
        for key, title in PRECISIONS:
            self.precision.addItem(title, key)
        self.precision_help = _muted("")
        self._precision_chosen = False  # the user picked one: a measurement no longer does
        self.precision.activated.connect(lambda _: setattr(self, "_precision_chosen", True))
        self.name = QLineEdit()
        self.name.setPlaceholderText("named after the folder")
        self._lr_edited = False
        self.lr.valueChanged.connect(lambda _: setattr(self, "_lr_edited", True))
        self.mode.currentIndexChanged.connect(self._on_mode_changed)

        form = QFormLayout(self)
        form.setContentsMargins(0, 0, 0, 0)
        form.setVerticalSpacing(4)
        form.setLabelAlignment(Qt.AlignmentFlag.AlignRight)

        def row(title, widget, help_text):
            form.addRow(title, widget)
            help_label = help_text if isinstance(help_text, QLabel) else _muted(help_text)
            form.addRow("", help_label)

        row("Mode", self.mode, self.mode_help)
        row("Epochs", self.epochs, "Passes over the images; stop when validation accuracy stalls.")
        row("Batch size", self.batch_size, "Images per step. Lower it if memory runs out.")
        row("Learning rate", self.lr, "Peak rate, decayed along a cosine; a diverging job stops.")
        row("Validation share", self.val_share, "Kept out of training to measure accuracy.")
        row("Precision", self.precision, self.precision_help)
        row("Job name", self.name, "The job folder's name; the date is added.")
        self.show_speed_measurement()

    def show_speed_measurement(self) -> None:
        """Say whether mixed precision trains faster on this machine, from the cached
        measurement (``alexnet_tf.speed``), and offer the fastest as "recommended"."""
        from alexnet_tf.speed import precision_advice, read_measurement, recommended_precision

        try:
            entry = read_measurement()
        except OSError:
            entry = None
        recommended = recommended_precision(entry)
        for index, (key, title) in enumerate(PRECISIONS):
            self.precision.setItemText(
                index, f"{title}, recommended" if key == recommended and entry else title
            )
        if not self._precision_chosen:
            self.precision.setCurrentIndex(self.precision.findData(recommended))
        self.precision_help.setText("fp32 is exact. " + precision_advice(entry))

    def _on_mode_changed(self) -> None:
        key = self.mode.currentData()
        self.mode_help.setText(next(text for k, _, text in MODES if k == key))
        if not self._lr_edited:
            self.lr.blockSignals(True)
            self.lr.setValue(DEFAULT_LR[key])
            self.lr.blockSignals(False)

    def suit_dataset(self, num_images: int) -> None:
        """Lower the default batch size for a small dataset (it must fit the training images)."""
        train = int(num_images * (1 - self.val_share.value() / 100))
        batch = 32
        while batch > 1 and batch > train:
            batch //= 2
        if self.batch_size.value() > max(train, 1):
            self.batch_size.setValue(batch)

    def values(self) -> dict:
        """The settings as ``JobRunner.start_training`` takes them."""
        return {
            "mode": self.mode.currentData(),
            "epochs": self.epochs.value(),
            "batch_size": self.batch_size.value(),
            "lr": round(self.lr.value(), 6),
            "val_split": self.val_share.value() / 100,
            "precision": self.precision.currentData(),
            "name": self.name.text().strip(),
        }


class FinetunePage(QWidget):
    """Pick a folder, see its scan, set up and start a fine-tuning job.

    Signals:
        start_requested(str, dict): the dataset folder and the settings.
    """

    start_requested = Signal(str, dict)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.folder: Path | None = None
        self.scan = None
        self._thread: ScanThread | None = None

        self.drop_zone = FolderDropZone()
        # The whole page takes a dropped folder (not only the drop box), so a drop here never
        # reaches the main window, which would classify the folder instead.
        PathDrops(self, self.drop_zone.take_paths)
        self.drop_zone.folder_dropped.connect(self.set_folder)
        self.drop_zone.choose_button.clicked.connect(self.choose_folder)
        self.report = ScanReport()
        self.settings = SettingsForm()
        self.devices = QLabel(describe_devices())
        self.devices.setWordWrap(True)
        self.start_button = QPushButton("Start fine-tuning")
        self.start_button.setObjectName("primary")
        self.start_button.setEnabled(False)
        self.start_button.clicked.connect(self._on_start_clicked)
        self.blocked_reason = _muted("Choose a folder first.")

        settings_card = Card()
        side = settings_card.box
        title = QLabel("Settings")
        title.setObjectName("heading")
        side.addWidget(title)
        side.addWidget(self.settings)
        side.addSpacing(6)
        devices_title = QLabel("Runs on")
        devices_title.setObjectName("heading")
        side.addWidget(devices_title)
        side.addWidget(self.devices)
        side.addWidget(_muted("The job reports the exact devices when it starts."))
        side.addStretch(1)
        side.addWidget(self.blocked_reason)
        side.addWidget(self.start_button)

        report_card = Card()
        report_card.box.addWidget(self.report)

        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(report_card)
        splitter.addWidget(settings_card)
        splitter.setStretchFactor(0, 1)
        splitter.setSizes([730, 510])
        splitter.setHandleWidth(10)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.drop_zone)
        layout.addWidget(splitter, 1)

    def choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(
            self, "Choose a folder with one sub-folder per class"
        )
        if folder:
            self.set_folder(Path(folder))

    def set_folder(self, folder) -> None:
        """Scan ``folder`` in the background and show its report."""
        stop_thread(self._thread)
        self.folder = Path(folder)
        self.scan = None
        self.drop_zone.title.setText(self.folder.name or str(self.folder))
        self.drop_zone.path_label.setText(str(self.folder))
        self.report.show_scanning(self.folder)
        self._block("Scanning the folder…")
        thread = ScanThread(self.folder, self)
        thread.progressed.connect(self.report.show_progress)
        thread.scanned.connect(self._on_scanned)
        thread.failed.connect(self._on_scan_failed)
        self._thread = thread
        thread.start()

    @property
    def scanning(self) -> bool:
        return self._thread is not None and self._thread.isRunning()

    def _block(self, reason: str) -> None:
        self.start_button.setEnabled(False)
        self.blocked_reason.setText(reason)
        self.blocked_reason.setStyleSheet("")

    def _on_scanned(self, scan, samples) -> None:
        if self.folder is None or Path(scan.root) != self.folder.absolute():
            return  # the report of a folder the user has since replaced
        self.scan = scan
        self.report.show_scan(scan, samples)
        self.settings.suit_dataset(len(scan.items))
        if scan.errors:
            self._block("Cannot start: " + " ".join(scan.errors))
            self.blocked_reason.setStyleSheet("color: #ff6b6b;")
        else:
            self.start_button.setEnabled(True)
            self.blocked_reason.setText(
                f"Ready: {len(scan.items)} images, {len(scan.classes)} classes."
            )

    def _on_scan_failed(self, message: str) -> None:
        self.report.show_failure(message)
        self._block("Cannot start: " + message)

    def _on_start_clicked(self) -> None:
        if self.scan is None or self.scan.errors or self.folder is None:
            return
        self.start_requested.emit(str(self.folder), self.settings.values())

    def shutdown(self) -> None:
        """Stop the scan thread."""
        stop_thread(self._thread)
