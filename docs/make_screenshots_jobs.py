"""Regenerate the fine-tuning screenshots in docs/screenshots/ from the real app (under Xvfb).

    xvfb-run -s "-screen 0 1280x800x24" python docs/make_screenshots_jobs.py

A real training job runs (head mode, default settings) on crops of photos that scikit-image ships
(tests/photo_folders.py), starting from synthetic
stand-in "ImageNet" weights in a temporary data folder: the numbers show the app at work,
not what AlexNet's real features achieve.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
HOME = Path(tempfile.mkdtemp(prefix="alexnet-screenshots-jobs-"))
os.environ["ALEXNET_STUDIO_HOME"] = str(HOME / "home")
OUT = ROOT / "docs" / "screenshots"


def main() -> int:
    from PySide6.QtWidgets import QApplication

    from tests.photo_folders import make_photo_folder
    from tests.synthetic_weights import install_synthetic_imagenet_weights

    install_synthetic_imagenet_weights(HOME / "home")
    data = make_photo_folder(HOME / "Pictures" / "photos", "subjects", per_class=30)

    app = QApplication(sys.argv[:1])
    from app.main_window import MainWindow
    from app.style import apply_style

    apply_style(app)

    def wait(condition, seconds=300):
        end = time.time() + seconds
        while not condition() and time.time() < end:
            app.processEvents()
            time.sleep(0.02)

    def shot(name):
        wait(lambda: False, 0.8)
        window.grab().save(str(OUT / f"{name}.png"))
        print("wrote", OUT / f"{name}.png")

    window = MainWindow()
    window.resize(1280, 800)
    window.show()
    window.start()
    wait(lambda: window.model_ready)
    ui = window.training
    page, panel = ui.finetune_page, ui.jobs_panel

    ui.show_finetune()
    page.set_folder(data["root"])
    wait(lambda: page.scan is not None)
    page.settings.epochs.setValue(30)  # the other settings: the defaults
    shot("finetune_scan")

    page.start_button.click()

    def record():
        return panel.selected_record()

    wait(lambda: record() is not None and record().progress > 0.35)
    shot("jobs_running")
    wait(lambda: record().state == "finished")
    panel.refresh()
    shot("jobs_finished_curves")
    panel.detail_tabs.setCurrentWidget(panel.evaluation)
    shot("jobs_evaluation")

    window.training.ask_close_choice = lambda names: "cancel"
    window.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
