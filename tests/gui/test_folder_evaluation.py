"""Model > Evaluate on a folder…: the real window, offscreen, on a folder with known answers."""

from __future__ import annotations

import threading

import numpy as np
from PIL import Image
from PySide6.QtWidgets import QFileDialog

from tests.eval_folders import file_under, ranked_classes, write_images
from tests.gui.conftest import MODEL_TIMEOUT_MS


def test_evaluate_a_folder_from_the_model_menu_then_cancel_one(
    window, qtbot, tmp_path, monkeypatch
):
    from alexnet_tf.inference import Classifier
    from alexnet_tf.labels import imagenet_labels, imagenet_wnids

    paths = write_images(tmp_path / "loose", 6, seed=4)
    ranks = ranked_classes(Classifier.load(None), paths)  # the model the window has loaded
    root = tmp_path / "val"
    for i, (path, ranked) in enumerate(zip(paths, ranks, strict=True)):
        file_under(root, path, imagenet_wnids()[ranked[0] if i < 4 else ranked[3]])
    (root / "holiday snaps").mkdir()

    actions = {a.text(): a for a in window.model_menu.actions()}
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *args: str(root))
    actions["Evaluate on a folder…"].trigger()
    ui = window.folder_evaluation
    dialog = ui.dialog
    assert dialog.isVisible()
    # The work happens in a thread of its own, not in the GUI thread.
    assert ui.evaluation.thread is not threading.current_thread()
    qtbot.waitUntil(lambda: dialog.view.report is not None, timeout=MODEL_TIMEOUT_MS)

    view = dialog.view
    assert view.accuracy.text().startswith("Accuracy 66.7% · top-5 100.0% on 6 images")
    assert "holiday snaps" in dialog.summary.text() and "images/s" in dialog.summary.text()
    classes = view.report["classes"]
    assert view.confusion.rowCount() == len(classes) == view.per_class.rowCount()
    assert set(classes) <= set(imagenet_labels())
    assert sum(int(view.confusion.item(i, i).text()) for i in range(len(classes))) == 4
    # Predictions of the other 1000-odd classes get a last column, so each row adds up.
    assert view.confusion.horizontalHeaderItem(len(classes)).text() == "other classes"
    for i, entry in enumerate(view.report["per_class"]):
        cells = range(view.confusion.columnCount())
        assert sum(int(view.confusion.item(i, j).text()) for j in cells) == entry["support"]
    assert view.misclassified.count() == 2
    qtbot.waitUntil(
        lambda: all(not view.misclassified.item(i).icon().isNull() for i in range(2)),
        timeout=30_000,
    )
    assert not ui.evaluation.is_running()
    assert "6 images (centre crop)" in dialog.summary.text()
    assert dialog.cancel_button.text() == "Close"

    # Ticking "Ten crops" evaluates the same folder again, the paper's way.
    dialog.ten_crops.click()
    qtbot.waitUntil(lambda: dialog.view.report is not None, timeout=MODEL_TIMEOUT_MS)
    assert dialog.view.report["crops"] == "10"
    assert "6 images (ten crops each)" in dialog.summary.text()
    qtbot.waitUntil(lambda: not ui.evaluation.is_running(), timeout=30_000)

    # A longer run (ten crops of 96 images), cancelled from the dialog.
    folder = tmp_path / "many" / imagenet_wnids()[0]
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(96):
        Image.fromarray(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)).save(folder / f"{i}.png")
    ui.evaluate(tmp_path / "many")
    qtbot.waitUntil(lambda: dialog.progress.value() >= 32, timeout=MODEL_TIMEOUT_MS)
    # Unticking "Ten crops" mid-run starts over at once: the window does not wait for the
    # old run's batch, and only the new run's report is shown.
    old = ui.evaluation.thread
    dialog.ten_crops.click()
    assert old.is_alive() and ui.evaluation.thread is not old
    qtbot.waitUntil(lambda: dialog.view.report is not None, timeout=MODEL_TIMEOUT_MS)
    assert dialog.view.report["crops"] == "center" and dialog.view.report["num_examples"] == 96
    old.join(60)
    qtbot.wait(200)  # any signal the old run sent would have arrived by now
    assert "Cancelled" not in dialog.summary.text() and dialog.view.report is not None
    qtbot.waitUntil(lambda: not ui.evaluation.is_running(), timeout=30_000)

    dialog.ten_crops.click()  # ten crops again: long enough to cancel
    qtbot.waitUntil(lambda: dialog.progress.value() >= 32, timeout=MODEL_TIMEOUT_MS)
    dialog.cancel_button.click()
    qtbot.waitUntil(lambda: "Cancelled after" in dialog.summary.text(), timeout=MODEL_TIMEOUT_MS)
    assert "of 96 images; no report was made" in dialog.summary.text()
    assert dialog.view.report is None
    qtbot.waitUntil(lambda: not ui.evaluation.is_running(), timeout=30_000)
    dialog.cancel_button.click()  # now "Close"
    assert not dialog.isVisible()
