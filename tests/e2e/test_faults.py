"""Faults with real processes and real signals: kill -9, a full or read-only disk, a dead worker.

Each job is a real `alexnet-studio train` process on a tiny dataset in head mode with a
checkpoint after every step, so saves are frequent and every moment of a job can be hit.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.cli import free_ports
from tests.datasets import make_image_folder

pytestmark = pytest.mark.slow

CLI = [sys.executable, "-m", "app.launch", "train"]
# 2 classes x 8 images, no validation, batch 4: 4 steps per epoch.
EPOCHS, STEPS_PER_EPOCH = 3, 4
TOTAL_STEPS = EPOCHS * STEPS_PER_EPOCH
# The random kill moments of a run can be replayed: FAULTS_SEED=<the seed it printed>.
SEED = int(os.environ.get("FAULTS_SEED", time.time_ns() % 2**32))
RANDOM = random.Random(SEED)
JOB_OPTIONS = ["--mode", "head", "--epochs", str(EPOCHS), "--batch-size", "4",
               "--val-split", "0", "--checkpoint-seconds", "0", "--json"]  # fmt: skip


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return make_image_folder(
        tmp_path_factory.mktemp("data") / "pets", classes=2, per_class=8, bad_files=False
    )


def _env(home, **extra):
    return dict(os.environ, ALEXNET_STUDIO_HOME=str(home), PYTHONUNBUFFERED="1", **extra)


def _start(home, args, output: Path, **env) -> subprocess.Popen:
    command = [*CLI, *map(str, args)]
    with open(output, "w") as stdout:  # a file, not a pipe: an unread pipe would block the job
        return subprocess.Popen(
            command, stdout=stdout, stderr=subprocess.STDOUT, text=True, env=_env(home, **env)
        )


def _events(output: Path) -> list[dict]:
    events = []
    for line in output.read_text().splitlines():
        with contextlib.suppress(ValueError):  # TF's stderr lines, a line cut by kill -9
            event = json.loads(line)
            if isinstance(event, dict) and "event" in event:
                events.append(event)
    return events


def _wait_for(process, condition, *args, timeout=300.0) -> bool:
    """Poll ``condition(*args)`` every 5 ms until it holds (True) or the process ends (False)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition(*args):
            return True
        if process.poll() is not None:
            return False
        time.sleep(0.005)
    raise AssertionError("timed out waiting for the job")


# Moments to kill a job at: each a condition on the job folder and the job's output so far.
def _starting(job, output):
    if not job.exists():
        return False
    assert (job / "job.json").is_file()  # the folder appears with its job.json, never without
    return True


def _scanning(job, output):
    return (job / "status.json").is_file()  # written just before job.json's rewrite and the scan


def _saving_checkpoint(job, output):
    return any((job / "checkpoints").glob("*_temp*"))


def _training(job, output):
    steps = [e for e in _events(output) if e["event"] == "step"]
    return bool(steps) and RANDOM.random() < 0.02  # a random moment after the first step


def _saving_model(job, output):
    return any((job / "model").glob(".model.keras.tmp-*"))


