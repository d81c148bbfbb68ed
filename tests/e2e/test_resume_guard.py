"""`train --resume` knows what it resumes; `train` refuses a batch larger than the folder
before making a job folder; `evaluate --model` of a running job says its model may change.

Each runs the command as a user does, in a fresh data folder. The refusals happen before
any training, so these tests take seconds.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

from tests.datasets import make_image_folder

CLI = [sys.executable, "-m", "app.launch"]


def _run(home, *args):
    env = dict(os.environ, ALEXNET_STUDIO_HOME=str(home), PYTHONUNBUFFERED="1")
    return subprocess.run(
        [*CLI, *map(str, args)], capture_output=True, text=True, timeout=600, env=env
    )


def _job(tmp_path, record: dict, state: str = "cancelled"):
    job = tmp_path / "job"
    job.mkdir()
    (job / "job.json").write_text(json.dumps(record))
    (job / "status.json").write_text(json.dumps({"state": state, "pid": 1, "heartbeat": 1.0}))
    return job


def _settings(tmp_path) -> dict:
    return {"folder": str(tmp_path / "gone"), "epochs": 1, "mode": "head", "batch_size": 4}


def test_resuming_a_job_of_another_version_is_refused_and_says_which(tmp_path):
    from alexnet_tf.jobfolder import JOB_FORMAT

    job = _job(
        tmp_path, {"format": JOB_FORMAT + 1, "project": "9.0", "settings": _settings(tmp_path)}
    )
    result = _run(tmp_path / "home", "train", "--resume", job)
    assert result.returncode == 2, result.stderr[-2000:]
    assert f"format {JOB_FORMAT + 1}" in result.stderr and "9.0" in result.stderr
    assert "--force" in result.stderr and "Traceback" not in result.stderr
    assert json.loads((job / "status.json").read_text())["state"] == "cancelled"  # untouched


def test_resuming_a_job_with_a_setting_this_version_does_not_know_is_refused(tmp_path):
    from alexnet_tf.jobfolder import new_job_record

    record = new_job_record({**_settings(tmp_path), "label_smoothing": 0.1})
    job = _job(tmp_path, record)
    result = _run(tmp_path / "home", "train", "--resume", job, "--json")
    assert result.returncode == 2
    error = json.loads(result.stdout.splitlines()[-1])
    assert error["event"] == "error" and "label_smoothing" in error["message"]


def test_resume_force_goes_on_and_prints_what_it_ignores(tmp_path):
    record = {"settings": {**_settings(tmp_path), "label_smoothing": 0.1}}  # no format: older
    job = _job(tmp_path, record, state="finished")  # finished: the resume stops right after
    result = _run(tmp_path / "home", "train", "--resume", job, "--force")
    assert "warning: resuming" in result.stderr and "earlier version" in result.stderr
    assert "label_smoothing" in result.stderr and "Ignored" in result.stderr
    assert "already finished" in result.stderr  # it went past the version check
    assert result.returncode == 1


def test_a_folder_too_small_for_the_batch_fails_without_leaving_a_job_folder(tmp_path):
    data = make_image_folder(tmp_path / "data", classes=2, per_class=18, bad_files=False)
    out = tmp_path / "jobs" / "small"
    result = _run(tmp_path / "home", "train", data["root"], "--out", out, "--batch-size", "32")
    assert result.returncode == 1
    assert "batch_size is larger than the" in result.stderr and "32" in result.stderr
    assert "Traceback" not in result.stderr
    assert not out.exists() and not (tmp_path / "jobs").exists()


def test_evaluating_the_model_of_a_running_job_says_it_may_change(tmp_path):
    job = _job(tmp_path, {"settings": {}}, state="running")
    status = {"state": "running", "pid": os.getpid(), "heartbeat": time.time()}
    (job / "status.json").write_text(json.dumps(status))
    # The command as `alexnet-studio` runs it, then whether it started TensorFlow.
    code = (
        "import sys\n"
        "from app.launch import main\n"
        f"status = main(['evaluate', {str(tmp_path)!r}, '--model', {str(job)!r}])\n"
        "print(status, 'tensorflow' in sys.modules)\n"
    )
    env = dict(os.environ, ALEXNET_STUDIO_HOME=str(tmp_path / "home"))
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=600, env=env
    )
    assert "still running" in result.stderr and "may change" in result.stderr
    assert "Traceback" not in result.stderr
    # Its model is not written yet: said at once, without starting TensorFlow (3-6 s).
    assert "has no model/model.keras" in result.stderr
    assert result.stdout.split() == ["2", "False"], result.stderr[-2000:]
