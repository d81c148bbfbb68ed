"""Job processes that crash, hang or print garbage, and closing the app over running jobs.

Real processes and real signals: the jobs are real ``alexnet-studio train`` processes
launched by the app's ``JobRunner`` (head mode on a tiny folder of shapes, synthetic stand-in
ImageNet weights). The "garbage" jobs are small real Python processes launched through the
same launcher (``app.jobs.run_job``, via ``JobRunner.launch``) that print junk, write damaged
job files and start a child process. Every test ends with none of these processes alive.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from app.jobs import job_store
from app.jobs.job_process import job_running
from tests.datasets import make_image_folder

JOB_MS = 240_000  # process start + scan + features on a busy 2-core machine
HEAD_JOB = {"mode": "head", "epochs": 400, "batch_size": 8}

# A job that prints garbage: junk on stdout (the app's event stream) and stderr, a damaged
# job folder (binary status.json, job.json of the wrong types, junk metrics and log), and a
# child process; then it waits to be stopped. argv[1] is its job folder.
GARBAGE_JOB = r"""
import json, os, subprocess, sys, time
job = sys.argv[1]
os.makedirs(job, exist_ok=True)
out = sys.stdout.buffer
out.write(b"not json at all\n{\"event\": \"step\", \"progr\n\xff\xfe\x00binary\x00\n")
out.write(b"[" * 200000 + b"\n")          # deeper than any JSON parser recurses
out.write(b"x" * (3 << 20) + b"\n")        # a 3 MB line
out.write(b'{"event": "step", "progress": "lots", "images_per_second": [1], "eta_seconds": {}}\n')
out.write(b'{"event": "phase", "message": 42}\n{"event": "error", "message": {"a": 1}}\n')
out.write(b'{"event": "done", "eval": "great"}\n[1, 2, 3]\n"a string"\n')
out.flush()
sys.stderr.write("garbage job: something went wrong\n"); sys.stderr.flush()
def write(name, data):
    with open(os.path.join(job, name), "wb") as f:
        f.write(data)
write("job.json", b'{"settings": "fast", "dataset": {"classes": 5}, "created": "yesterday"}')
write("status.json", b"\x89PNG\r\n\x1a\n\x00\x00garbage")
write("metrics.jsonl", b'{"kind": "step", "global_step": "x"}\n7\n\xff\xff\n[' * 3 + b"\n")
write("log.txt", b"\xff\xfe log \x00 with binary\n")
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
print(json.dumps({"child": child.pid, "self": os.getpid()}), flush=True)
time.sleep(600)
"""
# A job that writes a status saying "running", then exits 3 without saying why.
EXITS_3_JOB = r"""
import json, os, sys, time
job = sys.argv[1]
os.makedirs(job, exist_ok=True)
status = {"state": "running", "pid": os.getpid(), "heartbeat": time.time(), "progress": 0.1}
with open(os.path.join(job, "status.json"), "w") as f:
    json.dump(status, f)
