"""Fine-tuning from the app, with real job processes: start, watch, cancel, resume, finish,
evaluate, use the model; a killed job; a job kept running while the app is closed.

The job processes are real ``alexnet-studio train`` processes in head mode on a small folder
of distinct shapes, starting from synthetic well-scaled "ImageNet" weights
(tests/synthetic_weights.py). Every test ends with no job process left alive.
"""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from app.jobs import job_store
from tests.datasets import make_image_folder
from tests.gui.helpers import drop_files

pytestmark = pytest.mark.slow

JOB_MS = 240_000  # a job's process start + scan + features + training on a busy 2-core machine
MODEL_MS = 120_000
# Head-mode epochs take ~0.2 s here: enough of them that a cancel lands before the end.
EPOCHS = 40


@pytest.fixture(scope="module")
def weights_folder(tmp_path_factory):
    from tests.synthetic_weights import link_synthetic_imagenet_weights

    home = tmp_path_factory.mktemp("synthetic_home")
    return link_synthetic_imagenet_weights(home).parent


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return make_image_folder(tmp_path_factory.mktemp("data") / "shapes", classes=3, per_class=10)


@pytest.fixture
def home(studio_home, weights_folder):
    """This test's data folder, with the synthetic weights installed (linked, not copied)."""
    (studio_home / "weights").symlink_to(weights_folder, target_is_directory=True)
    yield studio_home
    _kill_job_processes(studio_home / "jobs")


def _kill_job_processes(jobs: Path) -> None:
    """No test may leave a training process behind."""
    pids = set()
    for path in list(jobs.glob("*/status.json")) + list(jobs.glob(".runs/*.json")):
        try:
            pids.add(int(json.loads(path.read_text()).get("pid")))
        except (OSError, ValueError, TypeError):
            pass
    for pid in pids:
        if job_store.process_alive(pid):
            os.kill(pid, signal.SIGKILL)
    end = time.time() + 30
    while any(job_store.process_alive(pid) for pid in pids) and time.time() < end:
        time.sleep(0.1)
    assert not any(job_store.process_alive(pid) for pid in pids), "a job process survived"


def _open_window(qtbot, load_model=True):
    from app.main_window import MainWindow

    window = MainWindow()
    qtbot.addWidget(window)
    window.show()
    if load_model:
        window.start()
        qtbot.waitUntil(lambda: window.model_ready, timeout=MODEL_MS)
    return window


def _close(window, choice="cancel"):
    window.training.ask_close_choice = lambda names: choice
    window.close()
    assert not window.service.thread.isRunning()


@pytest.fixture
def window(qtbot, home):
    window = _open_window(qtbot)
    yield window
    _close(window)


@pytest.fixture
def jobs_window(qtbot, home):
    """The window without its ImageNet model loaded: the Jobs panel needs none (a job runs in
    its own process), and loading it (TensorFlow, 244 MB of weights) is seconds of set-up."""
    window = _open_window(qtbot, load_model=False)
    yield window
    _close(window)


def _row_text(panel, job: Path, column: int) -> str:
    for row in range(panel.table.rowCount()):
        if panel._row_path(row) == str(job):
            return panel.table.item(row, column).text()
    return ""


