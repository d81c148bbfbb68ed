"""The Layers view's unit atlas: build over a folder of real photos in the background, see a
clicked channel's top patches, open one in Classify; cancel a long build."""

from __future__ import annotations

import threading

import numpy as np
from PIL import Image
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFileDialog

from tests.gui.conftest import MODEL_TIMEOUT_MS


def test_build_an_atlas_click_a_channel_and_open_a_patch(window, qtbot, tmp_path, monkeypatch):
    from alexnet_tf.explain.atlas import cached_atlas
    from tests.photo_folders import make_photo_folder

    folder = make_photo_folder(tmp_path / "atlas folder", "scenes", per_class=2, size=150)["root"]
    window.open_paths([folder / "flower" / "flower_000.jpg"])
    qtbot.waitUntil(lambda: window.current_result is not None, timeout=MODEL_TIMEOUT_MS)
    layers = window.layer_view
    panel = layers.atlas_panel
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *args: str(folder))
    qtbot.mouseClick(panel.folder_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "Build atlas" in panel.status.text(), timeout=30_000)
    assert panel.build_button.isEnabled() and window.settings.atlas_folder() == str(folder)

    qtbot.mouseClick(panel.build_button, Qt.MouseButton.LeftButton)
    assert panel.builder.thread is not threading.current_thread()  # the window stays live
    assert panel.cancel_button.isVisible()
    qtbot.waitUntil(lambda: panel.atlas is not None, timeout=MODEL_TIMEOUT_MS)
    assert "Atlas of 6 images; 2 file(s) skipped" in panel.status.text()
    assert cached_atlas(None, folder) is not None  # kept for the next look

    layers.select_layer("conv5")
    grid = layers.grid
    qtbot.mouseClick(grid, Qt.MouseButton.LeftButton, pos=grid.tile_rect(7).center().toPoint())
    qtbot.waitUntil(lambda: panel.buttons[5].isVisible(), timeout=30_000)
    assert panel.unit == ("conv5", 7) and "channel 7" in layers.detail.title.text()
    expected = panel.atlas.entries("conv5", 7)
    assert [b.isVisible() for b in panel.buttons] == [True] * 6 + [False] * 3  # 6 images
    first = panel.buttons[0]
    assert not first.icon().isNull()
    name = expected[0]["image"].rsplit("/", 1)[-1]
    assert first.toolTip().startswith(f"{name}: {expected[0]['value']:.4g} at (")

    # A click on a patch opens its image in Classify.
    qtbot.mouseClick(panel.buttons[2], Qt.MouseButton.LeftButton)
    third = expected[2]["image"].rsplit("/", 1)[-1]
    qtbot.waitUntil(lambda: window.image_title.text() == third, timeout=MODEL_TIMEOUT_MS)


def test_cancel_a_build_keeps_no_atlas(window, qtbot, tmp_path):
    from alexnet_tf.explain.atlas import cached_atlas

    folder = tmp_path / "many"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(160):
        Image.fromarray(rng.integers(0, 255, (40, 40, 3), dtype=np.uint8)).save(folder / f"{i}.png")
    panel = window.layer_view.atlas_panel
    panel.set_folder(folder)
    qtbot.waitUntil(lambda: panel.build_button.isEnabled(), timeout=30_000)
    panel.build()
    qtbot.waitUntil(lambda: panel.progress.value() >= 32, timeout=MODEL_TIMEOUT_MS)
    qtbot.mouseClick(panel.cancel_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "Cancelled after" in panel.status.text(), timeout=MODEL_TIMEOUT_MS)
    assert panel.atlas is None and panel.build_button.isEnabled()
    qtbot.waitUntil(lambda: not panel.builder.is_running(), timeout=30_000)
    assert cached_atlas(None, folder) is None
