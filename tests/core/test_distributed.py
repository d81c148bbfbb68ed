"""The distributed paths compute what one replica computes.

With dropout and augmentation off and the same global batch, the gradient of a batch split
over replicas (each loss divided by the *global* batch, gradients summed) is the gradient of
the whole batch, so the weights after several steps must agree up to float rounding.
Each configuration runs as its own `alexnet-studio train` process: logical CPU devices and
TF_CONFIG must be set before TensorFlow starts.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from tests.cli import free_ports

TRAIN = [sys.executable, "-m", "app.launch", "train"]
EXACT = ["--no-augment", "--dropout", "0", "--val-split", "0", "--seed", "0", "--json"]
EXACT += ["--init", "imagenet"]  # the synthetic, well-scaled weights below


@pytest.fixture(scope="module")
def synthetic_home(tmp_path_factory):
    """A data folder with synthetic ImageNet-like weights installed.

    From Keras' default initialisation the softmax saturates at once; the clipped
    cross-entropy then turns float rounding differences into different gradients, which is
    not what this test is about.
    """
    from tests.synthetic_weights import link_synthetic_imagenet_weights

    home = tmp_path_factory.mktemp("home")
    weights = link_synthetic_imagenet_weights(home)
    return home, weights


@pytest.fixture(scope="module")
def two_classes(tmp_path_factory):
    """16 small images of two textures, 8 per class."""
    root = tmp_path_factory.mktemp("dataset")
    rng = np.random.default_rng(0)
    for c, name in enumerate(("stripes", "blobs")):
        (root / name).mkdir()
        for i in range(8):
            pixels = rng.integers(0, 255, (64, 80, 3), dtype=np.uint8)
            pixels[:: 4 + c] = 255 * c
            Image.fromarray(pixels).save(root / name / f"{i}.png")
    return root


def _start(folder, job_dir, *options, home) -> subprocess.Popen:
    env = dict(os.environ, ALEXNET_STUDIO_HOME=str(home))
    return subprocess.Popen(
        [*TRAIN, str(folder), "--out", str(job_dir), *options],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip


def _events(process: subprocess.Popen) -> list[dict]:
    stdout, stderr = process.communicate(timeout=600)
    assert process.returncode == 0, (stdout[-3000:], stderr[-3000:])
    return [json.loads(line) for line in stdout.splitlines()]


def _train_side_by_side(*runs, home) -> list[list[dict]]:
    """Independent jobs run at once, each in its own process (its own TensorFlow): much of
    a job is one thread (imports, building, compiling, saving), so two share 2 cores well."""
    processes = [_start(*run, home=home) for run in runs]
    try:
        return [_events(process) for process in processes]
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()


def _weights(job_dir):
    import keras

    import alexnet_tf.model  # noqa: F401 - registers the custom layers

    model = keras.saving.load_model(job_dir / "model" / "model.keras", safe_mode=True)
    return {w.path: np.asarray(w) for w in model.weights}


def _relative_difference(a, b):
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(a), 1e-12))


def test_one_replica_and_two_logical_cpu_replicas_give_the_same_weights(
    two_classes, synthetic_home, tmp_path
):
    home, installed = synthetic_home
    options = ["--mode", "full", "--epochs", "1", "--batch-size", "8", "--lr", "0.01", *EXACT]
    one, two = _train_side_by_side(
        (two_classes, tmp_path / "one", *options),
        (two_classes, tmp_path / "two", *options, "--cpu-replicas", "2"),
        home=home,
    )
    assert one[1]["event"] == "start" and one[1]["replicas"] == 1
    assert two[1]["replicas"] == 2 and "2 logical CPU devices" in two[1]["strategy"]
    assert [e["step"] for e in two if e["event"] == "step"] == [1, 2]

    a, b = _weights(tmp_path / "one"), _weights(tmp_path / "two")
    differences = {name: _relative_difference(a[name], b[name]) for name in a}
    assert max(differences.values()) < 1e-4, differences

    # ...and training did change them, by far more than that tolerance (one step at the full
    # rate after the warm-up step: conv1 moves by BELOW_FC8_RATE * 0.01 = 1e-3 of its norm).
    from alexnet_tf.model import build_alexnet

    initial = build_alexnet(1000, dropout=0)
    initial.load_weights(installed)
    for name in ("conv1/kernel", "fc7/kernel"):
        start = np.asarray(next(w for w in initial.weights if w.path == name))
        assert _relative_difference(start, a[name]) > 5e-4, name


@pytest.mark.slow
def test_two_worker_processes_finish_the_same_job_and_agree(two_classes, synthetic_home, tmp_path):
    home, _ = synthetic_home
    options = ["--mode", "head", "--epochs", "2", "--batch-size", "8", "--lr", "0.001", *EXACT]
    workers = [f"127.0.0.1:{port}" for port in free_ports(2)]
    # The same job in one process, to compare with at the end; it runs beside the workers,
    # which spend much of their time waiting for each other.
    processes = [_start(two_classes, tmp_path / "single", *options, home=home)]
    try:
        for index in range(2):
            env = dict(os.environ, ALEXNET_STUDIO_HOME=str(home))
            env["TF_CONFIG"] = json.dumps(
                {"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}}
            )
            processes.append(
                subprocess.Popen(
                    [*TRAIN, str(two_classes), "--out", str(tmp_path / "job"), *options],
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                    env=env,
                )  # fmt: skip
            )
        single, *outputs = [p.communicate(timeout=600) for p in processes]
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()
    single_run, *processes = processes
    for process, (out, err) in zip(processes, outputs, strict=True):
        assert process.returncode == 0, (out[-3000:], err[-3000:])
    done = [json.loads(out.splitlines()[-1]) for out, _ in outputs]
    assert [d["event"] for d in done] == ["done", "done"]
    starts = [next(json.loads(x) for x in out.splitlines() if '"start"' in x) for out, _ in outputs]
    assert all(s["workers"] == 2 and "MultiWorkerMirroredStrategy" in s["strategy"] for s in starts)
    digests = [d["weights_digest"] for d in done]
    assert abs(digests[0] - digests[1]) <= 1e-6 * abs(digests[0])
    # only the chief wrote the job folder, and the model there is the one both computed
    assert (tmp_path / "job" / "model" / "model.keras").exists()
    assert json.loads((tmp_path / "job" / "status.json").read_text())["pid"] == processes[0].pid

    # The same job in one process gives the same weights.
    assert single_run.returncode == 0, (single[0][-3000:], single[1][-3000:])
    single_done = json.loads(single[0].splitlines()[-1])
    assert single_done["event"] == "done"
    assert abs(single_done["weights_digest"] - digests[0]) <= 1e-5 * abs(digests[0])
