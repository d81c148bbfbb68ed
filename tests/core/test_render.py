"""Feature-map grids, fc strips and conv1 filters render as readable, correct pictures."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from alexnet_tf.render import (
    BACKGROUND,
    GAP,
    LABEL_HEIGHT,
    VIRIDIS,
    feature_grid_layout,
    render_feature_grid,
    render_filters,
    render_vector,
    save_png,
)


def _tile(image, layout, channel):
    row, column = divmod(channel, layout.columns)
    top = layout.title_height + GAP + row * layout.cell_height + LABEL_HEIGHT
    left = GAP + column * layout.cell_width
    return image[top : top + layout.tile_height, left : left + layout.tile_width]


def test_viridis_runs_from_dark_purple_to_bright_yellow():
    luminance = VIRIDIS @ np.array([0.2126, 0.7152, 0.0722])
    assert VIRIDIS.shape == (256, 3) and VIRIDIS.dtype == np.uint8
    assert np.all(np.diff(luminance) >= -0.5), "luminance must rise steadily"
    assert tuple(VIRIDIS[0]) == (68, 1, 84) and tuple(VIRIDIS[-1]) == (253, 231, 37)


def test_grid_layout_and_every_channel_scaled_on_its_own():
    rng = np.random.default_rng(0)
    activation = rng.random((13, 13, 10))
    activation[..., 3] *= 1e-4  # a weak channel must still use the whole colour map
    activation[..., 7] *= 1e4
    activation[..., 5] = 2.0  # constant: the darkest colour, no NaN
    image = render_feature_grid(activation, title="conv5")
    layout = feature_grid_layout(13, 13, 10, title=True)
    assert image.shape == (layout.height, layout.width, 3) and image.dtype == np.uint8
    assert (layout.rows, layout.columns) == (3, 4)
    assert layout.tile_height >= 48, "small maps are enlarged to be visible"
    for channel in (3, 7):
        tile = _tile(image, layout, channel).reshape(-1, 3)
        colours = {tuple(c) for c in tile}
        assert tuple(VIRIDIS[0]) in colours and tuple(VIRIDIS[-1]) in colours
    assert np.all(_tile(image, layout, 5) == VIRIDIS[0])
    # Nearest-neighbour enlargement: each map pixel is a flat block.
    tile = _tile(image, layout, 0)
    assert np.all(tile[: layout.scale, : layout.scale] == tile[0, 0])


def test_tiles_are_in_channel_order_and_labelled():
    activation = np.zeros((6, 6, 4))
    activation[0, 0, 2] = 1.0  # only channel 2 has a bright top-left pixel
    image = render_feature_grid(activation)
    layout = feature_grid_layout(6, 6, 4)
    assert tuple(_tile(image, layout, 2)[0, 0]) == tuple(VIRIDIS[-1])
    assert tuple(_tile(image, layout, 1)[0, 0]) == tuple(VIRIDIS[0])
    label_band = image[GAP : GAP + LABEL_HEIGHT, GAP : GAP + layout.tile_width]
    assert np.any(label_band != BACKGROUND), "channel numbers are drawn above the tiles"


def test_columns_option_and_bad_input():
    assert render_feature_grid(np.ones((4, 4, 12)), columns=12).shape[0] < 100
    with pytest.raises(ValueError, match="Received"):
        render_feature_grid(np.ones((4, 4)))
    with pytest.raises(ValueError, match="columns"):
        render_feature_grid(np.ones((4, 4, 3)), columns=0)


def test_fc_vector_is_a_strip_of_cells():
    values = np.arange(4096, dtype=np.float32)
    image = render_feature_grid(values, title="fc6")
    assert image.dtype == np.uint8 and image.ndim == 3
    assert np.array_equal(image, render_vector(values, title="fc6"))
    column = image[:, image.shape[1] // 2]  # one unit per row: 64 apart in value
    colours = {tuple(c) for c in column}
    assert len(colours) > 20, "units of different values get different colours"


def test_filters_are_rgb_patches_in_two_separate_groups():
    scale = 5
    kernel = np.full((11, 11, 3, 96), -1.0, np.float32)
    kernel[:, :, 0, :] = 1.0  # channel 0 is blue for the network (BGR)
    image = render_filters(kernel, scale=scale)
    assert image.dtype == np.uint8
    # The first filter's patch (after the group label) is blue, not red.
    rows_with_patches = np.flatnonzero(
        np.any(image[:, -scale * 11 - 2 : -2] != BACKGROUND, axis=(1, 2))
    )
    first_row = rows_with_patches[0]
    pixel = image[first_row + scale * 5, 2 + scale * 5]
    assert tuple(pixel) == (0, 0, 255), f"BGR kernel must be shown as RGB, got {pixel}"
    # Runs of patch rows, seen in the last column (no label text there): 3 rows per group,
    # and the gap between the groups is wider than the gaps inside a group.
    starts = rows_with_patches[np.r_[True, np.diff(rows_with_patches) > 1]]
    ends = rows_with_patches[np.r_[np.diff(rows_with_patches) > 1, True]]
    assert len(starts) == 6
    gaps = starts[1:] - ends[:-1]
    assert gaps[2] > max(gaps[:2].max(), gaps[3:].max()) + 5
    assert all(end - start + 1 == 11 * scale for start, end in zip(starts, ends, strict=True))


def test_filters_refuse_wrong_shapes():
    with pytest.raises(ValueError, match="kh, kw, 3, filters"):
        render_filters(np.zeros((11, 11, 96)))
    with pytest.raises(ValueError, match="groups"):
        render_filters(np.zeros((3, 3, 3, 5)))


def test_save_png_writes_a_real_png_atomically(tmp_path):
    array = render_feature_grid(np.random.default_rng(1).random((6, 6, 5)))
    path = save_png(array, tmp_path / "out" / "grid.png")
    with Image.open(path) as image:
        assert image.format == "PNG" and image.mode == "RGB"
        assert np.array_equal(np.asarray(image), array)
    assert [p.name for p in path.parent.iterdir()] == ["grid.png"], "no temporary file left"
    with pytest.raises(ValueError, match="uint8"):
        save_png(np.zeros((4, 4, 3), np.float32), tmp_path / "bad.png")


def test_render_does_not_import_tensorflow():
    code = "import sys, alexnet_tf.render; print('tensorflow' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.strip() == "False", result.stderr
