"""The unit atlas against answers known exactly: an independent NumPy forward pass of the
model's own weights over a folder of real photos, and receptive fields computed by hand."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from alexnet_tf.explain.receptive_field import crop_box, original_box
from tests.model_fixtures import make_job

LABELS = ["coffee", "flower", "temple"]


@pytest.fixture(scope="module")
def job(tmp_path_factory):
    """A 3-class model (random weights) in a job folder: its fc8 has 3 units."""
    return make_job(tmp_path_factory.mktemp("job") / "job", LABELS)


@pytest.fixture(scope="module")
def classifier(job):
    from alexnet_tf.inference import Classifier

    return Classifier.load(job)


@pytest.fixture
def photos(tmp_path):
    """Six real photos of different sizes and aspects in class folders, and two broken files."""
    from tests.photo_folders import make_photo_folder

    return make_photo_folder(tmp_path / "photos", "scenes", per_class=2, size=150)["root"]


def caffe_weights(model) -> dict:
    """The model's weights in Caffe's layouts, for the independent reference forward pass."""
    weights = {}
    for name in ("conv1", "conv2", "conv3", "conv4", "conv5"):
        kernel, bias = model.get_layer(name).get_weights()
        weights[name] = (kernel.transpose(3, 2, 0, 1), bias)
    kernel, bias = model.get_layer("fc6").get_weights()  # rows in NHWC order of pool5
    weights["fc6"] = (kernel.reshape(6, 6, 256, -1).transpose(3, 2, 0, 1).reshape(-1, 9216), bias)
    for name in ("fc7", "fc8"):
        kernel, bias = model.get_layer(name).get_weights()
        weights[name] = (kernel.T, bias)
    return weights


def reference_activations(model, paths) -> list[dict]:
    """Each image's conv (C, H, W) and fc activations by tests/caffe_reference.py."""
    from alexnet_tf.images import load_image
    from alexnet_tf.preprocess import preprocess_image
    from tests.caffe_reference import alexnet_forward

    weights = caffe_weights(model)
    return [
        alexnet_forward(preprocess_image(load_image(path)).transpose(2, 0, 1), weights)
        for path in paths
    ]


def test_receptive_fields_by_hand_at_the_corners():
    # conv1: 11x11 at stride 4; its last position (54) starts at 216 and is cut at 226.
    assert crop_box("conv1", 0, 0) == (0, 0, 11, 11)
    assert crop_box("conv1", 54, 54) == (216, 216, 227, 227)
    # conv5: 163 pixels wide at stride 16, starting at 16 * i - 64: clipped at both edges.
    assert crop_box("conv5", 0, 0) == (0, 0, 99, 99)
    assert crop_box("conv5", 12, 0) == (0, 128, 99, 227)
    assert crop_box("conv5", 6, 6) == (32, 32, 195, 195)
    # In a 512x256 original (warped 2x horizontally to 256x256; the crop starts at 14):
    assert original_box("conv1", 0, 0, 512, 256) == [28, 14, 50, 25]
    assert original_box("conv1", 54, 54, 512, 256) == [460, 230, 482, 241]
    assert original_box("conv5", 0, 0, 512, 256) == [28, 14, 226, 113]
    assert original_box("conv5", 12, 12, 512, 256) == [284, 142, 482, 241]
    # 1000x300, scale factors 3.90625 and 1.171875, widened to whole pixels.
    assert original_box("conv1", 0, 54, 1000, 300) == [898, 16, 942, 30]


