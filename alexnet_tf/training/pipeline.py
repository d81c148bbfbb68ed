"""The input pipeline: decode once into a cache in the job folder, then tf.data for every epoch.

Images are decoded and warped to 256x256 exactly once, during the dataset scan (the scan
decodes every file anyway to check it), into ``JOB/cache/images-256.npy``: a uint8
``(N, 256, 256, 3)`` array whose row ``i`` is ``scan.items[i]``. Nothing is written into the
user's folder.

The order of an epoch is a permutation derived from ``(seed, epoch)`` alone, and the random
crop and flip of an example from ``(seed, epoch, position in the epoch)``. So a job resumed
at step ``k`` of an epoch rebuilds the same permutation and skips exactly its first ``k``
batches: no example is used twice in an epoch, and the augmentation does not depend on how
the global batch is split over replicas or workers.
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ..fileio import atomic_path
from ..preprocess import CROP, RESIZE, center_crop, normalize, resize_for_network

IMAGE_SHAPE = (RESIZE, RESIZE, 3)
CACHE_FILE = "images-256.npy"


class StopRequested(Exception):  # noqa: N818 - a request, not an error
    """Raised from a scan callback when the job was asked to stop."""


def build_image_cache(
    folder: str | Path,
    cache_path: str | Path,
    *,
    progress: Callable[[int, int], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
):
    """Scan ``folder`` and, in the same pass, write the 256x256 uint8 cache of accepted images.

    Args:
        folder: the user's dataset folder (one sub-folder per class). Only read.
        cache_path: where the ``.npy`` cache goes (inside the job folder). Written atomically.
        progress: ``progress(done, total)`` from the scan, for progress displays.
        should_stop: polled for every image; when it returns True the scan stops with
            ``StopRequested``.

    Returns:
        ``(scan, cache)``: the ``DatasetScan`` and the cache opened read-only (memory-mapped).
    """
    from ..data.scan import scan_dataset

    cache_path = Path(cache_path)
    cache_path.parent.mkdir(parents=True, exist_ok=True)
    raw_path = cache_path.with_name(f".{cache_path.name}.raw-{os.getpid()}")
    offsets: dict[Path, int] = {}
    row_bytes = int(np.prod(IMAGE_SHAPE))
    try:
        with open(raw_path, "wb") as raw:

            def on_image(path, label, image):
                if should_stop is not None and should_stop():
                    raise StopRequested()
                offsets[Path(path)] = raw.tell() // row_bytes
                raw.write(resize_for_network(image).tobytes())

            scan = scan_dataset(folder, on_image=on_image, progress=progress)
        rows = (
            np.memmap(raw_path, np.uint8, "r", shape=(len(offsets), *IMAGE_SHAPE))
            if offsets
            else np.zeros((0, *IMAGE_SHAPE), np.uint8)
        )
        with atomic_path(cache_path, suffix=".npy") as temporary:
            cache = np.lib.format.open_memmap(
                temporary, mode="w+", dtype=np.uint8, shape=(len(scan.items), *IMAGE_SHAPE)
            )
            for i, item in enumerate(scan.items):
                row = offsets.get(Path(item.path))
                if row is None:  # not handed to on_image: decode it here, once
                    from ..images import load_image

                    cache[i] = resize_for_network(load_image(item.path))
                else:
                    cache[i] = rows[row]
            cache.flush()
            del cache, rows
    finally:
        with contextlib.suppress(FileNotFoundError):
            raw_path.unlink()
    return scan, load_image_cache(cache_path)


def load_image_cache(cache_path: str | Path) -> np.ndarray:
    """Open a cache written by ``build_image_cache`` read-only, without reading it into memory."""
    return np.load(cache_path, mmap_mode="r")


def split_train_val(labels, val_split: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Stratified, seeded split of example indices into training and validation.

    Each class gives ``round(n * val_split)`` examples to validation, at least one when it
    has two or more and ``val_split > 0``, and always keeps one for training.

    Returns:
        ``(train_indices, val_indices)``, each sorted.
    """
    if not 0 <= val_split < 1:
        raise ValueError(f"val_split must be in [0, 1). Received: val_split={val_split}")
    labels = np.asarray(labels)
    rng = np.random.default_rng([seed, 7])
    train, val = [], []
    for label in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == label))
        n_val = int(round(len(members) * val_split))
        if val_split > 0 and len(members) >= 2:
            n_val = max(n_val, 1)
        n_val = min(n_val, len(members) - 1)
        val.extend(members[:n_val])
        train.extend(members[n_val:])
    return np.sort(np.array(train, np.int64)), np.sort(np.array(val, np.int64))


def steps_per_epoch(num_train: int, global_batch: int) -> int:
    """Full global batches per epoch (the remainder waits for a later epoch's permutation)."""
    return num_train // global_batch


def epoch_order(train_indices, seed: int, epoch: int) -> np.ndarray:
    """The permutation of the training examples for ``epoch``: a function of (seed, epoch) only."""
    return np.random.default_rng([seed, epoch, 11]).permutation(np.asarray(train_indices))


