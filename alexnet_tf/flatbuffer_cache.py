"""The current model kept as a TFLite flatbuffer in the data folder, and never trusted blindly.

TensorFlow takes 3-6 s to import; LiteRT (``ai-edge-litert``) imports in 0.03-0.1 s and runs
the same network from a flatbuffer. So each model the user classifies with (the installed
ImageNet weights, or a job's ``model.keras``) is also converted once, by TensorFlow in a
background process (``alexnet_tf.flatbuffer_build``), into ``litert/<name>-<id>.tflite``
beside a key file ``litert/<name>-<id>.json`` (``<name>`` is ``imagenet`` or ``model``,
``<id>`` a digest of the model's identity). The flatbuffer has one signature, ``analyze``:
input ``image`` (n, 227, 227, 3) Caffe-preprocessed float32, outputs every named layer and
``prob``.

The key records what the flatbuffer was made from and is checked on every use:

- the model it stands for (``imagenet``, or the resolved path of a ``.keras`` file), so a
  copy from another job is refused;
- the source file's content digest (sha256), so other weights or a job finished again are
  refused. Hashing 240 MB costs ~0.15 s, so the key also keeps the file's size, mtime and
  inode: while those are unchanged the recorded digest is taken as the file's, and when any
  of them changed the file is hashed again (a re-installed or re-saved file is always a new
  inode, as every write here is atomic);
- the converter's version (TensorFlow's) and this format's version;
- the flatbuffer's own size and sha256, checked on the bytes before LiteRT sees them: a
  truncated, swapped or hostile file is never loaded.

Any mismatch makes ``load_cached`` return ``None`` with the reason; the caller then runs
TensorFlow (as before this cache existed) and starts a rebuild. A corrupt cache costs time,
never correctness. Both files are written atomically, the flatbuffer first, so a reader
sees either the old key (whose digest no longer matches: rebuilt) or the new pair.
"""

from __future__ import annotations

import hashlib
import logging
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from .errors import DamagedFileError, ModelLoadError
from .layer_names import NAMED_LAYERS
from .predictions import PROBABILITY_LAYER
from .schema import OneOf

logger = logging.getLogger("alexnet_studio.flatbuffer")

FORMAT = 1  # bump when the flatbuffer's signature or the key's meaning changes
CACHE_DIR = "litert"
SIGNATURE = "analyze"
OUTPUTS = (*NAMED_LAYERS, PROBABILITY_LAYER)
ENGINE_ENV = "ALEXNET_STUDIO_ENGINE"
ENGINES = ("auto", "tensorflow", "litert")
_MAX_KEY_BYTES = 64 * 1024  # a key is ~1 kB
_MAX_FLATBUFFER_BYTES = 1 << 30  # AlexNet's is 244 MB; a key claiming more is not ours
_HASH_CHUNK = 1 << 22

_STAT_SPEC = {"size": int, "mtime_ns": int, "inode": int}
KEY_SPEC = {
    "format": OneOf(FORMAT),
    "model": str,
    "converter": str,
    "source": {"path": str, **_STAT_SPEC, "sha256": str},
    "flatbuffer": {"size": int, "sha256": str},
    "outputs": [str],
    "num_classes": int,
}


@dataclass(frozen=True)
class ModelSource:
    """What a cached flatbuffer stands for.

    Attributes:
        identity: ``"imagenet"`` or the resolved path of a ``.keras`` file.
        file: the file whose content the flatbuffer was converted from (the installed
            weights, or the ``.keras`` file).
        name: the model's display name (as ``Classifier.name``).
        model_file: the ``.keras`` file (its ``labels.json`` has the class names), or None
            for ImageNet.
    """

    identity: str
    file: Path
    name: str
    model_file: Path | None


@dataclass(frozen=True)
class CachedFlatbuffer:
    """A flatbuffer whose key and digest were checked, and its content."""

    source: ModelSource
    content: bytes
    num_classes: int
    path: Path


