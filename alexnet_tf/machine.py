"""What this machine is, told without importing TensorFlow: CPU model, vector and bf16 units,
GPUs, versions, whether oneDNN is on. It keys the cache of measured execution choices
(``alexnet_tf.speed``).

The CPU flags come from ``/proc/cpuinfo`` (Linux); elsewhere only the processor name is known
and the flags are empty, which still gives one key per CPU model. GPUs are the NVIDIA driver's
list (``/proc/driver/nvidia/gpus/*/information``), filtered by ``CUDA_VISIBLE_DEVICES``.
"""

from __future__ import annotations

import os
import platform
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path

# Flags that change which code TensorFlow (oneDNN, XLA) runs fastest; the rest of
# /proc/cpuinfo's flags do not enter the key, so a kernel update does not re-measure.
SPEED_FLAGS = (
    "avx", "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512vl", "avx512_vnni",
    "avx512_bf16", "avx512_fp16", "avx_vnni", "amx_tile", "amx_bf16", "amx_int8", "amx_fp16",
    "neon", "asimd", "sve", "bf16",
)  # fmt: skip
# Units that compute in bfloat16 (rather than converting to float32 first).
BF16_FLAGS = ("amx_bf16", "avx512_bf16", "bf16")


@dataclass(frozen=True)
class Machine:
    """The parts of this machine and its software that decide which execution path is fastest."""

    cpu_model: str
    cpu_flags: tuple[str, ...]
    cores: int
    gpus: tuple[str, ...] = ()
    tensorflow: str = ""
    project: str = ""
    onednn: str = "default"  # TF_ENABLE_ONEDNN_OPTS: the graph path's kernels depend on it

    @property
    def bf16_units(self) -> tuple[str, ...]:
        """The CPU's bfloat16 arithmetic units (empty: bf16 is converted to float32 to compute)."""
        return tuple(flag for flag in BF16_FLAGS if flag in self.cpu_flags)

    @property
    def vector_units(self) -> tuple[str, ...]:
        """The CPU's vector-unit flags among those that matter for speed."""
        return tuple(flag for flag in self.cpu_flags if flag not in BF16_FLAGS)

    def key(self) -> dict:
        """The cache key: change any value and the choices are measured again."""
        return {
            "device": self.gpus[0] if self.gpus else self.cpu_model,
            "cpu_model": self.cpu_model,
            "cpu_flags": " ".join(self.cpu_flags),
            "cores": self.cores,
            "gpus": list(self.gpus),
            "tensorflow": self.tensorflow,
            "alexnet_studio": self.project,
            "onednn": self.onednn,
        }

    def to_dict(self) -> dict:
        return asdict(self)


def _cpuinfo() -> tuple[str, set[str]]:
    model, flags = "", set()
    try:
        text = Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        return platform.processor() or platform.machine() or "unknown CPU", flags
    for line in text.splitlines():
        name, _, value = line.partition(":")
        name = name.strip()
        if name in ("model name", "Hardware", "cpu model") and not model:
            model = value.strip()
        elif name in ("flags", "Features") and not flags:
            flags = set(value.split())
    return model or platform.processor() or platform.machine() or "unknown CPU", flags


def _nvidia_gpus(environ) -> tuple[str, ...]:
    names = []
    try:
        folders = sorted(Path("/proc/driver/nvidia/gpus").iterdir())
    except OSError:
        return ()
    for folder in folders:
        try:
            info = (folder / "information").read_text(errors="replace")
        except OSError:
            continue
        for line in info.splitlines():
            if line.startswith("Model:"):
                names.append(line.split(":", 1)[1].strip())
    visible = environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        ids = [v.strip() for v in visible.split(",") if v.strip() and v.strip() != "-1"]
        names = names[: len(ids)]
    return tuple(names)


def _version(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "unknown"


def tensorflow_version() -> str:
    """TensorFlow's version without importing it (its metadata, whichever wheel provides it)."""
    for name in ("tensorflow", "tensorflow-cpu", "tensorflow-intel", "tf-nightly"):
        version = _version(name)
        if version != "unknown":
            return version
    return "unknown"


def describe_machine(environ=None) -> Machine:
    """This machine, read from the operating system and the installed packages (milliseconds)."""
    environ = os.environ if environ is None else environ
    model, flags = _cpuinfo()
    return Machine(
        cpu_model=model,
        cpu_flags=tuple(flag for flag in SPEED_FLAGS if flag in flags),
        cores=os.cpu_count() or 1,
        gpus=_nvidia_gpus(environ),
        tensorflow=tensorflow_version(),
        project=_version("alexnet-studio"),
        onednn=environ.get("TF_ENABLE_ONEDNN_OPTS", "default"),
    )
