"""All channels of a convolution, LRN or pooling layer as one grid; hover and click on a tile."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QImage, QPainter, QPen
from PySide6.QtWidgets import QSizePolicy, QToolTip, QWidget

from alexnet_tf.render import GAP, LABEL_HEIGHT, feature_grid_layout, render_feature_grid

from . import style
from .image_sources import rgb_to_qimage


def channel_statistics(channel: np.ndarray) -> str:
    """One line a user can read about a channel's values."""
    active = float(np.mean(channel > 0))
    return (
        f"min {channel.min():.3g} · max {channel.max():.3g} · mean {channel.mean():.3g} · "
        f"{active:.0%} active"
    )


def best_columns(shape, view_width: int, view_height: int) -> int:
    """Tiles per row that make an ``(H, W, C)`` grid as large as a view of this size allows."""
    height, width, channels = shape
    best, best_zoom = 1, 0.0
    for columns in range(1, channels + 1):
        layout = feature_grid_layout(height, width, channels, columns)
        zoom = min(view_width / layout.width, view_height / layout.height)
        if zoom > best_zoom:
            best, best_zoom = columns, zoom
    return best


def render_grids(activations: dict, columns: dict[str, int]) -> dict[str, QImage]:
    """Render the grid of every layer in ``columns`` (run in the model thread: drawing 96 to
    384 labelled tiles takes tens of milliseconds per layer, too long for the GUI thread)."""
    return {
        name: rgb_to_qimage(render_feature_grid(activations[name], columns=count))
        for name, count in columns.items()
    }


class FeatureGridView(QWidget):
    """Draws ``render_feature_grid`` of an ``(H, W, C)`` activation, fitted to the widget.

    The number of columns is chosen so the whole grid is as large as the widget allows.
    Hovering a tile shows its channel number and statistics; clicking emits
    ``channel_clicked(channel)``.
    """

    channel_clicked = Signal(int)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.activation: np.ndarray | None = None
        self.layer_name = ""
        self.selected_channel: int | None = None
        self._pixmap: QImage | None = None
        self._layout = None
        self._columns = None
        self.setMouseTracking(True)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(240, 200)

    def set_activation(
        self,
        layer_name: str,
        activation: np.ndarray | None,
        rendered: QImage | None = None,
        columns: int | None = None,
    ) -> None:
        """Show a layer; ``rendered`` is its grid drawn with ``columns`` tiles per row, if the
        model thread already drew it (the usual case), else it is drawn here."""
        self.layer_name = layer_name
        self.activation = activation
        self.selected_channel = None
        if activation is not None and rendered is not None and columns is not None:
            height, width, channels = activation.shape
            self._layout = feature_grid_layout(height, width, channels, columns)
            self._columns, self._pixmap = columns, rendered
            self.update()
            return
        self._columns = None
        self._render()

    def preferred_columns(self, shape) -> int:
        """Columns that fill this view best for an activation of ``shape``."""
        return best_columns(shape, max(self.width(), 200), max(self.height(), 200))

    def channel_count(self) -> int:
        return 0 if self.activation is None else int(self.activation.shape[-1])

    def _render(self) -> None:
        if self.activation is None:
            self._pixmap = None
            self.update()
            return
        columns = self.preferred_columns(self.activation.shape)
        height, width, channels = self.activation.shape
        self._columns = columns
        self._layout = feature_grid_layout(height, width, channels, columns)
        self._pixmap = rgb_to_qimage(render_feature_grid(self.activation, columns=columns))
        self.update()

    def _drawn_rect(self) -> QRectF:
        if self._pixmap is None:
            return QRectF()
        zoom = min(self.width() / self._pixmap.width(), self.height() / self._pixmap.height())
        zoom = min(zoom, 3.0)
        w, h = self._pixmap.width() * zoom, self._pixmap.height() * zoom
        return QRectF((self.width() - w) / 2, 0, w, h)

    def channel_at(self, position: QPointF) -> int | None:
        """The channel under a point of the widget, or ``None`` between tiles."""
        if self._pixmap is None:
            return None
        rect = self._drawn_rect()
        zoom = rect.width() / self._pixmap.width()
        x = (position.x() - rect.x()) / zoom - GAP
        y = (position.y() - rect.y()) / zoom - GAP
        layout = self._layout
        if x < 0 or y < 0:
            return None
        column, row = int(x // layout.cell_width), int(y // layout.cell_height)
        channel = row * layout.columns + column
        if column >= layout.columns or channel >= self.channel_count():
            return None
        return channel

    def tile_rect(self, channel: int) -> QRectF:
        """Where a channel's tile is drawn (for tests and highlighting)."""
        rect = self._drawn_rect()
        zoom = rect.width() / self._pixmap.width()
        row, column = divmod(channel, self._layout.columns)
        left = GAP + column * self._layout.cell_width
        top = GAP + row * self._layout.cell_height + LABEL_HEIGHT
        return QRectF(
            rect.x() + left * zoom,
            rect.y() + top * zoom,
            self._layout.tile_width * zoom,
            self._layout.tile_height * zoom,
        )

    def mouseMoveEvent(self, event) -> None:  # noqa: N802
        channel = self.channel_at(event.position())
        if channel is None:
            QToolTip.hideText()
            return
        values = self.activation[..., channel]
        QToolTip.showText(
            event.globalPosition().toPoint(),
            f"<b>{self.layer_name} channel {channel}</b><br>{channel_statistics(values)}"
            "<br><i>click for a large view on the image</i>",
            self,
        )

    def mousePressEvent(self, event) -> None:  # noqa: N802
        channel = self.channel_at(event.position())
        if channel is not None:
            self.selected_channel = channel
            self.update()
            self.channel_clicked.emit(channel)

    def paintEvent(self, event) -> None:  # noqa: N802
        painter = QPainter(self)
        if self._pixmap is None:
            painter.setPen(QColor(style.MUTED))
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, "No activations yet.")
            return
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, False)
        painter.drawImage(self._drawn_rect(), self._pixmap, QRectF(self._pixmap.rect()))
        if self.selected_channel is not None:
            painter.setPen(QPen(QColor(style.ACCENT), 2))
            painter.drawRect(self.tile_rect(self.selected_channel).adjusted(-1, -1, 1, 1))
