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


def test_what_fine_tuning_changed_in_the_jobs_tab(qtbot, weights, tmp_path):
    from alexnet_tf.explain.compare import HEAD_MODE_TEXT
    from app.jobs.fine_tuning_changes import FineTuningChangesView
    from tests.model_fixtures import make_fine_tuned_job
    from tests.photo_folders import make_photo_folder

    photos = make_photo_folder(tmp_path / "train", "scenes", per_class=6, size=120)["root"]
    view = FineTuningChangesView()
    qtbot.addWidget(view)
    view.show()

    head = make_fine_tuned_job(weights, tmp_path / "head", "head", changed_layers=())
    view.set_job(head, {"mode": "head", "folder": str(photos)}, True)
    assert view.summary.text() == HEAD_MODE_TEXT and not view.compare_button.isEnabled()

    top = make_fine_tuned_job(weights, tmp_path / "top", "top", changed_layers=("fc7",))
    view.set_job(top, {"mode": "top", "folder": str(photos)}, True)
    assert view.folder_button.text() == "train"  # the job's own training folder
    qtbot.mouseClick(view.compare_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: view.pictures.pixmap() is not None
                    and not view.pictures.pixmap().isNull(), timeout=MODEL_TIMEOUT_MS)  # fmt: skip
    text = view.summary.text()
    # Only fc7 moved: conv5 and fc6 keep every top image, fc7's changed.
    assert "conv5: on average 100%" in text and "fc6: on average 100%" in text
    assert "fc7: on average 100%" not in text
    assert view.pictures.pixmap().height() > 3 * 6 * 56  # three layers, 6 units each
    view.shutdown()
    assert not view.run.is_running()
