"""The window never freezes, and appears before TensorFlow is imported."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from PySide6.QtCore import QTimer

import app
from alexnet_tf.model import NAMED_LAYERS
from tests.fresh_imports import imported_after, package_modules
from tests.gui.conftest import MODEL_TIMEOUT_MS

ROOT = Path(__file__).resolve().parents[2]
MAX_GAP_SECONDS = 0.100


class EventLoopGapMeter:
    """Ticks every 5 ms on the GUI thread and records the longest time between ticks."""

    def __init__(self):
        self.timer = QTimer()
        self.timer.setInterval(5)
        self.timer.timeout.connect(self._on_timeout)
        self.longest = 0.0
        self._last = None

    def _on_timeout(self):
        now = time.perf_counter()
        if self._last is not None:
            self.longest = max(self.longest, now - self._last)
        self._last = now

    def start(self):
        self._last = time.perf_counter()
        self.timer.start()

    def stop(self):
        self.timer.stop()


def test_event_loop_never_stalls_while_classifying_and_rendering(qtbot, window, photos):
    meter = EventLoopGapMeter()
    meter.start()
    for _round in range(2):
        for photo in photos:
            window.open_paths([photo])
            qtbot.waitUntil(
                lambda p=photo: (
                    window.current_result is not None and window.current_result.name == p.name
                ),
                timeout=MODEL_TIMEOUT_MS,
            )
            for name in NAMED_LAYERS:  # every view redraws, as a user clicking through does
                window.layer_view.select_layer(name)
                qtbot.wait(10)
            window.tabs.setCurrentWidget(window.gradcam_view)
            qtbot.waitUntil(
                lambda: window.gradcam_view.heatmap is not None, timeout=MODEL_TIMEOUT_MS
            )
            window.tabs.setCurrentWidget(window.layer_view)
    window.open_paths(photos * 4)  # a batch, progressively filled
    qtbot.waitUntil(lambda: not window.batch_view.running, timeout=MODEL_TIMEOUT_MS)
    meter.stop()
    assert meter.longest < MAX_GAP_SECONDS, f"event loop stalled for {meter.longest * 1000:.0f} ms"


def test_importing_the_app_does_not_import_tensorflow():
    modules = package_modules(app)
    assert "app.main_window" in modules and "app.jobs.jobs_panel" in modules
    heavy = imported_after(
        modules, ("tensorflow", "keras", "alexnet_tf.inference", "alexnet_tf.model")
    )
    assert heavy == [], f"importing the app imported {heavy}"


def test_window_opens_without_loading_tensorflow_or_the_plotting_library(tmp_path):
    code = (
        "import sys\n"
        "from PySide6.QtWidgets import QApplication\n"
        "app = QApplication([])\n"
        "from app.main_window import MainWindow\n"
        "window = MainWindow()\n"
        "window.show()\n"
        "app.processEvents()\n"
        "print('visible', window.isVisible(), 'tensorflow' in sys.modules,\n"
        "      'pyqtgraph' in sys.modules)\n"
        "window.close()\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-3000:]
    # pyqtgraph (0.2 s to import) waits until the training curves are first shown.
    assert result.stdout.strip().splitlines()[-1] == "visible True False False"


def test_garbage_is_collected_in_the_gui_thread_never_in_a_worker_thread(window, qtbot):
    # A collection in the model thread destroys Qt objects there and deadlocked the app
    # (PySide 6.12); with the window open, only the GUI thread collects.
    import gc
    import threading

    freed_in = []

    class Cycle:
        def __init__(self):
            self.me = self

        def __del__(self):
            freed_in.append(threading.current_thread().name)

    def busy_worker():
        Cycle()  # garbage in a reference cycle: only the collector frees it
        # Enough new containers to pass every threshold of the collector.
        allocated = [[] for _ in range(50_000)]
        del allocated

    assert not gc.isenabled()
    worker = threading.Thread(target=busy_worker, name="busy-worker")
    worker.start()
    worker.join()
    qtbot.waitUntil(lambda: len(freed_in) > 0, timeout=10_000)
    assert freed_in == ["MainThread"]
    window.close()
    assert gc.isenabled()  # given back to Python when the window closes
