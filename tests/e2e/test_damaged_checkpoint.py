"""A real job whose newest checkpoint was damaged resumes from the previous one and says so."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest

from tests.datasets import make_image_folder

pytestmark = pytest.mark.slow

CLI = [sys.executable, "-m", "app.launch"]


def test_resume_skips_a_damaged_newest_checkpoint_and_finishes(home, tmp_path):
    data = make_image_folder(tmp_path / "data", classes=2, per_class=10, bad_files=False)
    env = dict(os.environ, ALEXNET_STUDIO_HOME=str(home), PYTHONUNBUFFERED="1")
    job = tmp_path / "job"
    train = [*CLI, "train", str(data["root"]), "--out", str(job), "--mode", "head",
             "--epochs", "3", "--batch-size", "4", "--val-split", "0",
             "--checkpoint-seconds", "0", "--json"]  # fmt: skip
    process = subprocess.Popen(
        train, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env
    )
    for line in process.stdout:  # a checkpoint after every step: stop after a few
        event = json.loads(line)
        if event["event"] == "step" and event["global_step"] >= 3:
            process.send_signal(signal.SIGTERM)
            break
    process.communicate(timeout=300)
    assert process.returncode == 0
    checkpoints = sorted(
        (job / "checkpoints").glob("ckpt-*.index"), key=lambda p: int(p.stem.split("-")[1])
    )
    assert len(checkpoints) == 2
    older, newest = (int(p.stem.split("-")[1]) for p in checkpoints)
    data_file = checkpoints[1].with_suffix(".data-00000-of-00001")
    data_file.write_bytes(data_file.read_bytes()[: data_file.stat().st_size // 2])

    result = subprocess.run(  # no checkpoint per step now (~245 MB each): not tested here
        [*CLI, "train", "--resume", str(job), "--checkpoint-seconds", "3600", "--json"],
        capture_output=True, text=True, timeout=600, env=env,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:]
    events = [json.loads(line) for line in result.stdout.splitlines()]
    said = [e["message"] for e in events if e["event"] == "phase" and e["phase"] == "restore"]
    assert len(said) == 1
    assert said[0].startswith(f"ckpt-{newest} is damaged (")
    assert said[0].endswith(f"resumed from ckpt-{older} instead")
    assert f"resumed from ckpt-{older} instead" in (job / "log.txt").read_text()
    steps = [e["global_step"] for e in events if e["event"] == "step"]
    assert steps == list(range(older + 1, 15 + 1))  # 20 images, batch 4: 5 steps x 3 epochs
    assert events[-1]["event"] == "done"
