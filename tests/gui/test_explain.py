"""The channel panel's attribution and preferred image, the occlusion map, the model summary,
as a user drives them: real window, real model thread, real photo."""

from __future__ import annotations

from PySide6.QtCore import Qt

from tests.gui.conftest import MODEL_TIMEOUT_MS
from tests.photos import sample_photo

TIMEOUT = 180_000  # a busy 2-core machine


def _show_photo(qtbot, window):
    window.open_paths([sample_photo("china.jpg")])
    qtbot.waitUntil(lambda: window.current_result is not None, timeout=MODEL_TIMEOUT_MS)


def test_a_clicked_channel_shows_why_and_its_preferred_image(qtbot, window):
    _show_photo(qtbot, window)
    panel = window.explain.channel_panel
    window.layer_view.select_layer("conv1")
    window.layer_view.grid.channel_clicked.emit(5)
    qtbot.waitUntil(panel.attribution.has_image, timeout=TIMEOUT)
    assert (panel.layer, panel.unit) == ("conv1", 5)

    # Start, then cancel: the button comes back, no picture, the window never waited.
    qtbot.mouseClick(panel.button, Qt.MouseButton.LeftButton)
    assert panel.running and panel.button.text() == "Cancel"
    qtbot.mouseClick(panel.button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not panel.running, timeout=TIMEOUT)
    assert panel.status.text() == "Cancelled." and not panel.preferred.has_image()

    qtbot.mouseClick(panel.button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not panel.running, timeout=TIMEOUT)
    assert panel.preferred.has_image(), panel.status.text()
    made = panel.preferred_shown
    assert (made.layer, made.unit) == ("conv1", 5) and made.rgb.shape == (227, 227, 3)
    assert "reaches" in panel.status.text() and "made in" in panel.status.text()

    # Another channel, then back: the image comes from the cache, the same pixels.
    window.layer_view.grid.channel_clicked.emit(6)
    assert not panel.preferred.has_image()
    window.layer_view.grid.channel_clicked.emit(5)
    qtbot.mouseClick(panel.button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not panel.running, timeout=TIMEOUT)
    assert "from the cache" in panel.status.text()
    assert (panel.preferred_shown.rgb == made.rgb).all()


def test_occlusion_map_beside_gradcam_and_its_cancel(qtbot, window):
    _show_photo(qtbot, window)
    window.tabs.setCurrentWidget(window.gradcam_view)
    occlusion = window.gradcam_view.occlusion
    qtbot.mouseClick(occlusion.button, Qt.MouseButton.LeftButton)
    assert occlusion.running
    qtbot.mouseClick(occlusion.button, Qt.MouseButton.LeftButton)  # Cancel
    qtbot.waitUntil(lambda: not occlusion.running, timeout=TIMEOUT)
    assert occlusion.result is None and occlusion.status.text() == "Cancelled."

    qtbot.mouseClick(occlusion.button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: occlusion.result is not None, timeout=TIMEOUT)
    result = occlusion.result
    top = window.current_result.analysis.predictions[0]
    assert result.class_index == top.index
    assert result.drops.shape == (13, 13)
    assert abs(result.probability - top.probability) < 1e-4
    assert "largest drop" in occlusion.status.text() and not occlusion.running


def test_a_new_image_stops_the_occlusion_run_and_is_classified(qtbot, window):
    _show_photo(qtbot, window)
    window.tabs.setCurrentWidget(window.gradcam_view)
    occlusion = window.gradcam_view.occlusion
    qtbot.mouseClick(occlusion.button, Qt.MouseButton.LeftButton)
    assert occlusion.running
    first = window.current_request
    window.open_paths([sample_photo("flower.jpg")])
    qtbot.waitUntil(lambda: window.current_request > first, timeout=TIMEOUT)
    qtbot.waitUntil(lambda: window.current_result.name == "flower.jpg", timeout=TIMEOUT)
    assert not occlusion.running and occlusion.result is None
    assert "new image" in occlusion.status.text()


def test_model_summary_dialog(qtbot, window):
    window.explain.summary_action.trigger()
    dialog = window.explain.summary_dialog
    assert dialog.isVisible()
    qtbot.waitUntil(lambda: dialog.summary is not None, timeout=TIMEOUT)
    assert dialog.table.rowCount() == 15  # 14 layers and the total
    assert dialog.table.item(0, 3).text() == "34,944"
    assert dialog.table.item(14, 3).text() == "60,965,224"
    assert dialog.table.item(14, 4).text() == "724,406,816"
    assert dialog.table.item(0, 6).text().endswith(" ms")
    assert "measured here" in dialog.note.text()
