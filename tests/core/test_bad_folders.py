"""The scan of a dataset folder holding every case of tests/bad_inputs.py at once.

tests/core/test_scan.py proves each folder case on its own; this checks the generator's
record of every case (image and folder) against one real scan, as a user's messy folder
would be: each case accepted, refused or skipped with its reason, or reported as an error or
a warning, and the good classes still counted.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests import bad_inputs
from tests.cli import ROOT

_SCAN = (
    "import json, sys; from alexnet_tf.data import scan_dataset; "
    "print(json.dumps(scan_dataset(sys.argv[1]).to_dict()))"
)


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    """The scan report of the dataset, scanned with file permissions in force (even as root)."""
    root = tmp_path_factory.mktemp("bad_folders") / "data"
    paths = bad_inputs.make_dataset(root)
    argv = bad_inputs.unprivileged([sys.executable, "-c", _SCAN, str(root)])
    if argv is None:  # root without setpriv: the mode-000 file is readable, so expect that
        argv = [sys.executable, "-c", _SCAN, str(root)]
        paths.pop("unreadable_file")
    try:
        result = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=120)
    finally:
        bad_inputs.restore_permissions(root)
    assert result.returncode == 0, result.stderr[-2000:]
    return root, paths, json.loads(result.stdout)


def test_every_case_gets_its_outcome_and_reason_in_one_scan(report):
    root, paths, data = report
    accepted = {item["path"] for item in data["items"]}
    refused = {r["path"]: r["reason"] for r in data["refused"]}
    skipped = {s["path"]: s["reason"] for s in data["skipped"]}
    for name, path in paths.items():
        case = bad_inputs.ALL_CASES[name]
        path = str(path)
        where = {"accepted": accepted, "refused": refused, "skipped": skipped}.get(case.outcome)
        if case.outcome == "accepted":
            assert path in accepted, (name, refused.get(path), skipped.get(path))
        elif where is not None:
            assert case.reason.lower() in where[path].lower(), (name, where.get(path))
            assert path not in accepted, name
        else:  # error or warning: about a class folder, named in the message
            messages = data["errors"] if case.outcome == "error" else data["warnings"]
            folder = path.rsplit("/", 1)[-1]
            assert any(case.reason in m and f"'{folder}'" in m for m in messages), name
    # Nothing outside the dataset was read through the links.
    assert not any("_outside" in path for path in accepted)
    # The good classes, the nested image, the single image: counted where they belong.
    counts = data["counts"]
    assert counts["good_a"] == counts["good_b"] == 4
    assert counts["single_image_class"] == 1 and counts["empty_class"] == 0
    expected_cases = sum(bad_inputs.ALL_CASES[n].outcome == "accepted" for n in paths)
    assert counts["cases"] == expected_cases
    assert data["trainable"] is False  # the empty class folder blocks training, and says so


def test_the_generator_writes_every_case_from_the_command_line(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "tests.bad_inputs", str(tmp_path / "out")],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    bad_inputs.restore_permissions(tmp_path / "out")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == len(bad_inputs.ALL_CASES)
    assert any("pipe.jpg: skipped (not a regular file)" in line for line in lines)


def test_classify_of_a_folder_names_the_links_and_special_files_it_does_not_read(tmp_path):
    from alexnet_tf.images import expand_inputs

    names = ["png", "fifo", "char_device", "symlink_out_file", "symlink_to_itself"]
    folder = tmp_path / "photos" / "cases"
    paths = bad_inputs.make_dataset(tmp_path / "photos", names)
    expanded = dict(expand_inputs([folder]))
    for name, path in paths.items():
        case = bad_inputs.ALL_CASES[name]
        if case.outcome == "accepted":
            assert expanded[path] is None, name  # to be classified
        else:
            assert case.reason in expanded[path], (name, expanded.get(path))
    assert not any("_outside" in str(path) for path in expanded)
