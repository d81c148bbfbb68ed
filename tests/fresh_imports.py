"""Which modules a fresh interpreter ends up with after importing some of ours.

The layering rules (the library never imports Qt; the app never imports TensorFlow at import
time) are about ``sys.modules`` after an import, which only a new interpreter can show.
"""

from __future__ import annotations

import pkgutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def package_modules(package, skip: tuple[str, ...] = ()) -> list[str]:
    """Every module of ``package`` and its sub-packages, except names starting with ``skip``."""
    prefix = package.__name__ + "."
    return sorted(
        info.name
        for info in pkgutil.walk_packages(package.__path__, prefix=prefix)
        if not info.name.startswith(skip)
    )


def imported_after(modules: list[str], watched: tuple[str, ...]) -> list[str]:
    """The ``watched`` top-level packages present in ``sys.modules`` after importing ``modules``
    in a fresh interpreter (a watched name may also be a full module name)."""
    code = (
        "import importlib, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        f"watched = {watched!r}\n"
        "found = sorted(m for m in sys.modules if m in watched or m.split('.')[0] in watched)\n"
        "print(','.join(found))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    last = result.stdout.strip().splitlines()[-1:] or [""]
    return [name for name in last[0].split(",") if name]
