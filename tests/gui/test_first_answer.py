"""The window's first top-5 comes from LiteRT before TensorFlow has loaded, is never replaced
when TensorFlow arrives, and everything that needs TensorFlow (Grad-CAM) still works."""

from __future__ import annotations

import re

import numpy as np
import pytest

from alexnet_tf.images import load_image
from alexnet_tf.layer_names import NAMED_LAYERS
from tests.gui.conftest import MODEL_TIMEOUT_MS
from tests.litert_fixtures import install_built_models
from tests.photos import sample_photo


@pytest.fixture
def litert_home(studio_home, monkeypatch):
    monkeypatch.setenv("ALEXNET_STUDIO_ENGINE", "auto")
    return install_built_models(studio_home)


def test_first_top5_from_litert_then_tensorflow_for_gradcam(qtbot, litert_home):
    from app.log import log_path, setup_logging
    from app.main_window import MainWindow

    setup_logging()
    window = MainWindow()
    qtbot.addWidget(window)
    window.show()
    loaded = []
    window.service.worker.model_loaded.connect(loaded.append)
    window.start([sample_photo("china.jpg")])
    # The photo itself is on screen before any model has answered.
    assert window.image_view.has_image()
    assert window.current_result is None
    qtbot.waitUntil(lambda: window.current_result is not None, timeout=MODEL_TIMEOUT_MS)
    assert loaded and loaded[0].engine == "litert"
    assert loaded[0].conv1_kernel is not None  # the conv1 filters tab needs no TensorFlow
    first = list(window.predictions.predictions)
    assert [p.rank for p in first] == [1, 2, 3, 4, 5]
    activations = window.current_result.analysis.activations
    assert set(activations) == set(NAMED_LAYERS)  # the Layers tab arrives with the top-5
    assert window.layer_view.layer_names() == list(NAMED_LAYERS)

    # Grad-CAM was asked for with the result; it is computed once TensorFlow has arrived.
    qtbot.waitUntil(lambda: window.gradcam_view.heatmap is not None, timeout=MODEL_TIMEOUT_MS)
    assert window.gradcam_view.heatmap_class == first[0].index
    assert window.service.worker.tf_classifier is not None
    assert window.predictions.predictions == first, "the first top-5 was replaced"
    assert window.current_result.analysis.predictions == first

    # Later drops are answered (by the engine measured fastest) with the same top-5.
    window.open_paths([sample_photo("flower.jpg")])
    qtbot.waitUntil(lambda: window.current_result.name == "flower.jpg", timeout=MODEL_TIMEOUT_MS)
    tensorflow = window.service.worker.tf_classifier
    reference = tensorflow.analyze(load_image(sample_photo("flower.jpg")))
    shown = window.predictions.predictions
    assert [p.index for p in shown] == [p.index for p in reference.predictions]
    assert np.allclose(
        [p.probability for p in shown], [p.probability for p in reference.predictions], atol=1e-4
    )
    window.close()
    assert not window.service.is_running()
    log = log_path().read_text(encoding="utf-8")
    assert re.search(r"first top-5 shown \d+\.\d\d s after start", log)
    assert log.count("first top-5 shown") == 1