def test_finetune_from_the_app_end_to_end(qtbot, window, dataset, tmp_path):
    ui = window.training
    page, panel = ui.finetune_page, ui.jobs_panel
    ui.show_finetune()

    # The scan report of a dropped folder: classes, counts, samples, refused files and why.
    assert drop_files(page.drop_zone, [dataset["root"]])
    qtbot.waitUntil(lambda: page.scan is not None, timeout=60_000)
    report = page.report
    classes = dataset["classes"]
    assert [report.classes.item(r, 0).text() for r in range(3)] == classes
    assert [int(report.classes.item(r, 1).text()) for r in range(3)] == [10, 10, 10]
    assert report.classes.cellWidget(0, 2).findChildren(type(report.summary))  # thumbnails
    refused = {report.refused.item(r, 0).text(): report.refused.item(r, 1).text()
               for r in range(report.refused.rowCount())}  # fmt: skip
    for path in dataset["refused"]:
        assert refused[str(path.relative_to(dataset["root"]))]  # named, with a reason
    assert page.start_button.isEnabled()
    assert "CPU" in page.devices.text()

    page.settings.epochs.setValue(EPOCHS)
    page.settings.batch_size.setValue(8)
    qtbot.mouseClick(page.start_button, Qt.MouseButton.LeftButton)
    assert ui.pages.currentWidget() is panel

    def record():
        return panel.selected_record()

    # Live progress arrives, from the job's own process.
    qtbot.waitUntil(
        lambda: record() is not None and record().state == "running" and record().progress > 0,
        timeout=JOB_MS,
    )
    job = record().path
    assert _row_text(panel, job, 1) == "Running"
    assert _row_text(panel, job, 2).endswith("%")
    qtbot.waitUntil(lambda: panel.curves.point_counts()["step_loss"] > 0, timeout=10_000)

    qtbot.mouseClick(panel.cancel_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: record().state == "cancelled", timeout=60_000)
    assert any((job / "checkpoints").iterdir()), "a cancelled job keeps a checkpoint"
    qtbot.waitUntil(lambda: panel.resume_button.isEnabled(), timeout=5_000)
    assert not panel.use_button.isEnabled()

    qtbot.mouseClick(panel.resume_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: record().state == "finished", timeout=JOB_MS)
    qtbot.waitUntil(lambda: panel.curves.point_counts()["val_accuracy"] == EPOCHS, timeout=5_000)
    assert panel.curves.point_counts()["train_loss"] == EPOCHS
    # The epoch whose weights were saved: named under the job and marked on the curves.
    kept = json.loads((record().path / "job.json").read_text())["kept"]
    qtbot.waitUntil(lambda: "Saved model: epoch" in panel.details.text(), timeout=5_000)
    assert f"Saved model: epoch {kept['epoch'] + 1} " in panel.details.text()
    assert panel.curves.marked_epoch() == kept["epoch"] + 1

    # The evaluation of the finished job.
    evaluation = panel.evaluation
    qtbot.waitUntil(lambda: evaluation.report is not None, timeout=5_000)
    saved = json.loads((job / "eval.json").read_text())
    assert f"{saved['top1'] * 100:.1f}%" in evaluation.accuracy.text()
    assert evaluation.confusion.rowCount() == evaluation.confusion.columnCount() == 3
    assert sum(int(evaluation.confusion.item(i, j).text())
               for i in range(3) for j in range(3)) == saved["num_examples"]  # fmt: skip
    assert [evaluation.per_class.item(r, 0).text() for r in range(3)] == classes
    assert evaluation.misclassified.count() == len(saved["misclassified"])
    assert "finished" in panel.log.toPlainText()

    # "Use this model": the classify view uses it, with its own classes.
    qtbot.mouseClick(panel.use_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(
        lambda: window.model_ready and list(window.model_info.labels) == classes,
        timeout=MODEL_MS,
    )
    assert ui.pages.currentWidget() is ui.classify_page
    window.open_paths([dataset["images"][classes[1]][0]])
    qtbot.waitUntil(lambda: window.current_result is not None, timeout=60_000)
    shown = [p.label for p in window.current_result.analysis.predictions]
    assert shown and set(shown) <= set(classes)

    # Export, in a process, to where the user chose.
    out = tmp_path / "exported" / "shapes.keras"
    out.parent.mkdir()
    with qtbot.waitSignal(panel.export_finished, timeout=120_000) as finished:
        panel.export_model(job, "keras", out)
    assert finished.args == [str(out), True]
    assert out.is_file() and (out.parent / "labels.json").is_file()


def test_killed_job_shows_as_failed_resumes_and_outlives_the_app(qtbot, jobs_window, dataset):
    window = jobs_window
    ui = window.training
    panel = ui.jobs_panel
    job = ui.start_job(dataset["root"], {"mode": "head", "epochs": 400, "batch_size": 8})

    def running(panel):
        record = panel.selected_record()
        return record is not None and record.state == "running" and record.progress > 0

    qtbot.waitUntil(lambda: running(panel), timeout=JOB_MS)
    pid = panel.selected_record().pid
    os.kill(pid, signal.SIGKILL)
    qtbot.waitUntil(lambda: panel.selected_record().state == "interrupted", timeout=30_000)
    assert _row_text(panel, job, 1).startswith("Failed")
    assert "stopped without finishing" in panel.state_label.text()
    assert panel.resume_button.isEnabled() and not panel.cancel_button.isEnabled()

    qtbot.mouseClick(panel.resume_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: running(panel) and panel.selected_record().pid != pid, timeout=JOB_MS)
    pid = panel.selected_record().pid

    # Closing asks about the running job; "keep running" leaves the process alone...
    asked = []
    ui.ask_close_choice = lambda names: asked.append(names) or "keep"
    window.close()
    assert asked == [[job.name]]
    assert job_store.process_alive(pid)

    # ...and the reopened app shows it again, live, and can cancel it.
    reopened = _open_window(qtbot, load_model=False)
    panel = reopened.training.jobs_panel
    panel.select_job(job)
    assert panel.selected_record().state == "running"
    before = panel.selected_record().progress
    qtbot.waitUntil(lambda: panel.selected_record().progress > before, timeout=30_000)
    assert panel.curves.point_counts()["step_loss"] > 0
    qtbot.mouseClick(panel.cancel_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: panel.selected_record().state == "cancelled", timeout=60_000)
    _close(reopened)


def test_dataset_errors_block_start_with_the_reason(qtbot, tmp_path):
    from app.jobs.finetune_page import FinetunePage

    data = make_image_folder(tmp_path / "one_class", classes=1, per_class=4, bad_files=False)
    page = FinetunePage()
    qtbot.addWidget(page)
    page.set_folder(data["root"])
    qtbot.waitUntil(lambda: page.scan is not None, timeout=60_000)
    assert page.scan.errors
    assert not page.start_button.isEnabled()
    assert page.blocked_reason.text().startswith("Cannot start:")
    assert page.scan.errors[0] in page.blocked_reason.text()
    assert page.scan.errors[0] in page.report.problems.text().replace("&#x27;", "'")
    page.shutdown()
