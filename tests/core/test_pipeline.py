"""The training input pipeline: split, epoch order, resume position, crops, and the cache."""

from __future__ import annotations

import numpy as np
import pytest

from alexnet_tf.preprocess import MEAN_BGR, resize_for_network
from alexnet_tf.training import pipeline


def test_split_is_stratified_seeded_and_disjoint():
    labels = np.array([0] * 10 + [1] * 5 + [2] * 2 + [3] * 1)
    train, val = pipeline.split_train_val(labels, 0.2, seed=3)
    assert set(train).isdisjoint(val) and len(train) + len(val) == len(labels)
    # every class with 2+ images gives validation at least one, and keeps one for training
    assert sorted(np.bincount(labels[val], minlength=4)) == sorted([2, 1, 1, 0])
    assert set(labels[train]) == {0, 1, 2, 3}
    again = pipeline.split_train_val(labels, 0.2, seed=3)
    assert np.array_equal(again[0], train) and np.array_equal(again[1], val)
    other = pipeline.split_train_val(labels, 0.2, seed=4)
    assert not np.array_equal(other[1], val)


def test_epoch_order_depends_only_on_seed_and_epoch():
    train = np.arange(100, 150)
    first = pipeline.epoch_order(train, seed=1, epoch=0)
    assert np.array_equal(first, pipeline.epoch_order(train, seed=1, epoch=0))
    assert not np.array_equal(first, pipeline.epoch_order(train, seed=1, epoch=1))
    assert sorted(first) == list(train)


@pytest.mark.parametrize("start", [0, 1, 3, 5])
def test_resuming_at_step_k_skips_exactly_the_first_k_batches(start):
    steps, batch = 6, 8
    done = pipeline.worker_positions(steps, batch)[: start * batch]
    rest = pipeline.worker_positions(steps, batch, start_step=start)
    epoch = np.concatenate([done, rest])
    assert len(np.unique(epoch)) == len(epoch) == steps * batch  # nothing used twice or skipped


def test_workers_take_disjoint_slices_of_every_global_batch():
    steps, batch = 4, 12
    slices = [
        pipeline.worker_positions(steps, batch, worker_index=w, num_workers=3) for w in range(3)
    ]
    for step in range(steps):
        got = np.concatenate([s[step * 4 : (step + 1) * 4] for s in slices])
        assert np.array_equal(np.sort(got), np.arange(step * batch, (step + 1) * batch))
    with pytest.raises(ValueError, match="divisible"):
        pipeline.worker_positions(steps, 10, num_workers=3)


@pytest.fixture(scope="module")
def coordinate_cache():
    """Four 256x256 images whose pixels encode their own position: R = row, G = column."""
    rows, cols = np.meshgrid(np.arange(256), np.arange(256), indexing="ij")
    image = np.stack([rows, cols, np.zeros_like(rows)], axis=-1).astype(np.uint8)
    return np.stack([image] * 4), np.array([0, 1, 0, 1])


def _rgb(batch):
    """Undo normalize(): BGR minus mean -> RGB 0..255."""
    return np.rint(batch[..., ::-1] + MEAN_BGR[::-1]).astype(int)


def _dataset_batches(cache, labels, start_step, augment=True):
    order = pipeline.epoch_order(np.arange(4), seed=5, epoch=2)
    positions = pipeline.worker_positions(2, 2, start_step=start_step)
    data = pipeline.make_train_dataset(
        cache, labels, order, positions, per_replica_batch=2, seed=5, epoch=2,
        augment_images=augment,
    )  # fmt: skip
    return [(x.numpy(), y.numpy()) for x, y in data]


