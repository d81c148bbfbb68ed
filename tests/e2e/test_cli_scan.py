"""``alexnet-studio scan`` as a user runs it, in a fresh process."""

from __future__ import annotations

import json

from tests.cli import run_cli
from tests.datasets import make_image_folder


def test_scan_prints_classes_refused_and_skipped_and_exits_0(tmp_path):
    info = make_image_folder(tmp_path / "photos", classes=3, per_class=6)
    result = run_cli("scan", info["root"])
    assert result.returncode == 0, result.stderr
    out = result.stdout
    for name, count in info["counts"].items():
        assert any(line.split() == [name, str(count)] for line in out.splitlines()), out
    assert "Refused files (2):" in out
    assert "a_blobs/truncated.jpg: the file is truncated" in out
    assert "c_vstripes/notes.jpg: not an image file" in out
    assert "Skipped (3" in out
    assert "Ready for training: 3 classes, 18 images." in out
    assert "Errors" not in out


def test_scan_json_matches_the_folder(tmp_path):
    info = make_image_folder(tmp_path / "photos", classes=2, per_class=4)
    result = run_cli("scan", info["root"], "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["trainable"] is True
    assert report["classes"] == info["classes"]
    assert report["counts"] == info["counts"]
    assert sorted(r["path"] for r in report["refused"]) == [str(p) for p in info["refused"]]
    assert sorted(r["path"] for r in report["skipped"]) == [str(p) for p in info["skipped"]]
    assert len(report["fingerprint"]) == 40


def test_scan_errors_say_what_to_fix_and_exit_1(tmp_path):
    info = make_image_folder(tmp_path / "photos", classes=2, per_class=3, bad_files=False)
    (info["root"] / "empty class").mkdir()
    result = run_cli("scan", info["root"])
    assert result.returncode == 1
    assert "Errors (training cannot start" in result.stdout
    assert "Class 'empty class' has no usable image: add images to" in result.stdout

    result = run_cli("scan", tmp_path / "nowhere", "--json")
    assert result.returncode == 1
    report = json.loads(result.stdout)
    assert report["trainable"] is False and "does not exist" in report["errors"][0]
