"""Where images come from: dropped or pasted URLs, folders, the clipboard.

Only turns what Qt hands over into paths or Pillow images; the worker opens the files.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image
from PySide6.QtCore import QMimeData, QUrl
from PySide6.QtGui import QImage

from alexnet_tf.images import InputProblem, expand_inputs


def paths_from_mime_data(mime: QMimeData) -> list[Path]:
    """Local paths of the ``file://`` URLs in dropped or pasted data (others are ignored)."""
    paths = []
    for url in mime.urls() if mime.hasUrls() else []:
        if url.isLocalFile():
            paths.append(Path(url.toLocalFile()))
    if not paths and mime.hasText():  # file managers that paste "file:///..." as text
        for line in mime.text().splitlines():
            url = QUrl(line.strip())
            if url.isLocalFile():
                paths.append(Path(url.toLocalFile()))
    return paths


def expand_paths(paths) -> list[Path]:
    """The images to open for ``paths`` (``alexnet_tf.images.expand_inputs``, the CLI's rules).

    A FIFO or device named like an image is kept, so its row says why it was not read (the
    loader refuses it without opening it); links in a folder and empty folders are left out.
    """
    keep = (None, InputProblem.NOT_REGULAR)
    return [path for path, problem in expand_inputs(paths) if problem in keep]


def qimage_to_pil(image: QImage) -> Image.Image:
    """Copy a ``QImage`` (e.g. from the clipboard) to an RGB Pillow image."""
    image = image.convertToFormat(QImage.Format.Format_RGB888)
    width, height, stride = image.width(), image.height(), image.bytesPerLine()
    buffer = np.frombuffer(image.constBits(), np.uint8, count=stride * height)
    array = buffer.reshape(height, stride)[:, : width * 3].reshape(height, width, 3)
    return Image.fromarray(array.copy(), "RGB")


def rgb_to_qimage(array: np.ndarray) -> QImage:
    """Wrap an ``(H, W, 3)`` uint8 RGB array as a ``QImage`` that owns a copy of the pixels."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    height, width = array.shape[:2]
    if array.ndim == 3 and array.shape[2] == 4:
        fmt, stride = QImage.Format.Format_RGBA8888, width * 4
    else:
        fmt, stride = QImage.Format.Format_RGB888, width * 3
    return QImage(array.data, width, height, stride, fmt).copy()
