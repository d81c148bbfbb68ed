"""Shared helpers for the benchmark scripts: timing, machine limits, Markdown tables.

Every benchmark compares its contenders interleaved (round 1 of A, round 1 of B, round 2 of A,
...) so that load from other processes on this small machine hits all of them alike, and reports
medians. Nothing here imports PyTorch; the scripts that compare against it import it themselves.
"""

from __future__ import annotations

import atexit
import datetime
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

# AlexNet's work per image (see /work/shared/reference/alexnet-facts.md): 724,406,816 MACs.
MACS_PER_IMAGE = 724_406_816
FORWARD_GFLOP = 2 * MACS_PER_IMAGE / 1e9  # 1.449
TRAIN_GFLOP = 3 * FORWARD_GFLOP  # forward + grad w.r.t. inputs + grad w.r.t. weights: ~4.35
PARAMS = 60_965_224
WEIGHT_BYTES_FP32 = PARAMS * 4  # 244 MB: what one fp32 image must stream from memory


def quiet_tensorflow() -> None:
    """TF's C++ start-up lines go to the data folder's log, as in every command; call before
    importing TensorFlow (``--verbose`` is not parsed here: set ALEXNET_STUDIO_VERBOSE=1)."""
    from alexnet_tf.quiet import quiet_tensorflow

    quiet_tensorflow()


def scratch_folder(prefix: str) -> Path:
    """A temporary folder removed when the benchmark ends (they hold weights and jobs of
    0.2-0.7 GB each, which filled the disk when left behind)."""
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    atexit.register(shutil.rmtree, folder, True)
    return folder


def time_calls(fn: Callable[[], object], runs: int) -> list[float]:
    """Call ``fn`` ``runs`` times; return each call's wall time in seconds."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def interleaved(
    cases: dict[str, Callable[[], object]],
    *,
    rounds: int,
    runs: int,
    warmup: int = 3,
    slow: frozenset[str] = frozenset(),
) -> dict[str, list[float]]:
    """Time several contenders in alternating rounds so background load affects all alike.

    Args:
        cases: name -> zero-argument callable doing one unit of work (blocking until done).
        rounds: how many times to cycle through all the cases.
        runs: timed calls per case per round.
        warmup: untimed calls per case before the first round (compilation, caches).
        slow: names of cases so slow that one warm-up call and one timed call per round do.

    Returns:
        name -> every timed call's duration in seconds.
    """
    for name, fn in cases.items():
        for _ in range(1 if name in slow else warmup):
            fn()
    times: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(rounds):
        for name, fn in cases.items():
            times[name].extend(time_calls(fn, 1 if name in slow else runs))
    return times


def median(values: list[float]) -> float:
    return statistics.median(values)


def p90(values: list[float]) -> float:
    return float(np.percentile(values, 90))


def markdown_table(headers: list[str], rows: list[list[object]]) -> str:
    """Format rows as a GitHub Markdown table (numbers already formatted by the caller)."""
    lines = [
        "| " + " | ".join(headers) + " |",
        "|" + "|".join("---" for _ in headers) + "|",
    ]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def cpu_line() -> str:
    """The CPU model, cores and the flags that decide the fastest path (printed with every
    table: a figure means nothing without the CPU it was measured on)."""
    from alexnet_tf.machine import describe_machine

    machine = describe_machine()
    bf16 = " ".join(machine.bf16_units) or "none"
    return (
        f"{machine.cpu_model}, {machine.cores} logical CPUs, {platform.system()}; "
        f"vector units: {' '.join(machine.vector_units) or 'unknown'}; bf16 units: {bf16}"
    )


def chosen_paths_line() -> str:
    """What the per-machine measurement (alexnet_tf.speed) chose here, or that it has not run."""
    from alexnet_tf import speed

    forced = speed.forced_path()
    if forced:
        return f"- execution path forced by {speed.FORCE_ENV}={forced}"
    entry = speed.read_measurement()
    if entry is None:
        return "- the per-machine measurement has not run here (`alexnet-studio info --measure`)"
    choice = entry["choice"]
    train = ", ".join(f"{p} {path}" for p, path in choice["train"].items())
    return (
        f"- paths the app chose by its own measurement: 1 image {choice['single']}, "
        f"batches {choice['batch']}; training {train}; recommended precision "
        f"{choice['precision']}"
    )


def machine_header(extra_versions: dict[str, str] | None = None) -> str:
    """A few lines saying where and when the numbers were measured, and how busy the machine was."""
    import tensorflow as tf

    versions = {"python": platform.python_version(), "tensorflow": tf.__version__}
    try:
        import keras

        versions["keras"] = keras.__version__
    except ImportError:
        pass
    versions["numpy"] = np.__version__
    versions.update(extra_versions or {})
    load = os.getloadavg() if hasattr(os, "getloadavg") else ("?",)
    return "\n".join(
        [
            f"- date: {datetime.datetime.now().isoformat(timespec='minutes')}",
            f"- machine: {cpu_line()}",
            "- versions: " + ", ".join(f"{k} {v}" for k, v in versions.items()),
            f"- load average before the run (1/5/15 min): {', '.join(f'{x:.2f}' for x in load)}",
            f"- command: {' '.join([os.path.basename(sys.executable), *sys.argv])}",
            chosen_paths_line(),
        ]
    )


def matmul_peak_gflops(dtype: str = "float32", n: int = 2048, seconds: float = 2.0) -> float:
    """Measure TensorFlow's best large square matmul rate on this machine, in GFLOP/s.

    This is the practical compute ceiling every other figure is compared with: the same
    library, the same threads, the same moment (so background load is included).
    """
    import tensorflow as tf

    a = tf.random.normal((n, n), dtype=tf.float32)
    b = tf.random.normal((n, n), dtype=tf.float32)
    if dtype != "float32":
        a, b = tf.cast(a, dtype), tf.cast(b, dtype)

    @tf.function
    def step(a, b):
        return tf.reduce_sum(tf.cast(tf.matmul(a, b)[:1, :1], tf.float32))

    step(a, b).numpy()
    best = float("inf")
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        start = time.perf_counter()
        step(a, b).numpy()
        best = min(best, time.perf_counter() - start)
    return 2 * n**3 / best / 1e9


def memory_bandwidth_gbs(megabytes: int = 512, repeats: int = 7) -> float:
    """Measure the rate at which one large array is read from main memory, in GB/s.

    A sum over an array far larger than the caches reads every byte once, as a batch-1
    forward pass reads its weights once; the best of a few repeats is taken.
    """
    data = np.ones(megabytes * 2**20 // 4, dtype=np.float32)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        data.sum()
        best = min(best, time.perf_counter() - start)
    return data.nbytes / best / 1e9
