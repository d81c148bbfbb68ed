"""The input image, with the 227x227 region the network sees, and optional overlays."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QFont, QPainter, QPen, QPixmap
from PySide6.QtWidgets import QSizePolicy, QWidget

from alexnet_tf.preprocess import CROP, CROP_OFFSET, RESIZE

from . import style
from .image_sources import rgb_to_qimage

# The network warps the image to 256x256 and takes the centre 227x227: in the original
# image that is this fraction of the width and height, whatever the aspect ratio.
CROP_START = CROP_OFFSET / RESIZE
CROP_SIZE = CROP / RESIZE


class ImageView(QWidget):
    """Draws an image scaled to fit, dims what the network does not see, outlines the crop.

    ``set_overlay`` lays an RGBA picture (a heat map, a channel) over the crop region.
    """

    def __init__(self, placeholder: str = "", parent: QWidget | None = None):
        super().__init__(parent)
        self.placeholder = placeholder
        self._pixmap: QPixmap | None = None
        self._overlay: QPixmap | None = None
        self.show_crop = True
        self.setMinimumSize(200, 160)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

    def set_image(self, rgb: np.ndarray | None) -> None:
        self._pixmap = None if rgb is None else QPixmap.fromImage(rgb_to_qimage(rgb))
        self._overlay = None
        self.update()

    def has_image(self) -> bool:
        return self._pixmap is not None

    def set_overlay(self, rgba: np.ndarray | None) -> None:
        """An ``(h, w, 4)`` uint8 picture stretched over the crop region, or ``None``."""
        self._overlay = None if rgba is None else QPixmap.fromImage(rgb_to_qimage(rgba))
        self.update()

    def image_rect(self) -> QRectF:
        """Where the image is drawn, in widget coordinates."""
        if self._pixmap is None:
            return QRectF()
        width, height = self._pixmap.width(), self._pixmap.height()
        scale = min((self.width() - 16) / width, (self.height() - 16) / height)
        drawn_w, drawn_h = width * scale, height * scale
        return QRectF((self.width() - drawn_w) / 2, (self.height() - drawn_h) / 2, drawn_w, drawn_h)

    def crop_rect(self) -> QRectF:
        """The region the network sees, in widget coordinates."""
        image = self.image_rect()
        return QRectF(
            image.x() + image.width() * CROP_START,
            image.y() + image.height() * CROP_START,
            image.width() * CROP_SIZE,
            image.height() * CROP_SIZE,
        )

    def paintEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        if self._pixmap is None:
            painter.setPen(QColor(style.MUTED))
            font = QFont(self.font())
            font.setPointSizeF(11)
            painter.setFont(font)
            pen = QPen(QColor(style.BORDER), 2, Qt.PenStyle.DashLine)
            painter.save()
            painter.setPen(pen)
            painter.drawRoundedRect(self.rect().adjusted(10, 10, -10, -10), 10, 10)
            painter.restore()
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, self.placeholder)
            return
        image, crop = self.image_rect(), self.crop_rect()
        painter.drawPixmap(image, self._pixmap, QRectF(self._pixmap.rect()))
        if self.show_crop:
            shade = QColor(0, 0, 0, 120)  # what the network never sees is dimmed
            painter.fillRect(
                QRectF(image.left(), image.top(), image.width(), crop.top() - image.top()), shade
            )
            painter.fillRect(
                QRectF(image.left(), crop.bottom(), image.width(), image.bottom() - crop.bottom()),
                shade,
            )
            painter.fillRect(
                QRectF(image.left(), crop.top(), crop.left() - image.left(), crop.height()), shade
            )
            painter.fillRect(
                QRectF(crop.right(), crop.top(), image.right() - crop.right(), crop.height()), shade
            )
        if self._overlay is not None:
            painter.drawPixmap(crop, self._overlay, QRectF(self._overlay.rect()))
        if self.show_crop:
            painter.setPen(QPen(QColor(style.ACCENT), 1.5, Qt.PenStyle.DashLine))
            painter.drawRect(crop)
            painter.setPen(QColor(style.TEXT))
            label = QRectF(crop.left() + 4, crop.top() + 2, crop.width() - 8, 18)
            painter.drawText(label, Qt.AlignmentFlag.AlignLeft, "227×227 the network sees")


def heat_overlay(
    values: np.ndarray, size: int = 227, min_alpha: int = 40, max_alpha: int = 170
) -> np.ndarray:
    """Colour a 0..1 map with viridis, alpha rising with the value, at ``size`` x ``size``."""
    from PIL import Image

    from alexnet_tf.render import colorize

    values = np.clip(np.nan_to_num(np.asarray(values, np.float32)), 0.0, 1.0)
    resized = np.asarray(Image.fromarray(values, mode="F").resize((size, size), Image.BILINEAR))
    resized = np.clip(resized, 0.0, 1.0)
    rgba = np.empty((size, size, 4), np.uint8)
    rgba[..., :3] = colorize(resized)
    rgba[..., 3] = (min_alpha + resized * (max_alpha - min_alpha)).astype(np.uint8)
    return rgba
