"""The installed ImageNet weights: where they live, whether they are there, how to load them.

Imported weights are stored converted to Keras' ``.weights.h5`` so later starts do not
re-parse the original 240 MB file. A JSON file beside them records where they came from.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..errors import WeightsNotInstalledError
from ..paths import weights_dir

WEIGHTS_FILE = "bvlc_alexnet.weights.h5"
INFO_FILE = "bvlc_alexnet.json"


def installed_weights_path() -> Path:
    """Path of the converted ImageNet weights (may not exist yet)."""
    return weights_dir() / WEIGHTS_FILE


def installed_weights_info() -> dict | None:
    """What was installed and from where, or ``None`` if nothing is installed."""
    info = weights_dir() / INFO_FILE
    if not installed_weights_path().exists() or not info.exists():
        return None
    return json.loads(info.read_text(encoding="utf-8"))


def weights_installed() -> bool:
    """True when ImageNet weights are installed."""
    return installed_weights_info() is not None


def load_imagenet_model():
    """Build AlexNet and load the installed ImageNet weights.

    Raises:
        WeightsNotInstalledError: nothing installed yet (the message says how to get them).
    """
    if not weights_installed():
        raise WeightsNotInstalledError()
    from ..model import build_alexnet

    model = build_alexnet()
    model.load_weights(installed_weights_path())
    return model
