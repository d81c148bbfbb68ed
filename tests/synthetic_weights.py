"""Synthetic "ImageNet-like" AlexNet weights for training tests (real ones are never downloaded).

Keras' default initialisation on Caffe-scaled pixels (about +-128) gives activations that grow
layer by layer until the softmax saturates, which makes from-scratch training erratic. These
weights are random but rescaled layer by layer so every layer's output has unit spread on
natural-looking inputs (the idea of LSUV initialisation), like a trained network's would.
They are installed with the store's own file names, so `--init imagenet` finds them.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np


def install_synthetic_imagenet_weights(home: Path) -> Path:
    """Write scaled random weights as the installed ImageNet weights under ``home``.

    Returns the weights file. Run it in a process whose ``ALEXNET_STUDIO_HOME`` may differ:
    the paths are built from ``home`` directly.
    """
    import keras

    from alexnet_tf.model import WEIGHT_LAYERS, build_alexnet
    from alexnet_tf.preprocess import normalize
    from alexnet_tf.weights.store import INFO_FILE, WEIGHTS_FILE

    keras.utils.set_random_seed(1234)
    model = build_alexnet(1000, dropout=0)
    rng = np.random.default_rng(0)
    # smooth random images: low-resolution noise scaled up, like blobs of colour
    small = rng.integers(0, 256, (8, 8, 8, 3)).astype(np.float32)
    images = normalize(np.repeat(np.repeat(small, 29, axis=1), 29, axis=2)[:, :227, :227])
    for name in WEIGHT_LAYERS:
        layer = model.get_layer(name)
        probe = keras.Model(model.input, layer.output)
        kernel, bias = layer.get_weights()
        spread = float(np.std(probe(images, training=False)))
        layer.set_weights([kernel / max(spread, 1e-6), bias])
    folder = Path(home) / "weights"
    folder.mkdir(parents=True, exist_ok=True)
    model.save_weights(folder / WEIGHTS_FILE)
    (folder / INFO_FILE).write_text(json.dumps({"source": "synthetic test weights"}))
    return folder / WEIGHTS_FILE
