"""Where a unit atlas is kept between looks: keyed by the model's file and the folder's files.

An atlas is a pass over every image of a folder, so it is worth keeping: ``atlas/`` in the
data folder holds one JSON file per (model file content, folder, folder fingerprint, top-k,
layers). The model is identified by the SHA-256 of its file (the installed ImageNet weights,
or a job's ``model/model.keras``), read without TensorFlow so that the app can find a cached
atlas before any model is loaded; the folder by the relative names, sizes and modification
times of its image files, so adding, removing or editing a photo builds it again. Files are
written atomically and only once the atlas is whole, and read back checked in depth: a
damaged or foreign file is treated as absent (and built again), never half-trusted.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

from .. import jobfolder, schema
from ..errors import DamagedFileError, ModelLoadError
from ..fileio import json_text, read_json, write_text_atomic

logger = logging.getLogger(__name__)

CACHE_DIR = "atlas"
CACHE_VERSION = 1
ENTRIES_KEPT = 24  # newest atlases kept; each is a few MB
MAX_CACHE_BYTES = 256 << 20  # 1,000 photos, all layers, top 9: about 4 MB

_LAYER_SPEC = {
    "values": [[float]],
    "images": [[int]],
    "positions": schema.Optional([[int]]),
    "map_size": schema.Optional([int]),
}
CACHE_SPEC = {
    "version": schema.OneOf(CACHE_VERSION),
    "key": str,
    "model": str,
    "folder": str,
    "top": int,
    "seconds": float,
    "images": [{"path": str, "width": int, "height": int}],
    "errors": [{"image": str, "error": str}],
    "layers": schema.MapOf(_LAYER_SPEC),
}

_digests: dict[tuple, str] = {}  # (path, size, mtime_ns) -> sha256: hashed once per process


def model_file(model_spec) -> Path:
    """The file whose content is the model: as ``inference.Classifier.load`` resolves it."""
    if model_spec is None:
        from ..weights.store import installed_weights_path

        return installed_weights_path()
    path = Path(model_spec).expanduser()
    if path.is_dir():  # a job, or an exported model folder
        for candidate in (jobfolder.model_file(path), path / jobfolder.MODEL_FILE):
            if candidate.is_file():
                return candidate
    return path


def model_identity(model_spec) -> str:
    """SHA-256 of the model's file (244 MB: about half a second, then remembered).

    Raises:
        ModelLoadError: the file cannot be read.
    """
    path = model_file(model_spec)
    try:
        stat = path.stat()
        key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
        if key not in _digests:
            digest = hashlib.sha256()
            with open(path, "rb") as file:
                while block := file.read(1 << 22):
                    digest.update(block)
            _digests[key] = digest.hexdigest()
    except OSError as error:
        raise ModelLoadError(f"{path}: cannot be read ({error.strerror or error})") from None
    return _digests[key]


def folder_fingerprint(folder: Path, paths) -> str:
    """A digest of the relative names, sizes and modification times of ``paths`` in ``folder``."""
    digest = hashlib.sha256()
    for path in sorted(paths):
        try:
            stat = path.lstat()
            row = f"{path.relative_to(folder)}\0{stat.st_size}\0{stat.st_mtime_ns}"
        except (OSError, ValueError):
            row = f"{path}\0gone"
        digest.update(row.encode("utf-8", "surrogateescape") + b"\n")
    return digest.hexdigest()


def cache_key(model_id: str, folder: Path, fingerprint: str, top: int, layers) -> str:
    """The name of one atlas in the cache."""
    text = json.dumps([CACHE_VERSION, model_id, str(folder), fingerprint, top, list(layers)])
    return hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()[:32]


def cache_dir() -> Path:
    from ..paths import data_home

    return data_home() / CACHE_DIR


def read_cached(key: str) -> dict | None:
    """The cached atlas record under ``key``, or None (none, damaged, or inconsistent)."""
    path = cache_dir() / f"{key}.json"
    try:
        record = read_json(path, max_bytes=MAX_CACHE_BYTES, spec=CACHE_SPEC)
        _check_consistent(record, key, path)
    except FileNotFoundError:
        return None
    except DamagedFileError as error:
        logger.warning("Ignoring a damaged atlas cache: %s", error)
        return None
    return record


def _check_consistent(record: dict, key: str, path: Path) -> None:
    """What the schema cannot say: the key, rectangular arrays, indices that exist."""
    count = len(record["images"])
    if record["key"] != key:
        raise DamagedFileError(path, "holds another atlas than its name says")
    for name, layer in record["layers"].items():
        rows = layer["values"]
        fields = [layer["images"]] + ([layer["positions"]] if "positions" in layer else [])
        widths = {len(row) for table in [rows, *fields] for row in table}
        if len(widths) > 1 or any(len(table) != len(rows) for table in fields):
            raise DamagedFileError(path, f"layer {name}: its tables do not line up")
        if any(not 0 <= index < count for row in layer["images"] for index in row):
            raise DamagedFileError(path, f"layer {name}: refers to an image it does not list")
        if "positions" in layer:
            size = layer.get("map_size")
            if not (isinstance(size, list) and len(size) == 2 and min(size) > 0):
                raise DamagedFileError(path, f"layer {name}: positions without a map size")
            if any(not 0 <= p < size[0] * size[1] for row in layer["positions"] for p in row):
                raise DamagedFileError(path, f"layer {name}: a position outside its map")


def write_cached(key: str, record: dict) -> Path:
    """Store a whole atlas record atomically; keep only the newest ``ENTRIES_KEPT``."""
    folder = cache_dir()
    path = folder / f"{key}.json"
    # Compact, not indented: a hundred thousand numbers one per line would triple the file.
    write_text_atomic(path, json_text({**record, "version": CACHE_VERSION, "key": key}))
    kept = sorted(folder.glob("*.json"), key=lambda p: p.stat().st_mtime_ns, reverse=True)
    for old in kept[ENTRIES_KEPT:]:
        old.unlink(missing_ok=True)
    return path
