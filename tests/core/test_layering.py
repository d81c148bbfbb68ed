"""The library never imports Qt: it must run on servers, in training jobs and in notebooks."""

from __future__ import annotations

import alexnet_tf
from tests.fresh_imports import imported_after, package_modules

QT_PACKAGES = ("PySide6", "PyQt5", "PyQt6", "shiboken6", "pyqtgraph", "superqt", "qtpy")


def test_importing_every_library_module_imports_no_qt():
    modules = package_modules(alexnet_tf, skip=("alexnet_tf.resources",))
    assert "alexnet_tf.model" in modules and "alexnet_tf.training.loop" in modules
    qt = imported_after(modules, QT_PACKAGES)
    assert qt == [], f"alexnet_tf imports Qt: {qt}"


def test_the_first_answer_path_imports_no_tensorflow():
    # classify with a cached flatbuffer and the app's first top-5 run on these alone.
    fast_path = [
        "alexnet_tf.litert_classifier",
        "alexnet_tf.flatbuffer_cache",
        "alexnet_tf.predictions",
        "alexnet_tf.cli.classify",
        "alexnet_tf.batches",
    ]
    heavy = imported_after(fast_path, ("tensorflow", "keras"))
    assert heavy == [], f"the LiteRT path imports {heavy}"
