"""A safe reader of ``bvlc_alexnet.npy``: a pickle, unpickled without running its code.

The file is ``np.save`` of a dict ``{layer: [W, b]}``, which numpy stores as a pickle; loading
it with ``np.load(allow_pickle=True)`` would run whatever the file carries. Here the pickle is
read by an unpickler whose ``find_class`` hands out harmless stand-ins for the only things an
array pickle names (numpy's array reconstructor and ``dtype``) and plain ``dict``/``list``;
anything else is refused. The stand-ins only record shapes, dtypes and bytes, and numeric
arrays are then made with ``np.frombuffer``. Object arrays are refused, except the one 0-d
container ``np.save`` wraps the dict in.
"""

from __future__ import annotations

import io
import math
import pickle
from pathlib import Path

import numpy as np
from numpy.lib import format as npy_format

from ..errors import WeightsError
from .convert import check_keras_weights

NPY_MAGIC = b"\x93NUMPY"

# Numeric dtypes a weight array may have (numpy's pickled names, without byte order).
_NUMERIC_DTYPES = {"f2", "f4", "f8", "i1", "i2", "i4", "i8", "u1", "u2", "u4", "u8"}
_NUMPY_MODULES = {
    "numpy.core.multiarray",
    "numpy._core.multiarray",
    "numpy.core.numeric",
    "numpy._core.numeric",
    "numpy",
}
_MAX_DIMENSION = 1 << 31


class _Refused(Exception):
    """Raised inside the unpickler; turned into a WeightsError naming the file."""


class _ArrayClass:
    """Stands for ``numpy.ndarray`` in the pickle; only used as a marker."""


class _Dtype:
    """Stand-in for ``numpy.dtype(name, align, copy)`` plus its pickled state."""

    def __init__(self, name, align=False, copy=True):
        if isinstance(name, bytes):
            name = name.decode("latin1")
        if not isinstance(name, str) or (name not in _NUMERIC_DTYPES and name != "O8"):
            raise _Refused(f"an array of dtype {name!r} (only numeric arrays are accepted)")
        self.name = name
        self.byteorder = "="

    def __setstate__(self, state):
        # (version, byteorder, subdescr, names, fields, elsize, alignment, flags)
        if not isinstance(state, tuple) or len(state) < 5 or state[3] is not None:
            raise _Refused("a structured dtype (only plain numeric arrays are accepted)")
        if state[1] not in ("<", ">", "|", "="):
            raise _Refused(f"a dtype with byte order {state[1]!r}")
        self.byteorder = state[1]

    @property
    def is_object(self) -> bool:
        return self.name == "O8"

    def to_numpy(self) -> np.dtype:
        dtype = np.dtype(self.name)
        return dtype.newbyteorder(self.byteorder) if self.byteorder in "<>" else dtype


class _Array:
    """Stand-in for an ndarray being unpickled: records shape, dtype and raw data only."""

    def __init__(self):
        self.shape = None
        self.dtype = None
        self.fortran = False
        self.data = None

    def __setstate__(self, state):
        # (version, shape, dtype, is_fortran, data); the version is absent in very old pickles
        if isinstance(state, tuple) and len(state) == 5:
            state = state[1:]
        if not isinstance(state, tuple) or len(state) != 4:
            raise _Refused("an array whose pickled state is not numpy's")
        shape, dtype, fortran, data = state
        if not isinstance(dtype, _Dtype):
            raise _Refused("an array without a plain numeric dtype")
        if not isinstance(shape, tuple) or not all(
            isinstance(n, int) and 0 <= n < _MAX_DIMENSION for n in shape
        ):
            raise _Refused(f"an array with shape {shape!r}")
        if isinstance(data, str):  # Python 2 str, decoded as latin-1 by the unpickler
            data = data.encode("latin1")
        if not dtype.is_object and not isinstance(data, (bytes, bytearray)):
            raise _Refused("a numeric array whose data is not raw bytes")
        if dtype.is_object and not isinstance(data, list):
            raise _Refused("an object array whose data is not a list")
        self.shape, self.dtype, self.fortran, self.data = shape, dtype, bool(fortran), data

    def to_numpy(self, source) -> np.ndarray:
        """The numeric array (object arrays are resolved by ``_resolve``)."""
        dtype = self.dtype.to_numpy()
        count = math.prod(self.shape)  # Python ints: no overflow
        if len(self.data) != count * dtype.itemsize:
            raise WeightsError(
                f"{source}: damaged array: shape {self.shape} of {dtype} needs "
                f"{count * dtype.itemsize} bytes, the file holds {len(self.data)}."
            )
        array = np.frombuffer(self.data, dtype=dtype)
        order = "F" if self.fortran else "C"
        return array.reshape(self.shape, order=order)


def _reconstruct(cls, shape, typecode):
    """Stand-in for ``numpy.core.multiarray._reconstruct(ndarray, (0,), b'b')``."""
    if cls is not _ArrayClass:
        raise _Refused("an array of a class other than numpy.ndarray")
    return _Array()


