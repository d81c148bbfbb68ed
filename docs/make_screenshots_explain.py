"""Regenerate the explanation screenshots in docs/screenshots/ from the real app (under Xvfb).

    xvfb-run -s "-screen 0 1280x800x24" python docs/make_screenshots_explain.py

A real photograph (scikit-image's astronaut, or the photos scikit-learn ships) and synthetic
stand-in "ImageNet" weights at a trained network's scale in a temporary data folder: the
pictures show the app at work, not what the BVLC weights' units look for.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
HOME = Path(tempfile.mkdtemp(prefix="alexnet-screenshots-explain-"))
os.environ["ALEXNET_STUDIO_HOME"] = str(HOME / "home")
OUT = ROOT / "docs" / "screenshots"


def main() -> int:
    from PySide6.QtWidgets import QApplication

    from tests.photos import sample_photo
    from tests.synthetic_weights import install_synthetic_imagenet_weights

    install_synthetic_imagenet_weights(HOME / "home")
    app = QApplication(sys.argv[:1])
    from app.main_window import MainWindow
    from app.style import apply_style

    apply_style(app)

    def wait(condition, seconds=600):
        end = time.time() + seconds
        while not condition() and time.time() < end:
            app.processEvents()
            time.sleep(0.01)

    def shot(widget, name):
        wait(lambda: False, 0.5)
        widget.grab().save(str(OUT / f"{name}.png"))
        print("wrote", OUT / f"{name}.png")

    window = MainWindow()
    window.resize(1280, 800)
    window.show()
    window.start()
    wait(lambda: window.model_ready)
    window.open_paths([sample_photo("china.jpg")])
    wait(lambda: window.current_result is not None)
    layers = window.layer_view
    layers.select_layer("conv5")
    wait(lambda: False, 0.5)
    channel = int(window.current_result.analysis.activations["conv5"].max(axis=(0, 1)).argmax())
    layers.grid.selected_channel = channel
    layers.grid.channel_clicked.emit(channel)
    panel = window.explain.channel_panel
    wait(panel.attribution.has_image)
    panel.button.click()
    wait(lambda: panel.running)
    wait(lambda: not panel.running)
    shot(window, "layers_preferred_image")

    window.tabs.setCurrentWidget(window.gradcam_view)
    wait(lambda: window.gradcam_view.heatmap is not None)
    window.gradcam_view.occlusion.button.click()
    wait(lambda: window.gradcam_view.occlusion.result is not None)
    shot(window, "occlusion")

    window.explain.summary_action.trigger()
    dialog = window.explain.summary_dialog
    wait(lambda: dialog.summary is not None)
    shot(dialog, "model_summary")
    window.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
