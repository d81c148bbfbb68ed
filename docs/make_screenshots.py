"""Regenerate docs/screenshots/*.png from the real app (run under Xvfb at 1280x800).

    xvfb-run -s "-screen 0 1280x800x24" python docs/make_screenshots.py [NAME ...]

With names (e.g. ``layers_atlas``), only those screenshots are written. Uses random stand-in
weights in a temporary data folder and generated pictures (the unit atlas: crops of real
photos), so the predictions are meaningless: the screenshots show the app, not AlexNet's
accuracy.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ["ALEXNET_STUDIO_HOME"] = tempfile.mkdtemp(prefix="alexnet-screenshots-")
OUT = ROOT / "docs" / "screenshots"
WANTED = set(sys.argv[1:])  # empty: all
WRITTEN: set[str] = set()


def main() -> int:
    from PySide6.QtWidgets import QApplication

    from tests.gui.conftest import write_photo
    from tests.model_fixtures import install_random_weights

    app = QApplication(sys.argv[:1])
    from app.main_window import MainWindow
    from app.style import apply_style

    apply_style(app)
    photos = Path(os.environ["ALEXNET_STUDIO_HOME"]) / "photos"
    photos.mkdir()
    paths = [write_photo(photos / f"photo_{i}.jpg", i, (640, 480)) for i in range(1, 7)]

    def wait(condition, seconds=180):
        end = time.time() + seconds
        while not condition() and time.time() < end:
            app.processEvents()
            time.sleep(0.01)

    def settle(seconds=0.4):
        end = time.time() + seconds
        while time.time() < end:
            app.processEvents()
            time.sleep(0.01)

    def shot(window, name):
        if WANTED and name not in WANTED:
            return
        settle()
        window.grab().save(str(OUT / f"{name}.png"))
        WRITTEN.add(name)
        print("wrote", OUT / f"{name}.png")

    # 1. No weights installed: the banner.
    window = MainWindow()
    window.resize(1280, 800)
    window.show()
    window.start()
    wait(lambda: window.banner.isVisible())
    shot(window, "missing_weights")
    window.close()

    install_random_weights()
    window = MainWindow()
    window.resize(1280, 800)
    window.show()
    window.start()
    wait(lambda: window.model_ready)
    window.open_paths([paths[0]])
    wait(lambda: window.current_result is not None)
    window.layer_view.select_layer("conv2")
    settle()
    grid = window.layer_view.grid
    window.layer_view._on_channel_clicked(11)
    grid.selected_channel = 11
    shot(window, "layers_conv2")
    window.layer_view.select_layer("fc7")
    shot(window, "layers_fc7")

    # The unit atlas: conv5 channel's top patches over a folder of real photos.
    from tests.photo_folders import make_photo_folder

    holiday = Path(os.environ["ALEXNET_STUDIO_HOME"]) / "holiday photos"
    make_photo_folder(holiday, "subjects", per_class=10, size=320, bad_files=False)
    panel = window.layer_view.atlas_panel
    panel.set_folder(holiday)
    wait(lambda: panel.build_button.isEnabled())
    panel.build()
    wait(lambda: panel.atlas is not None, 600)
    window.layer_view.select_layer("conv5")
    settle()
    window.layer_view._on_channel_clicked(42)
    window.layer_view.grid.selected_channel = 42
    wait(lambda: panel.buttons[8].isVisible())
    settle()
    column = window.layer_view.channel_column  # the patches are at the foot of the column
    column.ensureWidgetVisible(panel.buttons[8])
    settle()
    shot(window, "layers_atlas")
    column.verticalScrollBar().setValue(0)
    if WANTED and WANTED <= WRITTEN:
        window.close()
        return 0
    window.tabs.setCurrentWidget(window.gradcam_view)
    wait(lambda: window.gradcam_view.heatmap is not None)
    shot(window, "gradcam")
    window.tabs.setCurrentWidget(window.filters_view)
    shot(window, "conv1_filters")
    window.open_paths([photos])
    wait(lambda: not window.batch_view.running)
    shot(window, "batch")

    # Model > Evaluate on a folder…: six photos filed under ImageNet folders, four under the
    # class the (random) model ranks first, two under its fourth, and one folder of no class.
    from alexnet_tf.inference import Classifier
    from alexnet_tf.labels import imagenet_wnids
    from tests.eval_folders import file_under, ranked_classes

    labelled = Path(os.environ["ALEXNET_STUDIO_HOME"]) / "val"
    ranks = ranked_classes(Classifier.load(None), paths)
    for i, (path, ranked) in enumerate(zip(paths, ranks, strict=True)):
        file_under(labelled, path, imagenet_wnids()[ranked[0] if i < 4 else ranked[3]])
    (labelled / "holiday snaps").mkdir()
    window.folder_evaluation.evaluate(labelled)
    dialog = window.folder_evaluation.dialog
    wait(lambda: dialog.view.report is not None)
    view = dialog.view
    wait(lambda: all(not view.misclassified.item(i).icon().isNull()
                     for i in range(view.misclassified.count())))  # fmt: skip
    shot(dialog, "folder_evaluation")
    window.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
