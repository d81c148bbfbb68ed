"""The job folder defined once: its readers refuse damaged files by name, at a bounded cost,
and the app shows such a job as damaged instead of guessing (no TensorFlow here)."""

from __future__ import annotations

import dataclasses
import json
import os
import time

import pytest

from alexnet_tf import jobfolder
from alexnet_tf.errors import DamagedFileError
from alexnet_tf.fileio import write_json_atomic
from app.jobs import job_store


def _job(tmp_path, job=None, status=None):
    folder = tmp_path / "jobs" / "birds"
    folder.mkdir(parents=True)
    if job is not None:
        write_json_atomic(folder / "job.json", job)
    if status is not None:
        write_json_atomic(folder / "status.json", status)
    return folder


def test_the_settings_schema_knows_every_setting_of_this_version():
    from alexnet_tf.training.settings import TrainSettings

    fields = {field.name for field in dataclasses.fields(TrainSettings)}
    assert set(jobfolder.SETTINGS_SPEC) == fields
    record = jobfolder.new_job_record(TrainSettings(folder="/tmp").to_dict())
    assert jobfolder.resume_mismatches(record) == []


def test_a_job_json_with_a_setting_of_the_wrong_type_is_refused_by_name(tmp_path):
    folder = _job(tmp_path, job={"settings": {"lr": "fast", "epochs": 2}})
    with pytest.raises(DamagedFileError, match=r"job\.json.*\['settings'\]\['lr'\]") as caught:
        jobfolder.read_job_file(folder)
    assert str(folder / "job.json") in str(caught.value)


def test_an_oversized_status_is_refused_without_being_read_whole(tmp_path):
    folder = _job(tmp_path)
    with open(folder / "status.json", "wb") as file:  # sparse: 8 GB that cost nothing to make
        file.write(b'{"state": "running", "message": "')
        file.truncate(8 << 30)
    with pytest.raises(DamagedFileError, match="larger than"):
        jobfolder.read_status_file(folder)


def test_metrics_lines_too_long_or_damaged_are_skipped_and_the_rest_kept(tmp_path):
    folder = _job(tmp_path)
    lines = [
        json.dumps({"kind": "step", "global_step": 1, "loss": 2.0}),
        json.dumps({"kind": "step", "global_step": 2, "loss": "x" * (1 << 20)}),  # 1 MB line
        json.dumps({"kind": "step", "global_step": [3], "loss": 1.0}),  # position not a number
        '{"kind": "step", "global_step": 4, "loss": NaN}',
        "[" * 5000,
        json.dumps({"kind": "epoch", "epoch": 0, "val_accuracy": 0.5, "best": True}),
        json.dumps({"kind": "step", "global_step": 5, "loss": 1.5}),
    ]
    (folder / "metrics.jsonl").write_text("\n".join(lines) + "\n")
    metrics = job_store.read_metrics(folder)
    assert [r["global_step"] for r in metrics.steps] == [1, 5]
    assert [r["epoch"] for r in metrics.epochs] == [0]


def test_the_app_shows_a_job_with_a_damaged_job_json_as_damaged_naming_the_file(tmp_path):
    folder = _job(
        tmp_path,
        job={"settings": {"mode": "sideways"}, "created": 1.0},
        status={"state": "cancelled", "pid": 1, "heartbeat": 1.0},
    )
    record = job_store.read_job(folder)
    assert record.state == "damaged" and not record.is_active
    assert "job.json is damaged" in record.message and "sideways" in record.message


def test_a_damaged_eval_json_is_not_shown_and_says_so(tmp_path):
    folder = _job(tmp_path, status={"state": "finished"})
    (folder / "eval.json").write_text(json.dumps({"top1": 0.9, "classes": "a, b"}))
    report, damage = job_store.read_evaluation_checked(folder)
    assert report is None and str(folder / "eval.json") in damage
    assert job_store.read_evaluation(folder) is None


def test_a_damaged_labels_json_stops_an_export_with_its_name(tmp_path):
    from alexnet_tf.errors import ExportError
    from alexnet_tf.export import export_model

    folder = _job(tmp_path, job={"settings": {}}, status={"state": "finished"})
    (folder / "model").mkdir()
    (folder / "model" / "model.keras").write_bytes(b"not opened: labels are checked first")
    (folder / "model" / "labels.json").write_text('{"labels": [' * 3000)
    with pytest.raises(ExportError, match="labels.json") as caught:
        export_model(folder, "keras", tmp_path / "out.keras")
    assert "nested too deep" in str(caught.value)


def test_process_alive_is_one_answer_for_every_caller(tmp_path):
    from alexnet_tf.training import job

    assert job_store.process_alive is jobfolder.process_alive
    assert job.process_alive is jobfolder.process_alive
    assert jobfolder.process_alive(os.getpid())
    for damaged in (None, True, -1, 0, "x", 2**70, 1.5e300):
        assert not jobfolder.process_alive(damaged)


def test_a_running_jobs_model_comes_with_a_note_that_it_may_change(tmp_path):
    folder = _job(
        tmp_path,
        job={"settings": {}},
        status={"state": "running", "pid": os.getpid(), "heartbeat": time.time()},
    )
    note = jobfolder.still_running_note(folder / "model" / "model.keras")
    assert "still running" in note and "may change" in note
    assert jobfolder.still_running_note(folder) == note
    write_json_atomic(folder / "status.json", {"state": "finished"})
    assert jobfolder.still_running_note(folder) == ""
    assert jobfolder.still_running_note(None) == ""


def test_job_json_always_records_the_version_that_wrote_it(tmp_path):
    from alexnet_tf.training.job import JobFolder

    job = JobFolder(tmp_path / "job")
    try:  # the training loop writes job.json from its own dict, without the stamp
        job.write_json(job.job_json, {"settings": {"epochs": 2}, "created": 1.0})
    finally:
        job.close()
    written = jobfolder.read_job_file(job.root)
    assert written["format"] == jobfolder.JOB_FORMAT
    assert written["project"] == jobfolder.project_version()
    assert jobfolder.resume_mismatches(written) == []  # so a resume of it goes ahead