def _frombuffer(buffer, dtype, shape, order):
    """Stand-in for ``numpy.core.numeric._frombuffer`` (pickle protocol 5 arrays)."""
    if not isinstance(buffer, (bytes, bytearray, pickle.PickleBuffer)):
        raise _Refused("an array built from something other than bytes")
    if not isinstance(shape, (tuple, list)):
        raise _Refused(f"an array with shape {shape!r}")
    array = _Array()
    array.__setstate__((1, tuple(shape), dtype, order == "F", bytes(buffer)))
    return array


def _codecs_encode(text, encoding="utf-8"):
    """Stand-in for ``_codecs.encode``: how Python 3 protocol-2 pickles store bytes."""
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise _Refused(f"_codecs.encode with {encoding!r}")
    return text.encode("latin1")


_ALLOWED = {
    "_reconstruct": _reconstruct,
    "ndarray": _ArrayClass,
    "dtype": _Dtype,
    "_frombuffer": _frombuffer,
}


class _SafeUnpickler(pickle.Unpickler):
    """Resolves only the names an array-and-dict pickle needs, to harmless stand-ins."""

    def find_class(self, module, name):
        if module in _NUMPY_MODULES and name in _ALLOWED:
            return _ALLOWED[name]
        if module in ("builtins", "__builtin__") and name in ("dict", "list"):
            return {"dict": dict, "list": list}[name]
        if module == "_codecs" and name == "encode":
            return _codecs_encode
        raise _Refused(f"{module}.{name}")

    def persistent_load(self, pid):
        raise _Refused("a persistent object reference")


def _resolve(value, source, depth=0):
    """Turn stand-ins into numpy arrays, checking the tree holds only dicts, lists and arrays."""
    if depth > 8:
        raise WeightsError(f"{source}: refused: nested too deeply for a weights file.")
    if isinstance(value, _Array):
        if value.dtype.is_object:
            raise WeightsError(
                f"{source}: refused: it holds an array of Python objects inside the weights "
                "(only numeric arrays are accepted)."
            )
        return value.to_numpy(source)
    if isinstance(value, dict):
        return {str(k): _resolve(v, source, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_resolve(v, source, depth + 1) for v in value]
    raise WeightsError(
        f"{source}: refused: it holds a {type(value).__name__} "
        "(only dicts, lists and numeric arrays are accepted)."
    )


def load_npy_dict(path: str | Path) -> dict:
    """Read a ``.npy`` file holding a pickled dict, safely.

    Args:
        path: the file.

    Returns:
        The dict, with numeric numpy arrays in place of the pickled ones.

    Raises:
        WeightsError: not a .npy file, not a pickled dict, or the pickle names anything but
            numeric arrays, dicts and lists (nothing from the file is executed).
    """
    path = Path(path)
    try:
        # One read: a length field in the pickle can then never ask for more than the file has.
        file = io.BytesIO(path.read_bytes())
    except OSError as error:
        raise WeightsError(f"{path}: cannot read it ({error.strerror or error}).") from None
    try:
        version = npy_format.read_magic(file)
        if version == (1, 0):
            shape, _, dtype = npy_format.read_array_header_1_0(file)
        elif version == (2, 0):
            shape, _, dtype = npy_format.read_array_header_2_0(file)
        else:
            raise ValueError(f"format version {version} is not supported")
    except Exception as error:  # numpy parses the header with tokenize/ast: many kinds  # noqa: BLE001
        raise WeightsError(f"{path}: not a valid .npy file ({error}).") from None
    if dtype != np.dtype(object) or shape != ():
        raise WeightsError(
            f"{path}: a .npy file of {dtype} with shape {shape}; bvlc_alexnet.npy holds a "
            "pickled dict of layers."
        )
    try:
        container = _SafeUnpickler(file, encoding="latin1").load()
    except _Refused as refused:
        raise WeightsError(
            f"{path}: refused: the file's pickle asks for {refused}; only dicts, lists and "
            "numeric arrays are accepted, and nothing in it was run."
        ) from None
    except Exception as error:  # any malformation of the pickle stream  # noqa: BLE001
        raise WeightsError(f"{path}: damaged pickle ({type(error).__name__}: {error}).") from None
    if (
        not isinstance(container, _Array)
        or not container.dtype.is_object
        or container.shape != ()
        or len(container.data) != 1
        or not isinstance(container.data[0], dict)
    ):
        raise WeightsError(f"{path}: refused: the pickle does not hold a dict of layers.")
    return _resolve(container.data[0], path)


def read_npy_weights(path: str | Path, num_classes: int = 1000) -> dict:
    """Read ``bvlc_alexnet.npy`` into validated Keras weights ``{layer: (kernel, bias)}``.

    The file is already in TF layout (conv ``(kh, kw, in/groups, out)``, fc ``(in, out)``,
    fc6 rows in NHWC-flatten order), so nothing is transposed.
    """
    layers = load_npy_dict(path)
    return check_keras_weights(layers, path, num_classes)
