"""Class names: the 1000 ImageNet labels, or the classes of a fine-tuned model."""

from __future__ import annotations

import csv
import functools

from .paths import resource_path


@functools.cache
def imagenet_labels() -> tuple[str, ...]:
    """The 1000 ImageNet class names in the order of the BVLC model's outputs."""
    with open(resource_path("imagenet_classes.tsv"), encoding="utf-8", newline="") as file:
        rows = list(csv.DictReader(file, delimiter="\t"))
    labels = tuple(row["names"] for row in sorted(rows, key=lambda row: int(row["index"])))
    if len(labels) != 1000:
        raise RuntimeError(f"imagenet_classes.tsv has {len(labels)} classes, expected 1000")
    return labels
