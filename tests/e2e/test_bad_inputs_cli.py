"""Every bad-input case through the command line: ``classify`` and a real training job.

The cases are those of tests/image_cases.py (every file the loader must accept or refuse),
plus a FIFO, and files that change or disappear after the job's scan.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests import image_cases
from tests.cli import run_cli
from tests.datasets import make_image_folder
from tests.model_fixtures import install_random_weights

pytestmark = pytest.mark.slow


def test_classify_answers_every_case_by_name(tmp_path):
    install_random_weights()
    cases = image_cases.write_all_cases(tmp_path / "cases")
    pipe = tmp_path / "cases" / "pipe.jpg"
    os.mkfifo(pipe)
    files = [case.path for case in cases.values()] + [pipe]
    result = run_cli("classify", *files, "--json", "--top", "1")
    assert result.returncode == 1, result.stderr[-2000:]  # some files were refused
    assert "Traceback" not in result.stderr
    records = {Path(r["image"]): r for r in map(json.loads, result.stdout.splitlines())}
    assert set(records) == set(files)
    for name, case in cases.items():
        record = records[case.path]
        if case.expected is None:
            assert case.reason.lower() in record["error"].lower(), (name, record)
        else:
            assert record["predictions"][0]["rank"] == 1, (name, record)
    assert "not a regular file" in records[pipe]["error"]


def test_training_uses_the_good_files_names_the_bad_and_survives_changes_after_its_scan(
    home, tmp_path
):
    data = make_image_folder(tmp_path / "data", classes=2, per_class=8, bad_files=False)
    cases = image_cases.write_all_cases(data["root"] / data["classes"][0] / "cases")
    os.mkfifo(data["root"] / data["classes"][1] / "pipe.jpg")
    job = tmp_path / "job"
    env = dict(os.environ, ALEXNET_STUDIO_HOME=str(home), PYTHONUNBUFFERED="1")
    command = [sys.executable, "-m", "app.launch", "train", str(data["root"]), "--out", str(job),
               "--mode", "head", "--epochs", "3", "--batch-size", "4", "--json"]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env)
    events = []
    for line in process.stdout:
        events.append(json.loads(line))
        if events[-1]["event"] == "start":
            # The scan is done: the user edits, renames and deletes files while it trains.
            cases["png"].path.write_bytes(b"now broken")
            cases["jpeg"].path.unlink()
            cases["bmp"].path.rename(cases["bmp"].path.with_name("renamed.bmp"))
    events += [json.loads(line) for line in process.stdout]
    assert process.wait(timeout=300) == 0, events[-3:]
    start = next(e for e in events if e["event"] == "start")
    refused = {Path(r["path"]): r["reason"] for r in start["refused"]}
    for name, case in cases.items():
        if case.expected is None:
            assert case.reason.lower() in refused[case.path].lower(), name
    assert start["num_refused"] == len(image_cases.REFUSED)
    assert start["num_images"] == 16 + len(image_cases.ACCEPTED)
    assert events[-1]["event"] == "done"  # decoded once during the scan: no crash mid-epoch
    scan = json.loads((job / "scan.json").read_text())
    skipped = {Path(s["path"]).name: s["reason"] for s in scan["skipped"]}
    assert "not a regular file" in skipped["pipe.jpg"]
