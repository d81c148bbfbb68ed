"""Pictures of what AlexNet computes: feature-map grids, fc strips and conv1's filters.

NumPy and Pillow only (no TensorFlow, no matplotlib), so the CLI and the app share these
functions. Every function returns an ``(H, W, 3)`` uint8 RGB array; ``save_png`` writes one.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from .fileio import write_bytes_atomic

# Viridis (perceptually uniform, readable in greyscale and by colour-blind viewers), sampled at
# 11 evenly spaced points of matplotlib's table and interpolated linearly to 256 entries.
_VIRIDIS_STOPS = np.array(
    [
        (68, 1, 84), (72, 36, 117), (65, 68, 135), (53, 95, 141), (42, 120, 142),
        (33, 145, 140), (34, 168, 132), (68, 191, 112), (122, 209, 81), (189, 223, 38),
        (253, 231, 37),
    ],
    dtype=np.float64,
)  # fmt: skip
_positions = np.linspace(0.0, 1.0, len(_VIRIDIS_STOPS))
VIRIDIS = (
    np.stack(
        [np.interp(np.linspace(0.0, 1.0, 256), _positions, _VIRIDIS_STOPS[:, c]) for c in range(3)],
        axis=-1,
    )
    .round()
    .astype(np.uint8)
)

BACKGROUND = (24, 24, 28)
TEXT = (220, 220, 220)
GAP = 2  # pixels between tiles
LABEL_HEIGHT = 11  # band above each tile holding its channel number
TITLE_HEIGHT = 20
MIN_TILE = 48  # small maps (6x6, 13x13) are enlarged to at least this many pixels


def _font(size: int) -> ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError):  # Pillow without FreeType: the fixed bitmap font
        return ImageFont.load_default()


def colorize(values: np.ndarray) -> np.ndarray:
    """Map values in 0..1 to viridis RGB (uint8, one more axis of length 3)."""
    indices = np.clip(np.nan_to_num(values) * 255.0 + 0.5, 0, 255).astype(np.intp)
    return VIRIDIS[indices]


def _normalize_channels(activation: np.ndarray) -> np.ndarray:
    """Scale each channel (last axis) to 0..1 on its own; a constant channel becomes 0."""
    values = np.asarray(activation, dtype=np.float64)
    axes = tuple(range(values.ndim - 1))
    low = values.min(axis=axes, keepdims=True)
    span = values.max(axis=axes, keepdims=True) - low
    return np.where(span > 0, (values - low) / np.where(span > 0, span, 1.0), 0.0)


@dataclass(frozen=True)
class GridLayout:
    """Geometry of a feature-map grid: ``rows`` x ``columns`` tiles of ``tile`` x ``tile`` pixels.

    The image is ``width`` x ``height``: an optional title band, then for each tile a label
    band of ``LABEL_HEIGHT`` above it, with ``GAP`` pixels around every cell.
    """

    rows: int
    columns: int
    scale: int
    tile_height: int
    tile_width: int
    title_height: int

    @property
    def cell_height(self) -> int:
        return LABEL_HEIGHT + self.tile_height + GAP

    @property
    def cell_width(self) -> int:
        return self.tile_width + GAP

    @property
    def width(self) -> int:
        return GAP + self.columns * self.cell_width

    @property
    def height(self) -> int:
        return self.title_height + GAP + self.rows * self.cell_height


def feature_grid_layout(
    height: int, width: int, channels: int, columns: int | None = None, title: bool = False
) -> GridLayout:
    """The layout ``render_feature_grid`` uses for an ``(height, width, channels)`` activation."""
    if columns is None:
        columns = math.ceil(math.sqrt(channels))
    if not isinstance(columns, int) or columns < 1:
        raise ValueError(f"columns must be a positive integer. Received: columns={columns!r}")
    columns = min(columns, channels)
    scale = max(1, math.ceil(MIN_TILE / max(height, width)))
    return GridLayout(
        rows=math.ceil(channels / columns),
        columns=columns,
        scale=scale,
        tile_height=height * scale,
        tile_width=width * scale,
        title_height=TITLE_HEIGHT if title else 0,
    )


def render_feature_grid(
    activation: np.ndarray, title: str | None = None, columns: int | None = None
) -> np.ndarray:
    """Draw every channel of a layer's activation as a labelled viridis tile.

    Args:
        activation: ``(H, W, C)`` for conv/LRN/pool layers, or ``(units,)`` for fc layers
            (drawn as a strip of coloured cells, see ``render_vector``).
        title: text drawn above the grid.
        columns: tiles per row; default about the square root of the channel count.

    Returns:
        ``(height, width, 3)`` uint8 RGB. Each channel is scaled to its own min..max, so
        weak channels stay visible; a constant channel is drawn in the darkest colour.
    """
    activation = np.asarray(activation)
    if activation.ndim == 1:
        return render_vector(activation, title=title, columns=columns)
    if activation.ndim != 3 or 0 in activation.shape:
        raise ValueError(
            "activation must have shape (H, W, C) or (units,). "
            f"Received: activation.shape={activation.shape}"
        )
    height, width, channels = activation.shape
    layout = feature_grid_layout(height, width, channels, columns, title=bool(title))
    tiles = colorize(_normalize_channels(activation))  # (H, W, C, 3)
    tiles = tiles.repeat(layout.scale, axis=0).repeat(layout.scale, axis=1)

    canvas = np.empty((layout.height, layout.width, 3), np.uint8)
    canvas[:] = BACKGROUND
    for channel in range(channels):
        row, column = divmod(channel, layout.columns)
        top = layout.title_height + GAP + row * layout.cell_height + LABEL_HEIGHT
        left = GAP + column * layout.cell_width
        canvas[top : top + layout.tile_height, left : left + layout.tile_width] = tiles[
            :, :, channel
        ]

    image = Image.fromarray(canvas)
    draw = ImageDraw.Draw(image)
    small = _font(9)
    for channel in range(channels):
        row, column = divmod(channel, layout.columns)
        top = layout.title_height + GAP + row * layout.cell_height
        draw.text((GAP + column * layout.cell_width, top), str(channel), fill=TEXT, font=small)
    if title:
        draw.text((GAP + 2, 3), title, fill=TEXT, font=_font(13))
    return np.asarray(image)


def render_vector(
    values: np.ndarray, title: str | None = None, columns: int | None = None
) -> np.ndarray:
    """Draw an fc layer's ``(units,)`` output as rows of coloured cells, 64 units per row.

    The vector is scaled to its own min..max; the first unit of each row is written at
    the left, so a unit can be found by its number.
    """
    values = np.asarray(values)
    if values.ndim != 1 or values.size == 0:
        raise ValueError(f"values must have shape (units,). Received: values.shape={values.shape}")
    columns = 64 if columns is None else columns
    if not isinstance(columns, int) or columns < 1:
        raise ValueError(f"columns must be a positive integer. Received: columns={columns!r}")
    columns = min(columns, values.size)
    rows = math.ceil(values.size / columns)
    cell = max(4, min(16, 640 // columns))
    margin = 36  # room for the row's first unit number
    title_height = TITLE_HEIGHT if title else 0

    scaled = _normalize_channels(values[:, np.newaxis])[:, 0]
    padded = np.full(rows * columns, np.nan)
    padded[: values.size] = scaled
    colours = colorize(np.nan_to_num(padded)).reshape(rows, columns, 3)
    strip = colours.repeat(cell, axis=0).repeat(cell, axis=1)
    missing = np.isnan(padded).reshape(rows, columns).repeat(cell, 0).repeat(cell, 1)
    strip[missing] = BACKGROUND

    shape = (title_height + GAP + rows * cell + GAP, margin + columns * cell + GAP, 3)
    canvas = np.empty(shape, np.uint8)
    canvas[:] = BACKGROUND
    top = title_height + GAP
    canvas[top : top + rows * cell, margin : margin + columns * cell] = strip
    image = Image.fromarray(canvas)
    draw = ImageDraw.Draw(image)
    small = _font(9)
    label_every = max(1, math.ceil(12 / cell))  # keep labels from overlapping
    for row in range(0, rows, label_every):
        draw.text((2, top + row * cell), str(row * columns), fill=TEXT, font=small)
    if title:
        draw.text((GAP + 2, 3), title, fill=TEXT, font=_font(13))
    return np.asarray(image)


def render_filters(kernel: np.ndarray, scale: int = 5, groups: int = 2) -> np.ndarray:
    """Draw conv1's filters as colour patches, in the paper's two GPU groups.

    Args:
        kernel: conv1's kernel, ``(kh, kw, 3, filters)`` (``(11, 11, 3, 96)`` for AlexNet).
            Its input channels are BGR (the network sees BGR), so they are reversed to RGB.
        scale: each filter pixel becomes ``scale`` x ``scale`` pixels (nearest neighbour).
        groups: the filters are split into this many groups of consecutive filters, drawn
            as separate blocks; AlexNet's first 48 and last 48 filters ran on two GPUs.

    Returns:
        ``(height, width, 3)`` uint8 RGB; each filter is scaled to its own min..max.
    """
    kernel = np.asarray(kernel)
    if kernel.ndim != 4 or kernel.shape[2] != 3:
        raise ValueError(
            f"kernel must have shape (kh, kw, 3, filters). Received: kernel.shape={kernel.shape}"
        )
    filters = kernel.shape[3]
    if not isinstance(groups, int) or groups < 1 or filters % groups:
        raise ValueError(
            f"groups must be a positive integer dividing the {filters} filters. "
            f"Received: groups={groups!r}"
        )
    if not isinstance(scale, int) or scale < 1:
        raise ValueError(f"scale must be a positive integer. Received: scale={scale!r}")

    patches = np.moveaxis(np.asarray(kernel, np.float64)[:, :, ::-1, :], 3, 0)  # (n, kh, kw, 3)
    low = patches.min(axis=(1, 2, 3), keepdims=True)
    span = patches.max(axis=(1, 2, 3), keepdims=True) - low
    patches = np.where(span > 0, (patches - low) / np.where(span > 0, span, 1.0), 0.5)
    patches = (patches * 255.0 + 0.5).astype(np.uint8)
    patches = patches.repeat(scale, axis=1).repeat(scale, axis=2)

    per_group = filters // groups
    columns = min(16, per_group)
    rows = math.ceil(per_group / columns)
    patch_h, patch_w = patches.shape[1:3]
    gap, group_gap, label_height = 2, 10, 14
    group_height = label_height + rows * (patch_h + gap)
    width = gap + columns * (patch_w + gap)
    height = group_gap + groups * group_height + (groups - 1) * group_gap
    canvas = np.empty((height, width, 3), np.uint8)
    canvas[:] = BACKGROUND
    for index in range(filters):
        group, within = divmod(index, per_group)
        row, column = divmod(within, columns)
        top = group_gap + group * (group_height + group_gap) + label_height + row * (patch_h + gap)
        left = gap + column * (patch_w + gap)
        canvas[top : top + patch_h, left : left + patch_w] = patches[index]

    image = Image.fromarray(canvas)
    draw = ImageDraw.Draw(image)
    font = _font(10)
    for group in range(groups):
        top = group_gap + group * (group_height + group_gap)
        first, last = group * per_group, (group + 1) * per_group - 1
        name = f"GPU {group + 1}: " if groups == 2 else f"group {group + 1}: "
        draw.text((gap, top), f"{name}filters {first}-{last}", fill=TEXT, font=font)
    return np.asarray(image)


def save_png(array: np.ndarray, path: str | Path) -> Path:
    """Write a uint8 ``(H, W, 3)`` RGB (or ``(H, W)`` grey) array as a PNG, atomically."""
    array = np.asarray(array)
    if array.dtype != np.uint8 or not (
        array.ndim == 2 or (array.ndim == 3 and array.shape[2] in (3, 4))
    ):
        raise ValueError(
            "array must be uint8 with shape (H, W), (H, W, 3) or (H, W, 4). "
            f"Received: dtype={array.dtype}, shape={array.shape}"
        )
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG", optimize=False)
    path = Path(path)
    write_bytes_atomic(path, buffer.getvalue())
    return path
