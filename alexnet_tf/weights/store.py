"""The installed ImageNet weights: where they live, whether they are there, how to load them.

Imported weights are stored converted to Keras' ``.weights.h5`` so later starts do not
re-parse the original 240 MB file. A JSON file beside them records where they came from.
"""

from __future__ import annotations

import datetime
import hashlib
import json
from pathlib import Path

from ..errors import WeightsError, WeightsNotInstalledError
from ..fileio import atomic_path, write_json_atomic
from ..paths import weights_dir

WEIGHTS_FILE = "bvlc_alexnet.weights.h5"
INFO_FILE = "bvlc_alexnet.json"


def installed_weights_path() -> Path:
    """Path of the converted ImageNet weights (may not exist yet)."""
    return weights_dir() / WEIGHTS_FILE


def installed_weights_info() -> dict | None:
    """What was installed and from where, or ``None`` if nothing is installed."""
    info = weights_dir() / INFO_FILE
    if not installed_weights_path().exists() or not info.exists():
        return None
    return json.loads(info.read_text(encoding="utf-8"))


def weights_installed() -> bool:
    """True when ImageNet weights are installed."""
    return installed_weights_info() is not None


def load_imagenet_model():
    """Build AlexNet and load the installed ImageNet weights.

    Raises:
        WeightsNotInstalledError: nothing installed yet (the message says how to get them).
    """
    if not weights_installed():
        raise WeightsNotInstalledError()
    from ..model import build_alexnet

    model = build_alexnet()
    model.load_weights(installed_weights_path())
    return model


def install_weights(arrays: dict, info: dict) -> dict:
    """Install validated Keras-layout weights as the ImageNet weights.

    The weights file is replaced atomically, then the JSON record beside it; a failure on
    the way leaves the previous installation as it was.

    Args:
        arrays: ``{layer: (kernel, bias)}`` as returned by the importers.
        info: what to record about the source (format, file name, sha1, size, ...);
            ``imported_at`` is added.

    Returns:
        The recorded info.
    """
    from ..model import build_alexnet
    from .convert import check_keras_weights

    arrays = check_keras_weights(arrays, info.get("source", "the weights"))
    model = build_alexnet(1000, dropout=0)
    for name, (kernel, bias) in arrays.items():
        model.get_layer(name).set_weights([kernel, bias])
    with atomic_path(installed_weights_path(), suffix=".weights.h5") as temporary:
        model.save_weights(temporary)
    now = datetime.datetime.now(datetime.UTC)
    info = {**info, "imported_at": now.isoformat(timespec="seconds")}
    write_json_atomic(weights_dir() / INFO_FILE, info)
    return info


def file_sha1(path: str | Path) -> str:
    """The sha1 of a file, read in chunks."""
    digest = hashlib.sha1()
    with open(path, "rb") as file:
        while chunk := file.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def detect_format(path: str | Path) -> str:
    """``"npy"`` or ``"caffemodel"``, from the file's first bytes (not its name).

    Raises:
        WeightsError: unreadable, or neither format.
    """
    from .caffemodel import looks_like_caffemodel
    from .npy import NPY_MAGIC

    path = Path(path)
    try:
        with open(path, "rb") as file:
            head = file.read(16)
    except OSError as error:
        raise WeightsError(f"{path}: cannot read it ({error.strerror or error}).") from None
    if head.startswith(NPY_MAGIC):
        return "npy"
    if looks_like_caffemodel(head):
        return "caffemodel"
    raise WeightsError(
        f"{path}: neither a bvlc_alexnet.npy nor a bvlc_alexnet.caffemodel "
        "(its content starts like neither)."
    )


def import_weights_file(path: str | Path, extra_info: dict | None = None) -> dict:
    """Read ``bvlc_alexnet.npy`` or ``bvlc_alexnet.caffemodel`` and install its weights.

    The format is detected from the content. Nothing is installed unless the whole file
    reads and every layer has AlexNet's shape.

    Args:
        path: the file.
        extra_info: more to record (e.g. the download URL).

    Returns:
        The recorded info (format, file name, sha1, size, imported_at, ...).

    Raises:
        WeightsError: the file is unreadable, unsafe, damaged or not AlexNet's weights.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise WeightsError(f"{path}: no such file.")
    kind = detect_format(path)
    if kind == "npy":
        from .npy import read_npy_weights

        arrays = read_npy_weights(path)
    else:
        from .caffemodel import read_caffemodel_weights

        arrays = read_caffemodel_weights(path)
    info = {
        "source": path.name,
        "format": kind,
        "sha1": file_sha1(path),
        "size": path.stat().st_size,
        **(extra_info or {}),
    }
    return install_weights(arrays, info)
