"""Every bad input of tests/bad_inputs.py through the command line: ``classify``, ``scan`` and a
real training job, as a user runs them (as root too: see ``bad_inputs.unprivileged``).
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests import bad_inputs
from tests.cli import CLI, ROOT
from tests.model_fixtures import install_random_weights

pytestmark = pytest.mark.slow

# Made in a class folder, given to classify by name: a file, or a thing that is not one.
_NOT_FILES = ("fifo", "char_device", "unreadable_file")


def _run(argv, env=None, timeout=300):
    """``alexnet-studio ARGV`` with file permissions in force (root drops its override), and
    whether the unreadable-file case can be expected (False: root without setpriv)."""
    command = bad_inputs.unprivileged([*CLI, *map(str, argv)])
    permissions = command is not None
    command = command or [*CLI, *map(str, argv)]
    env = os.environ.copy() if env is None else env
    result = subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
    )
    return result, permissions


def _no_noise(stderr: str) -> None:
    assert "Traceback" not in stderr
    assert "Warning" not in stderr and "Skipping tag" not in stderr, stderr[-2000:]


def test_classify_answers_every_case_by_name(tmp_path):
    install_random_weights()
    folder = tmp_path / "cases"
    folder.mkdir()
    names = [*bad_inputs.IMAGE_CASES, *_NOT_FILES]
    cases = {
        n: bad_inputs.ALL_CASES[n] for n in names if bad_inputs.can_make(bad_inputs.ALL_CASES[n])
    }
    paths = {name: case.make(folder) for name, case in cases.items()}
    try:
        result, permissions = _run(["classify", *paths.values(), "--json", "--top", "1"])
    finally:
        bad_inputs.restore_permissions(folder)
    assert result.returncode == 1, result.stderr[-2000:]  # some files were refused
    _no_noise(result.stderr)
    records = {Path(r["image"]): r for r in map(json.loads, result.stdout.splitlines())}
    assert set(records) == set(paths.values())
    for name, case in cases.items():
        record = records[paths[name]]
        if name == "unreadable_file" and not permissions:
            continue
        if case.outcome == "accepted":
            assert record["predictions"][0]["rank"] == 1, (name, record)
        else:  # refused by the loader, or (FIFO, device) not a file to read
            assert case.reason.lower() in record["error"].lower(), (name, record)


def test_scan_names_every_refused_and_skipped_file_with_its_reason(tmp_path):
    root = tmp_path / "data"
    paths = bad_inputs.make_dataset(root)
    try:
        result, permissions = _run(["scan", root])
    finally:
        bad_inputs.restore_permissions(root)
    assert result.returncode == 1  # the empty class folder blocks training
    assert result.stderr == ""  # no warning from Pillow, no traceback
    text = result.stdout
    for name, path in paths.items():
        case = bad_inputs.ALL_CASES[name]
        if name == "unreadable_file" and not permissions:
            continue
        relative = path.relative_to(root).as_posix()
        if case.outcome in ("refused", "skipped"):
            [line] = [line for line in text.splitlines() if relative in line]
            assert case.reason.lower() in line.lower(), (name, line)
        elif case.outcome in ("error", "warning"):
            assert any(case.reason in line and f"'{path.name}'" in line
                       for line in text.splitlines()), name  # fmt: skip


def test_training_uses_the_good_files_names_the_bad_and_survives_changes_after_its_scan(
    home, tmp_path
):
    root = tmp_path / "data"
    names = [n for n in bad_inputs.ALL_CASES if n != "empty_class_folder"]  # it blocks training
    paths = bad_inputs.make_dataset(root, names)
    job = tmp_path / "job"
    env = dict(os.environ, ALEXNET_STUDIO_HOME=str(home), PYTHONUNBUFFERED="1")
    command = bad_inputs.unprivileged([*CLI, "train", str(root), "--out", str(job),
                                       "--mode", "head", "--epochs", "2", "--batch-size", "4",
                                       "--json"])  # fmt: skip
    unreadable_refused = command is not None
    if command is None:  # root without setpriv: the mode-000 file is readable
        command = [*CLI, "train", str(root), "--out", str(job), "--mode", "head",
                   "--epochs", "2", "--batch-size", "4", "--json"]  # fmt: skip
        bad_inputs.restore_permissions(root)
    process = subprocess.Popen(
        command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    events = []
    for line in process.stdout:
        events.append(json.loads(line))
        if events[-1]["event"] == "start":
            # The scan is done: the user edits, renames and deletes files while it trains.
            paths["png"].write_bytes(b"now broken")
            paths["jpeg"].unlink()
            paths["bmp"].rename(paths["bmp"].with_name("renamed.bmp"))
            paths["nested_subfolders"].parent.chmod(0)
    events += [json.loads(line) for line in process.stdout]
    stderr = process.stderr.read()
    status = process.wait(timeout=300)
    paths["nested_subfolders"].parent.chmod(0o755)
    bad_inputs.restore_permissions(root)
    assert status == 0, (events[-3:], stderr[-2000:])
    assert "Skipping tag" not in stderr
    start = next(e for e in events if e["event"] == "start")
    refused = {Path(r["path"]): r["reason"] for r in start["refused"]}
    expect_refused = {
        n for n in paths
        if bad_inputs.ALL_CASES[n].outcome == "refused"
        and (n != "unreadable_file" or unreadable_refused)
    }  # fmt: skip
    for name in expect_refused:
        assert bad_inputs.ALL_CASES[name].reason.lower() in refused[paths[name]].lower(), name
    assert set(refused) == {paths[n] for n in expect_refused}
    # Every other case that is an image trains: 2 good classes of 4, the single image, the rest.
    used = {"accepted", "warning"}
    accepted = [n for n in paths if bad_inputs.ALL_CASES[n].outcome in used]
    extra = 0 if unreadable_refused else 1
    assert start["num_images"] == 8 + len(accepted) + extra
    # Decoded once during the scan into the job's cache: changes after it cannot break an epoch.
    assert events[-1]["event"] == "done"
    scan = json.loads((job / "scan.json").read_text())
    skipped = {Path(s["path"]): s["reason"] for s in scan["skipped"]}
    for name in paths:
        case = bad_inputs.ALL_CASES[name]
        if case.outcome == "skipped":
            assert case.reason in skipped[paths[name]], name
