"""The in-graph preprocessing of exports gives the pixels the project's own loader gives."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from alexnet_tf.images import load_image
from alexnet_tf.preprocess import preprocess_image, resize_for_network
from tests.photos import sample_photo


@pytest.mark.parametrize(
    "size",
    [(640, 427), (300, 1000), (1000, 300), (100, 80), (257, 255), (240, 320), (300, 300),
     (256, 256), (256, 600), (1, 1), (2000, 1500)],
)  # fmt: skip
def test_resize_reproduces_pillow_exactly(size):
    from alexnet_tf.serving import resize_like_pillow

    photo = load_image(sample_photo()).resize(size, Image.BICUBIC)
    expected = resize_for_network(photo)
    got = resize_like_pillow(np.asarray(photo)[np.newaxis]).numpy()[0]
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, expected)


def test_a_jpeg_decodes_to_the_loaders_pixels():
    import tensorflow as tf

    from alexnet_tf.serving import decode_image, network_input, resize_like_pillow

    photo = sample_photo("flower.jpg")
    decoded = decode_image(tf.constant(photo.read_bytes())).numpy()
    np.testing.assert_array_equal(decoded, np.asarray(load_image(photo)))
    # ... and the whole chain gives the network input of preprocess_image, bit for bit.
    network = network_input(resize_like_pillow(decoded[np.newaxis])).numpy()[0]
    np.testing.assert_array_equal(network, preprocess_image(load_image(photo)))


def test_png_transparency_is_composited_over_white_like_the_loader(tmp_path):
    import tensorflow as tf

    from alexnet_tf.serving import decode_image

    rgb = np.asarray(load_image(sample_photo()).resize((120, 90)))
    alpha = np.linspace(0, 255, 120 * 90).reshape(90, 120, 1).astype(np.uint8)
    Image.fromarray(np.concatenate([rgb, alpha], axis=2), "RGBA").save(tmp_path / "a.png")
    Image.fromarray(rgb).convert("L").save(tmp_path / "grey.png")
    for name in ("a.png", "grey.png"):
        decoded = decode_image(tf.constant((tmp_path / name).read_bytes())).numpy()
        expected = np.asarray(load_image(tmp_path / name)).astype(int)
        assert decoded.shape == expected.shape
        # Pillow's alpha_composite rounds its own way: at most one level apart.
        assert np.abs(decoded.astype(int) - expected).max() <= 1


def test_exif_orientation_is_the_documented_difference(tmp_path):
    """TF's decoders ignore EXIF orientation: the export sees the stored pixels, where
    ``classify`` turns the photo upright (docs/export.md says to rotate such photos first)."""
    import tensorflow as tf

    from alexnet_tf.serving import decode_image

    stored = np.asarray(load_image(sample_photo()).resize((160, 100)))
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    path = tmp_path / "phone.jpg"
    Image.fromarray(stored).save(path, exif=exif, quality=95)
    assert decode_image(tf.constant(path.read_bytes())).shape == (100, 160, 3)
    assert np.asarray(load_image(path)).shape == (160, 100, 3)