def test_atlas_matches_an_independent_forward_pass(classifier, photos):
    from alexnet_tf.explain.atlas import build_atlas

    atlas = build_atlas(classifier, photos, top=4, batch_size=4)  # two batches, merged

    bad = {"notes.jpg", "truncated.jpg"}
    assert sorted(os.path.basename(e["image"]) for e in atlas.errors) == sorted(bad)
    paths = [image.path for image in atlas.images]
    assert len(paths) == 6 and not bad & {p.name for p in paths}
    reference = reference_activations(classifier.model, paths)
    for layer in ("conv1", "conv2", "conv5", "fc6", "fc8"):
        maps = np.stack([r[layer] for r in reference])  # (images, C[, H, W])
        units = maps.shape[1]
        for unit in sorted({0, 1, units // 2, units - 1}):
            entries = atlas.entries(layer, unit)
            per_image = maps[:, unit].reshape(len(paths), -1).max(axis=1)
            expected = np.sort(per_image)[::-1][:4]
            got = np.array([e["value"] for e in entries])
            np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-3 * abs(expected).max())
            for entry in entries:
                index = paths.index(type(paths[0])(entry["image"]))
                assert per_image[index] == pytest.approx(entry["value"], rel=1e-4, abs=1e-3)
                if layer.startswith("conv"):
                    at = maps[index, unit, entry["row"], entry["col"]]
                    assert at == pytest.approx(per_image[index], rel=1e-4, abs=1e-3)
                    image = atlas.images[index]
                    assert entry["box"] == original_box(
                        layer, entry["row"], entry["col"], image.width, image.height
                    )
                else:
                    assert "box" not in entry and "row" not in entry
    # The values are what `features` shows for that image (fc8 before the softmax).
    from alexnet_tf.images import load_image

    entry = atlas.entries("fc8", 1)[0]
    shown = classifier.analyze(load_image(entry["image"])).activations["fc8"][1]
    assert shown == pytest.approx(entry["value"], rel=1e-4)


def test_second_look_is_cached_and_a_changed_folder_is_built_again(job, classifier, photos):
    from alexnet_tf.explain import atlas_cache
    from alexnet_tf.explain.atlas import atlas_for, cached_atlas

    assert cached_atlas(job, photos, layers=["conv5", "fc8"]) is None
    first = atlas_for(job, photos, layers=["conv5", "fc8"], top=3, classifier=classifier)
    assert not first.cached and list(first.layers) == ["conv5", "fc8"]
    again = atlas_for(job, photos, layers=["fc8", "conv5"], top=3, classifier=classifier)
    assert again.cached and again.to_json()["layers"] == first.to_json()["layers"]
    assert not list(photos.rglob("*.json")), "nothing is written into the user's folder"

    # A damaged cache is treated as absent, then rewritten whole.
    (cache_file,) = atlas_cache.cache_dir().glob("*.json")
    cache_file.write_text(cache_file.read_text()[:-200])
    assert cached_atlas(job, photos, layers=["conv5", "fc8"], top=3) is None
    assert not atlas_for(job, photos, layers=["conv5", "fc8"], top=3, classifier=classifier).cached
    # So is valid JSON that does not hold together (an image index past the list).
    record = json.loads(cache_file.read_text())
    record["layers"]["conv5"]["images"][4][0] = 99
    cache_file.write_text(json.dumps(record))
    assert cached_atlas(job, photos, layers=["conv5", "fc8"], top=3) is None

    # A new photo changes the folder's fingerprint: built again, and it can win.
    from PIL import Image

    Image.new("RGB", (300, 200), (250, 250, 250)).save(photos / "white.png")
    changed = atlas_for(job, photos, layers=["conv5", "fc8"], top=3, classifier=classifier)
    assert not changed.cached and len(changed.images) == 7


def test_cancel_mid_atlas_leaves_no_cache(job, classifier, photos):
    from alexnet_tf.explain import atlas_cache
    from alexnet_tf.explain.atlas import AtlasCancelled, atlas_for, build_atlas, cached_atlas

    seen = []
    with pytest.raises(AtlasCancelled) as cancelled:
        atlas_for(job, photos, layers=["fc8"], top=2, classifier=classifier,
                  should_stop=lambda: True,
                  progress=lambda done, total: seen.append((done, total)))  # fmt: skip
    assert cancelled.value.total == 8 and seen == [(8, 8)]
    assert cached_atlas(job, photos, layers=["fc8"], top=2) is None
    assert not list(atlas_cache.cache_dir().glob("*"))

    stops = iter([False, True])
    with pytest.raises(AtlasCancelled) as cancelled:
        build_atlas(
            classifier, photos, layers=["fc8"], batch_size=3, should_stop=lambda: next(stops)
        )
    assert (cancelled.value.done, cancelled.value.total) == (6, 8)


def test_a_folder_without_readable_images_is_a_clear_error(job, classifier, tmp_path):
    from alexnet_tf.errors import DatasetError
    from alexnet_tf.explain.atlas import atlas_for

    with pytest.raises(DatasetError, match="no such folder"):
        atlas_for(job, tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="holds no image files"):
        atlas_for(job, tmp_path / "empty")
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "a.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    with pytest.raises(DatasetError, match="none of its 1 image files could be read"):
        atlas_for(job, tmp_path / "broken", classifier=classifier)
    with pytest.raises(ValueError, match="layers must be some of"):
        atlas_for(job, tmp_path / "broken", layers=["pool5"])


def test_the_command_offers_exactly_the_atlas_layers():
    from alexnet_tf.cli.atlas import LAYERS
    from alexnet_tf.explain.atlas import ATLAS_LAYERS

    assert LAYERS == ATLAS_LAYERS  # repeated there so that --help imports no NumPy
