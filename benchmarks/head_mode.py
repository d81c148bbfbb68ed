"""Fine-tuning with the CLI from the folder to the saved model: head mode's "under 30 s" case,
and the CLI's own full training loop (``--mode full [--precision bf16]``) in images/s.

Run from the repository root::

    python benchmarks/head_mode.py [--images 500] [--epochs 10]
    python benchmarks/head_mode.py --mode full --images 320 --epochs 1 [--precision bf16]
    python benchmarks/head_mode.py --mode full --images 960 --epochs 1 --precision bf16 --torch

``--torch`` sets the loop against PyTorch fp32 full training steps (the same architecture and
SGD, batch ``--batch-size``, ``benchmarks/training.py``'s step) timed in this process just
before and just after the CLI run, so drifting machine speed falls on both.

It writes a folder of ``--images`` generated images (the test suite's generator, 5 classes),
installs synthetic ImageNet-like weights into a temporary data folder (real weights are never
downloaded by benchmarks), then times ``alexnet-studio train FOLDER --mode head`` as a user
runs it: a fresh process, including TensorFlow's import, the scan, the feature cache, the
epochs, the evaluation and the saved ``.keras`` model. The phases come from its JSON events;
the training speed is the job's own rolling images/s (its first, tracing step left out). The
paths the job uses are this machine's measured ones: the data folder's ``speed.json`` is
copied into the temporary one (or measured there first), so no measurement runs alongside.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import (  # noqa: E402
    cpu_line,
    machine_header,
    markdown_table,
    quiet_tensorflow,
    time_calls,
)

quiet_tensorflow()

from alexnet_tf import speed  # noqa: E402
from tests.datasets import make_image_folder  # noqa: E402
from tests.synthetic_weights import install_synthetic_imagenet_weights  # noqa: E402


def make_torch_step(batch_size: int):
    """One PyTorch fp32 training step of AlexNet on a fixed random batch (training.py's)."""
    import numpy as np
    import torch
    from torch_alexnet import torch_training_step

    torch.set_num_threads(os.cpu_count() or 1)
    rng = np.random.default_rng(0)
    images = rng.normal(0, 50, (batch_size, 227, 227, 3)).astype(np.float32)
    labels = rng.integers(0, 1000, batch_size)
    step = torch_training_step(images, labels, channels_last=True)
    step()  # first-call costs
    return step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=500)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--size", type=int, default=256, help="side of the generated images")
    parser.add_argument("--mode", choices=("head", "top", "full"), default="head")
    parser.add_argument("--precision", choices=("fp32", "bf16", "fp16"), default="fp32")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--torch", action="store_true", help="time PyTorch fp32 as a reference")
    args = parser.parse_args()
    torch_step = make_torch_step(args.batch_size) if args.torch else None
    torch_times = time_calls(torch_step, 5) if torch_step else []

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        classes = 5
        make_image_folder(tmp / "photos", classes=classes, per_class=args.images // classes,
                          size=args.size, bad_files=False)  # fmt: skip
        install_synthetic_imagenet_weights(tmp / "home")
        env = dict(os.environ, ALEXNET_STUDIO_HOME=str(tmp / "home"))
        measured = speed.cache_path()  # this process's data folder: the user's
        if measured.exists():
            shutil.copyfile(measured, tmp / "home" / speed.CACHE_FILE)
        else:
            subprocess.run([sys.executable, "-m", "alexnet_tf.speed_measurement"], env=env,
                           cwd=ROOT, check=True)  # fmt: skip
        command = [sys.executable, "-m", "app.launch", "train", str(tmp / "photos"),
                   "--out", str(tmp / "job"), "--mode", args.mode, "--epochs", str(args.epochs),
                   "--precision", args.precision, "--batch-size", str(args.batch_size),
                   "--json"]  # fmt: skip
        start = time.perf_counter()
        process = subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.PIPE, text=True)
        marks, val, rate = {}, None, None
        for line in process.stdout:
            event = json.loads(line)
            name = event["event"]
            if name == "step" and event.get("images_per_second"):
                rate = event["images_per_second"]
            if name == "phase":
                name = f"phase {event.get('phase', '')}"
            marks.setdefault(name, time.perf_counter() - start)
            if name == "done":
                val = event.get("eval", {}).get("top1")
        process.wait()
        total = time.perf_counter() - start
        if process.returncode != 0:
            sys.exit(f"train failed with exit status {process.returncode}")
    torch_times += time_calls(torch_step, 5) if torch_step else []

    print(machine_header())
    print(f"\n{args.mode} mode, {args.precision}, batch {args.batch_size}, {args.images} images "
          f"({args.size}x{args.size}), {args.epochs} epochs\n")  # fmt: skip
    rows = [[name, f"{seconds:.1f}"] for name, seconds in marks.items()]
    rows.append(["process exit (total)", f"{total:.1f}"])
    print(markdown_table(["first event", "seconds since launch"], rows))
    print(f"\nvalidation top-1 at the end: {val}")
    if rate:
        print(f"training speed at the end (the job's rolling images/s): {rate:.1f}")
    if torch_times:
        torch_rate = args.batch_size / sorted(torch_times)[len(torch_times) // 2]
        print(
            f"PyTorch fp32 full training step, batch {args.batch_size}, median of "
            f"{len(torch_times)} steps before and after: {torch_rate:.1f} images/s"
        )
        if rate and args.mode == "full":  # head and top modes train less than a full step
            print(f"the CLI loop ({args.precision}) vs PyTorch fp32: {rate / torch_rate:.2f}x")
    print(f"\nCPU: {cpu_line()}")


if __name__ == "__main__":
    main()
