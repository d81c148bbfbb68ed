"""Which devices a new training job will use, told without importing TensorFlow.

The app's main thread must not import TensorFlow (about 3 s), so this follows the order of
``alexnet_tf.training.strategy.select_strategy`` with what the operating system shows:
several workers in ``TF_CONFIG``, else the NVIDIA GPUs the driver lists (and
``CUDA_VISIBLE_DEVICES`` lets through), else the CPU. It is an estimate; the job's own
"start" event states the strategy it really chose, and the Jobs panel shows that.
"""

from __future__ import annotations

import json
import os
from pathlib import Path


def _visible_gpu_count(environ) -> int:
    driver = Path("/proc/driver/nvidia/gpus")
    try:
        count = sum(1 for _ in driver.iterdir())
    except OSError:
        count = 0
    visible = environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        ids = [v for v in visible.split(",") if v.strip() and v.strip() != "-1"]
        count = min(count, len(ids))
    return count


def describe_devices(environ=None) -> str:
    """A short sentence such as "CPU (2 cores)" or "2 GPUs, MirroredStrategy"."""
    environ = os.environ if environ is None else environ
    try:
        config = json.loads(environ.get("TF_CONFIG") or "{}")
        workers = (config.get("cluster") or {}).get("worker") or []
    except (ValueError, AttributeError):
        workers = []
    gpus = _visible_gpu_count(environ)
    if len(workers) > 1:
        where = f"{gpus} GPU(s) each" if gpus else "CPU"
        return f"{len(workers)} workers from TF_CONFIG, MultiWorkerMirroredStrategy, on {where}"
    if gpus > 1:
        return f"{gpus} GPUs, MirroredStrategy"
    if gpus == 1:
        return "1 GPU"
    return f"CPU ({os.cpu_count() or 1} cores), no GPU visible"
