"""`visualize`, `explain`, `summary` and `features --attribution` as a user runs them."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from PIL import Image

from tests.cli import run_cli
from tests.photos import sample_photo


@pytest.fixture
def env(home):
    """This module's data folder, with synthetic ImageNet weights (see conftest.home)."""
    return {**os.environ, "ALEXNET_STUDIO_HOME": str(home)}


def _no_constants(name):
    raise AssertionError(f"the JSON holds {name}")


@pytest.mark.slow
def test_visualize_writes_the_input_that_reaches_what_it_prints(env, tmp_path):
    out = tmp_path / "unit.png"
    done = run_cli(
        "visualize", "--layer", "conv1", "--unit", "4,9", "--steps", "20", "--seed", "3",
        "--out", out, "--folder", tmp_path / "photos", "--json", env=env,
    )  # fmt: skip
    assert done.returncode == 2 and "--folder" in done.stderr  # no such folder yet
    (tmp_path / "photos").mkdir()
    Image.open(sample_photo("flower.jpg")).save(tmp_path / "photos" / "flower.png")
    (tmp_path / "photos" / "broken.jpg").write_bytes(b"not a jpeg")
    done = run_cli(
        "visualize", "--layer", "conv1", "--unit", "4,9", "--steps", "20", "--seed", "3",
        "--out", out, "--folder", tmp_path / "photos", "--json", env=env,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "broken.jpg" in done.stderr
    rows = [json.loads(line, parse_constant=_no_constants) for line in done.stdout.splitlines()]
    assert [row["unit"] for row in rows] == [4, 9]
    import keras

    from alexnet_tf.model import build_alexnet
    from alexnet_tf.preprocess import normalize
    from alexnet_tf.weights.store import WEIGHTS_FILE

    model = build_alexnet()
    model.load_weights(os.path.join(env["ALEXNET_STUDIO_HOME"], "weights", WEIGHTS_FILE))
    conv1 = keras.Model(model.input, model.get_layer("conv1").output)
    for row in rows:
        assert row["out"] == str(tmp_path / f"unit-{row['unit']}.png")
        assert row["layer"] == "conv1" and row["steps"] == 20 and row["seconds"] > 0
        assert row["folder_max"] > 0
        pixels = np.asarray(Image.open(row["out"]))
        assert pixels.shape == (227, 227, 3)
        value = conv1(normalize(pixels)[None]).numpy()[0, ..., row["unit"]].max()
        assert row["activation"] == pytest.approx(float(value), rel=1e-4)


@pytest.mark.slow
def test_class_maps_unit_attribution_and_summary(env, tmp_path):
    photo = sample_photo("china.jpg")
    # occlusion (gradcam shares this path and is tested in tests/core/test_gradcam.py)
    out = tmp_path / "occlusion.png"
    done = run_cli("explain", photo, "--top", "1", "--method", "occlusion", "--out", out,
                   "--json", env=env)  # fmt: skip
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout, parse_constant=_no_constants)
    assert result["method"] == "occlusion" and 0 <= result["class_index"] < 1000
    assert Image.open(out).size == (227, 227)
    assert len(result["drops"]) == 13 and len(result["drops"][0]) == 13

    out = tmp_path / "a.png"
    done = run_cli("features", photo, "--layer", "conv5", "--unit", "7", "--attribution",
                   "--out", out, env=env)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "guided attribution of conv5 unit 7" in done.stdout
    picture = np.asarray(Image.open(out))
    assert picture.shape == (227, 227, 3) and picture.std() > 0

    done = run_cli("summary", "--json", env=env)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout, parse_constant=_no_constants)
    assert summary["total"]["parameters"] == 60_965_224
    assert summary["total"]["multiply_adds"] == 724_406_816
    assert all(row["seconds"] > 0 for row in summary["layers"])


def test_without_weights_the_commands_say_how_to_get_them(tmp_path):
    for args in (
        ("summary",),
        ("visualize", "--layer", "fc8", "--unit", "1", "--out", tmp_path / "u.png"),
        ("explain", sample_photo(), "--out", tmp_path / "m.png"),
    ):
        done = run_cli(*args)
        assert done.returncode == 2, (args, done.stderr)
        assert "weights download" in done.stderr and "Traceback" not in done.stderr
