"""Execution paths chosen by measurement on the machine that runs them: the choice and its
cache, without TensorFlow (the measurement itself is ``alexnet_tf.speed_measurement``).

Which way of running AlexNet is fastest depends on the CPU: on an AMD EPYC with AVX2, XLA
won; on an Intel Xeon with AVX-512 and AMX, TensorFlow's plain graph (its oneDNN kernels) was
1.4-1.8x faster than XLA for inference and, in ``mixed_bfloat16``, 2.2x faster for training.
So nothing is fixed here: a short measurement times both paths of one image, a small batch
and a training step in each precision, and the fastest of each is used from then on. The
result is cached in the data folder (``speed.json``) under a key of the device (CPU model
and the flags that matter, or the GPU names), the core count, TensorFlow's version, this
project's version and whether oneDNN is on (``alexnet_tf.machine``); a change of any of them
measures again.

The measurement runs once per key, in a background process at low priority
(``start_background_measurement``), so nothing waits for it: until it is there, the safe
default is XLA, the path that was never far from the best anywhere it was measured and is
10x faster than TensorFlow's own bf16 kernels on CPUs without bf16 units.
``ALEXNET_STUDIO_EXECUTION=xla`` or ``=graph`` forces a path (for tests, and for users who
know better); ``auto`` or unset means measured. Head-mode training (one small matmul per
step) always runs as a plain graph, where XLA's per-call overhead would cost more than the
step (see docs/performance.md).

The cache is read by every model command (and was once read while ``--help`` was built), so
a damaged one must cost nothing: it is read with a size cap, checked in depth, and a file or
an entry that is not as this version writes it counts as not measured; the next measurement
rewrites it.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

from .errors import AlexNetStudioError, DamagedFileError
from .fileio import read_json, write_json_atomic
from .jobfolder import process_alive
from .machine import Machine, describe_machine
from .schema import AnyJSON, MapOf, OneOf, Optional, check

CACHE_FILE = "speed.json"
LOCK_FILE = "speed.measuring"
FORCE_ENV = "ALEXNET_STUDIO_EXECUTION"
# The background process's module: started by name, never imported here (it imports TF).
MEASUREMENT_MODULE = "alexnet_tf.speed_measurement"
PATHS = ("xla", "graph")
DEFAULT_PATH = "xla"
PRECISIONS = ("fp32", "bf16", "fp16")
# bf16 (or fp16) is recommended only when it trains at least this much faster than fp32:
# below that the fp32 result's exactness is worth more than a few percent.
RECOMMEND_FACTOR = 1.15
ENTRIES_KEPT = 8  # one data folder may be shared by several machines (a home on NFS)
# An entry is about 1.5 KB, so a full cache about 12 KB: 1 MB is far above any file this
# project writes, and far below one that would slow a command down (a 400 MB one made
# `classify` 3x slower when it was read whole).
MAX_CACHE_BYTES = 1_000_000
MAX_FIGURE = 1e9  # ms, images/s or seconds: far above any measured, far below a float's range

_FIGURE = (float, type(None))  # None: that path could not run here
_PATH = OneOf(*PATHS)
ENTRY_SPEC = {
    "key": {
        "device": str, "cpu_model": str, "cpu_flags": str, "cores": int, "gpus": [str],
        "tensorflow": str, "alexnet_studio": str, "onednn": str,
    },
    "measured_at": str,
    "bf16_units": [str],
    "settings": {"train_batch": int, "inference_batch": int, "rounds": int},
    "inference": {
        "single_ms": {path: _FIGURE for path in PATHS},
        "batch_images_per_s": {path: _FIGURE for path in PATHS},
    },
    "training": MapOf({path: _FIGURE for path in PATHS}),  # precision -> path -> images/s
    # LiteRT's figures (the cached flatbuffer's engine), beside TensorFlow's paths; absent in
    # entries measured before it was (``litert_classifier.litert_preferred`` then prefers it).
    "litert": Optional({"single_ms": _FIGURE, "batch_images_per_s": _FIGURE}),
    "choice": {
        "single": _PATH, "batch": _PATH, "train": MapOf(_PATH), "precision": OneOf(*PRECISIONS),
    },
    "seconds": float,
}  # fmt: skip
# Entries are checked one by one: one machine's damaged entry does not cost the others theirs.
CACHE_SPEC = {"entries": MapOf(AnyJSON)}


class ExecutionSettingError(AlexNetStudioError, ValueError):
    """``ALEXNET_STUDIO_EXECUTION`` holds something other than xla, graph or auto."""


def cache_path() -> Path:
    """The JSON file holding the measurements of every machine/version key seen."""
    from .paths import data_home

    return data_home() / CACHE_FILE


def lock_path() -> Path:
    """The file holding the pid of the process measuring for this data folder."""
    from .paths import data_home

    return data_home() / LOCK_FILE


def key_id(key: dict) -> str:
    """A short stable name of a cache key (the key itself is stored beside it)."""
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]


def _read_cache() -> dict:
    """The cache, or an empty one when there is none or it is damaged (measured again and
    rewritten)."""
    try:
        return read_json(cache_path(), max_bytes=MAX_CACHE_BYTES, spec=CACHE_SPEC)
    except (OSError, DamagedFileError):  # none yet, unreadable, or not as this version writes
        return {"entries": {}}


def checked_entry(entry) -> dict | None:
    """``entry`` if it is a complete measurement as this version writes it, else None."""
    try:
        check(entry, ENTRY_SPEC, CACHE_FILE)
    except DamagedFileError:
        return None
    # A figure is shown with ``:g`` and divided by another: an int beyond a float's range
    # would raise there, a negative one rank nonsense.
    if any(f is not None and not 0 <= f < MAX_FIGURE for f in _figures(entry)):
        return None
    measured = set(entry["training"])
    # Every measured precision has its chosen path (``info`` lists them side by side).
    if "fp32" not in measured or not measured <= set(PRECISIONS):
        return None
    if set(entry["choice"]["train"]) != measured or entry["choice"]["precision"] not in measured:
        return None
    return entry


def _figures(entry: dict):
    """Every number of an entry that is shown or computed with."""
    yield entry["seconds"]
    inference = entry["inference"]
    for figures in (inference["single_ms"], inference["batch_images_per_s"]):
        yield from figures.values()
    for figures in entry["training"].values():
        yield from figures.values()
    yield from entry.get("litert", {}).values()


def read_measurement(machine: Machine | None = None) -> dict | None:
    """The cached measurement for ``machine`` (default: this one and its versions), or None
    (not measured, or its entry damaged or written by another version)."""
    machine = machine or describe_machine()
    entry = checked_entry(_read_cache()["entries"].get(key_id(machine.key())))
    if entry is None or entry["key"] != machine.key():
        return None
    return entry


def save_measurement(entry: dict) -> Path:
    """Store ``entry`` (from the measurement) under its key, keeping the newest few keys and
    dropping any damaged entry."""
    entries = {name: kept for name, kept in _read_cache()["entries"].items() if checked_entry(kept)}
    entries[key_id(entry["key"])] = entry
    newest = sorted(entries.items(), key=lambda item: item[1]["measured_at"])
    path = cache_path()
    write_json_atomic(path, {"entries": dict(newest[-ENTRIES_KEPT:])})
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


def choose(entry: dict) -> dict:
    """The choices implied by an entry's measured figures (its ``"choice"``)."""
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


def measurement_running() -> bool:
    """True while another process of this data folder is measuring (its pid is alive)."""
    try:
        pid = int(lock_path().read_text().strip())
    except (OSError, ValueError):
        return False
    return process_alive(pid)


def start_background_measurement() -> subprocess.Popen | None:
    """Start ``python -m alexnet_tf.speed_measurement`` at low priority unless this key is
    measured or being measured; return the process (or None). Its output goes to the native
    log."""
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
            [sys.executable, "-m", MEASUREMENT_MODULE],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,  # survives the command that started it, gets no Ctrl-C
            env=env,
        )
