"""Dropping images on the real window shows the top-5 and fills the layer views."""

from __future__ import annotations

import math

from alexnet_tf.labels import imagenet_labels
from alexnet_tf.model import NAMED_LAYERS
from tests.gui.conftest import MODEL_TIMEOUT_MS
from tests.gui.helpers import drop_files


def _wait_for_image(qtbot, window, name):
    qtbot.waitUntil(
        lambda: window.current_result is not None and window.current_result.name == name,
        timeout=MODEL_TIMEOUT_MS,
    )


def test_dropped_image_shows_top5_from_the_model(qtbot, window, photos):
    assert drop_files(window, [photos[0]])
    _wait_for_image(qtbot, window, "garden.jpg")

    shown = window.predictions.predictions
    assert [p.rank for p in shown] == [1, 2, 3, 4, 5]
    labels = imagenet_labels()
    assert all(labels[p.index] == p.label for p in shown)
    assert window.predictions.labels_shown() == [p.label for p in shown]
    probabilities = [p.probability for p in shown]
    assert probabilities == sorted(probabilities, reverse=True)
    assert 0 < sum(probabilities) <= 1 + 1e-6
    assert window.image_view.has_image()
    assert window.image_title.text() == "garden.jpg"
    assert "garden.jpg" in window.windowTitle()
    assert str(photos[0]) in window.settings.recent_images()


def test_every_layer_is_listed_and_switching_fills_the_grid(qtbot, window, photos):
    window.open_paths([photos[1]])
    _wait_for_image(qtbot, window, "street.png")
    view = window.layer_view
    assert view.layer_names() == list(NAMED_LAYERS)
    assert "55 × 55 × 96" in view.layer_list.item(0).text()
    assert "4096" in view.layer_list.item(NAMED_LAYERS.index("fc6")).text()

    for name in NAMED_LAYERS:
        view.select_layer(name)
        activation = window.current_result.analysis.activations[name]
        if activation.ndim == 3:
            assert view.stack.currentWidget() is view.grid
            assert view.grid.channel_count() == activation.shape[-1]
            assert view.grid._pixmap is not None and not view.grid._pixmap.isNull()
        else:
            assert view.stack.currentWidget() is view.fc_plot
            assert len(view.fc_plot.values) == activation.shape[0]

    # Click a tile: the large view shows that channel over the image.
    view.select_layer("conv2")
    qtbot.wait(20)
    from PySide6.QtCore import Qt

    tile = view.grid.tile_rect(7).center().toPoint()
    assert view.grid.channel_at(view.grid.tile_rect(7).center()) == 7
    qtbot.mouseClick(view.grid, Qt.MouseButton.LeftButton, pos=tile)
    assert view.detail.title.text() == "conv2 · channel 7"
    assert view.detail.view.has_image()


def test_gradcam_and_filters_are_shown(qtbot, window, photos):
    assert window.filters_view.has_filters()
    window.open_paths([photos[2]])
    _wait_for_image(qtbot, window, "beach.jpg")
    qtbot.waitUntil(lambda: window.gradcam_view.heatmap is not None, timeout=MODEL_TIMEOUT_MS)
    top = window.current_result.analysis.predictions
    assert window.gradcam_view.heatmap_class == top[0].index
    assert window.gradcam_view.heatmap.shape == (13, 13)

    window.gradcam_view.choose_class(top[3].index)  # another of the top-5
    qtbot.waitUntil(
        lambda: window.gradcam_view.heatmap_class == top[3].index, timeout=MODEL_TIMEOUT_MS
    )
    assert not math.isnan(float(window.gradcam_view.heatmap.max()))


def test_pasted_image_is_classified(qtbot, window, photos):
    from PySide6.QtGui import QGuiApplication, QImage

    QGuiApplication.clipboard().setImage(QImage(str(photos[0])))
    window.paste_action.trigger()
    _wait_for_image(qtbot, window, "Pasted image")
    assert len(window.predictions.predictions) == 5