def test_kill_9_many_times_at_any_moment_then_every_resume_works(home, dataset, tmp_path):
    job = tmp_path / "job"
    moments = [_starting, _scanning, _saving_checkpoint, _training, _saving_checkpoint,
               _saving_model, None]  # fmt: skip
    runs, kills = [], []
    for number, moment in enumerate(moments):
        output = tmp_path / f"run{number}.jsonl"
        args = [dataset["root"], "--out", job] if number == 0 else ["--resume", job]
        process = _start(home, [*args, *JOB_OPTIONS], output)
        if moment and _wait_for(process, moment, job, output):
            # A random few ms later: somewhere inside the save (or step) that was seen starting.
            time.sleep(RANDOM.uniform(0.0, 0.03))
            process.kill()
            kills.append(moment.__name__)
        assert process.wait(timeout=300) in (0, -9), output.read_text()[-3000:]
        runs.append(_events(output))
    print(f"kill -9 while {', '.join(kills)} (FAULTS_SEED={SEED})")
    assert len(kills) >= 5, kills  # the moments were really hit

    # Every resume continued from a checkpoint it had, and ran each remaining step once.
    for events in runs[1:]:
        start = next((e for e in events if e["event"] == "start"), None)
        if start is None:  # killed while starting: no step ran
            assert not [e for e in events if e["event"] == "step"]
            continue
        assert start["total_steps"] == TOTAL_STEPS
        done = start["resumed_at"] or {"epoch": 0, "step": 0}
        first_step = done["epoch"] * STEPS_PER_EPOCH + done["step"] + 1
        steps = [e["global_step"] for e in events if e["event"] == "step"]
        assert steps == list(range(first_step, first_step + len(steps)))
    last = runs[-1]
    assert last[-1]["event"] == "done" and last[-1]["global_step"] == TOTAL_STEPS
    assert [e["global_step"] for e in last if e["event"] == "step"][-1] == TOTAL_STEPS
    status = json.loads((job / "status.json").read_text())
    assert status["state"] == "finished" and status["global_step"] == TOTAL_STEPS
    assert status["total_steps"] == TOTAL_STEPS
    assert not list((job / "checkpoints").glob("*_temp*"))  # no half-written save left behind

    from alexnet_tf.inference import Classifier

    classifier = Classifier.load(job)  # safe mode, as every model is loaded
    assert list(classifier.labels) == dataset["classes"]


