"""AlexNet Studio against PyTorch, each library alone in a process of its own, in one run.

Run from the repository root (PyTorch is a reference only: ``pip install torch==2.13.0``)::

    python benchmarks/versus_torch.py [--rounds 2]

Why separate processes: timed in one process, each library's idle worker threads spin while
the other computes, and PyTorch lost up to a quarter of its speed that way (docs/performance.md);
benchmarks/inference.py and training.py interleave both in one process for their breakdowns.
Here a fresh process per library and round (TensorFlow, PyTorch, TensorFlow, PyTorch, ...)
times, each on random data of the same shapes and random weights (the time does not depend on
them):

- one image: ``CompiledForward`` on the path this machine's measurement chose, and the same
  model as the LiteRT flatbuffer (``flatbuffer_build.time_litert``, the engine of ``classify``
  and the app's first answer), from a preprocessed image to probabilities, median of 20
  calls; PyTorch under ``torch.inference_mode``, the faster of NCHW and channels_last;
- batch 32 inference, median of 6 calls, the same way;
- one full training step at batch 32 (forward, cross-entropy, backward, update of every
  weight): the training engine's own step with the recipe's optimizer on the chosen path, in
  fp32 and, where the CPU has bf16 units, ``mixed_bfloat16``; PyTorch fp32 SGD with momentum,
  the faster memory layout; median of 5 steps. The CLI's whole loop (input pipeline,
  checkpoints) is ``benchmarks/head_mode.py --mode full --torch``.

It prints a table with the issue's targets as ratios, and the CPU model and flags.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import (  # noqa: E402
    FORWARD_GFLOP,
    TRAIN_GFLOP,
    cpu_line,
    machine_header,
    markdown_table,
    matmul_peak_gflops,
    median,
    quiet_tensorflow,
    time_calls,
)

BATCH = 32


def _median_seconds(fn, calls: int, warmup: int = 2) -> float:
    time_calls(fn, warmup)
    return median(time_calls(fn, calls))


def _data():
    rng = np.random.default_rng(0)
    images = rng.normal(0, 50, (BATCH, 227, 227, 3)).astype(np.float32)
    return images, rng.integers(0, 1000, BATCH).astype(np.int32)


def tensorflow_figures() -> dict:
    """This project's figures, in this process (TensorFlow only)."""
    quiet_tensorflow()
    import tensorflow as tf

    from alexnet_tf.flatbuffer_build import time_litert
    from alexnet_tf.forward import CompiledForward
    from alexnet_tf.machine import describe_machine
    from alexnet_tf.model import build_alexnet
    from alexnet_tf.speed import train_path
    from alexnet_tf.training.recipe import make_optimizer
    from alexnet_tf.training.steps import make_train_step, set_precision

    images, labels = _data()
    model = build_alexnet()
    forward = CompiledForward(model, ("prob",))
    figures = {
        "one image ms": 1000 * _median_seconds(lambda: forward(images[:1]), 20),
        "batch images/s": BATCH / _median_seconds(lambda: forward(images), 6),
        "paths": dict(forward.paths),
    }
    # The same model converted to the flatbuffer LiteRT runs (the first answer's engine).
    litert = time_litert(model, images[:1], images, rounds=4)
    if litert:
        figures["litert one image ms"] = litert["single_ms"]
        figures["litert batch images/s"] = litert["batch_images_per_s"]
    precisions = ["fp32"] + (["bf16"] if describe_machine().bf16_units else [])
    batch = (tf.constant(images), tf.constant(labels))
    for precision in precisions:
        set_precision(precision, has_gpu=False)
        model = build_alexnet(1000, dropout=0.0)  # the recipe trains top and full without it
        optimizer = make_optimizer("full", 1e-4, 10, 100)
        optimizer.build(model.trainable_variables)
        path = train_path(precision)
        step = make_train_step(tf.distribute.get_strategy(), model, optimizer, BATCH,
                               jit_compile=path == "xla")  # fmt: skip
        seconds = _median_seconds(lambda step=step: float(step(batch)[0]), 5)
        figures[f"train {precision} images/s"] = BATCH / seconds
        figures["paths"][f"train {precision}"] = path
    set_precision("fp32", has_gpu=False)
    figures["fp32 matmul GFLOP/s"] = matmul_peak_gflops()
    return figures


def torch_figures() -> dict:
    """PyTorch's figures, in this process (PyTorch only)."""
    import torch
    from torch_alexnet import torch_inference_calls, torch_training_step

    torch.set_num_threads(os.cpu_count() or 1)
    images, labels = _data()
    single = min(_median_seconds(call, 20) for call in torch_inference_calls(images[:1]).values())
    whole = min(_median_seconds(call, 6) for call in torch_inference_calls(images).values())
    train = min(
        _median_seconds(torch_training_step(images, labels, channels_last=last), 5)
        for last in (False, True)
    )
    return {
        "one image ms": 1000 * single,
        "batch images/s": BATCH / whole,
        "train fp32 images/s": BATCH / train,
    }


