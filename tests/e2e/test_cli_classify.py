"""``alexnet-studio classify`` and ``features`` as a user runs them, in a fresh process."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from alexnet_tf.labels import imagenet_labels
from alexnet_tf.render import feature_grid_layout
from tests import image_cases
from tests.cli import run_cli
from tests.model_fixtures import install_random_weights

pytestmark = pytest.mark.slow


@pytest.fixture
def weights():
    return install_random_weights()


@pytest.fixture
def photos(tmp_path):
    """A folder with three good images (one in a sub-folder) and a truncated JPEG."""
    folder = tmp_path / "photos"
    image_cases.write_case("jpeg", folder)
    image_cases.write_case("name_unicode", folder)
    image_cases.write_case("png", folder / "more")
    image_cases.write_case("truncated_jpeg", folder)
    return folder


def test_json_lines_csv_and_a_bad_file_among_good_ones(weights, photos, tmp_path):
    missing = tmp_path / "not_there.png"
    out_csv = tmp_path / "results" / "out.csv"
    result = run_cli("classify", photos, missing, "--json", "--top", "3", "--csv", out_csv)
    assert result.returncode == 1, result.stderr[-2000:]
    records = [json.loads(line) for line in result.stdout.splitlines()]
    names = [Path(r["image"]).name for r in records]
    assert names == [
        "chat été 猫.png",
        "jpeg.jpg",
        "png.png",
        "truncated_jpeg.jpg",
        "not_there.png",
    ]
    good, bad = records[:3], records[3:]
    for record in good:
        assert record["model"] == "ImageNet (BVLC AlexNet)"
        predictions = record["predictions"]
        assert [p["rank"] for p in predictions] == [1, 2, 3]
        assert all(p["label"] == imagenet_labels()[p["index"]] for p in predictions)
        probabilities = [p["probability"] for p in predictions]
        assert probabilities == sorted(probabilities, reverse=True) and 0 < sum(probabilities) <= 1
    assert set(bad[0]) == {"image", "error"} and "truncated" in bad[0]["error"]
    assert "not found" in bad[1]["error"]

    with open(out_csv, encoding="utf-8", newline="") as file:
        rows = list(csv.DictReader(file))
    assert [Path(row["image"]).name for row in rows] == names
    assert rows[0]["label_1"] == good[0]["predictions"][0]["label"]
    assert float(rows[0]["probability_1"]) == pytest.approx(
        good[0]["predictions"][0]["probability"]
    )
    assert rows[0]["error"] == "" and "truncated" in rows[3]["error"] and rows[3]["label_1"] == ""


def test_human_output_is_a_table_per_image(weights, photos):
    result = run_cli("classify", photos / "jpeg.jpg", "--top", "2")
    assert result.returncode == 0, result.stderr[-2000:]
    lines = result.stdout.splitlines()
    assert lines[0] == "Model: ImageNet (BVLC AlexNet)"
    assert lines[1].endswith("jpeg.jpg")
    assert lines[2].lstrip().startswith("1. ") and lines[2].endswith("%")
    assert lines[3].lstrip().startswith("2. ")
    assert len(lines) == 4


def test_without_weights_it_says_how_to_get_them_and_prints_no_classes(photos, tmp_path):
    result = run_cli("classify", photos, "--json")
    assert result.returncode == 2
    assert result.stdout == ""
    assert "alexnet-studio weights download" in result.stderr
    assert "alexnet-studio weights import" in result.stderr
    out = tmp_path / "x.png"
    assert (
        run_cli("features", photos / "jpeg.jpg", "--layer", "conv1", "--out", out).returncode == 2
    )
    assert not out.exists()


def test_a_model_that_cannot_be_loaded_is_named(photos, tmp_path):
    result = run_cli("classify", photos, "--model", tmp_path / "missing.keras")
    assert result.returncode == 2 and result.stdout == ""
    assert "missing.keras: model file not found" in result.stderr


def test_features_grid_of_a_layer_is_a_png_of_the_expected_grid(weights, photos, tmp_path):
    out = tmp_path / "maps" / "pool5.png"
    result = run_cli("features", photos / "more" / "png.png", "--layer", "pool5", "--out", out)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "pool5" in result.stdout
    layout = feature_grid_layout(6, 6, 256, title=True)
    with Image.open(out) as image:
        assert image.format == "PNG" and image.mode == "RGB"
        assert image.size == (layout.width, layout.height)
        pixels = np.asarray(image)
    assert (layout.rows, layout.columns) == (16, 16)
    assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 50, "tiles show varied activations"


def test_features_filters_and_bad_requests(weights, photos, tmp_path):
    out = tmp_path / "filters.png"
    result = run_cli("features", "--filters", "--out", out)
    assert result.returncode == 0, result.stderr[-2000:]
    with Image.open(out) as image:
        assert image.format == "PNG" and image.mode == "RGB"
        assert image.width > 16 * 11 * 5 and image.height > 6 * 11 * 5

    bad = run_cli("features", photos / "truncated_jpeg.jpg", "--layer", "conv1", "--out", out)
    assert bad.returncode == 1 and "truncated_jpeg.jpg" in bad.stderr and "truncated" in bad.stderr
    wrong = run_cli("features", photos / "jpeg.jpg", "--layer", "conv9", "--out", out)
    assert wrong.returncode == 2 and "conv9" in wrong.stderr
