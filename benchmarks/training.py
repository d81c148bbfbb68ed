"""Full fine-tuning throughput (batch 32, all layers train), Keras vs PyTorch, fp32 and bf16.

Run from the repository root (PyTorch is a reference only; install it for the benchmarks with
``pip install torch==2.13.0``)::

    python benchmarks/training.py [--rounds 3] [--steps 3]

One training step = forward (dropout on), sparse cross-entropy, backward, SGD with momentum
0.9 updating all 60,965,224 parameters. Contenders, interleaved round by round in one process:

- Keras fp32 and ``mixed_bfloat16`` (LRN stays float32 by design), the step in a
  training engine's own step (``alexnet_tf.training.steps.make_train_step``), with and
  without XLA (``jit_compile``);
- the same architecture and optimizer in PyTorch (benchmarks/torch_alexnet.py): fp32, fp32
  channels_last, and bf16 under ``torch.autocast``;
- a 2048x2048 matmul in fp32 and bf16, so each step can be set against the measured peak
  (about 4.35 GFLOP per training image: forward, and twice that for the backward pass).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import (  # noqa: E402
    TRAIN_GFLOP,
    cpu_line,
    interleaved,
    machine_header,
    markdown_table,
    median,
    quiet_tensorflow,
)

quiet_tensorflow()

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import torch  # noqa: E402
from torch_alexnet import torch_training_step  # noqa: E402

from alexnet_tf.model import build_alexnet  # noqa: E402
from alexnet_tf.training.steps import make_train_step  # noqa: E402

NUM_CLASSES = 1000
LEARNING_RATE = 0.01
MOMENTUM = 0.9
MATMUL_N = 2048


def keras_case(images, labels, *, precision: str, jit_compile: bool):
    """A zero-argument callable running one Keras training step."""
    policy = "mixed_bfloat16" if precision == "bf16" else "float32"
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(policy)
    try:
        model = build_alexnet(NUM_CLASSES)
        optimizer = keras.optimizers.SGD(LEARNING_RATE, momentum=MOMENTUM)
    finally:
        keras.mixed_precision.set_global_policy(previous)
    # The engine's step, under the default (single-device) strategy, as `train` runs on a CPU.
    strategy = tf.distribute.get_strategy()
    step = make_train_step(strategy, model, optimizer, len(images), jit_compile=jit_compile)
    batch = (tf.constant(images), tf.constant(labels))
    return lambda: step(batch)[0].numpy()


def matmul_case(dtype, jit_compile=False):
    a = tf.cast(tf.random.normal((MATMUL_N, MATMUL_N)), dtype)
    b = tf.cast(tf.random.normal((MATMUL_N, MATMUL_N)), dtype)
    step = tf.function(
        lambda a, b: tf.cast(tf.matmul(a, b)[0, 0], tf.float32), jit_compile=jit_compile
    )
    return lambda: step(a, b).numpy()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (default 3)")
    parser.add_argument("--steps", type=int, default=3, help="timed steps per round (default 3)")
    parser.add_argument("--batch", type=int, default=32, help="batch size (default 32)")
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="PyTorch threads")
    parser.add_argument("--skip-xla", action="store_true", help="leave out the XLA variants")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    rng = np.random.default_rng(0)
    images = rng.normal(0, 50, (args.batch, 227, 227, 3)).astype(np.float32)
    labels = rng.integers(0, NUM_CLASSES, args.batch).astype(np.int32)

    cases = {
        "Keras fp32, graph (oneDNN)": keras_case(
            images, labels, precision="fp32", jit_compile=False
        ),
        "Keras bf16, graph (oneDNN)": keras_case(
            images, labels, precision="bf16", jit_compile=False
        ),
    }
    if not args.skip_xla:
        cases["Keras fp32, XLA"] = keras_case(images, labels, precision="fp32", jit_compile=True)
        cases["Keras bf16, XLA"] = keras_case(images, labels, precision="bf16", jit_compile=True)
    cases["PyTorch fp32 (NCHW)"] = torch_training_step(images, labels, precision="fp32")
    cases["PyTorch fp32 (channels_last)"] = torch_training_step(
        images, labels, precision="fp32", channels_last=True
    )
    cases["PyTorch bf16 autocast (NCHW)"] = torch_training_step(images, labels, precision="bf16")
    machine = {
        "TF matmul fp32": matmul_case(tf.float32),
        "TF matmul bf16": matmul_case(tf.bfloat16),
        # XLA on a CPU without bf16 arithmetic (AVX2) computes bf16 dots in fp32 and rounds:
        # a different ceiling from TF's own bf16 kernels, so both are measured.
        "TF matmul bf16 + XLA": matmul_case(tf.bfloat16, jit_compile=True),
    }
    # Without bf16 hardware these take a minute per step; one call per round is enough.
    slow = frozenset({"Keras bf16, graph (oneDNN)", "PyTorch bf16 autocast (NCHW)"})

    start = time.perf_counter()
    times = interleaved(
        {**cases, **machine}, rounds=args.rounds, runs=args.steps, warmup=2, slow=slow
    )
    elapsed = time.perf_counter() - start
    flops = 2 * MATMUL_N**3
    peak = {
        "fp32": flops / median(times.pop("TF matmul fp32")),
        "bf16": flops / median(times.pop("TF matmul bf16")),
        "bf16 XLA": flops / median(times.pop("TF matmul bf16 + XLA")),
    }
    torch_fp32 = min(median(times[name]) for name in times if name.startswith("PyTorch fp32"))
    torch_bf16 = median(times["PyTorch bf16 autocast (NCHW)"])
    torch_best = min(median(times[name]) for name in times if name.startswith("PyTorch"))

    rows = []
    for name, values in times.items():
        seconds = median(values)
        precision = "bf16" if "bf16" in name else "fp32"
        ceiling = peak["bf16 XLA" if precision == "bf16" and "XLA" in name else precision]
        reference = torch_bf16 if precision == "bf16" else torch_fp32
        gflops = TRAIN_GFLOP * args.batch / seconds
        rows.append(
            [
                name,
                f"{args.batch / seconds:.1f}",
                f"{reference / seconds:.2f}x",
                f"{torch_best / seconds:.2f}x",
                f"{gflops:.0f}",
                f"{gflops * 1e9 / ceiling * 100:.0f}%",
            ]
        )
    print(f"## AlexNet full fine-tuning, batch {args.batch}, SGD momentum {MOMENTUM}\n")
    print(machine_header({"torch": torch.__version__}))
    print(f"- PyTorch threads: {args.threads}; TF threads: default (all cores)")
    print(
        f"- {args.rounds} interleaved rounds of {args.steps} steps, medians; total {elapsed:.0f} s"
    )
    print(
        f"- TF matmul {MATMUL_N}x{MATMUL_N} in the same run: fp32 {peak['fp32'] / 1e9:.0f} GFLOP/s,"
        f" bf16 {peak['bf16'] / 1e9:.0f} GFLOP/s (with XLA {peak['bf16 XLA'] / 1e9:.0f});"
        f" a training image is ~{TRAIN_GFLOP:.2f} GFLOP,"
        f" so the ceilings are {peak['fp32'] / 1e9 / TRAIN_GFLOP:.0f} (fp32) and"
        f" {max(peak['bf16'], peak['bf16 XLA']) / 1e9 / TRAIN_GFLOP:.0f} (bf16) images/s\n"
    )
    print(
        markdown_table(
            [
                "step",
                "images/s",
                "vs best PyTorch, same precision",
                "vs best PyTorch (any precision)",
                "GFLOP/s",
                "% of matmul peak (same precision)",
            ],
            rows,
        )
    )
    keras_best = {
        precision: max(args.batch / median(values) for name, values in times.items()
                       if name.startswith(f"Keras {precision}"))
        for precision in ("fp32", "bf16")
    }  # fmt: skip
    torch_rate = args.batch / torch_fp32
    print(
        f"\nTargets: fp32 {keras_best['fp32'] / torch_rate:.2f}x PyTorch fp32 (target >= 1.5x); "
        f"bf16 {keras_best['bf16'] / torch_rate:.2f}x PyTorch fp32 (target >= 3x where the CPU "
        "has bf16 units). Ceilings from the matmul peak above."
    )
    print(f"\nCPU: {cpu_line()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
