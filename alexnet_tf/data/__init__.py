"""Datasets: the scan of a user's image folder (one sub-folder per class) and its report.

``from alexnet_tf.data import scan_dataset`` is cheap: no TensorFlow is imported here.
"""

from __future__ import annotations

from .scan import DatasetError, DatasetScan, RefusedFile, ScanItem, require_trainable, scan_dataset

__all__ = [
    "DatasetError",
    "DatasetScan",
    "RefusedFile",
    "ScanItem",
    "require_trainable",
    "scan_dataset",
]
