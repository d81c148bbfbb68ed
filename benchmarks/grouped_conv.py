"""Grouped convolution on CPU: GroupedConv2D implementation="split" vs "native".

Run from the repository root::

    python benchmarks/grouped_conv.py [--rounds 3] [--runs 3]

For conv2, conv4 and conv5 (groups=2, the shapes they have in AlexNet, batch 32) and for the
whole model, times an inference call and a training step (forward, a scalar loss, gradients
w.r.t. inputs and weights, SGD update), each inside a ``tf.function``, the two
implementations interleaved round by round. "split" runs one ordinary convolution per group
on a slice of the input; "native" is ``Conv2D(groups=2)``. Both share the kernel layout.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import interleaved, machine_header, markdown_table, median, quiet_tensorflow  # noqa: E402

quiet_tensorflow()

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from alexnet_tf.model import GroupedConv2D, build_alexnet  # noqa: E402

# name: (input height/width, input channels, filters, kernel size) as in the BVLC model.
LAYERS = {
    "conv2": (27, 96, 256, 5),
    "conv4": (13, 384, 384, 3),
    "conv5": (13, 384, 256, 3),
}
IMPLEMENTATIONS = ("split", "native")


def layer_model(name: str, implementation: str) -> keras.Model:
    size, channels, filters, kernel = LAYERS[name]
    inputs = keras.Input((size, size, channels))
    conv = GroupedConv2D(
        filters, kernel, padding="same", groups=2, activation="relu", implementation=implementation
    )
    return keras.Model(inputs, conv(inputs))


def full_model(implementation: str) -> keras.Model:
    return build_alexnet(grouped_conv=implementation)


def steps(model: keras.Model, batch: np.ndarray):
    """Zero-argument callables: (inference call, training step) of ``model`` on ``batch``."""
    x = tf.constant(batch)
    optimizer = keras.optimizers.SGD(0.01, momentum=0.9)

    @tf.function
    def infer(x):
        return tf.reduce_sum(model(x, training=False))

    @tf.function
    def train(x):
        with tf.GradientTape() as tape:
            tape.watch(x)  # conv2..5 also pass gradients back to their inputs
            loss = tf.reduce_mean(tf.square(model(x, training=True)))
        gradients = tape.gradient(loss, [x, *model.trainable_variables])
        optimizer.apply_gradients(zip(gradients[1:], model.trainable_variables, strict=True))
        return loss + 0 * tf.reduce_sum(gradients[0])

    return (lambda: infer(x).numpy()), (lambda: train(x).numpy())


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (default 3)")
    parser.add_argument("--runs", type=int, default=3, help="timed calls per round (default 3)")
    parser.add_argument("--batch", type=int, default=32, help="batch size (default 32)")
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)

    rows = []
    start = time.perf_counter()
    for name in (*LAYERS, "full model"):
        if name == "full model":
            shape = (args.batch, 227, 227, 3)
        else:
            size, channels, _, _ = LAYERS[name]
            shape = (args.batch, size, size, channels)
        batch = rng.normal(0, 1, shape).astype(np.float32)
        cases = {}
        for implementation in IMPLEMENTATIONS:
            model = (
                full_model(implementation)
                if name == "full model"
                else layer_model(name, implementation)
            )
            infer, train = steps(model, batch)
            cases[f"{implementation} inference"] = infer
            cases[f"{implementation} training"] = train
        times = {
            k: median(v) for k, v in interleaved(cases, rounds=args.rounds, runs=args.runs).items()
        }
        for kind in ("inference", "training"):
            split, native = times[f"split {kind}"], times[f"native {kind}"]
            rows.append(
                [name, kind, f"{split * 1e3:.1f}", f"{native * 1e3:.1f}", f"{native / split:.2f}x"]
            )
    elapsed = time.perf_counter() - start

    print(f"## Grouped convolution (groups=2), batch {args.batch}, float32\n")
    print(machine_header())
    print(
        f"- {args.rounds} interleaved rounds of {args.runs} calls, medians; total {elapsed:.0f} s\n"
    )
    headers = ["layer", "pass", "split, ms", "native, ms", "native / split"]
    print(markdown_table(headers, rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
