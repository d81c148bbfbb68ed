"""The missing-weights banner: says why there are no predictions, offers Download and Import.

The download and the import run in their own thread (``WeightsInstaller``); the banner only
shows progress. Without weights the app shows no predictions at all: random weights would
give confident-looking nonsense.
"""

from __future__ import annotations

import logging
import threading

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import (
    QFileDialog,
    QFrame,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from alexnet_tf.errors import AlexNetStudioError

from .log import short_error_message

logger = logging.getLogger("alexnet_studio.app.weights")

DOWNLOAD_SOURCE = "caffemodel"  # sha1-verified; see alexnet_tf.weights.download.SOURCES


class DownloadCancelled(Exception):
    """Raised from the progress callback to stop a download the user cancelled."""


class WeightsInstaller(QObject):
    """Downloads or imports the ImageNet weights in its thread; reports through signals."""

    download_progressed = Signal(object, object)  # bytes done, total (or None)
    weights_installed = Signal()
    install_failed = Signal(str)
    install_cancelled = Signal()

    def __init__(self):
        super().__init__()
        self.cancelled = threading.Event()

    def _progress(self, done, total=None, *args) -> None:
        if self.cancelled.is_set():
            raise DownloadCancelled()
        self.download_progressed.emit(done, total)

    def download(self) -> None:
        self._run(lambda: _download(self._progress))

    def import_file(self, path: str) -> None:
        self._run(lambda: _import(path))

    def _run(self, action) -> None:
        try:
            action()
        except DownloadCancelled:
            self.install_cancelled.emit()
            return
        except AlexNetStudioError as error:
            if self.cancelled.is_set():
                self.install_cancelled.emit()
            else:
                self.install_failed.emit(str(error))
            return
        except Exception as error:
            logger.exception("Installing weights failed")
            self.install_failed.emit(short_error_message(error))
            return
        self.weights_installed.emit()


def _download(progress) -> None:
    from alexnet_tf.weights.download import download_weights

    download_weights(DOWNLOAD_SOURCE, progress=progress)


def _import(path: str) -> None:
    from alexnet_tf.weights import store

    store.import_weights_file(path)


class WeightsBanner(QFrame):
    """Shown when no ImageNet weights are installed; hidden otherwise.

    Emits ``weights_installed`` once a download or import succeeded (the window then loads
    the model).
    """

    weights_installed = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("banner")
        self.title = QLabel("<b>ImageNet weights are not installed</b>")
        self.text = QLabel(
            "Without them AlexNet's predictions would be meaningless, so none are shown. "
            "Download the original BVLC weights (about 240 MB) or import a "
            "bvlc_alexnet.caffemodel / .npy file you already have."
        )
        self.text.setWordWrap(True)
        self.progress = QProgressBar()
        self.progress.setFixedHeight(8)
        self.progress.setTextVisible(False)
        self.progress.hide()
        self.status = QLabel("")
        self.download_button = QPushButton("Download")
        self.download_button.setObjectName("primary")
        self.download_button.clicked.connect(self._on_download_clicked)
        self.import_button = QPushButton("Import file…")
        self.import_button.clicked.connect(self._on_import_clicked)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self._on_cancel_clicked)
        self.cancel_button.hide()
        text = QVBoxLayout()
        text.addWidget(self.title)
        text.addWidget(self.text)
        text.addWidget(self.progress)
        text.addWidget(self.status)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(14, 10, 14, 10)
        layout.addLayout(text, 1)
        layout.addWidget(self.download_button)
        layout.addWidget(self.import_button)
        layout.addWidget(self.cancel_button)

        self._thread: threading.Thread | None = None
        self._installer = WeightsInstaller()
        self._installer.download_progressed.connect(self._on_download_progressed)
        self._installer.weights_installed.connect(self._on_weights_installed)
        self._installer.install_failed.connect(self._on_install_failed)
        self._installer.install_cancelled.connect(self._on_install_cancelled)

    def _start(self, action, *args) -> None:
        # A Python thread, like the model thread (see ModelService for why not a QThread).
        self._installer.cancelled.clear()
        self._thread = threading.Thread(target=action, args=args, name="weights-thread")
        self._thread.start()

    def _busy(self, busy: bool, message: str = "") -> None:
        self.download_button.setEnabled(not busy)
        self.import_button.setEnabled(not busy)
        self.cancel_button.setVisible(busy)
        self.progress.setVisible(busy)
        self.status.setText(message)

    def start_download(self) -> None:
        self.progress.setRange(0, 0)
        self._busy(True, "Connecting…")
        self._start(self._installer.download)

    def start_import(self, path: str) -> None:
        self.progress.setRange(0, 0)
        self._busy(True, f"Importing {path}…")
        self._start(self._installer.import_file, str(path))

    def _on_download_clicked(self) -> None:
        self.start_download()

    def _on_import_clicked(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self,
            "Import AlexNet weights",
            "",
            "AlexNet weights (*.caffemodel *.npy *.h5);;All files (*)",
        )
        if path:
            self.start_import(path)

    def _on_cancel_clicked(self) -> None:
        self._installer.cancelled.set()
        self.status.setText("Cancelling…")

    def _on_download_progressed(self, done, total) -> None:
        megabytes = done / 1e6
        if total:
            self.progress.setRange(0, 1000)
            self.progress.setValue(int(1000 * done / total))
            self.status.setText(f"Downloaded {megabytes:.0f} of {total / 1e6:.0f} MB")
        else:
            self.status.setText(f"Downloaded {megabytes:.0f} MB")

    def _on_weights_installed(self) -> None:
        self._busy(False, "Installed.")
        self.weights_installed.emit()

    def _on_install_failed(self, message: str) -> None:
        self._busy(False)
        self.status.setText(message)

    def _on_install_cancelled(self) -> None:
        self._busy(False, "Cancelled. A partial download is kept and resumed next time.")

    def stop(self) -> None:
        """Cancel any download and end the thread (the window calls this when closing)."""
        self._installer.cancelled.set()
        if self._thread is not None:
            self._thread.join(60.0)
