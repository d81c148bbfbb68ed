"""See inside: every named layer with its output shape, its channels, and one channel large."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QScrollArea,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from .card import Card
from .fc_plot import FcPlot
from .feature_grid_view import FeatureGridView, channel_statistics
from .image_view import ImageView, heat_overlay
from .unit_atlas_panel import UnitAtlasPanel

DESCRIPTIONS = {
    "conv": "convolution + ReLU",
    "norm": "local response normalization",
    "pool": "max pooling 3×3, stride 2",
    "fc": "fully connected",
}


def describe_layer(name: str) -> str:
    """A short phrase for a layer name (``conv3`` -> ``convolution + ReLU``)."""
    for prefix, text in DESCRIPTIONS.items():
        if name.startswith(prefix):
            return "softmax scores (before softmax)" if name == "fc8" else text
    return ""


def format_shape(shape) -> str:
    return " × ".join(str(size) for size in shape)


class ChannelDetail(Card):
    """One channel, large, laid over the crop the network saw, with its statistics."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent, margins=(12, 12, 12, 12))
        self.title = QLabel("Click a channel")
        self.title.setObjectName("heading")
        self.view = ImageView("Click a tile in the grid to see\nwhere that channel fires.")
        self.view.show_crop = False
        self.view.setMinimumSize(220, 220)
        self.stats = QLabel("")
        self.stats.setObjectName("muted")
        self.stats.setWordWrap(True)
        self.box.addWidget(self.title)
        self.box.addWidget(self.view, 1)
        self.box.addWidget(self.stats)
        self.setFixedWidth(250)

    def show_channel(self, layer: str, channel: int, values: np.ndarray, crop_rgb) -> None:
        self.title.setText(f"{layer} · channel {channel}")
        self.view.set_image(crop_rgb)
        span = float(values.max() - values.min())
        normalized = (values - values.min()) / span if span > 0 else np.zeros_like(values)
        self.view.set_overlay(heat_overlay(normalized, size=227, max_alpha=200))
        self.stats.setText(
            channel_statistics(values).replace(" · ", "\n")
            + f"\n{values.shape[0]}×{values.shape[1]} positions"
        )

    def clear(self) -> None:
        self.title.setText("Click a channel")
        self.view.set_image(None)
        self.stats.setText("")


