"""A preferred image reaches what it reports, is reproducible, and beats real photos."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from alexnet_tf.explain.preferred import (
    PreferredImageMaker,
    read_cached,
    save_rgb_png,
    settings_for,
    write_cached,
)
from alexnet_tf.preprocess import center_crop, normalize, resize_for_network

SETTINGS = settings_for("conv2", steps=48)  # enough to beat photos; quick on 2 cores
UNITS = [3, 40]


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    """AlexNet with synthetic weights at a trained network's scale."""
    from alexnet_tf.model import build_alexnet
    from tests.synthetic_weights import install_synthetic_imagenet_weights

    weights = install_synthetic_imagenet_weights(tmp_path_factory.mktemp("home"))
    model = build_alexnet(dropout=0)
    model.load_weights(weights)
    return model


@pytest.fixture(scope="module")
def made(model):
    maker = PreferredImageMaker(model, "conv2")
    return maker, maker.make(UNITS, SETTINGS)


def test_the_png_fed_back_as_the_crop_reaches_the_reported_activation(model, made, tmp_path):
    import keras

    _, images = made
    conv2 = keras.Model(model.input, model.get_layer("conv2").output)
    for image in images:
        path = tmp_path / f"unit{image.unit}.png"
        save_rgb_png(image.rgb, path)
        with Image.open(path) as png:
            assert png.size == (227, 227) and png.mode == "RGB"
            pixels = np.asarray(png)
        maps = conv2(normalize(pixels)[None], training=False).numpy()[0, ..., image.unit]
        assert image.activation == pytest.approx(float(maps.max()), rel=1e-4)


def test_it_excites_its_unit_far_more_than_real_photos(made, tmp_path):
    from alexnet_tf.images import load_image
    from tests.photo_folders import make_photo_folder

    maker, images = made
    root = make_photo_folder(tmp_path / "photos", "subjects", per_class=3, bad_files=False)
    crops = np.stack(
        [center_crop(resize_for_network(load_image(p))) for p in sorted(root["root"].rglob("*.*"))]
    )
    assert len(crops) == 12
    for image in images:
        best_photo = maker.measure(crops, [image.unit] * len(crops)).max()
        assert image.activation >= 1.5 * best_photo, (image.unit, image.activation, best_photo)


def test_the_same_seed_gives_the_same_image_and_another_seed_another(made):
    maker, images = made
    again = maker.make(UNITS, SETTINGS)
    for first, second in zip(images, again, strict=True):
        np.testing.assert_array_equal(second.rgb, first.rgb)
        assert second.activation == first.activation
    alone = maker.make([UNITS[0]], SETTINGS)[0]  # another batch: the same picture, give or take
    assert np.abs(alone.rgb.astype(int) - images[0].rgb).mean() < 0.5  # rounding
    other = maker.make([UNITS[0]], settings_for("conv2", steps=48, seed=1))[0]
    assert np.abs(other.rgb.astype(int) - images[0].rgb).mean() > 1


def test_cancel_stops_between_steps(made):
    from alexnet_tf.explain.preferred import PreferredImageCancelled

    maker, _ = made
    steps = []
    with pytest.raises(PreferredImageCancelled):
        maker.make(
            [0],
            SETTINGS,
            progress=lambda s, n: steps.append(s),
            should_stop=lambda: len(steps) >= 3,
        )
    assert steps == [1, 2, 3]


def test_the_cache_returns_what_was_stored_and_ignores_damage(made, tmp_path):
    _, images = made
    write_cached(tmp_path, images[0], SETTINGS)
    cached = read_cached(tmp_path, "conv2", UNITS[0], SETTINGS)
    np.testing.assert_array_equal(cached.rgb, images[0].rgb)
    assert cached.activation == images[0].activation
    assert read_cached(tmp_path, "conv2", UNITS[0], settings_for("conv2", steps=49)) is None
    meta = next(tmp_path.glob("*.json"))
    meta.write_text('{"version": 1, "layer": "conv2", "unit": 3, "activation": NaN}')
    assert read_cached(tmp_path, "conv2", UNITS[0], SETTINGS) is None


def test_bad_requests_say_what_is_wrong(model):
    maker = PreferredImageMaker(model, "fc8")
    with pytest.raises(ValueError, match=r"fc8 has 1000 units.*Received: units=\[1000\]"):
        maker.make([1000], SETTINGS)
    with pytest.raises(ValueError, match="Received: layer='conv9'"):
        PreferredImageMaker(model, "conv9")


def test_fc_units_batched_one_image_at_a_time_reach_what_they_report(model):
    import keras

    maker = PreferredImageMaker(model, "fc8")
    settings = settings_for("fc8", steps=3)
    images = maker.make([1, 5], settings)
    fc8 = keras.Model(model.input, model.get_layer("fc8").output)
    scores = fc8(normalize(np.stack([i.rgb for i in images])), training=False).numpy()
    assert images[0].activation == pytest.approx(float(scores[0, 1]), rel=1e-4)
    assert images[1].activation == pytest.approx(float(scores[1, 5]), rel=1e-4)
    alone = maker.make([5], settings)[0]
    assert np.abs(alone.rgb.astype(int) - images[1].rgb).max() <= 1  # its batch does not matter
