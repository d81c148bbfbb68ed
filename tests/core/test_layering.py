"""The library never imports Qt: it must run on servers, in training jobs and in notebooks."""

from __future__ import annotations

import pkgutil
import subprocess
import sys
from pathlib import Path

import alexnet_tf

ROOT = Path(__file__).resolve().parents[2]


def _library_modules() -> list[str]:
    return sorted(
        info.name
        for info in pkgutil.walk_packages(alexnet_tf.__path__, prefix="alexnet_tf.")
        if not info.name.startswith("alexnet_tf.resources")
    )


def test_importing_every_library_module_imports_no_qt():
    modules = _library_modules()
    assert "alexnet_tf.model" in modules and "alexnet_tf.gradcam" in modules
    code = (
        "import importlib, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "qt = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('PySide6', 'PyQt5', 'PyQt6', 'shiboken6', 'pyqtgraph', 'superqt', 'qtpy'))\n"
        "print(','.join(qt))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().splitlines()[-1:] in ([], [""]), (
        f"alexnet_tf imports Qt: {result.stdout.strip()}"
    )
