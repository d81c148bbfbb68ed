"""Inference speed: the interactive path (one image) and batch-32 throughput, vs PyTorch.

Run from the repository root (PyTorch is a reference only; install it for the benchmarks with
``pip install torch==2.13.0``)::

    python benchmarks/inference.py [--rounds 5] [--runs 10]

What is timed (all in this one process, interleaved round by round, medians reported):

- ``CompiledForward`` (alexnet_tf.forward), the class the app and the CLI use, from a
  preprocessed float32 batch to probabilities as NumPy arrays (file decoding excluded), on
  each of its two paths side by side: XLA and the plain graph (TF's oneDNN kernels), and on
  the path this machine's measurement chose (``alexnet_tf.speed``); with every named layer
  returned (what the app's feature view asks for); in bf16 (``precision="bf16"``) on both
  paths, with its top-5 agreement with fp32 on the same inputs; and ``model.predict``;
- the BVLC AlexNet in PyTorch (benchmarks/torch_alexnet.py) under ``torch.inference_mode``
  with the same thread count, NCHW (the default) and channels_last;
- a 2048x2048 fp32 matmul in TF (the machine's practical compute peak) and a 512 MB
  reduction in TF (its memory bandwidth), interleaved with the rest so they see the same load.

The installed ImageNet weights are used if present, random weights otherwise (same time).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import (  # noqa: E402
    FORWARD_GFLOP,
    WEIGHT_BYTES_FP32,
    cpu_line,
    interleaved,
    machine_header,
    markdown_table,
    median,
    p90,
    quiet_tensorflow,
)

quiet_tensorflow()

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import torch  # noqa: E402
from torch_alexnet import torch_inference_calls  # noqa: E402

from alexnet_tf.forward import CompiledForward  # noqa: E402
from alexnet_tf.model import NAMED_LAYERS, build_alexnet  # noqa: E402

MATMUL_N = 2048
BANDWIDTH_BYTES = 512 * 2**20
# conv1-conv5 do 665.8M of the 724.4M MACs; fc6-fc8 (58.6M) are bound by reading their weights.
CONV_FRACTION = 1 - 58_621_952 / 724_406_816


def load_model():
    """The installed ImageNet model if there is one, else the same architecture, random."""
    try:
        from alexnet_tf.weights.store import load_imagenet_model, weights_installed

        if weights_installed():
            return load_imagenet_model(), "ImageNet weights"
    except Exception:  # the weights store may be incomplete while the project is built
        pass
    return build_alexnet(), "random weights"


def tf_matmul_case():
    """A callable doing one large fp32 matmul; returns (callable, flops per call)."""
    a = tf.random.normal((MATMUL_N, MATMUL_N))
    b = tf.random.normal((MATMUL_N, MATMUL_N))
    step = tf.function(lambda a, b: tf.matmul(a, b)[0, 0])
    return (lambda: step(a, b).numpy()), 2 * MATMUL_N**3


def tf_bandwidth_case():
    """A callable reading 512 MB once with all TF threads; returns (callable, bytes per call)."""
    data = tf.ones((BANDWIDTH_BYTES // 4,), tf.float32)
    total = tf.function(lambda x: tf.reduce_sum(x))
    return (lambda: total(data).numpy()), BANDWIDTH_BYTES


def torch_cases(batch: np.ndarray, threads: int) -> dict:
    """PyTorch AlexNet forward passes (NCHW and channels_last) on the same data."""
    torch.set_num_threads(threads)
    calls = torch_inference_calls(batch)
    return {f"PyTorch eager ({layout})": call for layout, call in calls.items()}


def keras_forwards(model) -> dict:
    """The Keras contenders: name -> CompiledForward (or a callable taking a batch)."""
    chosen = CompiledForward(model, ("prob",))  # the path measured fastest here (or forced)
    paths = f"{chosen.paths['single']} for 1 image, {chosen.paths['batch']} for batches"
    return {
        "Keras fp32, XLA": CompiledForward(model, ("prob",), jit_compile=True),
        "Keras fp32, graph (oneDNN)": CompiledForward(model, ("prob",), jit_compile=False),
        f"Keras fp32, chosen path ({paths})": chosen,
        "Keras fp32, chosen path, all 13 layers + prob": CompiledForward(
            model, (*NAMED_LAYERS, "prob")
        ),
        "Keras bf16, XLA": CompiledForward(model, ("prob",), jit_compile=True, precision="bf16"),
        "Keras bf16, graph (oneDNN)": CompiledForward(
            model, ("prob",), jit_compile=False, precision="bf16"
        ),
        "Keras model.predict (fp32)": lambda batch: model.predict(
            batch, batch_size=len(batch), verbose=0
        ),
    }


def keras_cases(forwards: dict, batch: np.ndarray) -> dict:
    """The Keras contenders as zero-argument calls on ``batch``."""
    return {name: (lambda f=forward: f(batch)) for name, forward in forwards.items()}


def top5_agreement(forwards: dict, batch: np.ndarray) -> dict:
    """For each bf16 contender: the share of images whose top-5 set (and top-1) equals fp32's."""
    exact = forwards["Keras fp32, graph (oneDNN)"](batch)["prob"]
    exact_top5 = np.sort(np.argsort(-exact, axis=1)[:, :5], axis=1)
    agreement = {}
    for name, forward in forwards.items():
        if "bf16" not in name:
            continue
        rough = forward(batch)["prob"]
        top5 = np.sort(np.argsort(-rough, axis=1)[:, :5], axis=1)
        agreement[name] = (
            float(np.mean(np.all(top5 == exact_top5, axis=1))),
            float(np.mean(rough.argmax(axis=1) == exact.argmax(axis=1))),
        )
    return agreement


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds (default 5)")
    parser.add_argument("--runs", type=int, default=10, help="batch-1 calls per round (10)")
    parser.add_argument("--batch", type=int, default=32, help="throughput batch size (32)")
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="PyTorch threads")
    args = parser.parse_args(argv)

    model, weights = load_model()
    rng = np.random.default_rng(0)
    single = rng.normal(0, 50, (1, 227, 227, 3)).astype(np.float32)
    batch = rng.normal(0, 50, (args.batch, 227, 227, 3)).astype(np.float32)
    matmul, matmul_flops = tf_matmul_case()
    reduce, reduce_bytes = tf_bandwidth_case()

    forwards = keras_forwards(model)
    start = time.perf_counter()
    machine = {"TF fp32 matmul 2048": matmul, "TF reduce_sum 512 MB": reduce}
    one = interleaved(
        {**keras_cases(forwards, single), **torch_cases(single, args.threads), **machine},
        rounds=args.rounds,
        runs=args.runs,
    )
    many = interleaved(
        {**keras_cases(forwards, batch), **torch_cases(batch, args.threads), **machine},
        rounds=args.rounds,
        runs=2,
        warmup=1,
        # TF's own bf16 kernels take seconds per batch on CPUs without bf16 units.
        slow=frozenset({"Keras bf16, graph (oneDNN)"}),
    )
    elapsed = time.perf_counter() - start
    agreement = top5_agreement(forwards, batch)

    peak = matmul_flops / median(one.pop("TF fp32 matmul 2048") + many.pop("TF fp32 matmul 2048"))
    bandwidth = reduce_bytes / median(
        one.pop("TF reduce_sum 512 MB") + many.pop("TF reduce_sum 512 MB")
    )
    torch_names = [name for name in one if name.startswith("PyTorch")]
    best_torch_1 = min(median(one[name]) for name in torch_names)
    best_torch_n = min(median(many[name]) for name in torch_names)

    rows = []
    for name in one:
        t1, tn = median(one[name]), median(many[name])
        rows.append(
            [
                name,
                f"{t1 * 1e3:.1f}",
                f"{p90(one[name]) * 1e3:.1f}",
                f"{t1 / best_torch_1:.2f}x",
                f"{args.batch / tn:.1f}",
                f"{best_torch_n / tn:.2f}x",
                f"{FORWARD_GFLOP * 1e9 * args.batch / tn / peak * 100:.0f}%",
            ]
        )
    headers = [
        "path",
        "1 image, median ms",
        "p90 ms",
        "latency vs best PyTorch",
        f"batch {args.batch}, images/s",
        "throughput vs best PyTorch",
        "% of matmul peak",
    ]
    memory_floor = WEIGHT_BYTES_FP32 / bandwidth
    compute_floor = FORWARD_GFLOP * 1e9 / peak
    print(f"## AlexNet inference ({weights})\n")
    print(machine_header({"torch": torch.__version__}))
    print(f"- PyTorch threads: {args.threads}; TF threads: default (all cores)")
    print(f"- {args.rounds} interleaved rounds, medians; total {elapsed:.0f} s\n")
    print(markdown_table(headers, rows))
    keras_names = [name for name in one if name.startswith("Keras") and "fp32" in name]
    best_1 = min(median(one[name]) for name in keras_names)
    best_n = min(median(many[name]) for name in keras_names)
    print(
        f"\nTargets (fp32): one image {best_1 / best_torch_1:.2f}x PyTorch's latency "
        f"(target <= 0.8x); batch {args.batch} {best_torch_n / best_n:.2f}x its throughput "
        "(target >= 2x)."
    )
    print(f"\nbf16 vs fp32 top-5 on the same {args.batch} inputs ({weights}):\n")
    print(
        markdown_table(
            ["path", "same top-5 set", "same top-1"],
            [[name, f"{a5:.0%}", f"{a1:.0%}"] for name, (a5, a1) in agreement.items()],
        )
    )
    print(f"\nCPU: {cpu_line()}\n")
    print(
        markdown_table(
            ["machine limit (measured in the same run)", "value"],
            [
                ["TF fp32 matmul 2048x2048 (median)", f"{peak / 1e9:.0f} GFLOP/s"],
                [
                    "memory read bandwidth (TF reduce_sum of 512 MB, median)",
                    f"{bandwidth / 1e9:.1f} GB/s",
                ],
                [
                    "fp32 floor, reading 244 MB of weights once per image",
                    f"{memory_floor * 1e3:.1f} ms",
                ],
                ["compute floor, 1.449 GFLOP at the matmul peak", f"{compute_floor * 1e3:.1f} ms"],
                [
                    "batch-1 floor if the two do not overlap (convs compute, fc reads)",
                    f"{(memory_floor + compute_floor * CONV_FRACTION) * 1e3:.1f} ms",
                ],
                [
                    f"batch-{args.batch} ceiling at the matmul peak",
                    f"{peak / 1e9 / FORWARD_GFLOP:.0f} images/s",
                ],
            ],
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
