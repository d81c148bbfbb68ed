"""The real main window, with random stand-in ImageNet weights, and real image files."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw

from tests.model_fixtures import install_random_weights

MODEL_TIMEOUT_MS = 120_000  # loading + compiling AlexNet on a busy 2-core machine


def write_photo(path, seed: int = 0, size=(320, 240)):
    """A small picture with shapes and a gradient: content for every layer to respond to."""
    rng = np.random.default_rng(seed)
    width, height = size
    x = np.linspace(0, 255, width)[None, :, None]
    y = np.linspace(0, 255, height)[:, None, None]
    base = np.concatenate([x + 0 * y, y + 0 * x, (x + y) / 2], axis=2).astype(np.uint8)
    image = Image.fromarray(base)
    draw = ImageDraw.Draw(image)
    for _ in range(6):
        x0, y0 = rng.integers(0, width - 40), rng.integers(0, height - 40)
        colour = tuple(int(c) for c in rng.integers(0, 255, 3))
        draw.ellipse([x0, y0, x0 + rng.integers(20, 90), y0 + rng.integers(20, 90)], fill=colour)
    image.save(path)
    return path


@pytest.fixture
def photos(tmp_path):
    """Three images (JPEG and PNG) in a folder of their own."""
    folder = tmp_path / "photos"
    folder.mkdir()
    return [
        write_photo(folder / "garden.jpg", 1),
        write_photo(folder / "street.png", 2, (200, 300)),
        write_photo(folder / "beach.jpg", 3, (640, 480)),
    ]


@pytest.fixture
def weights():
    return install_random_weights()


def _make_window(qtbot):
    from app.main_window import MainWindow

    window = MainWindow()
    qtbot.addWidget(window)
    window.show()
    return window


@pytest.fixture
def window(qtbot, weights):
    """The main window with the (random) ImageNet model loaded and ready."""
    window = _make_window(qtbot)
    window.start()
    qtbot.waitUntil(lambda: window.model_ready, timeout=MODEL_TIMEOUT_MS)
    yield window
    window.close()
    assert not window.service.is_running(), "the model thread is still running"


@pytest.fixture
def window_without_weights(qtbot):
    window = _make_window(qtbot)
    window.start()
    yield window
    window.close()
    assert not window.service.is_running()