print("Traceback (most recent call last):\nValueError: the disk said no", file=sys.stderr)
sys.exit(3)
"""


@pytest.fixture(scope="module")
def weights_folder(tmp_path_factory):
    from tests.synthetic_weights import link_synthetic_imagenet_weights

    return link_synthetic_imagenet_weights(tmp_path_factory.mktemp("faults_home")).parent


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("faults_data") / "shapes"
    return make_image_folder(root, classes=2, per_class=8, bad_files=False)


@pytest.fixture
def home(studio_home, weights_folder):
    (studio_home / "weights").symlink_to(weights_folder, target_is_directory=True)
    yield studio_home
    _kill_everything(studio_home / "jobs")


def _job_pids(jobs: Path) -> set[int]:
    """Every pid the job files and launch records name (launchers, jobs, children)."""
    pids = set()
    for path in [*jobs.glob("*/status.json"), *jobs.glob(".runs/*.json")]:
        try:
            pids.add(int(json.loads(path.read_text()).get("pid")))
        except (OSError, ValueError, TypeError, AttributeError):
            pass
    for path in jobs.glob(".runs/*.events.jsonl"):
        for line in path.read_bytes().splitlines():
            if line.startswith(b'{"child"'):
                pids.update(json.loads(line).values())  # the garbage job and its child
    return pids


def _kill_everything(jobs: Path) -> None:
    """No test may leave a process behind (SIGCONT too: a stopped one would linger)."""
    pids = _job_pids(jobs)
    for pid in pids:
        if job_store.process_alive(pid):
            for sig in (signal.SIGKILL, signal.SIGCONT):
                os.kill(pid, sig)
    end = time.time() + 30
    while any(job_store.process_alive(pid) for pid in pids) and time.time() < end:
        time.sleep(0.1)
    assert not any(job_store.process_alive(pid) for pid in pids), "a job process survived"


def _open_window(qtbot):
    from app.main_window import MainWindow

    window = MainWindow()
    qtbot.addWidget(window)
    # A test that fails early leaves the window to pytest-qt: no modal question then.
    window.training.ask_close_choice = lambda names: "cancel"
    window.show()
    return window


def _close(window, choice: str, asked: list | None = None) -> None:
    def answer(names):
        if asked is not None:
            asked.append(sorted(names))
        return choice

    window.training.ask_close_choice = answer
    window.close()


def _row_text(panel, job: Path, column: int = 1) -> str:
    for row in range(panel.table.rowCount()):
        if panel._row_path(row) == str(job):
            return panel.table.item(row, column).text()
    return ""


def _running(panel, job: Path) -> bool:
    record = job_store.read_job(job)
    return record.state == "running" and record.progress > 0


def _launch_group(job: Path) -> int:
    return json.loads(job_store.run_files(job).record.read_text())["pid"]


@pytest.mark.slow
def test_crashed_job_shows_how_it_died_resumes_and_a_hung_one_is_cancelled(qtbot, home, dataset):
    window = _open_window(qtbot)
    ui = window.training
    panel = ui.jobs_panel
    job = ui.start_job(dataset["root"], HEAD_JOB)
    qtbot.waitUntil(lambda: _running(panel, job), timeout=JOB_MS)

    # Crash: a segmentation fault. The list and the details say what killed it, with the
    # end of its error output; Resume is offered.
    pid = job_store.read_job(job).pid
    os.kill(pid, signal.SIGSEGV)
    qtbot.waitUntil(lambda: _row_text(panel, job) == "Failed (SIGSEGV)", timeout=30_000)
    panel.select_job(job)
    details = panel.state_label.text()
    assert "killed by SIGSEGV" in details and "Fatal Python error" in details
    assert panel.resume_button.isEnabled() and not panel.cancel_button.isEnabled()

    qtbot.mouseClick(panel.resume_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(
        lambda: _running(panel, job) and job_store.read_job(job).pid != pid, timeout=JOB_MS
    )

    # Hang: the process is alive but stopped, so its heartbeat stops. "Not responding" is
    # not "interrupted": no Resume (a second process would share the folder), but Cancel.
    pid = job_store.read_job(job).pid
    os.kill(pid, signal.SIGSTOP)
    stale_ms = int(job_store.STALE_SECONDS * 1000) + 30_000
    qtbot.waitUntil(lambda: _row_text(panel, job) == "Not responding", timeout=stale_ms)
    qtbot.waitUntil(lambda: "has not reported" in panel.state_label.text(), timeout=5_000)
    assert "it is stopped" in panel.state_label.text()
    assert panel.cancel_button.isEnabled() and not panel.resume_button.isEnabled()
    assert not panel.delete_button.isEnabled()

    # Cancel reaches the stopped process (SIGTERM, then SIGCONT): it checkpoints and stops.
    qtbot.mouseClick(panel.cancel_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not job_running(job), timeout=120_000)
    assert not job_store.process_alive(pid)
    assert not job_store.group_alive(_launch_group(job))
    qtbot.waitUntil(lambda: _row_text(panel, job) == "Cancelled", timeout=10_000)
    assert panel.resume_button.isEnabled()
    _close(window, "cancel")


def test_garbage_output_and_damaged_job_files_are_shown_not_raised(qtbot, home):
    window = _open_window(qtbot)
    ui = window.training
    panel = ui.jobs_panel
    jobs = home / "jobs"
    garbage, exits = jobs / "garbage", jobs / "exits-3"
    ui.runner.launch(garbage, [sys.executable, "-c", GARBAGE_JOB, str(garbage)])
    ui.runner.launch(exits, [sys.executable, "-c", EXITS_3_JOB, str(exits)])

    # The process that wrote a damaged status.json is listed as such, and is still running:
    # it can be cancelled, not resumed or deleted. Its junk output reaches no widget.
    qtbot.waitUntil(lambda: _row_text(panel, garbage) == "Damaged", timeout=60_000)
    qtbot.waitUntil(lambda: b'{"child"' in job_store.run_files(garbage).events.read_bytes(),
                    timeout=30_000)  # fmt: skip
    panel.select_job(garbage)
    assert "status.json is damaged" in panel.state_label.text()
    assert panel.cancel_button.isEnabled() and not panel.resume_button.isEnabled()
    assert not panel.delete_button.isEnabled()
    assert "log" in panel.log.toPlainText()  # the binary log.txt, shown with replacements
    assert _row_text(panel, garbage, 5) == "—"  # "classes": 5 is not a list of classes
    qtbot.wait(1000)  # the runner polls the junk events; the panel refreshes over it
    assert panel.curves.point_counts()["step_loss"] == 0
    assert _row_text(panel, garbage, 2) == "0%"

    # Exit status 3 without a word in status.json: shown as failed, with the status and the
    # end of its error output.
    qtbot.waitUntil(lambda: _row_text(panel, exits) == "Failed (exit 3)", timeout=60_000)
    panel.select_job(exits)
    assert "exited with status 3" in panel.state_label.text()
    assert "the disk said no" in panel.state_label.text()

    # Cancel stops the garbage job and its child.
    panel.select_job(garbage)
    qtbot.mouseClick(panel.cancel_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not job_store.group_alive(_launch_group(garbage)), timeout=60_000)
    qtbot.waitUntil(lambda: panel.resume_button.isEnabled(), timeout=10_000)
    _close(window, "cancel")


@pytest.mark.slow
def test_closing_the_app_keeps_or_stops_every_job_process_even_a_hung_one(qtbot, home, dataset):
    window = _open_window(qtbot)
    ui = window.training
    training = ui.start_job(dataset["root"], HEAD_JOB)
    garbage = home / "jobs" / "garbage"
    ui.runner.launch(garbage, [sys.executable, "-c", GARBAGE_JOB, str(garbage)])
    qtbot.waitUntil(lambda: _running(ui.jobs_panel, training), timeout=JOB_MS)
    qtbot.waitUntil(lambda: b'{"child"' in job_store.run_files(garbage).events.read_bytes(),
                    timeout=30_000)  # fmt: skip
    job_pid = job_store.read_job(training).pid
    os.kill(job_pid, signal.SIGSTOP)  # hung
    pids = _job_pids(home / "jobs")  # two launchers, the training job, garbage and its child
    assert len(pids) == 5 and job_pid in pids
    groups = [_launch_group(training), _launch_group(garbage)]

    # "Keep running": every process outlives the window.
    asked = []
    _close(window, "keep", asked)
    assert asked == [sorted([training.name, garbage.name])]
    assert all(job_store.process_alive(pid) for pid in pids)

    # A new window, closed with "cancel jobs": when close returns, every process is gone,
    # the stopped one included, and the training job can be resumed.
    asked = []
    _close(_open_window(qtbot), "cancel", asked)
    assert asked == [sorted([training.name, garbage.name])]
    assert [pid for pid in pids if job_store.process_alive(pid)] == []
    assert not any(job_store.group_alive(group) for group in groups)
    record = job_store.read_job(training)
    assert record.state in ("cancelled", "interrupted") and record.can_resume
