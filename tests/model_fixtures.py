"""Random-weights stand-ins for the ImageNet weights, so tests never download anything.

``random_imagenet_weights()`` builds a 1000-class AlexNet once per test process and saves its
weights; ``install_random_weights()`` puts them where the app looks for installed weights
(in the test's own ALEXNET_STUDIO_HOME) with a minimal info file, so ``weights_installed()``
is true. fc8 is scaled up so the softmax is peaked: the top classes are clearly ordered,
as with real weights, instead of 1000 near-ties.
"""

from __future__ import annotations

import atexit
import functools
import os
import shutil
import tempfile
from pathlib import Path

FC8_SCALE = 3.0  # logits spread of a few units: top classes distinct, not one-hot


@functools.cache
def random_imagenet_weights() -> Path:
    """Save a seeded random 1000-class AlexNet's weights (once per process); return the file."""
    import keras

    from alexnet_tf.model import build_alexnet

    keras.utils.set_random_seed(1234)
    model = build_alexnet()
    fc8 = model.get_layer("fc8")
    kernel, bias = fc8.get_weights()
    fc8.set_weights([kernel * FC8_SCALE, bias])
    folder = Path(tempfile.mkdtemp(prefix="alexnet-random-weights-"))
    atexit.register(shutil.rmtree, folder, True)
    path = folder / "random.weights.h5"
    model.save_weights(path)
    return path


def install_random_weights() -> Path:
    """Install the random weights into the current ALEXNET_STUDIO_HOME; return their path."""
    from alexnet_tf.fileio import write_json_atomic
    from alexnet_tf.weights.store import INFO_FILE, installed_weights_path

    source = random_imagenet_weights()
    destination = installed_weights_path()
    try:
        os.link(source, destination)  # 244 MB: a hard link instead of a copy
    except OSError:
        shutil.copyfile(source, destination)
    write_json_atomic(
        destination.with_name(INFO_FILE),
        {"source": "random weights for tests", "file": destination.name},
    )
    return destination


def make_job(root: Path, labels: list[str], *, fc8_scale: float = 5.0, seed: int = 11) -> Path:
    """A finished fine-tuning job folder under ``root`` with a random AlexNet of
    ``len(labels)`` classes; fc8 is scaled by ``fc8_scale`` so the softmax is peaked."""
    import keras

    from alexnet_tf.fileio import write_json_atomic
    from alexnet_tf.model import build_alexnet

    keras.utils.set_random_seed(seed)
    model = build_alexnet(num_classes=len(labels))
    kernel, bias = model.get_layer("fc8").get_weights()
    model.get_layer("fc8").set_weights([kernel * fc8_scale, bias])
    root = Path(root)
    (root / "model").mkdir(parents=True)
    model.save(root / "model" / "model.keras")
    write_json_atomic(root / "model" / "labels.json", {"labels": list(labels)})
    write_json_atomic(root / "status.json", {"state": "finished"})
    return root


def make_fine_tuned_job(weights_file, root, mode: str, changed_layers=("fc7",)) -> Path:
    """A finished 3-class job whose layers below fc8 are ``weights_file``'s (the installed
    ImageNet weights), except ``changed_layers``, moved as training would (here by a seeded
    random step); its job.json says it was trained in ``mode``."""
    import keras
    import numpy as np

    from alexnet_tf.fileio import write_json_atomic
    from alexnet_tf.model import build_alexnet

    imagenet = build_alexnet()
    imagenet.load_weights(weights_file)
    model = build_alexnet(3)
    rng = np.random.default_rng(5)
    for layer in imagenet.layers:
        weights = layer.get_weights()
        if not weights or layer.name == "fc8":
            continue
        if layer.name in changed_layers:
            weights = [w + rng.normal(0, 2 * float(w.std()) + 1e-3, w.shape).astype(w.dtype)
                       for w in weights]  # fmt: skip
        model.get_layer(layer.name).set_weights(weights)
    root = Path(root)
    (root / "model").mkdir(parents=True)
    model.save(root / "model" / "model.keras")
    write_json_atomic(root / "model" / "labels.json", {"labels": ["a", "b", "c"]})
    write_json_atomic(root / "job.json", {"settings": {"mode": mode}})
    write_json_atomic(root / "status.json", {"state": "finished"})
    keras.backend.clear_session()
    return root
