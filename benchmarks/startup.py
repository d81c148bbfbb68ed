"""How fast the app starts: launch -> window shown, and launch -> first classification.

Runs the real app in a fresh interpreter (offscreen, random stand-in weights, one image given
on the command line, as ``alexnet-studio IMAGE`` does) and prints a table. Not asserted;
the target is under 1 s to the window.

    python benchmarks/startup.py [--runs 3]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD = r"""
import os, sys, time
launched = float(os.environ["STARTUP_LAUNCHED"])
from PySide6.QtWidgets import QApplication
app = QApplication(sys.argv[:1])
from app.main_window import MainWindow
from app.style import apply_style
apply_style(app)
window = MainWindow()
window.show()
app.processEvents()
shown = time.time() - launched
tf_loaded = "tensorflow" in sys.modules
def on_image_shown(name):
    print(f"RESULT {shown:.3f} {time.time() - launched:.3f} {tf_loaded}", flush=True)
    os._exit(0)  # startup is measured, not shutdown
window.image_shown.connect(on_image_shown)
window.start([sys.argv[1]])
app.exec()
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    home = tempfile.mkdtemp(prefix="alexnet-startup-")
    env = dict(os.environ, ALEXNET_STUDIO_HOME=home, QT_QPA_PLATFORM="offscreen")
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.update(env)
    sys.path.insert(0, str(ROOT))
    from tests.gui.conftest import write_photo
    from tests.model_fixtures import install_random_weights

    install_random_weights()
    image = write_photo(Path(home) / "photo.jpg", 1, (640, 480))
    print(f"{'run':>4} {'window shown (s)':>18} {'first top-5 (s)':>16} {'TF loaded at show':>18}")
    for run in range(1, args.runs + 1):
        env["STARTUP_LAUNCHED"] = repr(time.time())
        result = subprocess.run(
            [sys.executable, "-c", CHILD, str(image)],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        lines = [line for line in result.stdout.splitlines() if line.startswith("RESULT")]
        if not lines:
            print(f"{run:>4} failed: {result.stderr[-2000:]}")
            continue
        shown, first, tf_loaded = lines[-1].split()[1:]
        print(f"{run:>4} {float(shown):>18.2f} {float(first):>16.2f} {tf_loaded:>18}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
