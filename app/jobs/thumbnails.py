"""Scanning a dataset folder and making thumbnails, in threads (never in the GUI thread).

Both read the user's images only through ``alexnet_tf.images.load_image``; both import no
TensorFlow. ``QImage`` (unlike ``QPixmap``) may be made outside the GUI thread.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QThread, Signal
from PySide6.QtGui import QImage

from alexnet_tf.errors import AlexNetStudioError
from alexnet_tf.images import load_image

SAMPLES_PER_CLASS = 5
THUMBNAIL_SIZE = 64


def thumbnail(path: str | Path, size: int = THUMBNAIL_SIZE) -> QImage | None:
    """A ``size``-pixel (longest side) QImage of the image at ``path``, or None if unreadable."""
    try:
        image = load_image(path)
    except (AlexNetStudioError, OSError):
        return None
    image.thumbnail((size, size))
    data = image.tobytes()
    qimage = QImage(data, image.width, image.height, 3 * image.width, QImage.Format.Format_RGB888)
    return qimage.copy()  # own the pixels: ``data`` goes away


class _Stopped(Exception):
    pass


class ScanThread(QThread):
    """Scans a dataset folder and makes sample thumbnails of each class.

    Signals:
        progressed(int, int): files done, files in all.
        scanned(object, object): the ``DatasetScan`` and ``{class: [QImage, ...]}``.
        failed(str): the folder could not be scanned at all.
    """

    progressed = Signal(int, int)
    scanned = Signal(object, object)
    failed = Signal(str)

    def __init__(self, folder: str | Path, parent=None):
        super().__init__(parent)
        self.folder = Path(folder)

    def run(self) -> None:
        from alexnet_tf.data.scan import scan_dataset

        def progress(done, total):
            if self.isInterruptionRequested():
                raise _Stopped()
            self.progressed.emit(done, total)

        try:
            scan = scan_dataset(self.folder, progress=progress)
            samples: dict[str, list[QImage]] = {name: [] for name in scan.classes}
            for item in scan.items:
                if self.isInterruptionRequested():
                    return
                name = scan.classes[item.label]
                if len(samples[name]) < SAMPLES_PER_CLASS:
                    image = thumbnail(item.path)
                    if image is not None:
                        samples[name].append(image)
        except _Stopped:
            return
        except (AlexNetStudioError, OSError) as error:
            self.failed.emit(f"Could not scan {self.folder}: {error}")
            return
        self.scanned.emit(scan, samples)


class ThumbnailThread(QThread):
    """Makes thumbnails of ``paths`` one by one; emits ``made(index, QImage or None)``."""

    made = Signal(int, object)

    def __init__(self, paths, size: int = 96, parent=None):
        super().__init__(parent)
        self.paths = [Path(p) for p in paths]
        self.size = size

    def run(self) -> None:
        for index, path in enumerate(self.paths):
            if self.isInterruptionRequested():
                return
            self.made.emit(index, thumbnail(path, self.size))


def stop_thread(thread: QThread | None) -> None:
    """Ask ``thread`` to stop and wait for it (threads must not outlive their widgets)."""
    if thread is not None and thread.isRunning():
        thread.requestInterruption()
        thread.wait()
