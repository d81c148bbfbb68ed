"""Class names: the 1000 ImageNet labels, or the classes of a fine-tuned model."""

from __future__ import annotations

import csv
import functools

from .paths import resource_path


@functools.cache
def _imagenet_rows() -> tuple[dict, ...]:
    with open(resource_path("imagenet_classes.tsv"), encoding="utf-8", newline="") as file:
        rows = tuple(sorted(csv.DictReader(file, delimiter="\t"), key=lambda r: int(r["index"])))
    if len(rows) != 1000:
        raise RuntimeError(f"imagenet_classes.tsv has {len(rows)} classes, expected 1000")
    return rows


def imagenet_labels() -> tuple[str, ...]:
    """The 1000 ImageNet class names in the order of the BVLC model's outputs."""
    return tuple(row["names"] for row in _imagenet_rows())


def imagenet_wnids() -> tuple[str, ...]:
    """The WordNet IDs of the 1000 classes (``n01440764`` ...), in the same order."""
    return tuple(row["wnid"] for row in _imagenet_rows())