def engine_setting(environ=None) -> str:
    """``ALEXNET_STUDIO_ENGINE``: ``auto`` (default: LiteRT when its flatbuffer is ready),
    ``tensorflow`` (never LiteRT, no flatbuffer built) or ``litert`` (as auto; for tests and
    benchmarks that want to know). Anything else is refused with a clear message."""
    environ = os.environ if environ is None else environ
    value = environ.get(ENGINE_ENV, "").strip().lower() or "auto"
    if value not in ENGINES:
        raise ModelLoadError(
            f"{ENGINE_ENV} must be one of {', '.join(ENGINES)}. Received: {ENGINE_ENV}={value!r}"
        )
    return value


def model_source(model_spec: str | Path | None) -> ModelSource:
    """What ``model_spec`` (``None`` for ImageNet, a ``.keras`` file or a job folder) names.

    Raises:
        ModelLoadError: a folder without a model file.
    """
    if model_spec is None:
        from .predictions import IMAGENET_MODEL_NAME
        from .weights.store import installed_weights_path

        return ModelSource("imagenet", installed_weights_path(), IMAGENET_MODEL_NAME, None)
    from .predictions import resolve_model_spec

    model_file, name = resolve_model_spec(model_spec)
    resolved = model_file.resolve()
    return ModelSource(str(resolved), resolved, name, resolved)


def converter_version() -> str:
    """The version of the converter (TensorFlow's), read from its metadata: no import."""
    from importlib import metadata

    try:
        return f"tensorflow {metadata.version('tensorflow')}"
    except metadata.PackageNotFoundError:
        return "tensorflow unknown"


def cache_dir() -> Path:
    """``<data folder>/litert``, created on first use."""
    from .paths import data_home

    folder = data_home() / CACHE_DIR
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def cache_files(source: ModelSource) -> tuple[Path, Path]:
    """The key file and the flatbuffer of ``source``: one pair per model."""
    slug = "imagenet" if source.identity == "imagenet" else "model"
    stem = f"{slug}-{hashlib.sha256(source.identity.encode()).hexdigest()[:16]}"
    folder = cache_dir()
    return folder / f"{stem}.json", folder / f"{stem}.tflite"


def file_digest(path: Path) -> str:
    """The sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        while chunk := file.read(_HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def file_stat(path: Path) -> dict:
    """The stat fields that change whenever a file is written again (atomically or not)."""
    info = path.stat()
    return {"size": info.st_size, "mtime_ns": info.st_mtime_ns, "inode": info.st_ino}


def source_record(path: Path) -> dict:
    """Path, stat and content digest of a model's source file, for a key."""
    before = file_stat(path)
    digest = file_digest(path)
    if file_stat(path) != before:
        raise OSError(f"{path} changed while it was read")
    return {"path": str(path), **before, "sha256": digest}


def _stale_reason(key: dict, source: ModelSource) -> str | None:
    """Why ``key`` does not describe ``source`` as it is now, or None when it does."""
    if key["model"] != source.identity:
        return f"made for another model ({key['model']})"
    if key["converter"] != converter_version():
        return f"made by {key['converter']}, not {converter_version()}"
    if tuple(key["outputs"]) != OUTPUTS:
        return "made with other outputs"
    recorded = key["source"]
    try:
        now = file_stat(source.file)
    except OSError as error:
        return f"{source.file} cannot be read ({error.strerror or error})"
    if all(recorded[field] == now[field] for field in _STAT_SPEC):
        return None
    # The file was written again since: same content (e.g. copied back) is still valid.
    try:
        digest = file_digest(source.file)
    except OSError as error:
        return f"{source.file} cannot be read ({error.strerror or error})"
    if digest != recorded["sha256"]:
        return f"made from other content of {source.file}"
    return None


