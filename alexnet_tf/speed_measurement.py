"""The measurement behind ``alexnet_tf.speed``: time every execution path on this machine.

Run as a background process at low priority (``python -m alexnet_tf.speed_measurement``,
started by ``speed.start_background_measurement``) or by ``info --measure``. It times

- one image and a small batch of inference (fp32), also with LiteRT on the model converted
  to a flatbuffer (``flatbuffer_build.time_litert``: the engine of the first answer), and
- a full training step (forward, backward, SGD momentum) in each precision the device offers,

on both paths (XLA and the plain graph) and saves the figures and the choices they imply in
the cache ``alexnet_tf.speed`` reads. It sits above ``forward`` and ``training`` because it
times their own compiled functions, so that what is measured is what runs.

On a GPU the same measurement compares XLA and the graph in fp32, ``mixed_bfloat16`` and
``mixed_float16`` (a precision the GPU cannot run is recorded as unavailable, not fatal);
this could not be run where the project is developed (no GPU).
"""

from __future__ import annotations

import datetime
import os
import sys
import time

from .fileio import json_text
from .machine import describe_machine
from .speed import PATHS, choose, lock_path, save_measurement

# A candidate this much slower than the best after a round is not timed again: its first
# step (about 4 s for bf16 without bf16 units) already shows it will not be chosen.
DROP_FACTOR = 3.0


def _timed(cases: dict, rounds: int) -> dict:
    """Fastest seconds per call of each case, interleaved round by round (so background load
    falls on all alike); a case far slower than the best stops being timed after a round.
    A case that raises (a precision the device cannot run) gets None.

    The fastest, not the median: on a shared machine noise only ever adds time, and with a
    few rounds one slow round moved a median enough to rank bf16 below fp32 (measured on the
    AVX512_BF16 EPYC: 10.7 vs 10.9 images/s in one run, 16.8 vs 13.4 in the next)."""
    times: dict = {}
    for name, fn in cases.items():
        try:
            fn()  # compilation and first-call costs, not timed
            times[name] = []
        except Exception:  # noqa: BLE001 - any failure means "not available here"
            times[name] = None
    for round_index in range(rounds):
        fastest = [min(t) for t in times.values() if t]
        best = min(fastest) if fastest else None
        for name, fn in cases.items():
            if times[name] is None:
                continue
            if round_index and best and min(times[name]) > DROP_FACTOR * best:
                continue
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: (min(t) if t else None) for name, t in times.items()}


def _training_precisions(has_gpu: bool) -> tuple[str, ...]:
    return ("fp32", "bf16", "fp16") if has_gpu else ("fp32", "bf16")


