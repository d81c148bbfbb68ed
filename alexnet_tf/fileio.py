"""Atomic file writes: a reader sees the old file or the new one, never half of one.

Every file this project writes goes through here: write a temporary file in the same
folder, fsync it, ``os.replace`` it over the destination, fsync the folder. A temporary
file or folder is named ``.NAME.tmp-PID...`` (``.NAME.old-PID`` for a folder being replaced),
so what a process killed with -9 leaves behind can be told from what a live one is writing
and removed by the next run (``temporaries.remove_stale_temporaries``).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
from collections.abc import Iterator
from pathlib import Path

from .errors import DamagedFileError
from .schema import check


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # not possible on Windows; os.replace is still atomic there
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_path(destination: str | Path, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path beside ``destination``; on success it replaces ``destination``.

    Use it for writers that want a file name (Keras ``save``, ``save_weights``). ``suffix``
    keeps an extension such writers insist on (e.g. ``".weights.h5"``). If the block raises,
    the temporary file is removed and ``destination`` is untouched.
    """
    destination = Path(destination)
    destination.parent.mkdir(parents=True, exist_ok=True)
    temporary = destination.with_name(temporary_name(destination.name) + suffix)
    try:
        yield temporary
        with open(temporary, "rb+") as file:
            os.fsync(file.fileno())
        os.replace(temporary, destination)
        _fsync_dir(destination.parent)
    finally:
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()


def write_bytes_atomic(destination: str | Path, data: bytes) -> None:
    """Write ``data`` to ``destination`` atomically."""
    with atomic_path(destination) as temporary:
        temporary.write_bytes(data)


def write_text_atomic(destination: str | Path, text: str) -> None:
    """Write UTF-8 ``text`` to ``destination`` atomically."""
    write_bytes_atomic(destination, text.encode("utf-8"))


def finite_json(value):
    """``value`` with every non-finite float (NaN, +-Infinity) replaced by None.

    JSON has no NaN: Python's ``json`` writes ``NaN`` anyway, which other readers reject.
    NumPy scalars become Python numbers on the way.
    """
    if hasattr(value, "item") and not hasattr(value, "__len__"):  # a NumPy scalar
        value = value.item()
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite_json(v) for v in value]
    return value


def json_text(value, **kwargs) -> str:
    """Strict JSON for everything this project writes or prints: never NaN or Infinity."""
    return json.dumps(finite_json(value), ensure_ascii=False, allow_nan=False, **kwargs)


def read_json(path: str | Path, *, max_bytes: int, spec=None):
    """Parse a JSON file this project wrote, refusing what it never writes.

    A file larger than ``max_bytes`` is refused without being read whole (a damaged or
    hostile file must not cost more than one of its normal size), as are NaN/Infinity,
    nesting too deep to parse, and text that is not UTF-8 JSON. With ``spec`` the value is
    checked in depth by ``schema.check``. Raises ``DamagedFileError`` naming the file, or
    ``FileNotFoundError`` if there is none; callers treat a damaged cache as absent.
    """
    path = Path(path)
    try:
        with open(path, "rb") as file:
            data = file.read(max_bytes + 1)
    except FileNotFoundError:
        raise
    except OSError as error:
        raise DamagedFileError(path, f"cannot be read ({error.strerror or error})") from None
    if len(data) > max_bytes:
        raise DamagedFileError(path, f"larger than the {max_bytes} bytes this file ever holds")

    def refuse_constant(name):
        raise ValueError(f"{name} is not JSON")

    try:
        value = json.loads(data.decode("utf-8"), parse_constant=refuse_constant)
    except (UnicodeDecodeError, ValueError) as error:
        raise DamagedFileError(path, f"not valid JSON ({error})") from None
    except RecursionError:
        raise DamagedFileError(path, "nested too deep to be a file this project wrote") from None
    return value if spec is None else check(value, spec, path)


def temporary_name(name: str, kind: str = "tmp") -> str:
    """The hidden name of a temporary for ``name`` made by this process (``kind``: tmp, old):
    ``.NAME.tmp-PID``; ``alexnet_tf.temporaries`` removes those whose process is gone."""
    return f".{name}.{kind}-{os.getpid()}"


def write_json_atomic(destination: str | Path, value) -> None:
    """Write ``value`` as indented JSON to ``destination`` atomically."""
    write_text_atomic(destination, json_text(value, indent=2) + "\n")