def load_cached(model_spec: str | Path | None) -> tuple[CachedFlatbuffer | None, str]:
    """The checked flatbuffer of ``model_spec``, or ``(None, why not)``.

    Never raises for a missing, stale, truncated, damaged or hostile cache: each is a reason
    to run TensorFlow instead (and rebuild). ``ModelLoadError`` only for a ``model_spec`` that
    names nothing (a folder without a model), as ``Classifier.load`` would.
    """
    source = model_source(model_spec)
    if not source.file.is_file():
        return None, f"no model file at {source.file}"
    key_path, flatbuffer_path = cache_files(source)
    from .fileio import read_json

    try:
        key = read_json(key_path, max_bytes=_MAX_KEY_BYTES, spec=KEY_SPEC)
    except FileNotFoundError:
        return None, "not built yet"
    except DamagedFileError as error:
        return None, str(error)
    reason = _stale_reason(key, source)
    if reason is not None:
        return None, f"{key_path.name}: {reason}"
    expected = key["flatbuffer"]
    if not 0 < expected["size"] <= _MAX_FLATBUFFER_BYTES or key["num_classes"] < 1:
        return None, f"{key_path.name}: sizes no flatbuffer of AlexNet has"
    try:
        with open(flatbuffer_path, "rb") as file:
            content = file.read(expected["size"] + 1)
    except OSError as error:
        return None, f"{flatbuffer_path.name}: cannot be read ({error.strerror or error})"
    if len(content) != expected["size"]:
        return (
            None,
            f"{flatbuffer_path.name}: {len(content)} bytes, the key says {expected['size']}",
        )
    if hashlib.sha256(content).hexdigest() != expected["sha256"]:
        return None, f"{flatbuffer_path.name}: its content is not the one its key describes"
    return CachedFlatbuffer(source, content, key["num_classes"], flatbuffer_path), "ok"


def save_flatbuffer(source: ModelSource, record: dict, content: bytes, num_classes: int) -> Path:
    """Store ``content`` as ``source``'s flatbuffer; ``record`` is ``source_record`` of the
    file it was converted from, taken before the conversion read it."""
    from .fileio import write_bytes_atomic, write_json_atomic

    key_path, flatbuffer_path = cache_files(source)
    write_bytes_atomic(flatbuffer_path, content)
    key = {
        "format": FORMAT,
        "model": source.identity,
        "converter": converter_version(),
        "source": record,
        "flatbuffer": {"size": len(content), "sha256": hashlib.sha256(content).hexdigest()},
        "outputs": list(OUTPUTS),
        "num_classes": int(num_classes),
    }
    write_json_atomic(key_path, key)
    return flatbuffer_path


def _lock_file(source: ModelSource) -> Path:
    return cache_files(source)[0].with_suffix(".building")


def build_running(source: ModelSource) -> bool:
    """True while a process is building ``source``'s flatbuffer (its pid is alive)."""
    try:
        pid = int(_lock_file(source).read_text().strip())
    except (OSError, ValueError):
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def hold_build_lock(source: ModelSource) -> Path:
    """Record this process as the builder of ``source``'s flatbuffer; returns the lock file."""
    lock = _lock_file(source)
    lock.write_text(str(os.getpid()))
    return lock


def start_background_build(model_spec: str | Path | None) -> subprocess.Popen | None:
    """Start ``python -m alexnet_tf.flatbuffer_build`` at low priority for ``model_spec``
    unless its flatbuffer is valid or being built, or the engine is set to ``tensorflow``.

    Returns the process, or None. It survives the command that started it; its output (and
    TensorFlow's C++ lines) go to the native log, so the terminal stays quiet.
    """
    if engine_setting() == "tensorflow":
        return None
    try:
        source = model_source(model_spec)
    except ModelLoadError:
        return None
    if not source.file.is_file() or build_running(source):
        return None
    if load_cached(model_spec)[0] is not None:
        return None
    from .quiet import native_log_path

    env = dict(os.environ)
    # Importable from wherever the user started the command (a checkout is not installed).
    package_parent = str(Path(__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join(
        dict.fromkeys([package_parent, *filter(None, env.get("PYTHONPATH", "").split(os.pathsep))])
    )
    command = [sys.executable, "-m", "alexnet_tf.flatbuffer_build"]
    if model_spec is not None:
        command += ["--model", str(source.file)]
    with open(native_log_path(), "ab") as log:
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,  # survives the command that started it, gets no Ctrl-C
            env=env,
        )
    logger.info("Building the LiteRT flatbuffer of %s in process %d", source.name, process.pid)
    return process
