"""Where AlexNet Studio keeps its data: the one place that knows the folder layout.

Everything a user accumulates (installed weights, fine-tuning jobs, logs, settings) lives
under one folder chosen with platformdirs. ``ALEXNET_STUDIO_HOME`` overrides it, which is
how the tests keep every run in a temporary folder.
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

HOME_ENV = "ALEXNET_STUDIO_HOME"


def data_home() -> Path:
    """Return the root folder of all user data, creating it if needed."""
    override = os.environ.get(HOME_ENV)
    if override:
        root = Path(override).expanduser()
    else:
        import platformdirs  # imported here: only needed when no override is set

        root = Path(platformdirs.user_data_dir("AlexNet Studio", appauthor=False))
    root.mkdir(parents=True, exist_ok=True)
    return root


def _subdir(name: str) -> Path:
    path = data_home() / name
    path.mkdir(parents=True, exist_ok=True)
    return path


def weights_dir() -> Path:
    """Folder holding the installed (converted) ImageNet weights and partial downloads."""
    return _subdir("weights")


def jobs_dir() -> Path:
    """Folder holding one sub-folder per fine-tuning job."""
    return _subdir("jobs")


def logs_dir() -> Path:
    """Folder holding the app's and the command line's log files."""
    return _subdir("logs")


def resource_path(name: str) -> Path:
    """Return the path of a file shipped in ``resources/`` (installed as package data)."""
    path = Path(str(resources.files("alexnet_tf.resources").joinpath(name)))
    if not path.exists():
        raise FileNotFoundError(f"Resource {name!r} is missing from {path.parent}; reinstall.")
    return path