def run_worker(library: str) -> dict:
    """One fresh process measuring ``library`` alone; its figures."""
    result = subprocess.run(
        [sys.executable, os.path.abspath(__file__), "--worker", library],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return json.loads(result.stdout.strip().splitlines()[-1])


def span(values: list[float], spec: str) -> str:
    low, high = min(values), max(values)
    return f"{low:{spec}}" if f"{low:{spec}}" == f"{high:{spec}}" else f"{low:{spec}}-{high:{spec}}"


def report(rounds: list[tuple[dict, dict]]) -> str:
    """The table: each measure, both libraries (the span over rounds), the ratio, the target."""
    tf_runs, torch_runs = [r[0] for r in rounds], [r[1] for r in rounds]

    def values(runs, key):
        return [run[key] for run in runs]

    rows = []
    ratios = [t["one image ms"] / p["one image ms"] for t, p in rounds]
    rows.append(["one image (latency)", span(values(tf_runs, "one image ms"), ".1f") + " ms",
                 span(values(torch_runs, "one image ms"), ".1f") + " ms",
                 span(ratios, ".2f") + "x", "<= 0.8x"])  # fmt: skip
    ratios = [t["batch images/s"] / p["batch images/s"] for t, p in rounds]
    rows.append(["batch 32 inference", span(values(tf_runs, "batch images/s"), ".0f") + " images/s",
                 span(values(torch_runs, "batch images/s"), ".0f") + " images/s",
                 span(ratios, ".2f") + "x", ">= 2x"])  # fmt: skip
    if "litert one image ms" in tf_runs[0]:
        ratios = [t["litert one image ms"] / p["one image ms"] for t, p in rounds]
        rows.append(["one image, LiteRT (flatbuffer)",
                     span(values(tf_runs, "litert one image ms"), ".1f") + " ms",
                     span(values(torch_runs, "one image ms"), ".1f") + " ms",
                     span(ratios, ".2f") + "x", "<= 0.8x"])  # fmt: skip
        ratios = [t["litert batch images/s"] / p["batch images/s"] for t, p in rounds]
        rows.append(["batch 32, LiteRT (flatbuffer)",
                     span(values(tf_runs, "litert batch images/s"), ".0f") + " images/s",
                     span(values(torch_runs, "batch images/s"), ".0f") + " images/s",
                     span(ratios, ".2f") + "x", ">= 2x"])  # fmt: skip
    for precision, target in (("fp32", ">= 1.5x PyTorch fp32"), ("bf16", ">= 3x PyTorch fp32")):
        key = f"train {precision} images/s"
        if key not in tf_runs[0]:
            continue
        ratios = [t[key] / p["train fp32 images/s"] for t, p in rounds]
        rows.append([f"training step, {precision}, batch 32",
                     span(values(tf_runs, key), ".1f") + " images/s",
                     span(values(torch_runs, "train fp32 images/s"), ".1f") + " images/s (fp32)",
                     span(ratios, ".2f") + "x", target])  # fmt: skip
    headers = ["measure", "AlexNet Studio", "PyTorch 2.13, same model", "ratio", "target"]
    paths = ", ".join(f"{k} {v}" for k, v in tf_runs[0]["paths"].items())
    return (
        markdown_table(headers, rows)
        + f"\n\nAlexNet Studio's paths: {paths}\n\n"
        + ceiling_line(tf_runs, torch_runs)
    )


def ceiling_line(tf_runs: list[dict], torch_runs: list[dict]) -> str:
    """What this CPU allows at most in fp32 (TensorFlow's best large matmul rate, measured in
    the same processes) against what the throughput targets ask for: a target above the
    ceiling cannot be met on this CPU kind by any engine or setting."""
    peak = median([run["fp32 matmul GFLOP/s"] for run in tf_runs])
    inference, training = peak / FORWARD_GFLOP, peak / TRAIN_GFLOP
    batch_target = 2 * max(run["batch images/s"] for run in torch_runs)
    train_target = 1.5 * max(run["train fp32 images/s"] for run in torch_runs)
    return (
        f"fp32 ceiling (matmul peak {peak:.0f} GFLOP/s): {inference:.0f} images/s inference, "
        f"{training:.0f} images/s training; the targets ask for {batch_target:.0f} "
        f"({batch_target / inference:.0%} of it) and {train_target:.1f} "
        f"({train_target / training:.0%} of it)."
    )


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2, help="processes per library (2)")
    parser.add_argument("--worker", choices=("tensorflow", "torch"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        figures = tensorflow_figures() if args.worker == "tensorflow" else torch_figures()
        print(json.dumps(figures))
        return 0
    quiet_tensorflow()
    import torch

    print(machine_header({"torch": torch.__version__}))
    rounds = [(run_worker("tensorflow"), run_worker("torch")) for _ in range(args.rounds)]
    print(f"\n## AlexNet Studio vs PyTorch, each alone in its process, {args.rounds} rounds\n")
    print(report(rounds))
    print(f"\nCPU: {cpu_line()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
