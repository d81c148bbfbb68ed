"""The loader on the bad inputs that tests/core/test_images.py does not already cover.

test_images.py checks every case of tests/image_cases.py (pixels, reasons, the bomb's memory,
EXIF, 16-bit, FIFO); here: the cases tests/bad_inputs.py adds, that Pillow's complaints about
damaged files never reach the terminal, and device and unreadable files given by name (as
``classify`` and the app do), as root too.
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from alexnet_tf.errors import ImageLoadError
from alexnet_tf.images import load_image
from tests import bad_inputs, image_cases
from tests.cli import ROOT

ADDED = [name for name in bad_inputs.IMAGE_CASES if name not in image_cases.ALL]


@pytest.mark.parametrize("name", ADDED)
def test_added_image_cases_are_accepted_or_refused_by_name(tmp_path, name):
    case = bad_inputs.IMAGE_CASES[name]
    path = case.make(tmp_path)
    if case.outcome == "accepted":
        pixels = np.asarray(load_image(path))
        assert np.array_equal(pixels, bad_inputs.EXTRA_EXPECTED[name])
        return
    with pytest.raises(ImageLoadError) as raised:
        load_image(path)
    assert raised.value.path == path and path.name in str(raised.value)
    assert case.reason.lower() in raised.value.reason.lower()


_LOAD_EACH = """
import json, sys
from alexnet_tf.errors import ImageLoadError
from alexnet_tf.images import load_image
answers = {}
for path in sys.argv[1:]:
    try:
        load_image(path)
        answers[path] = "ok"
    except ImageLoadError as error:
        answers[path] = error.reason
print(json.dumps(answers))
"""


def _load_in_a_fresh_process(paths, prefix=()):
    """``{path: "ok" or reason}`` from a fresh interpreter with Python's default warning and
    logging set-up (what a CLI user's terminal shows), and what it printed on stderr."""
    argv = [*prefix, sys.executable, "-X", "dev", "-c", _LOAD_EACH, *map(str, paths)]
    result = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout), result.stderr


def test_pillow_complaints_about_damaged_files_never_reach_the_terminal(tmp_path):
    paths = {name: case.make(tmp_path) for name, case in bad_inputs.IMAGE_CASES.items()}
    answers, stderr = _load_in_a_fresh_process(paths.values())
    # -X dev shows every warning, every time; Pillow warns on the damaged TIFFs and logs an
    # error for some; the user sees only the loader's answer.
    assert stderr == ""
    for name, case in bad_inputs.IMAGE_CASES.items():
        answer = answers[str(paths[name])]
        if case.outcome == "accepted":
            assert answer == "ok", (name, answer)
        else:
            assert case.reason.lower() in answer.lower(), (name, answer)


def test_a_device_file_given_by_name_is_refused_without_reading_it(tmp_path):
    case = bad_inputs.FOLDER_CASES["char_device"]
    if not bad_inputs.can_make(case):
        pytest.skip("making a device file needs root")
    path = case.make(tmp_path)  # /dev/zero: reading it would never end
    with pytest.raises(ImageLoadError, match="not a regular file") as raised:
        load_image(path)
    assert raised.value.path == path


def test_an_unreadable_file_given_by_name_is_refused_with_permission_denied(tmp_path):
    path = bad_inputs.FOLDER_CASES["unreadable_file"].make(tmp_path)
    prefix = bad_inputs.unprivileged([])
    if prefix is None:
        pytest.skip("running as root without setpriv: root reads a mode-000 file")
    try:
        answers, _ = _load_in_a_fresh_process([path], prefix)
    finally:
        path.chmod(0o644)
    assert "permission denied" in answers[str(path)]


def test_exif_orientations_give_exactly_the_same_pixels_in_training_and_classification(tmp_path):
    """Lossless files (PNG with an eXIf chunk) stored turned, tagged with orientations 2-8:
    the training cache row, the classification input and the upright picture are identical."""
    from PIL import Image

    from alexnet_tf.preprocess import resize_for_network
    from alexnet_tf.training.pipeline import build_image_cache

    upright = image_cases.upright_pixels()
    root = tmp_path / "data"
    (root / "turned").mkdir(parents=True)
    for orientation, store in image_cases._STORE_FOR_ORIENTATION.items():
        exif = Image.Exif()
        exif[0x0112] = orientation
        stored = Image.fromarray(np.ascontiguousarray(store(upright)))
        stored.save(root / "turned" / f"orientation_{orientation}.png", exif=exif.tobytes())
    Image.fromarray(upright).save(root / "turned" / "upright.png")
    image_cases.write_case("png", root / "other")
    scan, cache = build_image_cache(root, tmp_path / "job" / "cache.npy")
    expected = resize_for_network(Image.fromarray(upright))
    rows = {item.path.name: cache[index] for index, item in enumerate(scan.items)}
    for orientation in image_cases._STORE_FOR_ORIENTATION:
        path = root / "turned" / f"orientation_{orientation}.png"
        classified = resize_for_network(load_image(path))  # what classify and the app feed
        assert np.array_equal(classified, expected), orientation
        assert np.array_equal(rows[path.name], expected), orientation
