"""The one image loader turns every common file into upright RGB, or refuses it by name."""

from __future__ import annotations

import os
import struct
import subprocess
import sys
import zlib

import numpy as np
import pytest
from PIL import Image

from alexnet_tf.errors import ImageLoadError
from alexnet_tf.images import list_image_files, load_image
from tests import image_cases


@pytest.fixture(scope="module")
def cases(tmp_path_factory):
    return image_cases.write_all_cases(tmp_path_factory.mktemp("image_cases"))


@pytest.mark.parametrize("name", image_cases.ACCEPTED)
def test_accepted_files_become_upright_rgb(cases, name):
    case = cases[name]
    image = load_image(case.path)
    assert image.mode == "RGB"
    pixels = np.asarray(image)
    assert pixels.shape == case.expected.shape
    difference = np.abs(pixels.astype(np.int16) - case.expected.astype(np.int16)).mean()
    assert difference <= case.tolerance, f"{name}: mean pixel difference {difference:.2f}"


@pytest.mark.parametrize("name", image_cases.REFUSED)
def test_refused_files_name_the_file_and_the_reason(cases, name):
    case = cases[name]
    with pytest.raises(ImageLoadError) as raised:
        load_image(case.path)
    assert raised.value.path == case.path
    assert case.reason.lower() in raised.value.reason.lower()
    assert case.path.name in str(raised.value)


def test_16bit_png_is_rescaled_not_clipped(cases):
    pixels = np.asarray(load_image(cases["png_16bit"].path))
    middle = pixels[0, image_cases.WIDTH // 2, 0]
    assert 120 <= middle <= 135, "mid-grey 16-bit values must stay mid-grey"
    assert pixels[0, 0, 0] == 0 and pixels[0, -1, 0] == 255


def test_animated_gif_gives_its_first_frame(cases):
    pixels = np.asarray(load_image(cases["gif_animated"].path))
    assert not (pixels == 90).all()
    assert tuple(pixels[-1, -1]) == (230, 210, 40)


def test_exif_orientations_all_give_the_same_upright_picture(cases):
    upright = image_cases.upright_pixels().astype(np.int16)
    for orientation in range(2, 9):
        pixels = np.asarray(load_image(cases[f"exif_orientation_{orientation}"].path))
        assert pixels.shape == upright.shape, orientation
        # The white marker is top left whatever the camera's orientation was.
        assert pixels[5, 6].min() > 230, orientation


def test_missing_file_and_folder_are_refused(tmp_path):
    with pytest.raises(ImageLoadError, match="not found"):
        load_image(tmp_path / "nope.jpg")
    with pytest.raises(ImageLoadError, match="folder"):
        load_image(tmp_path)


def test_decompression_bomb_is_refused_before_decoding(cases):
    # The file's pixel data is 64 bytes: decoding would fail as "damaged", so a
    # "too large" refusal proves the dimensions were checked first.
    with pytest.raises(ImageLoadError, match="too large"):
        load_image(cases["decompression_bomb"].path)
    with pytest.raises(ImageLoadError, match="too large"):
        load_image(cases["over_pixel_limit"].path)


def test_pixel_limit_is_adjustable(cases):
    with pytest.raises(ImageLoadError, match="too large"):
        load_image(cases["panorama_20000x20"].path, max_pixels=100_000)


def test_loading_never_changes_the_user_folder(tmp_path):
    folder = tmp_path / "photos"
    for name in image_cases.ALL:
        image_cases.write_case(name, folder)
    before = {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in folder.iterdir()}
    for path in folder.iterdir():
        try:
            load_image(path)
        except ImageLoadError:
            pass
    after = {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in folder.iterdir()}
    assert after == before


def test_list_image_files_skips_hidden_system_and_symlinks(tmp_path):
    pixels = image_cases.upright_pixels()
    (tmp_path / "sub").mkdir()
    (tmp_path / ".hidden_dir").mkdir()
    for relative in ("b.jpg", "a.PNG", "sub/c.webp", "._b.jpg", ".hidden_dir/d.jpg", "notes.txt"):
        Image.fromarray(pixels).save(tmp_path / relative, format="PNG")
    (tmp_path / "Thumbs.db").write_bytes(b"x")
    os.symlink(tmp_path / "b.jpg", tmp_path / "link.jpg")
    found = [p.relative_to(tmp_path).as_posix() for p in list_image_files(tmp_path)]
    assert found == ["a.PNG", "b.jpg", "sub/c.webp"]


def _real_png_bomb(path, side: int) -> None:
    """A valid PNG of ``side`` x ``side`` black pixels: a few hundred kB that decode to
    3 * side**2 bytes."""
    from tests.image_cases import _png_chunk

    compressor = zlib.compressobj(9)
    row = b"\x00" * (1 + 3 * side)  # filter byte + one row of RGB
    data = b"".join(compressor.compress(row) for _ in range(side)) + compressor.flush()
    header = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header) + _png_chunk(b"IDAT", data)
        + _png_chunk(b"IEND", b"")
    )  # fmt: skip


def test_a_real_decompression_bomb_is_refused_with_bounded_memory(tmp_path):
    bomb = tmp_path / "bomb.png"
    _real_png_bomb(bomb, 9000)  # 81 megapixels: 243 MB once decoded
    assert bomb.stat().st_size < 2_000_000
    code = (
        "import resource, sys\n"
        "from alexnet_tf.errors import ImageLoadError\n"
        "from alexnet_tf.images import load_image\n"
        "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "try:\n"
        "    load_image(sys.argv[1])\n"
        "except ImageLoadError as error:\n"
        "    print(error.reason)\n"
        "after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "print((after - before) // 1024)\n"  # MB of peak memory the load added
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(bomb)], capture_output=True, text=True, timeout=120
    )
    reason, grown_mb = result.stdout.split("\n")[:2]
    assert "too large (9000x9000 pixels" in reason, result.stderr[-2000:]
    assert int(grown_mb) < 50  # decoding would have needed 243 MB


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this system")
def test_a_fifo_is_refused_without_blocking(tmp_path):
    os.mkfifo(tmp_path / "pipe.jpg")  # opening it for reading would wait for a writer forever
    with pytest.raises(ImageLoadError, match="not a regular file"):
        load_image(tmp_path / "pipe.jpg")