class LayerView(QWidget):
    """Layer list on the left; the chosen layer's channels (or fc bars) in the middle; the
    clicked channel on the right. All layers come from one forward pass, so switching only
    redraws."""

    layer_shown = Signal(str)
    channel_shown = Signal(str, int)  # layer, channel: the detail card shows it

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.layer_list = QListWidget()
        self.layer_list.setFixedWidth(150)
        self.layer_list.currentRowChanged.connect(self._on_current_row_changed)
        self.heading = QLabel("Layers")
        self.heading.setObjectName("heading")
        self.subheading = QLabel("Classify an image to see what each layer computed.")
        self.subheading.setObjectName("muted")
        self.subheading.setWordWrap(True)
        self.grid = FeatureGridView()
        self.grid.channel_clicked.connect(self._on_channel_clicked)
        self.fc_plot = FcPlot()
        self.stack = QStackedWidget()
        self.stack.addWidget(self.grid)
        self.stack.addWidget(self.fc_plot)
        self.detail = ChannelDetail()
        self.atlas_panel = UnitAtlasPanel()  # the clicked channel's top images in a folder
        self.atlas_panel.setFixedWidth(self.detail.width())

        middle = QVBoxLayout()
        middle.setSpacing(2)
        middle.addWidget(self.heading)
        middle.addWidget(self.subheading)
        middle.addSpacing(6)
        middle.addWidget(self.stack, 1)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(10, 10, 10, 10)
        layout.setSpacing(12)
        layout.addWidget(self.layer_list)
        layout.addLayout(middle, 1)
        # The channel's panels (detail, attribution, preferred image, atlas) are taller than a
        # laptop screen together: they scroll, so the window never grows past the screen.
        column = QWidget()
        right = QVBoxLayout(column)
        right.setContentsMargins(0, 0, 0, 0)
        right.addWidget(self.detail, 1)
        right.addWidget(self.atlas_panel)
        self.channel_column = QScrollArea()
        self.channel_column.setWidget(column)
        self.channel_column.setWidgetResizable(True)
        self.channel_column.setFrameShape(QFrame.Shape.NoFrame)
        self.channel_column.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scrollbar = self.channel_column.verticalScrollBar().sizeHint().width()
        self.channel_column.setFixedWidth(self.detail.width() + scrollbar + 4)
        layout.addWidget(self.channel_column)

        self.activations: dict[str, np.ndarray] = {}
        self.grids: dict = {}
        self.grid_columns_used: dict[str, int] = {}
        self.crop_rgb = None
        self.labels = None

    def set_layers(self, shapes: dict[str, tuple[int, ...]], labels=None) -> None:
        """Fill the list with every named layer and its output shape (keeps the selection)."""
        current = self.current_layer()
        self.labels = labels
        self.layer_list.blockSignals(True)
        self.layer_list.clear()
        for name, shape in shapes.items():
            item = QListWidgetItem(f"{name}\n{format_shape(shape)}")
            item.setData(Qt.ItemDataRole.UserRole, name)
            item.setToolTip(f"{name}: output {format_shape(shape)}, {describe_layer(name)}")
            self.layer_list.addItem(item)
        self.layer_list.blockSignals(False)
        names = list(shapes)
        self.layer_list.setCurrentRow(names.index(current) if current in names else 0)

    def layer_names(self) -> list[str]:
        return [
            self.layer_list.item(row).data(Qt.ItemDataRole.UserRole)
            for row in range(self.layer_list.count())
        ]

    def current_layer(self) -> str | None:
        item = self.layer_list.currentItem()
        return None if item is None else item.data(Qt.ItemDataRole.UserRole)

    def select_layer(self, name: str) -> None:
        self.layer_list.setCurrentRow(self.layer_names().index(name))

    def grid_columns(self, shapes: dict[str, tuple[int, ...]]) -> dict[str, int]:
        """Tiles per row for each multi-channel layer, to fit the grid view as it is now."""
        return {
            name: self.grid.preferred_columns(shape)
            for name, shape in shapes.items()
            if len(shape) == 3
        }

    def set_analysis(
        self, activations: dict[str, np.ndarray], crop_rgb, grids=None, columns=None
    ) -> None:
        """Show a new image's activations; ``grids`` are pre-rendered with ``columns``."""
        self.activations = activations
        self.crop_rgb = crop_rgb
        self.grids = grids or {}
        self.grid_columns_used = columns or {}
        self.detail.clear()
        self._show(self.current_layer())

    def clear(self) -> None:
        self.activations = {}
        self.grids = {}
        self.crop_rgb = None
        self.grid.set_activation("", None)
        self.detail.clear()

    def _on_current_row_changed(self, row: int) -> None:
        self._show(self.current_layer())

    def _show(self, name: str | None) -> None:
        if name is None:
            return
        self.heading.setText(name)
        values = self.activations.get(name)
        if values is None:
            self.subheading.setText(describe_layer(name))
            return
        if values.ndim == 1:
            self.subheading.setText(
                f"{describe_layer(name)} · {values.shape[0]} units (hover a bar)"
            )
            labels = self.labels if name == "fc8" else None
            self.fc_plot.set_values(name, values, labels)
            self.stack.setCurrentWidget(self.fc_plot)
        else:
            height, width, channels = values.shape
            self.subheading.setText(
                f"{describe_layer(name)} · {channels} channels of {height}×{width}, each scaled to "
                "its own range · hover for statistics, click to enlarge"
            )
            self.stack.setCurrentWidget(self.grid)
            self.grid.set_activation(
                name, values, self.grids.get(name), self.grid_columns_used.get(name)
            )
        self.layer_shown.emit(name)

    def _on_channel_clicked(self, channel: int) -> None:
        name = self.current_layer()
        values = self.activations[name][..., channel]
        self.detail.show_channel(name, channel, values, self.crop_rgb)
        self.atlas_panel.show_unit(name, channel)
        self.channel_shown.emit(name, channel)