@contextlib.contextmanager
def _small_disk(folder: Path, megabytes: int):
    """A tmpfs of ``megabytes`` mounted on ``folder`` (root only), unmounted afterwards."""
    folder.mkdir(parents=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={megabytes}m", "tmpfs", str(folder)],
        capture_output=True, text=True,
    )  # fmt: skip
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {mounted.stderr.strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def _remount(folder: Path, options: str) -> None:
    subprocess.run(["mount", "-o", f"remount,{options}", str(folder)], check=True)


def _checkpoints(job) -> list[str]:
    return sorted(p.stem for p in (job / "checkpoints").glob("ckpt-*.index"))


def _finish_after_resume(home, job, output) -> list[dict]:
    # Its own checkpoints are not what this resume is for: none (each is ~245 MB).
    options = [*JOB_OPTIONS, "--checkpoint-seconds", "3600"]
    process = _start(home, ["--resume", job, *options], output)
    assert process.wait(timeout=300) == 0, output.read_text()[-3000:]
    events = _events(output)
    assert events[-1]["event"] == "done"
    assert json.loads((job / "status.json").read_text())["step"] == TOTAL_STEPS
    return events


def test_a_full_disk_stops_the_job_with_a_clear_error_and_loses_nothing(home, dataset, tmp_path):
    # Room for one full checkpoint (~245 MB) and the job's small files, not for a second one.
    with _small_disk(tmp_path / "disk", 400) as disk:
        job = disk / "job"
        output = tmp_path / "full.jsonl"
        process = _start(home, [dataset["root"], "--out", job, *JOB_OPTIONS], output)
        assert process.wait(timeout=300) == 1, output.read_text()[-3000:]
        error = _events(output)[-1]
        assert error["event"] == "error"
        assert f"Cannot save a checkpoint in {job / 'checkpoints'}" in error["message"]
        assert "No space left on device" in error["message"]
        status = json.loads((job / "status.json").read_text())
        assert status["state"] == "failed" and "No space left" in status["message"]
        assert _checkpoints(job) == ["ckpt-1"]  # the good one is kept, the partial one is gone
        assert not list((job / "checkpoints").glob("*_temp*"))

        # Still full: a resume without checkpoints fails at the final model save, the same way.
        metrics = (job / "metrics.jsonl").read_text()
        output = tmp_path / "model.jsonl"
        process = _start(home, ["--resume", job, *JOB_OPTIONS, "--checkpoint-seconds", "3600"],
                         output)  # fmt: skip
        assert process.wait(timeout=300) == 1, output.read_text()[-3000:]
        error = _events(output)[-1]
        assert error["event"] == "error", error
        assert error["message"].startswith(
            f"Cannot write in the job folder {job}: the disk is full"
        )
        assert json.loads((job / "status.json").read_text())["state"] == "failed"
        assert not (job / "model" / "model.keras").exists()
        assert not list((job / "model").glob(".model.keras.tmp-*"))  # its space is given back
        assert (job / "metrics.jsonl").read_text().startswith(metrics)  # nothing lost
        assert _checkpoints(job) == ["ckpt-1"]

        _remount(disk, "size=1200m")  # the user frees space
        resumed = _finish_after_resume(home, job, tmp_path / "resumed.jsonl")
        start = next(e for e in resumed if e["event"] == "start")
        assert start["resumed_at"] == {"epoch": 0, "step": 1}  # from ckpt-1


def test_a_read_only_job_folder_is_refused_clearly_and_loses_nothing(home, dataset, tmp_path):
    job = tmp_path / "job"
    output = tmp_path / "first.jsonl"
    process = _start(home, [dataset["root"], "--out", job, *JOB_OPTIONS], output)
    assert _wait_for(process, lambda: len(_checkpoints(job)) >= 2)
    # The job folder becomes read-only while the job runs (a read-only bind mount: chmod does
    # not stop root). Files the job already holds open stay writable, as on a real remount.
    if subprocess.run(["mount", "--bind", str(job), str(job)]).returncode != 0:
        process.kill()
        pytest.skip("cannot bind-mount here (needs root)")
    try:
        _remount(job, "ro,bind")
        assert process.wait(timeout=300) == 1, output.read_text()[-3000:]
        error = _events(output)[-1]
        assert error["event"] == "error"
        print(f"read-only while running: {error['message']}")
        # names the job folder (the checkpoint save or another write may be the first to fail)
        assert str(job) in error["message"] and "read-only" in error["message"], error
        before = _snapshot(job)

        # A resume while it is still read-only is refused at once, and changes nothing.
        output = tmp_path / "readonly.jsonl"
        process = _start(home, ["--resume", job, *JOB_OPTIONS], output)
        assert process.wait(timeout=300) == 1, output.read_text()[-3000:]
        error = _events(output)[-1]
        assert error["event"] == "error"
        assert f"Cannot write in the job folder {job}" in error["message"]
        assert "Read-only file system" in error["message"]
        assert _snapshot(job) == before  # nothing lost or changed
    finally:
        subprocess.run(["umount", "-l", str(job)], check=False)

    resumed = _finish_after_resume(home, job, tmp_path / "resumed.jsonl")
    start = next(e for e in resumed if e["event"] == "start")
    assert start["resumed_at"]["step"] + STEPS_PER_EPOCH * start["resumed_at"]["epoch"] >= 2


def _snapshot(folder: Path) -> list[tuple[str, int, int]]:
    return sorted(
        (str(p.relative_to(folder)), p.stat().st_size, p.stat().st_mtime_ns)
        for p in folder.rglob("*")
        if p.is_file()
    )


def _start_workers(home, args, tmp_path, name) -> tuple[list, list[Path]]:
    """Two workers of one job on 127.0.0.1 (MultiWorkerMirroredStrategy through TF_CONFIG)."""
    workers = [f"127.0.0.1:{port}" for port in free_ports(2)]
    processes, outputs = [], []
    for index in range(2):
        config = {"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}}
        outputs.append(tmp_path / f"{name}{index}.jsonl")
        processes.append(_start(home, args, outputs[-1], TF_CONFIG=json.dumps(config)))
    return processes, outputs


@pytest.mark.parametrize("fault", ["kill the other worker", "stop the chief"])
def test_when_a_worker_dies_or_hangs_the_other_stops_and_the_job_resumes(
    home, dataset, tmp_path, fault
):
    job = tmp_path / "job"
    options = ["--mode", "head", "--epochs", "4", "--batch-size", "4", "--val-split", "0",
               "--checkpoint-seconds", "0", "--watchdog-seconds", "20", "--json"]  # fmt: skip
    processes, outputs = _start_workers(
        home, [dataset["root"], "--out", job, *options], tmp_path, "worker"
    )
    chief, other = processes
    assert _wait_for(chief, lambda: len(_checkpoints(job)) >= 2)
    if fault == "kill the other worker":
        victim, survivor, output = other, chief, outputs[0]
        victim.kill()
    else:
        victim, survivor, output = chief, other, outputs[1]
        victim.send_signal(signal.SIGSTOP)  # alive, connections open, never answering
    began = time.monotonic()
    try:
        # Bounded: TensorFlow's heartbeats or the step watchdog (20 s here) end the survivor.
        assert survivor.wait(timeout=120) == 1, output.read_text()[-3000:]
    finally:
        print(f"{fault}: the survivor stopped after {time.monotonic() - began:.1f} s")
        victim.kill()
        victim.wait(timeout=60)
    error = _events(output)[-1]
    assert error["event"] == "error"
    assert ("Another worker of this job died" in error["message"]
            or "did not finish within 20 s" in error["message"]), error  # fmt: skip
    assert f"--resume {job}" in error["message"]
    if survivor is chief:
        status = json.loads((job / "status.json").read_text())
        assert status["state"] == "failed" and status["message"] == error["message"]

    # The job resumes from the chief's last checkpoint: with both workers again (each
    # restores the same checkpoint, so they end with the same weights), or in one process.
    kept = _checkpoints(job)
    resume = ["--resume", job, "--checkpoint-seconds", "60", "--json"]
    if fault == "kill the other worker":
        processes, outputs = _start_workers(home, resume, tmp_path, "resumed")
        for process, output in zip(processes, outputs, strict=True):
            assert process.wait(timeout=300) == 0, output.read_text()[-3000:]
        digests = {_events(output)[-1].get("weights_digest") for output in outputs}
        assert len(digests) == 1, digests
    else:
        outputs = [tmp_path / "resumed.jsonl"]
        process = _start(home, resume, outputs[0])
        assert process.wait(timeout=300) == 0, outputs[0].read_text()[-3000:]
    events = _events(outputs[0])
    start = next(e for e in events if e["event"] == "start")
    assert f"ckpt-{start['resumed_at']['epoch'] * 4 + start['resumed_at']['step']}" in kept
    assert events[-1]["event"] == "done" and events[-1]["global_step"] == 16
    assert json.loads((job / "status.json").read_text())["global_step"] == 16


def test_a_worker_whose_peers_never_join_stops_with_a_clear_error(home, dataset, tmp_path):
    # The other worker was killed while starting (or never started): TensorFlow would wait
    # for it without end (still waiting after a minute, measured); the job waits
    # 5 x --watchdog-seconds (10 s here: the wait is all this test would spend) and stops.
    job = tmp_path / "job"
    workers = [f"127.0.0.1:{port}" for port in free_ports(2)]
    config = {"cluster": {"worker": workers}, "task": {"type": "worker", "index": 0}}
    output = tmp_path / "alone.jsonl"
    process = _start(home, [dataset["root"], "--out", job, *JOB_OPTIONS, "--watchdog-seconds",
                            "2"], output, TF_CONFIG=json.dumps(config))  # fmt: skip
    began = time.monotonic()
    try:
        assert process.wait(timeout=120) == 1, output.read_text()[-3000:]
    finally:
        print(f"alone: stopped after {time.monotonic() - began:.1f} s")
        process.kill()
    error = _events(output)[-1]
    assert error["event"] == "error"
    assert error["message"].startswith("The other workers of this job did not join within 10 s")
    assert workers[1] in error["message"] and f"--resume {job}" in error["message"]
    status = json.loads((job / "status.json").read_text())
    assert status["state"] == "failed" and status["message"] == error["message"]

    # The job resumes in one process (no TF_CONFIG) and finishes.
    events = _finish_after_resume(home, job, tmp_path / "resumed.jsonl")
    assert events[-1]["global_step"] == TOTAL_STEPS