def measure(*, train_batch: int = 16, inference_batch: int = 8, rounds: int = 3) -> dict:
    """Time every candidate path on this machine (imports TensorFlow); return the cache entry.

    Random weights: the time does not depend on their values. Small batches keep it short
    (most of it is XLA compiling and, on CPUs without bf16 units, the bf16 graph's two steps),
    but not too small: bf16's lead grows with the batch (AVX512_BF16 EPYC: 1.04-1.4x at batch
    4, run to run, so the recommendation flipped; 1.56-1.64x at 16; 1.5x at 32, the default
    --batch-size). Batch 16 ranked the paths as batch 32 did on both EPYCs (not yet checked
    on a Xeon).
    """
    import keras
    import numpy as np
    import tensorflow as tf

    from .forward import CompiledForward
    from .model import build_alexnet
    from .training.steps import make_train_step

    machine = describe_machine()
    started = time.perf_counter()
    rng = np.random.default_rng(0)
    has_gpu = bool(tf.config.list_physical_devices("GPU"))

    keras.mixed_precision.set_global_policy("float32")
    model = build_alexnet(1000)
    forwards = {p: CompiledForward(model, ("prob",), jit_compile=p == "xla") for p in PATHS}
    one = rng.normal(0, 50, (1, 227, 227, 3)).astype(np.float32)
    many = rng.normal(0, 50, (inference_batch, 227, 227, 3)).astype(np.float32)
    # Timed apart (a batch is not "slower" than one image); one image costs tens of ms, so
    # more of its rounds are cheap and steady its median.
    single = _timed({p: (lambda f=forwards[p]: f(one)) for p in PATHS}, rounds * 5)
    batch = _timed({p: (lambda f=forwards[p]: f(many)) for p in PATHS}, rounds)
    del forwards
    # The third engine: the model as a LiteRT flatbuffer (converting it takes ~15 s here);
    # not when ALEXNET_STUDIO_ENGINE=tensorflow turns it off.
    from .flatbuffer_build import time_litert
    from .flatbuffer_cache import engine_setting

    litert = {}
    try:
        if engine_setting() != "tensorflow":
            litert = time_litert(model, one, many, rounds)
    except Exception:  # noqa: BLE001 - a converter or LiteRT failure: TensorFlow's paths only
        litert = {}

    images = tf.constant(rng.normal(0, 50, (train_batch, 227, 227, 3)).astype(np.float32))
    labels = tf.constant(rng.integers(0, 1000, train_batch).astype(np.int32))
    strategy = tf.distribute.get_strategy()
    policies = {"fp32": "float32", "bf16": "mixed_bfloat16", "fp16": "mixed_float16"}
    cases = {}
    for precision in _training_precisions(has_gpu):
        keras.mixed_precision.set_global_policy(policies[precision])
        try:
            # fp32 trains the model inference used (building AlexNet takes a second).
            net = model if precision == "fp32" else build_alexnet(1000)
            optimizer = keras.optimizers.SGD(0.001, momentum=0.9)
            if precision == "fp16":
                optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
            optimizer.build(net.trainable_variables)
        finally:
            keras.mixed_precision.set_global_policy("float32")
        for p in PATHS:
            step = make_train_step(strategy, net, optimizer, train_batch, jit_compile=p == "xla")
            cases[(precision, p)] = lambda step=step: step((images, labels))[0].numpy()
    training = _timed(cases, rounds)

    def rate(seconds, count):
        return round(count / seconds, 2) if seconds else None

    entry = {
        "key": machine.key(),
        "measured_at": datetime.datetime.now().isoformat(timespec="seconds"),
        "bf16_units": list(machine.bf16_units),
        "settings": {
            "train_batch": train_batch,
            "inference_batch": inference_batch,
            "rounds": rounds,
        },  # fmt: skip
        "inference": {
            "single_ms": {p: round(single[p] * 1e3, 2) if single[p] else None for p in PATHS},
            "batch_images_per_s": {p: rate(batch[p], inference_batch) for p in PATHS},
        },
        "training": {
            precision: {p: rate(training[(precision, p)], train_batch) for p in PATHS}
            for precision in _training_precisions(has_gpu)
        },
    }
    if litert:
        entry["litert"] = litert
    entry["choice"] = choose(entry)
    entry["seconds"] = round(time.perf_counter() - started, 1)
    return entry


def measure_and_save(**options) -> dict:
    """Measure now, in this process, with the lock file held; save and return the entry."""
    lock = lock_path()
    lock.write_text(str(os.getpid()))
    try:
        entry = measure(**options)
        save_measurement(entry)
        return entry
    finally:
        lock.unlink(missing_ok=True)


def main(argv: list[str] | None = None) -> int:
    """``python -m alexnet_tf.speed_measurement``: measure this machine and cache the result."""
    import argparse

    parser = argparse.ArgumentParser(description="Measure and cache the fastest paths.")
    parser.add_argument("--train-batch", type=int, default=16)
    parser.add_argument("--inference-batch", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    if hasattr(os, "nice"):
        os.nice(10)  # the user's own work comes first; ratios survive the slowdown
    entry = measure_and_save(
        train_batch=args.train_batch, inference_batch=args.inference_batch, rounds=args.rounds
    )
    print(json_text(entry["choice"]), flush=True)
    return 0


if __name__ == "__main__":
    from .quiet import quiet_tensorflow

    quiet_tensorflow()
    sys.exit(main())
