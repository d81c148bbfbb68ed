"""Labelled folders whose right answers are known: the model's predictions are computed first,
then each image is filed under the class that makes it right or wrong as the test needs."""

from __future__ import annotations

import numpy as np

from tests.datasets import make_class_image


def write_images(folder, count, seed):
    """``count`` generated photos in ``folder`` (not yet sorted into classes)."""
    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    paths = []
    for i in range(count):
        path = folder / f"img{i:02d}.jpg"
        make_class_image(i % 3, 96, rng).save(path, quality=90)
        paths.append(path)
    return paths


def ranked_classes(classifier, paths):
    """Every image's classes, most probable first, as ``classify`` computes them."""
    from alexnet_tf.images import load_image

    results = classifier.classify_batch([load_image(p) for p in paths], top=classifier.num_classes)
    return [[p.index for p in predictions] for predictions in results]


def file_under(root, path, folder_name):
    target = root / folder_name
    target.mkdir(parents=True, exist_ok=True)
    return path.rename(target / path.name)