def test_random_crops_stay_inside_the_image_and_flips_happen(coordinate_cache):
    cache, labels = coordinate_cache
    offsets, flips = set(), set()
    for seed in range(6):
        order = pipeline.epoch_order(np.arange(4), seed=seed, epoch=0)
        data = pipeline.make_train_dataset(
            cache, labels, order, pipeline.worker_positions(2, 2), per_replica_batch=2,
            seed=seed, epoch=0,
        )  # fmt: skip
        for images, _ in data:
            assert images.shape[1:] == (227, 227, 3) and images.dtype == np.float32
            for rgb in _rgb(images.numpy()):
                row0, col_first, col_last = rgb[0, 0, 0], rgb[0, 0, 1], rgb[0, -1, 1]
                assert np.array_equal(rgb[:, 0, 0], np.arange(row0, row0 + 227))  # contiguous
                assert 0 <= row0 <= 256 - 227
                left = min(col_first, col_last)
                assert 0 <= left <= 256 - 227 and abs(col_last - col_first) == 226
                offsets.add((row0, left))
                flips.add(bool(col_first > col_last))
    assert len(offsets) > 5 and flips == {True, False}


def test_without_augmentation_the_crop_is_the_centre(coordinate_cache):
    cache, labels = coordinate_cache
    for images, _ in _dataset_batches(cache, labels, 0, augment=False):
        rgb = _rgb(images)
        assert (rgb[:, 0, 0, 0] == 14).all() and (rgb[:, 0, 0, 1] == 14).all()


def test_resumed_epoch_yields_the_same_batches_as_the_tail_of_the_full_epoch(coordinate_cache):
    cache, labels = coordinate_cache
    full = _dataset_batches(cache, labels, 0)
    resumed = _dataset_batches(cache, labels, 1)
    assert len(full) == 2 and len(resumed) == 1
    np.testing.assert_array_equal(resumed[0][0], full[1][0])
    np.testing.assert_array_equal(resumed[0][1], full[1][1])


def _snapshot(folder):
    return sorted(
        (str(p.relative_to(folder)), p.stat().st_size, p.stat().st_mtime_ns)
        for p in folder.rglob("*")
    )


def test_cache_holds_each_image_resized_once_and_nothing_is_written_to_the_user_folder(tmp_path):
    from PIL import Image

    from alexnet_tf.images import load_image

    folder = tmp_path / "photos"
    for name, color in (("cats", (200, 30, 30)), ("dogs", (30, 30, 200))):
        (folder / name).mkdir(parents=True)
        for i in range(3):
            Image.new("RGB", (90 + 10 * i, 60), color).save(folder / name / f"{i}.png")
    (folder / "cats" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    before = _snapshot(folder)
    scan, cache = pipeline.build_image_cache(folder, tmp_path / "job" / "cache" / "c.npy")
    assert _snapshot(folder) == before
    assert cache.shape == (len(scan.items), 256, 256, 3) == (6, 256, 256, 3)
    for i, item in enumerate(scan.items):
        np.testing.assert_array_equal(cache[i], resize_for_network(load_image(item.path)))
    assert [f.name for f in (tmp_path / "job" / "cache").iterdir()] == ["c.npy"]  # no temp left


def test_training_sees_exif_rotated_photos_upright_like_classification(tmp_path):
    """EXIF orientations 2-8: the training cache holds the upright picture, exactly what
    classification computes from the same file."""
    from PIL import Image

    from alexnet_tf.images import load_image
    from tests import image_cases

    root = tmp_path / "data"
    names = [f"exif_orientation_{o}" for o in range(2, 9)]
    rotated = [image_cases.write_case(name, root / "rotated") for name in names]
    image_cases.write_case("png", root / "upright")
    image_cases.write_case("jpeg", root / "upright")
    scan, cache = pipeline.build_image_cache(root, tmp_path / "job" / "cache.npy")
    upright = resize_for_network(Image.fromarray(image_cases.upright_pixels())).astype(float)
    rows = {item.path: cache[i] for i, item in enumerate(scan.items)}
    for case in rotated:
        row = rows[case.path]
        assert np.array_equal(row, resize_for_network(load_image(case.path))), case.name
        assert np.abs(row - upright).mean() < 4.0, case.name  # upright, up to JPEG noise
