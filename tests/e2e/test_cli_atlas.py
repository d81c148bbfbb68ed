"""`alexnet-studio atlas` as a user runs it: files written, cached second run, fine-tuning
compared with ImageNet, and an unwritable --out refused before any work."""

from __future__ import annotations

import json
import os

import pytest

from tests.cli import run_cli
from tests.model_fixtures import make_fine_tuned_job


def _no_constants(name):
    raise AssertionError(f"the JSON holds {name}")


def strict_json(text: str):
    return json.loads(text, parse_constant=_no_constants)


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    from tests.photo_folders import make_photo_folder

    root = tmp_path_factory.mktemp("photos") / "holiday"
    return make_photo_folder(root, "subjects", per_class=2, size=150)["root"]


@pytest.fixture
def env(home):
    return {**os.environ, "ALEXNET_STUDIO_HOME": str(home)}


@pytest.mark.slow
def test_atlas_files_and_a_cached_second_run(photos, env, tmp_path):
    before = sorted(p.relative_to(photos) for p in photos.rglob("*"))
    out = tmp_path / "atlas"
    args = ["atlas", photos, "--layers", "conv1,fc8", "--top", "3", "--out", out, "--json"]
    result = run_cli(*args, env=env)
    assert result.returncode == 1, result.stderr  # two broken files, reported and skipped
    summary = strict_json(result.stdout)
    assert summary["images"] == 8 and not summary["cached"]
    assert sorted(os.path.basename(e["image"]) for e in summary["errors"]) == [
        "notes.jpg", "truncated.jpg"]  # fmt: skip

    atlas = strict_json((out / "atlas.json").read_text(encoding="utf-8"))
    assert list(atlas["layers"]) == ["conv1", "fc8"]
    conv1, fc8 = atlas["layers"]["conv1"], atlas["layers"]["fc8"]
    assert len(conv1) == 96 and len(fc8) == 1000
    for entries in conv1:
        assert len(entries) == 3
        values = [e["value"] for e in entries]
        assert values == sorted(values, reverse=True) and min(values) >= 0  # ReLU outputs
        for e in entries:
            assert 0 <= e["row"] < 55 and 0 <= e["col"] < 55
            left, top, right, bottom = e["box"]
            assert 0 <= left < right and 0 <= top < bottom and os.path.exists(e["image"])
    assert set(fc8[0][0]) == {"image", "value"}
    assert any(e["value"] < 0 for unit in fc8 for e in unit)  # fc8: before the softmax

    sheets = summary["sheets"]
    assert [os.path.basename(p) for p in sheets["conv1"]] == ["conv1.png"]
    assert len(sheets["fc8"]) == 8  # 1000 units, 128 per sheet
    from PIL import Image

    with Image.open(sheets["conv1"][0]) as sheet:
        assert sheet.height > 96 * 56  # one row per unit
    index = (out / "index.html").read_text(encoding="utf-8")
    assert "conv1.png" in index and "fc8-units-0896-0999.png" in index
    assert sorted(p.relative_to(photos) for p in photos.rglob("*")) == before

    again = run_cli(*args, env=env)
    assert again.returncode == 1 and strict_json(again.stdout)["cached"]


@pytest.mark.slow
def test_compare_a_fine_tuned_job_with_imagenet(photos, env, home, tmp_path):
    job = make_fine_tuned_job(
        home / "weights" / "bvlc_alexnet.weights.h5",
        tmp_path / "top-job",
        "top",
        changed_layers=("fc7",),
    )
    out = tmp_path / "compare"
    result = run_cli("atlas", photos, "--model", job, "--compare", "imagenet", "--layers",
                     "fc8", "--top", "3", "--out", out, "--json", env=env)  # fmt: skip
    assert result.returncode == 1, result.stderr
    compare = strict_json(result.stdout)["compare"]
    layers = compare["layers"]
    # Only fc7 moved: conv5 and fc6 compute exactly what ImageNet's do, fc7 does not.
    assert layers["conv5"]["mean_overlap"] == 1.0 and layers["fc6"]["mean_overlap"] == 1.0
    assert layers["fc7"]["mean_overlap"] < 0.9
    first = layers["fc7"]["units"][0]
    assert first["overlap"] == min(u["overlap"] for u in layers["fc7"]["units"]) < 1
    assert set(first["job"]) != set(first["imagenet"])
    assert (out / "compare-fc7.png").is_file() and (out / "compare.json").is_file()
    assert "compare-fc7.png" in (out / "index.html").read_text(encoding="utf-8")

    head = make_fine_tuned_job(
        home / "weights" / "bvlc_alexnet.weights.h5",
        tmp_path / "head-job",
        "head",
        changed_layers=(),
    )
    result = run_cli("atlas", photos, "--model", head, "--compare", "imagenet", "--layers",
                     "fc8", "--top", "2", "--out", tmp_path / "head", env=env)  # fmt: skip
    assert result.returncode == 1, result.stderr
    assert "nothing below fc8 changed" in result.stdout
    assert not list((tmp_path / "head").glob("compare-*.png"))


def test_unwritable_out_is_refused_before_any_work(photos, env, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    result = run_cli("atlas", photos, "--out", blocker / "atlas", env=env)
    assert result.returncode == 2
    assert f"{blocker / 'atlas'}: cannot write there" in result.stderr
    assert "Traceback" not in result.stderr