def worker_positions(
    num_steps: int,
    global_batch: int,
    *,
    start_step: int = 0,
    worker_index: int = 0,
    num_workers: int = 1,
) -> np.ndarray:
    """Positions (in the epoch order) this worker feeds, step by step, from ``start_step``.

    Every global batch ``s`` is ``order[s * B:(s + 1) * B]``; worker ``w`` takes the ``w``-th
    contiguous slice of it, and its local replicas split that slice in turn.
    """
    if global_batch % num_workers:
        raise ValueError(
            f"global_batch must be divisible by the number of workers. "
            f"Received: global_batch={global_batch}, num_workers={num_workers}"
        )
    per_worker = global_batch // num_workers
    steps = np.arange(start_step, num_steps)[:, None]
    return (steps * global_batch + worker_index * per_worker + np.arange(per_worker)).reshape(-1)


def augment(image, seed, *, crop: bool, flip: bool):
    """Random 227x227 crop (inside the 256x256 image) and horizontal flip, from a stateless seed."""
    import tensorflow as tf

    crop_seed, flip_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
    if crop:
        image = tf.image.stateless_random_crop(image, (CROP, CROP, 3), crop_seed)
    else:
        image = center_crop(image)
    if flip:
        image = tf.image.stateless_random_flip_left_right(image, flip_seed)
    return image


def make_train_dataset(
    source: np.ndarray,
    labels: np.ndarray,
    order: np.ndarray,
    positions: np.ndarray,
    *,
    per_replica_batch: int,
    seed: int,
    epoch: int,
    augment_images: bool = True,
    features: bool = False,
):
    """The tf.data pipeline of one epoch for one worker, yielding per-replica batches.

    Args:
        source: the image cache ``(N, 256, 256, 3)`` uint8, or (``features=True``) cached
            features ``(N, views, D)`` float32 where view 1 is the flipped image.
        labels: ``(N,)`` int labels, indexed like ``source``.
        order: the epoch's permutation of training indices (``epoch_order``).
        positions: the positions in ``order`` this worker feeds (``worker_positions``),
            consecutive ``per_replica_batch`` runs go to consecutive local replicas.
        per_replica_batch: examples per replica per step.
        seed, epoch: the job's seed and the epoch, for the stateless augmentation.
        augment_images: random crops and flips (training) or centre crops only.
        features: ``source`` holds features; augmentation picks one of the cached views.

    Returns:
        A ``tf.data.Dataset`` of ``(inputs, labels)`` batches of ``per_replica_batch``.
    """
    import tensorflow as tf

    labels = np.asarray(labels, np.int32)
    indices = np.asarray(order)[positions]
    if features:
        # Cached features are small (16 MB for 500 images): gather this epoch's rows in NumPy
        # and slice them, rather than calling back into Python per example.
        views = source.shape[1]
        if augment_images and views > 1:
            # One draw per position of the whole epoch, so a resumed epoch picks the same views.
            epoch_views = np.random.default_rng([seed, epoch]).integers(0, views, len(order))
            chosen = epoch_views[positions]
        else:
            chosen = np.zeros(len(positions), np.int64)
        rows = np.asarray(source[indices, chosen], np.float32)
        dataset = tf.data.Dataset.from_tensor_slices((rows, labels[indices]))
        dataset = dataset.batch(per_replica_batch, drop_remainder=True)
        return dataset.prefetch(tf.data.AUTOTUNE)

    seeds = np.stack(
        [np.full(len(positions), seed, np.int64), epoch * 10_000_000 + positions.astype(np.int64)],
        axis=1,
    )
    dataset = tf.data.Dataset.from_tensor_slices((indices, seeds))

    def load(index, example_seed):
        image = tf.numpy_function(lambda i: source[i], [index], tf.uint8, stateful=False)
        image.set_shape(IMAGE_SHAPE)
        image = augment(image, example_seed, crop=augment_images, flip=augment_images)
        return normalize(image), tf.gather(labels, index)

    dataset = dataset.map(load, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    dataset = dataset.batch(per_replica_batch, drop_remainder=True)
    return dataset.prefetch(tf.data.AUTOTUNE)


def make_eval_dataset(source: np.ndarray, indices, batch_size: int, *, features: bool = False):
    """Centre crops (or view 0 of cached features) of ``indices``, in order, batched."""
    import tensorflow as tf

    indices = np.asarray(indices, np.int64)
    if features:
        rows = np.asarray(source[indices, 0], np.float32)
        return tf.data.Dataset.from_tensor_slices(rows).batch(batch_size).prefetch(1)

    def load(index):
        row = tf.numpy_function(lambda i: source[i], [index], tf.uint8, stateful=False)
        row.set_shape(source.shape[1:])
        return normalize(center_crop(row))

    dataset = tf.data.Dataset.from_tensor_slices(indices)
    dataset = dataset.map(load, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def num_batches(n: int, batch_size: int) -> int:
    """Batches needed to cover ``n`` examples (the last may be short)."""
    return math.ceil(n / batch_size)
