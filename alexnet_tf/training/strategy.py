"""One function turns a request (CPU, N logical CPU replicas, GPUs, workers) into a strategy.

Modelled on TensorFlow Model Garden's ``distribute_utils.get_distribution_strategy``: the
caller states what it wants, the function checks it can be done on this machine, configures
TensorFlow's devices (which must happen before TensorFlow initialises them) and returns the
strategy with a sentence that says what was chosen.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

from ..errors import AlexNetStudioError


class StrategyError(AlexNetStudioError):
    """The requested distribution cannot be set up on this machine."""


@dataclass
class StrategyChoice:
    """The strategy a training job runs under, and what it means for this process.

    Attributes:
        strategy: the ``tf.distribute.Strategy``.
        kind: ``"cpu"``, ``"cpu-replicas"``, ``"gpus"`` or ``"multi-worker"``.
        description: a sentence for the log and the start event (says "CPU" when on the CPU).
        num_replicas: replicas in sync over all workers.
        num_workers: processes taking part (1 unless ``TF_CONFIG`` lists several workers).
        worker_index: this process's index among the workers.
        is_chief: whether this process writes the job folder.
    """

    strategy: object
    kind: str
    description: str
    num_replicas: int
    num_workers: int = 1
    worker_index: int = 0
    is_chief: bool = True


def _tf_config() -> dict | None:
    raw = os.environ.get("TF_CONFIG")
    if not raw:
        return None
    try:
        config = json.loads(raw)
    except json.JSONDecodeError as error:
        raise StrategyError(
            f"TF_CONFIG is not valid JSON ({error}). Received: TF_CONFIG={raw!r}"
        ) from None
    if not isinstance(config, dict):
        raise StrategyError(f"TF_CONFIG must be a JSON object. Received: TF_CONFIG={raw!r}")
    return config


def tf_config_workers() -> list[str]:
    """The worker addresses ``TF_CONFIG`` lists ([] without one). Does not import TensorFlow."""
    config = _tf_config() or {}
    return list((config.get("cluster") or {}).get("worker") or [])


def tf_config_worker_index() -> int:
    """This process's task index in ``TF_CONFIG`` (0 without one). Does not import TensorFlow."""
    config = _tf_config() or {}
    return int((config.get("task") or {}).get("index", 0))


def is_chief_process() -> bool:
    """Whether this process writes the job folder: True unless ``TF_CONFIG`` names it a
    non-chief worker (index > 0). Cheap: does not import TensorFlow."""
    return len(tf_config_workers()) <= 1 or tf_config_worker_index() == 0


def enable_gpu_memory_growth() -> list:
    """Turn on memory growth for every visible GPU, so several processes can share one.

    Must run before TensorFlow initialises the GPUs; returns the physical GPU devices.
    """
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    for gpu in gpus:
        try:
            tf.config.experimental.set_memory_growth(gpu, True)
        except RuntimeError:  # already initialised by an earlier call in this process
            pass
    return gpus


def select_strategy(cpu_replicas: int | None = None) -> StrategyChoice:
    """Choose and create the distribution strategy for a training process.

    Order: ``TF_CONFIG`` with several workers -> ``MultiWorkerMirroredStrategy``; visible GPUs
    -> ``MirroredStrategy`` over all of them; ``cpu_replicas`` -> the CPU split into that many
    logical devices with ``MirroredStrategy`` (how the distributed path is tested without
    GPUs); otherwise the default strategy on the CPU.

    Call it once per process, before anything else touches TensorFlow's devices.

    Args:
        cpu_replicas: split the CPU into this many logical devices (>= 1). ``None`` or 1
            trains on the plain CPU.

    Raises:
        StrategyError: impossible asks (replicas < 1, CPU replicas with GPUs present or with
            several workers, a malformed ``TF_CONFIG``, devices already initialised).
    """
    if cpu_replicas is not None and (
        isinstance(cpu_replicas, bool) or not isinstance(cpu_replicas, int) or cpu_replicas < 1
    ):
        raise StrategyError(
            f"cpu_replicas must be a positive integer. Received: cpu_replicas={cpu_replicas!r}"
        )
    config = _tf_config()
    gpus = enable_gpu_memory_growth()
    workers = tf_config_workers()
    if len(workers) > 1:
        return _multi_worker(config, workers, gpus, cpu_replicas)
    if gpus:
        return _on_gpus(gpus, cpu_replicas)
    if cpu_replicas and cpu_replicas > 1:
        return _on_cpu_replicas(cpu_replicas)
    import tensorflow as tf

    return StrategyChoice(
        strategy=tf.distribute.get_strategy(),
        kind="cpu",
        description="CPU (no GPU visible), one replica",
        num_replicas=1,
    )


def _multi_worker(config: dict, workers: list, gpus: list, cpu_replicas) -> StrategyChoice:
    """``MultiWorkerMirroredStrategy`` over the workers of ``TF_CONFIG``."""
    import tensorflow as tf

    if cpu_replicas not in (None, 1):
        raise StrategyError(
            "cpu_replicas cannot be combined with a multi-worker TF_CONFIG. "
            f"Received: cpu_replicas={cpu_replicas}, {len(workers)} workers"
        )
    task = config.get("task") or {}
    if task.get("type", "worker") not in ("worker", "chief"):
        raise StrategyError(
            f"This process's TF_CONFIG task type must be 'worker'. Received: task={task!r}"
        )
    index = tf_config_worker_index()
    strategy = tf.distribute.MultiWorkerMirroredStrategy()
    devices = f"{len(gpus)} GPU(s)" if gpus else "CPU"
    return StrategyChoice(
        strategy=strategy,
        kind="multi-worker",
        description=(
            f"MultiWorkerMirroredStrategy: {len(workers)} workers, this is worker {index} "
            f"on {devices}, {strategy.num_replicas_in_sync} replicas in sync"
        ),
        num_replicas=strategy.num_replicas_in_sync,
        num_workers=len(workers),
        worker_index=index,
        is_chief=index == 0,
    )


def _on_gpus(gpus: list, cpu_replicas) -> StrategyChoice:
    """``MirroredStrategy`` over every visible GPU."""
    import tensorflow as tf

    if cpu_replicas not in (None, 1):
        raise StrategyError(
            f"cpu_replicas splits the CPU, but {len(gpus)} GPU(s) are visible and would be "
            "used instead. Hide them (CUDA_VISIBLE_DEVICES=) or drop --cpu-replicas. "
            f"Received: cpu_replicas={cpu_replicas}"
        )
    strategy = tf.distribute.MirroredStrategy()
    return StrategyChoice(
        strategy=strategy,
        kind="gpus",
        description=f"MirroredStrategy over {len(gpus)} GPU(s)",
        num_replicas=strategy.num_replicas_in_sync,
    )


def _on_cpu_replicas(cpu_replicas: int) -> StrategyChoice:
    """``MirroredStrategy`` over the CPU split into ``cpu_replicas`` logical devices."""
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    try:
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration() for _ in range(cpu_replicas)]
        )
    except RuntimeError as error:
        raise StrategyError(
            "The CPU cannot be split into logical devices once TensorFlow has initialised "
            f"its devices in this process ({error}). Received: cpu_replicas={cpu_replicas}"
        ) from error
    devices = [d.name for d in tf.config.list_logical_devices("CPU")]
    strategy = tf.distribute.MirroredStrategy(devices)
    return StrategyChoice(
        strategy=strategy,
        kind="cpu-replicas",
        description=f"MirroredStrategy over {cpu_replicas} logical CPU devices (no GPU)",
        num_replicas=strategy.num_replicas_in_sync,
    )
