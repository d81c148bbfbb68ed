"""Execution paths chosen by measurement on the machine that runs them.

Which way of running AlexNet is fastest depends on the CPU: on an AMD EPYC with AVX2, XLA
won; on an Intel Xeon with AVX-512 and AMX, TensorFlow's plain graph (its oneDNN kernels) was
1.4-1.8x faster than XLA for inference and, in ``mixed_bfloat16``, 2.2x faster for training.
So nothing is fixed here: a short measurement (``measure``) times both paths of

- one image and a small batch of inference (fp32), and
- a full training step (forward, backward, SGD momentum) in each precision the device offers,

and the fastest of each is used from then on. The result is cached in the data folder
(``speed.json``) under a key of the device (CPU model and the flags that matter, or the GPU
names), the core count, TensorFlow's version, this project's version and whether oneDNN is
on (``alexnet_tf.machine``); a change of any of them measures again.

The measurement runs once per key, in a background process at low priority
(``start_background_measurement``), so nothing waits for it: until it is there, the safe
default is XLA, the path that was never far from the best anywhere it was measured and is
10x faster than TensorFlow's own bf16 kernels on CPUs without bf16 units.
``ALEXNET_STUDIO_EXECUTION=xla`` or ``=graph`` forces a path (for tests, and for users who
know better); ``auto`` or unset means measured. Head-mode training (one small matmul per
step) always runs as a plain graph, where XLA's per-call overhead would cost more than the
step (see docs/performance.md).

On a GPU the same measurement compares XLA and the graph in fp32, ``mixed_bfloat16`` and
``mixed_float16`` (a precision the GPU cannot run is recorded as unavailable, not fatal);
this could not be run where the project is developed (no GPU).
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from .errors import AlexNetStudioError
from .machine import Machine, describe_machine

CACHE_FILE = "speed.json"
LOCK_FILE = "speed.measuring"
FORCE_ENV = "ALEXNET_STUDIO_EXECUTION"
PATHS = ("xla", "graph")
DEFAULT_PATH = "xla"
# bf16 (or fp16) is recommended only when it trains at least this much faster than fp32:
# below that the fp32 result's exactness is worth more than a few percent.
RECOMMEND_FACTOR = 1.15
# A candidate this much slower than the best after a round is not timed again: its first
# step (about 4 s for bf16 without bf16 units) already shows it will not be chosen.
DROP_FACTOR = 3.0
ENTRIES_KEPT = 8  # one data folder may be shared by several machines (a home on NFS)
_CHOICE_KEYS = {"single", "batch", "train", "precision"}


class ExecutionSettingError(AlexNetStudioError, ValueError):
    """``ALEXNET_STUDIO_EXECUTION`` holds something other than xla, graph or auto."""


def cache_path() -> Path:
    """The JSON file holding the measurements of every machine/version key seen."""
    from .paths import data_home

    return data_home() / CACHE_FILE


def key_id(key: dict) -> str:
    """A short stable name of a cache key (the key itself is stored beside it)."""
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]


def _read_cache() -> dict:
    try:
        cache = json.loads(cache_path().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {"entries": {}}  # none yet, or damaged: measured again and rewritten
    if not isinstance(cache, dict) or not isinstance(cache.get("entries"), dict):
        return {"entries": {}}
    return cache


def read_measurement(machine: Machine | None = None) -> dict | None:
    """The cached measurement for ``machine`` (default: this one and its versions), or None."""
    machine = machine or describe_machine()
    entry = _read_cache()["entries"].get(key_id(machine.key()))
    if not isinstance(entry, dict) or entry.get("key") != machine.key():
        return None
    choice = entry.get("choice")
    if not isinstance(choice, dict) or not _CHOICE_KEYS <= choice.keys():
        return None  # written by an older or damaged version: measured again
    return entry


def save_measurement(entry: dict) -> Path:
    """Store ``entry`` (from ``measure``) under its key, keeping the newest few keys."""
    from .fileio import write_json_atomic

    cache = _read_cache()
    entries = cache["entries"]
    entries[key_id(entry["key"])] = entry
    newest = sorted(entries.items(), key=lambda item: str(item[1].get("measured_at", "")))
    cache["entries"] = dict(newest[-ENTRIES_KEPT:])
    path = cache_path()
    write_json_atomic(path, cache)
    return path


def forced_path(environ=None) -> str | None:
    """The path forced by ``ALEXNET_STUDIO_EXECUTION`` (``"xla"``/``"graph"``), or None."""
    environ = os.environ if environ is None else environ
    value = environ.get(FORCE_ENV, "").strip().lower()
    if value in ("", "auto"):
        return None
    if value not in PATHS:
        raise ExecutionSettingError(
            f"{FORCE_ENV} must be xla, graph or auto. Received: {FORCE_ENV}={value!r}"
        )
    return value


def inference_path(batch_size: int, entry: dict | None = None) -> str:
    """``"xla"`` or ``"graph"`` for fp32 inference of ``batch_size`` images."""
    forced = forced_path()
    if forced:
        return forced
    entry = read_measurement() if entry is None else entry
    if not entry:
        return DEFAULT_PATH
    return entry["choice"]["single" if batch_size == 1 else "batch"]


def train_path(precision: str, entry: dict | None = None) -> str:
    """``"xla"`` or ``"graph"`` for a training step on image batches in ``precision``."""
    forced = forced_path()
    if forced:
        return forced
    entry = read_measurement() if entry is None else entry
    if not entry:
        return DEFAULT_PATH
    return entry["choice"]["train"].get(precision) or DEFAULT_PATH


def recommended_precision(entry: dict | None) -> str:
    """The training precision to offer first: the fastest measured, fp32 unless clearly beaten."""
    if not entry:
        return "fp32"
    return entry["choice"]["precision"]


def precision_advice(entry: dict | None) -> str:
    """One sentence on whether mixed precision trains faster here, from the measurement."""
    if not entry:
        return (
            "Not measured on this machine yet (once, in the background; now: "
            "`alexnet-studio info --measure`)."
        )
    best = _best_rates(entry)
    fp32 = best.get("fp32")
    lines = []
    for precision in ("bf16", "fp16"):
        rate = best.get(precision)
        if precision not in entry["training"] or not fp32:
            continue
        if rate is None:
            lines.append(f"{precision} could not run on this device")
            continue
        ratio = rate / fp32
        if ratio >= RECOMMEND_FACTOR:
            verdict = "faster: recommended"
        else:
            verdict = "slower" if ratio < 1 else "about the same: not worth the rounding"
        lines.append(
            f"{precision} trains {ratio:.2f}x as fast as fp32 on this machine ({verdict}; "
            f"measured {rate:.1f} vs {fp32:.1f} images/s)"
        )
    units = entry.get("bf16_units")
    if units is not None and "fp16" not in entry["training"]:
        lines.append(f"bf16 units: {', '.join(units)}" if units else "this CPU has no bf16 units")
    return "; ".join(lines) + "."


def _best_rates(entry: dict) -> dict:
    """precision -> images/s of its fastest path (None if no path ran)."""
    best = {}
    for precision, rates in entry["training"].items():
        ran = [rate for rate in rates.values() if rate]
        best[precision] = max(ran) if ran else None
    return best


def _choose(entry: dict) -> dict:
    """The choices implied by the measured figures."""
    inference = entry["inference"]
    single = min(PATHS, key=lambda p: inference["single_ms"][p] or float("inf"))
    batch = max(PATHS, key=lambda p: inference["batch_images_per_s"][p] or 0.0)
    train = {}
    for precision, rates in entry["training"].items():
        ran = {path: rate for path, rate in rates.items() if rate}
        train[precision] = max(ran, key=ran.get) if ran else DEFAULT_PATH
    best = _best_rates(entry)
    precision = "fp32"
    for candidate in ("bf16", "fp16"):
        rate = best.get(candidate)
        if rate and best.get("fp32") and rate >= RECOMMEND_FACTOR * best[precision]:
            precision = candidate
    return {"single": single, "batch": batch, "train": train, "precision": precision}


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
    entry["choice"] = _choose(entry)
    entry["seconds"] = round(time.perf_counter() - started, 1)
    return entry


def measurement_running() -> bool:
    """True while another process of this data folder is measuring (its pid is alive)."""
    from .paths import data_home

    try:
        pid = int((data_home() / LOCK_FILE).read_text().strip())
    except (OSError, ValueError):
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def start_background_measurement() -> subprocess.Popen | None:
    """Start ``python -m alexnet_tf.speed`` at low priority unless this key is measured or
    being measured; return the process (or None). Its output goes to the native log."""
    if forced_path() or read_measurement() is not None or measurement_running():
        return None
    from .quiet import native_log_path

    env = {key: value for key, value in os.environ.items() if key != FORCE_ENV}
    # Importable from wherever the user started the command (a checkout is not installed).
    package_parent = str(Path(__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join(
        dict.fromkeys([package_parent, *filter(None, env.get("PYTHONPATH", "").split(os.pathsep))])
    )
    with open(native_log_path(), "ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "alexnet_tf.speed"],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,  # survives the command that started it, gets no Ctrl-C
            env=env,
        )


def measure_and_save(**options) -> dict:
    """Measure now, in this process, with the lock file held; save and return the entry."""
    from .paths import data_home

    lock = data_home() / LOCK_FILE
    lock.write_text(str(os.getpid()))
    try:
        entry = measure(**options)
        save_measurement(entry)
        return entry
    finally:
        lock.unlink(missing_ok=True)


def main(argv: list[str] | None = None) -> int:
    """``python -m alexnet_tf.speed``: measure this machine and cache the result."""
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
    print(json.dumps(entry["choice"]), flush=True)
    return 0


if __name__ == "__main__":
    from .quiet import quiet_native_stderr

    quiet_native_stderr()
    sys.exit(main())
