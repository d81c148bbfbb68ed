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
